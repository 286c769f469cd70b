//! The report: every figure of a run (JSON) and the same as markdown tables, with the issue's
//! targets beside the figures they judge (met or missed; the bench never fails on time).

use std::fmt::Write as _;

use serde::Serialize;

use crate::{
    client::ClientRates,
    guards::Guards,
    memory::Memory,
    order_path::{OrderPath, Storm, Throughput, TxCost},
    scheduler::SchedulerLevel,
    stats::{ms, percent},
};

/// One back end's figures.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BackendReport {
    /// `sqlite` or `postgres`.
    pub(crate) backend: String,
    /// (a)
    pub(crate) order_path: OrderPath,
    /// (b)
    pub(crate) throughput: Vec<Throughput>,
    /// (b) transactions per execution (PostgreSQL's counters).
    pub(crate) tx_cost: Option<TxCost>,
    /// (b) `execution_events` rows per execution ×100.
    pub(crate) events_per_execution_x100: u64,
    /// (c)
    pub(crate) storm: Storm,
    /// (d)
    pub(crate) scheduler: Vec<SchedulerLevel>,
    /// (e)
    pub(crate) guards: Guards,
    /// (f)
    pub(crate) client: ClientRates,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// `--quick`.
    pub(crate) quick: bool,
    /// CPUs the process may use.
    pub(crate) cpus: usize,
    /// MemTotal from /proc/meminfo, when readable.
    pub(crate) memory: String,
    /// Per back end.
    pub(crate) backends: Vec<BackendReport>,
    /// (g), once per run (SQLite): the RSS of `vigil run --paper`.
    pub(crate) paper_run_memory: Option<Memory>,
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

impl Report {
    /// An empty report describing this machine.
    pub(crate) fn new(quick: bool) -> Report {
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal"))
                    .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            })
            .unwrap_or_else(|| "unknown".into());
        Report {
            quick,
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            memory,
            backends: Vec::new(),
            paper_run_memory: None,
        }
    }

    /// The markdown tables.
    pub(crate) fn markdown(&self) -> String {
        let mut s = String::new();
        let mode = if self.quick { "quick" } else { "full" };
        let _ = writeln!(
            s,
            "# vigil-bench ({mode} run; {} CPUs, {} memory)\n",
            self.cpus, self.memory
        );
        for b in &self.backends {
            b.markdown(&mut s);
        }
        if let Some(m) = &self.paper_run_memory {
            memory_markdown(m, &mut s);
        }
        s
    }
}

impl BackendReport {
    /// Transactions per execution used for the throughput ratio (×100): PostgreSQL's measured
    /// write transactions when known, else the execution_events floor.
    fn tx_per_execution_x100(&self) -> u64 {
        self.tx_cost
            .as_ref()
            .and_then(|c| u64::try_from(c.writes_per_execution_x100).ok())
            .unwrap_or(self.events_per_execution_x100)
    }

    fn markdown(&self, s: &mut String) {
        let b = &self.backend;
        let o = &self.order_path;
        let target_us = if b == "sqlite" { 2_000 } else { 5_000 };
        let _ = writeln!(
            s,
            "## {b}\n\n### (a) order path ({} executions)\n",
            o.execute.samples
        );
        let _ = writeln!(s, "| what | p50 | p99 | max |\n|---|---|---|---|");
        let a = &o.arrival;
        for (name, l) in [
            ("execute → SUBMITTED committed", &o.execute),
            ("execute call → order arrived at the simulator", &a.to_sim),
            (
                "order arrived → answer ready (the simulator's own handling)",
                &a.sim_handling,
            ),
            (
                "answer ready → SUBMITTED committed, execute returns",
                &a.answer_to_submitted,
            ),
            (
                "execute → SUBMITTED committed − that order's handling (Vigil's own time)",
                &a.vigil_own,
            ),
            ("bare signed create (sim round trip)", &o.bare_create),
            ("bare ticker + balance reads", &o.bare_reads),
        ] {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} |",
                ms(l.p50_us),
                ms(l.p99_us),
                ms(l.max_us)
            );
        }
        let d = &o.breakdown;
        for (name, l) in [
            (
                "  1. entry → CLAIMED (kill switches, proposal, claim)",
                &d.claim,
            ),
            (
                "  2. CLAIMED → guards passed (exchange reads, preflight section)",
                &d.preflight,
            ),
            (
                "  3. → SUBMITTING committed (sign, re-check section)",
                &d.submitting,
            ),
            ("  4. → order call answered (HTTP create)", &d.send),
            ("  5. → SUBMITTED recorded, execute returns", &d.record),
        ] {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} |",
                ms(l.p50_us),
                ms(l.p99_us),
                ms(l.max_us)
            );
        }
        let _ = writeln!(
            s,
            "\nThe four rows under the first are per execution, from the simulator's own record of \
             each order (monotonic instants of this process, taken when the create request reached \
             its handler and when its answer was built); Vigil's own time there still includes the \
             two reads' round trips and the create's HTTP transport, only the simulator's handling \
             of the order is taken out."
        );
        let _ = writeln!(
            s,
            "\nSimulator requests per execute: {}. Vigil's own time (execute − create p50 − reads p50): \
             p50 {}, p99 {}. Target p99 < {}: **{}** (on Vigil's own time at p99).\n",
            o.requests_per_execute,
            ms(o.overhead_p50_us),
            ms(o.overhead_p99_us),
            ms(target_us),
            met(o.overhead_p99_us < target_us)
        );
        let tx = self.tx_per_execution_x100();
        let _ = writeln!(s, "### (b) throughput\n");
        if let Some(c) = &self.tx_cost {
            let commits = c.commits_per_execution_x100.map_or_else(
                || "not counted (quick run)".to_owned(),
                |x| format!("{}.{:02}", x / 100, x % 100),
            );
            let _ = writeln!(
                s,
                "Measured on PostgreSQL over {} executions: committed transactions per execution \
                 (autocommit reads included) {commits}; writing transactions per execution {}.{:02}.",
                c.executions,
                c.writes_per_execution_x100 / 100,
                c.writes_per_execution_x100 % 100
            );
        }
        let _ = writeln!(
            s,
            "execution_events rows per execution: {}.{:02}. The ratio uses {}.{:02} transactions per execution.\n",
            self.events_per_execution_x100 / 100,
            self.events_per_execution_x100 % 100,
            tx / 100,
            tx % 100
        );
        let _ = writeln!(
            s,
            "| users | executions | executions/s | bare commits/s | (exec/s × tx/exec) / bare | target ≥ 50 % |\n|---|---|---|---|---|---|"
        );
        for t in &self.throughput {
            let ratio = percent(t.executions_per_s.saturating_mul(tx) / 100, t.bare_tx_per_s);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {ratio} % | {} |",
                t.users,
                t.executions,
                t.executions_per_s,
                t.bare_tx_per_s,
                met(ratio >= 50)
            );
        }
        let st = &self.storm;
        let _ = writeln!(
            s,
            "\n### (c) retry storm\n\n{} concurrent executes of one proposal: {} ms wall, {} order(s) in the \
             simulator's log, {} placed, {} already claimed, {} other.\n",
            st.callers, st.wall_ms, st.orders, st.placed, st.already_claimed, st.other
        );
        let _ = writeln!(
            s,
            "### (d) scheduler (lease + release)\n\n| workers | store jobs/s | bare claim loop jobs/s | ratio | target ≥ 70 % | store retries |\n|---|---|---|---|---|---|"
        );
        for l in &self.scheduler {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} % | {} | {} |",
                l.workers,
                l.store_jobs_per_s,
                l.bare_jobs_per_s,
                l.ratio_percent,
                met(l.ratio_percent >= 70),
                l.store_retries
            );
        }
        let g = &self.guards;
        let _ = writeln!(
            s,
            "\n### (e) preflight fact read as history grows\n\n| rows | insert | p50 | p99 | max |\n|---|---|---|---|---|"
        );
        for l in &g.levels {
            let _ = writeln!(
                s,
                "| {} | {} s | {} | {} | {} |",
                l.rows,
                l.insert_s,
                ms(l.facts_read.p50_us),
                ms(l.facts_read.p99_us),
                ms(l.facts_read.max_us)
            );
        }
        if let (Some(first), Some(last)) = (g.levels.first(), g.levels.last()) {
            let flat = last.facts_read.p99_us <= first.facts_read.p99_us.saturating_mul(2);
            let _ = writeln!(
                s,
                "\np99 at {} rows vs {} rows: {} % (target: within 2×): **{}**\n",
                last.rows,
                first.rows,
                percent(last.facts_read.p99_us, first.facts_read.p99_us),
                met(flat)
            );
        }
        let _ = writeln!(
            s,
            "Plan, market activity query:\n```\n{}\n```",
            g.activity_plan.join("\n")
        );
        let _ = writeln!(
            s,
            "Plan, day-used query:\n```\n{}\n```",
            g.day_plan.join("\n")
        );
        let _ = writeln!(
            s,
            "Plan, in-flight query:\n```\n{}\n```\n",
            g.in_flight_plan.join("\n")
        );
        let c = &self.client;
        let _ = writeln!(
            s,
            "### (f) client ({} orders per loop)\n\n| client | orders/s |\n|---|---|\n| Vigil, sequential | {} |\n| Vigil, 8 in flight | {} |",
            c.orders, c.vigil_sequential_per_s, c.vigil_concurrent8_per_s
        );
        match (c.python_sdk_per_s, c.speedup_x) {
            (Some(p), Some(x)) => {
                let _ = writeln!(
                    s,
                    "| python-bitvavo-api, sequential | {p} |\n\nVigil / Python SDK (sequential): {x}× (target ≥ 20×): **{}**\n",
                    met(x >= 20)
                );
                if let (Some(own_p), Some(own_x)) = (c.python_own_us_per_order, c.own_speedup_x) {
                    let _ = writeln!(
                        s,
                        "Without the simulator's handling of each order (its per-order record): Vigil {} µs per order, Python SDK {own_p} µs; Vigil / Python SDK: {own_x}× (target ≥ 20×): **{}**\n",
                        c.vigil_own_us_per_order,
                        met(own_x >= 20)
                    );
                }
            }
            _ => {
                let _ = writeln!(s, "\nPython SDK: not measured (no venv).\n");
            }
        }
    }
}

/// KiB as `12.3 MiB`.
fn mib(kib: u64) -> String {
    format!("{}.{} MiB", kib / 1024, kib % 1024 * 10 / 1024)
}

/// (g) as markdown.
fn memory_markdown(m: &Memory, s: &mut String) {
    let _ = writeln!(
        s,
        "## (g) memory of `vigil run --paper` (SQLite, {} executions)\n\n\
         `{}` as a child process on a fresh temp directory (SQLite), its HTTP API on 127.0.0.1:0; \
         executions through the API (create a proposal, approve, execute), {} users, one stream \
         each, all at once; `/proc/<pid>/status` read once the API answered and after each \
         checkpoint. The paper simulator runs inside that process, so its order log ({} orders at \
         the end, the paper bootstrap's demo jobs included; never trimmed) is part of the RSS, as \
         are the reconciler's passes over the open executions.\n",
        m.executions, m.binary, m.streams, m.sim_orders
    );
    let _ = writeln!(
        s,
        "| after executions | peak RSS (VmHWM) | RSS (VmRSS) | executions/s since the previous row |\n|---|---|---|---|"
    );
    for p in &m.points {
        let when = if p.executions == 0 {
            "0 (API answering)".to_owned()
        } else {
            p.executions.to_string()
        };
        let rate = if p.executions == 0 {
            "–".to_owned()
        } else {
            p.executions_per_s.to_string()
        };
        let _ = writeln!(
            s,
            "| {when} | {} | {} | {rate} |",
            mib(p.peak_kib),
            mib(p.rss_kib)
        );
    }
    if let (Some(first), Some(last)) = (m.points.get(1), m.points.last()) {
        let span = last.executions.saturating_sub(first.executions);
        let growth = last.peak_kib.saturating_sub(first.peak_kib);
        let per_thousand = (growth * 1000).checked_div(span).unwrap_or(0);
        let _ = writeln!(
            s,
            "\nPeak RSS after {} executions: **{}**. Growth of the peak from {} to {} executions: \
             {} ({} KiB per 1,000 executions).",
            last.executions,
            mib(last.peak_kib),
            first.executions,
            last.executions,
            mib(growth),
            per_thousand
        );
    }
    let _ = writeln!(
        s,
        "Drive: {} executions/s through the API ({} in flight).\n",
        m.executions_per_s, m.streams
    );
}
