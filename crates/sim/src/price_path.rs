//! A seeded price path per market, in fixed steps of sim time.
//!
//! Step `k` covers `[origin + k·step, origin + (k+1)·step)`; step 0 contains the moment the
//! simulator started and closes at the configured initial price. Each step's log return is
//! `drift + sigma·Z` with `Z` approximately standard normal (the Irwin–Hall sum of twelve
//! uniforms, so no floating point is involved), and the price moves by `exp` of it, computed as a
//! third-order series (returns per step are far below 1 %). The random numbers of step `k` come
//! from a ChaCha stream positioned by `(seed, market, k)`, so the path is the same for the same
//! seed whichever steps are asked for first; it is extended lazily forward and backward
//! (history), within bounds that keep memory small.
//!
//! An admin "set price" re-anchors the path at the current step: that step closes at the new
//! price and later steps continue from it. A market may instead replay candles from a CSV file.

use std::collections::VecDeque;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::{Decimal, MathematicalOps, RoundingStrategy};

use crate::{config::MarketConfig, error::SimError};

/// How many steps of history may be generated before the start (34 days of 1-minute steps).
const MAX_HISTORY_STEPS: i64 = 50_000;
/// How many steps after the start are generated; later the price stays at the last step's.
const MAX_FUTURE_STEPS: i64 = 1_000_000;
/// Random words reserved for one step in the ChaCha stream.
const WORDS_PER_STEP: u128 = 16;

/// One step of the path (prices unrounded; callers round to the tick size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Point {
    pub(crate) open: Decimal,
    pub(crate) high: Decimal,
    pub(crate) low: Decimal,
    pub(crate) close: Decimal,
    pub(crate) volume: Decimal,
}

#[derive(Debug, Clone)]
enum Source {
    Generated {
        seed: u64,
        stream: u64,
        sigma: Decimal,
        drift: Decimal,
        volume: Decimal,
    },
    /// Replayed candles; row `i` is step `i - start_row`.
    Replay { rows: Vec<Point>, start_row: usize },
}

/// The path of one market.
#[derive(Debug, Clone)]
pub(crate) struct PricePath {
    source: Source,
    origin_ms: i64,
    step_ms: i64,
    tick: Decimal,
    /// Index of `points[0]`.
    first: i64,
    points: VecDeque<Point>,
}

impl PricePath {
    /// A path for `market` starting at `start_ms` (the sim clock at start-up).
    pub(crate) fn new(
        market: &MarketConfig,
        seed: u64,
        market_index: u64,
        start_ms: i64,
        step_seconds: u32,
    ) -> Result<Self, SimError> {
        let step_ms = i64::from(step_seconds) * 1000;
        let origin_ms = start_ms.div_euclid(step_ms) * step_ms;
        let source = match &market.candles_csv {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| SimError::Replay {
                    market: market.market.clone(),
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                let rows = parse_csv(&text).map_err(|reason| SimError::Replay {
                    market: market.market.clone(),
                    path: path.display().to_string(),
                    reason,
                })?;
                if market.replay_start_row >= rows.len() {
                    return Err(SimError::Replay {
                        market: market.market.clone(),
                        path: path.display().to_string(),
                        reason: format!(
                            "replay_start_row {} is past the last row ({} rows)",
                            market.replay_start_row,
                            rows.len()
                        ),
                    });
                }
                Source::Replay {
                    rows,
                    start_row: market.replay_start_row,
                }
            }
            None => {
                let steps_per_day = Decimal::from(86_400 / i64::from(step_seconds));
                let sigma =
                    market.volatility_per_day / steps_per_day.sqrt().unwrap_or(Decimal::ONE);
                Source::Generated {
                    seed,
                    stream: market_index,
                    sigma,
                    drift: market.drift_per_day / steps_per_day,
                    volume: market.volume_per_step,
                }
            }
        };
        let first_point = match &source {
            Source::Replay { rows, start_row } => rows[*start_row],
            Source::Generated { volume, .. } => Point {
                open: market.initial_price,
                high: market.initial_price,
                low: market.initial_price,
                close: market.initial_price,
                volume: *volume,
            },
        };
        Ok(Self {
            source,
            origin_ms,
            step_ms,
            tick: market.tick_size,
            first: 0,
            points: VecDeque::from([first_point]),
        })
    }

    /// The step that contains `ms`.
    pub(crate) fn index_at(&self, ms: i64) -> i64 {
        (ms - self.origin_ms).div_euclid(self.step_ms)
    }

    /// When step `index` starts.
    pub(crate) fn time_of(&self, index: i64) -> i64 {
        self.origin_ms + index * self.step_ms
    }

    /// The step length in ms.
    pub(crate) fn step_ms(&self) -> i64 {
        self.step_ms
    }

    /// Rounds a price to the market's tick (never below one tick).
    pub(crate) fn to_tick(&self, price: Decimal) -> Decimal {
        let ticks =
            (price / self.tick).round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
        (ticks * self.tick).max(self.tick)
    }

    /// The price at `ms` (the close of its step, on the tick grid).
    pub(crate) fn price_at(&mut self, ms: i64) -> Decimal {
        let index = self.index_at(ms);
        let close = self
            .point(index)
            .map_or_else(|| self.earliest_close(), |p| p.close);
        self.to_tick(close)
    }

    fn earliest_close(&self) -> Decimal {
        self.points.front().map_or(self.tick, |p| p.open)
    }

    /// Step `index`, or `None` before the start of the history.
    pub(crate) fn point(&mut self, index: i64) -> Option<Point> {
        let (low_bound, high_bound) = self.bounds();
        if index < low_bound {
            return None;
        }
        let index = index.min(high_bound);
        while self.first > index {
            let next = self.first - 1;
            let p = self.generate_before(next)?;
            self.points.push_front(p);
            self.first = next;
        }
        while self.last() < index {
            let next = self.last() + 1;
            let p = self.generate_after(next);
            self.points.push_back(p);
        }
        usize::try_from(index - self.first)
            .ok()
            .and_then(|i| self.points.get(i))
            .copied()
    }

    fn last(&self) -> i64 {
        self.first + self.points.len() as i64 - 1
    }

    fn bounds(&self) -> (i64, i64) {
        match &self.source {
            Source::Generated { .. } => (-MAX_HISTORY_STEPS, MAX_FUTURE_STEPS),
            Source::Replay { start_row, .. } => {
                (-(i64::try_from(*start_row).unwrap_or(0)), MAX_FUTURE_STEPS)
            }
        }
    }

    /// Closes the current step at `price`; later steps continue from it.
    pub(crate) fn set_price(&mut self, now_ms: i64, price: Decimal) {
        let index = self.index_at(now_ms).min(self.bounds().1);
        if self.point(index).is_none() {
            return;
        }
        while self.last() > index {
            self.points.pop_back();
        }
        if let Some(p) = self.points.back_mut() {
            p.close = price;
            p.high = p.high.max(price);
            p.low = p.low.min(price);
        }
    }

    fn generate_after(&self, index: i64) -> Point {
        let prev = self.points.back().map_or(Decimal::ONE, |p| p.close);
        match &self.source {
            Source::Replay { rows, start_row } => {
                let row = usize::try_from(index)
                    .ok()
                    .and_then(|i| i.checked_add(*start_row))
                    .and_then(|i| rows.get(i));
                row.copied().unwrap_or(Point {
                    open: prev,
                    high: prev,
                    low: prev,
                    close: prev,
                    volume: Decimal::ZERO,
                })
            }
            Source::Generated { .. } => {
                let draw = self.draw(index);
                let close = (prev * growth(draw.log_return)).round_dp(12);
                self.shape(prev, close, &draw)
            }
        }
    }

    fn generate_before(&self, index: i64) -> Option<Point> {
        let (low_bound, _) = self.bounds();
        if index < low_bound {
            return None;
        }
        let after = *self.points.front()?;
        match &self.source {
            Source::Replay { rows, start_row } => {
                let i = i64::try_from(*start_row).ok()? + index;
                rows.get(usize::try_from(i).ok()?).copied()
            }
            Source::Generated { .. } => {
                // Step `index + 1` moved the price from this step's close to its own close.
                let close = after.open;
                let draw = self.draw(index);
                let open = (close / growth(draw.log_return)).round_dp(12);
                Some(self.shape(open, close, &draw))
            }
        }
    }

    fn shape(&self, open: Decimal, close: Decimal, draw: &Draw) -> Point {
        let (sigma, volume) = match &self.source {
            Source::Generated { sigma, volume, .. } => (*sigma, *volume),
            Source::Replay { .. } => (Decimal::ZERO, Decimal::ZERO),
        };
        let half = Decimal::new(5, 1);
        Point {
            open,
            close,
            high: (open.max(close) * (Decimal::ONE + sigma * draw.up * half)).round_dp(12),
            low: (open.min(close) * (Decimal::ONE - sigma * draw.down * half)).round_dp(12),
            volume: (volume * (half + draw.volume)).round_dp(8),
        }
    }

    fn draw(&self, index: i64) -> Draw {
        let Source::Generated {
            seed,
            stream,
            sigma,
            drift,
            ..
        } = &self.source
        else {
            return Draw::default();
        };
        let mut rng = ChaCha8Rng::seed_from_u64(*seed);
        rng.set_stream(*stream);
        // Shift so negative (history) indices get their own words too.
        let slot = u128::try_from(i128::from(index) + (1i128 << 40)).unwrap_or(0);
        rng.set_word_pos(slot * WORDS_PER_STEP);
        let mut uniform = || Decimal::from(rng.next_u32()) / Decimal::from(1u64 << 32);
        let mut sum = Decimal::ZERO;
        for _ in 0..12 {
            sum += uniform();
        }
        let z = sum - Decimal::from(6);
        Draw {
            log_return: *drift + *sigma * z,
            up: uniform(),
            down: uniform(),
            volume: uniform(),
        }
    }
}

#[derive(Debug, Default)]
struct Draw {
    log_return: Decimal,
    up: Decimal,
    down: Decimal,
    volume: Decimal,
}

/// `exp(x)` by its series to the third order, clamped so the price stays positive.
fn growth(x: Decimal) -> Decimal {
    let x = x.clamp(Decimal::new(-5, 1), Decimal::new(5, 1));
    let x2 = x * x;
    Decimal::ONE + x + x2 / Decimal::from(2) + x2 * x / Decimal::from(6)
}

/// Parses `timestamp,open,high,low,close,volume` lines (a header line is skipped).
fn parse_csv(text: &str) -> Result<Vec<Point>, String> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if n == 0 && fields.first().is_some_and(|f| f.parse::<i64>().is_err()) {
            continue;
        }
        if fields.len() != 6 {
            return Err(format!(
                "line {}: expected 6 fields (timestamp,open,high,low,close,volume), found {}",
                n + 1,
                fields.len()
            ));
        }
        let num = |i: usize, name: &str| -> Result<Decimal, String> {
            fields[i]
                .trim_matches('"')
                .parse::<Decimal>()
                .map_err(|_| format!("line {}: {name} {:?} is not a decimal", n + 1, fields[i]))
        };
        let p = Point {
            open: num(1, "open")?,
            high: num(2, "high")?,
            low: num(3, "low")?,
            close: num(4, "close")?,
            volume: num(5, "volume")?,
        };
        if p.low <= Decimal::ZERO || p.high < p.low {
            return Err(format!(
                "line {}: prices must be positive with high >= low",
                n + 1
            ));
        }
        rows.push(p);
    }
    if rows.is_empty() {
        return Err("no candles in the file".into());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_700_000_030_000;

    fn btc(volatility: Decimal) -> MarketConfig {
        MarketConfig::new("BTC-EUR", Decimal::ONE, 8, Decimal::from(60_000))
            .with_volatility(volatility)
    }

    #[test]
    fn starts_at_the_initial_price_and_is_deterministic_in_any_order() {
        let mut a = PricePath::new(&btc(Decimal::new(3, 2)), 7, 0, START, 60).unwrap();
        let mut b = PricePath::new(&btc(Decimal::new(3, 2)), 7, 0, START, 60).unwrap();
        assert_eq!(a.price_at(START), Decimal::from(60_000));
        // Ask in different orders: the same points come out.
        let forward: Vec<_> = (-50..50).map(|i| a.point(i).unwrap()).collect();
        let backward: Vec<_> = (-50..50).rev().map(|i| b.point(i).unwrap()).collect();
        assert_eq!(forward, backward.into_iter().rev().collect::<Vec<_>>());
        // Consecutive steps join up, and the path moves.
        for w in forward.windows(2) {
            assert_eq!(w[0].close, w[1].open);
            assert!(w[1].high >= w[1].close && w[1].low <= w[1].close);
        }
        assert!(forward.iter().any(|p| p.close != Decimal::from(60_000)));
    }

    #[test]
    fn different_seeds_give_different_paths_and_zero_volatility_is_flat() {
        let mut a = PricePath::new(&btc(Decimal::new(3, 2)), 1, 0, START, 60).unwrap();
        let mut b = PricePath::new(&btc(Decimal::new(3, 2)), 2, 0, START, 60).unwrap();
        assert_ne!(a.point(100), b.point(100));
        let mut flat = PricePath::new(&btc(Decimal::ZERO), 1, 0, START, 60).unwrap();
        assert_eq!(flat.price_at(START + 86_400_000), Decimal::from(60_000));
        assert_eq!(flat.price_at(START - 86_400_000), Decimal::from(60_000));
    }

    #[test]
    fn set_price_reanchors_from_now_on() {
        let mut p = PricePath::new(&btc(Decimal::new(3, 2)), 1, 0, START, 60).unwrap();
        let later = START + 10 * 60_000;
        let before = p.point(5).unwrap();
        let _ = p.price_at(START + 100 * 60_000);
        p.set_price(later, Decimal::from(40_000));
        assert_eq!(p.price_at(later), Decimal::from(40_000));
        assert_eq!(p.point(5).unwrap(), before, "history is kept");
        assert_eq!(p.point(11).unwrap().open, Decimal::from(40_000));
    }

    #[test]
    fn history_is_bounded() {
        let mut p = PricePath::new(&btc(Decimal::new(3, 2)), 1, 0, START, 60).unwrap();
        assert!(p.point(-MAX_HISTORY_STEPS - 1).is_none());
        assert!(p.point(-10).is_some());
    }

    #[test]
    fn replay_follows_the_csv_and_then_holds() {
        let dir = std::env::temp_dir().join(format!("vigil-sim-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.csv");
        std::fs::write(
            &file,
            "timestamp,open,high,low,close,volume\n0,100,110,90,105,2\n60000,105,120,100,118,3\n120000,118,119,101,102,1\n",
        )
        .unwrap();
        let mut m = btc(Decimal::ZERO);
        m.candles_csv = Some(file);
        m.replay_start_row = 1;
        let mut p = PricePath::new(&m, 1, 0, START, 60).unwrap();
        assert_eq!(p.price_at(START), Decimal::from(118));
        assert_eq!(p.point(-1).unwrap().close, Decimal::from(105));
        assert!(p.point(-2).is_none());
        assert_eq!(p.point(1).unwrap().close, Decimal::from(102));
        assert_eq!(p.point(5).unwrap().close, Decimal::from(102));
        assert!(parse_csv("1,2,3\n").unwrap_err().contains("line 1"));
    }
}
