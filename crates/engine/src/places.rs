//! Where TempleSync keeps its files on this computer: the same folders for the desktop app,
//! the CLI and `templesync serve`, in each system's usual places (the `directories` crate):
//!
//! | what                    | Linux                              | Windows                                      | macOS                                            |
//! |-------------------------|------------------------------------|----------------------------------------------|--------------------------------------------------|
//! | settings (`config`)     | `$XDG_CONFIG_HOME/templesync`      | `%APPDATA%\TempleSync\TempleSync\config`     | `~/Library/Application Support/org.TempleSync.TempleSync` |
//! | data                    | `$XDG_DATA_HOME/templesync`        | `%APPDATA%\TempleSync\TempleSync\data`       | same as settings                                 |
//! | logs                    | `$XDG_STATE_HOME/templesync/logs`  | `%LOCALAPPDATA%\TempleSync\TempleSync\data\logs` | `~/Library/Logs/TempleSync`                  |
//!
//! `TEMPLESYNC_HOME`, when set, puts all three under one folder instead (a portable install,
//! or a test that must not touch the real ones).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// `TEMPLESYNC_HOME`: one folder for everything (settings, data and logs under it).
pub const HOME_VAR: &str = "TEMPLESYNC_HOME";

/// TempleSync's folders on this computer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Places {
    /// This computer's own settings (its pause, the API token).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub config: PathBuf,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub data: PathBuf,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub logs: PathBuf,
}

impl Places {
    /// The folders for the person running this process. `Err` only when the system says
    /// nothing about where a home folder is (no `HOME`), which a person can fix by setting
    /// `TEMPLESYNC_HOME`.
    pub fn of_this_user() -> Result<Places> {
        if let Some(home) = std::env::var_os(HOME_VAR).filter(|h| !h.is_empty()) {
            return Ok(Places::under(Path::new(&home)));
        }
        let dirs = directories::ProjectDirs::from("org", "TempleSync", "TempleSync").ok_or_else(
            || Error::InvalidConfig {
                field: HOME_VAR.to_string(),
                reason: "this computer does not say where the home folder is (HOME is not set): set TEMPLESYNC_HOME to the folder TempleSync may keep its files in".to_string(),
            },
        )?;
        Ok(Places {
            config: dirs.config_dir().to_path_buf(),
            data: dirs.data_dir().to_path_buf(),
            logs: logs_of(&dirs),
        })
    }

    /// Everything under one folder.
    pub fn under(home: &Path) -> Places {
        Places {
            config: home.join("config"),
            data: home.join("data"),
            logs: home.join("logs"),
        }
    }
}

/// The usual folder for an application's logs: the XDG state folder on Linux (where the spec
/// puts logs), `~/Library/Logs` on macOS, beside the local data on Windows.
fn logs_of(dirs: &directories::ProjectDirs) -> PathBuf {
    if cfg!(target_os = "macos")
        && let Some(home) = directories::BaseDirs::new()
    {
        return home.home_dir().join("Library/Logs/TempleSync");
    }
    dirs.state_dir()
        .unwrap_or_else(|| dirs.data_local_dir())
        .join("logs")
}

/// Creates `dir` (and its parents) readable by this user only where the system has such
/// permissions, so that settings and logs are not read by other accounts of the computer.
pub fn make_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::LocalFile {
        action: "create the folder",
        path: dir.display().to_string(),
        reason: e.to_string(),
        advice: "Check that this user may write there, or set TEMPLESYNC_HOME to a folder it may write in",
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    // On Windows the folders under the user's profile are the user's own already.
    Ok(())
}

/// Writes `bytes` to `path` whole or not at all (a temporary file beside it, then a rename),
/// readable by this user only on Unix.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let failed = |e: std::io::Error| Error::LocalFile {
        action: "write",
        path: path.display().to_string(),
        reason: e.to_string(),
        advice: "Check that the disk is not full and that this user may write there",
    };
    if let Some(dir) = path.parent() {
        make_private_dir(dir)?;
    }
    // Its own temporary name: two writes at once (two requests of one server) must not
    // share one.
    let tmp = path.with_extension(format!(
        "tmp{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| {
        use std::io::Write as _;
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_home_holds_settings_data_and_logs_apart() {
        let p = Places::under(Path::new("/x"));
        assert_eq!(p.config, Path::new("/x/config"));
        assert_eq!(p.data, Path::new("/x/data"));
        assert_eq!(p.logs, Path::new("/x/logs"));
    }

    #[test]
    fn a_private_file_is_written_whole_and_for_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/settings.json");
        write_private(&path, b"{\"x\":1}").unwrap();
        write_private(&path, b"{}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
    }

    /// Two requests of one server pausing at once each write the file whole; neither fails
    /// (they once shared a temporary name and the second rename found nothing).
    #[test]
    fn writes_at_once_from_one_process_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("this-pc.json");
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    write_private(&path, format!("{{\"n\":{i}}}").as_bytes())
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().expect("each write succeeds");
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"n\":"), "one whole write: {text}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
