//! The subcommands: each module turns validated arguments into store (or simulator) calls and
//! prints the result. Shared here: opening the store, naming the actor, and the typed errors the
//! exit codes are chosen from.

mod alerts;
mod audit;
mod cap_window;
mod exchange;
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

use vigil_core::{Clock, SystemClock, ValidationError};
use vigil_store::{Attribution, Store, StoreOptions, User};

use crate::{args::Cli, args::Command, config::Config};

/// A problem a command found in what it was asked to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    /// The input is wrong; the message names each field and what was expected.
    #[error("{0}")]
    Invalid(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
}

impl CommandError {
    /// One error listing every validation problem.
    pub(crate) fn invalid(problems: &[ValidationError]) -> CommandError {
        let lines: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        CommandError::Invalid(format!(
            "the input has {} problem(s); nothing was written:\n{}",
            problems.len(),
            lines.join("\n")
        ))
    }

    /// [`CommandError::invalid`] for problems a library named by its field (`order_notional_max`),
    /// told by the flag a person typed (`--order-notional-max`).
    pub(crate) fn invalid_flags(problems: Vec<ValidationError>) -> CommandError {
        let as_flags: Vec<ValidationError> = problems
            .into_iter()
            .map(|p| {
                let flag = format!("--{}", p.field.replace('_', "-"));
                p.for_field(flag)
            })
            .collect();
        CommandError::invalid(&as_flags)
    }
}

/// What every command that touches the database needs.
pub(crate) struct Context {
    pub(crate) store: Store,
    pub(crate) clock: SystemClock,
    pub(crate) actor: String,
}

impl Context {
    /// Who acted and when, for the audit log.
    pub(crate) fn attribution(&self, reason: Option<&str>) -> Attribution {
        let by = Attribution::new(self.actor.clone(), self.clock.now());
        match reason {
            Some(reason) => by.because(reason),
            None => by,
        }
    }

    /// The user with this name (given as `--user`), or a not-found error that says how to list
    /// users. A name no user can have is bad input (exit code 2), not an unknown user.
    pub(crate) async fn user(&self, name: &str) -> anyhow::Result<User> {
        vigil_store::model::validate_user_name(name)
            .map_err(|e| CommandError::invalid(&[e.for_field("--user")]))?;
        match self.store.user_get_by_name(name).await {
            Ok(user) => Ok(user),
            Err(vigil_store::StoreError::NotFound { .. }) => Err(CommandError::NotFound(format!(
                "no user named {name:?}; `vigil users list` shows the users"
            ))
            .into()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Opens the configured store and applies pending migrations. A missing SQLite file is created
/// only when `create` is set (`vigil init`, and `vigil run --paper` for its own database, #18
/// case 13); every other command refuses it (exit 3, naming the path) instead of answering from
/// a new, empty database.
async fn open_store(config: &Config, create: bool) -> anyhow::Result<Store> {
    let store = Store::connect(
        &config.database_url,
        StoreOptions {
            jitter_seed: u64::from(std::process::id()),
            sqlite_create_if_missing: create,
            ..StoreOptions::default()
        },
    )
    .await?;
    store.migrate().await?;
    Ok(store)
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
    let actor = cli
        .actor
        .clone()
        .or_else(|| env.get("USER").cloned())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "cli".to_owned());
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
    // Every flag and configuration value of `vigil run` is checked before the store or the
    // exchange is touched (#18 case 8).
    let run_plan = match &cli.command {
        Command::Run(args) => Some(run::prepare(args, &config, &env).await?),
        _ => None,
    };
    let create = matches!(&cli.command, Command::Init(_)) || paper;
    let store = open_store(&config, create).await?;
    let ctx = Context {
        store,
        clock: SystemClock,
        actor,
    };
    let result = match cli.command {
        Command::Init(args) => init::run(&ctx, &args).await,
        Command::Migrate => {
            // open_store has applied them.
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
        ) => kill_switch::on_and_cancel(&ctx, command, &config, &env).await,
        Command::KillSwitch(command) => policy::kill_switch(&ctx, command).await,
        Command::Proposals(crate::args::ProposalsCommand::Revert(args)) => {
            revert::run(&ctx, &args, &config, &env).await
        }
        Command::Proposals(command) => proposals::run(&ctx, command).await,
        Command::Execute(args) => execute::execute(&ctx, &args, &config, &env).await,
        Command::Executions(command) => execute::executions(&ctx, command).await,
        Command::Reconcile(flag) => execute::reconcile(&ctx, flag.json, &config, &env).await,
        Command::Run(args) => match run_plan {
            Some(plan) => run::run(&ctx, &args, plan, &config).await,
            None => Err(anyhow::anyhow!("vigil run was not prepared (a bug)")),
        },
        Command::Jobs(command) => jobs::run(&ctx, command).await,
        Command::Sim(_) => Ok(crate::exit::SUCCESS),
        Command::Audit(args) => audit::run(&ctx, &args, &config, &env).await,
        Command::Alerts(crate::args::AlertsCommand::Test(flag)) => {
            alerts::test(&ctx, &config, flag.json).await
        }
        Command::Signoff(flag) => signoff::run(&ctx, &config, &env, flag.json).await,
    };
    ctx.store.close().await;
    result
}
