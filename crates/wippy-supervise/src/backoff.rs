//! Restart backoff: how long a child waits before each restart after a
//! failure, and after how many failed runs in a row it is given up
//! (Wippy's `lifecycle.restart`).

use std::time::Duration;

/// Delayed restarts after failures, with exponential growth, jitter and a
/// limit on failed runs in a row.
///
/// The delay before the restart after failed run `n` in a row (1-based) is
/// `initial_delay * backoff_factor^(n-1)`, capped at `max_delay`, then
/// spread by ±`jitter` (a fraction; 0 = none). A run that lasted at least
/// `stable_threshold` before it failed starts the count again from 1. With
/// `max_attempts` N > 0 the child runs at most N times in a row without a
/// stable run: its N-th failed run gives it up; 0 = no limit.
///
/// The defaults are Wippy's: 1 s, ×2, at most 90 s, ±10 %, no limit, 5 s.
/// (Wippy itself rebuilds its calculator on every retry, so its delay never
/// grows; wippy-rs grows it as Wippy's documentation promises.)
///
/// ```
/// use std::time::Duration;
/// use wippy_supervise::Backoff;
/// let b = Backoff { jitter: 0.0, ..Backoff::default() };
/// assert_eq!(b.delay_for(1, 0.5), Duration::from_secs(1));
/// assert_eq!(b.delay_for(3, 0.5), Duration::from_secs(4));
/// assert_eq!(b.delay_for(30, 0.5), Duration::from_secs(90));
/// assert!(!b.gives_up(1_000));
/// let three = Backoff { max_attempts: 3, ..b };
/// assert!(!three.gives_up(2));
/// assert!(three.gives_up(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first restart.
    pub initial_delay: Duration,
    /// Growth of the delay per failed run in a row.
    pub backoff_factor: f64,
    /// Upper bound of the delay.
    pub max_delay: Duration,
    /// Random spread of each delay, as a fraction (0.1 = ±10 %, 0 = none).
    pub jitter: f64,
    /// Failed runs in a row after which the child is given up (0 = never).
    pub max_attempts: u32,
    /// A run this long resets the count of failed runs.
    pub stable_threshold: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial_delay: Duration::from_secs(1),
            backoff_factor: 2.0,
            max_delay: Duration::from_secs(90),
            jitter: 0.1,
            max_attempts: 0,
            stable_threshold: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// Whether failed run `failures` (1-based, in a row) gives the child up.
    pub fn gives_up(&self, failures: u32) -> bool {
        self.max_attempts > 0 && failures >= self.max_attempts
    }

    /// The delay before the restart after failed run `failures` (1-based);
    /// `unit` in [0, 1) picks the point within the jitter band (0.5 = no
    /// spread).
    pub fn delay_for(&self, failures: u32, unit: f64) -> Duration {
        let exp = failures.saturating_sub(1).min(64) as i32;
        let base = self.initial_delay.as_secs_f64() * self.backoff_factor.max(1.0).powi(exp);
        let capped = base.min(self.max_delay.as_secs_f64());
        let spread = self.jitter.clamp(0.0, 1.0) * (unit.clamp(0.0, 1.0) * 2.0 - 1.0);
        Duration::from_secs_f64((capped * (1.0 + spread)).max(0.0))
    }
}

/// A small xorshift generator for jitter (no cryptographic use).
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Jitter {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x2545_F491_4F6C_DD1D);
        Jitter(seed | 1)
    }

    /// A number in [0, 1).
    pub(crate) fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_band_and_spreads() {
        let b = Backoff::default();
        let mut j = Jitter::new();
        let delays: Vec<f64> = (0..1000)
            .map(|_| b.delay_for(1, j.next_unit()).as_secs_f64())
            .collect();
        assert!(delays.iter().all(|d| (0.9..=1.1).contains(d)), "{delays:?}");
        let (lo, hi) = delays
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &d| (lo.min(d), hi.max(d)));
        assert!(hi - lo > 0.1, "jitter spreads the delays: {lo}..{hi}");
    }

    #[test]
    fn zero_jitter_means_no_spread() {
        let b = Backoff {
            jitter: 0.0,
            ..Backoff::default()
        };
        let mut j = Jitter::new();
        for _ in 0..100 {
            assert_eq!(b.delay_for(2, j.next_unit()), Duration::from_secs(2));
        }
    }

    #[test]
    fn zero_max_attempts_never_gives_up() {
        let b = Backoff::default();
        assert_eq!(b.max_attempts, 0);
        assert!(!b.gives_up(u32::MAX));
        let one = Backoff {
            max_attempts: 1,
            ..b
        };
        assert!(
            one.gives_up(1),
            "one run at most: the first failure ends it"
        );
    }

    #[test]
    fn the_delay_grows_by_the_factor_up_to_the_cap() {
        let b = Backoff {
            initial_delay: Duration::from_millis(100),
            backoff_factor: 3.0,
            max_delay: Duration::from_secs(1),
            jitter: 0.0,
            ..Backoff::default()
        };
        let delays: Vec<u128> = (1..=4).map(|n| b.delay_for(n, 0.5).as_millis()).collect();
        assert_eq!(delays, [100, 300, 900, 1000]);
    }
}
