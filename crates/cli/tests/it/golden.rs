//! Golden error messages: what a person sees when a command refuses their input, byte for
//! byte, in reviewed snapshot files (`snapshots/`, insta). A change to any of these messages
//! shows in review as a diff of the snapshot, so wording, the named field or flag, the hint on
//! what to do and the exit code cannot drift unnoticed. Scratch paths are written as `[DIR]`.
//!
//! Update after a deliberate change: `INSTA_UPDATE=always cargo test -p vigil-cli --test it
//! golden`, then read the diff of `snapshots/` before committing.

use crate::support::Deployment;

/// `exit N` and stderr, the scratch directory replaced.
fn shown(d: &Deployment, args: &[&str], env: &[(&str, &str)]) -> String {
    let run = d.vigil_env(args, env);
    let dir = d.dir.path().display().to_string();
    format!(
        "$ vigil {}\nexit {}\n{}",
        args.join(" "),
        run.code,
        run.stderr.replace(&dir, "[DIR]")
    )
}

/// A snapshot's name, the command's arguments and its extra environment.
type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);

#[test]
fn golden_refusals_of_bad_input() {
    let d = Deployment::sqlite();
    d.vigil(&["init", "--user", "alice"]).ok();
    let cases: [Case<'_>; 8] = [
        (
            "proposal_with_every_problem_at_once",
            &[
                "proposals",
                "create",
                "--user",
                "alice",
                "--market",
                "btc_eur",
                "--side",
                "hold",
                "--amount-quote",
                "-3",
                "--ttl-minutes",
                "0",
            ],
            &[],
        ),
        (
            "amount_that_cannot_be_stored_exactly",
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
                "10.000000000000000000000000000001",
            ],
            &[],
        ),
        (
            "market_off_the_allowlist",
            &[
                "proposals",
                "create",
                "--user",
                "alice",
                "--market",
                "ETH-EUR",
                "--side",
                "buy",
                "--amount-quote",
                "10",
            ],
            &[],
        ),
        (
            "inconsistent_policy",
            &[
                "policy",
                "set",
                "--user",
                "alice",
                "--order-notional-max",
                "300",
                "--daily-notional-max",
                "100",
            ],
            &[],
        ),
        (
            "unknown_user",
            &["allowlist", "list", "--user", "mallory"],
            &[],
        ),
        (
            "list_limit_out_of_range",
            &["executions", "list", "--limit", "0"],
            &[],
        ),
        (
            "configuration_problems_all_at_once",
            &["users", "list"],
            &[
                ("VIGIL_LOG_FORMAT", "xml"),
                ("VIGIL_ALERTS_DELIVERY_DEADLINE_SECONDS", "3"),
                ("VIGIL_ALERTS_ATTEMPT_TIMEOUT_MS", "5000"),
                ("VIGIL_SCHEDULER_WORKERS", "4"),
            ],
        ),
        (
            "run_with_no_worker",
            &["run", "--workers", "0", "--no-api"],
            &[],
        ),
    ];
    for (name, args, env) in cases {
        insta::assert_snapshot!(name, shown(&d, args, env));
    }
}

#[test]
fn golden_missing_database() {
    let d = Deployment::sqlite();
    // No `vigil init`: the file does not exist, and only init creates it.
    insta::assert_snapshot!("missing_database", shown(&d, &["users", "list"], &[]));
}
