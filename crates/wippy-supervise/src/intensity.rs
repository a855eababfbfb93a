//! Restart intensity bookkeeping: at most R restarts in any window of T.
//!
//! OTP keeps every restart of the period in a list and filters it on each
//! restart (linear in the restarts of the period). Here the instants of the
//! restarts still inside the window sit in a queue, oldest first: a restart
//! drops the instants that have left the window from the front and pushes
//! its own at the back. Each instant is pushed once and dropped once, so a
//! restart costs O(1) amortised, and the queue never holds more than
//! min(R, restarts within T) instants.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::spec::Intensity;

/// The restarts of the last period.
pub(crate) struct Window {
    max: u32,
    period: Duration,
    /// Instants of the restarts within `period` of the latest one, oldest
    /// first; at most `max` of them.
    recent: VecDeque<Instant>,
}

impl Window {
    pub(crate) fn new(intensity: Intensity) -> Window {
        Window {
            max: intensity.max_restarts,
            period: intensity.period,
            recent: VecDeque::new(),
        }
    }

    /// Records a restart at `now`; false if it is one too many (more than
    /// `max` within `period`), in which case the supervisor gives up.
    pub(crate) fn admit(&mut self, now: Instant) -> bool {
        if self.max == u32::MAX {
            return true;
        }
        while let Some(&oldest) = self.recent.front() {
            if now.saturating_duration_since(oldest) < self.period {
                break;
            }
            self.recent.pop_front();
        }
        if self.recent.len() >= self.max as usize {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(max: u32, period_ms: u64) -> Window {
        Window::new(Intensity {
            max_restarts: max,
            period: Duration::from_millis(period_ms),
        })
    }

    #[test]
    fn more_than_max_restarts_within_the_period_are_refused() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut w = window(3, 100);
        assert!(w.admit(ms(0)));
        assert!(w.admit(ms(10)));
        assert!(w.admit(ms(20)));
        assert!(!w.admit(ms(30)), "a fourth within 100 ms");
        // The first has left the window at 100 ms: room for one more.
        assert!(w.admit(ms(100)));
        assert!(!w.admit(ms(105)));
    }

    #[test]
    fn zero_intensity_refuses_every_restart() {
        assert!(!window(0, 1000).admit(Instant::now()));
    }

    #[test]
    fn the_queue_holds_only_the_restarts_inside_the_window() {
        let t0 = Instant::now();
        let mut w = window(1_000_000, 10);
        for n in 0..10_000u64 {
            assert!(w.admit(t0 + Duration::from_millis(n)));
            assert!(w.recent.len() <= 10, "{} at {n}", w.recent.len());
        }
    }

    #[test]
    fn unlimited_keeps_nothing() {
        let mut w = Window::new(Intensity::UNLIMITED);
        let now = Instant::now();
        for _ in 0..1000 {
            assert!(w.admit(now));
        }
        assert!(w.recent.is_empty());
    }
}
