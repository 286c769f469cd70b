//! The operator commands of the brief "alerts, audit, rollback, kill switch with cancel, cap
//! stability window, sign-off", through the real binary: `vigil alerts test`, `vigil audit`,
//! `vigil proposals revert`, `vigil kill-switch on --cancel-open-orders`, `vigil policy set`
//! against the stability window, and `vigil signoff`, each against the simulator and a webhook
//! receiver on 127.0.0.1:0; and the alert a one-shot `vigil execute` raises, delivered to that
//! webhook (#11).

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
};

use serde_json::Value;

use vigil_sim::{FaultKind, FaultPlan, FaultRule, SimConfig};
use vigil_store::{AuditFilter, RunReport, ScanRunOutcome, Store, StoreOptions};

use crate::support::{Deployment, SimThread};

/// A webhook receiver on its own thread (the tests block on `vigil` processes): answers 503 to
/// the first `refused` requests and 200 to the rest, and records the JSON body of each request
/// it answered 200 (each alert delivered).
struct Webhook {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Webhook {
    fn start() -> Webhook {
        Webhook::refusing_first(0)
    }

    fn refusing_first(refused: usize) -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook/T0K3N", listener.local_addr().unwrap());
        let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
        let seen = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let read = reader.read_exact(&mut body).is_ok();
                if n < refused {
                    let _answered = stream.write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    continue;
                }
                if read {
                    if let Ok(json) = serde_json::from_slice(&body) {
                        seen.lock().unwrap().push(json);
                    }
                }
                let _answered = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Webhook { url, bodies }
    }

    /// The bodies answered 200, in order.
    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

/// The environment of a paper deployment: the simulator, its keys, and the webhook.
fn env<'a>(sim: &'a SimThread, hook: Option<&'a Webhook>) -> Vec<(&'static str, String)> {
    let mut env = sim.env();
    if let Some(hook) = hook {
        env.push(("VIGIL_ALERTS_WEBHOOK_URL", hook.url.clone()));
    }
    env
}

fn with<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// `vigil init` with alice allowed to trade BTC-EUR.
fn ready(d: &Deployment) {
    d.vigil(&["init", "--user", "alice"]).ok();
    d.vigil(&["allowlist", "add", "--user", "alice", "BTC-EUR"])
        .ok();
    d.vigil(&[
        "policy",
        "set",
        "--user",
        "alice",
        "--trading-enabled",
        "true",
    ])
    .ok();
}

/// An approved proposal of alice; returns its id.
fn approved(d: &Deployment, extra: &[&str]) -> String {
    let mut args = vec![
        "proposals",
        "create",
        "--user",
        "alice",
        "--market",
        "BTC-EUR",
        "--side",
        "buy",
        "--json",
    ];
    if extra.is_empty() {
        args.extend(["--amount-quote", "10"]);
    } else {
        args.extend(extra);
    }
    let created = d.vigil(&args).ok().json();
    let id = created["id"].as_str().unwrap().to_owned();
    d.vigil(&["proposals", "approve", &id]).ok();
    id
}

vigil_testkit::backend_tests!(
    #[tokio::test]
    crate::support::Deployment::run;
    a_one_shot_execute_alert_reaches_the_webhook,
    a_refused_proposal_is_listed_refused_with_its_refusal,
    jobs_show_lists_recent_runs_and_pause_records_its_reason,
    alerts_test_reports_delivery_and_failure,
    audit_passes_on_a_clean_deployment_and_names_an_order_placed_outside_vigil,
    i1_proposals_revert_dry_run_then_apply_and_refuse_a_placed_one,
    i4_kill_switch_on_cancels_open_orders_and_reports_them,
    policy_set_raise_needs_a_stable_day_or_an_admin_override,
    signoff_passes_on_a_paper_deployment_and_fails_naming_equal_keys,
);

/// #11: a one-shot `vigil execute` raises its alerts through the same delivery as `vigil run`,
/// webhook included. The simulator accepts the order and then drops the connection, so the
/// execution's outcome is unknown (exit code 8) and the executor raises `outcome_unknown`. The
/// webhook refuses the first attempt (503), so the alert is delivered only by a retry after a
/// back-off: the command waits for it before exiting, and the webhook has it, with the
/// execution's id, by the time the process has exited.
fn a_one_shot_execute_alert_reaches_the_webhook(d: &Deployment) {
    let dropped = FaultRule::new("POST /v2/order", FaultKind::AcceptThenDrop).times(1);
    let sim = SimThread::start_with(
        SimConfig::demo(9)
            .with_flat_prices()
            .with_faults(FaultPlan::single(dropped)),
    );
    let hook = Webhook::refusing_first(1);
    let env = env(&sim, Some(&hook));
    ready(d);
    let id = approved(d, &[]);
    let run = d.vigil_env(&["execute", "--proposal", &id, "--json"], &with(&env));
    assert_eq!(run.code, 8, "{run:#?}");
    let out = run.json();
    assert_eq!(out["outcome"], "outcome_unknown", "{out}");
    let execution_id = out["execution"]["id"].as_str().unwrap().to_owned();
    let bodies = hook.bodies();
    let unknown: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["kind"] == "outcome_unknown")
        .collect();
    assert_eq!(unknown.len(), 1, "the webhook received: {bodies:#?}");
    assert_eq!(unknown[0]["execution_id"], execution_id.as_str());
    assert_eq!(unknown[0]["severity"], "warning");
    assert!(
        !run.stdout.contains("T0K3N") && !run.stderr.contains("T0K3N"),
        "the webhook token is never printed: {run:#?}"
    );
    // The order was accepted before the drop: one order, never sent again.
    assert_eq!(sim.order_log().len(), 1);
}

/// #18 case 14: a proposal the executor refused is listed with what became of it, REFUSED with
/// the refusal, not only EXECUTED; a placed one PLACED; one never executed with no outcome.
fn a_refused_proposal_is_listed_refused_with_its_refusal(d: &Deployment) {
    let sim = SimThread::start_with(vigil_sim::SimConfig::demo(8).with_flat_prices());
    let env = env(&sim, None);
    ready(d);
    // Over the per-order cap of 25 EUR: the executor's rail refuses it.
    let refused = approved(d, &["--amount-quote", "30"]);
    let run = d.vigil_env(&["execute", "--proposal", &refused], &with(&env));
    assert_eq!(run.code, 7, "{run:#?}");
    let placed = approved(d, &[]);
    d.vigil_env(&["execute", "--proposal", &placed], &with(&env))
        .ok();
    let listed = d.vigil(&["proposals", "list", "--json"]).ok().json();
    let find = |id: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()
            .clone()
    };
    let shown = find(&refused);
    assert_eq!(shown["outcome"], "REFUSED", "{shown}");
    assert!(
        shown["outcome_reason"]
            .as_str()
            .unwrap()
            .starts_with("cap_per_order"),
        "{shown}"
    );
    assert_eq!(shown["execution"]["state"], "REJECTED", "{shown}");
    assert_eq!(
        shown["execution"]["refusal"]["code"], "cap_per_order",
        "{shown}"
    );
    assert_eq!(find(&placed)["outcome"], "PLACED");
    // The table says it in words, and `show` the same.
    let table = d.vigil(&["proposals", "list"]).ok().stdout;
    let row = table.lines().find(|l| l.starts_with(&refused)).unwrap();
    assert!(row.contains("REFUSED: cap_per_order"), "{table}");
    let one = d.vigil(&["proposals", "show", &refused]).ok().stdout;
    assert!(one.contains("REFUSED: cap_per_order"), "{one}");
    let fresh = d
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
            "5",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(fresh["outcome"], serde_json::Value::Null, "{fresh}");
}

fn alerts_test_reports_delivery_and_failure(d: &Deployment) {
    d.vigil(&["init"]).ok();
    let hook = Webhook::start();
    let run = d
        .vigil_env(
            &["alerts", "test"],
            &[("VIGIL_ALERTS_WEBHOOK_URL", &hook.url)],
        )
        .ok();
    assert!(run.stdout.contains("test alert delivered"), "{run:#?}");
    assert!(
        !run.stdout.contains("T0K3N"),
        "the webhook token is never printed: {run:#?}"
    );
    assert_eq!(hook.bodies().len(), 1);
    assert_eq!(hook.bodies()[0]["kind"], "test");
    assert!(hook.bodies()[0]["text"]
        .as_str()
        .unwrap()
        .contains("test alert"));

    // Nobody listens there: not delivered, exit 12, after the bounded attempts.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/hook/T0K3N", closed.local_addr().unwrap());
    drop(closed);
    let run = d.vigil_env(
        &["alerts", "test", "--json"],
        &[
            ("VIGIL_ALERTS_WEBHOOK_URL", &dead),
            ("VIGIL_ALERTS_MAX_ATTEMPTS", "2"),
            ("VIGIL_ALERTS_DELIVERY_DEADLINE_SECONDS", "10"),
        ],
    );
    assert_eq!(run.code, 12, "{run:#?}");
    let out = run.json();
    assert_eq!(out["delivered"], false);
    assert_eq!(out["attempts"], 2);

    let run = d.vigil(&["alerts", "test"]);
    assert_eq!(run.code, 12, "{run:#?}");
    assert!(run.stderr.contains("alerts.webhook_url"), "{run:#?}");

    // Bad settings are all reported at once, and the URL is not echoed.
    let run = d.vigil_env(
        &["alerts", "test"],
        &[
            ("VIGIL_ALERTS_WEBHOOK_URL", "ftp://hooks.example/T0K3N"),
            ("VIGIL_ALERTS_MAX_ATTEMPTS", "0"),
        ],
    );
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr.contains("alerts.webhook_url") && run.stderr.contains("alerts.max_attempts"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains("T0K3N"), "{run:#?}");
}

fn audit_passes_on_a_clean_deployment_and_names_an_order_placed_outside_vigil(d: &Deployment) {
    let sim = SimThread::start_with(vigil_sim::SimConfig::demo(5).with_flat_prices());
    let env = env(&sim, None);
    ready(d);
    let id = approved(d, &[]);
    d.vigil_env(&["execute", "--proposal", &id], &with(&env))
        .ok();
    d.vigil_env(&["reconcile"], &with(&env)).ok();
    let run = d.vigil_env(&["audit", "--json"], &with(&env)).ok();
    let report = run.json();
    assert_eq!(report["findings"].as_array().unwrap().len(), 0, "{run:#?}");
    assert_eq!(report["exchange_checked"], true);

    // An order straight on the exchange with the trade key, from another process.
    place_stray_order(&sim.base_url);
    let run = d.vigil_env(&["audit"], &with(&env));
    assert_eq!(run.code, 10, "{run:#?}");
    assert!(run.stdout.contains("unknown_exchange_order"), "{run:#?}");
    assert!(run.stdout.contains("evidence:"), "{run:#?}");

    let run = d.vigil_env(&["audit", "--since", "forever"], &with(&env));
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("--since"), "{run:#?}");
    let run = d.vigil(&["audit", "--database-only", "--since", "7d"]).ok();
    assert!(run.stdout.contains("exchange NOT compared"), "{run:#?}");
}

/// Places a 10 EUR market buy on the simulator with the demo trade key, outside Vigil.
fn place_stray_order(base_url: &str) {
    let base_url = base_url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            use secrecy::SecretString;
            let clients = vigil_bitvavo::BitvavoClients::new(
                &vigil_bitvavo::ClientConfig::new(base_url, 1),
                vigil_bitvavo::ReadOnlyKey::new(
                    vigil_sim::DEMO_VIEW_KEY,
                    SecretString::from(vigil_sim::DEMO_VIEW_SECRET),
                )
                .unwrap(),
                vigil_bitvavo::TradeKey::new(
                    vigil_sim::DEMO_TRADE_KEY,
                    SecretString::from(vigil_sim::DEMO_TRADE_SECRET),
                )
                .unwrap(),
                std::sync::Arc::new(vigil_core::SystemClock),
            )
            .unwrap();
            clients.read_only.sync_time().await.unwrap();
            let order = vigil_bitvavo::CreateOrder::market(
                vigil_core::Market::parse("BTC-EUR").unwrap(),
                vigil_core::Side::Buy,
                vigil_core::OrderSize::Quote(vigil_core::Notional::from_whole(10)),
                vigil_core::ClientOrderId::new(),
            )
            .unwrap();
            clients.trading.create_order(order).await.result.unwrap();
        });
    })
    .join()
    .unwrap();
}

fn i1_proposals_revert_dry_run_then_apply_and_refuse_a_placed_one(d: &Deployment) {
    let sim = SimThread::start_with(vigil_sim::SimConfig::demo(6).with_flat_prices());
    let env = env(&sim, None);
    ready(d);
    let id = approved(d, &[]);
    let run = d
        .vigil_env(&["proposals", "revert", &id, "--dry-run"], &with(&env))
        .ok();
    assert!(
        run.stdout.contains("rollback allowed: APPROVED → PENDING"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("nothing was changed"), "{run:#?}");
    let shown = d.vigil(&["proposals", "show", &id, "--json"]).ok().json();
    assert_eq!(shown["status"], "APPROVED", "a dry run changes nothing");
    let run = d
        .vigil_env(
            &[
                "proposals",
                "revert",
                &id,
                "--apply",
                "--reason",
                "approved by mistake",
            ],
            &with(&env),
        )
        .ok();
    assert!(run.stdout.contains("is now PENDING"), "{run:#?}");
    let shown = d.vigil(&["proposals", "show", &id, "--json"]).ok().json();
    assert_eq!(shown["status"], "PENDING");

    // A placed order cannot be rolled back.
    let placed = approved(d, &[]);
    d.vigil_env(&["execute", "--proposal", &placed], &with(&env))
        .ok();
    let run = d.vigil_env(
        &[
            "proposals",
            "revert",
            &placed,
            "--apply",
            "--to",
            "cancelled",
        ],
        &with(&env),
    );
    assert_eq!(run.code, 5, "{run:#?}");
    assert!(run.stdout.contains("an order was placed"), "{run:#?}");
    let shown = d
        .vigil(&["proposals", "show", &placed, "--json"])
        .ok()
        .json();
    assert_eq!(shown["status"], "EXECUTED");

    let run = d.vigil_env(&["proposals", "revert", &placed], &with(&env));
    assert_eq!(run.code, 2, "--dry-run or --apply is required: {run:#?}");
}

fn i4_kill_switch_on_cancels_open_orders_and_reports_them(d: &Deployment) {
    let sim = SimThread::start_with(vigil_sim::SimConfig::demo(7).with_flat_prices());
    let env = env(&sim, None);
    ready(d);
    // 0.0002 BTC at 30,000: rests far below the flat price of 60,000.
    let id = approved(
        d,
        &[
            "--order-type",
            "limit",
            "--amount",
            "0.0002",
            "--limit-price",
            "30000",
        ],
    );
    let executed = d
        .vigil_env(&["execute", "--proposal", &id, "--json"], &with(&env))
        .ok()
        .json();
    let run = d
        .vigil_env(
            &[
                "kill-switch",
                "on",
                "--cancel-open-orders",
                "--reason",
                "drill",
                "--json",
            ],
            &with(&env),
        )
        .ok();
    let out: Value = serde_json::from_str(
        run.stdout
            .lines()
            .skip_while(|l| !l.starts_with('{'))
            .collect::<Vec<_>>()
            .join("\n")
            .as_str(),
    )
    .unwrap_or_else(|e| panic!("{e}: {run:#?}"));
    let cancelled = out["cancel"]["cancelled"].as_array().unwrap();
    assert_eq!(cancelled.len(), 1, "{run:#?}");
    assert_eq!(
        cancelled[0]["execution_id"], executed["execution"]["id"],
        "{run:#?}"
    );
    let status = d.vigil(&["kill-switch", "status", "--json"]).ok().json();
    assert_eq!(status["on"], true);
    // Nothing left to cancel the second time.
    let run = d
        .vigil_env(&["kill-switch", "on", "--cancel-open-orders"], &with(&env))
        .ok();
    assert!(
        run.stdout.contains("no open order was cancelled"),
        "{run:#?}"
    );
}

fn policy_set_raise_needs_a_stable_day_or_an_admin_override(d: &Deployment) {
    d.vigil(&["init", "--user", "alice"]).ok();
    d.vigil(&["users", "add", "bob"]).ok();
    // Lowering is always allowed, and it is a cap change.
    d.vigil(&[
        "policy",
        "set",
        "--user",
        "bob",
        "--order-notional-max",
        "10",
    ])
    .ok();
    let run = d.vigil(&[
        "policy",
        "set",
        "--user",
        "bob",
        "--order-notional-max",
        "20",
    ]);
    assert_eq!(run.code, 5, "{run:#?}");
    assert!(
        run.stderr
            .contains("refusing to raise order_notional_max 10 → 20"),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains("--override-stability-window"),
        "{run:#?}"
    );
    // Another field alone is not a raise.
    d.vigil(&["policy", "set", "--user", "bob", "--cooldown-minutes", "9"])
        .ok();
    // The override needs a reason and an admin actor.
    let run = d.vigil(&[
        "policy",
        "set",
        "--user",
        "bob",
        "--order-notional-max",
        "20",
        "--override-stability-window",
    ]);
    assert_eq!(run.code, 2, "{run:#?}");
    let run = d.vigil(&[
        "--actor",
        "bob",
        "policy",
        "set",
        "--user",
        "bob",
        "--order-notional-max",
        "20",
        "--override-stability-window",
        "--reason",
        "desk approved",
    ]);
    assert_eq!(run.code, 2, "bob is no admin: {run:#?}");
    let run = d
        .vigil(&[
            "--actor",
            "alice",
            "policy",
            "set",
            "--user",
            "bob",
            "--order-notional-max",
            "20",
            "--override-stability-window",
            "--reason",
            "desk approved",
        ])
        .ok();
    assert!(run.stderr.contains("OVERRIDDEN"), "{run:#?}");
    let policy = d
        .vigil(&["policy", "show", "--user", "bob", "--json"])
        .ok()
        .json();
    assert_eq!(policy["policy"]["order_notional_max"], "20");
}

fn signoff_passes_on_a_paper_deployment_and_fails_naming_equal_keys(d: &Deployment) {
    let sim = SimThread::start_with(vigil_sim::SimConfig::demo(8).with_flat_prices());
    let hook = Webhook::start();
    let env = env(&sim, Some(&hook));
    ready(d);
    let run = d.vigil_env(&["signoff"], &with(&env));
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.contains("Result: **PASS**"), "{run:#?}");
    assert!(run.stdout.contains("`i1_unique_constraint`"), "{run:#?}");
    assert_eq!(hook.bodies().len(), 1, "one test alert");
    assert!(
        sim.order_log().is_empty(),
        "the configured exchange got no order"
    );

    // The read-only key set to the trade key: the report names the item, exit 11.
    let mut same = env.clone();
    for (k, v) in &mut same {
        if *k == "VIGIL_BITVAVO_READ_KEY" {
            *v = vigil_sim::DEMO_TRADE_KEY.to_owned();
        }
        if *k == "VIGIL_BITVAVO_READ_SECRET" {
            *v = vigil_sim::DEMO_TRADE_SECRET.to_owned();
        }
    }
    let run = d.vigil_env(&["signoff", "--json"], &with(&same));
    assert_eq!(run.code, 11, "{run:#?}");
    let report = run.json();
    assert_eq!(report["passed"], false);
    let failed: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["passed"] == false)
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["keys"], "{run:#?}");
    assert!(!run.stdout.contains(vigil_sim::DEMO_TRADE_SECRET));
}

/// #18 case 15: `vigil jobs show` shows a job with its recent runs (a `no_signal` run with its
/// detail included), and `jobs pause --reason` records the reason in the audit log.
fn jobs_show_lists_recent_runs_and_pause_records_its_reason(d: &Deployment) {
    d.vigil(&["init", "--user", "alice"]).ok();
    let job = d
        .vigil(&[
            "jobs",
            "add",
            "--user",
            "alice",
            "--strategy",
            "sma_cross",
            "--market",
            "BTC-EUR",
            "--interval-seconds",
            "900",
            "--params",
            r#"{"amount_quote": "10"}"#,
            "--json",
        ])
        .ok()
        .json();
    let id = job["id"].as_str().unwrap().to_owned();
    let shown = d.vigil(&["jobs", "show", &id]).ok();
    assert!(shown.stdout.contains("runs: (none yet)"), "{shown:#?}");

    // One run, recorded as a worker records it: leased, then finished without a signal.
    let url = d.database_url.clone();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
                let now =
                    vigil_core::Clock::now(&vigil_core::SystemClock) + chrono::Duration::seconds(1);
                let leased = store
                    .scan_job_lease("test-worker", now, chrono::Duration::minutes(5), 1)
                    .await
                    .unwrap()
                    .remove(0);
                let report = RunReport {
                    outcome: ScanRunOutcome::NoSignal,
                    detail: Some("fast SMA below slow SMA, no crossing".into()),
                    started_at: now,
                    proposals: Vec::new(),
                    next_run_at: now + chrono::Duration::minutes(15),
                };
                store
                    .scan_job_run_finish(&leased, report, now)
                    .await
                    .unwrap();
                store.close().await;
            });
    })
    .join()
    .unwrap();

    let shown = d.vigil(&["jobs", "show", &id]).ok();
    assert!(
        shown.stdout.contains("no_signal")
            && shown
                .stdout
                .contains("fast SMA below slow SMA, no crossing")
            && shown.stdout.contains("test-worker"),
        "{shown:#?}"
    );
    let shown = d
        .vigil(&["jobs", "show", &id, "--runs", "5", "--json"])
        .ok()
        .json();
    assert_eq!(shown["job"]["id"], id.as_str());
    assert_eq!(shown["runs"][0]["outcome"], "no_signal", "{shown}");
    assert_eq!(shown["runs"].as_array().unwrap().len(), 1, "{shown}");

    d.vigil(&["jobs", "pause", &id, "--reason", "volatile week"])
        .ok();
    let url = d.database_url.clone();
    let target = format!("scan_job:{id}");
    let reasons = std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
                let entries = store
                    .audit_list(&AuditFilter {
                        target: Some(target),
                        ..AuditFilter::default()
                    })
                    .await
                    .unwrap();
                store.close().await;
                entries
                    .into_iter()
                    .map(|e| (e.action, e.reason))
                    .collect::<Vec<_>>()
            })
    })
    .join()
    .unwrap();
    assert!(
        reasons.contains(&(
            "scan_job.pause".to_owned(),
            Some("volatile week".to_owned())
        )),
        "{reasons:?}"
    );
}
