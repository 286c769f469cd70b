//! The sign-off report: one line per item with pass/fail and evidence, as markdown or JSON.

use serde::Serialize;
use vigil_core::Timestamp;

/// One checked item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignoffItem {
    /// A stable id (`i1_unique_constraint`, `keys`, `t1_idempotency`, …).
    pub id: &'static str,
    /// What it proves, in words.
    pub title: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// What was checked and what was found.
    pub evidence: Vec<String>,
    /// What this item does not check, said plainly.
    pub not_checked: Vec<String>,
}

impl SignoffItem {
    pub(crate) fn new(id: &'static str, title: &'static str) -> SignoffItem {
        SignoffItem {
            id,
            title,
            passed: true,
            evidence: Vec::new(),
            not_checked: Vec::new(),
        }
    }

    /// Records a fact that holds.
    pub(crate) fn ok(&mut self, evidence: impl Into<String>) {
        self.evidence.push(evidence.into());
    }

    /// Records a fact that fails the item.
    pub(crate) fn fail(&mut self, evidence: impl Into<String>) {
        self.passed = false;
        self.evidence.push(format!("FAILED: {}", evidence.into()));
    }

    /// Records `evidence` as passing or failing.
    pub(crate) fn expect(&mut self, holds: bool, evidence: impl Into<String>) {
        if holds {
            self.ok(evidence);
        } else {
            self.fail(evidence);
        }
    }

    /// Records something this item did not check.
    pub(crate) fn not_checked(&mut self, what: impl Into<String>) {
        self.not_checked.push(what.into());
    }
}

/// The whole sign-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignoffReport {
    /// When it ran.
    pub at: Timestamp,
    /// The database, without its password.
    pub database: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The configured exchange, if any.
    pub exchange: Option<String>,
    /// Whether every item passed.
    pub passed: bool,
    /// Every item, in order.
    pub items: Vec<SignoffItem>,
}

impl SignoffReport {
    /// The items that failed.
    #[must_use]
    pub fn failed(&self) -> Vec<&SignoffItem> {
        self.items.iter().filter(|i| !i.passed).collect()
    }

    /// The report as markdown: a summary table (one line per item), then each item's evidence.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
        let mut out = format!(
            "# Vigil sign-off\n\n- When: {}\n- Database: {} ({})\n- Exchange: {}\n- Result: **{}** ({} of {} items passed)\n\n",
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            self.database,
            self.backend,
            self.exchange.as_deref().unwrap_or("(none configured)"),
            if self.passed { "PASS" } else { "FAIL" },
            self.items.iter().filter(|i| i.passed).count(),
            self.items.len()
        );
        out.push_str("| # | Item | Result | Evidence |\n|---|---|---|---|\n");
        for (n, item) in self.items.iter().enumerate() {
            out.push_str(&format!(
                "| {} | {} (`{}`) | {} | {} |\n",
                n + 1,
                cell(item.title),
                item.id,
                if item.passed { "PASS" } else { "**FAIL**" },
                cell(&item.evidence.join("; "))
            ));
        }
        out.push_str("\n## Details\n");
        for item in &self.items {
            out.push_str(&format!(
                "\n### `{}` — {}\n\n{}\n\n",
                item.id,
                if item.passed { "PASS" } else { "FAIL" },
                item.title
            ));
            for line in &item.evidence {
                out.push_str(&format!("- {line}\n"));
            }
            for line in &item.not_checked {
                out.push_str(&format!("- not checked: {line}\n"));
            }
        }
        out
    }
}
