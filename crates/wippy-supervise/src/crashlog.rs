//! How often a child's crashes are logged: a child that crashes in a loop
//! (`restart.delay: 0s`, a host that is gone) must not flood the log.
//!
//! Per child, in windows of [`WINDOW`]: the first [`BURST`] crashes of a
//! window are logged in full (the crash, the restart, the start); the rest
//! are counted, and one summary line (how many, over how long, the last
//! error) is written when the next window begins, when the child is given
//! up, or when it is stopped. So a crash loop writes at most
//! `BURST × 3 + 1` lines per window, whatever its rate.

use std::time::{Duration, Instant};

use wippy_process::Pid;

use crate::process::Seconds;

/// Crashes of one child logged in full per window.
pub(crate) const BURST: u32 = 5;

/// The length of a window.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);

/// Crashes not logged in full since the window began.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Suppressed {
    /// How many.
    pub(crate) crashes: u32,
    /// From the window's start to the latest of them.
    pub(crate) over: Duration,
    /// The error of the latest.
    pub(crate) last_error: String,
}

impl Suppressed {
    fn log(&self, me: Pid, id: &str) {
        tracing::warn!(
            supervisor = %me,
            child = %id,
            crashes = self.crashes,
            over = %Seconds(self.over),
            last_error = %self.last_error,
            "child crashed more times than were logged"
        );
    }
}

/// One child's crash counts (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct CrashLog {
    /// When the current window began (`None` before the first crash).
    window: Option<Instant>,
    /// Crashes in the current window, logged or not.
    in_window: u32,
    /// The ones not logged, with the latest's time and error.
    suppressed: u32,
    latest: Option<(Instant, String)>,
}

impl CrashLog {
    /// Records a crash of child `id` of supervisor `me` at `now` with
    /// `error`, writing the summary of the window it ends, if any; returns
    /// whether to log the crash in full.
    pub(crate) fn crash(&mut self, now: Instant, error: &str, me: Pid, id: &str) -> bool {
        let (logged, summary) = self.count(now, error);
        if let Some(summary) = summary {
            summary.log(me, id);
        }
        logged
    }

    /// Writes the summary of the crashes not logged so far, if any.
    pub(crate) fn report_suppressed(&mut self, me: Pid, id: &str) {
        if let Some(summary) = self.flush() {
            summary.log(me, id);
        }
    }

    /// Records a crash at `now` with `error`. Returns whether to log it in
    /// full, and the summary of the window that `now` ended, if that
    /// window had crashes that were not logged.
    fn count(&mut self, now: Instant, error: &str) -> (bool, Option<Suppressed>) {
        let mut summary = None;
        match self.window {
            Some(start) if now.saturating_duration_since(start) < WINDOW => {}
            _ => {
                summary = self.flush();
                self.window = Some(now);
                self.in_window = 0;
            }
        }
        self.in_window += 1;
        let logged = self.in_window <= BURST;
        if !logged {
            self.suppressed += 1;
            self.latest = Some((now, error.to_owned()));
        }
        (logged, summary)
    }

    /// Whether the latest crash was not logged in full (its restart and
    /// start are not either).
    pub(crate) fn quiet(&self) -> bool {
        self.in_window > BURST
    }

    /// The summary of the crashes not logged so far, if any; they are
    /// forgotten.
    fn flush(&mut self) -> Option<Suppressed> {
        if self.suppressed == 0 {
            return None;
        }
        let (at, last_error) = self
            .latest
            .take()
            .unwrap_or((Instant::now(), String::new()));
        let start = self.window.unwrap_or(at);
        let crashes = std::mem::take(&mut self.suppressed);
        Some(Suppressed {
            crashes,
            over: at.saturating_duration_since(start),
            last_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_loop_logs_a_burst_then_one_summary_per_window() {
        let mut log = CrashLog::default();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // 1,000 crashes in the first second: the first BURST are logged.
        let logged = (0..1000)
            .filter(|&i| {
                let (logged, summary) = log.count(ms(i), &format!("boom {i}"));
                assert_eq!(summary, None);
                logged
            })
            .count();
        assert_eq!(logged, BURST as usize);
        assert!(log.quiet());
        // Still inside the window: quiet, no summary yet.
        assert_eq!(log.count(ms(9_000), "boom late"), (false, None));
        // The next window: the summary of the last one, and a fresh burst.
        let (logged, summary) = log.count(ms(10_000), "boom again");
        assert!(logged);
        assert!(!log.quiet());
        assert_eq!(
            summary,
            Some(Suppressed {
                crashes: 1000 - BURST + 1,
                over: Duration::from_millis(9_000),
                last_error: "boom late".into(),
            })
        );
        assert_eq!(
            log.flush(),
            None,
            "nothing suppressed in the new window yet"
        );
    }

    #[test]
    fn a_rare_crasher_is_always_logged_and_never_summarised() {
        let mut log = CrashLog::default();
        let t0 = Instant::now();
        for i in 0..20 {
            let at = t0 + Duration::from_secs(4 * i);
            assert_eq!(log.count(at, "boom"), (true, None));
        }
        assert_eq!(log.flush(), None);
    }

    #[test]
    fn flushing_reports_what_was_suppressed_once() {
        let mut log = CrashLog::default();
        let t0 = Instant::now();
        for i in 0..BURST + 3 {
            log.count(t0 + Duration::from_millis(u64::from(i)), "boom");
        }
        let summary = log.flush().expect("three were suppressed");
        assert_eq!(summary.crashes, 3);
        assert_eq!(log.flush(), None);
    }
}
