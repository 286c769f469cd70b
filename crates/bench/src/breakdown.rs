//! Where an execute's time goes: a step hook (the engine's `StepHooks` seam, which tests use to
//! pause and crash) that records when each step boundary is reached, so the order path splits
//! into claim, preflight, `SUBMITTING`, send and record.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use serde::Serialize;
use vigil_core::Execution;
use vigil_engine::{HookAction, Step, StepHooks};

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
    fn the_timer_hands_over_the_marks_once() {
        let timer = StepTimer::new();
        if let Ok(mut marks) = timer.marks.lock() {
            marks.push((Step::AfterClaim, Instant::now()));
        }
        assert_eq!(timer.take().len(), 1);
        assert!(timer.take().is_empty());
    }
}
