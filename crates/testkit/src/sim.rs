//! An in-process Bitvavo simulator for tests: `spawn(seed, plan)` binds `127.0.0.1:0`, serves
//! the demo exchange (`SimConfig::demo(seed)`) with the given faults, and hands back its base URL,
//! the demo keys and the handle for admin access. The simulator stops when the returned
//! [`SpawnedSim`] is dropped or [`SpawnedSim::stop`] is called.
//!
//! The keys are the simulator's fixed public test values (`vigil_sim::DEMO_*`); they are not
//! secrets and work nowhere else.

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
pub use vigil_sim::{FaultKind, FaultPlan, FaultRule, SimConfig, SimHandle};

/// A running simulator.
#[derive(Debug)]
pub struct SpawnedSim {
    /// `http://127.0.0.1:PORT` (clients append `/v2`; ccxt takes it as is).
    pub base_url: String,
    /// The demo account's name in the admin API and the handle (`demo`).
    pub account: &'static str,
    /// API key with view and trade permission.
    pub trade_key: &'static str,
    /// Secret of [`SpawnedSim::trade_key`].
    pub trade_secret: &'static str,
    /// API key with view permission only.
    pub view_key: &'static str,
    /// Secret of [`SpawnedSim::view_key`].
    pub view_secret: &'static str,
    /// Direct access: order log, request counts, balances, price, faults, reset.
    pub handle: SimHandle,
    shutdown: CancellationToken,
}

impl SpawnedSim {
    /// `http://127.0.0.1:PORT/v2`, the REST URL the official SDKs take.
    #[must_use]
    pub fn rest_url(&self) -> String {
        format!("{}/v2", self.base_url)
    }

    /// Stops the simulator and waits for it.
    ///
    /// # Panics
    /// If the simulator's task panicked (a bug in the simulator that the test should see).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.handle.take_join_handle() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("the simulator did not shut down cleanly: {e}"),
                Err(e) => panic!("the simulator task failed: {e}"),
            }
        }
    }
}

impl Drop for SpawnedSim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The demo exchange with `seed` and the faults of `plan`, on `127.0.0.1:0`, with the wall
/// clock and moving prices.
///
/// # Panics
/// If the port cannot be bound or the configuration is refused: a test cannot go on without
/// its exchange, and the message says why.
pub async fn spawn(seed: u64, plan: FaultPlan) -> SpawnedSim {
    spawn_with(SimConfig::demo(seed).with_faults(plan)).await
}

/// Any configuration (e.g. a `ManualClock` with `with_clock`, flat prices, more accounts), on
/// `127.0.0.1:0`. The key fields hold the demo keys; use them only if the configuration keeps the
/// demo account.
///
/// # Panics
/// As [`spawn`].
pub async fn spawn_with(config: SimConfig) -> SpawnedSim {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("cannot bind 127.0.0.1:0 for the simulator: {e}"),
    };
    let shutdown = CancellationToken::new();
    let handle = match vigil_sim::spawn(listener, config, shutdown.clone()).await {
        Ok(h) => h,
        Err(e) => panic!("cannot start the simulator: {e}"),
    };
    SpawnedSim {
        base_url: handle.base_url(),
        account: vigil_sim::DEMO_ACCOUNT,
        trade_key: vigil_sim::DEMO_TRADE_KEY,
        trade_secret: vigil_sim::DEMO_TRADE_SECRET,
        view_key: vigil_sim::DEMO_VIEW_KEY,
        view_secret: vigil_sim::DEMO_VIEW_SECRET,
        handle,
        shutdown,
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn get(base_url: &str, path: &str) -> std::io::Result<String> {
        let addr = base_url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        Ok(answer)
    }

    #[tokio::test]
    async fn spawns_on_loopback_serves_v2_and_stops() {
        let sim = spawn(1, FaultPlan::none()).await;
        assert!(sim.base_url.starts_with("http://127.0.0.1:"));
        assert_eq!(sim.rest_url(), format!("{}/v2", sim.base_url));
        assert_eq!(sim.trade_key.len(), 64);
        let answer = get(&sim.base_url, "/v2/time").await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("\"time\":"), "{answer}");
        assert!(answer.contains("bitvavo-ratelimit-remaining"), "{answer}");
        assert_eq!(sim.handle.request_count("GET /v2/time"), 1);
        let base = sim.base_url.clone();
        sim.stop().await;
        assert!(get(&base, "/v2/time").await.is_err());
    }

    #[tokio::test]
    async fn the_fault_plan_is_in_force_from_the_start() {
        let plan = FaultPlan::single(FaultRule::new(
            "GET /v2/time",
            FaultKind::Error {
                error_code: 109,
                http_status: 503,
                message: None,
            },
        ));
        let sim = spawn(2, plan).await;
        let answer = get(&sim.base_url, "/v2/time").await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("\"errorCode\":109"), "{answer}");
    }
}
