//! `templesync`: the command line over the TempleSync engine, for the temple office and for
//! scripts (`--json`). Each subcommand is a few lines over [`templesync_engine::Engine`];
//! the screens live in `output`.

mod args;
mod commands;
mod output;
mod pause;
mod serve;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;

use templesync_engine::{Engine, EngineOptions, Error, log_files};
use tracing_subscriber::EnvFilter;

use crate::args::{Cli, Command};
use crate::output::Out;

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cli = match parse(&argv) {
        Ok(cli) => cli,
        Err(e) => return bad_arguments(e, argv.iter().any(|a| a == "--json")),
    };
    // Needs no database: answered before any is opened.
    if let Command::Completions { shell } = cli.command {
        commands::completions(shell);
        return ExitCode::SUCCESS;
    }
    // Before any thread starts: loading `.env` sets process environment variables.
    let dotenv_problem = load_dotenv();
    // A server's log is its record of what happened: info by default. Commands show only
    // warnings, so their output stays the answer.
    let quiet = if matches!(cli.command, Command::Serve { .. }) {
        "info"
    } else {
        "warn"
    };
    let program = if matches!(cli.command, Command::Serve { .. }) {
        log_files::Program::Serve
    } else {
        log_files::Program::Cli
    };
    // Kept to the end: what is buffered for the log file is written when it drops.
    let _log_file = init_tracing(cli.global.verbose, quiet, program);
    if let Some(p) = dotenv_problem {
        tracing::warn!("could not read the .env file: {p}");
    }

    let out = Out::new(cli.global.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out.error("internal", &format!("cannot start: {e}"), None);
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let settings = commands::settings(&cli.global, |k| std::env::var(k).ok());
        // Tests only (tests/faults.rs): stop at a step so the process can be killed there.
        let hook = pause::from_env().map_err(|reason| Error::InvalidConfig {
            field: pause::PAUSE_AT.into(),
            reason,
        })?;
        let engine = Engine::open_with(
            settings,
            EngineOptions {
                hook,
                ..Default::default()
            },
        )
        .await?;
        let app = templesync_engine::App::new(engine.clone());
        let result = commands::run(cli.command, &app, &out).await;
        engine.shutdown().await;
        result
    });
    // Whatever is still running (the server's background tasks) gets a bounded time to end:
    // a stopped `serve` must exit even if a task is stuck.
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, &out),
    }
}

/// The command line, with clap's colours off under `NO_COLOR`.
fn parse(argv: &[OsString]) -> Result<Cli, clap::Error> {
    use clap::{ColorChoice, CommandFactory, FromArgMatches};
    let color = if output::color_allowed() {
        ColorChoice::Auto
    } else {
        ColorChoice::Never
    };
    let matches = Cli::command().color(color).try_get_matches_from(argv)?;
    Cli::from_arg_matches(&matches)
}

/// Loads `.env` from the working directory; real environment variables win.
fn load_dotenv() -> Option<String> {
    match dotenvy::from_path(".env") {
        Ok(()) => None,
        Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(e.to_string()),
    }
}

/// On stderr: `default` (warnings for commands) unless `TEMPLESYNC_LOG` chooses, everything
/// with `-v`, so stdout stays the answer. In the program's log file (see
/// [`log_files`]): what happened at info level, for the support file. A log file that cannot
/// be opened is said once on stderr; the command runs on.
fn init_tracing(
    verbose: bool,
    default: &str,
    program: log_files::Program,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = if verbose {
        EnvFilter::new("debug")
    } else {
        EnvFilter::try_from_env("TEMPLESYNC_LOG").unwrap_or_else(|_| EnvFilter::new(default))
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(verbose)
        .with_ansi(std::io::stderr().is_terminal() && output::color_allowed())
        .with_filter(filter);
    let (file, guard, problem) = match log_files::open(program) {
        Ok(f) => {
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(f.writer)
                .with_ansi(false)
                .with_filter(EnvFilter::new(log_files::FILE_FILTER));
            (Some(layer), Some(f.guard), None)
        }
        Err(e) => (None, None, Some(e)),
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .init();
    if let Some(e) = problem {
        tracing::warn!("no log file: {e}");
    }
    guard
}

fn bad_arguments(e: clap::Error, json: bool) -> ExitCode {
    // Help and --version are answers, not errors.
    if json && e.use_stderr() {
        // clap's message up to the usage: its first line alone may not name the argument
        // ("the following required arguments were not provided:" is followed by them).
        let text = e.to_string();
        let said: Vec<&str> = text
            .lines()
            .map(str::trim)
            .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
            .collect();
        let joined = said.join(" ");
        let message = joined.strip_prefix("error: ").unwrap_or(&joined);
        output::json_error("bad_arguments", message);
        // The same words on stderr, on one line, as for every other refusal.
        eprintln!("Error: {message}");
        return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
    }
    let _ = e.print();
    ExitCode::from(e.exit_code().clamp(0, 255) as u8)
}

/// Exit code 2 when the person must fix something (what they typed, a setting, a password),
/// 1 for everything else (a run that failed, a database that cannot be reached now, a run
/// in progress). The engine says which kind an error is; this is the one place that maps it.
fn exit_code(e: &Error) -> u8 {
    if e.kind().is_for_the_user_to_fix() {
        2
    } else {
        1
    }
}

/// A hint beyond the engine's message, naming this command's own flags and subcommands
/// (the engine's messages, shown by every front end, name none).
fn hint(e: &Error) -> Option<String> {
    match e {
        Error::RemoteNotConfigured => {
            let dir = std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| ".".into());
            Some(format!(
                "Hint: add a line such as\n  MONGODB_CLOUD_URL=mongodb+srv://USER:PASSWORD@cluster0.example.net\nto the .env file in {dir} (or pass --remote-url), then check with: templesync status"
            ))
        }
        Error::ConflictNotFound { .. } => {
            Some("Hint: list them with: templesync conflicts --all".to_string())
        }
        Error::ValueNeeded { .. } => Some("Hint: give it with --value VALUE".to_string()),
        _ => None,
    }
}

fn report(err: &anyhow::Error, out: &Out) -> ExitCode {
    if let Some(failed) = err.downcast_ref::<commands::RunFailed>() {
        // The run's results, error included, are already on stdout.
        output::stderr_line(&format!("Error: {failed}"));
        return ExitCode::from(1);
    }
    match err.downcast_ref::<Error>() {
        Some(e) => {
            out.error(e.code(), &e.to_string(), hint(e).as_deref());
            ExitCode::from(exit_code(e))
        }
        None => {
            out.error("internal", &format!("{err:#}"), None);
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_exits_2_and_runtime_trouble_exits_1() {
        assert_eq!(exit_code(&Error::UnknownStrategy("x".into())), 2);
        assert_eq!(exit_code(&Error::ConflictNotFound { id: "x".into() }), 2);
        assert_eq!(
            exit_code(&Error::InvalidConfig {
                field: "batchSize".into(),
                reason: "r".into()
            }),
            2
        );
        assert_eq!(
            exit_code(&Error::SyncInProgress {
                holder: String::new()
            }),
            1
        );
        assert_eq!(
            exit_code(&Error::RemoteNotConfigured),
            2,
            "a setting to fix is for the user"
        );
        assert_eq!(
            exit_code(&Error::AuthenticationFailed {
                side: templesync_engine::error::Side::Remote,
                host: "h".into(),
                setting: "MONGODB_CLOUD_URL",
            }),
            2
        );
        assert_eq!(
            exit_code(&Error::RemoteUnreachable {
                host: "h".into(),
                reason: "r".into()
            }),
            1
        );
    }

    #[test]
    fn a_missing_cloud_gets_a_hint_naming_the_variable() {
        let h = hint(&Error::RemoteNotConfigured).expect("a hint");
        assert!(
            h.contains("MONGODB_CLOUD_URL=") && h.contains(".env"),
            "{h}"
        );
    }
}
