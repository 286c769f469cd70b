//! (f) The client: signed market orders per second against the simulator through Vigil's
//! `TradingClient`, sequentially and with 8 in flight, and, when the official Python SDK's venv
//! exists (`scripts/sdk-conformance` creates it at `target/sdk-venv`), the same sequential loop
//! through `python-bitvavo-api` against the same simulator in the same run.

use std::{path::Path, process::Stdio, time::Instant};

use futures::future::join_all;
use serde::Serialize;
use vigil_bitvavo::CreateOrder;
use vigil_core::{ClientOrderId, Notional, OrderSize, Side};

use crate::{
    error::{BenchError, During},
    stats::{per_second, percent},
    world::{btc, World, ORDER_EUR},
};

/// (f)'s figures.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ClientRates {
    /// Orders sent by each loop.
    pub(crate) orders: u64,
    /// Vigil's client, one order at a time.
    pub(crate) vigil_sequential_per_s: u64,
    /// Vigil's client, 8 orders in flight.
    pub(crate) vigil_concurrent8_per_s: u64,
    /// The Python SDK, one order at a time (None when its venv is missing).
    pub(crate) python_sdk_per_s: Option<u64>,
    /// Vigil sequential / Python sequential.
    pub(crate) speedup_x: Option<u64>,
}

async fn vigil_loop(world: &World, concurrency: usize, orders: usize) -> Result<u64, BenchError> {
    let per_task = orders / concurrency;
    let start = Instant::now();
    let tasks = (0..concurrency).map(|_| {
        let trading = world.clients.trading.clone();
        tokio::spawn(async move {
            for _ in 0..per_task {
                let order = CreateOrder::market(
                    btc(),
                    Side::Buy,
                    OrderSize::Quote(Notional::from_whole(ORDER_EUR)),
                    ClientOrderId::new(),
                )
                .during("building an order")?;
                trading
                    .create_order(order)
                    .await
                    .result
                    .during("create_order")?;
            }
            Ok::<(), BenchError>(())
        })
    });
    for joined in join_all(tasks).await {
        joined.during("a client task")??;
    }
    let sent = u64::try_from(per_task * concurrency).unwrap_or(0);
    Ok(per_second(sent, start.elapsed()))
}

const PYTHON_LOOP: &str = r#"
import os, sys, time, uuid
from python_bitvavo_api.bitvavo import Bitvavo
bv = Bitvavo({"APIKEY": os.environ["BENCH_KEY"], "APISECRET": os.environ["BENCH_SECRET"],
              "RESTURL": os.environ["BENCH_URL"], "WSURL": "ws://127.0.0.1:9/", "ACCESSWINDOW": 10000})
n = int(os.environ["BENCH_ORDERS"])
bv.time()
start = time.perf_counter()
for _ in range(n):
    o = bv.placeOrder("BTC-EUR", "buy", "market", {"amountQuote": "10", "clientOrderId": str(uuid.uuid4()), "operatorId": 7})
    if not isinstance(o, dict) or "orderId" not in o:
        sys.exit("order refused: %r" % (o,))
print(int((time.perf_counter() - start) * 1_000_000))
"#;

async fn python_loop(world: &World, orders: usize) -> Result<Option<u64>, BenchError> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/sdk-venv/bin/python");
    if !python.exists() {
        eprintln!(
            "(f) skipping the Python SDK: {} is missing; run scripts/sdk-conformance/run.sh once to create it",
            python.display()
        );
        return Ok(None);
    }
    // The simulator's demo keys are its fixed public test values, not secrets.
    let output = tokio::process::Command::new(python)
        .arg("-c")
        .arg(PYTHON_LOOP)
        .env("BENCH_KEY", world.sim.trade_key)
        .env("BENCH_SECRET", world.sim.trade_secret)
        .env("BENCH_URL", world.sim.rest_url())
        .env("BENCH_ORDERS", orders.to_string())
        .stdin(Stdio::null())
        .output()
        .await
        .during("running the Python SDK loop")?;
    if !output.status.success() {
        return Err(BenchError::Step {
            during: "the Python SDK loop".into(),
            detail: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let micros: u64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .during("reading the Python loop's time")?;
    let orders = u64::try_from(orders).unwrap_or(0);
    Ok(Some(orders.saturating_mul(1_000_000) / micros.max(1)))
}

/// Runs (f) with `orders` orders per loop.
///
/// # Errors
/// An order that failed, or a Python loop that failed.
pub(crate) async fn client(world: &World, orders: usize) -> Result<ClientRates, BenchError> {
    vigil_loop(world, 1, 10).await?; // warm-up
    let vigil_sequential_per_s = vigil_loop(world, 1, orders).await?;
    let vigil_concurrent8_per_s = vigil_loop(world, 8, orders).await?;
    let python_sdk_per_s = python_loop(world, orders).await?;
    Ok(ClientRates {
        orders: u64::try_from(orders).unwrap_or(0),
        vigil_sequential_per_s,
        vigil_concurrent8_per_s,
        speedup_x: python_sdk_per_s.map(|p| percent(vigil_sequential_per_s, p.max(1)) / 100),
        python_sdk_per_s,
    })
}
