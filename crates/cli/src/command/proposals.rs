//! `vigil proposals create|list|show|approve|reject`.
//!
//! `create` validates every flag and the proposal as a whole before writing anything, and
//! reports all problems at once, each naming its flag; a market that is not on the user's
//! allowlist is refused too (exit 2), saying how to allow it.
//!
//! `list` and `show` give, for a proposal that has an execution, the execution's outcome
//! (PLACED, FILLED, REFUSED with the refusal, NOT_PLACED with the reason, …): a proposal's own
//! status says only that it was handed to the executor.

use std::process::ExitCode;

use vigil_core::{
    proposal::{ProposalAction, ProposalDraft},
    ExecutionId, ExecutionState, Market, OrderOutcome, OrderSize, OrderType, Price, Proposal,
    ProposalId, ProposalSource, ProposalStatus, Quantity, Refusal, Side, ValidationError,
};
use vigil_ops::Visibility;
use vigil_store::{ExecutionSummary, ListedProposal, ProposalFilter};

use super::CommandError;
use crate::deployment::Deployment;
use crate::{
    args::{OrderTypeArg, ProposalCreateArgs, ProposalsCommand},
    exit, output,
};

pub(crate) async fn run(ctx: &Deployment, command: ProposalsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ProposalsCommand::Create(args) => create(ctx, args).await?,
        // Dispatched by `command::run`, which holds the exchange settings a rollback needs.
        ProposalsCommand::Revert(args) => {
            return Err(CommandError::Invalid(format!(
                "proposals revert {} must be dispatched with the exchange settings",
                args.id
            ))
            .into())
        }
        ProposalsCommand::List {
            user,
            status,
            limit,
            json,
        } => {
            let status = status
                .map(|s| {
                    s.parse::<ProposalStatus>()
                        .map_err(|e| CommandError::invalid(&[e.for_field("--status")]))
                })
                .transpose()?;
            let user = match user {
                Some(name) => Some(ctx.user(&name).await?.id),
                None => None,
            };
            let listed = ctx
                .store
                .proposal_list_with_outcomes(&ProposalFilter {
                    user,
                    status,
                    limit,
                })
                .await?;
            if json.json {
                let out: Vec<ProposalOut<'_>> = listed
                    .iter()
                    .map(|l| ProposalOut::new(&l.proposal, l.execution.as_ref()))
                    .collect();
                output::json(&out)?;
            } else {
                let rows: Vec<Vec<String>> = listed
                    .iter()
                    .map(|l| {
                        let p = &l.proposal;
                        vec![
                            p.id.to_string(),
                            p.status.to_string(),
                            p.market.to_string(),
                            p.side.to_string(),
                            size_text(&p.size),
                            p.order_type.to_string(),
                            p.source.to_string(),
                            p.expires_at.to_rfc3339(),
                            outcome_text(l.execution.as_ref()),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "ID", "STATUS", "MARKET", "SIDE", "SIZE", "TYPE", "SOURCE", "EXPIRES",
                        "OUTCOME",
                    ],
                    &rows,
                );
            }
        }
        ProposalsCommand::Show { id, json } => {
            let listed = get(ctx, &id).await?;
            print_proposal(&listed.proposal, listed.execution.as_ref(), json.json)?;
        }
        ProposalsCommand::Approve { id, json } => {
            decide(ctx, &id, ProposalAction::Approve, json.json).await?
        }
        ProposalsCommand::Reject { id, json } => {
            decide(ctx, &id, ProposalAction::Reject, json.json).await?
        }
    }
    Ok(exit::SUCCESS)
}

async fn create(ctx: &Deployment, args: ProposalCreateArgs) -> anyhow::Result<()> {
    let mut problems: Vec<ValidationError> = Vec::new();
    let market = Market::parse(&args.market)
        .map_err(|e| problems.push(e.for_field("--market")))
        .ok();
    let side = args
        .side
        .parse::<Side>()
        .map_err(|e| problems.push(e.for_field("--side")))
        .ok();
    let size = match (&args.amount_quote, &args.amount) {
        (Some(q), None) => vigil_core::Notional::parse_positive("--amount-quote", q)
            .map(OrderSize::Quote)
            .map_err(|e| problems.push(e))
            .ok(),
        (None, Some(b)) => Quantity::parse_positive("--amount", b)
            .map(OrderSize::Base)
            .map_err(|e| problems.push(e))
            .ok(),
        _ => {
            problems.push(ValidationError::new(
                "--amount-quote/--amount",
                "both or neither",
                "exactly one of --amount-quote or --amount",
            ));
            None
        }
    };
    let limit_price = args
        .limit_price
        .as_deref()
        .map(|p| Price::parse_positive("--limit-price", p))
        .transpose()
        .map_err(|e| problems.push(e))
        .ok()
        .flatten();
    let ttl = vigil_core::proposal::ttl_from_minutes("--ttl-minutes", args.ttl_minutes)
        .map_err(|e| problems.push(e))
        .ok();
    let order_type = match args.order_type {
        OrderTypeArg::Market => OrderType::Market,
        OrderTypeArg::Limit => OrderType::Limit,
    };
    let (Some(market), Some(side), Some(size), Some(ttl), true) =
        (market, side, size, ttl, problems.is_empty())
    else {
        return Err(CommandError::invalid(&problems).into());
    };
    let user = ctx.user(&args.user.user).await?;
    let draft = ProposalDraft {
        user_id: user.id,
        market,
        side,
        order_type,
        size,
        limit_price,
        source: ProposalSource::Person(ctx.actor().to_owned()),
        rationale: args.rationale,
        ttl,
    };
    let how_to_allow = format!(
        "allow it first with `vigil allowlist add --user {} {}`",
        user.name, draft.market
    );
    let proposal = ctx
        .operations()
        .create_proposal(draft, &how_to_allow)
        .await
        .map_err(super::operation_error)?;
    print_proposal(&proposal, None, args.json.json)
}

/// The proposal with the summary of its execution, when it has one.
async fn get(ctx: &Deployment, id: &str) -> anyhow::Result<ListedProposal> {
    let id = ProposalId::parse(id).map_err(|e| CommandError::invalid(&[e.for_field("ID")]))?;
    ctx.operations()
        .proposal(id, Visibility::Everyone)
        .await
        .map_err(super::operation_error)
}

async fn decide(
    ctx: &Deployment,
    id: &str,
    action: ProposalAction,
    json: bool,
) -> anyhow::Result<()> {
    let id = ProposalId::parse(id).map_err(|e| CommandError::invalid(&[e.for_field("ID")]))?;
    let ListedProposal {
        proposal,
        execution,
    } = ctx
        .operations()
        .decide_proposal(id, Visibility::Everyone, action, &ctx.operator(None))
        .await
        .map_err(super::operation_error)?;
    print_proposal(&proposal, execution.as_ref(), json)
}

fn size_text(size: &OrderSize) -> String {
    match size {
        OrderSize::Quote(n) => format!("{n} (quote)"),
        OrderSize::Base(q) => format!("{q} (base)"),
    }
}

/// A proposal as `--json` prints it: its own fields, then `outcome` (what became of it:
/// `PLACED`, `FILLED`, `REFUSED`, `NOT_PLACED`, …, or `null` before it was handed to the
/// executor), `outcome_reason` (the refusal or the failure, when there is one) and `execution`
/// (the execution's id, state and the refusal or failure as stored).
#[derive(serde::Serialize)]
struct ProposalOut<'a> {
    #[serde(flatten)]
    proposal: &'a Proposal,
    outcome: Option<OrderOutcome>,
    outcome_reason: Option<String>,
    execution: Option<ExecutionOut<'a>>,
}

#[derive(serde::Serialize)]
struct ExecutionOut<'a> {
    id: ExecutionId,
    state: ExecutionState,
    outcome_unknown: bool,
    refusal: Option<&'a Refusal>,
    failure: Option<&'a str>,
}

impl<'a> ProposalOut<'a> {
    fn new(proposal: &'a Proposal, execution: Option<&'a ExecutionSummary>) -> ProposalOut<'a> {
        ProposalOut {
            proposal,
            outcome: execution.map(ExecutionSummary::outcome),
            outcome_reason: execution.and_then(ExecutionSummary::reason),
            execution: execution.map(|e| ExecutionOut {
                id: e.id,
                state: e.state,
                outcome_unknown: e.outcome_unknown,
                refusal: e.refusal.as_ref(),
                failure: e.failure.as_deref(),
            }),
        }
    }
}

/// What became of a proposal, in one cell: `-` before any execution, else the outcome with
/// the refusal or failure (`REFUSED: cap_per_order: …`).
fn outcome_text(execution: Option<&ExecutionSummary>) -> String {
    match execution {
        None => "-".into(),
        Some(e) => match e.reason() {
            Some(reason) => format!("{}: {reason}", e.outcome()),
            None => e.outcome().to_string(),
        },
    }
}

fn print_proposal(
    p: &Proposal,
    execution: Option<&ExecutionSummary>,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        return output::json(&ProposalOut::new(p, execution));
    }
    output::fields(&[
        ("id", p.id.to_string()),
        ("status", p.status.to_string()),
        ("user_id", p.user_id.to_string()),
        ("market", p.market.to_string()),
        ("side", p.side.to_string()),
        ("order_type", p.order_type.to_string()),
        ("size", size_text(&p.size)),
        (
            "limit_price",
            p.limit_price.map_or_else(|| "-".into(), |v| v.to_string()),
        ),
        ("source", p.source.to_string()),
        ("rationale", p.rationale.clone()),
        ("created_at", p.created_at.to_rfc3339()),
        ("expires_at", p.expires_at.to_rfc3339()),
        ("outcome", outcome_text(execution)),
        (
            "execution",
            execution.map_or_else(|| "-".into(), |e| format!("{} ({})", e.id, e.state)),
        ),
    ]);
    Ok(())
}
