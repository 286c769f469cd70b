//! The `vigil` binary: reads the configuration, wires the parts together and runs one
//! subcommand. This is the only place `anyhow` appears; outcomes map to the exit codes that
//! README.md documents ("Exit codes").

mod args;
mod command;
mod config;
mod deployment;
mod exit;
mod output;

use std::{collections::BTreeMap, process::ExitCode};

use clap::Parser;

use crate::{
    args::Cli,
    config::{Config, FlagLayer, LogFormat},
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = match Config::load(
        FlagLayer {
            config_file: cli.config.clone(),
            database_url: cli.database_url.clone(),
        },
        &env,
    ) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(exit::USAGE);
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    match runtime.block_on(command::run(cli, config, env)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", exit::describe(&error));
            exit::code_for(&error)
        }
    }
}

/// Logs go to stderr so that stdout stays clean for `--json` output.
fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::new(&config.log_filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation can only happen in tests; ignoring it keeps the first subscriber.
    let _already_installed: Option<()> = match config.log_format {
        LogFormat::Text => builder.try_init().ok(),
        LogFormat::Json => builder.json().try_init().ok(),
    };
}
