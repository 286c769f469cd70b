//! Indicator maths in exact decimals: simple moving averages and Wilder's RSI.
//!
//! Inputs are candle closes, oldest first. Nothing here rounds: a strategy compares the exact
//! values and rounds only for the rationale a person reads.

use rust_decimal::Decimal;

/// The simple moving average of the last `period` values, or `None` with fewer values (or a
/// period of zero).
#[must_use]
pub fn sma(values: &[Decimal], period: usize) -> Option<Decimal> {
    if period == 0 || values.len() < period {
        return None;
    }
    let window = &values[values.len() - period..];
    let sum: Decimal = window.iter().copied().sum();
    Some(sum / Decimal::from(period))
}

/// Wilder's relative strength index for every close from the `period + 1`-th on (one value per
/// close after the first `period` changes), oldest first; empty with fewer than `period + 1`
/// closes or a period of zero.
///
/// The first average gain and loss are plain means of the first `period` changes; after that
/// each is smoothed as `(previous × (period − 1) + current) / period` (Wilder, *New Concepts in
/// Technical Trading Systems*, 1978). RSI = 100 − 100 / (1 + average gain / average loss); with
/// no losses it is 100, and with neither gains nor losses (a flat market) 50.
#[must_use]
pub fn rsi_series(closes: &[Decimal], period: usize) -> Vec<Decimal> {
    if period == 0 || closes.len() < period + 1 {
        return Vec::new();
    }
    let n = Decimal::from(period);
    let changes: Vec<Decimal> = closes.windows(2).map(|w| w[1] - w[0]).collect();
    let gain = |c: Decimal| c.max(Decimal::ZERO);
    let loss = |c: Decimal| (-c).max(Decimal::ZERO);
    let mut average_gain = changes[..period].iter().copied().map(gain).sum::<Decimal>() / n;
    let mut average_loss = changes[..period].iter().copied().map(loss).sum::<Decimal>() / n;
    let mut series = Vec::with_capacity(changes.len() - period + 1);
    series.push(rsi_of(average_gain, average_loss));
    for change in &changes[period..] {
        average_gain = (average_gain * (n - Decimal::ONE) + gain(*change)) / n;
        average_loss = (average_loss * (n - Decimal::ONE) + loss(*change)) / n;
        series.push(rsi_of(average_gain, average_loss));
    }
    series
}

/// Wilder's RSI of the last close (see [`rsi_series`]).
#[must_use]
pub fn rsi(closes: &[Decimal], period: usize) -> Option<Decimal> {
    rsi_series(closes, period).last().copied()
}

fn rsi_of(average_gain: Decimal, average_loss: Decimal) -> Decimal {
    let hundred = Decimal::ONE_HUNDRED;
    if average_loss.is_zero() {
        return if average_gain.is_zero() {
            Decimal::from(50)
        } else {
            hundred
        };
    }
    hundred - hundred / (Decimal::ONE + average_gain / average_loss)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn decimals(values: &[&str]) -> Vec<Decimal> {
        values
            .iter()
            .map(|v| Decimal::from_str(v).unwrap())
            .collect()
    }

    #[test]
    fn sma_matches_hand_computation() {
        let closes = decimals(&["10", "11", "12", "13", "14.5"]);
        // (12 + 13 + 14.5) / 3 = 13.1666…
        assert_eq!(
            sma(&closes, 3).unwrap().round_dp(6),
            Decimal::from_str("13.166667").unwrap()
        );
        // (10 + 11 + 12 + 13 + 14.5) / 5 = 12.1
        assert_eq!(sma(&closes, 5).unwrap(), Decimal::from_str("12.1").unwrap());
        assert_eq!(sma(&closes, 1).unwrap(), Decimal::from_str("14.5").unwrap());
        assert_eq!(sma(&closes, 6), None);
        assert_eq!(sma(&closes, 0), None);
    }

    #[test]
    fn sma_is_exact_where_floats_are_not() {
        let closes = decimals(&["0.1", "0.2"]);
        assert_eq!(sma(&closes, 2).unwrap(), Decimal::from_str("0.15").unwrap());
    }

    /// The worked example of StockCharts' "Relative Strength Index" ChartSchool article
    /// (spreadsheet cs-rsi.xls): 33 closes, a 14-period RSI, published to two decimals.
    #[test]
    fn rsi_matches_the_published_worked_example() {
        let closes = decimals(&[
            "44.3389", "44.0902", "44.1497", "43.6124", "44.3278", "44.8264", "45.0955", "45.4245",
            "45.8433", "46.0826", "45.8931", "46.0328", "45.6140", "46.2820", "46.2820", "46.0028",
            "46.0328", "46.4116", "46.2222", "45.6439", "46.2122", "46.2521", "45.7137", "46.4515",
            "45.7835", "45.3548", "44.0288", "44.1783", "44.2181", "44.5672", "43.4205", "42.6628",
            "43.1314",
        ]);
        let published = decimals(&[
            "70.53", "66.32", "66.55", "69.41", "66.36", "57.97", "62.93", "63.26", "56.06",
            "62.38", "54.71", "50.42", "39.99", "41.46", "41.87", "45.46", "37.30", "33.08",
            "37.77",
        ]);
        let series: Vec<Decimal> = rsi_series(&closes, 14)
            .into_iter()
            .map(|v| v.round_dp(2))
            .collect();
        assert_eq!(series, published);
        assert_eq!(
            rsi(&closes, 14).unwrap().round_dp(2),
            Decimal::from_str("37.77").unwrap()
        );
    }

    #[test]
    fn rsi_edges() {
        let rising = decimals(&["1", "2", "3", "4"]);
        assert_eq!(rsi(&rising, 3), Some(Decimal::ONE_HUNDRED));
        let falling = decimals(&["4", "3", "2", "1"]);
        assert_eq!(rsi(&falling, 3), Some(Decimal::ZERO));
        let flat = decimals(&["5", "5", "5", "5"]);
        assert_eq!(rsi(&flat, 3), Some(Decimal::from(50)));
        assert_eq!(rsi(&rising, 4), None, "needs period + 1 closes");
        assert!(rsi_series(&rising, 0).is_empty());
    }
}
