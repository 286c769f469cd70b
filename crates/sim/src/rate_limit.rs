//! Rate limiting as bitvavo-api.md section 7 describes it: a budget of points per clock minute,
//! counted per API key for signed requests and per IP for unsigned ones. Every answer carries
//! `bitvavo-ratelimit-limit`, `-remaining` and `-resetat`. A caller that exceeds its budget is
//! banned: a key until the end of the next minute (the docs' example: exceeding at 12:00:15
//! unblocks at 12:02:00), an IP for `unsigned_ban_minutes`.
//!
//! Time is the sim clock, so a test with a `ManualClock` can cross a minute boundary or wait out
//! a ban without sleeping.

use std::{collections::HashMap, net::IpAddr};

use crate::config::{BanCode, RateLimitConfig};

/// Who is counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Bucket {
    Key(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    minute_start_ms: i64,
    used: u32,
}

/// The rate-limit header values for one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Headers {
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    pub(crate) reset_at_ms: i64,
}

/// The verdict for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed(Headers),
    /// Refused; `until_ms` is when the ban ends.
    Banned {
        headers: Headers,
        until_ms: i64,
    },
}

/// All buckets and bans.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    config: RateLimitConfig,
    windows: HashMap<Bucket, Window>,
    bans: HashMap<Bucket, i64>,
}

/// The largest number of buckets kept before stale ones are dropped (bounds memory when many
/// distinct bogus keys are sent).
const MAX_BUCKETS: usize = 10_000;

fn minute_start(now_ms: i64) -> i64 {
    now_ms.div_euclid(60_000) * 60_000
}

impl RateLimiter {
    pub(crate) fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            windows: HashMap::new(),
            bans: HashMap::new(),
        }
    }

    pub(crate) fn ban_code(&self) -> BanCode {
        self.config.ban_code
    }

    /// The headers for `bucket` without charging anything.
    pub(crate) fn peek(&self, bucket: &Bucket, now_ms: i64) -> Headers {
        let start = minute_start(now_ms);
        let used = self
            .windows
            .get(bucket)
            .filter(|w| w.minute_start_ms == start)
            .map_or(0, |w| w.used);
        let banned = self.bans.get(bucket).is_some_and(|until| *until > now_ms);
        Headers {
            limit: self.config.points_per_minute,
            remaining: if banned {
                0
            } else {
                self.config.points_per_minute.saturating_sub(used)
            },
            reset_at_ms: start + 60_000,
        }
    }

    /// Charges `weight` points to `bucket`, banning it when that exceeds the budget.
    pub(crate) fn charge(&mut self, bucket: &Bucket, weight: u32, now_ms: i64) -> Verdict {
        let start = minute_start(now_ms);
        let limit = self.config.points_per_minute;
        if let Some(until) = self.bans.get(bucket).copied() {
            if until > now_ms {
                return Verdict::Banned {
                    headers: Headers {
                        limit,
                        remaining: 0,
                        reset_at_ms: start + 60_000,
                    },
                    until_ms: until,
                };
            }
            self.bans.remove(bucket);
        }
        if self.windows.len() >= MAX_BUCKETS {
            self.windows.retain(|_, w| w.minute_start_ms == start);
        }
        let window = self.windows.entry(bucket.clone()).or_insert(Window {
            minute_start_ms: start,
            used: 0,
        });
        if window.minute_start_ms != start {
            *window = Window {
                minute_start_ms: start,
                used: 0,
            };
        }
        let used = window.used.saturating_add(weight);
        if used > limit {
            window.used = limit;
            let until = match bucket {
                Bucket::Key(_) => start + 120_000,
                Bucket::Ip(_) => now_ms + i64::from(self.config.unsigned_ban_minutes) * 60_000,
            };
            self.bans.insert(bucket.clone(), until);
            return Verdict::Banned {
                headers: Headers {
                    limit,
                    remaining: 0,
                    reset_at_ms: start + 60_000,
                },
                until_ms: until,
            };
        }
        window.used = used;
        Verdict::Allowed(Headers {
            limit,
            remaining: limit - used,
            reset_at_ms: start + 60_000,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(points: u32) -> RateLimiter {
        RateLimiter::new(RateLimitConfig {
            points_per_minute: points,
            ..RateLimitConfig::default()
        })
    }

    #[test]
    fn remaining_counts_down_and_resets_each_minute() {
        let mut l = limiter(10);
        let k = Bucket::Key("k".into());
        let t = 1_700_000_000_000; // 13:33:20 UTC, 20 s into a minute
        assert_eq!(
            l.charge(&k, 5, t),
            Verdict::Allowed(Headers {
                limit: 10,
                remaining: 5,
                reset_at_ms: 1_700_000_040_000
            })
        );
        assert!(matches!(l.charge(&k, 5, t + 1), Verdict::Allowed(h) if h.remaining == 0));
        assert!(matches!(l.charge(&k, 1, t + 40_000), Verdict::Allowed(h) if h.remaining == 9));
    }

    #[test]
    fn exceeding_bans_a_key_until_the_end_of_the_next_minute() {
        let mut l = limiter(3);
        let k = Bucket::Key("k".into());
        // 15 s into the minute that starts at 1_699_999_980_000 ("12:00:15").
        let t = 1_699_999_995_000;
        l.charge(&k, 3, t);
        let Verdict::Banned { until_ms, .. } = l.charge(&k, 1, t) else {
            panic!("not banned")
        };
        assert_eq!(until_ms, 1_699_999_980_000 + 120_000); // "12:02:00"
        assert!(matches!(
            l.charge(&k, 1, until_ms - 1),
            Verdict::Banned { .. }
        ));
        assert!(matches!(l.charge(&k, 1, until_ms), Verdict::Allowed(_)));
        // Other callers are unaffected.
        assert!(matches!(
            l.charge(&Bucket::Key("other".into()), 1, t),
            Verdict::Allowed(_)
        ));
    }

    #[test]
    fn unsigned_callers_are_banned_per_ip_for_the_configured_minutes() {
        let mut l = limiter(1);
        let ip = Bucket::Ip("127.0.0.1".parse().unwrap());
        l.charge(&ip, 1, 0);
        let Verdict::Banned { until_ms, .. } = l.charge(&ip, 1, 1000) else {
            panic!("not banned")
        };
        assert_eq!(until_ms, 1000 + 15 * 60_000);
    }
}
