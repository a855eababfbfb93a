//! A sampler of the running OS process, read from Linux's `/proc`: resident
//! memory, CPU time of the process and of each of its threads, thread
//! count.
//!
//! Every reading is a `Result`: where `/proc` is missing (not Linux) or
//! hidden (some sandboxes), or a file does not hold what Linux puts there,
//! the error names the file and the reason. A caller decides what that
//! means: a test [`skip`](crate::skip)s, a benchmark fails its figure.
//!
//! Units: `/proc` gives per-thread CPU time in nanoseconds in
//! `task/<tid>/schedstat` (kernels built with `CONFIG_SCHED_INFO`, which is
//! every common distribution's), and in clock ticks of 10 ms in `stat`
//! (`USER_HZ` is 100 on every Linux architecture; it is part of the ABI, not
//! the kernel's `HZ`). Threads read the first and fall back to the second;
//! the process total ([`process_cpu`]) is only in ticks.

use std::path::Path;
use std::time::Duration;

/// Why a reading could not be taken here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// The file or folder cannot be read: no `/proc` (not Linux), or one a
    /// sandbox hides.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// What was read.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The file was read but does not hold what Linux puts there.
    #[error("unexpected contents of {path}: no {what}")]
    Malformed {
        /// What was read.
        path: String,
        /// What was looked for and not found.
        what: &'static str,
    },
}

/// Clock ticks per second of the tick counts in `/proc` (`USER_HZ`).
const TICKS_PER_SECOND: u64 = 100;

fn read(path: &str) -> Result<String, Unavailable> {
    std::fs::read_to_string(path).map_err(|e| Unavailable::Unreadable {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn malformed(path: &str, what: &'static str) -> Unavailable {
    Unavailable::Malformed {
        path: path.to_owned(),
        what,
    }
}

/// The value of a `Key:   value unit` line of a `status` file.
fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}

/// Resident set size of this OS process now, in bytes (`VmRSS` of
/// `/proc/self/status`, which the kernel gives in KiB).
pub fn resident_bytes() -> Result<u64, Unavailable> {
    const PATH: &str = "/proc/self/status";
    let status = read(PATH)?;
    parse_rss(&status).ok_or_else(|| malformed(PATH, "VmRSS line in kB"))
}

fn parse_rss(status: &str) -> Option<u64> {
    let kib = status_field(status, "VmRSS")?.strip_suffix("kB")?.trim();
    Some(kib.parse::<u64>().ok()? * 1024)
}

/// Number of threads of this OS process now (`Threads` of
/// `/proc/self/status`).
pub fn thread_count() -> Result<usize, Unavailable> {
    const PATH: &str = "/proc/self/status";
    let status = read(PATH)?;
    status_field(&status, "Threads")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| malformed(PATH, "Threads line"))
}

/// CPU time (user and system) this OS process has used so far, its ended
/// threads included; to the clock tick (10 ms), from `/proc/self/stat`.
pub fn process_cpu() -> Result<Duration, Unavailable> {
    const PATH: &str = "/proc/self/stat";
    let stat = read(PATH)?;
    let (_, _, ticks) = parse_stat(&stat).ok_or_else(|| malformed(PATH, "utime and stime"))?;
    Ok(ticks_to_duration(ticks))
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_millis(ticks * (1000 / TICKS_PER_SECOND))
}

/// The tid, name and user + system ticks of a `stat` line:
/// `tid (name) state ...`, where the name may hold spaces and parentheses
/// (hence the last `)`), and utime and stime are fields 14 and 15.
fn parse_stat(stat: &str) -> Option<(u64, String, u64)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let tid = stat[..open].trim().parse().ok()?;
    let name = stat.get(open + 1..close)?.to_owned();
    // The fields after the name start at field 3 (state).
    let mut rest = stat[close + 1..].split_whitespace().skip(11);
    let utime: u64 = rest.next()?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some((tid, name, utime + stime))
}

/// The on-CPU nanoseconds of a `schedstat` line (its first field).
fn parse_schedstat(schedstat: &str) -> Option<Duration> {
    let ns = schedstat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// One thread of this OS process, as sampled by [`threads`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSample {
    /// The thread id.
    pub tid: u64,
    /// The thread's name as the kernel keeps it: cut to 15 bytes.
    pub name: String,
    /// CPU time it has used so far: to the nanosecond where the kernel
    /// keeps `schedstat`, else to the clock tick (10 ms).
    pub cpu: Duration,
}

/// The live threads of this OS process at one instant, by thread id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Threads {
    by_tid: Vec<ThreadSample>,
}

impl Threads {
    /// The threads, by increasing thread id.
    pub fn iter(&self) -> impl Iterator<Item = &ThreadSample> {
        self.by_tid.iter()
    }

    /// How many there were.
    pub fn len(&self) -> usize {
        self.by_tid.len()
    }

    /// Whether there were none (never, for a live process).
    pub fn is_empty(&self) -> bool {
        self.by_tid.is_empty()
    }

    /// CPU time the threads live at this sample have used (threads that
    /// ended before it are not counted; see [`process_cpu`]).
    pub fn total_cpu(&self) -> Duration {
        self.by_tid.iter().map(|t| t.cpu).sum()
    }

    /// The threads' names, sorted (for comparing two samples: which
    /// threads came and went).
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_tid.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        names
    }

    /// The threads that used CPU since `before` (a thread not in `before`
    /// counts from zero), as `name[tid]` with the time, most first.
    pub fn busy_since(&self, before: &Threads) -> Vec<(String, Duration)> {
        let mut busy: Vec<(String, Duration)> = self
            .by_tid
            .iter()
            .filter_map(|now| {
                let then = before
                    .by_tid
                    .binary_search_by_key(&now.tid, |t| t.tid)
                    .map_or(Duration::ZERO, |i| before.by_tid[i].cpu);
                let used = now.cpu.checked_sub(then)?;
                (!used.is_zero()).then(|| (format!("{}[{}]", now.name, now.tid), used))
            })
            .collect();
        busy.sort_by_key(|(_, used)| std::cmp::Reverse(*used));
        busy
    }
}

/// Checks that the CPU meter ([`threads`]) works here before a test trusts
/// it: spins this thread until the meter shows the process's threads used
/// `cpu` more CPU time, and returns the wall time that took. A meter that
/// read nothing would make every "uses no CPU" test pass by accident.
///
/// Spinning until the meter moves, rather than for a fixed wall time, keeps
/// the check true on a loaded machine, where a busy loop gets only part of
/// a core: it just takes longer.
///
/// # Panics
///
/// If the meter has not seen `cpu` after `patience` of wall time (it is
/// broken), naming what it saw.
pub fn check_cpu_meter(cpu: Duration, patience: Duration) -> Result<Duration, Unavailable> {
    let first = threads()?.total_cpu();
    let start = std::time::Instant::now();
    let mut x = 0u64;
    loop {
        for _ in 0..100_000 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let seen = threads()?.total_cpu().saturating_sub(first);
        if seen >= cpu {
            return Ok(start.elapsed());
        }
        assert!(
            start.elapsed() < patience,
            "the CPU meter saw only {seen:?} of {:?} of busy looping (wanted {cpu:?})",
            start.elapsed()
        );
    }
}

/// Every live thread of this OS process, with its name and CPU time
/// (`/proc/self/task/*`). A thread that ends while it is being read is
/// left out.
pub fn threads() -> Result<Threads, Unavailable> {
    const TASKS: &str = "/proc/self/task";
    let unreadable = |e: std::io::Error| Unavailable::Unreadable {
        path: TASKS.to_owned(),
        reason: e.to_string(),
    };
    let mut by_tid = Vec::new();
    for task in std::fs::read_dir(TASKS).map_err(unreadable)? {
        let dir = task.map_err(unreadable)?.path();
        if let Some(thread) = thread(&dir)? {
            by_tid.push(thread);
        }
    }
    by_tid.sort_unstable_by_key(|t| t.tid);
    Ok(Threads { by_tid })
}

/// One thread from its `/proc/self/task/<tid>` folder; `None` if it has
/// ended meanwhile.
fn thread(dir: &Path) -> Result<Option<ThreadSample>, Unavailable> {
    let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
        return Ok(None);
    };
    let path = || dir.join("stat").display().to_string();
    let (tid, name, ticks) = parse_stat(&stat).ok_or_else(|| Unavailable::Malformed {
        path: path(),
        what: "tid, name, utime and stime",
    })?;
    let precise = std::fs::read_to_string(dir.join("schedstat"))
        .ok()
        .and_then(|s| parse_schedstat(&s));
    let cpu = precise.unwrap_or_else(|| ticks_to_duration(ticks));
    Ok(Some(ThreadSample { tid, name, cpu }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tsample\nState:\tR (running)\nVmRSS:\t   10240 kB\nThreads:\t7\n";

    #[test]
    fn rss_and_thread_count_come_from_status_lines() {
        assert_eq!(parse_rss(STATUS), Some(10240 * 1024));
        assert_eq!(status_field(STATUS, "Threads"), Some("7"));
        assert_eq!(parse_rss("VmRSS:\t12 pages\n"), None);
        assert_eq!(parse_rss("Name:\tx\n"), None);
    }

    #[test]
    fn a_stat_line_gives_tid_name_and_ticks_even_with_parentheses_in_the_name() {
        let stat = "4242 (wippy (w) 1) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 3 0";
        assert_eq!(parse_stat(stat), Some((4242, "wippy (w) 1".into(), 175)));
        assert_eq!(ticks_to_duration(175), Duration::from_millis(1750));
        assert_eq!(parse_stat("4242 (cut"), None);
        assert_eq!(parse_stat("4242 (short) S 1 2"), None);
    }

    #[test]
    fn schedstat_is_nanoseconds_on_cpu() {
        assert_eq!(
            parse_schedstat("123456789 5000 12\n"),
            Some(Duration::from_nanos(123_456_789))
        );
        assert_eq!(parse_schedstat(""), None);
    }

    #[test]
    fn busy_threads_are_those_whose_cpu_grew_most_first() {
        let sample = |list: &[(u64, &str, u64)]| Threads {
            by_tid: list
                .iter()
                .map(|&(tid, name, ms)| ThreadSample {
                    tid,
                    name: name.into(),
                    cpu: Duration::from_millis(ms),
                })
                .collect(),
        };
        let before = sample(&[(1, "main", 10), (2, "w0", 5), (3, "gone", 1)]);
        let after = sample(&[(1, "main", 12), (2, "w0", 5), (4, "new", 7)]);
        assert_eq!(
            after.busy_since(&before),
            vec![
                ("new[4]".to_owned(), Duration::from_millis(7)),
                ("main[1]".to_owned(), Duration::from_millis(2)),
            ]
        );
        assert_eq!(after.total_cpu(), Duration::from_millis(24));
        assert_eq!(after.names(), ["main", "new", "w0"]);
    }

    /// The live readings on this machine: each is a plausible value, or the
    /// whole sampler is unavailable here (said so, not passed quietly).
    #[test]
    fn live_readings_are_plausible_where_proc_exists() {
        let threads = match threads() {
            Ok(t) => t,
            Err(why) => return crate::skip(why),
        };
        let me = std::thread::current();
        assert!(threads.len() >= 2, "the harness's main thread and this one");
        // The harness names this thread after the test; comm keeps 15 bytes.
        let name = me.name().expect("test threads are named");
        assert!(
            threads.names().contains(&&name[..name.len().min(15)]),
            "{:?} has no thread named {name:?}",
            threads.names()
        );
        assert!(thread_count().expect("status is readable") >= 2);
        assert!(resident_bytes().expect("status is readable") > 1 << 20);
        let before = process_cpu().expect("stat is readable");
        check_cpu_meter(Duration::from_millis(30), Duration::from_secs(30))
            .expect("readable a moment ago");
        // The process total counts in 10 ms ticks.
        let after = process_cpu().expect("stat is readable");
        assert!(
            after >= before + Duration::from_millis(10),
            "{before:?} then {after:?}"
        );
    }
}
