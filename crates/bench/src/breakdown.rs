//! Where an execute's time goes: a step hook (the engine's `StepHooks` seam, which tests use to
//! pause and crash) that records when each step boundary is reached, so the order path splits
//! into claim, preflight, `SUBMITTING`, send and record; and the simulator's own record of when
//! each execution's order arrived and was answered (`vigil_sim::RequestTiming`, monotonic
//! instants of this same process), so the order's arrival and Vigil's own time are measured per
//! execution rather than by subtracting medians.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use serde::Serialize;
use vigil_core::Execution;
use vigil_engine::{HookAction, Step, StepHooks};
use vigil_sim::RequestTiming;

use crate::stats::Latency;

/// Records the instant of every step boundary of the executions it watches (one at a time).
#[derive(Debug, Default)]
pub(crate) struct StepTimer {
    marks: Mutex<Vec<(Step, Instant)>>,
}

impl StepTimer {
    /// A new timer, shared with the executor.
    pub(crate) fn new() -> Arc<StepTimer> {
        Arc::new(StepTimer::default())
    }

    /// Takes the marks of the last execution.
    pub(crate) fn take(&self) -> Vec<(Step, Instant)> {
        self.marks
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

impl StepHooks for StepTimer {
    fn at<'a>(&'a self, step: Step, _execution: &'a Execution) -> BoxFuture<'a, HookAction> {
        if let Ok(mut marks) = self.marks.lock() {
            marks.push((step, Instant::now()));
        }
        Box::pin(std::future::ready(HookAction::Continue))
    }
}

/// The segments of one execute.
#[derive(Debug, Default)]
pub(crate) struct Segments {
    claim: Vec<Duration>,
    preflight: Vec<Duration>,
    submitting: Vec<Duration>,
    send: Vec<Duration>,
    record: Vec<Duration>,
}

/// The segments' latencies.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Breakdown {
    /// Entry to `CLAIMED` (kill switches, proposal, claim).
    pub(crate) claim: Latency,
    /// `CLAIMED` to guards passed (exchange reads and the preflight section).
    pub(crate) preflight: Latency,
    /// Guards passed to `SUBMITTING` committed (signing and the re-check section).
    pub(crate) submitting: Latency,
    /// `SUBMITTING` committed to the order call's answer (the HTTP create).
    pub(crate) send: Latency,
    /// The answer to `execute` returning (recording `SUBMITTED`).
    pub(crate) record: Latency,
}

impl Segments {
    /// Adds one execute that started at `start`, ended at `end`, with these marks.
    pub(crate) fn add(&mut self, start: Instant, marks: &[(Step, Instant)], end: Instant) {
        let at = |step: Step| marks.iter().find(|(s, _)| *s == step).map(|(_, t)| *t);
        let (Some(c), Some(p), Some(s), Some(x)) = (
            at(Step::AfterClaim),
            at(Step::AfterPreflight),
            at(Step::AfterSubmitting),
            at(Step::AfterSend),
        ) else {
            return;
        };
        self.claim.push(c - start);
        self.preflight.push(p - c);
        self.submitting.push(s - p);
        self.send.push(x - s);
        self.record.push(end - x);
    }

    /// The summary.
    pub(crate) fn summary(&self) -> Breakdown {
        Breakdown {
            claim: Latency::of(&self.claim),
            preflight: Latency::of(&self.preflight),
            submitting: Latency::of(&self.submitting),
            send: Latency::of(&self.send),
            record: Latency::of(&self.record),
        }
    }
}

/// Per execution, against the simulator's record of its order.
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    to_sim: Vec<Duration>,
    handling: Vec<Duration>,
    back: Vec<Duration>,
    own: Vec<Duration>,
}

/// The order's arrival at the simulator and Vigil's own time, from the simulator's record.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Arrival {
    /// The execute call until the order's create request reached the simulator's handler.
    pub(crate) to_sim: Latency,
    /// The simulator's own handling of the create: arrived until its answer was built.
    pub(crate) sim_handling: Latency,
    /// The simulator's answer ready until `execute` returned (the answer's way back, its
    /// parsing, and recording `SUBMITTED`).
    pub(crate) answer_to_submitted: Latency,
    /// The execute call until `SUBMITTED` committed, minus the simulator's handling of that
    /// execution's order (the reads' round trips and the HTTP transport stay in).
    pub(crate) vigil_own: Latency,
}

impl Arrivals {
    /// Adds one execute that started at `start` and returned at `end`, whose order the
    /// simulator recorded as `timing`.
    pub(crate) fn add(&mut self, start: Instant, end: Instant, timing: RequestTiming) {
        let handling = timing.handling();
        self.to_sim
            .push(timing.arrived.saturating_duration_since(start));
        self.handling.push(handling);
        self.back
            .push(end.saturating_duration_since(timing.answered));
        self.own.push((end - start).saturating_sub(handling));
    }

    /// The summary.
    pub(crate) fn summary(&self) -> Arrival {
        Arrival {
            to_sim: Latency::of(&self.to_sim),
            sim_handling: Latency::of(&self.handling),
            answer_to_submitted: Latency::of(&self.back),
            vigil_own: Latency::of(&self.own),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_split_an_execute_at_its_step_boundaries() {
        let start = Instant::now();
        let ms = |n| start + Duration::from_millis(n);
        let marks = [
            (Step::AfterClaim, ms(1)),
            (Step::AfterPreflight, ms(3)),
            (Step::AfterSubmitting, ms(6)),
            (Step::AfterSend, ms(10)),
        ];
        let mut segments = Segments::default();
        segments.add(start, &marks, ms(15));
        let b = segments.summary();
        assert_eq!(
            [b.claim, b.preflight, b.submitting, b.send, b.record].map(|l| l.p50_us),
            [1_000, 2_000, 3_000, 4_000, 5_000]
        );
    }

    #[test]
    fn an_execute_that_stopped_early_is_left_out() {
        let start = Instant::now();
        let mut segments = Segments::default();
        segments.add(start, &[(Step::AfterClaim, start)], start);
        assert_eq!(segments.summary().claim.samples, 0);
    }

    #[test]
    fn arrivals_subtract_each_orders_own_handling() {
        let start = Instant::now();
        let ms = |n| start + Duration::from_millis(n);
        let mut arrivals = Arrivals::default();
        arrivals.add(
            start,
            ms(10),
            RequestTiming {
                arrived: ms(4),
                answered: ms(7),
            },
        );
        let a = arrivals.summary();
        assert_eq!(
            [a.to_sim, a.sim_handling, a.answer_to_submitted, a.vigil_own].map(|l| l.p50_us),
            [4_000, 3_000, 3_000, 7_000]
        );
    }

    #[test]
    fn the_timer_hands_over_the_marks_once() {
        let timer = StepTimer::new();
        if let Ok(mut marks) = timer.marks.lock() {
            marks.push((Step::AfterClaim, Instant::now()));
        }
        assert_eq!(timer.take().len(), 1);
        assert!(timer.take().is_empty());
    }
}
