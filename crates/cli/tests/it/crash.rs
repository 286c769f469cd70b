//! I1–I3 across process deaths: a real `vigil execute` process is killed with SIGKILL at each step
//! boundary (the `failpoints` feature, on in test builds only, pauses it there with
//! `VIGIL_FAILPOINT=<step>:pause`; the test then kills it from outside: no destructor, no flush),
//! then `vigil reconcile` runs once the request's access window has passed.
//! Afterwards every execution is resolved, the simulator's order log holds at most one order per
//! proposal (exactly one where the process died after sending), and a second
//! `vigil execute` of the same proposal places nothing.

use std::{
    io::{BufRead, BufReader},
    os::unix::process::ExitStatusExt,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::support::{binary, Deployment, SimThread};

const STEPS: [&str; 4] = [
    "after_claim",
    "after_preflight",
    "after_submitting",
    "after_send",
];

fn i2_i3_a_process_killed_at_each_step_leaves_nothing_stuck(d: &Deployment) {
    let sim = SimThread::start(7);
    let mut env: Vec<(&str, String)> = sim.env();
    // A short window and margin so the reconciler may decide "not placed" within seconds; the
    // claim of a dead process is ended after ten seconds.
    env.push(("VIGIL_BITVAVO_ACCESS_WINDOW_MS", "200".into()));
    env.push(("VIGIL_RECONCILER_WINDOW_MARGIN_SECONDS", "1".into()));
    env.push((
        "VIGIL_RECONCILER_ABANDON_CLAIMED_AFTER_SECONDS",
        "10".into(),
    ));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let vigil = |args: &[&str]| d.vigil_env(args, &env_refs);

    vigil(&["init", "--user", "alice"]).ok();
    vigil(&["allowlist", "add", "--user", "alice", "BTC-EUR"]).ok();
    vigil(&[
        "policy",
        "set",
        "--user",
        "alice",
        "--trading-enabled",
        "true",
        "--cooldown-minutes",
        "0",
        "--anti-flip-minutes",
        "0",
    ])
    .ok();

    let mut proposals = Vec::new();
    for step in STEPS {
        let p = vigil(&[
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
            "--json",
        ])
        .ok()
        .json();
        let id = p["id"].as_str().unwrap().to_owned();
        vigil(&["proposals", "approve", &id]).ok();
        let mut command = Command::new(binary());
        command.current_dir(d.dir.path()).args([
            "--database-url",
            &d.database_url,
            "execute",
            "--proposal",
            &id,
        ]);
        for (k, v) in &env_refs {
            command.env(k, v);
        }
        command
            .env("VIGIL_FAILPOINT", format!("{step}:pause"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        // Wait for the process to announce that it stands at the step, then SIGKILL it there.
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut said = Vec::new();
        for line in stderr.lines().map_while(Result::ok) {
            let paused = line.contains(&format!("VIGIL_FAILPOINT={step}:pause"));
            said.push(line);
            if paused {
                break;
            }
        }
        assert!(
            said.last().is_some_and(|l| l.contains("pause")),
            "{step}: never reached the failpoint: {said:#?}"
        );
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(9),
            "{step}: not killed by SIGKILL: {status:?}"
        );
        proposals.push((step, id));
    }

    // Right after the deaths: a retry places nothing, whatever state the execution is in (I1).
    for (step, id) in &proposals {
        let again = vigil(&["execute", "--proposal", id, "--json"]);
        assert_eq!(
            again.code, 6,
            "{step}: a retry after the crash must answer already_claimed: {again:#?}"
        );
    }

    // Wait until every window (200 ms + 1 s margin) and the abandonment age (10 s) have passed,
    // then reconcile once. The reconciler decides by the time, so this waits for it.
    std::thread::sleep(Duration::from_secs(11));
    let report = vigil(&["reconcile", "--json"]);
    assert!(
        report.code == 0,
        "the reconciler left something unresolved: {report:#?}"
    );

    let log = sim.order_log();
    for (step, id) in &proposals {
        let shown = vigil(&["executions", "list", "--json"]).ok().json();
        let execution: &Value = shown
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["proposal_id"] == id.as_str())
            .unwrap();
        let state = execution["state"].as_str().unwrap();
        let coid = execution["client_order_id"].as_str().unwrap();
        let orders = log
            .iter()
            .filter(|o| o.client_order_id.as_deref() == Some(coid))
            .count();
        match *step {
            // Nothing was sent: the claim is ended as REJECTED (abandoned), or the SUBMITTING row
            // is declared not placed after its window (I3).
            "after_claim" | "after_preflight" => {
                assert_eq!(state, "REJECTED", "{step}: {execution}");
                assert_eq!(orders, 0, "{step}");
            }
            "after_submitting" => {
                assert_eq!(state, "FAILED", "{step}: {execution}");
                assert_eq!(orders, 0, "{step}");
            }
            // The order was sent and accepted; the reconciler finds it by clientOrderId.
            _ => {
                assert!(
                    matches!(state, "SUBMITTED" | "FILLED"),
                    "{step}: {execution}"
                );
                assert_eq!(orders, 1, "{step}");
            }
        }
    }
    assert!(
        log.len() <= proposals.len(),
        "more orders than proposals: {log:#?}"
    );
}

/// #18 case 16: a `vigil run` killed (SIGKILL) after its scheduler committed an auto-approved
/// proposal and before the executor got it loses nothing: the proposal is `APPROVED` without an
/// execution, and the restarted run executes it, one order in the simulator's log.
fn i16_an_approval_survives_a_run_killed_before_its_execution(d: &Deployment) {
    let sim = SimThread::start(16);
    let env: Vec<(&str, String)> = sim.env();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let vigil = |args: &[&str]| d.vigil_env(args, &env_refs);
    vigil(&["init", "--user", "alice"]).ok();
    vigil(&["allowlist", "add", "--user", "alice", "BTC-EUR"]).ok();
    vigil(&[
        "policy",
        "set",
        "--user",
        "alice",
        "--trading-enabled",
        "true",
        "--auto-approve",
        "true",
    ])
    .ok();
    // A DCA job, due at once and then not again for a day: one proposal in this test.
    vigil(&[
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
        "86400",
    ])
    .ok();
    let run_args = ["run", "--no-api", "--poll-ms", "50"];

    let mut first = d.command(&run_args, &env_refs);
    first
        .env("VIGIL_FAILPOINT", "after_approve:pause")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut first = first.spawn().unwrap();
    let stderr = BufReader::new(first.stderr.take().unwrap());
    let mut said = Vec::new();
    for line in stderr.lines().map_while(Result::ok) {
        let paused = line.contains("VIGIL_FAILPOINT=after_approve:pause");
        said.push(line);
        if paused {
            break;
        }
    }
    assert!(
        said.last()
            .is_some_and(|l| l.contains("after_approve:pause")),
        "the run never reached the failpoint: {said:#?}"
    );
    first.kill().unwrap();
    assert_eq!(first.wait().unwrap().signal(), Some(9));

    let proposals = vigil(&["proposals", "list", "--json"]).ok().json();
    let proposals = proposals.as_array().unwrap();
    assert_eq!(proposals.len(), 1, "{proposals:#?}");
    assert_eq!(proposals[0]["status"], "APPROVED", "{proposals:#?}");
    let id = proposals[0]["id"].as_str().unwrap().to_owned();
    let executions = vigil(&["executions", "list", "--json"]).ok().json();
    assert_eq!(executions.as_array().unwrap().len(), 0, "{executions}");
    assert!(sim.order_log().is_empty());

    // The restart: its executor loop reads the approved proposal from the database.
    let mut second = d.command(&run_args, &env_refs);
    second.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut second = second.spawn().unwrap();
    let stdout = BufReader::new(second.stdout.take().unwrap());
    let (lines, said_lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut said = Vec::new();
    while let Ok(line) = said_lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        let placed = line.contains("PLACED") && line.contains(&id[..8]);
        said.push(line);
        if placed {
            break;
        }
    }
    let _stopped = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    assert!(second.wait().unwrap().success(), "{said:#?}");
    assert!(
        said.last().is_some_and(|l| l.contains("PLACED")),
        "the restarted run did not execute the approved proposal: {said:#?}"
    );
    let executions = vigil(&["executions", "list", "--json"]).ok().json();
    let executions = executions.as_array().unwrap();
    assert_eq!(executions.len(), 1, "{executions:#?}");
    assert_eq!(executions[0]["proposal_id"], id.as_str());
    let coid = executions[0]["client_order_id"].as_str().unwrap();
    let log = sim.order_log();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0].client_order_id.as_deref(), Some(coid));
}

vigil_testkit::backend_tests!(
    #[tokio::test]
    crate::support::Deployment::run;
    i2_i3_a_process_killed_at_each_step_leaves_nothing_stuck,
    i16_an_approval_survives_a_run_killed_before_its_execution,
);
