//! The support file: one zip a person can send to whoever helps them, with what that helper
//! needs and nothing private. It holds the log files, the last [`RUNS`] runs, the open
//! conflicts (which documents and fields, never their contents), the versions and folders, the
//! sync settings and the connection with every password removed.
//!
//! Every entry is scrubbed of the connection strings' passwords in every form they can take
//! (as typed, percent-decoded, percent-encoded) before it is written, whatever wrote it; a
//! part that cannot be read (the database is down) is replaced by why, and the file is made
//! anyway.

use std::io::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;
use zip::write::SimpleFileOptions;

use super::App;
use super::about::About;
use crate::conflicts::{Conflict, ConflictKind};
use crate::error::{Error, Result};
use crate::log_files;
use crate::settings::scrub;

/// How many runs the support file holds.
pub const RUNS: u32 = 50;

/// What was written.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SupportFile {
    pub path: String,
    /// The entries in the zip.
    pub entries: Vec<String>,
    pub bytes: u64,
    /// The parts that could not be read (said inside the file too).
    pub missing: Vec<String>,
}

/// An open conflict without the documents' contents.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConflictOutline {
    id: String,
    kind: ConflictKind,
    collection: String,
    local_id: String,
    remote_id: String,
    /// The fields that differ (names only).
    fields: Vec<String>,
    deleted_on: Option<String>,
    count: Option<u32>,
    timestamp: DateTime<Utc>,
}

impl From<&Conflict> for ConflictOutline {
    fn from(c: &Conflict) -> ConflictOutline {
        let mut fields: Vec<String> = c.fields.iter().map(|f| f.path.clone()).collect();
        if fields.is_empty() {
            fields.extend(c.field.clone());
        }
        ConflictOutline {
            id: c.id.clone(),
            kind: c.kind,
            collection: c.collection.clone(),
            local_id: c.local_id.clone(),
            remote_id: c.remote_id.clone(),
            fields,
            deleted_on: c.deleted_on.clone(),
            count: c.count,
            timestamp: c.timestamp,
        }
    }
}

/// The zip being made: every entry scrubbed on its way in.
struct Bundle {
    zip: zip::ZipWriter<std::fs::File>,
    secrets: Vec<String>,
    entries: Vec<String>,
    missing: Vec<String>,
}

impl Bundle {
    fn add(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(bytes);
        let clean = scrub(&text, &self.secrets);
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        self.zip.start_file(name, options)?;
        self.zip.write_all(clean.as_bytes())?;
        self.entries.push(name.to_string());
        Ok(())
    }

    fn add_json<T: Serialize>(&mut self, name: &str, what: Result<T>) -> std::io::Result<()> {
        let value = match what {
            Ok(v) => serde_json::to_value(v).unwrap_or_default(),
            Err(e) => {
                self.missing.push(format!("{name}: {e}"));
                serde_json::json!({ "couldNotBeRead": e.to_string() })
            }
        };
        let text = serde_json::to_vec_pretty(&value).unwrap_or_default();
        self.add(name, &text)
    }
}

impl App {
    /// Writes the support file to `path` (replacing one there). `about` says which program
    /// asks; `more_secrets` are passwords the front end knows of beyond the connection in use
    /// (e.g. a saved one not in use), removed too.
    pub async fn support_file(
        &self,
        path: &Path,
        about: &About,
        more_secrets: &[String],
    ) -> Result<SupportFile> {
        let failed = |e: &dyn std::fmt::Display| Error::LocalFile {
            action: "write the support file",
            path: path.display().to_string(),
            reason: e.to_string(),
            advice: "Choose a folder this user may write in, with some free space",
        };
        let mut secrets = self.engine.settings().secrets();
        secrets.extend(more_secrets.iter().cloned());
        let runs = self.history(RUNS).await;
        let conflicts = self
            .conflicts(Some(false), None)
            .await
            .map(|list| list.iter().map(ConflictOutline::from).collect::<Vec<_>>());
        let config = self.settings().await;
        let overview = self.overview().await;
        let tmp = path.with_extension(format!(
            "part{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let file = std::fs::File::create(&tmp).map_err(|e| failed(&e))?;
        let mut b = Bundle {
            zip: zip::ZipWriter::new(file),
            secrets,
            entries: Vec::new(),
            missing: Vec::new(),
        };
        let written = fill(&mut b, about, &overview, config, runs, conflicts);
        let Bundle {
            zip,
            entries,
            missing,
            ..
        } = b;
        let written = written.and_then(|()| zip.finish().map(drop).map_err(std::io::Error::other));
        let done = written.and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = done {
            let _ = std::fs::remove_file(&tmp);
            return Err(failed(&e));
        }
        let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Ok(SupportFile {
            path: path.display().to_string(),
            entries,
            bytes,
            missing,
        })
    }
}

/// Every entry, in the order a helper reads them.
fn fill(
    b: &mut Bundle,
    about: &About,
    overview: &super::Overview,
    config: Result<crate::SyncConfig>,
    runs: Result<Vec<crate::SyncRun>>,
    conflicts: Result<Vec<ConflictOutline>>,
) -> std::io::Result<()> {
    b.add_json("about.json", Ok(about))?;
    b.add_json("status.json", Ok(overview))?;
    b.add_json("sync-settings.json", config)?;
    b.add_json("runs.json", runs)?;
    b.add_json("open-conflicts.json", conflicts)?;
    if let Some(places) = &about.places {
        for f in log_files::files_in(&places.logs) {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            match std::fs::read(&f) {
                Ok(bytes) => b.add(&format!("logs/{name}"), &bytes)?,
                Err(e) => b.missing.push(format!("logs/{name}: {e}")),
            }
        }
    }
    let readme = readme(&b.missing);
    b.add("README.txt", readme.as_bytes())
}

fn readme(missing: &[String]) -> String {
    let mut s = String::from(
        "TempleSync support file\n\
         =======================\n\n\
         about.json            versions, system, where TempleSync keeps its files, the databases (no passwords)\n\
         status.json           the state as the status screen shows it\n\
         sync-settings.json    the sync settings (sync_config)\n\
         runs.json             the last 50 runs\n\
         open-conflicts.json   the open conflicts: which documents and fields, not their contents\n\
         logs/                 the log files of the app, `templesync serve` and the command line\n\n\
         Every password of the connection strings was removed from every file.\n",
    );
    if !missing.is_empty() {
        s.push_str("\nCould not be read when this file was made:\n");
        for m in missing {
            s.push_str(&format!("- {m}\n"));
        }
    }
    s
}

/// A name for a support file made now: `templesync-support-2026-12-03-1530.zip`.
pub fn file_name(now: DateTime<Utc>) -> String {
    format!(
        "templesync-support-{}.zip",
        now.with_timezone(&chrono::Local).format("%Y-%m-%d-%H%M%S")
    )
}
