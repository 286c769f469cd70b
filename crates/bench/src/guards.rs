//! (e) The guards as history grows: p99 of the preflight fact read (`Store::user_facts_read`)
//! with 10^4, 10^5 (and 10^6) finished executions in `trade_executions`, spread over 8 users and
//! 4 markets, bulk-inserted with plain SQL (a week and more in the past, `FILLED`), and the
//! `EXPLAIN` of the fact read's history queries (`Store::user_facts_plans`: the store's own SQL).

use std::time::Instant;

use serde::Serialize;
use vigil_core::{Market, UserId};

use crate::{
    error::{BenchError, During},
    raw::{RawDb, Value},
    stats::Latency,
    world::{btc, World},
};

const USERS: usize = 8;
const MARKETS: [&str; 4] = ["BTC-EUR", "ETH-EUR", "SOL-EUR", "XRP-EUR"];

/// One history size's result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct GuardLevel {
    /// Rows in `trade_executions`.
    pub(crate) rows: u64,
    /// Seconds the bulk insert of this level took.
    pub(crate) insert_s: u64,
    /// Latency of `user_facts_read` for one user on BTC-EUR.
    pub(crate) facts_read: Latency,
}

/// (e) in full: the levels and the plans at the largest one.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Guards {
    /// Per history size.
    pub(crate) levels: Vec<GuardLevel>,
    /// The plan of the market-activity query (last order per side).
    pub(crate) activity_plan: Vec<String>,
    /// The plan of the day-used query.
    pub(crate) day_plan: Vec<String>,
    /// The plan of the in-flight query.
    pub(crate) in_flight_plan: Vec<String>,
}

/// Inserts rows `[from, to)` of (user, market) pair `pair`: a proposal and a `FILLED`
/// execution each, one statement per table.
async fn bulk(
    raw: &RawDb,
    user: UserId,
    market: &str,
    pair: usize,
    from: u64,
    to: u64,
) -> Result<(), BenchError> {
    let (from, to) = (
        i64::try_from(from).unwrap_or(0),
        i64::try_from(to).unwrap_or(0) - 1,
    );
    let user = user.as_uuid().hyphenated().to_string();
    let statements: [String; 2] = if raw.is_sqlite() {
        let ids = |prefix: &str| format!("printf('{prefix}{pair:07x}-0000-4000-8000-%012x', i)");
        // Fixed-width times like the store's, one minute apart, from 2025-01-01.
        let at =
            "strftime('%Y-%m-%dT%H:%M:%S', julianday('2025-01-01') + i / 1440.0) || '.000000Z'";
        let series =
            "WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)";
        [
            format!(
                "{series} INSERT INTO proposals (id, user_id, market, side, order_type, size_kind, \
                 size_value, limit_price, source_kind, source_name, rationale, status, created_at, \
                 expires_at, updated_at) SELECT {p}, $3, $4, CASE i % 2 WHEN 0 THEN 'buy' ELSE 'sell' END, \
                 'market', 'quote', '10', NULL, 'person', 'bench', 'history', 'EXECUTED', {at}, {at}, {at} FROM n",
                p = ids("b")
            ),
            format!(
                "{series} INSERT INTO trade_executions (id, user_id, proposal_id, client_order_id, market, \
                 side, order_type, size_kind, size_value, limit_price, notional, state, outcome_unknown, \
                 exchange_order_id, signed_at, access_window_ms, filled_notional, event_seq, created_at, \
                 updated_at) SELECT {e}, $3, {p}, {c}, $4, CASE i % 2 WHEN 0 THEN 'buy' ELSE 'sell' END, \
                 'market', 'quote', '10', NULL, '10', 'FILLED', 0, 'x{pair}-' || i, {at}, 10000, '10', 4, \
                 {at}, {at} FROM n",
                e = ids("e"),
                p = ids("b"),
                c = ids("c")
            ),
        ]
    } else {
        let ids = |prefix: &str| {
            format!("('{prefix}{pair:07x}-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid")
        };
        let at = "(timestamptz '2025-01-01 00:00:00+00' + i * interval '1 minute')";
        let series = "FROM generate_series($1::bigint, $2::bigint) AS i";
        [
            format!(
                "INSERT INTO proposals (id, user_id, market, side, order_type, size_kind, \
                 size_value, limit_price, source_kind, source_name, rationale, status, created_at, \
                 expires_at, updated_at) SELECT {p}, $3::uuid, $4, CASE i % 2 WHEN 0 THEN 'buy' ELSE 'sell' END, \
                 'market', 'quote', 10, NULL, 'person', 'bench', 'history', 'EXECUTED', {at}, {at}, {at} {series}",
                p = ids("b")
            ),
            format!(
                "INSERT INTO trade_executions (id, user_id, proposal_id, client_order_id, market, \
                 side, order_type, size_kind, size_value, limit_price, notional, state, outcome_unknown, \
                 exchange_order_id, signed_at, access_window_ms, filled_notional, event_seq, created_at, \
                 updated_at) SELECT {e}, $3::uuid, {p}, {c}, $4, CASE i % 2 WHEN 0 THEN 'buy' ELSE 'sell' END, \
                 'market', 'quote', 10, NULL, 10, 'FILLED', FALSE, 'x{pair}-' || i, {at}, 10000, 10, 4, \
                 {at}, {at} {series}",
                e = ids("e"),
                p = ids("b"),
                c = ids("c")
            ),
        ]
    };
    for sql in &statements {
        raw.execute(
            sql,
            &[
                Value::Int(from),
                Value::Int(to),
                Value::Text(user.clone()),
                Value::Text(market.to_owned()),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Runs (e) at each history size in `levels` (ascending), `samples` reads per level.
///
/// # Errors
/// A setup or database error.
pub(crate) async fn guards(
    world: &World,
    levels: &[u64],
    samples: usize,
) -> Result<Guards, BenchError> {
    let raw = RawDb::connect(&world.url, 2).await?;
    let mut users = Vec::with_capacity(USERS);
    for u in 0..USERS {
        users.push(world.user(&format!("history{u}")).await?);
    }
    let pairs = USERS * MARKETS.len();
    let pairs64 = u64::try_from(pairs).unwrap_or(1);
    let market = btc();
    let mut inserted = 0u64;
    let mut out = Vec::new();
    for &rows in levels {
        let start = Instant::now();
        let per_pair_from = inserted / pairs64;
        let per_pair_to = rows / pairs64;
        for pair in 0..pairs {
            let user = users[pair % USERS];
            let m = MARKETS[pair / USERS];
            bulk(&raw, user, m, pair, per_pair_from, per_pair_to).await?;
        }
        inserted = per_pair_to * pairs64;
        world.store.analyze().await.during("ANALYZE")?;
        let insert_s = start.elapsed().as_secs();
        let facts_read = sample_facts(world, users[0], &market, samples).await?;
        out.push(GuardLevel {
            rows: inserted,
            insert_s,
            facts_read,
        });
    }
    // The store's own queries, as the fact read runs them (crates/store/src/facts.rs).
    let mut plans = world
        .store
        .user_facts_plans(users[0], &market, world.now(), false)
        .await
        .during("EXPLAIN of the fact read's history queries")?
        .into_iter();
    let mut next_plan = || plans.next().map(|(_, lines)| lines).unwrap_or_default();
    let (activity_plan, day_plan, in_flight_plan) = (next_plan(), next_plan(), next_plan());
    raw.close().await;
    Ok(Guards {
        levels: out,
        activity_plan,
        day_plan,
        in_flight_plan,
    })
}

async fn sample_facts(
    world: &World,
    user: UserId,
    market: &Market,
    samples: usize,
) -> Result<Latency, BenchError> {
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples + 5 {
        let start = Instant::now();
        world
            .store
            .user_facts_read(user, market, world.now(), None)
            .await
            .during("user_facts_read")?;
        // The first reads warm the caches and the connection.
        if i >= 5 {
            times.push(start.elapsed());
        }
    }
    Ok(Latency::of(&times))
}
