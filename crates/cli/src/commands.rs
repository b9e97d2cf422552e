//! One handler per subcommand: parse the input, call the engine, hand the answer to
//! [`Out`]. No formatting here; that is `output`'s job.

use templesync_engine::app::about::About;
use templesync_engine::app::support;
use templesync_engine::{
    App, CloudChoice, Decision, ResolveValue, RunStatus, Settings, SettingsChange, Via,
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

/// This program's "About".
pub fn about(settings: &Settings) -> About {
    About::new("templesync", env!("CARGO_PKG_VERSION"), settings)
}

use crate::args::{CloudAction, Command, ConfigAction, GlobalArgs, StrategyArg};
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

pub async fn run(command: Command, app: &App, out: &Out) -> anyhow::Result<()> {
    let engine = app.engine();
    match command {
        Command::Status => {
            let status = engine.status().await?;
            let overview = app.overview().await;
            out.show(&status, |s| {
                output::overview_text(&overview, s, &Clock::system())
            })
        }
        Command::Sync { collections } => sync(app, out, collections).await,
        Command::Conflicts { all, collection } => {
            let which = if all { None } else { Some(false) };
            let list = app.conflicts(which, collection.as_deref()).await?;
            out.show(&list, |l| output::conflicts_text(l, &Clock::system(), all))
        }
        Command::Resolve {
            id,
            strategy: StrategyArg(strategy),
            value,
            notes,
            by,
        } => {
            let decision = Decision {
                strategy,
                value: value.map(ResolveValue::Text),
                notes,
                by,
            };
            out.text(&output::resolving_text(&id));
            let outcome = app.resolve(&id, decision, Via::CommandLine).await?;
            out.show(&outcome, |o| output::resolved_text(o, strategy.as_str()))
        }
        Command::AutoResolve { max, by } => {
            out.text(&output::auto_resolving_text(max));
            let report = app
                .auto_resolve(max, by.as_deref(), Via::CommandLine)
                .await?;
            out.show(&report, output::auto_resolve_text)
        }
        Command::Config { action: None } => {
            let cfg = app.settings().await?;
            out.show(&cfg, |c| output::config_text(c, engine.settings()))
        }
        Command::Config {
            action: Some(ConfigAction::Set { assignments }),
        } => {
            let change = SettingsChange::Assignments(assignments);
            let saved = app.change_settings(change).await?;
            out.show(&saved, |c| output::config_saved_text(c, engine.settings()))
        }
        Command::Pause { minutes } => {
            let pause = Some(app.pause_here(minutes)?);
            out.show(&output::PausedHere { pause }, output::paused_text)
        }
        Command::Resume => {
            app.resume_here()?;
            out.show(&output::PausedHere { pause: None }, output::paused_text)
        }
        Command::Logs { limit } => {
            let runs = app.history(limit).await?;
            out.show(&runs, |r| output::logs_text(r, &Clock::system()))
        }
        Command::Verify {
            collections,
            repair,
        } => verify(app, out, collections, repair).await,
        Command::Cloud { choice } => cloud(app, out, choice).await,
        Command::History { collection, id } => {
            let versions = app.versions(&collection, &id).await?;
            out.show(&versions, |v| {
                output::versions_text(&collection, &id, v, &Clock::system())
            })
        }
        Command::Restore {
            collection,
            id,
            version,
        } => {
            let restored = app.restore(&collection, &id, version).await?;
            out.show(&restored, output::restored_text)
        }
        Command::UndoRun { run_id, dry_run } => {
            let undo = app.undo_run(&run_id, dry_run).await?;
            out.show(&undo, output::undo_run_text)
        }
        Command::About => {
            let about = about(engine.settings());
            out.show(&about, output::about_text)
        }
        Command::SupportBundle { out: path } => {
            let path = path.unwrap_or_else(|| {
                std::path::PathBuf::from(support::file_name(chrono::Utc::now()))
            });
            let written = app
                .support_file(&path, &about(engine.settings()), &[])
                .await?;
            out.show(&written, output::support_file_text)
        }
        Command::Completions { shell } => {
            completions(shell);
            Ok(())
        }
        Command::Serve { bind, token_file } => {
            crate::serve::run(engine.clone(), crate::serve::Options { bind, token_file }).await
        }
    }
}

/// `templesync sync`: the run's results; exit 1 when it did not complete.
async fn sync(app: &App, out: &Out, collections: Vec<String>) -> anyhow::Result<()> {
    out.text(&output::sync_start_text(&collections));
    let run = app.sync_now(collections, out.progress()).await?;
    let unresolved = app.conflicts(Some(false), None).await?.len() as u64;
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

/// `templesync verify`: exit 1 when the sides differ.
async fn verify(
    app: &App,
    out: &Out,
    collections: Vec<String>,
    repair: bool,
) -> anyhow::Result<()> {
    let collections = (!collections.is_empty()).then_some(collections);
    let report = app.engine().verify(collections, repair).await?;
    out.show(&report, output::verify_text)?;
    match report.matches {
        true => Ok(()),
        false => Err(RunFailed(report.summary).into()),
    }
}

/// `templesync cloud send-local|accept`.
async fn cloud(app: &App, out: &Out, choice: CloudAction) -> anyhow::Result<()> {
    let choice = match choice {
        CloudAction::SendLocal => CloudChoice::SendLocal,
        CloudAction::Accept => CloudChoice::AcceptCloud,
    };
    app.engine().choose_cloud(choice).await?;
    out.show(&serde_json::json!({ "choice": choice }), |_| {
        output::cloud_choice_text(choice)
    })
}

/// `templesync completions SHELL`: the completion script on standard output.
pub fn completions(shell: clap_complete::Shell) {
    use clap::CommandFactory;
    let mut cmd = crate::args::Cli::command();
    clap_complete::generate(shell, &mut cmd, "templesync", &mut std::io::stdout());
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
