//! Latency summaries and rates in integer arithmetic (the workspace denies float arithmetic):
//! percentiles by nearest rank over microsecond samples, rates as operations per second.

use std::time::Duration;

use serde::Serialize;

/// p50 / p99 / max of a set of latency samples, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Latency {
    /// How many samples.
    pub(crate) samples: usize,
    /// Median.
    pub(crate) p50_us: u64,
    /// 99th percentile (nearest rank).
    pub(crate) p99_us: u64,
    /// Largest sample.
    pub(crate) max_us: u64,
}

impl Latency {
    /// Summarises `samples` (any order).
    pub(crate) fn of(samples: &[Duration]) -> Latency {
        let mut us: Vec<u64> = samples
            .iter()
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .collect();
        us.sort_unstable();
        Latency {
            samples: us.len(),
            p50_us: nearest_rank(&us, 50),
            p99_us: nearest_rank(&us, 99),
            max_us: us.last().copied().unwrap_or(0),
        }
    }
}

/// The nearest-rank percentile of sorted samples (0 when there are none).
fn nearest_rank(sorted: &[u64], percent: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// Operations per second, rounded down.
pub(crate) fn per_second(operations: u64, elapsed: Duration) -> u64 {
    let micros = elapsed.as_micros().max(1);
    u64::try_from(u128::from(operations) * 1_000_000 / micros).unwrap_or(u64::MAX)
}

/// `numerator / denominator` in percent, rounded down (0 when the denominator is 0).
pub(crate) fn percent(numerator: u64, denominator: u64) -> u64 {
    if denominator == 0 {
        return 0;
    }
    numerator.saturating_mul(100) / denominator
}

/// Microseconds as `1.234 ms` for tables.
pub(crate) fn ms(us: u64) -> String {
    format!("{}.{:03} ms", us / 1_000, us % 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let l = Latency::of(&samples);
        assert_eq!(
            (l.samples, l.p50_us, l.p99_us, l.max_us),
            (100, 50, 99, 100)
        );
        let one = Latency::of(&[Duration::from_micros(7)]);
        assert_eq!((one.p50_us, one.p99_us, one.max_us), (7, 7, 7));
        assert_eq!(Latency::of(&[]), Latency::default());
    }

    #[test]
    fn rates_and_percentages_in_integers() {
        assert_eq!(per_second(500, Duration::from_millis(250)), 2_000);
        assert_eq!(per_second(1, Duration::ZERO), 1_000_000);
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(5, 0), 0);
        assert_eq!(ms(1_234), "1.234 ms");
        assert_eq!(ms(56), "0.056 ms");
    }
}
