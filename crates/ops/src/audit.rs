//! `vigil audit`: proves, from the records and the exchange, that the guarantees held over a
//! period — or names each place where they did not, with its evidence.
//!
//! Database checks (`audit/database.rs`), over the executions created in the period:
//! - I1: at most one execution per (user, proposal);
//! - I2: every execution that reached `SUBMITTED` (or later) has an exchange order id and a
//!   signing time;
//! - I3: no `SUBMITTING` older than its access window plus the margin, no `CLAIMED` older than the
//!   abandonment time plus the margin;
//! - I5: no order on a market that was not on the user's allowlist when it was sent (the
//!   allowlist is replayed from `audit_log`);
//! - I6: cooldown and anti-flip between the user's orders on a market (policy at the time);
//! - I7: per-order and daily caps (policy at the time, replayed from `audit_log`).
//!
//! Exchange checks (`audit/exchange.rs`), by `clientOrderId`, with the read-only key:
//! - orders on the exchange in the period that Vigil does not know (or two for one id);
//! - executions that placed an order the exchange does not know;
//! - `REJECTED`/`FAILED` executions whose order exists on the exchange after all;
//! - fills in `trade_history` that disagree with the exchange's `/trades`.
//!
//! Every finding names its check, a stable code, a sentence and JSON evidence. A check that could
//! not see everything it needed is itself a finding (`incomplete`), so an audit never passes on
//! a partial view. Findings are raised as alerts when an [`Alerts`] is given
//! (`reconcile_mismatch` for the exchange and fill comparisons, `audit_finding` for the rest).

mod database;
mod exchange;
mod history;

use std::{fmt, sync::Arc, time::Duration};

use chrono::TimeDelta;
use serde::Serialize;
use vigil_bitvavo::ReadOnlyClient;
use vigil_core::{Clock, Timestamp};
use vigil_store::{Store, StoreError};

use vigil_core::{Alert, AlertKind, AlertSeverity, Alerts};

use crate::recent;

/// How the audit judges time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// Added to a `SUBMITTING` execution's access window before it counts as stuck (the
    /// reconciler's own margin plus the time until its next pass).
    pub submitting_margin: Duration,
    /// How old a `CLAIMED` execution may be before it counts as stuck (the reconciler's
    /// abandonment time plus a pass).
    pub claimed_max_age: Duration,
    /// The most pages read per market from the exchange's order and trade lists.
    pub exchange_pages_max: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            submitting_margin: Duration::from_secs(300),
            claimed_max_age: Duration::from_secs(900),
            exchange_pages_max: 20,
        }
    }
}

/// One place where a guarantee did not hold, or could not be shown to hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditFinding {
    /// The guarantee (`I1` … `I7`), or `exchange` / `fills` / `coverage`.
    pub check: &'static str,
    /// A stable code (`duplicate_execution`, `unknown_exchange_order`, …).
    pub code: &'static str,
    /// What is wrong, for a person.
    pub summary: String,
    /// The rows and answers that show it.
    pub evidence: serde_json::Value,
}

impl fmt::Display for AuditFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.check, self.code, self.summary)
    }
}

/// What one check covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckSummary {
    /// The check (`I1`, `exchange`, …).
    pub check: &'static str,
    /// What it verifies, in words.
    pub verifies: &'static str,
    /// How many findings it produced.
    pub findings: usize,
}

/// The result of one audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// The start of the period.
    pub since: Timestamp,
    /// When the audit ran (the end of the period).
    pub at: Timestamp,
    /// How many executions the period holds.
    pub executions: usize,
    /// Whether the exchange was compared as well.
    pub exchange_checked: bool,
    /// The checks that ran.
    pub checks: Vec<CheckSummary>,
    /// Every finding; empty when everything held.
    pub findings: Vec<AuditFinding>,
    /// What the audit cannot see, stated so nobody reads more into a pass than it proves.
    pub limits: Vec<String>,
}

impl AuditReport {
    /// Whether nothing was found.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// The report as text for a terminal.
    #[must_use]
    pub fn to_text(&self) -> String {
        let when = |t: &Timestamp| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut out = format!(
            "audit of {} to {} ({} executions; exchange {})\n",
            when(&self.since),
            when(&self.at),
            self.executions,
            if self.exchange_checked {
                "compared"
            } else {
                "NOT compared"
            }
        );
        for check in &self.checks {
            let verdict = if check.findings == 0 {
                "ok".to_owned()
            } else {
                format!("{} finding(s)", check.findings)
            };
            out.push_str(&format!(
                "  {:<9} {:<14} {}\n",
                check.check, verdict, check.verifies
            ));
        }
        if self.findings.is_empty() {
            out.push_str("no findings\n");
        } else {
            out.push_str(&format!("{} finding(s):\n", self.findings.len()));
            for finding in &self.findings {
                out.push_str(&format!("- {finding}\n  evidence: {}\n", finding.evidence));
            }
        }
        for limit in &self.limits {
            out.push_str(&format!("note: {limit}\n"));
        }
        out
    }
}

/// Why the audit could not run at all (as opposed to findings, which it reports).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store could not be read.
    #[error("cannot read the database for the audit: {0}")]
    Store(#[from] StoreError),
    /// The period is invalid.
    #[error("invalid audit period: {0}")]
    Period(String),
}

/// Runs audits over a store and, when given, the exchange.
#[derive(Debug, Clone)]
pub struct Auditor {
    store: Store,
    read_only: Option<ReadOnlyClient>,
    clock: Arc<dyn Clock>,
    config: AuditConfig,
    alerts: Option<Arc<dyn Alerts>>,
}

impl Auditor {
    /// An auditor over `store`; with `read_only`, the exchange is compared too.
    #[must_use]
    pub fn new(
        store: Store,
        read_only: Option<ReadOnlyClient>,
        clock: Arc<dyn Clock>,
        config: AuditConfig,
    ) -> Self {
        Auditor {
            store,
            read_only,
            clock,
            config,
            alerts: None,
        }
    }

    /// The same auditor raising one alert per finding.
    #[must_use]
    pub fn with_alerts(mut self, alerts: Arc<dyn Alerts>) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// Audits the period from `now − since` to now.
    ///
    /// # Errors
    /// [`AuditError`] when the database cannot be read or the period is invalid. Exchange
    /// failures are findings (`exchange_unreachable`), not errors.
    pub async fn run(&self, since: Duration) -> Result<AuditReport, AuditError> {
        let at = self.clock.now();
        let span = TimeDelta::from_std(since)
            .ok()
            .filter(|d| *d > TimeDelta::zero() && *d <= TimeDelta::days(366))
            .ok_or_else(|| {
                AuditError::Period(format!(
                    "--since must be more than 0 and at most 366 days, got {since:?}"
                ))
            })?;
        let start = at - span;
        let mut findings = Vec::new();
        let mut checks = Vec::new();
        let mut limits = vec![
            "the audit reads Vigil's own tables and, with the read-only key, the exchange's \
             order and trade lists of the markets Vigil traded or allows; orders on other \
             markets that are no longer open are not seen"
                .to_owned(),
        ];

        // The exchange is read BEFORE the database: an order placed in between then shows up
        // as an execution without an exchange order (confirmed by a direct lookup), never as an
        // exchange order without an execution.
        let exchange_view = match &self.read_only {
            Some(client) => Some(
                exchange::ExchangeView::read(
                    client,
                    &self.store,
                    start,
                    at,
                    self.config.exchange_pages_max,
                )
                .await?,
            ),
            None => {
                limits.push("the exchange was NOT compared (no exchange configured)".to_owned());
                None
            }
        };

        // Executions created a little before the period may have sent their order in it.
        let recent = recent::executions_since(&self.store, start - TimeDelta::hours(1)).await?;
        for detail in &recent.truncated {
            findings.push(AuditFinding {
                check: "coverage",
                code: "incomplete",
                summary: format!("not every execution could be read: {detail}"),
                evidence: serde_json::json!({ "detail": detail }),
            });
        }
        let in_period: Vec<_> = recent
            .iter()
            .filter(|e| e.created_at >= start)
            .cloned()
            .collect();
        let db = database::check(&self.store, &in_period, &recent, start, at, &self.config).await?;
        checks.extend(db.checks);
        findings.extend(db.findings);
        if let Some(view) = exchange_view {
            let ex = exchange::check(self.read_only.as_ref(), &self.store, &view, &recent, start)
                .await?;
            checks.extend(ex.checks);
            findings.extend(ex.findings);
        }
        if let Some(alerts) = &self.alerts {
            for finding in &findings {
                // Records and exchange disagreeing is a reconciliation mismatch; the rest are
                // guarantees that did not hold.
                let kind = if matches!(finding.check, "exchange" | "fills") {
                    AlertKind::ReconcileMismatch
                } else {
                    AlertKind::AuditFinding
                };
                alerts.raise(&Alert {
                    kind,
                    severity: AlertSeverity::Critical,
                    execution_id: None,
                    user_id: None,
                    message: format!("audit finding {finding}"),
                });
            }
        }
        Ok(AuditReport {
            since: start,
            at,
            executions: in_period.len(),
            exchange_checked: self.read_only.is_some(),
            checks,
            findings,
            limits,
        })
    }
}

/// Findings and check summaries from one part of the audit.
#[derive(Debug, Default)]
pub(crate) struct Part {
    pub(crate) checks: Vec<CheckSummary>,
    pub(crate) findings: Vec<AuditFinding>,
}

impl Part {
    /// Records that `check` ran, with the findings it produced.
    pub(crate) fn ran(
        &mut self,
        check: &'static str,
        verifies: &'static str,
        found: Vec<AuditFinding>,
    ) {
        self.checks.push(CheckSummary {
            check,
            verifies,
            findings: found.len(),
        });
        self.findings.extend(found);
    }
}

/// Parses a duration such as `30m`, `24h`, `7d` or `90s` (the unit last, as at every edge).
///
/// # Errors
/// A [`vigil_core::ValidationError`] naming `field`.
pub fn parse_duration(field: &str, text: &str) -> Result<Duration, vigil_core::ValidationError> {
    let text = text.trim();
    let expected = "a number followed by s, m, h or d, e.g. 24h or 7d";
    let error = || vigil_core::ValidationError::new(field, text, expected);
    let unit_at = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
    let (number, unit) = text.split_at(unit_at);
    let n: u64 = number.parse().map_err(|_| error())?;
    let seconds = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(error)?,
        "h" => n.checked_mul(3_600).ok_or_else(error)?,
        "d" => n.checked_mul(86_400).ok_or_else(error)?,
        _ => return Err(error()),
    };
    if seconds == 0 {
        return Err(error());
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_have_their_unit_last() {
        assert_eq!(
            parse_duration("--since", "24h").unwrap(),
            Duration::from_secs(86_400)
        );
        assert_eq!(
            parse_duration("--since", "7d").unwrap(),
            Duration::from_secs(604_800)
        );
        assert_eq!(
            parse_duration("--since", "90s").unwrap(),
            Duration::from_secs(90)
        );
        for bad in ["", "24", "h", "0h", "5w", "-1h", "1.5h"] {
            let e = parse_duration("--since", bad).unwrap_err();
            assert_eq!(e.field, "--since", "{bad}");
        }
    }
}
