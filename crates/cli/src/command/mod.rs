//! The subcommands: each module turns validated arguments into calls on the
//! [`Deployment`](crate::deployment::Deployment) (its store, its operations, its exchange
//! clients, its executor) and prints the result. [`run`] builds the one deployment every
//! subcommand gets.

mod alerts;
mod audit;
mod cap_window;
mod execute;
mod init;
mod jobs;
mod kill_switch;
mod policy;
mod proposals;
mod revert;
mod run;
mod signoff;
mod sim;
mod users;

use std::{collections::BTreeMap, process::ExitCode};

pub(crate) use crate::exit::CommandError;
use crate::{
    args::{Cli, Command},
    config::Config,
    deployment::Settings,
};

/// What a refused or failed operation (`vigil_ops::Operations`) means for the command: bad
/// input (exit 2, the problems named by their flags), not found (4), a conflict (5), or the
/// store's error (its own code).
pub(crate) fn operation_error(error: vigil_ops::OperationError) -> anyhow::Error {
    use vigil_ops::{stability_window::CapChangeError, OperationError};
    match error {
        OperationError::Invalid(problems) => CommandError::invalid_flags(problems).into(),
        OperationError::ProposalNotFound(id) => CommandError::NotFound(format!(
            "no proposal {id}; `vigil proposals list` shows them"
        ))
        .into(),
        e @ (OperationError::ProposalExpired { .. }
        | OperationError::ProposalNotPending { .. }
        | OperationError::ProposalChanged(_)
        | OperationError::CapChange(CapChangeError::Refused { .. })) => {
            CommandError::Conflict(e.to_string()).into()
        }
        OperationError::CapChange(CapChangeError::InvalidOverride(e)) => {
            CommandError::invalid(&[e]).into()
        }
        OperationError::CapChange(CapChangeError::Store(e)) | OperationError::Store(e) => match e {
            vigil_store::StoreError::InvalidInput(problems) => {
                CommandError::invalid_flags(problems).into()
            }
            e => e.into(),
        },
    }
}

/// Runs the chosen subcommand.
pub(crate) async fn run(
    cli: Cli,
    config: Config,
    env: BTreeMap<String, String>,
) -> anyhow::Result<ExitCode> {
    if let Command::Sim(args) = &cli.command {
        return sim::run(args, &config).await;
    }
    // Paper state lives in its own database unless one was configured (#18 case 11).
    let mut config = config;
    let paper = match &cli.command {
        Command::Run(args) => args.paper,
        Command::Init(args) => args.paper,
        _ => false,
    };
    if paper && config.database_url_is_default {
        crate::config::PAPER_DATABASE_URL.clone_into(&mut config.database_url);
    }
    let settings = Settings::new(config, env, cli.actor.clone());
    // Every flag and configuration value of `vigil run` is checked before the store or the
    // exchange is touched (#18 case 8).
    let run_plan = match &cli.command {
        Command::Run(args) => Some(run::prepare(args, &settings).await?),
        _ => None,
    };
    let create = matches!(&cli.command, Command::Init(_)) || paper;
    let ctx = settings.open(create).await?;
    let result = match cli.command {
        Command::Init(args) => init::run(&ctx, &args).await,
        Command::Migrate => {
            // Settings::open has applied them.
            crate::out!("migrations applied to {}", ctx.store.url());
            Ok(crate::exit::SUCCESS)
        }
        Command::Users(command) => users::run(&ctx, command).await,
        Command::Policy(command) => policy::run(&ctx, command).await,
        Command::Allowlist(command) => policy::allowlist(&ctx, command).await,
        Command::KillSwitch(
            command @ crate::args::KillSwitchCommand::On {
                cancel_open_orders: true,
                ..
            },
        ) => kill_switch::on_and_cancel(&ctx, command).await,
        Command::KillSwitch(command) => policy::kill_switch(&ctx, command).await,
        Command::Proposals(crate::args::ProposalsCommand::Revert(args)) => {
            revert::run(&ctx, &args).await
        }
        Command::Proposals(command) => proposals::run(&ctx, command).await,
        Command::Execute(args) => execute::execute(&ctx, &args).await,
        Command::Executions(command) => execute::executions(&ctx, command).await,
        Command::Reconcile(flag) => execute::reconcile(&ctx, flag.json).await,
        Command::Run(args) => match run_plan {
            Some(plan) => run::run(&ctx, &args, plan).await,
            None => Err(anyhow::anyhow!("vigil run was not prepared (a bug)")),
        },
        Command::Jobs(command) => jobs::run(&ctx, command).await,
        Command::Sim(_) => Ok(crate::exit::SUCCESS),
        Command::Audit(args) => audit::run(&ctx, &args).await,
        Command::Alerts(crate::args::AlertsCommand::Test(flag)) => {
            alerts::test(&ctx, flag.json).await
        }
        Command::Signoff(flag) => signoff::run(&ctx, flag.json).await,
    };
    ctx.store.close().await;
    result
}
