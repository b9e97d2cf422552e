//! Settings of this computer alone, kept in a file in its settings folder
//! ([`Places::config`](crate::places::Places)), never in the shared `sync_config`: pausing
//! syncing at one counter must not pause the others.
//!
//! Today that is the pause: "for 1 hour" or "until I resume". While it holds, nothing syncs by
//! itself here (no start-up, reconnect, periodic or other automatic run); a person's own
//! "Sync now" still runs. The desktop app, `templesync serve` and the CLI read the same file,
//! so a pause set in one is seen by the others at their next look.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::places::{Places, write_private};

/// The file's name in the settings folder.
pub const FILE_NAME: &str = "this-pc.json";

/// The longest timed pause: past it a person should choose "until I resume" knowingly.
pub const MAX_PAUSE_MINUTES: u32 = 7 * 24 * 60;

/// A pause of syncing on this computer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Pause {
    pub since: DateTime<Utc>,
    /// When it ends by itself; none: when a person resumes.
    pub until: Option<DateTime<Utc>>,
}

impl Pause {
    /// Whether the pause still holds at `now`.
    pub fn holds_at(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

/// What is kept in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Kept {
    #[serde(default)]
    pause: Option<Pause>,
}

/// This computer's settings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThisPc {
    path: PathBuf,
}

impl ThisPc {
    /// The file in this user's settings folder.
    pub fn of_this_user() -> Result<ThisPc> {
        Ok(ThisPc::at(Places::of_this_user()?.config.join(FILE_NAME)))
    }

    pub fn at(path: impl Into<PathBuf>) -> ThisPc {
        ThisPc { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pause in force at `now`, if any (one that has run out counts as none).
    pub fn pause_at(&self, now: DateTime<Utc>) -> Result<Option<Pause>> {
        Ok(self.read()?.pause.filter(|p| p.holds_at(now)))
    }

    /// Pauses syncing here for `minutes` (none: until someone resumes), from `now`.
    pub fn pause(&self, minutes: Option<u32>, now: DateTime<Utc>) -> Result<Pause> {
        if let Some(m) = minutes
            && !(1..=MAX_PAUSE_MINUTES).contains(&m)
        {
            return Err(Error::InvalidRequest {
                field: "minutes".to_string(),
                reason: format!(
                    "{m} is out of range: pause for 1 to {MAX_PAUSE_MINUTES} minutes (a week), or until you resume"
                ),
            });
        }
        let pause = Pause {
            since: now,
            until: minutes.map(|m| now + chrono::Duration::minutes(i64::from(m))),
        };
        let mut kept = self.read()?;
        kept.pause = Some(pause);
        self.write(&kept)?;
        Ok(pause)
    }

    /// Ends the pause (nothing happens when there is none).
    pub fn resume(&self) -> Result<()> {
        let mut kept = self.read()?;
        if kept.pause.take().is_some() {
            self.write(&kept)?;
        }
        Ok(())
    }

    fn read(&self) -> Result<Kept> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Kept::default()),
            Err(e) => {
                return Err(Error::LocalFile {
                    action: "read",
                    path: self.path.display().to_string(),
                    reason: e.to_string(),
                    advice: "Check that this user may read it",
                });
            }
        };
        serde_json::from_str(&text).map_err(|e| Error::LocalFile {
            action: "read",
            path: self.path.display().to_string(),
            reason: format!("it is not a settings file TempleSync wrote ({e})"),
            advice: "Delete it to start again without a pause",
        })
    }

    fn write(&self, kept: &Kept) -> Result<()> {
        let json = serde_json::to_vec_pretty(kept).expect("the settings serialise");
        write_private(&self.path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn a_timed_pause_holds_until_its_end_and_then_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let pc = ThisPc::at(dir.path().join(FILE_NAME));
        assert_eq!(pc.pause_at(t(0)).unwrap(), None, "no file: not paused");
        let p = pc.pause(Some(60), t(0)).unwrap();
        assert_eq!(p.until, Some(t(3600)));
        assert_eq!(pc.pause_at(t(3599)).unwrap(), Some(p));
        assert_eq!(pc.pause_at(t(3600)).unwrap(), None);
    }

    #[test]
    fn a_pause_until_resumed_holds_until_resume() {
        let dir = tempfile::tempdir().unwrap();
        let pc = ThisPc::at(dir.path().join(FILE_NAME));
        pc.pause(None, t(0)).unwrap();
        assert!(pc.pause_at(t(10_000_000)).unwrap().is_some());
        pc.resume().unwrap();
        assert_eq!(pc.pause_at(t(1)).unwrap(), None);
        pc.resume().unwrap();
    }

    #[test]
    fn out_of_range_minutes_and_a_damaged_file_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let pc = ThisPc::at(&path);
        for bad in [0, MAX_PAUSE_MINUTES + 1] {
            let e = pc.pause(Some(bad), t(0)).unwrap_err();
            assert_eq!(e.code(), "invalid_request", "{bad}");
            assert!(e.to_string().contains("minutes"), "{e}");
        }
        assert!(!path.exists());
        std::fs::write(&path, "{not json").unwrap();
        let e = pc.pause(None, t(0)).unwrap_err();
        assert_eq!(e.code(), "local_file");
        assert!(e.to_string().contains(FILE_NAME), "{e}");
        assert!(e.to_string().contains("Delete it"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");
    }
}
