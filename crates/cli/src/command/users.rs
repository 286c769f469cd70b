//! `vigil users add|list`.

use std::process::ExitCode;

use super::init::create_user_with_token;
use crate::deployment::Deployment;
use crate::{args::UsersCommand, exit, output};

pub(crate) async fn run(ctx: &Deployment, command: UsersCommand) -> anyhow::Result<ExitCode> {
    match command {
        UsersCommand::Add { name, admin } => {
            let (user, token) = create_user_with_token(ctx, &name, admin).await?;
            crate::out!(
                "user:      {} ({}id {})",
                user.name,
                if admin { "admin, " } else { "" },
                user.id
            );
            crate::out!(
                "policy:    the default: trading DISABLED, empty allowlist (deny by default)"
            );
            crate::out!("api token: {token}");
            crate::out!("           (shown once; only its SHA-256 is stored)");
        }
        UsersCommand::List(flag) => {
            let users = ctx.store.user_list().await?;
            if flag.json {
                output::json(&users)?;
            } else {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        vec![
                            u.name.clone(),
                            u.id.to_string(),
                            if u.is_admin { "admin" } else { "user" }.into(),
                            if u.kill_switch { "ON" } else { "off" }.into(),
                            u.created_at.to_rfc3339(),
                        ]
                    })
                    .collect();
                output::table(&["NAME", "ID", "ROLE", "KILL SWITCH", "CREATED"], &rows);
            }
        }
    }
    Ok(exit::SUCCESS)
}
