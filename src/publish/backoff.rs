//! How long to wait before trying again: capped full-jitter exponential backoff (AWS
//! Architecture Blog, "Exponential Backoff And Jitter"). Jitter keeps a fleet of booths that
//! lost the same network from all retrying in the same second.

use std::time::Duration;

/// The delay before retry number `attempt` (1 = first retry): a uniform draw in
/// `[0, min(cap, base * 2^(attempt-1))]`. `unit` is the random draw in `[0, 1)`.
pub fn full_jitter(attempt: u32, base: Duration, cap: Duration, unit: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let ceiling = base.saturating_mul(1u32 << exp).min(cap);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// [`full_jitter`] with a fresh random draw.
pub fn delay(attempt: u32, base: Duration, cap: Duration) -> Duration {
    full_jitter(attempt, base, cap, rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(2);
    const CAP: Duration = Duration::from_secs(600);

    #[test]
    fn ceiling_doubles_then_caps() {
        let top = |n| full_jitter(n, BASE, CAP, 1.0);
        assert_eq!(top(1), Duration::from_secs(2));
        assert_eq!(top(2), Duration::from_secs(4));
        assert_eq!(top(5), Duration::from_secs(32));
        assert_eq!(top(10), CAP);
        assert_eq!(top(u32::MAX), CAP);
    }

    #[test]
    fn jitter_spans_zero_to_ceiling() {
        assert_eq!(full_jitter(3, BASE, CAP, 0.0), Duration::ZERO);
        assert_eq!(full_jitter(3, BASE, CAP, 0.5), Duration::from_secs(4));
        for _ in 0..100 {
            assert!(delay(4, BASE, CAP) <= Duration::from_secs(16));
        }
    }
}
