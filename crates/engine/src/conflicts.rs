//! Conflicts: how they are recorded in `conflict_logs`, and how a person's decision
//! (a [`Resolution`]) is applied.
//!
//! A resolution writes only to the local database: it edits the local copy and/or the
//! last-synced version so that the next sync's ordinary three-way rules carry out the choice.
//! That keeps resolving possible while offline, and makes the next sync notice (and flag again)
//! a cloud change that happened after the conflict was shown.

use bson::{Bson, Document, doc, oid::ObjectId};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use rand::Rng;
use serde::Serialize;

use crate::clock::to_bson;
use crate::content::{
    FieldPath, content, content_hash, display_id, display_path, get_path, key_path, set_path,
};
use crate::error::{Error, Result, Side};
use crate::json::to_display;
use crate::reconcile::{FieldConflict, Finding, Winner, merge3};
use crate::run::UniqueClash;
use crate::store::{CONFLICT_LOGS, Databases, SYNC_DIRTY};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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

fn coll(dbs: &Databases) -> mongodb::Collection<Document> {
    dbs.local_coll(CONFLICT_LOGS)
}

fn local_err(what: &'static str) -> impl Fn(mongodb::error::Error) -> Error {
    move |e| Error::db(Side::Local, what, &e)
}

fn opt(d: Option<Bson>) -> Bson {
    d.unwrap_or(Bson::Null)
}

fn fields_doc(fields: &[FieldConflict]) -> Vec<Bson> {
    fields
        .iter()
        .map(|f| {
            Bson::Document(doc! {
                // For people; `pathSegments` is the path itself (a name may hold a `.`).
                "path": display_path(&f.path),
                "pathSegments": f.path.clone(),
                "local": opt(f.local.clone()),
                "remote": opt(f.remote.clone()),
                "base": opt(f.base.clone()),
            })
        })
        .collect()
}

/// A unique clash's part of the record: the fields (a compound index's all, in `keyFields`),
/// the values they share, the field a rename changes, and the document holding them.
fn unique_fields(d: &mut Document, clash: &UniqueClash) {
    let (key, values) = (&clash.key, &clash.values);
    let value = match values.as_slice() {
        [one] => one.clone(),
        _ => Bson::Document(
            key.fields
                .iter()
                .cloned()
                .zip(values.iter().cloned())
                .collect(),
        ),
    };
    d.insert("remoteId", clash.holder_id.clone());
    d.insert("field", key.shown());
    d.insert("keyFields", key.fields.clone());
    d.insert("renameField", key.rename_field(values));
    d.insert("localValue", value.clone());
    d.insert("remoteValue", value);
    d.insert(
        "remoteDocument",
        opt(clash.holder.as_ref().map(|h| Bson::Document(content(h)))),
    );
    let what = match key.fields.len() {
        1 => format!("Unique field '{}'", key.shown()),
        _ => format!("Unique fields '{}' (together)", key.shown()),
    };
    let notes = match clash.here {
        None => format!("{what} conflicts with existing remote document"),
        Some(_) => format!(
            "{what}: this document holds the same value as cloud document {}, which this computer's database refused to store",
            display_id(&clash.holder_id)
        ),
    };
    d.insert("notes", notes);
}

/// The field a unique conflict's rename changes, and the value it holds now. Records from
/// before `renameField` name one field in `field` and its value in `localValue`.
fn rename_target(c: &Document) -> (String, Option<Bson>) {
    let field = c
        .get_str("renameField")
        .or_else(|_| c.get_str("field"))
        .unwrap_or_default()
        .to_string();
    let value = match c.get("localValue") {
        Some(Bson::Document(values)) if c.get_array("keyFields").is_ok_and(|k| k.len() > 1) => {
            values.get(&field).cloned()
        }
        other => other.cloned(),
    };
    (field, value)
}

/// Writes a conflict down. An open conflict for the same document and kind is refreshed
/// instead of duplicated; returns whether a new one was created.
pub(crate) async fn record(dbs: &Databases, c: NewConflict, now: DateTime<Utc>) -> Result<bool> {
    let mut d = doc! {
        "type": c.kind.as_str(),
        "collection": &c.collection,
        "localId": c.id.clone(),
        "localDocument": opt(c.local.as_ref().map(|d| Bson::Document(content(d)))),
        "remoteDocument": opt(c.remote.as_ref().map(|d| Bson::Document(content(d)))),
        "baseDocument": opt(c.base.clone().map(Bson::Document)),
        "lastSeen": to_bson(now),
        "runId": c.run_id,
    };
    match (&c.clash, &c.finding) {
        (Some(clash), _) => unique_fields(&mut d, clash),
        (None, Some(Finding::Edit { fields, .. })) => {
            d.insert("remoteId", c.id.clone());
            let paths: Vec<String> = fields.iter().map(|f| display_path(&f.path)).collect();
            d.insert("field", paths.join(", "));
            let (lv, rv) = if fields.len() == 1 {
                (opt(fields[0].local.clone()), opt(fields[0].remote.clone()))
            } else {
                let l: Document = fields
                    .iter()
                    .map(|f| (display_path(&f.path), opt(f.local.clone())))
                    .collect();
                let r: Document = fields
                    .iter()
                    .map(|f| (display_path(&f.path), opt(f.remote.clone())))
                    .collect();
                (Bson::Document(l), Bson::Document(r))
            };
            d.insert("localValue", lv);
            d.insert("remoteValue", rv);
            if fields.len() == 1 {
                d.insert("baseValue", opt(fields[0].base.clone()));
            }
            d.insert("fields", fields_doc(fields));
            d.insert(
                "notes",
                format!(
                    "Changed on both sides since the last sync: {}",
                    paths.join(", ")
                ),
            );
        }
        (None, Some(f)) => {
            let local_deleted = matches!(f, Finding::LocalDeletedRemoteEdited);
            d.insert("remoteId", c.id.clone());
            d.insert("field", Bson::Null);
            d.insert("deletedOn", if local_deleted { "local" } else { "remote" });
            d.insert(
                "localValue",
                if local_deleted {
                    "(deleted)"
                } else {
                    "(changed)"
                },
            );
            d.insert(
                "remoteValue",
                if local_deleted {
                    "(changed)"
                } else {
                    "(deleted)"
                },
            );
            d.insert(
                "notes",
                if local_deleted {
                    "Deleted on this computer but changed in the cloud since the last sync"
                } else {
                    "Deleted in the cloud but changed on this computer since the last sync"
                },
            );
        }
        (None, None) => return Ok(false),
    }
    let c_coll = coll(dbs);
    if c.auto_resolved {
        // Settled by last-write-wins: a conflict on the document still open from before
        // (recorded while the strategy was manual) is settled by it too.
        c_coll
            .update_many(
                doc! { "collection": &c.collection, "localId": c.id.clone(), "resolved": false },
                doc! { "$set": {
                    "resolved": true, "resolution": "superseded", "resolvedBy": "templesync",
                    "resolvedAt": to_bson(now),
                    "resolutionNotes": "Settled by last-write-wins (the newer edit won; the other is kept in that conflict's record)",
                } },
            )
            .await
            .map_err(local_err("recording a conflict"))?;
        d.insert("_id", ObjectId::new());
        d.insert("timestamp", to_bson(now));
        d.insert("resolved", true);
        d.insert("autoResolved", true);
        d.insert("resolution", "last_write_wins");
        d.insert(
            "winner",
            if c.winner == Some(Winner::Remote) {
                "remote"
            } else {
                "local"
            },
        );
        d.insert("resolvedBy", "templesync");
        d.insert("resolvedAt", to_bson(now));
        c_coll
            .insert_one(d)
            .await
            .map_err(local_err("recording a conflict"))?;
        return Ok(true);
    }
    // A document is in one conflict at a time: one of another kind was overtaken by events
    // (e.g. an edit conflict whose local copy was then deleted).
    c_coll
        .update_many(
            doc! { "collection": &c.collection, "localId": c.id.clone(), "type": { "$ne": c.kind.as_str() }, "resolved": false },
            doc! { "$set": {
                "resolved": true, "resolution": "superseded", "resolvedBy": "templesync",
                "resolvedAt": to_bson(now), "resolutionNotes": "Replaced by a newer conflict on the same document",
            } },
        )
        .await
        .map_err(local_err("recording a conflict"))?;
    let open = doc! { "collection": &c.collection, "localId": c.id.clone(), "type": c.kind.as_str(), "resolved": false };
    if let Some(existing) = c_coll
        .find_one(open)
        .await
        .map_err(local_err("reading conflicts"))?
    {
        let id = existing.get("_id").cloned().unwrap_or(Bson::Null);
        c_coll
            .update_one(doc! { "_id": id }, doc! { "$set": d })
            .await
            .map_err(local_err("recording a conflict"))?;
        return Ok(false);
    }
    if c.kind == ConflictKind::Unique
        && c.clash.is_some()
        && let (field, Some(Bson::String(v))) = rename_target(&d)
        && let Some(s) = suggest_free_value(dbs, &c.collection, &field, &v).await?
    {
        d.insert("suggestedValue", s);
    }
    d.insert("_id", ObjectId::new());
    d.insert("timestamp", to_bson(now));
    d.insert("resolved", false);
    d.insert("autoResolved", false);
    c_coll
        .insert_one(d)
        .await
        .map_err(local_err("recording a conflict"))?;
    Ok(true)
}

/// Closes the open conflicts of documents that have since synced cleanly (someone fixed them
/// in the office software), and rechecks the other documents they involved.
pub(crate) async fn close_settled(
    dbs: &Databases,
    collection: &str,
    ids: &[Bson],
    now: DateTime<Utc>,
) -> Result<()> {
    let filter =
        doc! { "collection": collection, "localId": { "$in": ids.to_vec() }, "resolved": false };
    let open: Vec<Document> = coll(dbs)
        .find(filter.clone())
        .await
        .map_err(local_err("reading conflicts"))?
        .try_collect()
        .await
        .map_err(local_err("reading conflicts"))?;
    if open.is_empty() {
        return Ok(());
    }
    let others: Vec<Bson> = open
        .iter()
        .filter_map(|c| c.get("remoteId").cloned())
        .collect();
    mark_dirty(dbs, collection, &others, now, false).await?;
    coll(dbs)
        .update_many(
            filter,
            doc! { "$set": {
                "resolved": true, "resolution": "superseded", "resolvedBy": "templesync",
                "resolvedAt": to_bson(now), "resolutionNotes": "Settled by a later change to the document",
            } },
        )
        .await
        .map_err(local_err("closing conflicts"))?;
    Ok(())
}

/// The local documents of the collection's open conflicts (looked at again every run).
pub(crate) async fn open_local_ids(dbs: &Databases, collection: &str) -> Result<Vec<Bson>> {
    let docs: Vec<Document> = coll(dbs)
        .find(doc! { "collection": collection, "resolved": false, "type": { "$ne": "bulk" } })
        .projection(doc! { "localId": 1 })
        .await
        .map_err(local_err("reading conflicts"))?
        .try_collect()
        .await
        .map_err(local_err("reading conflicts"))?;
    Ok(docs
        .into_iter()
        .filter_map(|d| d.get("localId").cloned())
        .collect())
}

/// Whether any conflict of the collection is open.
pub(crate) async fn any_open(dbs: &Databases, collection: &str) -> Result<bool> {
    Ok(coll(dbs)
        .find_one(doc! { "collection": collection, "resolved": false })
        .projection(doc! { "_id": 1 })
        .await
        .map_err(local_err("reading conflicts"))?
        .is_some())
}

/// Open conflicts whose document was deleted here (their bases stay, by design).
pub(crate) async fn open_local_deletes(dbs: &Databases, collection: &str) -> Result<u64> {
    coll(dbs)
        .count_documents(doc! { "collection": collection, "type": "delete", "deletedOn": "local", "resolved": false })
        .await
        .map_err(local_err("counting conflicts"))
}

/// Lists documents for the next run to look at whatever the feeds say. `approved`: a person
/// decided about them, so deleting them is theirs, not a mass delete to hold (the brake).
pub(crate) async fn mark_dirty(
    dbs: &Databases,
    collection: &str,
    ids: &[Bson],
    now: DateTime<Utc>,
    approved: bool,
) -> Result<()> {
    let entries: Vec<Document> = ids
        .iter()
        .filter(|i| !matches!(i, Bson::Null))
        .map(|id| doc! { "collection": collection, "docId": id.clone(), "since": to_bson(now), "allowDelete": approved })
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    dbs.local_coll(SYNC_DIRTY)
        .insert_many(entries)
        .await
        .map_err(local_err("remembering documents to recheck"))?;
    Ok(())
}

/// A value such as `john_admin_a7k2` that neither side holds in that field.
pub(crate) async fn suggest_free_value(
    dbs: &Databases,
    collection: &str,
    field: &str,
    taken: &str,
) -> Result<Option<String>> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    for _ in 0..8 {
        let suffix: String = {
            let mut rng = rand::rng();
            (0..4)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect()
        };
        let candidate = format!("{taken}_{suffix}");
        if value_is_free(
            dbs,
            collection,
            field,
            &Bson::String(candidate.clone()),
            None,
        )
        .await?
        {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

/// Whether no document but `except` holds `value` in `field`, on either side.
async fn value_is_free(
    dbs: &Databases,
    collection: &str,
    field: &str,
    value: &Bson,
    except: Option<&Bson>,
) -> Result<bool> {
    let mut filter = doc! { field: value.clone() };
    if let Some(id) = except {
        filter.insert("_id", doc! { "$ne": id.clone() });
    }
    let local = dbs
        .local_coll(collection)
        .find_one(filter.clone())
        .await
        .map_err(local_err("checking a value here"))?;
    if local.is_some() {
        return Ok(false);
    }
    let remote_db = dbs.remote().await?;
    let remote = remote_db
        .collection::<Document>(collection)
        .find_one(filter)
        .await
        .map_err(|e| dbs.classify(Side::Remote, "checking a value in the cloud", &e))?;
    Ok(remote.is_none())
}

pub(crate) fn parse_id(id: &str) -> Result<ObjectId> {
    ObjectId::parse_str(id.trim()).map_err(|_| Error::ConflictNotFound { id: id.to_string() })
}

pub(crate) async fn load(dbs: &Databases, id: &str) -> Result<Document> {
    let oid = parse_id(id)?;
    coll(dbs)
        .find_one(doc! { "_id": oid })
        .await
        .map_err(local_err("reading conflicts"))?
        .ok_or_else(|| Error::ConflictNotFound { id: id.to_string() })
}

pub(crate) async fn list(
    dbs: &Databases,
    resolved: Option<bool>,
    collection: Option<&str>,
    limit: i64,
) -> Result<Vec<Conflict>> {
    let mut filter = doc! {};
    if let Some(r) = resolved {
        filter.insert("resolved", r);
    }
    if let Some(c) = collection {
        filter.insert("collection", c);
    }
    let docs: Vec<Document> = coll(dbs)
        .find(filter)
        .sort(doc! { "timestamp": -1 })
        .limit(limit)
        .await
        .map_err(local_err("reading conflicts"))?
        .try_collect()
        .await
        .map_err(local_err("reading conflicts"))?;
    Ok(docs.iter().map(view).collect())
}

fn dt(d: &Document, k: &str) -> Option<DateTime<Utc>> {
    d.get_datetime(k).ok().map(|t| t.to_chrono())
}

/// The stored record as people and programs see it.
pub(crate) fn view(d: &Document) -> Conflict {
    let g = |k: &str| d.get(k).map(to_display).unwrap_or(serde_json::Value::Null);
    let s = |k: &str| d.get_str(k).ok().map(str::to_string);
    let kind = match d.get_str("type").unwrap_or("update") {
        "unique" => ConflictKind::Unique,
        "delete" => ConflictKind::Delete,
        "bulk" => ConflictKind::Bulk,
        _ => ConflictKind::Update,
    };
    let fields = d
        .get_array("fields")
        .map(|a| {
            a.iter()
                .filter_map(Bson::as_document)
                .map(|f| FieldView {
                    path: f.get_str("path").unwrap_or_default().to_string(),
                    local: f.get("local").map(to_display).unwrap_or_default(),
                    remote: f.get("remote").map(to_display).unwrap_or_default(),
                    base: f.get("base").map(to_display).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    Conflict {
        id: d
            .get_object_id("_id")
            .map(|o| o.to_hex())
            .unwrap_or_default(),
        kind,
        collection: s("collection").unwrap_or_default(),
        local_id: d.get("localId").map(display_id).unwrap_or_default(),
        remote_id: d.get("remoteId").map(display_id).unwrap_or_default(),
        field: s("field"),
        local_value: g("localValue"),
        remote_value: g("remoteValue"),
        base_value: g("baseValue"),
        timestamp: dt(d, "timestamp").unwrap_or_default(),
        resolved: d.get_bool("resolved").unwrap_or(false),
        notes: s("notes").unwrap_or_default(),
        deleted_on: s("deletedOn"),
        fields,
        local_document: g("localDocument"),
        remote_document: g("remoteDocument"),
        base_document: g("baseDocument"),
        suggested_value: d.get("suggestedValue").map(to_display),
        resolution: s("resolution"),
        resolved_by: s("resolvedBy"),
        resolved_at: dt(d, "resolvedAt"),
        resolution_notes: s("resolutionNotes"),
        auto_resolved: d.get_bool("autoResolved").unwrap_or(false),
        count: d
            .get("count")
            .and_then(Bson::as_i64)
            .and_then(|n| u32::try_from(n).ok()),
        sample: d
            .get_array("sample")
            .map(|a| {
                a.iter()
                    .filter_map(Bson::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Turns a typed value into BSON, keeping the type of the value it replaces: a person typing
/// `2024` for a text field means the text "2024".
fn to_bson_value(v: &ResolveValue, like: Option<&Bson>) -> Result<Bson> {
    match v {
        ResolveValue::Exact(b) => Ok(b.clone()),
        ResolveValue::Json(j) => typed_like(j, like).map_or_else(|| json_to_bson(j), Ok),
        ResolveValue::Text(t) => {
            if matches!(like, Some(Bson::String(_)) | None) {
                return Ok(Bson::String(t.clone()));
            }
            // The text as typed first ("2501.50" stays that decimal, an id's hex an ObjectId).
            if let Some(b) = typed_like(&serde_json::Value::String(t.clone()), like) {
                return Ok(b);
            }
            match serde_json::from_str::<serde_json::Value>(t) {
                Ok(j) => typed_like(&j, like).map_or_else(|| json_to_bson(&j), Ok),
                Err(_) => Ok(Bson::String(t.clone())),
            }
        }
    }
}

/// A JSON value in the BSON type of the value it replaces, where it reads as one: the hex of
/// an ObjectId, a date's text, a whole number for a 64-bit field. JSON has no such types, so
/// without this an ObjectId would come back as a 24-character string.
fn typed_like(j: &serde_json::Value, like: Option<&Bson>) -> Option<Bson> {
    use serde_json::Value as J;
    match (like?, j) {
        (Bson::ObjectId(_), J::String(s)) => bson::oid::ObjectId::parse_str(s.trim())
            .ok()
            .map(Bson::ObjectId),
        (Bson::DateTime(_), J::String(s)) => bson::DateTime::parse_rfc3339_str(s.trim())
            .ok()
            .map(Bson::DateTime),
        (Bson::Int64(_), J::Number(n)) => n.as_i64().map(Bson::Int64),
        (Bson::Int32(_), J::Number(n)) => n
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map(Bson::Int32),
        (Bson::Double(_), J::Number(n)) => n.as_f64().map(Bson::Double),
        (Bson::Decimal128(_), J::String(_) | J::Number(_)) => {
            let text = match j {
                J::String(s) => s.trim().to_string(),
                other => other.to_string(),
            };
            text.parse::<bson::Decimal128>().ok().map(Bson::Decimal128)
        }
        _ => None,
    }
}

fn json_to_bson(j: &serde_json::Value) -> Result<Bson> {
    Bson::try_from(j.clone()).map_err(|e| Error::InvalidResolution {
        id: String::new(),
        reason: format!("the value is not valid: {e}"),
    })
}

fn refuse(id: &str, reason: impl Into<String>) -> Error {
    Error::InvalidResolution {
        id: id.to_string(),
        reason: reason.into(),
    }
}

/// The paths of an update conflict's fields: their segments, or for a record written before
/// segments were stored, its dotted path read as such (as it was written).
fn conflict_paths(c: &Document) -> Vec<FieldPath> {
    c.get_array("fields")
        .map(|a| {
            a.iter()
                .filter_map(Bson::as_document)
                .filter_map(|f| match f.get_array("pathSegments") {
                    Ok(segs) => segs
                        .iter()
                        .map(|s| s.as_str().map(str::to_string))
                        .collect::<Option<FieldPath>>(),
                    Err(_) => f.get_str("path").ok().map(key_path),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Puts a person's `merge` value into the merged document: the value itself when one field
/// conflicts, else a JSON object keyed by each field's path exactly as shown (a name holding
/// a `.` is one key). Returns the value as applied.
fn merge_values(
    id: &str,
    v: &ResolveValue,
    paths: &[FieldPath],
    cur: &Document,
    merged: &mut Document,
) -> Result<Bson> {
    if let [path] = paths {
        let like = get_path(cur, path).cloned();
        let val = to_bson_value(v, like.as_ref())?;
        set_path(merged, path, Some(val.clone()));
        return Ok(val);
    }
    let shown: Vec<String> = paths.iter().map(|p| display_path(p)).collect();
    let obj = match v {
        ResolveValue::Json(j) => j.clone(),
        ResolveValue::Exact(b) => to_display(b),
        ResolveValue::Text(t) => serde_json::from_str(t).map_err(|_| {
            refuse(
                id,
                format!(
                    "several fields conflict ({}): give a JSON object such as {{\"{}\": ...}}",
                    shown.join(", "),
                    shown.first().cloned().unwrap_or_default()
                ),
            )
        })?,
    };
    let Some(map) = obj.as_object() else {
        return Err(refuse(
            id,
            "the value must be a JSON object of field: value",
        ));
    };
    for (path, key) in paths.iter().zip(&shown) {
        let Some(val) = map.get(key) else {
            return Err(refuse(id, format!("the value gives no '{key}'")));
        };
        let like = get_path(cur, path);
        let typed = typed_like(val, like).map_or_else(|| json_to_bson(val), Ok)?;
        set_path(merged, path, Some(typed));
    }
    json_to_bson(&obj)
}

/// Applies a person's decision to the local side; the next sync carries it out.
pub(crate) async fn resolve(
    dbs: &Databases,
    id: &str,
    r: &Resolution,
    now: DateTime<Utc>,
) -> Result<ResolveOutcome> {
    resolve_as(dbs, id, r, now, false).await
}

async fn resolve_as(
    dbs: &Databases,
    id: &str,
    r: &Resolution,
    now: DateTime<Utc>,
    automatic: bool,
) -> Result<ResolveOutcome> {
    let c = load(dbs, id).await?;
    if c.get_bool("resolved").unwrap_or(false) {
        let how = c.get_str("resolution").unwrap_or("resolved");
        let by = c.get_str("resolvedBy").unwrap_or("someone");
        return Err(Error::ConflictAlreadyResolved {
            id: id.to_string(),
            how: format!("{how} by {by}"),
        });
    }
    if c.get_str("type") == Ok("bulk") {
        let message = crate::bulk::resolve(dbs, id, &c, r, now).await?;
        return close_resolved(dbs, id, r, now, message, automatic, Document::new()).await;
    }
    let collection = c.get_str("collection").unwrap_or_default().to_string();
    let local_id = c.get("localId").cloned().unwrap_or(Bson::Null);
    let remote_id = c.get("remoteId").cloned().unwrap_or(Bson::Null);
    let kind = c.get_str("type").unwrap_or_default();
    let local = dbs.local_coll(&collection);
    let base = dbs.base_coll(&collection);
    let current = local
        .find_one(doc! { "_id": local_id.clone() })
        .await
        .map_err(local_err("reading the document"))?;
    if let Some(what) = moved_on(dbs, &c, current.as_ref(), &collection, &remote_id).await? {
        return Err(refuse(
            id,
            format!(
                "{what} since the conflict was recorded. Sync first: the conflict is then shown with what both sides hold now, and you decide on that"
            ),
        ));
    }
    let stored_doc = |k: &str| c.get_document(k).ok().cloned();
    let mut saved: Option<Document> = None;
    let mut applied_value: Option<Bson> = None;

    let message = match kind {
        "unique" => {
            let (field, _) = rename_target(&c);
            let Some(cur) = current.clone() else {
                return Err(refuse(
                    id,
                    "the local document no longer exists; run `templesync sync` and the conflict will clear",
                ));
            };
            let taken = get_path(&cur, &key_path(&field)).cloned();
            let new_value = match (r.strategy, &r.value) {
                (Strategy::KeepRemote, _) => None,
                (Strategy::KeepLocal, None) => None,
                (Strategy::Merge, None) => return Err(refuse(id, "merge needs a value (--value)")),
                (_, Some(v)) => Some(to_bson_value(v, taken.as_ref())?),
                (Strategy::RenameLocal, None) => {
                    let suggested = c.get("suggestedValue").cloned();
                    match suggested {
                        Some(Bson::String(s)) => Some(Bson::String(s)),
                        _ => {
                            let Some(Bson::String(t)) = &taken else {
                                return Err(refuse(
                                    id,
                                    "no suggestion is possible for this value: give one with --value",
                                ));
                            };
                            suggest_free_value(dbs, &collection, &field, t)
                                .await?
                                .map(Bson::String)
                        }
                    }
                }
            };
            match new_value {
                Some(v) => {
                    if matches!(v, Bson::Null) || v.as_str().is_some_and(|s| s.trim().is_empty()) {
                        return Err(refuse(id, format!("the new {field} must not be empty")));
                    }
                    if !value_is_free(dbs, &collection, &field, &v, Some(&local_id)).await? {
                        return Err(refuse(
                            id,
                            format!(
                                "{field} '{}' is also taken; choose another value",
                                display_id(&v)
                            ),
                        ));
                    }
                    let mut set = doc! { "updatedAt": to_bson(now), "syncStatus": "pending" };
                    set.insert(field.clone(), v.clone());
                    local
                        .update_one(doc! { "_id": local_id.clone() }, doc! { "$set": set })
                        .await
                        .map_err(local_err("renaming the local document"))?;
                    applied_value = Some(v.clone());
                    format!(
                        "Local {field} changed to '{}'; the next sync sends it to the cloud",
                        display_id(&v)
                    )
                }
                None if r.strategy == Strategy::KeepRemote => {
                    saved = Some(cur.clone());
                    let synced_before = base
                        .find_one(doc! { "_id": local_id.clone() })
                        .await
                        .map_err(local_err("reading the synced version"))?;
                    match synced_before.and_then(|b| b.get_document("doc").ok().cloned()) {
                        Some(prev) => {
                            let mut restored = prev.clone();
                            restored.insert(
                                "syncedAt",
                                prev.get("updatedAt")
                                    .cloned()
                                    .unwrap_or(Bson::DateTime(to_bson(now))),
                            );
                            restored.insert("syncStatus", "synced");
                            local
                                .replace_one(doc! { "_id": local_id.clone() }, restored)
                                .await
                                .map_err(local_err("restoring the synced version"))?;
                            "The local change was undone; the cloud version stays (the local version is kept in this conflict record)".to_string()
                        }
                        None => {
                            local
                                .delete_one(doc! { "_id": local_id.clone() })
                                .await
                                .map_err(local_err("removing the local document"))?;
                            "The local document was removed and the cloud one will be copied here (the local version is kept in this conflict record)".to_string()
                        }
                    }
                }
                None => {
                    // keep_local without a value: the local document keeps the value and the
                    // cloud document holding it is deleted on both sides.
                    let Some(holder) = stored_doc("remoteDocument") else {
                        return Err(refuse(
                            id,
                            "the cloud document is unknown; use rename_local instead",
                        ));
                    };
                    let h = content(&holder);
                    base.delete_many(doc! { "_id": remote_id.clone() })
                        .await
                        .map_err(local_err("updating the synced version"))?;
                    base.insert_one(
                        doc! { "_id": remote_id.clone(), "h": content_hash(&h), "doc": h },
                    )
                    .await
                    .map_err(local_err("updating the synced version"))?;
                    if let Some(l) = local
                        .find_one_and_delete(doc! { "_id": remote_id.clone() })
                        .await
                        .map_err(local_err("removing the other document"))?
                    {
                        saved = Some(l);
                    }
                    local
                        .update_one(
                            doc! { "_id": local_id.clone() },
                            doc! { "$set": { "syncStatus": "pending", "syncedAt": Bson::Null } },
                        )
                        .await
                        .map_err(local_err("updating the local document"))?;
                    format!(
                        "The local document keeps {field}; the cloud document {} that held it will be deleted by the next sync (it is kept in this conflict record)",
                        display_id(&remote_id)
                    )
                }
            }
        }
        "update" => {
            if r.strategy == Strategy::RenameLocal {
                return Err(refuse(
                    id,
                    "rename_local is for unique-value conflicts; use keep_local, keep_remote or merge",
                ));
            }
            let Some(cur) = current.clone() else {
                return Err(refuse(
                    id,
                    "the local document no longer exists; run `templesync sync` and the conflict will clear",
                ));
            };
            let remote_v = stored_doc("remoteDocument").unwrap_or_default();
            let base_v = stored_doc("baseDocument").unwrap_or_default();
            let m = merge3(&base_v, &content(&cur), &remote_v);
            let paths = conflict_paths(&c);
            let mut merged = m.merged;
            match r.strategy {
                Strategy::KeepLocal => {
                    for p in &paths {
                        set_path(&mut merged, p, get_path(&cur, p).cloned());
                    }
                }
                Strategy::KeepRemote => {
                    for p in &paths {
                        set_path(&mut merged, p, get_path(&remote_v, p).cloned());
                    }
                }
                Strategy::Merge => {
                    let Some(v) = &r.value else {
                        return Err(refuse(id, "merge needs a value (--value)"));
                    };
                    applied_value = Some(merge_values(id, v, &paths, &cur, &mut merged)?);
                }
                Strategy::RenameLocal => unreachable!("refused above"),
            }
            let mut next = merged.clone();
            next.insert("syncedAt", Bson::Null);
            next.insert("syncStatus", "pending");
            local
                .replace_one(doc! { "_id": local_id.clone() }, next)
                .await
                .map_err(local_err("writing the resolved document"))?;
            let r_content = content(&remote_v);
            base.delete_many(doc! { "_id": local_id.clone() })
                .await
                .map_err(local_err("updating the synced version"))?;
            base.insert_one(
                doc! { "_id": local_id.clone(), "h": content_hash(&r_content), "doc": r_content },
            )
            .await
            .map_err(local_err("updating the synced version"))?;
            saved = Some(cur);
            match r.strategy {
                Strategy::KeepLocal => {
                    "The local values are kept; the next sync sends them to the cloud".to_string()
                }
                Strategy::KeepRemote => {
                    "The cloud values are taken; the local document was updated".to_string()
                }
                _ => "The merged value is stored; the next sync sends it to the cloud".to_string(),
            }
        }
        "delete" => {
            if matches!(r.strategy, Strategy::RenameLocal | Strategy::Merge) {
                return Err(refuse(
                    id,
                    format!(
                        "{} needs two versions, but this document was deleted on one side: use keep_local or keep_remote",
                        r.strategy.as_str()
                    ),
                ));
            }
            let deleted_here = c.get_str("deletedOn").ok() == Some("local");
            let keep_local = r.strategy == Strategy::KeepLocal;
            match (deleted_here, keep_local) {
                (true, true) => {
                    // The deletion wins: make the cloud version the synced one, so it is deleted.
                    let rv = content(&stored_doc("remoteDocument").unwrap_or_default());
                    base.delete_many(doc! { "_id": local_id.clone() })
                        .await
                        .map_err(local_err("updating the synced version"))?;
                    base.insert_one(
                        doc! { "_id": local_id.clone(), "h": content_hash(&rv), "doc": rv },
                    )
                    .await
                    .map_err(local_err("updating the synced version"))?;
                    "The document stays deleted; the next sync deletes it in the cloud too"
                        .to_string()
                }
                (true, false) => {
                    base.delete_many(doc! { "_id": local_id.clone() })
                        .await
                        .map_err(local_err("updating the synced version"))?;
                    "The cloud version wins; the next sync copies it back here".to_string()
                }
                (false, true) => {
                    base.delete_many(doc! { "_id": local_id.clone() })
                        .await
                        .map_err(local_err("updating the synced version"))?;
                    local
                        .update_one(
                            doc! { "_id": local_id.clone() },
                            doc! { "$set": { "syncStatus": "pending", "syncedAt": Bson::Null } },
                        )
                        .await
                        .map_err(local_err("updating the local document"))?;
                    "The local version wins; the next sync puts it back in the cloud".to_string()
                }
                (false, false) => {
                    saved = current.clone();
                    local
                        .delete_one(doc! { "_id": local_id.clone() })
                        .await
                        .map_err(local_err("removing the local document"))?;
                    base.delete_many(doc! { "_id": local_id.clone() })
                        .await
                        .map_err(local_err("updating the synced version"))?;
                    "The deletion wins; the local document was removed (it is kept in this conflict record)".to_string()
                }
            }
        }
        other => return Err(refuse(id, format!("unknown conflict type '{other}'"))),
    };

    mark_dirty(
        dbs,
        &collection,
        &[local_id.clone(), remote_id.clone()],
        now,
        true,
    )
    .await?;
    let mut extra = Document::new();
    if let Some(v) = applied_value {
        extra.insert("appliedValue", v);
    }
    if let Some(s) = saved {
        extra.insert("discardedDocument", s);
    }
    close_resolved(dbs, id, r, now, message, automatic, extra).await
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
                .filter(|k| !crate::content::same_value(a.get(*k), b.get(*k)))
                .collect();
            let list: Vec<&str> = fields.into_iter().collect();
            (!list.is_empty()).then(|| format!("changed ({})", list.join(", ")))
        }
    }
}

/// Whether either document of a conflict moved on since it was recorded: a decision is made on
/// the documents as they are, never on stale copies. The cloud is asked when it answers within
/// a few seconds; offline, the next sync catches a cloud change (the resolution's base is the
/// cloud version the person saw).
async fn moved_on(
    dbs: &Databases,
    c: &Document,
    current: Option<&Document>,
    collection: &str,
    remote_id: &Bson,
) -> Result<Option<String>> {
    let stored = |k: &str| c.get_document(k).ok();
    if let Some(how) = change_between(stored("localDocument"), current) {
        return Ok(Some(format!("This computer's copy {how}")));
    }
    // A unique clash's cloud document matters only in whether it still holds the value, which
    // the resolution checks itself (a value is accepted only when free on both sides).
    if c.get_str("type") == Ok("unique") || matches!(remote_id, Bson::Null) || dbs.remote.is_none()
    {
        return Ok(None);
    }
    let look = async {
        let remote = dbs.remote().await?;
        remote
            .collection::<Document>(collection)
            .find_one(doc! { "_id": remote_id.clone() })
            .await
            .map_err(|e| dbs.classify(Side::Remote, "reading the cloud document", &e))
    };
    match tokio::time::timeout(std::time::Duration::from_secs(4), look).await {
        Ok(Ok(now)) => Ok(change_between(stored("remoteDocument"), now.as_ref())
            .map(|how| format!("The cloud's copy {how}"))),
        // Offline: decided on what was seen; the next sync flags a later cloud change.
        _ => Ok(None),
    }
}

/// Records a conflict as settled by `r`, with what was done (`message`) and `extra` fields.
async fn close_resolved(
    dbs: &Databases,
    id: &str,
    r: &Resolution,
    now: DateTime<Utc>,
    message: String,
    automatic: bool,
    extra: Document,
) -> Result<ResolveOutcome> {
    let mut set = doc! {
        "resolved": true,
        "resolution": r.strategy.as_str(),
        "resolvedBy": &r.by,
        "resolvedAt": to_bson(now),
        "resolutionNotes": opt(r.notes.clone().map(Bson::String)),
        "resolutionMessage": &message,
        "autoResolved": automatic,
    };
    set.extend(extra);
    coll(dbs)
        .update_one(doc! { "_id": parse_id(id)? }, doc! { "$set": set })
        .await
        .map_err(local_err("recording the resolution"))?;
    tracing::info!(conflict = id, strategy = r.strategy.as_str(), by = %r.by, "conflict resolved");
    Ok(ResolveOutcome {
        success: true,
        message: format!(
            "Conflict resolved using {} strategy. {message}",
            r.strategy.as_str()
        ),
        conflict_id: id.to_string(),
        resolved_by: r.by.clone(),
        resolved_at: now,
    })
}

/// One line of an auto-resolve report.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct AutoResolveItem {
    pub conflict_id: String,
    pub collection: String,
    pub outcome: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct AutoResolveReport {
    pub resolved: u32,
    pub skipped: u32,
    pub failed: u32,
    pub items: Vec<AutoResolveItem>,
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

/// Settles the simple cases; leaves the rest for a person.
pub(crate) async fn auto_resolve(
    dbs: &Databases,
    max: u32,
    by: &str,
    now: DateTime<Utc>,
) -> Result<AutoResolveReport> {
    let open: Vec<Document> = coll(dbs)
        .find(doc! { "resolved": false })
        .sort(doc! { "timestamp": 1 })
        .limit(max as i64)
        .await
        .map_err(local_err("reading conflicts"))?
        .try_collect()
        .await
        .map_err(local_err("reading conflicts"))?;
    let mut report = AutoResolveReport::default();
    for c in open {
        let id = c
            .get_object_id("_id")
            .map(|o| o.to_hex())
            .unwrap_or_default();
        let collection = c.get_str("collection").unwrap_or_default().to_string();
        let plan = plan_auto(dbs, &c, now).await;
        let (outcome, detail) = match plan {
            Ok(Some((res, why))) => match resolve_as(
                dbs,
                &id,
                &Resolution {
                    by: by.to_string(),
                    ..res
                },
                now,
                true,
            )
            .await
            {
                Ok(_) => {
                    report.resolved += 1;
                    ("resolved", why)
                }
                Err(e) => {
                    report.failed += 1;
                    ("failed", e.to_string())
                }
            },
            Ok(None) => {
                report.skipped += 1;
                (
                    "skipped",
                    "needs a person: see `templesync conflicts`".to_string(),
                )
            }
            Err(e) => {
                report.failed += 1;
                ("failed", e.to_string())
            }
        };
        report.items.push(AutoResolveItem {
            conflict_id: id,
            collection,
            outcome: outcome.into(),
            detail,
        });
    }
    Ok(report)
}

async fn plan_auto(
    dbs: &Databases,
    c: &Document,
    now: DateTime<Utc>,
) -> Result<Option<(Resolution, String)>> {
    let collection = c.get_str("collection").unwrap_or_default();
    let res = |strategy, value: Option<ResolveValue>, note: &str| Resolution {
        strategy,
        value,
        notes: Some(format!("auto-resolve: {note}")),
        by: String::new(),
    };
    match c.get_str("type").unwrap_or_default() {
        "unique" => {
            let (field, value) = rename_target(c);
            let (field, value) = (field.as_str(), value.unwrap_or(Bson::Null));
            let holder_id = c.get("remoteId").cloned().unwrap_or(Bson::Null);
            let holder = dbs
                .remote()
                .await?
                .collection::<Document>(collection)
                .find_one(doc! { "_id": holder_id })
                .await
                .map_err(|e| dbs.classify(Side::Remote, "reading the cloud document", &e))?;
            let still_holds = holder.as_ref().is_some_and(|h| {
                crate::content::same_value(get_path(h, &key_path(field)), Some(&value))
            });
            if !still_holds {
                // The clash is gone: keep the value, the next sync retries the push.
                let v = Some(ResolveValue::Exact(value.clone()));
                return Ok(Some((
                    res(
                        Strategy::KeepLocal,
                        v,
                        "the cloud no longer holds the value",
                    ),
                    "the cloud no longer holds the value: retried".into(),
                )));
            }
            let local_id = c.get("localId").cloned().unwrap_or(Bson::Null);
            let local_doc = dbs
                .local_coll(collection)
                .find_one(doc! { "_id": local_id.clone() })
                .await
                .map_err(local_err("reading the document"))?;
            let recent = created_at(local_doc.as_ref(), &local_id)
                .is_some_and(|t| now - t < chrono::Duration::hours(1));
            if recent && matches!(value, Bson::String(_)) {
                return Ok(Some((
                    res(Strategy::RenameLocal, None, "created less than an hour ago"),
                    "created less than an hour ago: renamed locally".into(),
                )));
            }
            Ok(None)
        }
        "update" => {
            let l = c.get_document("localDocument").ok();
            let r = c.get_document("remoteDocument").ok();
            match (l, r) {
                (Some(l), Some(r)) if crate::reconcile::remote_is_newer(l, r) => Ok(Some((
                    res(Strategy::KeepRemote, None, "the cloud version is newer"),
                    "the cloud version is newer: kept it".into(),
                ))),
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
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
    fn json_values_keep_the_bson_type_of_the_field() {
        let oid = ObjectId::new();
        let j = ResolveValue::Json(serde_json::Value::String(oid.to_hex()));
        assert_eq!(
            to_bson_value(&j, Some(&Bson::ObjectId(oid))).unwrap(),
            Bson::ObjectId(oid)
        );
        let when = bson::DateTime::from_millis(1_700_000_000_000);
        let text = when.try_to_rfc3339_string().unwrap();
        let j = ResolveValue::Json(serde_json::Value::String(text));
        assert_eq!(
            to_bson_value(&j, Some(&Bson::DateTime(when))).unwrap(),
            Bson::DateTime(when)
        );
        let j = ResolveValue::Json(serde_json::json!(7));
        assert_eq!(
            to_bson_value(&j, Some(&Bson::Int64(1))).unwrap(),
            Bson::Int64(7)
        );
        let dec: bson::Decimal128 = "2501.50".parse().unwrap();
        let j = ResolveValue::Text("2501.50".into());
        assert_eq!(
            to_bson_value(&j, Some(&Bson::Decimal128(dec))).unwrap(),
            Bson::Decimal128(dec)
        );
        let exact = ResolveValue::Exact(Bson::ObjectId(oid));
        assert_eq!(
            to_bson_value(&exact, Some(&Bson::String("x".into()))).unwrap(),
            Bson::ObjectId(oid)
        );
        // Not readable as the field's type: as given.
        let j = ResolveValue::Json(serde_json::Value::String("not an id".into()));
        assert_eq!(
            to_bson_value(&j, Some(&Bson::ObjectId(oid))).unwrap(),
            Bson::String("not an id".into())
        );
    }

    #[test]
    fn a_change_is_told_by_its_fields() {
        let then = doc! { "_id": 1, "name": "x", "phone": "1", "syncStatus": "pending" };
        let now = doc! { "_id": 1, "name": "x", "phone": "2", "syncStatus": "conflict" };
        assert_eq!(
            change_between(Some(&then), Some(&now)).as_deref(),
            Some("changed (phone)")
        );
        assert_eq!(
            change_between(Some(&then), Some(&then)),
            None,
            "bookkeeping aside, the same"
        );
        assert_eq!(
            change_between(Some(&then), None).as_deref(),
            Some("was deleted")
        );
        assert_eq!(change_between(None, None), None);
    }

    #[test]
    fn typed_values_keep_the_type_they_replace() {
        let text = ResolveValue::Text("2024".into());
        assert_eq!(
            to_bson_value(&text, Some(&Bson::String("x".into()))).unwrap(),
            Bson::String("2024".into())
        );
        assert_eq!(
            to_bson_value(&text, Some(&Bson::Int32(1))).unwrap(),
            Bson::Int32(2024)
        );
    }

    #[test]
    fn conflict_paths_are_read_from_segments_and_old_records_still_work() {
        let new = doc! { "fields": [
            { "path": "price.usd", "pathSegments": ["price.usd"] },
            { "path": "address.city", "pathSegments": ["address", "city"] },
        ] };
        assert_eq!(
            conflict_paths(&new),
            vec![
                vec!["price.usd".to_string()],
                vec!["address".into(), "city".into()]
            ]
        );
        // Written before segments were stored: the dotted path meant what it says.
        let old = doc! { "fields": [ { "path": "address.city" } ] };
        assert_eq!(
            conflict_paths(&old),
            vec![vec!["address".to_string(), "city".into()]]
        );
    }

    #[test]
    fn malformed_conflict_ids_are_not_found_not_crashes() {
        assert_eq!(
            parse_id("not-an-id").unwrap_err().code(),
            "conflict_not_found"
        );
    }
}
