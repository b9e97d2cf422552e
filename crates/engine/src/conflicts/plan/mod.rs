//! Planning a decision: from a conflict record, what both sides hold now and a
//! [`Resolution`], either a refusal or a [`Plan`] (the writes, in order). Pure: no I/O, no
//! clock. Every refusal is made here, before anything is written; the executor
//! ([`super::apply`]) only carries a plan out.
//!
//! The order of a plan's writes is the crash-safety argument: the conflict is closed last, so
//! a crash part-way leaves it open and the decision can be made again; a held delete is
//! approved before the hold is closed.

mod bulk;
mod delete;
mod unique;
mod update;

use bson::{Bson, Document, doc, oid::ObjectId};
use chrono::{DateTime, Utc};

use super::record::{ConflictRecord, Settlement};
use super::{ConflictKind, Resolution};
use crate::content::content;
use crate::error::{Error, Result};

pub(crate) use unique::new_value as unique_new_value;

/// What both sides hold now, read just before planning.
#[derive(Debug, Clone, Default)]
pub(crate) struct Current {
    /// This computer's copy of the conflict's document.
    pub local: Option<Document>,
    /// The cloud's copy of the conflict's other document, when it was asked (`None`: offline,
    /// or not needed).
    pub remote: Option<Option<Document>>,
    /// Unique: the last-synced version of the local document.
    pub synced: Option<Document>,
    /// Unique: this computer's copy of the cloud document that holds the value.
    pub holder_here: Option<Document>,
    /// Unique rename: a value found free on both sides, for a rename given no value.
    pub suggestion: Option<String>,
    /// Unique: whether the value the decision would write is held by another document.
    pub value_taken: bool,
}

/// One write, in the local database.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Write {
    /// `$set` these fields on the local document.
    SetLocal {
        id: Bson,
        set: Document,
    },
    /// Replace the local document.
    ReplaceLocal {
        id: Bson,
        doc: Document,
    },
    DeleteLocal {
        id: Bson,
    },
    /// The last-synced version of `id` becomes `doc` (content only).
    SetSynced {
        id: Bson,
        doc: Document,
    },
    /// Forget the last-synced versions: the documents are new on the side that has them.
    ForgetSynced {
        ids: Vec<Bson>,
    },
    /// List documents for the next run. `approved`: a person decided, so deleting them is
    /// theirs, not a mass delete to hold.
    Recheck {
        ids: Vec<Bson>,
        approved: bool,
    },
    /// Close the conflict.
    Close {
        id: ObjectId,
        how: Settlement,
    },
}

/// A decision, ready to carry out: the writes in order, and what they do in words.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub collection: String,
    pub writes: Vec<Write>,
    pub message: String,
}

/// What a kind's planner decides; the conflict is closed after its writes.
#[derive(Debug, Default)]
struct Steps {
    writes: Vec<Write>,
    message: String,
    applied_value: Option<Bson>,
    discarded: Option<Document>,
}

pub(crate) fn refuse(id: &str, reason: impl Into<String>) -> Error {
    Error::InvalidResolution {
        id: id.to_string(),
        reason: reason.into(),
    }
}

/// The local document, which a decision on its values needs.
fn need_local<'a>(id: &str, cur: &'a Current) -> Result<&'a Document> {
    cur.local.as_ref().ok_or_else(|| {
        refuse(
            id,
            "the local document no longer exists; the next sync clears the conflict",
        )
    })
}

/// Both documents of a conflict, listed for the next run with a person's approval.
fn recheck_both(rec: &ConflictRecord) -> Write {
    Write::Recheck {
        ids: vec![rec.local_id(), rec.remote_id()],
        approved: true,
    }
}

/// Plans `r` on the conflict `rec` (named `id` by the person), given what both sides hold now.
pub(crate) fn plan(
    id: &str,
    rec: &ConflictRecord,
    cur: &Current,
    r: &Resolution,
    now: DateTime<Utc>,
    automatic: bool,
) -> Result<Plan> {
    if rec.resolved {
        let how = rec.resolution.as_deref().unwrap_or("resolved");
        let by = rec.resolved_by.as_deref().unwrap_or("someone");
        return Err(Error::ConflictAlreadyResolved {
            id: id.to_string(),
            how: format!("{how} by {by}"),
        });
    }
    let steps = if rec.kind == Some(ConflictKind::Bulk) {
        bulk::plan(id, rec, r)?
    } else {
        if let Some(what) = moved_on(rec, cur) {
            return Err(refuse(
                id,
                format!(
                    "{what} since the conflict was recorded. Sync first: the conflict is then shown with what both sides hold now, and you decide on that"
                ),
            ));
        }
        match rec.kind {
            Some(ConflictKind::Unique) => unique::plan(id, rec, cur, r, now)?,
            Some(ConflictKind::Update) => update::plan(id, rec, cur, r)?,
            Some(ConflictKind::Delete) => delete::plan(id, rec, cur, r)?,
            _ => {
                let t = &rec.type_name;
                return Err(refuse(id, format!("unknown conflict type '{t}'")));
            }
        }
    };
    let Some(conflict) = rec.id else {
        return Err(Error::ConflictNotFound { id: id.to_string() });
    };
    let mut writes = steps.writes;
    writes.push(Write::Close {
        id: conflict,
        how: Settlement::Decided {
            strategy: r.strategy,
            by: r.by.clone(),
            notes: r.notes.clone(),
            message: steps.message.clone(),
            automatic,
            applied_value: steps.applied_value,
            discarded: steps.discarded,
        },
    });
    Ok(Plan {
        collection: rec.collection.clone(),
        writes,
        message: steps.message,
    })
}

/// How a document changed between two versions, in words: the fields that differ, or that it
/// appeared or went. `None`: the same content.
pub(crate) fn change_between(then: Option<&Document>, now: Option<&Document>) -> Option<String> {
    match (then.map(content), now.map(content)) {
        (None, None) => None,
        (Some(_), None) => Some("was deleted".into()),
        (None, Some(_)) => Some("was created".into()),
        (Some(a), Some(b)) => {
            let fields: std::collections::BTreeSet<&str> = a
                .keys()
                .chain(b.keys())
                .map(String::as_str)
                .filter(|k| !same_as_kept(a.get(*k), b.get(*k)))
                .collect();
            let list: Vec<&str> = fields.into_iter().collect();
            (!list.is_empty()).then(|| format!("changed ({})", list.join(", ")))
        }
    }
}

/// Whether a value as the record kept it is the value now: equal, or left out of the record
/// for its size ([`super::record::kept`]) and of the same size now.
fn same_as_kept(then: Option<&Bson>, now: Option<&Bson>) -> bool {
    use super::record::{OMITTED, value_bytes};
    match (then, now) {
        (Some(Bson::Document(t)), Some(n)) if t.len() == 1 && t.contains_key(OMITTED) => {
            t.get_i64(OMITTED).ok() == Some(value_bytes(n))
        }
        _ => crate::content::same_value(then, now),
    }
}

/// Whether a document of the conflict moved on since it was recorded: a decision is made on
/// the documents as they are, never on stale copies. The cloud's copy counts when it was
/// read; offline, the next sync catches a cloud change (the resolution's base is the cloud
/// version the person saw).
pub(crate) fn moved_on(rec: &ConflictRecord, cur: &Current) -> Option<String> {
    if let Some(how) = change_between(rec.local_document.as_ref(), cur.local.as_ref()) {
        return Some(format!("This computer's copy {how}"));
    }
    // A unique clash's cloud document matters only in whether it still holds the value,
    // which the planner checks itself (a value is accepted only when free on both sides).
    if rec.kind == Some(ConflictKind::Unique) {
        return None;
    }
    let now = cur.remote.as_ref()?;
    change_between(rec.remote_document.as_ref(), now.as_ref())
        .map(|how| format!("The cloud's copy {how}"))
}

/// The `$set` that leaves a local document to be sent by the next sync.
fn pending() -> Document {
    doc! { "syncStatus": "pending", "syncedAt": Bson::Null }
}

#[cfg(test)]
pub(crate) mod tests;
