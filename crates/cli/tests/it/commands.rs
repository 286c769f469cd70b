//! The operator commands of the foundation: init, allowlist, kill switch, policy, proposals, and
//! what bad input does (a clear error naming the field, the documented exit code, nothing
//! written).

use crate::support::Deployment;

vigil_testkit::backend_tests!(
    #[tokio::test]
    crate::support::Deployment::run;
    init_creates_an_admin_with_trading_disabled_and_an_empty_allowlist,
    init_twice_is_a_conflict,
    i5_allowlist_add_list_remove,
    proposals_create_list_show_approve_round_trip,
    bad_proposal_input_names_every_field_and_writes_nothing,
    amounts_that_cannot_be_stored_exactly_exit_2_quoting_the_typed_text,
    a_list_limit_outside_1_to_1000_exits_2_naming_the_flag,
    i5_a_proposal_for_a_market_off_the_allowlist_exits_2_naming_it,
    unknown_user_is_not_found_and_writes_nothing,
    i4_kill_switch_on_off_status_and_audit,
    policy_set_changes_only_given_fields,
);

fn init_creates_an_admin_with_trading_disabled_and_an_empty_allowlist(d: &Deployment) {
    let run = d.vigil(&["init", "--user", "alice"]).ok();
    assert!(run.stdout.contains("api token: vigil_"), "{run:#?}");
    let users = d.vigil(&["users", "list", "--json"]).ok().json();
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["name"], "alice");
    assert_eq!(users[0]["is_admin"], true);
    let policy = d
        .vigil(&["policy", "show", "--user", "alice", "--json"])
        .ok()
        .json();
    assert_eq!(policy["policy"]["trading_enabled"], false);
    assert_eq!(policy["policy"]["order_notional_max"], "25");
    let allowlist = d
        .vigil(&["allowlist", "list", "--user", "alice", "--json"])
        .ok()
        .json();
    assert_eq!(allowlist["markets"].as_array().unwrap().len(), 0);
}

fn init_twice_is_a_conflict(d: &Deployment) {
    d.vigil(&["init"]).ok();
    let again = d.vigil(&["init"]);
    assert_eq!(again.code, 5, "{again:#?}");
    assert!(again.stderr.contains("already initialised"), "{again:#?}");
}

fn i5_allowlist_add_list_remove(d: &Deployment) {
    d.vigil(&["init", "--user", "alice"]).ok();
    d.vigil(&["allowlist", "add", "--user", "alice", "BTC-EUR", "eth-eur"])
        .ok();
    let listed = d
        .vigil(&["allowlist", "list", "--user", "alice", "--json"])
        .ok()
        .json();
    assert_eq!(listed["markets"], serde_json::json!(["BTC-EUR", "ETH-EUR"]));
    // One bad market refuses the whole command: nothing is added.
    let bad = d.vigil(&["allowlist", "add", "--user", "alice", "SOL-EUR", "BTCEUR"]);
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(
        bad.stderr.contains("invalid market") && bad.stderr.contains("BASE-QUOTE"),
        "{bad:#?}"
    );
    d.vigil(&["allowlist", "remove", "--user", "alice", "BTC-EUR"])
        .ok();
    let listed = d
        .vigil(&["allowlist", "list", "--user", "alice", "--json"])
        .ok()
        .json();
    assert_eq!(listed["markets"], serde_json::json!(["ETH-EUR"]));
}

fn proposals_create_list_show_approve_round_trip(d: &Deployment) {
    d.vigil(&["init", "--user", "alice"]).ok();
    d.vigil(&["allowlist", "add", "--user", "alice", "BTC-EUR", "ETH-EUR"])
        .ok();
    let created = d
        .vigil(&[
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
            "--ttl-minutes",
            "30",
            "--rationale",
            "test",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["market"], "BTC-EUR");
    assert_eq!(created["size"]["value"], "10");
    assert_eq!(created["source"]["name"], "tester");
    let id = created["id"].as_str().unwrap().to_owned();
    let limit = d
        .vigil(&[
            "proposals",
            "create",
            "--user",
            "alice",
            "--market",
            "ETH-EUR",
            "--side",
            "sell",
            "--amount",
            "0.5",
            "--order-type",
            "limit",
            "--limit-price",
            "2000",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(limit["limit_price"], "2000");
    let listed = d.vigil(&["proposals", "list", "--json"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let approved = d
        .vigil(&["proposals", "approve", &id, "--json"])
        .ok()
        .json();
    assert_eq!(approved["status"], "APPROVED");
    let again = d.vigil(&["proposals", "approve", &id]);
    assert_eq!(again.code, 5, "approving twice is a conflict: {again:#?}");
    let shown = d.vigil(&["proposals", "show", &id, "--json"]).ok().json();
    assert_eq!(shown["status"], "APPROVED");
    let pending = d
        .vigil(&["proposals", "list", "--status", "pending", "--json"])
        .ok()
        .json();
    assert_eq!(pending.as_array().unwrap().len(), 1);
}

fn bad_proposal_input_names_every_field_and_writes_nothing(d: &Deployment) {
    d.vigil(&["init", "--user", "alice"]).ok();
    let bad = d.vigil(&[
        "proposals",
        "create",
        "--user",
        "alice",
        "--market",
        "BTCEUR",
        "--side",
        "hold",
        "--amount-quote",
        "-5",
        "--ttl-minutes",
        "0",
    ]);
    assert_eq!(bad.code, 2, "{bad:#?}");
    for field in ["--market", "--side", "--amount-quote", "--ttl-minutes"] {
        assert!(
            bad.stderr.contains(&format!("invalid {field}")),
            "missing {field}: {bad:#?}"
        );
    }
    assert!(bad.stderr.contains("nothing was written"), "{bad:#?}");
    let limit_without_price = d.vigil(&[
        "proposals",
        "create",
        "--user",
        "alice",
        "--market",
        "BTC-EUR",
        "--side",
        "buy",
        "--amount",
        "0.1",
        "--order-type",
        "limit",
    ]);
    assert_eq!(limit_without_price.code, 2);
    assert!(
        limit_without_price.stderr.contains("--limit-price"),
        "{limit_without_price:#?}"
    );
    let listed = d.vigil(&["proposals", "list", "--json"]).ok().json();
    assert_eq!(
        listed.as_array().unwrap().len(),
        0,
        "bad input wrote a proposal"
    );
}

/// The proposals of the deployment, as `proposals list --json` shows them.
fn proposals(d: &Deployment) -> Vec<serde_json::Value> {
    d.vigil(&["proposals", "list", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

/// #18 case 7: an amount a decimal cannot hold exactly exits 2 naming the flag and quoting what
/// was typed; nothing is stored (it was stored as `10`).
fn amounts_that_cannot_be_stored_exactly_exit_2_quoting_the_typed_text(d: &Deployment) {
    d.vigil(&["init", "--user", "alice"]).ok();
    d.vigil(&["allowlist", "add", "--user", "alice", "BTC-EUR"])
        .ok();
    let typed = "10.000000000000000000000000000001";
    let create = |extra: &[&str]| {
        let mut args = vec![
            "proposals",
            "create",
            "--user",
            "alice",
            "--market",
            "BTC-EUR",
            "--side",
            "buy",
        ];
        args.extend(extra);
        d.vigil(&args)
    };
    for (flag, extra) in [
        ("--amount-quote", vec!["--amount-quote", typed]),
        ("--amount", vec!["--amount", typed]),
        (
            "--limit-price",
            vec![
                "--amount",
                "0.001",
                "--order-type",
                "limit",
                "--limit-price",
                typed,
            ],
        ),
    ] {
        let run = create(&extra);
        assert_eq!(run.code, 2, "{run:#?}");
        assert!(
            run.stderr
                .contains(&format!("invalid {flag}: got \"{typed}\"")),
            "{run:#?}"
        );
        assert!(run.stderr.contains("28 decimal places"), "{run:#?}");
        assert!(run.stderr.contains("nothing was written"), "{run:#?}");
    }
    assert!(proposals(d).is_empty(), "a refused proposal was stored");
    // A cap the same; the policy stays as it was.
    let before = d
        .vigil(&["policy", "show", "--user", "alice", "--json"])
        .ok()
        .json();
    let run = d.vigil(&[
        "policy",
        "set",
        "--user",
        "alice",
        "--daily-notional-max",
        "100.00000000000000000000000000001",
    ]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr
            .contains("invalid --daily-notional-max: got \"100.00000000000000000000000000001\""),
        "{run:#?}"
    );
    let after = d
        .vigil(&["policy", "show", "--user", "alice", "--json"])
        .ok()
        .json();
    assert_eq!(before, after);
}

/// #18 case 9: `proposals list --limit` takes 1 to 1000, the API's bounds for `limit`.
fn a_list_limit_outside_1_to_1000_exits_2_naming_the_flag(d: &Deployment) {
    d.vigil(&["init", "--user", "alice"]).ok();
    for (list, bad) in ["proposals", "executions"]
        .into_iter()
        .flat_map(|list| ["0", "100000", "1001"].map(|bad| (list, bad)))
    {
        let run = d.vigil(&[list, "list", "--limit", bad]);
        assert_eq!(run.code, 2, "{list}: {run:#?}");
        assert!(run.stderr.contains("--limit"), "{run:#?}");
        assert!(run.stderr.contains("from 1 to 1000"), "{run:#?}");
    }
    for good in ["1", "1000"] {
        d.vigil(&["proposals", "list", "--limit", good]).ok();
        d.vigil(&["executions", "list", "--limit", good]).ok();
    }
}

/// #18 case 9: a proposal for a market that is not on the user's allowlist (here one no
/// exchange lists) exits 2 naming the market and how to allow it; nothing is stored.
fn i5_a_proposal_for_a_market_off_the_allowlist_exits_2_naming_it(d: &Deployment) {
    d.vigil(&["init", "--user", "alice"]).ok();
    let create = |market: &str| {
        d.vigil(&[
            "proposals",
            "create",
            "--user",
            "alice",
            "--market",
            market,
            "--side",
            "buy",
            "--amount-quote",
            "10",
        ])
    };
    let run = create("FOO-EUR");
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr.contains("invalid --market: got \"FOO-EUR\""),
        "{run:#?}"
    );
    assert!(run.stderr.contains("the allowlist is empty"), "{run:#?}");
    assert!(
        run.stderr
            .contains("`vigil allowlist add --user alice FOO-EUR`"),
        "{run:#?}"
    );
    assert!(proposals(d).is_empty(), "a refused proposal was stored");
    d.vigil(&["allowlist", "add", "--user", "alice", "BTC-EUR"])
        .ok();
    let run = create("FOO-EUR");
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("it holds BTC-EUR"), "{run:#?}");
    assert!(proposals(d).is_empty(), "a refused proposal was stored");
    create("BTC-EUR").ok();
    assert_eq!(proposals(d).len(), 1);
}

fn unknown_user_is_not_found_and_writes_nothing(d: &Deployment) {
    d.vigil(&["init", "--user", "alice"]).ok();
    let run = d.vigil(&[
        "proposals",
        "create",
        "--user",
        "bob",
        "--market",
        "BTC-EUR",
        "--side",
        "buy",
        "--amount-quote",
        "10",
    ]);
    assert_eq!(run.code, 4, "{run:#?}");
    assert!(run.stderr.contains("no user named \"bob\""), "{run:#?}");
    assert_eq!(
        d.vigil(&["proposals", "list", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let run = d.vigil(&["allowlist", "add", "--user", "bob", "BTC-EUR"]);
    assert_eq!(run.code, 4, "{run:#?}");
}

fn i4_kill_switch_on_off_status_and_audit(d: &Deployment) {
    d.vigil(&["init", "--user", "alice"]).ok();
    let status = d.vigil(&["kill-switch", "status", "--json"]).ok().json();
    assert_eq!(status["on"], false);
    d.vigil(&["kill-switch", "on", "--reason", "drill"]).ok();
    assert_eq!(
        d.vigil(&["kill-switch", "status", "--json"]).ok().json()["on"],
        true
    );
    d.vigil(&["kill-switch", "on", "--user", "alice"]).ok();
    let alice = d
        .vigil(&["kill-switch", "status", "--user", "alice", "--json"])
        .ok()
        .json();
    assert_eq!(alice["on"], true);
    // Who set it, and with an admin's authority (the operator at the CLI): #18 case 4.
    assert_eq!(alice["set_by"]["actor"], "tester", "{alice}");
    assert_eq!(alice["set_by"]["authority"], "admin", "{alice}");
    let text = d
        .vigil(&["kill-switch", "status", "--user", "alice"])
        .ok()
        .stdout;
    assert!(
        text.contains("set by tester as an admin: only an admin turns it off"),
        "{text}"
    );
    d.vigil(&["kill-switch", "off"]).ok();
    assert_eq!(
        d.vigil(&["kill-switch", "status", "--json"]).ok().json()["on"],
        false
    );
    // The user's switch is independent of the global one.
    assert_eq!(
        d.vigil(&["kill-switch", "status", "--user", "alice", "--json"])
            .ok()
            .json()["on"],
        true
    );
}

fn policy_set_changes_only_given_fields(d: &Deployment) {
    d.vigil(&["init", "--user", "alice"]).ok();
    d.vigil(&[
        "policy",
        "set",
        "--user",
        "alice",
        "--trading-enabled",
        "true",
        "--cooldown-minutes",
        "1",
        "--reason",
        "go live",
    ])
    .ok();
    let p = d
        .vigil(&["policy", "show", "--user", "alice", "--json"])
        .ok()
        .json();
    assert_eq!(p["policy"]["trading_enabled"], true);
    assert_eq!(p["policy"]["cooldown_minutes"], 1);
    assert_eq!(
        p["policy"]["anti_flip_minutes"], 60,
        "untouched field changed"
    );
    let bad = d.vigil(&[
        "policy",
        "set",
        "--user",
        "alice",
        "--order-notional-max",
        "abc",
        "--daily-notional-max",
        "-1",
    ]);
    assert_eq!(bad.code, 2, "{bad:#?}");
    assert!(
        bad.stderr.contains("--order-notional-max") && bad.stderr.contains("--daily-notional-max"),
        "{bad:#?}"
    );
    let inconsistent = d.vigil(&[
        "policy",
        "set",
        "--user",
        "alice",
        "--order-notional-max",
        "50",
        "--daily-notional-max",
        "40",
    ]);
    assert_eq!(inconsistent.code, 2, "{inconsistent:#?}");
    assert!(
        inconsistent.stderr.contains("--daily-notional-max"),
        "{inconsistent:#?}"
    );
}

#[test]
fn malformed_config_names_every_problem_and_its_source() {
    let d = Deployment::sqlite();
    std::fs::write(
        d.dir.path().join("vigil.toml"),
        "[bitvavo]\noperator_id = \"x\"\nsurprise = 1\n",
    )
    .unwrap();
    let run = d.vigil_env(&["users", "list"], &[("VIGIL_LOG_FORMAT", "xml")]);
    assert_eq!(run.code, 2, "{run:#?}");
    for needle in [
        "bitvavo.operator_id",
        "bitvavo.surprise",
        "unknown key",
        "VIGIL_LOG_FORMAT",
        "expected text or json",
    ] {
        assert!(run.stderr.contains(needle), "missing {needle:?}: {run:#?}");
    }
    assert!(
        !d.dir.path().join("data").exists(),
        "a bad configuration created the database"
    );
}

/// `vigil executions list | head -1`: a reader that stops reading ends the output quietly (no
/// panic, no backtrace), and the command still does what it was asked to, with its own exit code.
#[test]
fn a_closed_stdout_ends_the_output_quietly() {
    let d = Deployment::sqlite();
    d.vigil(&["init", "--user", "alice"]).ok();
    let with_closed_stdout = |args: &[&str]| {
        let (reader, writer) = std::io::pipe().unwrap();
        // The reader is gone before vigil writes anything: every write meets a broken pipe.
        drop(reader);
        let out = d
            .command(args, &[])
            .stdout(writer)
            .output()
            .expect("vigil runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for args in [
        &["executions", "list"][..],
        &["users", "list", "--json"],
        &["policy", "show", "--user", "alice"],
    ] {
        let (code, stderr) = with_closed_stdout(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    }
    // A change is made whether or not its confirmation can be printed.
    let (code, stderr) = with_closed_stdout(&[
        "policy",
        "set",
        "--user",
        "alice",
        "--cooldown-minutes",
        "7",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let policy = d
        .vigil(&["policy", "show", "--user", "alice", "--json"])
        .ok()
        .json();
    assert_eq!(policy["policy"]["cooldown_minutes"], 7);
}

#[test]
fn unreachable_database_exits_3() {
    let mut d = Deployment::sqlite();
    d.database_url = "postgres://postgres@127.0.0.1:1/none".into();
    let run = d.vigil(&["users", "list"]);
    assert_eq!(run.code, 3, "{run:#?}");
}

/// Live mode refuses to start, saying which check failed, without both keys or with one key for
/// both roles (I10). Nothing is contacted: the checks come before any connection.
#[test]
fn i10_live_run_refuses_missing_or_identical_keys() {
    let d = Deployment::sqlite();
    d.vigil(&["init"]).ok();
    let base = ("VIGIL_BITVAVO_BASE_URL", "http://127.0.0.1:9");
    let key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let missing = d.vigil_env(
        &["run", "--no-api"],
        &[
            base,
            ("VIGIL_BITVAVO_READ_KEY", key),
            ("VIGIL_BITVAVO_READ_SECRET", "s1"),
        ],
    );
    assert_eq!(missing.code, 2, "{missing:#?}");
    assert!(
        missing.stderr.contains("VIGIL_BITVAVO_TRADE_KEY"),
        "{missing:#?}"
    );
    let same = d.vigil_env(
        &["run", "--no-api"],
        &[
            base,
            ("VIGIL_BITVAVO_READ_KEY", key),
            ("VIGIL_BITVAVO_READ_SECRET", "secret-one"),
            ("VIGIL_BITVAVO_TRADE_KEY", key),
            ("VIGIL_BITVAVO_TRADE_SECRET", "secret-two"),
        ],
    );
    assert_eq!(same.code, 2, "{same:#?}");
    assert!(
        same.stderr.to_lowercase().contains("same") || same.stderr.contains("share"),
        "{same:#?}"
    );
    assert!(
        !same.stderr.contains("secret-one") && !same.stderr.contains("secret-two"),
        "a secret was printed: {same:#?}"
    );
    let no_exchange = d.vigil(&["run", "--no-api"]);
    assert_eq!(no_exchange.code, 2, "{no_exchange:#?}");
    assert!(
        no_exchange.stderr.contains("bitvavo.base_url"),
        "{no_exchange:#?}"
    );
}
