//! The record of each run in `sync_logs`.

use std::collections::BTreeMap;

use bson::{Bson, Document, doc, oid::ObjectId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Manual,
    Startup,
    Reconnect,
    Periodic,
    Automatic,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Startup => "startup",
            Trigger::Reconnect => "reconnect",
            Trigger::Periodic => "periodic",
            Trigger::Automatic => "automatic",
        }
    }

    fn parse(s: &str) -> Trigger {
        match s {
            "startup" => Trigger::Startup,
            "reconnect" => Trigger::Reconnect,
            "periodic" => Trigger::Periodic,
            "automatic" => Trigger::Automatic,
            _ => Trigger::Manual,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
    Failed,
    /// The process stopped or lost its connection mid-run; the next run completes the work.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> RunStatus {
        match s {
            "running" => RunStatus::Running,
            "completed" => RunStatus::Completed,
            "interrupted" => RunStatus::Interrupted,
            _ => RunStatus::Failed,
        }
    }
}

/// A document that could not be synced; the rest of the run went on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DocumentError {
    pub collection: String,
    pub document_id: String,
    pub message: String,
}

/// One run, as stored in `sync_logs` and returned by `sync`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SyncRun {
    #[serde(rename = "_id")]
    pub id: String,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub trigger: Trigger,
    pub collections: Vec<String>,
    /// Collection name -> documents sent to the cloud.
    pub local_to_remote: BTreeMap<String, u64>,
    /// Collection name -> documents brought from the cloud.
    pub remote_to_local: BTreeMap<String, u64>,
    /// Collection name -> conflicts found.
    pub conflicts: BTreeMap<String, u64>,
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub duration_seconds: Option<f64>,
    pub error: Option<String>,
    /// The error's code (see `Error::code`) when the run failed.
    pub error_code: Option<String>,
    pub errors: Vec<DocumentError>,
    /// Documents set aside (quarantined) per collection because a side refused them; they
    /// are also listed in `errors`, and tried again by every run.
    pub quarantined: BTreeMap<String, u64>,
    /// Documents read from each side, for measuring how much a run cost.
    pub documents_read: BTreeMap<String, u64>,
    pub host: String,
}

fn counts_doc(m: &BTreeMap<String, u64>) -> Document {
    m.iter()
        .map(|(k, v)| (k.clone(), Bson::Int64(*v as i64)))
        .collect()
}

fn counts_of(d: &Document, key: &str) -> BTreeMap<String, u64> {
    d.get_document(key)
        .map(|c| {
            c.iter()
                .map(|(k, v)| {
                    let n = match v {
                        Bson::Int32(i) => *i as u64,
                        Bson::Int64(i) => *i as u64,
                        Bson::Double(f) => *f as u64,
                        _ => 0,
                    };
                    (k.clone(), n)
                })
                .collect()
        })
        .unwrap_or_default()
}

impl SyncRun {
    pub(crate) fn to_document(&self) -> Document {
        let oid = ObjectId::parse_str(&self.id).unwrap_or_default();
        doc! {
            "_id": oid,
            "startTime": bson::DateTime::from_chrono(self.start_time),
            "endTime": self.end_time.map(|t| Bson::DateTime(bson::DateTime::from_chrono(t))).unwrap_or(Bson::Null),
            "status": self.status.as_str(),
            "trigger": self.trigger.as_str(),
            "collections": self.collections.clone(),
            "localToRemote": counts_doc(&self.local_to_remote),
            "remoteToLocal": counts_doc(&self.remote_to_local),
            "conflicts": counts_doc(&self.conflicts),
            "durationSeconds": self.duration_seconds.map(Bson::Double).unwrap_or(Bson::Null),
            "error": self.error.clone().map(Bson::String).unwrap_or(Bson::Null),
            "errorCode": self.error_code.clone().map(Bson::String).unwrap_or(Bson::Null),
            "errors": self.errors.iter().map(|e| Bson::Document(doc! {
                "collection": &e.collection, "documentId": &e.document_id, "message": &e.message,
            })).collect::<Vec<_>>(),
            "quarantined": counts_doc(&self.quarantined),
            "documentsRead": counts_doc(&self.documents_read),
            "host": &self.host,
        }
    }

    pub(crate) fn from_document(d: &Document) -> SyncRun {
        let dt = |k: &str| d.get_datetime(k).ok().map(|t| t.to_chrono());
        SyncRun {
            id: d
                .get_object_id("_id")
                .map(|o| o.to_hex())
                .unwrap_or_default(),
            start_time: dt("startTime").unwrap_or_default(),
            end_time: dt("endTime"),
            status: RunStatus::parse(d.get_str("status").unwrap_or("failed")),
            trigger: Trigger::parse(d.get_str("trigger").unwrap_or("manual")),
            collections: d
                .get_array("collections")
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            local_to_remote: counts_of(d, "localToRemote"),
            remote_to_local: counts_of(d, "remoteToLocal"),
            conflicts: counts_of(d, "conflicts"),
            duration_seconds: d.get_f64("durationSeconds").ok(),
            error: d.get_str("error").ok().map(str::to_string),
            error_code: d.get_str("errorCode").ok().map(str::to_string),
            errors: d
                .get_array("errors")
                .map(|a| {
                    a.iter()
                        .filter_map(Bson::as_document)
                        .map(|e| DocumentError {
                            collection: e.get_str("collection").unwrap_or_default().into(),
                            document_id: e.get_str("documentId").unwrap_or_default().into(),
                            message: e.get_str("message").unwrap_or_default().into(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            quarantined: counts_of(d, "quarantined"),
            documents_read: counts_of(d, "documentsRead"),
            host: d.get_str("host").unwrap_or_default().to_string(),
        }
    }

    pub fn total(m: &BTreeMap<String, u64>) -> u64 {
        m.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_round_trip_through_storage() {
        let run = SyncRun {
            id: ObjectId::new().to_hex(),
            start_time: bson::DateTime::from_millis(1_700_000_000_000).to_chrono(),
            end_time: Some(bson::DateTime::from_millis(1_700_000_001_500).to_chrono()),
            status: RunStatus::Completed,
            trigger: Trigger::Reconnect,
            collections: vec!["admins".into()],
            local_to_remote: BTreeMap::from([("admins".into(), 5)]),
            remote_to_local: BTreeMap::from([("admins".into(), 2)]),
            conflicts: BTreeMap::from([("admins".into(), 1)]),
            duration_seconds: Some(1.5),
            error: None,
            error_code: None,
            errors: vec![DocumentError {
                collection: "admins".into(),
                document_id: "x".into(),
                message: "m".into(),
            }],
            quarantined: BTreeMap::from([("admins".into(), 1)]),
            documents_read: BTreeMap::from([("remote".into(), 7)]),
            host: "pc1".into(),
        };
        assert_eq!(SyncRun::from_document(&run.to_document()), run);
    }
}
