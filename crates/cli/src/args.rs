//! The command line, as clap derives it: every subcommand, flag and its help text.
//!
//! Parsing here shapes the input and checks plain ranges (`vigil run`'s numbers); values are
//! validated into domain types by the commands (and configuration by `config`), so every error
//! names the flag and what was expected, and comes before anything is written (exit code 2).

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A list's `--limit`: a whole number from 1 to [`vigil_store::LIST_LIMIT_MAX`], the bounds the
/// API puts on its `limit` parameter. Checked while parsing, so a bad limit exits 2 before the
/// database is opened.
fn list_limit(text: &str) -> Result<u32, String> {
    let max = vigil_store::LIST_LIMIT_MAX;
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| format!("expected a whole number from 1 to {max}"))
}

/// Vigil: a hardened trade executor for Bitvavo.
#[derive(Debug, Parser)]
#[command(
    name = "vigil",
    version,
    about,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// Configuration file (TOML). Default: ./vigil.toml when it exists.
    #[arg(long, global = true, value_name = "FILE", env = "VIGIL_CONFIG")]
    pub(crate) config: Option<PathBuf>,

    /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DB.
    /// Default: sqlite://./vigil-data/vigil.db
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) database_url: Option<String>,

    /// Who is acting, recorded in the audit log. Default: $USER, else "cli".
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) actor: Option<String>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the database, a first user with an API token (printed once), and a default policy
    /// with trading DISABLED and an EMPTY allowlist (deny by default).
    Init(InitArgs),
    /// Apply the database migrations.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Show or change a user's trading policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Manage a user's market allowlist (deny by default).
    #[command(subcommand)]
    Allowlist(AllowlistCommand),
    /// Stop (or allow) all trading, globally or for one user.
    #[command(subcommand)]
    KillSwitch(KillSwitchCommand),
    /// Create, inspect, approve and reject trade proposals.
    #[command(subcommand)]
    Proposals(ProposalsCommand),
    /// One hardened attempt to turn an approved proposal into at most one order.
    Execute(ExecuteArgs),
    /// Inspect executions.
    #[command(subcommand)]
    Executions(ExecutionsCommand),
    /// Resolve executions whose outcome is unknown, end abandoned claims, follow orders to their
    /// end (once; `vigil run` does it continuously).
    Reconcile(JsonFlag),
    /// Run Vigil as a service: scheduler workers, the executor for auto-approved proposals, the
    /// reconciler and the HTTP API, until Ctrl-C or SIGTERM.
    Run(RunArgs),
    /// Manage scan jobs (a user's strategy on markets at an interval).
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Run the Bitvavo-compatible exchange simulator (its accounts, markets and faults come from
    /// the [sim] table of the configuration file; without one, the demo configuration).
    Sim(SimArgs),
    /// Check the guarantees (I1–I3, I5–I7) over the database and against the exchange by
    /// clientOrderId; exit code 10 on any finding.
    Audit(AuditArgs),
    /// Alert delivery.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Check the configured deployment against the sign-off checklist and print the report; exit
    /// code 11 on any failed item.
    Signoff(JsonFlag),
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// How far back to audit: a number and a unit (s, m, h, d), e.g. 24h or 7d.
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub(crate) since: String,
    /// Check the database only (no exchange configured, or none reachable).
    #[arg(long)]
    pub(crate) database_only: bool,
    #[command(flatten)]
    pub(crate) json: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AlertsCommand {
    /// Send one test alert to the configured webhook and report whether it was delivered
    /// (exit code 12 when it was not).
    Test(JsonFlag),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RevertToArg {
    /// Back to PENDING, to be approved again (APPROVED proposals only).
    Pending,
    /// CANCELLED, for good.
    Cancelled,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["dry_run", "apply"])))]
pub(crate) struct RevertArgs {
    /// The proposal id.
    pub(crate) id: String,
    /// Show what would happen and why; change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Perform the rollback (recorded in the audit log).
    #[arg(long)]
    pub(crate) apply: bool,
    /// Where the proposal goes.
    #[arg(long, value_enum, default_value = "pending")]
    pub(crate) to: RevertToArg,
    /// Why, for the audit log.
    #[arg(long)]
    pub(crate) reason: Option<String>,
    #[command(flatten)]
    pub(crate) json: JsonFlag,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Name of the first user (an admin).
    #[arg(long, default_value = "operator")]
    pub(crate) user: String,
    /// Set up a paper deployment, for `vigil run --paper` (without a configured database:
    /// ./vigil-data/paper.db). Without it the database is a live one, which a paper run refuses.
    #[arg(long)]
    pub(crate) paper: bool,
}

#[derive(Debug, Args)]
pub(crate) struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// Add a user and print their API token once.
    Add {
        /// The user's name (letters, digits, '-', '_', '.'; 1 to 64 characters).
        name: String,
        /// Give the user the admin role.
        #[arg(long)]
        admin: bool,
    },
    /// List users.
    List(JsonFlag),
}

#[derive(Debug, Args)]
pub(crate) struct UserFlag {
    /// The user's name.
    #[arg(long, value_name = "NAME")]
    pub(crate) user: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Show a user's policy.
    Show {
        #[command(flatten)]
        user: UserFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Change fields of a user's policy; fields not given keep their value.
    Set(PolicySetArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PolicySetArgs {
    #[command(flatten)]
    pub(crate) user: UserFlag,
    /// Allow this user to trade at all.
    #[arg(long, value_name = "BOOL")]
    pub(crate) trading_enabled: Option<bool>,
    /// The largest order, in the quote currency (e.g. 25).
    #[arg(long, value_name = "AMOUNT", allow_negative_numbers = true)]
    pub(crate) order_notional_max: Option<String>,
    /// The most that may be ordered per UTC day, in the quote currency.
    #[arg(long, value_name = "AMOUNT", allow_negative_numbers = true)]
    pub(crate) daily_notional_max: Option<String>,
    /// Minutes between two orders on one market.
    #[arg(long, value_name = "MINUTES", allow_negative_numbers = true)]
    pub(crate) cooldown_minutes: Option<u32>,
    /// Minutes before an opposite-side order on one market.
    #[arg(long, value_name = "MINUTES", allow_negative_numbers = true)]
    pub(crate) anti_flip_minutes: Option<u32>,
    /// Approve strategy and advisor proposals without a person.
    #[arg(long, value_name = "BOOL")]
    pub(crate) auto_approve: Option<bool>,
    /// The LLM advisor's daily budget for this user, in USD.
    #[arg(long, value_name = "AMOUNT", allow_negative_numbers = true)]
    pub(crate) llm_daily_budget: Option<String>,
    /// Why, for the audit log.
    #[arg(long)]
    pub(crate) reason: Option<String>,
    /// Raise a cap although the last 24 hours were not stable (an admin only, named by
    /// --actor; needs --reason; recorded in the audit log).
    #[arg(long)]
    pub(crate) override_stability_window: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AllowlistCommand {
    /// Allow markets for a user.
    Add(AllowlistChangeArgs),
    /// Remove markets from a user's allowlist.
    Remove(AllowlistChangeArgs),
    /// List a user's allowed markets.
    List {
        #[command(flatten)]
        user: UserFlag,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub(crate) struct AllowlistChangeArgs {
    #[command(flatten)]
    pub(crate) user: UserFlag,
    /// Markets of the form BASE-QUOTE, e.g. BTC-EUR.
    #[arg(required = true, value_name = "MARKET")]
    pub(crate) markets: Vec<String>,
    /// Why, for the audit log.
    #[arg(long)]
    pub(crate) reason: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct KillSwitchScope {
    /// The user whose switch to use; without it, the global switch.
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KillSwitchCommand {
    /// Turn the switch on: no order will be placed.
    On {
        #[command(flatten)]
        scope: KillSwitchScope,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
        /// Also cancel the open orders on the exchange (the account's for the global switch,
        /// the user's for a user's switch) and report each one.
        #[arg(long)]
        cancel_open_orders: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Turn the switch off.
    Off {
        #[command(flatten)]
        scope: KillSwitchScope,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Show the switch.
    Status {
        #[command(flatten)]
        scope: KillSwitchScope,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum OrderTypeArg {
    /// Fill now at the market price.
    Market,
    /// Rest in the book at a limit price.
    Limit,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProposalsCommand {
    /// Create a PENDING proposal.
    Create(ProposalCreateArgs),
    /// List proposals.
    List {
        /// Only this user's.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Only proposals with this status (PENDING, APPROVED, …).
        #[arg(long)]
        status: Option<String>,
        /// At most this many, newest first (1 to 1000, as the API's `limit`).
        #[arg(long, value_name = "N", default_value_t = vigil_store::LIST_LIMIT_DEFAULT, value_parser = list_limit)]
        limit: u32,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show one proposal.
    Show {
        /// The proposal id.
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Approve a PENDING proposal.
    Approve {
        /// The proposal id.
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Reject a PENDING proposal.
    Reject {
        /// The proposal id.
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Roll back a proposal's status (APPROVED → PENDING, or → CANCELLED), only when no order
    /// was ever placed for it.
    Revert(RevertArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ProposalCreateArgs {
    #[command(flatten)]
    pub(crate) user: UserFlag,
    /// The market, e.g. BTC-EUR.
    #[arg(long)]
    pub(crate) market: String,
    /// buy or sell.
    #[arg(long)]
    pub(crate) side: String,
    /// Spend (buy) or receive (sell) this much of the quote currency (market orders).
    #[arg(
        long,
        value_name = "AMOUNT",
        conflicts_with = "amount",
        required_unless_present = "amount",
        allow_negative_numbers = true
    )]
    pub(crate) amount_quote: Option<String>,
    /// This much of the base asset.
    #[arg(long, value_name = "AMOUNT", allow_negative_numbers = true)]
    pub(crate) amount: Option<String>,
    /// market or limit.
    #[arg(long, value_enum, default_value = "market")]
    pub(crate) order_type: OrderTypeArg,
    /// The limit price (limit orders only).
    #[arg(long, value_name = "PRICE", allow_negative_numbers = true)]
    pub(crate) limit_price: Option<String>,
    /// Minutes until the proposal expires (1 to 1440: one day, the bound every proposal has).
    #[arg(long, default_value_t = 60, allow_negative_numbers = true)]
    pub(crate) ttl_minutes: i64,
    /// Why, in words a person can check.
    #[arg(long, default_value = "")]
    pub(crate) rationale: String,
    #[command(flatten)]
    pub(crate) json: JsonFlag,
}

#[derive(Debug, Args)]
pub(crate) struct ExecuteArgs {
    /// The approved proposal to execute.
    #[arg(long, value_name = "ID")]
    pub(crate) proposal: String,
    /// Act as this user (default: the proposal's owner); the proposal must be theirs.
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    #[command(flatten)]
    pub(crate) json: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ExecutionsCommand {
    /// List executions, newest first.
    List {
        /// Only this user's.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Only executions in this state (CLAIMED, SUBMITTING, SUBMITTED, FILLED, …).
        #[arg(long)]
        state: Option<String>,
        /// At most this many, newest first (1 to 1000, as the API's `limit`).
        #[arg(long, value_name = "N", default_value_t = vigil_store::LIST_LIMIT_DEFAULT, value_parser = list_limit)]
        limit: u32,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show one execution with its event history.
    Show {
        /// The execution id.
        id: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Paper trading: start the built-in simulator in-process on loopback with a demo account,
    /// and (on first use) a demo user, allowlist, policy and jobs. No keys, no network.
    #[arg(long)]
    pub(crate) paper: bool,
    /// Scheduler workers in this process (1 to 32).
    #[arg(
        long,
        default_value_t = 2,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u16).range(1..=32)
    )]
    pub(crate) workers: u16,
    /// Serve the HTTP API here: a loopback address, or any address when the configuration sets
    /// server.allow_non_loopback = true (only behind a TLS-terminating proxy).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8780",
        conflicts_with = "no_api"
    )]
    pub(crate) listen: SocketAddr,
    /// Do not serve the HTTP API.
    #[arg(long)]
    pub(crate) no_api: bool,
    /// Seed of the paper simulator's prices.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Scan jobs' poll interval in milliseconds, 50 to 60000 (how often an idle worker looks
    /// for due jobs).
    #[arg(
        long,
        default_value_t = 1000,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u64).range(50..=60_000)
    )]
    pub(crate) poll_ms: u64,
    /// How long a worker's lease on a job lasts before another instance may take the job over,
    /// 1 to 3600 seconds (renewed while the job runs). Keep it well above a run's length.
    #[arg(
        long,
        default_value_t = 300,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u64).range(1..=3_600)
    )]
    pub(crate) lease_ttl_seconds: u64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// Add a scan job.
    Add {
        #[command(flatten)]
        user: UserFlag,
        /// dca, sma_cross, rsi_reversion or llm_advisor.
        #[arg(long)]
        strategy: String,
        /// Markets, e.g. BTC-EUR (repeat or separate with commas).
        #[arg(
            long = "market",
            value_name = "MARKET",
            required = true,
            value_delimiter = ','
        )]
        markets: Vec<String>,
        /// Strategy parameters as a JSON object, e.g. '{"amount_quote": "10"}'.
        #[arg(long, default_value = "{}")]
        params: String,
        /// Seconds between runs.
        #[arg(long)]
        interval_seconds: u32,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List scan jobs.
    List {
        /// Only this user's.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show a job and its recent runs (proposed, no_signal, failed or skipped, with why).
    Show {
        /// The job id.
        id: String,
        /// How many of its latest runs to show (1 to 1000).
        #[arg(long, default_value_t = 10, value_parser = list_limit)]
        runs: u32,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Pause a job (it keeps its schedule but is not run).
    Pause {
        /// The job id.
        id: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume a paused job.
    Resume {
        /// The job id.
        id: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Remove a job.
    Remove {
        /// The job id.
        id: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:18080")]
    pub(crate) listen: SocketAddr,
    /// Seed of the price path and of generated faults.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
