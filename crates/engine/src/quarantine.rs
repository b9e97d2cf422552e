//! Quarantine: documents that one side refuses (too large once our bookkeeping fields are
//! added, nested deeper than a server allows, a shape a server will not store), set aside so
//! that one bad document never stops the rest of a run.
//!
//! When a batch fails with an error that is not transient and not about the connection or
//! the credentials, the run does not stop: the batch is split in halves and each half retried
//! (every decision is made from the current state of both sides, so redoing part of a batch
//! is the same as the next run completing a cut one) until the documents that fail on their
//! own are found. Those are recorded in `sync_quarantine` (collection, `_id`, side, reason,
//! first and last seen, attempts), listed in the run's `errors` and counted in its
//! `quarantined`, and shown by `status`. Every later run tries them again first; one that
//! syncs (a person fixed it in the Temple Management System) leaves the quarantine.
//!
//! If *every* document of a batch fails alone with the same error, the problem is not the
//! documents (a full disk, missing write permission): the run fails with that error instead.

use bson::{Bson, Document, doc, oid::ObjectId};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;

use crate::clock::to_bson;
use crate::content::display_id;
use crate::error::{Error, Result, Side};
use crate::store::{Databases, SYNC_QUARANTINE};

/// A document set aside because a side refused it. Fix it (or delete it) where it lives;
/// every sync tries it again.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct QuarantinedDocument {
    pub collection: String,
    /// The document's `_id` as a person reads it.
    pub document_id: String,
    /// Which database refused it: `local` or `cloud`.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::quarantine_side))]
    pub side: String,
    /// What the database said, in words, and what to do.
    pub reason: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// How many runs tried it.
    pub attempts: u64,
}

/// What people are told to do about quarantined documents.
pub const QUARANTINE_HINT: &str = "Fix or remove these documents in the Temple Management System (or in the cloud); every sync tries them again and they leave the list once they sync";

/// Server error codes that are about the server or the account, never about one document:
/// these fail the run as before rather than quarantine anything.
const NOT_ABOUT_THE_DOCUMENT: &[i32] = &[
    8000,  // AtlasError (quota, plan limits)
    13,    // Unauthorized
    18,    // AuthenticationFailed
    26,    // NamespaceNotFound
    59,    // CommandNotFound
    11601, // Interrupted
    14031, // OutOfDiskSpace
    20,    // IllegalOperation
    96,    // OperationFailed (storage)
];

/// Whether an error of a batch may be caused by one of its documents (and so is worth
/// isolating): a refusal that is neither transient (retried by the run) nor about the
/// connection, the credentials or the server as a whole.
pub(crate) fn may_be_a_document(e: &Error) -> bool {
    match e {
        Error::Database {
            transient: false,
            message,
            ..
        } => !NOT_ABOUT_THE_DOCUMENT
            .iter()
            .any(|c| message.contains(&format!("(code {c})"))),
        _ => false,
    }
}

/// Refusals that are about one document by their nature, however many documents get them:
/// a validator, a unique index, a size or shape limit. Never evidence that a side refuses
/// writes in general.
const ABOUT_THE_DOCUMENT: &[i32] = &[
    121,   // DocumentValidationFailure
    11000, // DuplicateKey
    10334, // BSONObjectTooLarge
    17419, // document too large after an update
    17420, // document too large (capped)
    52,    // DollarPrefixedFieldName
    15,    // Overflow
    17280, // KeyTooLong
];

/// Whether the failures of the documents of a batch, each tried alone, show that the cause is
/// not the documents: every one failed, on the same side with the same error, and they were
/// not all in quarantine already (documents refused before are expected to fail again), and
/// the error is not one that is about a document by nature (two edited documents refused by a
/// new validator are two refused documents, not a side that refuses every write).
pub(crate) fn looks_systemic(tried: usize, failures: &[(Bson, Error)], held_before: usize) -> bool {
    let per_document = |e: &Error| match e {
        Error::Database { message, .. } => ABOUT_THE_DOCUMENT
            .iter()
            .any(|c| message.contains(&format!("(code {c})"))),
        _ => false,
    };
    if failures.iter().any(|(_, e)| per_document(e)) {
        return false;
    }
    let said = |e: &Error| match e {
        Error::Database { side, .. } => format!("{side}: {e}"),
        other => other.to_string(),
    };
    tried >= 2
        && failures.len() == tried
        && held_before < failures.len()
        && failures.windows(2).all(|w| said(&w[0].1) == said(&w[1].1))
}

/// The refusal in words a person can act on.
pub(crate) fn reason(e: &Error) -> (Side, String) {
    let (side, context, message) = match e {
        Error::Database {
            side,
            context,
            message,
            ..
        } => (*side, context.as_str(), message.as_str()),
        other => return (Side::Local, other.to_string()),
    };
    let lower = message.to_ascii_lowercase();
    let what = if lower.contains("16777216")
        || lower.contains("too large")
        || lower.contains("code 10334")
        || lower.contains("code 17419")
        || lower.contains("code 17420")
    {
        "it is too large: MongoDB documents are limited to 16 MB, and a synced document also carries TempleSync's syncedAt and syncStatus fields; make it smaller"
    } else if lower.contains("nest") || lower.contains("depth") {
        "it is nested too deeply: MongoDB allows at most 100 levels of sub-documents and arrays; flatten it"
    } else {
        "the database will not store it as it is; correct it"
    };
    (
        side,
        format!("{what} (the {side} database said, while {context}: {message})"),
    )
}

fn coll(dbs: &Databases) -> mongodb::Collection<Document> {
    dbs.local_coll(SYNC_QUARANTINE)
}

fn local_err(what: &'static str) -> impl Fn(mongodb::error::Error) -> Error {
    move |e| Error::db(Side::Local, what, &e)
}

/// The ids of a collection's quarantined documents (tried again at the start of every run).
pub(crate) async fn ids(dbs: &Databases, collection: &str) -> Result<Vec<Bson>> {
    let docs: Vec<Document> = coll(dbs)
        .find(doc! { "collection": collection })
        .projection(doc! { "docId": 1 })
        .await
        .map_err(local_err("reading the quarantined documents"))?
        .try_collect()
        .await
        .map_err(local_err("reading the quarantined documents"))?;
    Ok(docs
        .into_iter()
        .filter_map(|d| d.get("docId").cloned())
        .collect())
}

/// Records (or updates) a quarantined document; returns its entry as listed.
pub(crate) async fn hold(
    dbs: &Databases,
    collection: &str,
    id: &Bson,
    err: &Error,
    run_id: ObjectId,
    now: DateTime<Utc>,
) -> Result<QuarantinedDocument> {
    let (side, reason) = reason(err);
    let c = coll(dbs);
    let filter = doc! { "collection": collection, "docId": { "$eq": id.clone() } };
    let existing = c
        .find_one(filter.clone())
        .await
        .map_err(local_err("reading the quarantined documents"))?;
    let first_seen = existing
        .as_ref()
        .and_then(|d| d.get_datetime("firstSeen").ok())
        .map(|t| t.to_chrono())
        .unwrap_or(now);
    let attempts = existing
        .as_ref()
        .and_then(|d| d.get_i64("attempts").ok())
        .unwrap_or(0) as u64
        + 1;
    let entry = doc! {
        "collection": collection,
        "docId": id.clone(),
        "documentId": display_id(id),
        "side": side.to_string(),
        "reason": &reason,
        "firstSeen": to_bson(first_seen),
        "lastSeen": to_bson(now),
        "attempts": attempts as i64,
        "runId": run_id,
    };
    match existing.and_then(|d| d.get("_id").cloned()) {
        Some(oid) => {
            c.replace_one(doc! { "_id": oid }, entry)
                .await
                .map_err(local_err("recording a quarantined document"))?;
        }
        None => {
            c.insert_one(entry)
                .await
                .map_err(local_err("recording a quarantined document"))?;
        }
    }
    tracing::warn!(collection, id = %display_id(id), %reason, "document quarantined");
    Ok(QuarantinedDocument {
        collection: collection.to_string(),
        document_id: display_id(id),
        side: side.to_string(),
        reason,
        first_seen,
        last_seen: now,
        attempts,
    })
}

/// Takes documents that synced out of quarantine.
pub(crate) async fn release(dbs: &Databases, collection: &str, ids: &[Bson]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let released = coll(dbs)
        .delete_many(doc! { "collection": collection, "docId": { "$in": ids.to_vec() } })
        .await
        .map_err(local_err("updating the quarantined documents"))?;
    if released.deleted_count > 0 {
        tracing::info!(
            collection,
            released = released.deleted_count,
            "documents left quarantine"
        );
    }
    Ok(())
}

/// Every quarantined document, oldest first (at most `limit`), and how many there are.
pub(crate) async fn list(dbs: &Databases, limit: i64) -> Result<(u64, Vec<QuarantinedDocument>)> {
    let c = coll(dbs);
    let total = c
        .count_documents(doc! {})
        .await
        .map_err(local_err("reading the quarantined documents"))?;
    if total == 0 {
        return Ok((0, Vec::new()));
    }
    let docs: Vec<Document> = c
        .find(doc! {})
        .sort(doc! { "firstSeen": 1, "_id": 1 })
        .limit(limit)
        .await
        .map_err(local_err("reading the quarantined documents"))?
        .try_collect()
        .await
        .map_err(local_err("reading the quarantined documents"))?;
    let dt = |d: &Document, k: &str| d.get_datetime(k).map(|t| t.to_chrono()).unwrap_or_default();
    let list = docs
        .iter()
        .map(|d| QuarantinedDocument {
            collection: d.get_str("collection").unwrap_or_default().to_string(),
            document_id: d.get_str("documentId").unwrap_or_default().to_string(),
            side: d.get_str("side").unwrap_or_default().to_string(),
            reason: d.get_str("reason").unwrap_or_default().to_string(),
            first_seen: dt(d, "firstSeen"),
            last_seen: dt(d, "lastSeen"),
            attempts: d.get_i64("attempts").unwrap_or(0).max(0) as u64,
        })
        .collect();
    Ok((total, list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_error(transient: bool, message: &str) -> Error {
        Error::Database {
            context: "inserting documents".into(),
            message: message.into(),
            transient,
            network: false,
            side: Side::Remote,
        }
    }

    #[test]
    fn only_lasting_refusals_that_may_be_about_a_document_are_isolated() {
        assert!(may_be_a_document(&db_error(
            false,
            "insert document must be within 16777216 bytes"
        )));
        assert!(!may_be_a_document(&db_error(true, "connection reset")));
        assert!(!may_be_a_document(&db_error(
            false,
            "not authorized on temple_db to execute command (code 13)"
        )));
        assert!(!may_be_a_document(&Error::Interrupted("cut".into())));
        assert!(!may_be_a_document(&Error::RemoteUnreachable {
            host: "h".into(),
            reason: "r".into()
        }));
    }

    #[test]
    fn a_validator_refusing_every_document_of_a_batch_is_still_about_documents() {
        let e = || db_error(false, "Document failed validation (code 121)");
        let all = vec![(Bson::Int32(1), e()), (Bson::Int32(2), e())];
        assert!(
            !looks_systemic(2, &all, 0),
            "two refused documents, not a refusing side"
        );
        let dup = || db_error(false, "E11000 duplicate key error (code 11000)");
        assert!(!looks_systemic(
            2,
            &[(Bson::Int32(1), dup()), (Bson::Int32(2), dup())],
            0
        ));
    }

    #[test]
    fn the_same_error_for_every_document_is_not_a_document_problem() {
        let e = || db_error(false, "disk quota exceeded (code 12345)");
        let all = vec![(Bson::Int32(1), e()), (Bson::Int32(2), e())];
        assert!(looks_systemic(2, &all, 0));
        assert!(looks_systemic(2, &all, 1));
        assert!(
            !looks_systemic(2, &all, 2),
            "documents refused before are expected to fail again"
        );
        assert!(!looks_systemic(3, &all, 0), "one of three went through");
        assert!(
            !looks_systemic(1, &all[..1], 0),
            "one document alone says nothing"
        );
        let different = vec![
            (Bson::Int32(1), e()),
            (Bson::Int32(2), db_error(false, "too large")),
        ];
        assert!(!looks_systemic(2, &different, 0));
        let other_side = Error::Database {
            context: "inserting documents".into(),
            message: "disk quota exceeded (code 12345)".into(),
            transient: false,
            network: false,
            side: Side::Local,
        };
        let sides = vec![(Bson::Int32(1), e()), (Bson::Int32(2), other_side)];
        assert!(!looks_systemic(2, &sides, 0), "each side refused its own");
    }

    #[test]
    fn reasons_say_what_is_wrong_and_which_side_said_so() {
        let (side, text) = reason(&db_error(
            false,
            "insert document must be within 16777216 bytes, but document provided is 16777218 bytes",
        ));
        assert_eq!(side, Side::Remote);
        assert!(text.starts_with("it is too large"), "{text}");
        assert!(text.contains("the cloud database said"), "{text}");
        assert!(text.contains("16777218"), "{text}");
    }
}
