//! Waiting before trying again: exponential backoff with jitter, for every
//! task that retries (a mailbox's connection, a supervised task, the outbox's
//! wake-up channel).

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with jitter: from `first`, doubling, to `max` at most;
/// each delay is drawn within 20% of that, so that tasks failing together do
/// not come back together.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Self { first, max, failures: 0 }
    }

    /// The delay for the next failure.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.first.saturating_mul(1 << self.failures.min(20)).min(self.max);
        self.failures = self.failures.saturating_add(1);
        base.mul_f64(rand::rng().random_range(0.8..1.2)).min(self.max)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn max(&self) -> Duration {
        self.max
    }
}

impl Default for Backoff {
    /// One second doubling to five minutes.
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(300))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes_within_a_fifth_either_way() {
        let mut backoff = Backoff::default();
        let delays: Vec<f64> = (0..12).map(|_| backoff.next_delay().as_secs_f64()).collect();
        for (delay, base) in
            delays.iter().zip([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0, 300.0])
        {
            assert!(*delay >= base * 0.8 && *delay <= (base * 1.2f64).min(300.0), "{delay} for {base}");
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(1200));
    }
}
