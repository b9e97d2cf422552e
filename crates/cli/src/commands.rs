//! One handler per subcommand: parse the input, call the engine, hand the answer to
//! [`Out`]. No formatting here; that is `output`'s job.

use std::str::FromStr;

use templesync_engine::{
    CloudChoice, Engine, Resolution, ResolveValue, RunStatus, Settings, Strategy, SyncRequest,
    Trigger,
};

/// A sync that started but did not complete. Its results (with the error) were already
/// shown; only the exit code is left to set.
#[derive(Debug)]
pub struct RunFailed(pub String);

impl std::fmt::Display for RunFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunFailed {}

use crate::args::{CloudAction, Command, ConfigAction, GlobalArgs};
use crate::output::{self, Clock, Out};

/// The connection settings: the environment (after `.env`), then the command-line overrides.
pub fn settings(global: &GlobalArgs, env: impl Fn(&str) -> Option<String>) -> Settings {
    let mut s = Settings::from_lookup(env);
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    if let Some(url) = given(&global.local_url) {
        s.local_url = url;
    }
    if let Some(url) = given(&global.remote_url) {
        s.remote_url = Some(url);
    }
    if let Some(db) = given(&global.database) {
        s.database = db;
    }
    s
}

/// Who is making a decision: `--by`, else the name logged in with (USER on Unix, USERNAME
/// on Windows).
fn person(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|s| !s.trim().is_empty())
        .or_else(os_account)
        .unwrap_or_else(|| "unknown".to_string())
}

/// The name of the account this process runs as, from the system's user list (Linux), for
/// when no login variable is set (services, cron).
fn os_account() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut parts = l.split(':');
        let name = parts.next()?;
        (parts.nth(1)? == uid).then(|| name.to_string())
    })
}

pub async fn run(command: Command, engine: &Engine, out: &Out) -> anyhow::Result<()> {
    match command {
        Command::Status => {
            let status = engine.status().await?;
            out.show(&status, |s| output::status_text(s, &Clock::system()))
        }
        Command::Sync { collections } => {
            out.text(&output::sync_start_text(&collections));
            let collections = (!collections.is_empty()).then_some(collections);
            let req = SyncRequest {
                trigger: Trigger::Manual,
                collections,
            };
            let run = engine.sync_with_progress(req, out.progress()).await?;
            let unresolved = engine.conflicts(Some(false), None).await?.len() as u64;
            out.show(&run, |r| output::sync_results_text(r, unresolved))?;
            match run.status {
                RunStatus::Completed => Ok(()),
                _ => Err(RunFailed(
                    run.error
                        .unwrap_or_else(|| "the sync did not complete".into()),
                )
                .into()),
            }
        }
        Command::Conflicts { all, collection } => {
            let list = engine
                .conflicts(if all { None } else { Some(false) }, collection.as_deref())
                .await?;
            out.show(&list, |l| output::conflicts_text(l, &Clock::system(), all))
        }
        Command::Resolve {
            id,
            strategy,
            value,
            notes,
            by,
        } => {
            let strategy = Strategy::from_str(&strategy)?;
            let resolution = Resolution {
                strategy,
                value: value.map(ResolveValue::Text),
                notes,
                by: person(by),
            };
            out.text(&output::resolving_text(&id));
            let outcome = engine.resolve(&id, resolution).await?;
            out.show(&outcome, |o| output::resolved_text(o, strategy.as_str()))
        }
        Command::AutoResolve { max, by } => {
            out.text(&output::auto_resolving_text(max));
            let report = engine.auto_resolve(max, &person(by)).await?;
            out.show(&report, output::auto_resolve_text)
        }
        Command::Config { action: None } => {
            let cfg = engine.config().await?;
            out.show(&cfg, |c| output::config_text(c, engine.settings()))
        }
        Command::Config {
            action: Some(ConfigAction::Set { assignments }),
        } => {
            let next = engine.config().await?.with_assignments(&assignments)?;
            let saved = engine.set_config(&next).await?;
            out.show(&saved, |c| output::config_saved_text(c, engine.settings()))
        }
        Command::Logs { limit } => {
            let runs = engine.logs(limit).await?;
            out.show(&runs, |r| output::logs_text(r, &Clock::system()))
        }
        Command::Verify {
            collections,
            repair,
        } => {
            let collections = (!collections.is_empty()).then_some(collections);
            let report = engine.verify(collections, repair).await?;
            out.show(&report, output::verify_text)?;
            match report.matches {
                true => Ok(()),
                false => Err(RunFailed(report.summary).into()),
            }
        }
        Command::Cloud { choice } => {
            let choice = match choice {
                CloudAction::SendLocal => CloudChoice::SendLocal,
                CloudAction::Accept => CloudChoice::AcceptCloud,
            };
            engine.choose_cloud(choice).await?;
            out.show(&serde_json::json!({ "choice": choice }), |_| {
                output::cloud_choice_text(choice)
            })
        }
        Command::Serve { bind, token_file } => {
            crate::serve::run(engine.clone(), crate::serve::Options { bind, token_file }).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::args::Cli;

    #[test]
    fn command_line_options_override_the_environment() {
        let cli = Cli::parse_from([
            "templesync",
            "status",
            "--remote-url",
            "mongodb://cloud:1",
            "--database",
            "x",
        ]);
        let env = |k: &str| match k {
            "MONGODB_CLOUD_URL" => Some("mongodb://from-env:1".to_string()),
            "MONGODB_LOCAL_URL" => Some("mongodb://local-env:2".to_string()),
            _ => None,
        };
        let s = settings(&cli.global, env);
        assert_eq!(s.remote_url.as_deref(), Some("mongodb://cloud:1"));
        assert_eq!(
            s.local_url, "mongodb://local-env:2",
            "what is not overridden comes from the environment"
        );
        assert_eq!(s.database, "x");
    }

    #[test]
    fn a_blank_option_does_not_wipe_the_environment() {
        let cli = Cli::parse_from(["templesync", "status", "--remote-url", " "]);
        let s = settings(&cli.global, |k| {
            (k == "MONGODB_CLOUD_URL").then(|| "mongodb://e:1".to_string())
        });
        assert_eq!(s.remote_url.as_deref(), Some("mongodb://e:1"));
    }
}
