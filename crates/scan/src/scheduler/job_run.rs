//! One run of one leased job: read market data (read-only client), evaluate the strategy or ask
//! the advisor, build the proposals, and hand everything to the final transaction.
//!
//! Failures of the run itself (market data unavailable, too little history, invalid stored
//! parameters, the LLM budget spent) are recorded as the run's outcome with a detail a person
//! can act on; they never stop the worker. A failure that may pass (an exchange or LLM
//! endpoint hiccup) makes the job due again after `failure_retry` instead of a whole interval.

use chrono::Duration;
use vigil_core::{Proposal, ProposalSource, Timestamp};
use vigil_store::{LeasedJob, RunReport, ScanJob, ScanRunOutcome};

use super::{JobRunEnd, Scheduler, SchedulerConfig};
use crate::{
    advisor::{AdvisorError, AdvisorParams},
    strategy::{fetch_snapshot, Signal, StrategyParams},
};

/// The first due time after `now` on the job's schedule (`due_at` + k × interval): missed runs
/// (the scheduler was down) are skipped, not run in a burst, and the schedule keeps its phase.
#[must_use]
pub fn next_due(due_at: Timestamp, interval_seconds: u32, now: Timestamp) -> Timestamp {
    let interval = Duration::seconds(i64::from(interval_seconds.max(1)));
    if now < due_at {
        return due_at + interval;
    }
    let elapsed = (now - due_at).num_seconds();
    let steps = elapsed / interval.num_seconds() + 1;
    due_at + interval * i32::try_from(steps).unwrap_or(i32::MAX)
}

/// A failed run's report: no proposals; due again after `failure_retry` when the failure may
/// pass, otherwise on schedule.
pub(super) fn failed_report(
    config: &SchedulerConfig,
    leased: &LeasedJob,
    now: Timestamp,
    detail: String,
    transient: bool,
) -> RunReport {
    let scheduled = next_due(leased.due_at, leased.job.interval_seconds, now);
    let retry = Duration::from_std(config.failure_retry).unwrap_or(Duration::minutes(5));
    RunReport {
        outcome: ScanRunOutcome::Failed,
        detail: Some(detail),
        started_at: now,
        proposals: Vec::new(),
        next_run_at: if transient {
            scheduled.min(now + retry)
        } else {
            scheduled
        },
    }
}

/// What the strategy part of a run found.
struct Findings {
    signals: Vec<Signal>,
    source: ProposalSource,
    /// Problems that did not stop the run (one market failed, proposals dropped).
    notes: Vec<String>,
    /// A problem that stopped the run, and whether it may pass.
    failure: Option<(String, bool)>,
    /// Set when the run did nothing on purpose (budget spent, nothing to ask).
    skipped: Option<String>,
}

impl Findings {
    fn new(source: ProposalSource) -> Findings {
        Findings {
            signals: Vec::new(),
            source,
            notes: Vec::new(),
            failure: None,
            skipped: None,
        }
    }
}

impl Scheduler {
    /// Runs the leased job and commits its results with the final transaction.
    pub(super) async fn execute(&self, leased: &LeasedJob) -> JobRunEnd {
        let started = self.clock.now();
        let job = &leased.job;
        let findings = match StrategyParams::parse(&job.strategy, &job.params) {
            Err(problems) => {
                let detail = format!(
                    "the job's strategy or parameters are invalid ({}); fix them with `vigil jobs` \
                     (remove and add again)",
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                );
                let report = failed_report(&self.config, leased, started, detail, false);
                return self.finish(leased, report).await;
            }
            Ok(StrategyParams::LlmAdvisor(params)) => self.advise(job, &params).await,
            Ok(params) => self.evaluate(job, &params, started).await,
        };
        let now = self.clock.now();
        let mut notes = findings.notes;
        let mut proposals: Vec<Proposal> = Vec::new();
        for signal in &findings.signals {
            match signal.to_proposal(job.user_id, findings.source.clone(), now) {
                Ok(p) => proposals.push(p),
                Err(problems) => notes.push(format!(
                    "a {} proposal on {} was dropped: {}",
                    signal.side,
                    signal.market,
                    problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
            }
        }
        let scheduled = next_due(leased.due_at, job.interval_seconds, now);
        let report = match (findings.failure, findings.skipped) {
            (Some((detail, transient)), _) if proposals.is_empty() => {
                notes.insert(0, detail);
                failed_report(&self.config, leased, now, notes.join("; "), transient)
            }
            (failure, skipped) => {
                if let Some((detail, _)) = failure {
                    notes.insert(0, detail);
                }
                let outcome = if !proposals.is_empty() {
                    ScanRunOutcome::Proposed
                } else if let Some(reason) = skipped {
                    notes.insert(0, reason);
                    ScanRunOutcome::Skipped
                } else {
                    ScanRunOutcome::NoSignal
                };
                RunReport {
                    outcome,
                    detail: (!notes.is_empty()).then(|| notes.join("; ")),
                    started_at: started,
                    proposals,
                    next_run_at: scheduled,
                }
            }
        };
        self.finish(leased, report).await
    }

    /// A rule-based strategy over each market of the job.
    async fn evaluate(&self, job: &ScanJob, params: &StrategyParams, now: Timestamp) -> Findings {
        let mut findings = Findings::new(ProposalSource::Strategy(job.strategy.clone()));
        let (interval, candles) = params.candles_needed();
        let mut failed = Vec::new();
        for market in &job.markets {
            let snapshot =
                match fetch_snapshot(&self.market_data, market, interval, candles, now).await {
                    Ok(s) => s,
                    Err(e) => {
                        failed.push(format!("market data for {market} could not be read: {e}"));
                        continue;
                    }
                };
            match params.evaluate(&snapshot) {
                Ok(Some(signal)) => findings.signals.push(signal),
                Ok(None) => {}
                Err(e) => findings.notes.push(e.to_string()),
            }
        }
        if !failed.is_empty() {
            findings.failure = Some((failed.join("; "), true));
        }
        findings
    }

    /// The LLM advisor over the job's markets.
    async fn advise(&self, job: &ScanJob, params: &AdvisorParams) -> Findings {
        let Some(advisor) = &self.advisor else {
            let mut findings = Findings::new(ProposalSource::Advisor("none".into()));
            findings.failure = Some((
                "this instance has no LLM advisor configured; set the [advisor] section of the \
                 configuration or remove the llm_advisor job"
                    .to_owned(),
                false,
            ));
            return findings;
        };
        let mut findings = Findings::new(ProposalSource::Advisor(advisor.model().to_owned()));
        match advisor.advise(job, params).await {
            Ok(advice) => {
                findings.signals = advice.signals;
                findings.notes = advice
                    .dropped
                    .into_iter()
                    .map(|d| format!("LLM proposal dropped: {d}"))
                    .collect();
                if let Some(refusal) = advice.refusal {
                    findings.notes.push(format!("the model refused: {refusal}"));
                }
                findings.skipped = advice.not_asked;
            }
            Err(AdvisorError::BudgetExhausted(spent)) => {
                findings.skipped = Some(format!(
                    "the LLM budget of {} USD for {} is spent; no call was made",
                    spent.budget, spent.day
                ));
            }
            Err(e) => {
                let transient = e.is_transient();
                findings.failure = Some((e.to_string(), transient));
            }
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    #[test]
    fn next_due_keeps_the_phase_and_skips_missed_runs() {
        let due = DateTime::from_timestamp(1_767_600_000, 0).unwrap();
        let hour = 3_600;
        // On time: the next slot.
        assert_eq!(next_due(due, hour, due), due + Duration::hours(1));
        assert_eq!(
            next_due(due, hour, due + Duration::seconds(5)),
            due + Duration::hours(1)
        );
        // Five and a half hours late: the slot after now, not five runs in a burst.
        assert_eq!(
            next_due(due, hour, due + Duration::minutes(330)),
            due + Duration::hours(6)
        );
        // Exactly on a later slot: the one after it.
        assert_eq!(
            next_due(due, hour, due + Duration::hours(2)),
            due + Duration::hours(3)
        );
    }
}
