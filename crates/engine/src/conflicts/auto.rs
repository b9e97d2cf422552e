//! Auto-resolve: settles the simple cases and leaves the rest for a person. Which decision to
//! take is chosen by [`choose`], pure, from the record and what the sides hold now; the
//! decision then goes through the same planner and executor as a person's.

use bson::{Bson, Document};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::record::ConflictRecord;
use super::{ConflictKind, Resolution, ResolveValue, Strategy};
use crate::content::{get_path, key_path, same_value};
use crate::error::Result;
use crate::store::Databases;

/// One line of an auto-resolve report.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AutoResolveItem {
    pub conflict_id: String,
    pub collection: String,
    pub outcome: String,
    pub detail: String,
}

/// What auto-resolve did with each conflict it looked at.
#[derive(Debug, Clone, Serialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AutoResolveReport {
    pub resolved: u32,
    pub skipped: u32,
    pub failed: u32,
    pub items: Vec<AutoResolveItem>,
}

/// What a unique conflict's choice looks at now.
#[derive(Debug, Clone, Default)]
pub(crate) struct UniqueNow {
    /// The cloud document that held the value, as it is now.
    pub holder: Option<Document>,
    /// This computer's document.
    pub local: Option<Document>,
}

/// The creation time of a document: `createdAt`, else its ObjectId's time.
fn created_at(d: Option<&Document>, id: &Bson) -> Option<DateTime<Utc>> {
    if let Some(Ok(t)) = d.map(|d| d.get_datetime("createdAt")) {
        return Some(t.to_chrono());
    }
    match id {
        Bson::ObjectId(o) => Some(o.timestamp().to_chrono()),
        _ => None,
    }
}

fn decision(strategy: Strategy, value: Option<ResolveValue>, note: &str, by: &str) -> Resolution {
    Resolution {
        strategy,
        value,
        notes: Some(format!("auto-resolve: {note}")),
        by: by.to_string(),
    }
}

/// The decision auto-resolve takes on `rec`, and why in words; `None`: a person decides.
/// `unique` is what a unique conflict's choice looks at (unused for other kinds).
pub(crate) fn choose(
    rec: &ConflictRecord,
    unique: &UniqueNow,
    by: &str,
    now: DateTime<Utc>,
) -> Option<(Resolution, String)> {
    match rec.kind? {
        ConflictKind::Unique => {
            let (field, value) = rec.rename_target();
            let value = value.unwrap_or(Bson::Null);
            let still_holds = unique
                .holder
                .as_ref()
                .is_some_and(|h| same_value(get_path(h, &key_path(&field)), Some(&value)));
            if !still_holds {
                // The clash is gone: keep the value (as stored, type and all), the next sync
                // retries the push.
                let why = "the cloud no longer holds the value";
                let v = Some(ResolveValue::Exact(value));
                return Some((
                    decision(Strategy::KeepLocal, v, why, by),
                    format!("{why}: retried"),
                ));
            }
            let local_id = rec.local_id();
            let recent = created_at(unique.local.as_ref(), &local_id)
                .is_some_and(|t| now - t < chrono::Duration::hours(1));
            let why = "created less than an hour ago";
            (recent && matches!(value, Bson::String(_))).then(|| {
                (
                    decision(Strategy::RenameLocal, None, why, by),
                    format!("{why}: renamed locally"),
                )
            })
        }
        ConflictKind::Update => {
            let (l, r) = (rec.local_document.as_ref()?, rec.remote_document.as_ref()?);
            let why = "the cloud version is newer";
            crate::reconcile::remote_is_newer(l, r).then(|| {
                (
                    decision(Strategy::KeepRemote, None, why, by),
                    format!("{why}: kept it"),
                )
            })
        }
        _ => None,
    }
}

/// One conflict: choose, then decide as a person would. `Ok(None)`: left for a person.
async fn settle_one(
    dbs: &Databases,
    rec: &ConflictRecord,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let unique = match rec.kind {
        Some(ConflictKind::Unique) => {
            let (holder, local) = super::lookup::holder_and_local(dbs, rec).await?;
            UniqueNow { holder, local }
        }
        _ => UniqueNow::default(),
    };
    let Some((res, why)) = choose(rec, &unique, by, now) else {
        return Ok(None);
    };
    let id = rec.id.map(|o| o.to_hex()).unwrap_or_default();
    super::decide(dbs, &id, rec, &res, now, true).await?;
    Ok(Some(why))
}

/// Settles the simple cases among the oldest `max` open conflicts; leaves the rest for a
/// person.
pub(crate) async fn auto_resolve(
    dbs: &Databases,
    max: u32,
    by: &str,
    now: DateTime<Utc>,
) -> Result<AutoResolveReport> {
    let mut report = AutoResolveReport::default();
    for rec in super::log::oldest_open(dbs, max).await? {
        let (outcome, detail) = match settle_one(dbs, &rec, by, now).await {
            Ok(Some(why)) => {
                report.resolved += 1;
                ("resolved", why)
            }
            Ok(None) => {
                report.skipped += 1;
                let why = "needs a person to decide";
                ("skipped", why.to_string())
            }
            Err(e) => {
                report.failed += 1;
                ("failed", e.to_string())
            }
        };
        report.items.push(AutoResolveItem {
            conflict_id: rec.id.map(|o| o.to_hex()).unwrap_or_default(),
            collection: rec.collection.clone(),
            outcome: outcome.into(),
            detail,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
