//! Helpers for the operator-side tests (alerts, audit, rollback, stability window, sign-off): a
//! small webhook receiver on 127.0.0.1:0, a bounded wait, executions written straight through
//! the store (to create on purpose what the executor would never do), and raw SQL for tampering.

// Test-only harness: a failed unwrap here IS a failed assertion of the test that called it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use chrono::TimeDelta;
use sqlx::{Connection, Executor as _};
use vigil_core::{
    ClientOrderId, Execution, ExecutionEvent, ExecutionState, Market, Notional, ProposalId, Side,
    Timestamp, UserId,
};
use vigil_store::{ClaimOutcome, Store};

use crate::ExecutionBuilder;

/// What the webhook receiver does with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Answer with the next status of the list (200 once the list is used up).
    Statuses,
    /// Never answer.
    Hang,
}

/// A webhook receiver: records every JSON body it gets.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// Where to send: `http://127.0.0.1:PORT/hook/T0K3N` (a token in the path, as webhooks carry).
    pub url: String,
    got: Arc<Mutex<Vec<serde_json::Value>>>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
    answer: Answer,
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1:0 answering `statuses` in turn (then 200), or hanging.
    pub async fn start(statuses: &[u16], answer: Answer) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook/T0K3N", listener.local_addr().unwrap());
        let receiver = Receiver {
            url,
            got: Arc::default(),
            statuses: Arc::new(Mutex::new(statuses.iter().copied().collect())),
            answer,
        };
        let app = Router::new()
            .route("/hook/T0K3N", post(hook))
            .with_state(receiver.clone());
        // The server lives as long as the test's runtime.
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    /// Every body received so far.
    pub fn received(&self) -> Vec<serde_json::Value> {
        self.got.lock().unwrap().clone()
    }
}

async fn hook(State(r): State<Receiver>, Json(body): Json<serde_json::Value>) -> StatusCode {
    r.got.lock().unwrap().push(body);
    if r.answer == Answer::Hang {
        std::future::pending::<()>().await;
    }
    let status = r.statuses.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

/// Waits (up to 30 s) until `done` holds; panics naming `what` otherwise. A bound on waiting,
/// not an assertion on speed.
pub async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An execution written straight through the store, as if an order had been placed: claimed,
/// committed `SUBMITTING` at `signed_at` with `notional`, and accepted with `order_id`. The
/// store checks the transition table, not the guards: this is how a test creates on purpose
/// what the executor would refuse.
#[allow(clippy::too_many_arguments)]
pub async fn placed_execution(
    store: &Store,
    user: UserId,
    proposal: ProposalId,
    market: &Market,
    side: Side,
    client_order_id: ClientOrderId,
    notional: Notional,
    signed_at: Timestamp,
    order_id: &str,
) -> Execution {
    let claimed = claimed_execution(
        store,
        user,
        proposal,
        market,
        side,
        client_order_id,
        signed_at,
    )
    .await;
    let submitting = store
        .execution_transition(
            claimed.id,
            ExecutionState::Claimed,
            &ExecutionEvent::SubmitCommitted {
                signed_at,
                access_window_ms: 10_000,
                notional,
            },
            signed_at,
        )
        .await
        .unwrap();
    store
        .execution_transition(
            submitting.id,
            ExecutionState::Submitting,
            &ExecutionEvent::Accepted {
                exchange_order_id: order_id.to_owned(),
            },
            signed_at + TimeDelta::milliseconds(50),
        )
        .await
        .unwrap()
}

/// A `CLAIMED` execution written through the store.
pub async fn claimed_execution(
    store: &Store,
    user: UserId,
    proposal: ProposalId,
    market: &Market,
    side: Side,
    client_order_id: ClientOrderId,
    at: Timestamp,
) -> Execution {
    let fresh = ExecutionBuilder::new(at)
        .user(user)
        .proposal(proposal)
        .client_order_id(client_order_id)
        .market(market.clone())
        .side(side)
        .build();
    match store.execution_claim(&fresh).await.unwrap() {
        ClaimOutcome::Claimed(e) => e,
        ClaimOutcome::AlreadyClaimed(e) => panic!("already claimed: {e:?}"),
    }
}

/// Runs raw SQL on the test database (tampering the tests do on purpose).
pub async fn raw_sql(store: &Store, sql: &str) {
    let url = store.url().to_owned();
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        conn.execute(sql).await.unwrap();
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        conn.execute(sql).await.unwrap();
        conn.close().await.unwrap();
    }
}

/// Removes the I1 unique constraint from the test database (SQLite cannot drop a constraint:
/// the table is rebuilt without it, as a careless hand migration would).
pub async fn drop_i1_constraint(store: &Store) {
    let url = store.url().to_owned();
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let ddl: String = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'trade_executions'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let without = ddl
            .replace(
                "CONSTRAINT trade_executions_user_proposal_key UNIQUE (user_id, proposal_id),",
                "",
            )
            .replacen(
                "CREATE TABLE trade_executions",
                "CREATE TABLE trade_executions_new",
                1,
            );
        assert_ne!(without, ddl, "the constraint was not found in the DDL");
        conn.execute("PRAGMA foreign_keys = OFF").await.unwrap();
        conn.execute(without.as_str()).await.unwrap();
        conn.execute("INSERT INTO trade_executions_new SELECT * FROM trade_executions")
            .await
            .unwrap();
        conn.execute("DROP TABLE trade_executions").await.unwrap();
        conn.execute("ALTER TABLE trade_executions_new RENAME TO trade_executions")
            .await
            .unwrap();
        conn.close().await.unwrap();
    } else {
        raw_sql(
            store,
            "ALTER TABLE trade_executions DROP CONSTRAINT trade_executions_user_proposal_key",
        )
        .await;
    }
}
