//! The rate-limit budget: never send a request the exchange would count over the limit.
//!
//! Bitvavo gives each API key a budget of points per clock minute (1000 by default) and answers
//! every request with `bitvavo-ratelimit-limit`, `-remaining` and `-resetat` (bitvavo-api.md
//! section 7). Exceeding it bans the key for the rest of the minute plus one more, so a client
//! must stop *before* the limit. One [`RateBudget`] exists per key (per client), shared by all
//! tasks using that client.
//!
//! How it decides, under one short mutex (never held across an `.await`):
//! - Before a request, its weight is *reserved*: subtracted from `remaining` and added to
//!   `in_flight`. A request that does not fit waits for the window to reset (if that happens
//!   within the caller's deadline) or is refused; nothing is sent.
//! - When an answer arrives, the exchange's `remaining` already counts this request but perhaps
//!   not the others still in flight, so the estimate becomes `remaining - in_flight` (and never
//!   rises within the same window: the smaller of ours and theirs wins).
//! - Until the first answer, the budget is unknown (another process may have used the key), so
//!   at most [`UNKNOWN_STATE_IN_FLIGHT_MAX`] points are in flight at once.
//! - A window is taken to have reset only [`RESET_MARGIN`] after `resetat`, which absorbs a
//!   small error in the measured clock offset.
//! - After a ban (HTTP 429, errorCode 110 or 105), nothing is sent until it expires.
//! - Waiting callers are served first come, first served: a caller that has to wait takes a
//!   ticket, and while tickets are outstanding only the oldest may spend points. Without this a
//!   stream of light requests could starve a heavy one (`/ordersOpen` without a market weighs 25)
//!   past its deadline.
//!
//! Time is the [`Clock`] given to the client; sleeping happens in slices of at most
//! [`POLL_SLICE`], re-reading the clock each time, so a test clock that moves faster than real
//! time (or tokio's paused clock) drives the waits.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use chrono::TimeDelta;
use tokio::sync::Notify;
use vigil_core::{Clock, Timestamp};

/// Points assumed per minute before the exchange has said otherwise (Bitvavo's default).
pub(crate) const DEFAULT_LIMIT: u32 = 1000;
/// Points allowed in flight before the first answer has told us the real budget.
pub(crate) const UNKNOWN_STATE_IN_FLIGHT_MAX: u32 = 25;
/// How long after `resetat` the window is taken to have reset.
pub(crate) const RESET_MARGIN: TimeDelta = TimeDelta::seconds(1);
/// The longest single sleep while waiting; the clock is re-read after each.
pub(crate) const POLL_SLICE: Duration = Duration::from_millis(100);
/// Length of a rate-limit window.
const WINDOW: TimeDelta = TimeDelta::minutes(1);

/// What the exchange's rate-limit headers said, in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Observation {
    /// `bitvavo-ratelimit-limit`, when sent.
    pub(crate) limit: Option<u32>,
    /// `bitvavo-ratelimit-remaining`.
    pub(crate) remaining: i64,
    /// `bitvavo-ratelimit-resetat`, converted to the local clock.
    pub(crate) reset_at: Timestamp,
}

/// Why the budget would not let a request go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BudgetRefusal {
    /// The key is banned until then.
    Banned { until: Timestamp },
    /// The budget is spent until the window resets then, after the caller's deadline.
    Exhausted { until: Timestamp },
    /// The request alone weighs more than the whole per-minute limit.
    TooHeavy { weight: u32, limit: u32 },
}

#[derive(Debug)]
struct State {
    limit: u32,
    /// Points we believe are left in the current window, after our reservations.
    remaining: i64,
    /// End of the current window (local clock); `None` until the exchange has told us.
    reset_at: Option<Timestamp>,
    banned_until: Option<Timestamp>,
    /// Points reserved by requests that have not been answered yet.
    in_flight: u32,
    /// Tickets of callers waiting their turn, oldest first.
    waiting: BTreeSet<u64>,
    next_ticket: u64,
}

impl State {
    /// Applies the passage of time: a ban that has expired, a window that has reset.
    fn roll(&mut self, now: Timestamp) {
        if let Some(until) = self.banned_until {
            if now >= until {
                self.banned_until = None;
                self.reset_at = None;
                self.remaining = i64::from(self.limit) - i64::from(self.in_flight);
            }
        }
        if let Some(reset) = self.reset_at {
            if now >= reset + RESET_MARGIN {
                // Windows are clock minutes: step to the first window end still ahead.
                let behind =
                    (now - reset - RESET_MARGIN).num_milliseconds() / WINDOW.num_milliseconds();
                let steps = i32::try_from(behind.saturating_add(1)).unwrap_or(i32::MAX);
                self.reset_at = Some(reset + WINDOW * steps);
                self.remaining = i64::from(self.limit) - i64::from(self.in_flight);
            }
        }
    }
}

/// One of the two exchange keys (I10); each has its own rate-limit budget at Bitvavo. Names the
/// key in metrics labels and in alerts about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeKey {
    /// The read-only key (market data, balances, the reconciler's order lookups).
    ReadOnly,
    /// The trade key (placing and cancelling orders, the dead man's switch).
    Trade,
}

impl ExchangeKey {
    /// The `key` label value, also used in alert messages.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            ExchangeKey::ReadOnly => "read_only",
            ExchangeKey::Trade => "trade",
        }
    }
}

/// What a client knows of its key's rate-limit budget right now (for metrics and alerts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitStatus {
    /// Points per minute (the exchange's `bitvavo-ratelimit-limit`, or the default before any
    /// answer).
    pub limit: u32,
    /// Points left in this window, less what requests in flight hold.
    pub remaining: i64,
    /// When the window resets, once an answer has said so.
    pub reset_at: Option<Timestamp>,
    /// Until when the exchange has banned this key, if it has.
    pub banned_until: Option<Timestamp>,
}

/// What [`RateBudget::try_take`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    Granted,
    /// Try again when the window resets (or something changes).
    WaitUntil(Timestamp),
    /// Try again when an answer arrives (the budget is still unknown).
    WaitForAnswer,
    /// Older callers are waiting; try again when it is this caller's turn.
    WaitTurn,
    Refused(BudgetRefusal),
}

/// The budget of one API key.
#[derive(Debug)]
pub(crate) struct RateBudget {
    state: Mutex<State>,
    /// Woken whenever an answer or a ban changes the state.
    changed: Notify,
    clock: Arc<dyn Clock>,
}

impl RateBudget {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                limit: DEFAULT_LIMIT,
                remaining: i64::from(DEFAULT_LIMIT),
                reset_at: None,
                banned_until: None,
                in_flight: 0,
                waiting: BTreeSet::new(),
                next_ticket: 0,
            }),
            changed: Notify::new(),
            clock,
        })
    }

    /// The budget as it stands now (windows and bans rolled forward to the clock).
    pub(crate) fn status(&self) -> RateLimitStatus {
        let now = self.clock.now();
        let mut s = self.lock();
        s.roll(now);
        RateLimitStatus {
            limit: s.limit,
            remaining: s.remaining,
            reset_at: s.reset_at,
            banned_until: s.banned_until,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every statement, so a panic elsewhere cannot leave it
        // half-updated; carry on with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_take(&self, weight: u32, now: Timestamp, ticket: Option<u64>) -> Take {
        let mut s = self.lock();
        s.roll(now);
        if let Some(until) = s.banned_until {
            return Take::Refused(BudgetRefusal::Banned { until });
        }
        if weight > s.limit {
            return Take::Refused(BudgetRefusal::TooHeavy {
                weight,
                limit: s.limit,
            });
        }
        let head = s.waiting.first().copied();
        if head.is_some() && head != ticket {
            return Take::WaitTurn;
        }
        if s.reset_at.is_none()
            && s.in_flight > 0
            && s.in_flight.saturating_add(weight) > UNKNOWN_STATE_IN_FLIGHT_MAX
        {
            return Take::WaitForAnswer;
        }
        if s.remaining >= i64::from(weight) {
            s.remaining -= i64::from(weight);
            s.in_flight = s.in_flight.saturating_add(weight);
            return Take::Granted;
        }
        let until = s.reset_at.map_or(now + WINDOW, |r| r + RESET_MARGIN);
        Take::WaitUntil(until)
    }

    /// When a caller refused for lack of time might try again.
    fn next_chance(&self, now: Timestamp) -> Timestamp {
        let s = self.lock();
        s.reset_at
            .map(|r| r + RESET_MARGIN)
            .filter(|t| *t > now)
            .unwrap_or(now + RESET_MARGIN)
    }

    /// Takes a place at the end of the line of waiting callers.
    fn enqueue(self: &Arc<Self>) -> QueuePlace {
        let mut s = self.lock();
        let ticket = s.next_ticket;
        s.next_ticket = s.next_ticket.wrapping_add(1);
        s.waiting.insert(ticket);
        QueuePlace {
            budget: Arc::clone(self),
            ticket,
        }
    }

    /// Reserves `weight` points, waiting at most `wait_max` for the budget to allow it.
    ///
    /// A wait that could not end in time is refused at once rather than slept through.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        weight: u32,
        wait_max: Duration,
    ) -> Result<Permit, BudgetRefusal> {
        let now = self.clock.now();
        let deadline = TimeDelta::from_std(wait_max)
            .ok()
            .and_then(|wait| now.checked_add_signed(wait))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        // Dropped on every way out (granted, refused, or the caller gone), freeing the turn.
        let mut place: Option<QueuePlace> = None;
        loop {
            // Registered before the check so an answer arriving in between is not missed.
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = self.clock.now();
            let wake_at = match self.try_take(weight, now, place.as_ref().map(|p| p.ticket)) {
                Take::Granted => {
                    return Ok(Permit {
                        budget: Arc::clone(self),
                        weight,
                        open: true,
                    })
                }
                Take::Refused(BudgetRefusal::Banned { until }) if until <= deadline => until,
                Take::Refused(refusal) => return Err(refusal),
                Take::WaitUntil(until) if until <= deadline => until,
                Take::WaitUntil(until) => return Err(BudgetRefusal::Exhausted { until }),
                Take::WaitForAnswer | Take::WaitTurn if now < deadline => deadline,
                Take::WaitForAnswer | Take::WaitTurn => {
                    return Err(BudgetRefusal::Exhausted {
                        until: self.next_chance(now),
                    })
                }
            };
            if place.is_none() {
                // This caller has to wait: get in line, then look again (it may be first).
                place = Some(self.enqueue());
                continue;
            }
            let slice = (wake_at - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(POLL_SLICE);
            tokio::select! {
                () = tokio::time::sleep(slice.max(Duration::from_millis(1))) => {}
                () = &mut notified => {}
            }
        }
    }

    /// Records a ban that lasts until `until` (local clock).
    pub(crate) fn ban(&self, until: Timestamp) {
        {
            let mut s = self.lock();
            s.banned_until = Some(s.banned_until.map_or(until, |b| b.max(until)));
            s.remaining = 0;
        }
        self.changed.notify_waiters();
    }

    fn finish(&self, weight: u32, observation: Option<Observation>) {
        {
            let mut s = self.lock();
            s.in_flight = s.in_flight.saturating_sub(weight);
            if let Some(o) = observation {
                if let Some(limit) = o.limit {
                    s.limit = limit;
                }
                // The answer counts this request; the others in flight may not be counted yet.
                let estimate = o.remaining - i64::from(s.in_flight);
                match s.reset_at {
                    None => {
                        s.reset_at = Some(o.reset_at);
                        s.remaining = estimate;
                    }
                    Some(r) if o.reset_at > r + RESET_MARGIN => {
                        s.reset_at = Some(o.reset_at);
                        s.remaining = estimate;
                    }
                    // An answer from a window we already left behind says nothing about now.
                    Some(r) if o.reset_at + RESET_MARGIN < r => {}
                    Some(_) => {
                        s.reset_at = Some(o.reset_at);
                        s.remaining = s.remaining.min(estimate);
                    }
                }
            }
        }
        self.changed.notify_waiters();
    }

    /// The current estimate: (remaining, in flight). For tests and diagnostics.
    #[cfg(test)]
    fn snapshot(&self) -> (i64, u32) {
        let s = self.lock();
        (s.remaining, s.in_flight)
    }
}

/// A waiting caller's place in line; leaving it (on any path) lets the next caller go.
#[derive(Debug)]
struct QueuePlace {
    budget: Arc<RateBudget>,
    ticket: u64,
}

impl Drop for QueuePlace {
    fn drop(&mut self) {
        self.budget.lock().waiting.remove(&self.ticket);
        self.budget.changed.notify_waiters();
    }
}

/// Points reserved for one request; hand the answer's headers back with [`Permit::complete`].
/// Dropped without that (the request was abandoned), it frees its in-flight share but keeps the
/// points spent, since the request may have reached the exchange.
#[derive(Debug)]
pub(crate) struct Permit {
    budget: Arc<RateBudget>,
    weight: u32,
    open: bool,
}

impl Permit {
    /// The request was answered; `observation` is what its rate-limit headers said.
    pub(crate) fn complete(mut self, observation: Option<Observation>) {
        self.open = false;
        self.budget.finish(self.weight, observation);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.open {
            self.budget.finish(self.weight, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that reads tokio's (paused) clock, so tokio's auto-advance moves it.
    #[derive(Debug)]
    struct TokioClock {
        origin: Timestamp,
        start: tokio::time::Instant,
    }

    impl Clock for TokioClock {
        fn now(&self) -> Timestamp {
            self.origin + TimeDelta::from_std(self.start.elapsed()).unwrap_or(TimeDelta::zero())
        }
    }

    fn clock() -> Arc<dyn Clock> {
        Arc::new(TokioClock {
            // 20 s into a minute.
            origin: chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
            start: tokio::time::Instant::now(),
        })
    }

    fn obs(clock: &Arc<dyn Clock>, remaining: i64, reset_in_s: i64) -> Observation {
        Observation {
            limit: Some(10),
            remaining,
            reset_at: clock.now() + TimeDelta::seconds(reset_in_s),
        }
    }

    const WAIT: Duration = Duration::from_secs(30);

    #[tokio::test(start_paused = true)]
    async fn spends_down_then_waits_for_the_reset() {
        let clock = clock();
        let budget = RateBudget::new(Arc::clone(&clock));
        budget
            .acquire(1, WAIT)
            .await
            .unwrap()
            .complete(Some(obs(&clock, 9, 5)));
        let reset_at = clock.now() + TimeDelta::seconds(5);
        for left in (0..9).rev() {
            let p = budget.acquire(1, WAIT).await.unwrap();
            p.complete(Some(Observation {
                limit: Some(10),
                remaining: left,
                reset_at,
            }));
        }
        assert_eq!(budget.snapshot(), (0, 0));
        // The 11th point is only granted after the reset (plus the margin).
        let _p = budget.acquire(1, WAIT).await.unwrap();
        assert!(clock.now() >= reset_at + RESET_MARGIN);
        assert_eq!(budget.snapshot(), (9, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_at_once_when_the_reset_is_after_the_deadline() {
        let clock = clock();
        let budget = RateBudget::new(Arc::clone(&clock));
        budget
            .acquire(1, WAIT)
            .await
            .unwrap()
            .complete(Some(obs(&clock, 0, 40)));
        let before = clock.now();
        let err = budget.acquire(1, Duration::from_secs(5)).await.unwrap_err();
        assert_eq!(
            err,
            BudgetRefusal::Exhausted {
                until: before + TimeDelta::seconds(40) + RESET_MARGIN
            }
        );
        assert_eq!(clock.now(), before, "refused without sleeping");
        // With no waiting allowed at all, likewise.
        assert!(budget.acquire(1, Duration::ZERO).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_ban_stops_everything_until_it_expires() {
        let clock = clock();
        let budget = RateBudget::new(Arc::clone(&clock));
        budget
            .acquire(1, WAIT)
            .await
            .unwrap()
            .complete(Some(obs(&clock, 500, 30)));
        let until = clock.now() + TimeDelta::seconds(90);
        budget.ban(until);
        assert_eq!(
            budget.acquire(1, WAIT).await.unwrap_err(),
            BudgetRefusal::Banned { until }
        );
        // A caller willing to wait past the ban gets through only after it.
        let _p = budget.acquire(1, Duration::from_secs(120)).await.unwrap();
        assert!(clock.now() >= until);
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_budget_allows_only_a_probe_in_flight() {
        let clock = clock();
        let budget = RateBudget::new(Arc::clone(&clock));
        let first = budget.acquire(20, WAIT).await.unwrap();
        let _second = budget.acquire(5, WAIT).await.unwrap();
        // 25 points in flight before any answer: the next one waits for an answer.
        let b = Arc::clone(&budget);
        let waiting = tokio::spawn(async move { b.acquire(1, WAIT).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished());
        first.complete(Some(obs(&clock, 980, 30)));
        waiting.await.unwrap().unwrap();
        // And without any wait allowed it is refused instead.
        let budget = RateBudget::new(Arc::clone(&clock));
        let _a = budget.acquire(25, WAIT).await.unwrap();
        assert!(budget.acquire(1, Duration::ZERO).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn answers_subtract_what_is_still_in_flight_and_never_raise_the_estimate() {
        let clock = clock();
        let budget = RateBudget::new(Arc::clone(&clock));
        budget
            .acquire(1, WAIT)
            .await
            .unwrap()
            .complete(Some(obs(&clock, 9, 30)));
        let a = budget.acquire(3, WAIT).await.unwrap();
        let b = budget.acquire(2, WAIT).await.unwrap();
        assert_eq!(budget.snapshot(), (4, 5));
        // The exchange counted `a` but not yet `b`: 9 - 3 = 6 left by its count.
        a.complete(Some(obs(&clock, 6, 30)));
        assert_eq!(budget.snapshot(), (4, 2));
        // Another process used the key: the exchange's lower count wins.
        b.complete(Some(obs(&clock, 1, 30)));
        assert_eq!(budget.snapshot(), (1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_answer_from_an_old_window_is_ignored() {
        let clock = clock();
        let budget = RateBudget::new(Arc::clone(&clock));
        budget
            .acquire(1, WAIT)
            .await
            .unwrap()
            .complete(Some(obs(&clock, 9, 30)));
        let late = budget.acquire(1, WAIT).await.unwrap();
        tokio::time::sleep(Duration::from_secs(32)).await;
        let fresh = budget.acquire(1, WAIT).await.unwrap();
        assert_eq!(budget.snapshot(), (8, 2));
        late.complete(Some(obs(&clock, 0, -2)));
        assert_eq!(budget.snapshot(), (8, 1));
        fresh.complete(Some(obs(&clock, 9, 28)));
        assert_eq!(budget.snapshot(), (8, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn too_heavy_requests_and_dropped_permits() {
        let clock = clock();
        let budget = RateBudget::new(Arc::clone(&clock));
        budget
            .acquire(1, WAIT)
            .await
            .unwrap()
            .complete(Some(obs(&clock, 9, 30)));
        assert_eq!(
            budget.acquire(25, WAIT).await.unwrap_err(),
            BudgetRefusal::TooHeavy {
                weight: 25,
                limit: 10
            }
        );
        let p = budget.acquire(4, WAIT).await.unwrap();
        drop(p);
        // Freed from flight, but the points stay spent: the request may have been counted.
        assert_eq!(budget.snapshot(), (5, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_callers_are_served_in_order_so_heavy_ones_do_not_starve() {
        let clock = clock();
        let budget = RateBudget::new(Arc::clone(&clock));
        budget
            .acquire(1, WAIT)
            .await
            .unwrap()
            .complete(Some(Observation {
                limit: Some(30),
                remaining: 5,
                reset_at: clock.now() + TimeDelta::seconds(10),
            }));
        // A heavy request has to wait for the reset...
        let b = Arc::clone(&budget);
        let heavy = tokio::spawn(async move { b.acquire(25, WAIT).await });
        tokio::time::sleep(Duration::from_millis(1)).await;
        // ...and light ones arriving later queue behind it instead of spending the points.
        let b = Arc::clone(&budget);
        let light = tokio::spawn(async move { b.acquire(1, WAIT).await });
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(!light.is_finished(), "the light request waits its turn");
        assert_eq!(budget.snapshot(), (5, 0));
        let heavy = heavy.await.unwrap().unwrap();
        let light = light.await.unwrap().unwrap();
        assert_eq!(budget.snapshot(), (4, 26));
        drop((heavy, light));
        // A caller that gave up leaves the line.
        let b = Arc::clone(&budget);
        let impatient = tokio::spawn(async move { b.acquire(30, Duration::from_secs(1)).await });
        assert!(impatient.await.unwrap().is_err());
        assert!(budget.lock().waiting.is_empty());
    }

    /// Many tasks share one budget against a model exchange that counts points per clock minute
    /// and answers after a delay: the exchange never counts more than the limit in a minute.
    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_never_exceed_the_limit() {
        #[derive(Debug, Default)]
        struct Exchange {
            minute: i64,
            used: u32,
            max_used: u32,
        }
        const LIMIT: u32 = 40;
        let clock = clock();
        let budget = RateBudget::new(Arc::clone(&clock));
        let exchange = Arc::new(Mutex::new(Exchange::default()));
        let mut tasks = Vec::new();
        for task in 0..8u32 {
            let (budget, clock, exchange) = (
                Arc::clone(&budget),
                Arc::clone(&clock),
                Arc::clone(&exchange),
            );
            tasks.push(tokio::spawn(async move {
                for i in 0..30u32 {
                    let weight = [1, 5, 1, 25, 1][((task + i) % 5) as usize];
                    // Up to seven callers ahead of this one, 25 points each, at 40 points a
                    // minute: several minutes of waiting.
                    let permit = budget
                        .acquire(weight, Duration::from_secs(600))
                        .await
                        .unwrap();
                    // Travel time to the exchange.
                    tokio::time::sleep(Duration::from_millis(u64::from(5 + task * 3))).await;
                    let (remaining, reset_ms) = {
                        let mut ex = exchange.lock().unwrap();
                        let now_ms = clock.now().timestamp_millis();
                        let minute = now_ms.div_euclid(60_000);
                        if minute != ex.minute {
                            ex.minute = minute;
                            ex.used = 0;
                        }
                        ex.used += weight;
                        ex.max_used = ex.max_used.max(ex.used);
                        (i64::from(LIMIT) - i64::from(ex.used), (minute + 1) * 60_000)
                    };
                    // Travel time back.
                    tokio::time::sleep(Duration::from_millis(u64::from(7 + task))).await;
                    permit.complete(Some(Observation {
                        limit: Some(LIMIT),
                        remaining,
                        reset_at: chrono::DateTime::from_timestamp_millis(reset_ms).unwrap(),
                    }));
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let max_used = exchange.lock().unwrap().max_used;
        assert!(
            max_used <= LIMIT,
            "the exchange counted {max_used} > {LIMIT}"
        );
    }
}
