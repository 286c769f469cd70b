//! (f) The client: signed market orders per second against the simulator through Vigil's
//! `TradingClient`, sequentially and with 8 in flight, and, when the official Python SDK's venv
//! exists (`scripts/sdk-conformance` creates it at `target/sdk-venv`), the same sequential loop
//! through `python-bitvavo-api` against the same simulator in the same run. Both loops share
//! the simulator (and, for Vigil's loop, the 2 cores) with the client being measured, so each
//! loop's orders' own handling time, from the simulator's per-order record, is also taken out:
//! "own time per order" is the client's part of a round trip.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

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
    /// Vigil's sequential loop: wall time per order less the simulator's handling of it, µs.
    pub(crate) vigil_own_us_per_order: u64,
    /// The same for the Python SDK's loop (None when its venv is missing).
    pub(crate) python_own_us_per_order: Option<u64>,
    /// Python own time / Vigil own time: the clients compared without the shared simulator.
    pub(crate) own_speedup_x: Option<u64>,
}

/// One loop: orders sent, wall time, and the simulator's total handling of those orders.
struct Loop {
    sent: u64,
    wall: Duration,
    handling: Duration,
}

impl Loop {
    fn per_second(&self) -> u64 {
        per_second(self.sent, self.wall)
    }

    /// Wall time per order less the simulator's handling of it, in µs.
    fn own_us_per_order(&self) -> u64 {
        let own = self.wall.saturating_sub(self.handling);
        u64::try_from(own.as_micros()).unwrap_or(u64::MAX) / self.sent.max(1)
    }
}

/// The simulator's handling time of the orders logged from `from` on.
fn handling_since(world: &World, from: usize) -> Duration {
    world
        .sim
        .handle
        .order_log()
        .iter()
        .skip(from)
        .filter_map(|entry| entry.request.map(|timing| timing.handling()))
        .sum()
}

async fn vigil_loop(world: &World, concurrency: usize, orders: usize) -> Result<Loop, BenchError> {
    let logged = world.sim.handle.order_log().len();
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
    let wall = start.elapsed();
    Ok(Loop {
        sent: u64::try_from(per_task * concurrency).unwrap_or(0),
        wall,
        handling: handling_since(world, logged),
    })
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

async fn python_loop(world: &World, orders: usize) -> Result<Option<Loop>, BenchError> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/sdk-venv/bin/python");
    if !python.exists() {
        eprintln!(
            "(f) skipping the Python SDK: {} is missing; run scripts/sdk-conformance/run.sh once to create it",
            python.display()
        );
        return Ok(None);
    }
    let logged = world.sim.handle.order_log().len();
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
    Ok(Some(Loop {
        sent: u64::try_from(orders).unwrap_or(0),
        wall: Duration::from_micros(micros),
        handling: handling_since(world, logged),
    }))
}

/// Runs (f) with `orders` orders per loop.
///
/// # Errors
/// An order that failed, or a Python loop that failed.
pub(crate) async fn client(world: &World, orders: usize) -> Result<ClientRates, BenchError> {
    vigil_loop(world, 1, 10).await?; // warm-up
    let sequential = vigil_loop(world, 1, orders).await?;
    let vigil_concurrent8_per_s = vigil_loop(world, 8, orders).await?.per_second();
    let python = python_loop(world, orders).await?;
    let vigil_sequential_per_s = sequential.per_second();
    let python_sdk_per_s = python.as_ref().map(Loop::per_second);
    let vigil_own = sequential.own_us_per_order();
    let python_own = python.as_ref().map(Loop::own_us_per_order);
    Ok(ClientRates {
        orders: u64::try_from(orders).unwrap_or(0),
        vigil_sequential_per_s,
        vigil_concurrent8_per_s,
        speedup_x: python_sdk_per_s.map(|p| percent(vigil_sequential_per_s, p.max(1)) / 100),
        python_sdk_per_s,
        vigil_own_us_per_order: vigil_own,
        python_own_us_per_order: python_own,
        own_speedup_x: python_own.map(|p| p / vigil_own.max(1)),
    })
}
