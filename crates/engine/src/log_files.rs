//! TempleSync's log files, in this computer's log folder ([`Places::logs`]): one per program
//! (`app.log`, `serve.log`, `cli.log`), started afresh each day or at [`MAX_FILE_BYTES`],
//! with the [`KEPT_FILES`] before it kept (`app.log.1` the newest) and older ones deleted. So
//! a program's logs never take more than `(KEPT_FILES + 1) * MAX_FILE_BYTES` of disk, and a
//! quiet office keeps more than a week of them.
//!
//! The policy lives here; each front end only says which program it is and adds the writer to
//! its `tracing` subscriber.

use std::path::{Path, PathBuf};

use rolling_file::{BasicRollingFileAppender, RollingConditionBasic};
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};

use crate::error::{Error, Result};
use crate::places::{Places, make_private_dir};

/// The largest a log file grows before the next one is started.
pub const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;
/// How many earlier files are kept beside the current one.
pub const KEPT_FILES: usize = 6;

/// What goes in the files (`tracing`'s `EnvFilter` syntax): what happened, without the
/// driver's chatter.
pub const FILE_FILTER: &str = "info,mongodb=warn,tao=warn,wry=warn,hyper=warn";

/// Which program writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    App,
    Serve,
    Cli,
}

impl Program {
    pub fn file_name(self) -> &'static str {
        match self {
            Program::App => "app.log",
            Program::Serve => "serve.log",
            Program::Cli => "cli.log",
        }
    }
}

/// A writer to the program's log file. Keep the guard for as long as the program runs: what
/// is still buffered is written when it is dropped.
pub struct LogFile {
    pub writer: NonBlocking,
    pub guard: WorkerGuard,
    pub path: PathBuf,
}

/// Opens the program's log file in this user's log folder.
pub fn open(program: Program) -> Result<LogFile> {
    open_in(&Places::of_this_user()?.logs, program)
}

/// Opens the program's log file in `dir`.
pub fn open_in(dir: &Path, program: Program) -> Result<LogFile> {
    make_private_dir(dir)?;
    let path = dir.join(program.file_name());
    let condition = RollingConditionBasic::new()
        .daily()
        .max_size(MAX_FILE_BYTES);
    let appender = BasicRollingFileAppender::new(&path, condition, KEPT_FILES).map_err(|e| {
        Error::LocalFile {
            action: "open the log file",
            path: path.display().to_string(),
            reason: e.to_string(),
            advice: "Check that this user may write there; TempleSync runs on without a log file",
        }
    })?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    Ok(LogFile {
        writer,
        guard,
        path,
    })
}

/// The log files in `dir`, newest first by name within each program (for the support file).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.contains(".log"))
        })
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn a_full_log_file_rolls_over_and_only_so_many_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Program::Cli.file_name());
        let condition = RollingConditionBasic::new().max_size(1000);
        let mut appender = BasicRollingFileAppender::new(&path, condition, KEPT_FILES).unwrap();
        let line = [b'x'; 99];
        for _ in 0..200 {
            appender.write_all(&line).unwrap();
            appender.write_all(b"\n").unwrap();
        }
        appender.flush().unwrap();
        let files = files_in(dir.path());
        assert_eq!(files.len(), KEPT_FILES + 1, "{files:?}");
        let total: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum();
        assert!(total <= (KEPT_FILES as u64 + 1) * 1000, "{total} bytes");
    }

    #[test]
    fn each_program_writes_its_own_file_in_the_folder_it_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let f = open_in(&logs, Program::Serve).unwrap();
        assert_eq!(f.path, logs.join("serve.log"));
        let mut w = f.writer.clone();
        w.write_all(b"hello\n").unwrap();
        drop(w);
        drop(f.guard);
        assert_eq!(
            std::fs::read_to_string(logs.join("serve.log")).unwrap(),
            "hello\n"
        );
    }
}
