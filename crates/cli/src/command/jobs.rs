//! `vigil jobs add|list|show|pause|resume|remove`: scan jobs (`show` with the job's recent runs), validated against their strategy before
//! they are stored (every parameter problem named at once).

use std::process::ExitCode;

use vigil_core::{Clock, Market, ScanJobId, ValidationError};
use vigil_store::{NewScanJob, ScanJob, ScanJobFilter, StoreError};

use super::CommandError;
use crate::deployment::Deployment;
use crate::{args::JobsCommand, exit, output};

pub(crate) async fn run(ctx: &Deployment, command: JobsCommand) -> anyhow::Result<ExitCode> {
    match command {
        JobsCommand::Add {
            user,
            strategy,
            markets,
            params,
            interval_seconds,
            json,
        } => {
            let mut problems: Vec<ValidationError> = Vec::new();
            let markets: Vec<Market> = markets
                .iter()
                .filter_map(|m| {
                    Market::parse(m)
                        .map_err(|e| problems.push(e.for_field("--market")))
                        .ok()
                })
                .collect();
            let params: serde_json::Value = serde_json::from_str(&params)
                .map_err(|e| {
                    problems.push(ValidationError::new(
                        "--params",
                        &params,
                        format!("a JSON object ({e})"),
                    ))
                })
                .unwrap_or(serde_json::Value::Null);
            if !problems.is_empty() {
                return Err(CommandError::invalid(&problems).into());
            }
            let user = ctx.user(&user.user).await?;
            let new = NewScanJob {
                user_id: user.id,
                strategy,
                markets,
                params,
                interval_seconds,
                first_run_at: ctx.clock.now(),
            };
            vigil_scan::strategy::validate_new_job(&new)
                .map_err(|problems| CommandError::invalid(&problems))?;
            let job = match ctx
                .store
                .scan_job_create(&new, &ctx.attribution(None))
                .await
            {
                Ok(job) => job,
                Err(StoreError::InvalidInput(problems)) => {
                    return Err(CommandError::invalid(&problems).into())
                }
                Err(e) => return Err(e.into()),
            };
            if json.json {
                output::json(&job)?;
            } else {
                crate::out!(
                    "job {} added: {} on {} every {} s, first run now",
                    job.id,
                    job.strategy,
                    markets_text(&job),
                    job.interval_seconds
                );
            }
        }
        JobsCommand::List { user, json } => {
            let user = match user {
                Some(name) => Some(ctx.user(&name).await?.id),
                None => None,
            };
            let jobs = ctx
                .store
                .scan_job_list(&ScanJobFilter {
                    user,
                    limit: vigil_store::LIST_LIMIT_MAX,
                })
                .await?;
            if json.json {
                output::json(&jobs)?;
            } else {
                let rows: Vec<Vec<String>> = jobs
                    .iter()
                    .map(|j| {
                        vec![
                            j.id.to_string(),
                            j.strategy.clone(),
                            markets_text(j),
                            j.interval_seconds.to_string(),
                            if j.paused { "paused" } else { "active" }.into(),
                            j.next_run_at.to_rfc3339(),
                            j.params.to_string(),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "ID",
                        "STRATEGY",
                        "MARKETS",
                        "EVERY (S)",
                        "STATE",
                        "NEXT RUN",
                        "PARAMS",
                    ],
                    &rows,
                );
            }
        }
        JobsCommand::Show { id, runs, json } => {
            let job_id = parse_id(&id)?;
            let job = ctx
                .store
                .scan_job_get(job_id)
                .await
                .map_err(not_found(&id))?;
            let runs = ctx.store.scan_job_runs_list(job_id, runs).await?;
            if json.json {
                output::json(&serde_json::json!({ "job": job, "runs": runs }))?;
            } else {
                crate::out!(
                    "job {}: {} on {} every {} s, {}; next run {}\nparams: {}",
                    job.id,
                    job.strategy,
                    markets_text(&job),
                    job.interval_seconds,
                    if job.paused { "paused" } else { "active" },
                    job.next_run_at.to_rfc3339(),
                    job.params
                );
                if runs.is_empty() {
                    crate::out!("runs: (none yet)");
                } else {
                    let rows: Vec<Vec<String>> = runs
                        .iter()
                        .map(|r| {
                            vec![
                                r.started_at.to_rfc3339(),
                                r.outcome.as_str().to_owned(),
                                r.proposals.to_string(),
                                r.worker.clone(),
                                r.detail.clone().unwrap_or_default(),
                            ]
                        })
                        .collect();
                    output::table(
                        &["STARTED", "OUTCOME", "PROPOSALS", "WORKER", "DETAIL"],
                        &rows,
                    );
                }
            }
        }
        JobsCommand::Pause { id, reason } => {
            let job = ctx
                .store
                .scan_job_pause(parse_id(&id)?, &ctx.attribution(reason.as_deref()))
                .await
                .map_err(not_found(&id))?;
            crate::out!("job {} paused", job.id);
        }
        JobsCommand::Resume { id, reason } => {
            let job = ctx
                .store
                .scan_job_resume(parse_id(&id)?, &ctx.attribution(reason.as_deref()))
                .await
                .map_err(not_found(&id))?;
            crate::out!(
                "job {} resumed; next run {}",
                job.id,
                job.next_run_at.to_rfc3339()
            );
        }
        JobsCommand::Remove { id, reason } => {
            let job = ctx
                .store
                .scan_job_remove(parse_id(&id)?, &ctx.attribution(reason.as_deref()))
                .await
                .map_err(not_found(&id))?;
            crate::out!("job {} removed", job.id);
        }
    }
    Ok(exit::SUCCESS)
}

fn markets_text(job: &ScanJob) -> String {
    job.markets
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_id(id: &str) -> anyhow::Result<ScanJobId> {
    ScanJobId::parse(id).map_err(|e| CommandError::invalid(&[e.for_field("ID")]).into())
}

fn not_found(id: &str) -> impl FnOnce(StoreError) -> anyhow::Error + '_ {
    move |e| match e {
        StoreError::NotFound { .. } => {
            CommandError::NotFound(format!("no scan job {id}; `vigil jobs list` shows them")).into()
        }
        other => other.into(),
    }
}
