//! `vigil sim`: the Bitvavo-compatible simulator as a process of its own, for paper trading
//! against a separate address, for the official SDKs, and for multi-process tests.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;
use vigil_sim::SimConfig;

use crate::{args::SimArgs, command::CommandError, config::Config, exit};

pub(crate) async fn run(args: &SimArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let mut sim_config = match &config.sim {
        Some(table) => SimConfig::from_toml_table(table.clone())
            .map_err(|e| CommandError::Invalid(format!("[sim] configuration: {e}")))?,
        None => SimConfig::demo(args.seed),
    };
    sim_config.seed = args.seed;
    if !args.listen.ip().is_loopback() {
        tracing::warn!(listen = %args.listen, "the simulator listens on a non-loopback address; its admin API still answers loopback peers only");
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            CommandError::Invalid(format!(
                "cannot listen on {}: {e}; choose another --listen address",
                args.listen
            ))
        })?;
    let addr = listener.local_addr()?;
    // The first stdout line is machine-readable: scripts wait for it to learn the address.
    crate::out!("listening on http://{addr}");
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    vigil_sim::run(listener, sim_config, shutdown).await?;
    Ok(exit::SUCCESS)
}
