//! Conflicts: how they are recorded in `conflict_logs`, and how a decision (a [`Resolution`])
//! is carried out.
//!
//! A resolution writes only to the local database: it edits the local copy and/or the
//! last-synced version so that the next sync's ordinary three-way rules carry out the choice.
//! That keeps resolving possible while offline, and makes the next sync notice (and flag again)
//! a cloud change that happened after the conflict was shown.
//!
//! A decision goes through three steps, each in its own module:
//! - [`lookup`] reads what it needs (the record, both sides' current documents, whether a
//!   value is free);
//! - [`plan`] decides, purely: a refusal, or the writes to make in order (one planner per
//!   conflict kind);
//! - [`apply`] carries the writes out.
//!
//! The record itself is typed in [`record`], the only place that knows `conflict_logs`'
//! fields; [`log`] reads and writes the collection; [`auto`] chooses auto-resolve's decisions.

mod apply;
mod auto;
mod log;
mod lookup;
mod plan;
mod record;
mod values;

use bson::{Bson, Document, oid::ObjectId};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::reconcile::{Finding, Winner};
use crate::run::UniqueClash;
use crate::store::Databases;

pub(crate) use apply::mark_dirty;
pub(crate) use auto::auto_resolve;
pub use auto::{AutoResolveItem, AutoResolveReport};
pub(crate) use log::{
    any_open, close_settled, list, load, open_local_deletes, open_local_ids, record, view,
};
pub(crate) use record::{ConflictRecord, Settlement};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// A unique value (e.g. `admins.username`) is taken by a different document in the cloud.
    Unique,
    /// The same document was changed on both sides, in the same field.
    Update,
    /// One side deleted a document the other side changed.
    Delete,
    /// Many documents deleted on one side: deleting them on the other is held (the brake).
    Bulk,
}

impl ConflictKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::Unique => "unique",
            ConflictKind::Update => "update",
            ConflictKind::Delete => "delete",
            ConflictKind::Bulk => "bulk",
        }
    }
}

/// How a person settles a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    KeepLocal,
    KeepRemote,
    Merge,
    RenameLocal,
}

impl std::str::FromStr for Strategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Strategy> {
        Ok(match s.trim() {
            "keep_local" => Strategy::KeepLocal,
            "keep_remote" => Strategy::KeepRemote,
            "merge" => Strategy::Merge,
            "rename_local" => Strategy::RenameLocal,
            other => return Err(Error::UnknownStrategy(other.to_string())),
        })
    }
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::KeepLocal => "keep_local",
            Strategy::KeepRemote => "keep_remote",
            Strategy::Merge => "merge",
            Strategy::RenameLocal => "rename_local",
        }
    }
}

/// A value typed by a person (`--value`), or sent as JSON by a program.
#[derive(Debug, Clone)]
pub enum ResolveValue {
    Text(String),
    Json(serde_json::Value),
    /// A value as stored, type and all (auto-resolve keeping a value: an ObjectId stays one).
    Exact(Bson),
}

#[derive(Debug, Clone)]
pub struct Resolution {
    pub strategy: Strategy,
    pub value: Option<ResolveValue>,
    pub notes: Option<String>,
    pub by: String,
}

impl Resolution {
    pub fn new(
        strategy: Strategy,
        value: Option<ResolveValue>,
        by: impl Into<String>,
    ) -> Resolution {
        Resolution {
            strategy,
            value,
            notes: None,
            by: by.into(),
        }
    }
}

/// What `resolve` answers (the REST API's shape).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResolveOutcome {
    pub success: bool,
    pub message: String,
    pub conflict_id: String,
    pub resolved_by: String,
    pub resolved_at: DateTime<Utc>,
}

/// A conflict as shown to people and programs.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ConflictKind,
    pub collection: String,
    pub local_id: String,
    pub remote_id: String,
    pub field: Option<String>,
    pub local_value: serde_json::Value,
    pub remote_value: serde_json::Value,
    pub base_value: serde_json::Value,
    pub timestamp: DateTime<Utc>,
    pub resolved: bool,
    pub notes: String,
    /// Which side deleted the document (delete conflicts).
    pub deleted_on: Option<String>,
    pub fields: Vec<FieldView>,
    pub local_document: serde_json::Value,
    pub remote_document: serde_json::Value,
    pub base_document: serde_json::Value,
    pub suggested_value: Option<serde_json::Value>,
    pub resolution: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_notes: Option<String>,
    pub auto_resolved: bool,
    /// Held deletes (`bulk`): how many documents, and a few of their ids.
    pub count: Option<u32>,
    pub sample: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldView {
    pub path: String,
    pub local: serde_json::Value,
    pub remote: serde_json::Value,
    pub base: serde_json::Value,
}

/// What the sync found, to be written down.
pub(crate) struct NewConflict {
    pub kind: ConflictKind,
    pub collection: String,
    pub id: Bson,
    pub local: Option<Document>,
    pub remote: Option<Document>,
    pub base: Option<Document>,
    pub finding: Option<Finding>,
    pub clash: Option<UniqueClash>,
    pub auto_resolved: bool,
    pub winner: Option<Winner>,
    pub run_id: ObjectId,
}

/// Applies a person's decision to the local side; the next sync carries it out.
pub(crate) async fn resolve(
    dbs: &Databases,
    id: &str,
    r: &Resolution,
    now: DateTime<Utc>,
) -> Result<ResolveOutcome> {
    let rec = record::ConflictRecord::from_document(&load(dbs, id).await?);
    decide(dbs, id, &rec, r, now, false).await
}

/// Reads what deciding `r` on `rec` needs, plans, and carries the plan out. `automatic`:
/// auto-resolve's decision.
async fn decide(
    dbs: &Databases,
    id: &str,
    rec: &record::ConflictRecord,
    r: &Resolution,
    now: DateTime<Utc>,
    automatic: bool,
) -> Result<ResolveOutcome> {
    let cur = lookup::current(dbs, id, rec, r).await?;
    let plan = plan::plan(id, rec, &cur, r, now, automatic)?;
    apply::apply(dbs, &plan, now).await?;
    tracing::info!(conflict = id, strategy = r.strategy.as_str(), by = %r.by, "conflict resolved");
    Ok(ResolveOutcome {
        success: true,
        message: format!(
            "Conflict resolved using {} strategy. {}",
            r.strategy.as_str(),
            plan.message
        ),
        conflict_id: id.to_string(),
        resolved_by: r.by.clone(),
        resolved_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_parse_and_unknown_ones_are_named() {
        assert_eq!(
            "rename_local".parse::<Strategy>().unwrap(),
            Strategy::RenameLocal
        );
        let err = "keep_both".parse::<Strategy>().unwrap_err();
        assert!(err.to_string().contains("keep_both"));
        assert_eq!(err.code(), "unknown_strategy");
    }

    #[test]
    fn malformed_conflict_ids_are_not_found_not_crashes() {
        assert_eq!(
            log::parse_id("not-an-id").unwrap_err().code(),
            "conflict_not_found"
        );
    }
}
