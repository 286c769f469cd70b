//! README's exit-code promise for bad input: "2 — a flag, value or config key is wrong; nothing
//! was written" holds for every command (#18 "Done when").
//!
//! Method: every leaf subcommand is enumerated from clap's command tree (the binary's own
//! `args.rs`, compiled in here), so a new command without a case fails the test. Each case runs
//! the real binary against an initialised SQLite database with some rows in most tables, with
//! one bad value, and checks exit code 2, that the message names what was wrong, and that a dump
//! of every table (every row of every table in `sqlite_master`, by rowid) is the same before and
//! after. The exchange is configured (a simulator with the demo keys), so a command that went on
//! past its bad value would reach it: the simulator must have served no request at all.

use std::{collections::BTreeSet, path::Path, time::Duration};

use clap::CommandFactory;
use sqlx::{Connection, SqliteConnection};

use crate::{
    cli_args::Cli,
    support::{Deployment, Run, SimThread},
};

/// One bad invocation: the subcommand path (as clap names it), the arguments after the global
/// flags, and text the error must contain (the flag, key or value it names).
struct Case {
    command: &'static str,
    args: &'static [&'static str],
    names: &'static str,
    /// Runs against the paper database (`vigil init --paper`) instead of the live one.
    paper: bool,
}

const fn case(command: &'static str, args: &'static [&'static str], names: &'static str) -> Case {
    Case {
        command,
        args,
        names,
        paper: false,
    }
}

const UUID: &str = "00000000-0000-4000-8000-000000000000";

/// One case at least per leaf subcommand. A command whose only own flag is `--json` gets
/// `--json=yes` (a value for a flag that takes none); every other command gets a wrong value for
/// one of its value flags or arguments, preferring values the command itself validates.
fn cases() -> Vec<Case> {
    vec![
        case("init", &["init", "--user", "no spaces"], "--user"),
        case(
            "migrate",
            &["--config", "bad-type.toml", "migrate"],
            "log.level",
        ),
        case("users add", &["users", "add", "bad name!"], "name"),
        case("users list", &["users", "list", "--json=yes"], "--json"),
        case(
            "policy show",
            &["policy", "show", "--user", "bad name!"],
            "--user",
        ),
        case(
            "policy set",
            &[
                "policy",
                "set",
                "--user",
                "alice",
                "--trading-enabled",
                "true",
                "--order-notional-max",
                "ten",
            ],
            "--order-notional-max",
        ),
        case(
            "allowlist add",
            &["allowlist", "add", "--user", "alice", "ETH-EUR", "BTCEUR"],
            "BASE-QUOTE",
        ),
        case(
            "allowlist remove",
            &["allowlist", "remove", "--user", "alice", "BTCEUR"],
            "BASE-QUOTE",
        ),
        case(
            "allowlist list",
            &["allowlist", "list", "--user", "bad name!"],
            "--user",
        ),
        case(
            "kill-switch on",
            &["kill-switch", "on", "--user", "bad name!"],
            "--user",
        ),
        case(
            "kill-switch off",
            &["kill-switch", "off", "--user", "bad name!"],
            "--user",
        ),
        case(
            "kill-switch status",
            &["kill-switch", "status", "--user", "bad name!"],
            "--user",
        ),
        case(
            "proposals create",
            &[
                "proposals",
                "create",
                "--user",
                "alice",
                "--market",
                "BTC-EUR",
                "--side",
                "buy",
                "--amount-quote",
                "ten",
            ],
            "--amount-quote",
        ),
        case(
            "proposals list",
            &["proposals", "list", "--limit", "many"],
            "--limit",
        ),
        case("proposals show", &["proposals", "show", "not-an-id"], "ID"),
        case(
            "proposals approve",
            &["proposals", "approve", "not-an-id"],
            "ID",
        ),
        case(
            "proposals reject",
            &["proposals", "reject", "not-an-id"],
            "ID",
        ),
        case(
            "proposals revert",
            &["proposals", "revert", UUID, "--apply", "--to", "sideways"],
            "--to",
        ),
        case(
            "execute",
            &["execute", "--proposal", "not-an-id"],
            "--proposal",
        ),
        case(
            "executions list",
            &["executions", "list", "--state", "DONE"],
            "--state",
        ),
        case(
            "executions show",
            &["executions", "show", "not-an-id"],
            "ID",
        ),
        case("reconcile", &["reconcile", "--json=yes"], "--json"),
        case("run", &["run", "--no-api", "--workers", "0"], "--workers"),
        case(
            "run",
            &["run", "--no-api", "--workers", "1000"],
            "--workers",
        ),
        case("run", &["run", "--no-api", "--workers", "-1"], "--workers"),
        case(
            "run",
            &["run", "--no-api", "--lease-ttl-seconds", "0"],
            "--lease-ttl-seconds",
        ),
        case("run", &["run", "--no-api", "--poll-ms", "0"], "--poll-ms"),
        case("run", &["run", "--listen", "0.0.0.0:18781"], "--listen"),
        case(
            "run",
            &["run", "--no-api", "--listen", "127.0.0.1:18782"],
            "--listen",
        ),
        Case {
            paper: true,
            ..case("run", &["run", "--paper", "--workers", "0"], "--workers")
        },
        Case {
            paper: true,
            ..case(
                "run",
                &["run", "--paper", "--listen", "0.0.0.0:18783"],
                "server.allow_non_loopback",
            )
        },
        Case {
            paper: true,
            ..case(
                "run",
                &["--config", "bad-sim.toml", "run", "--paper", "--no-api"],
                "[sim]",
            )
        },
        case(
            "jobs add",
            &[
                "jobs",
                "add",
                "--user",
                "alice",
                "--strategy",
                "dca",
                "--market",
                "BTC-EUR",
                "--interval-seconds",
                "soon",
            ],
            "--interval-seconds",
        ),
        case(
            "jobs list",
            &["jobs", "list", "--user", "bad name!"],
            "--user",
        ),
        case("jobs show", &["jobs", "show", "not-an-id"], "ID"),
        case("jobs pause", &["jobs", "pause", "not-an-id"], "ID"),
        case("jobs resume", &["jobs", "resume", "not-an-id"], "ID"),
        case("jobs remove", &["jobs", "remove", "not-an-id"], "ID"),
        case("sim", &["sim", "--listen", "nowhere"], "--listen"),
        case(
            "audit",
            &["audit", "--database-only", "--since", "forever"],
            "--since",
        ),
        case("alerts test", &["alerts", "test", "--json=yes"], "--json"),
        case("signoff", &["signoff", "--json=yes"], "--json"),
        // More than one bad value for commands with several checks of their own.
        case(
            "users add",
            &["users", "add", "carol", "--admin=maybe"],
            "--admin",
        ),
        case(
            "policy set",
            &[
                "policy",
                "set",
                "--user",
                "alice",
                "--llm-daily-budget",
                "-1",
            ],
            "--llm-daily-budget",
        ),
        case(
            "policy set",
            &[
                "policy",
                "set",
                "--user",
                "alice",
                "--cooldown-minutes",
                "-1",
            ],
            "--cooldown-minutes",
        ),
        case(
            "proposals create",
            &[
                "proposals",
                "create",
                "--user",
                "alice",
                "--market",
                "BTC-EUR",
                "--side",
                "sideways",
                "--amount-quote",
                "10",
            ],
            "--side",
        ),
        case(
            "execute",
            &["execute", "--proposal", UUID, "--user", "bad name!"],
            "--user",
        ),
        case(
            "run",
            &["--config", "advisor-no-key.toml", "run", "--no-api"],
            "VIGIL_ADVISOR_API_KEY",
        ),
        Case {
            paper: true,
            ..case(
                "run",
                &["run", "--paper", "--no-api", "--poll-ms", "0"],
                "--poll-ms",
            )
        },
        Case {
            paper: true,
            ..case(
                "run",
                &[
                    "--config",
                    "advisor-no-key.toml",
                    "run",
                    "--paper",
                    "--no-api",
                ],
                "VIGIL_ADVISOR_API_KEY",
            )
        },
        case(
            "jobs add",
            &[
                "jobs",
                "add",
                "--user",
                "alice",
                "--strategy",
                "no_such_strategy",
                "--market",
                "BTC-EUR",
                "--interval-seconds",
                "60",
            ],
            "strategy",
        ),
        case(
            "jobs add",
            &[
                "jobs",
                "add",
                "--user",
                "alice",
                "--strategy",
                "dca",
                "--market",
                "BTC-EUR",
                "--params",
                "{not json",
                "--interval-seconds",
                "60",
            ],
            "--params",
        ),
        case(
            "jobs add",
            &[
                "jobs",
                "add",
                "--user",
                "alice",
                "--strategy",
                "dca",
                "--market",
                "BTC-EUR",
                "--params",
                r#"{"amount_quote": "10"}"#,
                "--interval-seconds",
                "0",
            ],
            "interval",
        ),
    ]
}

/// Every leaf subcommand of the real command tree, as "parent child".
fn leaf_commands() -> BTreeSet<String> {
    fn walk(command: &clap::Command, prefix: &str, out: &mut BTreeSet<String>) {
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = if prefix.is_empty() {
                sub.get_name().to_owned()
            } else {
                format!("{prefix} {}", sub.get_name())
            };
            if sub.has_subcommands() {
                walk(sub, &path, out);
            } else {
                out.insert(path);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&Cli::command(), "", &mut out);
    out
}

/// Every row of every table, as SQLite quotes its values, table by table in rowid order.
async fn dump(path: &Path) -> Vec<String> {
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let mut out = Vec::new();
    for (table,) in tables {
        let columns: Vec<(String,)> = sqlx::query_as(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let row = columns
            .iter()
            .map(|(c,)| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows: Vec<(String,)> =
            sqlx::query_as(&format!("SELECT {row} FROM \"{table}\" ORDER BY rowid"))
                .fetch_all(&mut conn)
                .await
                .unwrap();
        out.push(format!("table {table}: {} row(s)", rows.len()));
        out.extend(rows.into_iter().map(|(r,)| format!("{table}: {r}")));
    }
    conn.close().await.unwrap();
    out
}

fn database_path(d: &Deployment) -> std::path::PathBuf {
    d.dir.path().join("data/vigil.db")
}

/// A live deployment with rows in the users, tokens, policy, allowlist, kill-switch, proposal,
/// scan-job and audit tables.
fn live_deployment() -> Deployment {
    let d = Deployment::sqlite();
    d.vigil(&["init", "--user", "alice"]).ok();
    d.vigil(&["users", "add", "bob"]).ok();
    d.vigil(&["allowlist", "add", "--user", "alice", "BTC-EUR"])
        .ok();
    d.vigil(&["kill-switch", "on", "--user", "bob", "--reason", "test"])
        .ok();
    d.vigil(&[
        "proposals",
        "create",
        "--user",
        "alice",
        "--market",
        "BTC-EUR",
        "--side",
        "buy",
        "--amount-quote",
        "10",
    ])
    .ok();
    d.vigil(&[
        "jobs",
        "add",
        "--user",
        "alice",
        "--strategy",
        "dca",
        "--market",
        "BTC-EUR",
        "--params",
        r#"{"amount_quote": "10"}"#,
        "--interval-seconds",
        "60",
    ])
    .ok();
    write_bad_configs(&d);
    d
}

fn paper_deployment() -> Deployment {
    let d = Deployment::sqlite();
    d.vigil(&["init", "--paper", "--user", "alice"]).ok();
    write_bad_configs(&d);
    d
}

fn write_bad_configs(d: &Deployment) {
    std::fs::write(d.dir.path().join("bad-type.toml"), "[log]\nlevel = 5\n").unwrap();
    std::fs::write(
        d.dir.path().join("advisor-no-key.toml"),
        "[advisor]\nbase_url = \"http://127.0.0.1:9/v1\"\nprompt_usd_per_million = \"0.15\"\ncompletion_usd_per_million = \"0.60\"\n",
    )
    .unwrap();
    std::fs::write(
        d.dir.path().join("bad-sim.toml"),
        "[sim]\nno_such_setting = 1\n",
    )
    .unwrap();
}

#[test]
fn every_command_refuses_a_bad_value_with_exit_2_and_writes_nothing() {
    let cases = cases();
    let covered: BTreeSet<String> = cases.iter().map(|c| c.command.to_owned()).collect();
    let leaves = leaf_commands();
    let missing: Vec<_> = leaves.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "subcommands without a bad-input case: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&leaves).collect();
    assert!(stale.is_empty(), "cases for no subcommand: {stale:?}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (live, paper) = (live_deployment(), paper_deployment());
    let sim = SimThread::start(18);
    let env = sim.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut failures = Vec::new();
    for case in &cases {
        let d = if case.paper { &paper } else { &live };
        let before = runtime.block_on(dump(&database_path(d)));
        // A command that wrongly accepted its bad value (a service, the simulator) is stopped
        // after a while and reported.
        let run: Run = d.vigil_within(case.args, &env, Duration::from_secs(20));
        let after = runtime.block_on(dump(&database_path(d)));
        let what = format!("vigil {}", case.args.join(" "));
        if run.code != 2 {
            failures.push(format!("{what}: exit {} (expected 2): {run:#?}", run.code));
        } else if !run.stderr.contains(case.names) {
            failures.push(format!(
                "{what}: the error does not name {:?}: {}",
                case.names, run.stderr
            ));
        }
        if before != after {
            let gone: Vec<_> = before.iter().filter(|r| !after.contains(r)).collect();
            let new: Vec<_> = after.iter().filter(|r| !before.contains(r)).collect();
            failures.push(format!(
                "{what}: the database changed; rows gone: {gone:#?}; rows new: {new:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let asked = sim.request_counts();
    assert!(
        asked.values().all(|n| *n == 0),
        "bad input reached the exchange: {asked:?}"
    );
}

/// #18 case 13: a command other than `vigil init` (and the paper run) on a SQLite file that does
/// not exist exits 3 naming the path and what to do, and creates nothing: no directory, no file,
/// and (for the live run) no request to the exchange.
#[test]
fn a_missing_database_file_is_exit_3_naming_the_path_and_nothing_is_created() {
    let sim = SimThread::start(19);
    let env = sim.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut d = Deployment::sqlite();
    let missing = d.dir.path().join("nonexistent/dir/x.db");
    d.database_url = format!("sqlite://{}", missing.display());
    for args in [
        &["users", "list"][..],
        &["migrate"],
        &["policy", "show", "--user", "alice"],
        &["executions", "list"],
        &["audit", "--database-only"],
        &["run", "--no-api"],
    ] {
        let run = d.vigil_within(args, &env, Duration::from_secs(20));
        assert_eq!(run.code, 3, "vigil {}: {run:#?}", args.join(" "));
        assert!(
            run.stderr.contains(&missing.display().to_string())
                && run.stderr.contains("vigil init"),
            "vigil {}: {run:#?}",
            args.join(" ")
        );
        assert!(
            !d.dir.path().join("nonexistent").exists(),
            "vigil {} created the directory",
            args.join(" ")
        );
    }
    let asked = sim.request_counts();
    assert!(
        asked.values().all(|n| *n == 0),
        "the live run asked the exchange: {asked:?}"
    );
    // `vigil init` creates it (with its directories), and then the commands find it.
    d.vigil(&["init", "--user", "alice"]).ok();
    assert!(missing.exists());
    let users = d.vigil(&["users", "list", "--json"]).ok().json();
    assert_eq!(users[0]["name"], "alice");
}

/// #18 case 9: `VIGIL_DATABASE_URL=sqlite://` (no path) is bad configuration (exit 2 naming the
/// variable), not a raw database error later.
#[test]
fn a_sqlite_url_without_a_path_is_exit_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::support::binary())
        .current_dir(dir.path())
        .args(["users", "list"])
        .env_remove("VIGIL_CONFIG")
        .env("VIGIL_DATABASE_URL", "sqlite://")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("VIGIL_DATABASE_URL") && stderr.contains("database.url"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "something was created"
    );
}

/// `kill-switch on --cancel-open-orders` turns the switch on first whatever else is wrong
/// (stopping comes first); when the exchange is not configured it then exits 1, never 2, since
/// something was written, and says that the switch is on and the orders are not cancelled.
#[test]
fn a_kill_switch_with_cancel_and_no_exchange_is_on_and_exits_1_not_2() {
    let d = Deployment::sqlite();
    d.vigil(&["init", "--user", "alice"]).ok();
    let run = d.vigil(&["kill-switch", "on", "--cancel-open-orders"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("the kill switch is ON")
            && run.stderr.contains("could NOT be cancelled")
            && run.stderr.contains("bitvavo.base_url"),
        "{run:#?}"
    );
    let status = d.vigil(&["kill-switch", "status", "--json"]).ok().json();
    assert_eq!(status["on"], true, "{status}");
}
