//! The command line, as clap sees it. Help texts are written for the person in the temple
//! office who runs these commands, not for developers.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};
use templesync_engine::Strategy;

const COMMON_COMMANDS: &str = "\
Most common commands:
  templesync status                                   Is the cloud reachable? When was the last sync?
  templesync sync                                     Sync now, both ways
  templesync conflicts                                What needs a decision, and how to decide it
  templesync resolve <ID> --strategy rename_local     Settle one conflict

Connection settings come from MONGODB_LOCAL_URL, MONGODB_CLOUD_URL and DATABASE_NAME,
read from the environment or from a .env file in the current folder.";

#[derive(Debug, Parser)]
#[command(
    name = "templesync",
    version,
    about = "Keep the temple's local database and the cloud database in step, both ways",
    after_help = COMMON_COMMANDS
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options (work with every command)")]
pub struct GlobalArgs {
    /// Local database connection string (default: $MONGODB_LOCAL_URL, else mongodb://localhost:27017)
    #[arg(long, global = true, value_name = "URL")]
    pub local_url: Option<String>,

    /// Cloud database connection string (default: $MONGODB_CLOUD_URL)
    #[arg(long, global = true, value_name = "URL")]
    pub remote_url: Option<String>,

    /// Database name, the same on both sides (default: $DATABASE_NAME, else temple_db)
    #[arg(long, global = true, value_name = "NAME")]
    pub database: Option<String>,

    /// Print one JSON document on standard output instead of text, for scripts
    #[arg(long, global = true)]
    pub json: bool,

    /// Show what TempleSync is doing, step by step (on standard error)
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show whether the cloud is reachable, the last sync and open conflicts
    Status,

    /// Sync now: send local changes to the cloud and bring cloud changes here
    Sync {
        /// Sync only these collections (e.g. --collections admins bookings)
        #[arg(long, num_args = 1.., value_name = "NAME")]
        collections: Vec<String>,
    },

    /// List the conflicts that need a decision, with what you can do about each
    Conflicts {
        /// Also list conflicts that were already resolved
        #[arg(long)]
        all: bool,

        /// Only conflicts in this collection (e.g. admins)
        #[arg(long, value_name = "NAME")]
        collection: Option<String>,
    },

    /// Settle one conflict (its ID is shown by `templesync conflicts`)
    Resolve {
        /// The conflict ID, as shown by `templesync conflicts`
        id: String,

        /// How to settle it
        #[arg(long, short, value_name = "STRATEGY")]
        strategy: StrategyArg,

        /// The new value to use (for rename_local, keep_local or merge)
        #[arg(long, value_name = "VALUE")]
        value: Option<String>,

        /// A note to keep with the decision (why it was made)
        #[arg(long, value_name = "TEXT")]
        notes: Option<String>,

        /// Who made the decision (default: the name you are logged in with)
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },

    /// Settle the simple conflicts automatically; leave the rest for a person
    AutoResolve {
        /// Look at no more than this many conflicts
        #[arg(long, default_value_t = 10, value_name = "N")]
        max: u32,

        /// Who to record as having decided (default: the name you are logged in with)
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },

    /// Show the sync settings, or change them with `config set KEY=VALUE`
    Config {
        #[command(subcommand)]
        action: Option<ConfigAction>,
    },

    /// Show the most recent syncs, newest first
    Logs {
        /// How many syncs to show
        #[arg(long, short = 'n', default_value_t = 20, value_name = "N")]
        limit: u32,
    },

    /// Check whether this computer and the cloud hold the same documents (changes nothing)
    Verify {
        /// Check only these collections (default: those a sync covers)
        #[arg(long, num_args = 1.., value_name = "NAME")]
        collections: Vec<String>,

        /// List the documents that differ for the next sync to look at again
        #[arg(long)]
        repair: bool,
    },

    /// The cloud is not the one this computer last synced with (restored from a backup, or
    /// another cluster): choose what the next sync does
    Cloud {
        #[command(subcommand)]
        choice: CloudAction,
    },

    /// Pause syncing on this computer (the others go on): nothing syncs by itself here until
    /// it ends or `templesync resume`; `templesync sync` still works
    #[command(
        after_help = "Examples:\n  templesync pause --for 1h     for an hour\n  templesync pause              until `templesync resume`"
    )]
    Pause {
        /// How long, e.g. 30m, 1h, 2h30m, 1d (at most 7d); without it, until you resume
        #[arg(long = "for", value_name = "HOW_LONG", value_parser = parse_minutes)]
        minutes: Option<u32>,
    },

    /// Sync by itself again on this computer after `templesync pause`
    Resume,

    /// The versions of one document that syncs on this computer overwrote or deleted, newest
    /// first, with what changed
    History {
        /// The collection, e.g. bookings
        collection: String,
        /// The document's _id, e.g. 6b0f3c... or 17
        id: String,
    },

    /// Write a kept version of a document back on this computer, as a new edit that the next
    /// sync sends (see `templesync history`)
    Restore {
        /// The collection, e.g. bookings
        collection: String,
        /// The document's _id
        id: String,
        /// Which version (1 is the newest, as `templesync history` numbers them)
        #[arg(long, value_name = "N")]
        version: u32,
    },

    /// Take a sync run back: every document it overwrote or deleted on this computer, and
    /// every cloud version it replaced, written here as a new edit that the next sync sends
    UndoRun {
        /// The run's id, as `templesync logs --json` shows it
        run_id: String,
        /// Only list what it would do; change nothing
        #[arg(long)]
        dry_run: bool,
    },

    /// Which TempleSync this is, and where it keeps its settings, data and logs
    About,

    /// Write a support file (a zip with the logs, the last 50 syncs, the open conflicts
    /// without their contents, the versions and the settings, every password removed) to send
    /// to whoever helps you
    SupportBundle {
        /// Where to write it [default: templesync-support-<date>-<time>.zip in the current folder]
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },

    /// Print a shell completion script, e.g. `templesync completions bash > /etc/bash_completion.d/templesync`
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },

    /// Serve the REST API for the temple's other software, and keep syncing in the background
    /// (see docs/operations.md)
    Serve {
        /// Address and port to listen on. Only this computer can reach the default; any other
        /// address makes the API reachable from the network
        #[arg(long, default_value = "127.0.0.1:8000", value_name = "ADDRESS:PORT")]
        bind: SocketAddr,

        /// The file holding the API token, made on the first start [default: api-token in
        /// TempleSync's settings folder, shown by `templesync about`].
        /// TEMPLESYNC_API_TOKEN, when set, is used instead
        #[arg(long, value_name = "PATH")]
        token_file: Option<PathBuf>,
    },
}

/// `--strategy`: the engine's strategies, checked and completed by clap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyArg(pub Strategy);

static STRATEGIES: [StrategyArg; 4] = [
    StrategyArg(Strategy::ALL[0]),
    StrategyArg(Strategy::ALL[1]),
    StrategyArg(Strategy::ALL[2]),
    StrategyArg(Strategy::ALL[3]),
];

impl ValueEnum for StrategyArg {
    fn value_variants<'a>() -> &'a [Self] {
        &STRATEGIES
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self.0 {
            Strategy::RenameLocal => "give this computer's document a new value (--value)",
            Strategy::KeepRemote => "keep the cloud's version",
            Strategy::KeepLocal => "keep this computer's version",
            Strategy::Merge => "combine both, with the value given by --value",
        };
        Some(PossibleValue::new(self.0.as_str()).help(help))
    }
}

#[derive(Debug, Subcommand)]
pub enum CloudAction {
    /// Treat this cloud as new and send this computer's data to it: nothing is deleted on
    /// either side; a document that differs on the two sides becomes a conflict
    SendLocal,
    /// Accept the cloud as it is now: documents it no longer has are removed here (unless
    /// edited here since, which become conflicts; large removals still ask first)
    Accept,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Change settings, e.g. `config set syncIntervalMinutes=60 batchSize=200`
    Set {
        /// One or more KEY=VALUE pairs (run `templesync config` to see the keys)
        #[arg(required = true, value_name = "KEY=VALUE")]
        assignments: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "templesync",
            "status",
            "--json",
            "--remote-url",
            "mongodb://h:1",
        ])
        .unwrap();
        assert!(cli.global.json, "--json after the subcommand must count");
        assert_eq!(cli.global.remote_url.as_deref(), Some("mongodb://h:1"));
    }

    #[test]
    fn sync_takes_several_collections() {
        let cli =
            Cli::try_parse_from(["templesync", "sync", "--collections", "admins", "bookings"])
                .unwrap();
        match cli.command {
            Command::Sync { collections } => assert_eq!(collections, ["admins", "bookings"]),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn serve_listens_on_this_computer_only_by_default() {
        let cli = Cli::try_parse_from(["templesync", "serve"]).unwrap();
        match cli.command {
            Command::Serve { bind, token_file } => {
                assert!(bind.ip().is_loopback(), "{bind}");
                assert_eq!(bind.port(), 8000);
                assert_eq!(token_file, None);
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from(["templesync", "serve", "--bind", "nowhere"]).is_err());
    }

    #[test]
    fn strategy_is_checked_by_the_parser_and_lists_every_choice() {
        let cli = Cli::try_parse_from(["templesync", "resolve", "x", "-s", "keep_local"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Resolve {
                strategy: StrategyArg(Strategy::KeepLocal),
                ..
            }
        ));
        let e = Cli::try_parse_from(["templesync", "resolve", "x", "-s", "keep_both"]).unwrap_err();
        let text = e.to_string();
        for s in Strategy::ALL {
            assert!(text.contains(s.as_str()), "{text}");
        }
    }

    #[test]
    fn config_set_needs_at_least_one_assignment() {
        assert!(Cli::try_parse_from(["templesync", "config", "set"]).is_err());
        let cli = Cli::try_parse_from(["templesync", "config", "set", "batchSize=5"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Config {
                action: Some(ConfigAction::Set { .. })
            }
        ));
    }
}

/// "30m", "1h", "2h30m", "1d" as minutes.
fn parse_minutes(text: &str) -> Result<u32, String> {
    let bad = || format!("'{text}' is not a length of time: write it like 30m, 1h, 2h30m or 1d");
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut any = false;
    for c in text.trim().to_ascii_lowercase().chars() {
        match c {
            '0'..='9' => number.push(c),
            'd' | 'h' | 'm' => {
                let n: u64 = number.parse().map_err(|_| bad())?;
                number.clear();
                let per = match c {
                    'd' => 24 * 60,
                    'h' => 60,
                    _ => 1,
                };
                total = total.saturating_add(n.saturating_mul(per));
                any = true;
            }
            _ => return Err(bad()),
        }
    }
    if !number.is_empty() || !any {
        return Err(bad());
    }
    u32::try_from(total).map_err(|_| bad())
}

#[cfg(test)]
mod pause_tests {
    use super::parse_minutes;

    #[test]
    fn lengths_of_time_are_read_as_people_write_them() {
        assert_eq!(parse_minutes("30m"), Ok(30));
        assert_eq!(parse_minutes("1h"), Ok(60));
        assert_eq!(parse_minutes("2H30m"), Ok(150));
        assert_eq!(parse_minutes(" 1d "), Ok(1440));
        for bad in ["", "30", "h", "1x", "1.5h", "-1h", "99999999999999d"] {
            let e = parse_minutes(bad).unwrap_err();
            assert!(e.contains("30m, 1h"), "{bad}: {e}");
        }
    }
}
