//! Restart policy: how many consecutive failures a service may have and how
//! long to wait before each restart.

use std::time::Duration;

/// When and how often a failed service is restarted.
///
/// The delay before restart `n` (1-based) is `delay * backoff_factor^(n-1)`,
/// capped at `max_delay`, then spread by ±`jitter` (a fraction). A service
/// that ran for `stable_threshold` before failing starts counting again
/// from 1. `max_attempts` consecutive failures end the restarts
/// (0 = never restart).
///
/// ```
/// use std::time::Duration;
/// use wippy_supervise::RestartPolicy;
/// let p = RestartPolicy { jitter: 0.0, ..RestartPolicy::default() };
/// assert_eq!(p.delay_for(1, 0.5), Duration::from_secs(1));
/// assert_eq!(p.delay_for(3, 0.5), Duration::from_secs(4));
/// assert_eq!(p.delay_for(30, 0.5), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RestartPolicy {
    /// Consecutive failures after which the service is given up (0 = never restart).
    pub max_attempts: u32,
    /// Delay before the first restart.
    pub delay: Duration,
    /// Growth of the delay per consecutive failure.
    pub backoff_factor: f64,
    /// Upper bound of the delay.
    pub max_delay: Duration,
    /// Random spread of each delay, as a fraction (0.1 = ±10 %).
    pub jitter: f64,
    /// Running this long resets the failure count.
    pub stable_threshold: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_attempts: 5,
            delay: Duration::from_secs(1),
            backoff_factor: 2.0,
            max_delay: Duration::from_secs(30),
            jitter: 0.1,
            stable_threshold: Duration::from_secs(60),
        }
    }
}

impl RestartPolicy {
    /// A policy that never restarts.
    pub fn never() -> RestartPolicy {
        RestartPolicy {
            max_attempts: 0,
            ..RestartPolicy::default()
        }
    }

    /// Whether failure number `attempt` (1-based, consecutive) is restarted.
    pub fn allows(&self, attempt: u32) -> bool {
        attempt <= self.max_attempts
    }

    /// The delay before restart `attempt` (1-based); `unit` in [0, 1) picks
    /// the point within the jitter band (0.5 = no spread).
    pub fn delay_for(&self, attempt: u32, unit: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(64) as i32;
        let base = self.delay.as_secs_f64() * self.backoff_factor.max(1.0).powi(exp);
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
    fn jitter_stays_within_its_band() {
        let p = RestartPolicy::default();
        let mut j = Jitter::new();
        for _ in 0..1000 {
            let d = p.delay_for(1, j.next_unit()).as_secs_f64();
            assert!((0.9..=1.1).contains(&d), "{d}");
        }
    }

    #[test]
    fn zero_attempts_never_restarts() {
        assert!(!RestartPolicy::never().allows(1));
        assert!(RestartPolicy::default().allows(5));
        assert!(!RestartPolicy::default().allows(6));
    }
}
