//! The conflict record: one document of `conflict_logs`, typed. This is the only place that
//! knows the collection's field names: a record is read with [`ConflictRecord::from_document`],
//! a finding written with [`ConflictRecord::finding_fields`], and a closing with
//! [`Settlement::to_set`]. Everything else works on the struct.

use bson::{Bson, Document, doc, oid::ObjectId};
use chrono::{DateTime, Utc};

use super::{Conflict, ConflictKind, FieldView, NewConflict, Strategy};
use crate::clock::to_bson;
use crate::content::{FieldPath, content, display_id, display_path, key_path};
use crate::error::Side;
use crate::json::to_display;
use crate::reconcile::{FieldConflict, Finding, Winner};
use crate::run::UniqueClash;

/// One record of `conflict_logs`. `None` (or empty) is a field the record does not hold;
/// records of older versions lack some.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ConflictRecord {
    pub id: Option<ObjectId>,
    /// The kind, or the `type` a record of an unknown kind gives.
    pub kind: Option<ConflictKind>,
    pub type_name: String,
    pub collection: String,
    pub local_id: Option<Bson>,
    pub remote_id: Option<Bson>,
    /// For people: the field(s) in conflict, joined with `, `.
    pub field: Option<String>,
    /// Unique: the key's fields (a compound index's all) and the one a rename changes.
    pub key_fields: Option<Vec<String>>,
    pub rename_field: Option<String>,
    pub local_value: Option<Bson>,
    pub remote_value: Option<Bson>,
    pub base_value: Option<Bson>,
    /// The documents as the sync saw them (unique: `remote_document` is the value's holder).
    pub local_document: Option<Document>,
    pub remote_document: Option<Document>,
    pub base_document: Option<Document>,
    /// Update: the fields changed on both sides.
    pub fields: Option<Vec<FieldRecord>>,
    /// Delete and bulk: the side that deleted.
    pub deleted_on: Option<Side>,
    pub notes: Option<String>,
    pub suggested_value: Option<Bson>,
    pub timestamp: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub run_id: Option<ObjectId>,
    pub resolved: bool,
    pub auto_resolved: bool,
    pub resolution: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_notes: Option<String>,
    /// Bulk: how many deletes are held, of how many documents, their ids and a sample.
    pub count: Option<i64>,
    pub collection_size: Option<i64>,
    pub doc_ids: Vec<Bson>,
    pub sample: Vec<String>,
}

/// One field of an update conflict.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldRecord {
    /// The path as people read it.
    pub shown: String,
    /// The path itself (`None`: a record whose segments cannot be read).
    pub path: Option<FieldPath>,
    pub local: Option<Bson>,
    pub remote: Option<Bson>,
    pub base: Option<Bson>,
}

fn opt(v: Option<Bson>) -> Bson {
    v.unwrap_or(Bson::Null)
}

fn opt_doc(d: &Option<Document>) -> Bson {
    d.as_ref().map_or(Bson::Null, |d| Bson::Document(kept(d)))
}

/// Above this size, a version kept in a record leaves its large values out: a record holds two
/// to four versions of a document, and MongoDB stores at most 16 MB in one.
const VERSION_BYTES: usize = 2 * 1024 * 1024;
/// Values up to this size are kept whatever the document's size.
const KEPT_VALUE_BYTES: usize = 64 * 1024;
/// The field of the sub-document that stands for a value left out: its size in bytes.
pub(crate) const OMITTED: &str = "templesyncOmittedBytes";

/// The size of a value as BSON.
pub(crate) fn value_bytes(v: &Bson) -> i64 {
    bson::to_vec(&doc! { "v": v.clone() }).map_or(i64::MAX, |b| b.len() as i64)
}

/// A document as a record keeps it: whole, or for a large one with every value over
/// [`KEPT_VALUE_BYTES`] replaced by `{templesyncOmittedBytes: n}` (the documents themselves
/// stay where they are; a decision is made on them as they are then).
pub(crate) fn kept(d: &Document) -> Document {
    if bson::to_vec(d).map_or(0, |b| b.len()) <= VERSION_BYTES {
        return d.clone();
    }
    d.iter()
        .map(|(k, v)| {
            let n = value_bytes(v);
            match n > KEPT_VALUE_BYTES as i64 {
                true => (k.clone(), Bson::Document(doc! { OMITTED: n })),
                false => (k.clone(), v.clone()),
            }
        })
        .collect()
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Local => "local",
        Side::Remote => "remote",
    }
}

impl ConflictKind {
    pub(crate) fn parse(s: &str) -> Option<ConflictKind> {
        Some(match s {
            "unique" => ConflictKind::Unique,
            "update" => ConflictKind::Update,
            "delete" => ConflictKind::Delete,
            "bulk" => ConflictKind::Bulk,
            _ => return None,
        })
    }
}

impl FieldRecord {
    fn from_document(f: &Document) -> FieldRecord {
        // Written before segments were stored: the dotted path read as such (as it was written).
        let path = match f.get_array("pathSegments") {
            Ok(segs) => segs
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect::<Option<FieldPath>>(),
            Err(_) => f.get_str("path").ok().map(key_path),
        };
        FieldRecord {
            shown: f.get_str("path").unwrap_or_default().to_string(),
            path,
            local: f.get("local").cloned(),
            remote: f.get("remote").cloned(),
            base: f.get("base").cloned(),
        }
    }

    fn to_document(&self) -> Bson {
        let mut d = doc! { "path": &self.shown };
        // For people `path`; `pathSegments` is the path itself (a name may hold a `.`).
        if let Some(p) = &self.path {
            d.insert("pathSegments", p.clone());
        }
        d.insert("local", opt(self.local.clone()));
        d.insert("remote", opt(self.remote.clone()));
        d.insert("base", opt(self.base.clone()));
        Bson::Document(d)
    }

    fn found(f: &FieldConflict) -> FieldRecord {
        FieldRecord {
            shown: display_path(&f.path),
            path: Some(f.path.clone()),
            local: Some(opt(f.local.clone())),
            remote: Some(opt(f.remote.clone())),
            base: Some(opt(f.base.clone())),
        }
    }
}

impl ConflictRecord {
    pub(crate) fn from_document(d: &Document) -> ConflictRecord {
        let s = |k: &str| d.get_str(k).ok().map(str::to_string);
        let dt = |k: &str| d.get_datetime(k).ok().map(|t| t.to_chrono());
        let type_name = d.get_str("type").unwrap_or_default().to_string();
        ConflictRecord {
            id: d.get_object_id("_id").ok(),
            kind: ConflictKind::parse(&type_name),
            type_name,
            collection: s("collection").unwrap_or_default(),
            local_id: d.get("localId").cloned(),
            remote_id: d.get("remoteId").cloned(),
            field: s("field"),
            key_fields: d.get_array("keyFields").ok().map(|a| {
                a.iter()
                    .filter_map(Bson::as_str)
                    .map(str::to_string)
                    .collect()
            }),
            rename_field: s("renameField"),
            local_value: d.get("localValue").cloned(),
            remote_value: d.get("remoteValue").cloned(),
            base_value: d.get("baseValue").cloned(),
            local_document: d.get_document("localDocument").ok().cloned(),
            remote_document: d.get_document("remoteDocument").ok().cloned(),
            base_document: d.get_document("baseDocument").ok().cloned(),
            fields: d.get_array("fields").ok().map(|a| {
                a.iter()
                    .filter_map(Bson::as_document)
                    .map(FieldRecord::from_document)
                    .collect()
            }),
            deleted_on: match d.get_str("deletedOn") {
                Ok("local") => Some(Side::Local),
                Ok("remote") => Some(Side::Remote),
                _ => None,
            },
            notes: s("notes"),
            suggested_value: d.get("suggestedValue").cloned(),
            timestamp: dt("timestamp"),
            last_seen: dt("lastSeen"),
            run_id: d.get_object_id("runId").ok(),
            resolved: d.get_bool("resolved").unwrap_or(false),
            auto_resolved: d.get_bool("autoResolved").unwrap_or(false),
            resolution: s("resolution"),
            resolved_by: s("resolvedBy"),
            resolved_at: dt("resolvedAt"),
            resolution_notes: s("resolutionNotes"),
            count: d.get("count").and_then(Bson::as_i64),
            collection_size: d.get("collectionSize").and_then(Bson::as_i64),
            doc_ids: d.get_array("docIds").cloned().unwrap_or_default(),
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

    /// What a sync writes when it finds (or finds again) a conflict: the same fields for a new
    /// record and for refreshing an open one. The opening fields (`_id`, `timestamp`, ...)
    /// and a settlement are written separately.
    pub(crate) fn finding_fields(&self) -> Document {
        let mut d = doc! {
            "type": &self.type_name,
            "collection": &self.collection,
            "localId": opt(self.local_id.clone()),
        };
        if self.kind == Some(ConflictKind::Bulk) {
            // A hold is of many documents: their count, ids and a sample.
            d.insert("count", opt(self.count.map(Bson::Int64)));
            d.insert("collectionSize", opt(self.collection_size.map(Bson::Int64)));
            d.insert("docIds", self.doc_ids.clone());
            d.insert("sample", self.sample.clone());
        } else {
            d.insert("localDocument", opt_doc(&self.local_document));
            d.insert("remoteDocument", opt_doc(&self.remote_document));
            d.insert("baseDocument", opt_doc(&self.base_document));
        }
        if let Some(t) = self.last_seen {
            d.insert("lastSeen", to_bson(t));
        }
        if let Some(r) = self.run_id {
            d.insert("runId", r);
        }
        d.insert("remoteId", opt(self.remote_id.clone()));
        d.insert("field", opt(self.field.clone().map(Bson::String)));
        if let Some(k) = &self.key_fields {
            d.insert("keyFields", k.clone());
        }
        if let Some(f) = &self.rename_field {
            d.insert("renameField", f);
        }
        if let Some(s) = self.deleted_on {
            d.insert("deletedOn", side_name(s));
        }
        for (k, v) in [
            ("localValue", &self.local_value),
            ("remoteValue", &self.remote_value),
            ("baseValue", &self.base_value),
        ] {
            if let Some(v) = v {
                d.insert(k, v.clone());
            }
        }
        if let Some(fields) = &self.fields {
            d.insert(
                "fields",
                fields
                    .iter()
                    .map(FieldRecord::to_document)
                    .collect::<Vec<_>>(),
            );
        }
        if let Some(n) = &self.notes {
            d.insert("notes", n);
        }
        d
    }

    /// The fields a new open record adds to its finding.
    pub(crate) fn opening_fields(id: ObjectId, now: DateTime<Utc>) -> Document {
        doc! { "_id": id, "timestamp": to_bson(now), "resolved": false, "autoResolved": false }
    }

    /// The record of a finding, or `None` for a finding that is no conflict.
    pub(crate) fn found(c: &NewConflict, now: DateTime<Utc>) -> Option<ConflictRecord> {
        let mut r = ConflictRecord {
            kind: Some(c.kind),
            type_name: c.kind.as_str().to_string(),
            collection: c.collection.clone(),
            local_id: Some(c.id.clone()),
            remote_id: Some(c.id.clone()),
            local_document: c.local.as_ref().map(content),
            remote_document: c.remote.as_ref().map(content),
            base_document: c.base.clone(),
            last_seen: Some(now),
            run_id: Some(c.run_id),
            ..ConflictRecord::default()
        };
        match (&c.clash, &c.finding) {
            (Some(clash), _) => r.found_clash(clash),
            (None, Some(Finding::Edit { fields, .. })) => r.found_edit(fields),
            (None, Some(f)) => r.found_delete(matches!(f, Finding::LocalDeletedRemoteEdited)),
            (None, None) => return None,
        }
        Some(r)
    }

    /// A unique clash: the fields (a compound index's all, in `keyFields`), the values they
    /// share, the field a rename changes, and the document holding them.
    fn found_clash(&mut self, clash: &UniqueClash) {
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
        self.remote_id = Some(clash.holder_id.clone());
        self.field = Some(key.shown());
        self.key_fields = Some(key.fields.clone());
        self.rename_field = Some(key.rename_field(values).to_string());
        self.local_value = Some(value.clone());
        self.remote_value = Some(value);
        self.remote_document = clash.holder.as_ref().map(content);
        let what = match key.fields.len() {
            1 => format!("Unique field '{}'", key.shown()),
            _ => format!("Unique fields '{}' (together)", key.shown()),
        };
        self.notes = Some(match clash.here {
            None => format!("{what} conflicts with existing remote document"),
            Some(_) => format!(
                "{what}: this document holds the same value as cloud document {}, which this computer's database refused to store",
                display_id(&clash.holder_id)
            ),
        });
    }

    fn found_edit(&mut self, fields: &[FieldConflict]) {
        let paths: Vec<String> = fields.iter().map(|f| display_path(&f.path)).collect();
        self.field = Some(paths.join(", "));
        if let [one] = fields {
            self.local_value = Some(opt(one.local.clone()));
            self.remote_value = Some(opt(one.remote.clone()));
            self.base_value = Some(opt(one.base.clone()));
        } else {
            let side = |pick: fn(&FieldConflict) -> &Option<Bson>| -> Bson {
                Bson::Document(
                    fields
                        .iter()
                        .map(|f| (display_path(&f.path), opt(pick(f).clone())))
                        .collect(),
                )
            };
            self.local_value = Some(side(|f| &f.local));
            self.remote_value = Some(side(|f| &f.remote));
        }
        self.fields = Some(fields.iter().map(FieldRecord::found).collect());
        self.notes = Some(format!(
            "Changed on both sides since the last sync: {}",
            paths.join(", ")
        ));
    }

    fn found_delete(&mut self, local_deleted: bool) {
        let (deleted, changed) = (Bson::from("(deleted)"), Bson::from("(changed)"));
        self.deleted_on = Some(if local_deleted {
            Side::Local
        } else {
            Side::Remote
        });
        let (l, r) = if local_deleted {
            (deleted, changed)
        } else {
            (changed, deleted)
        };
        self.local_value = Some(l);
        self.remote_value = Some(r);
        self.notes = Some(
            if local_deleted {
                "Deleted on this computer but changed in the cloud since the last sync"
            } else {
                "Deleted in the cloud but changed on this computer since the last sync"
            }
            .to_string(),
        );
    }

    pub(crate) fn local_id(&self) -> Bson {
        self.local_id.clone().unwrap_or(Bson::Null)
    }

    pub(crate) fn remote_id(&self) -> Bson {
        self.remote_id.clone().unwrap_or(Bson::Null)
    }

    /// The paths of an update conflict's fields.
    pub(crate) fn paths(&self) -> Vec<FieldPath> {
        self.fields
            .iter()
            .flatten()
            .filter_map(|f| f.path.clone())
            .collect()
    }

    /// The field a unique conflict's rename changes, and the value it holds now. Records from
    /// before `renameField` name one field in `field` and its value in `localValue`.
    pub(crate) fn rename_target(&self) -> (String, Option<Bson>) {
        let field = self
            .rename_field
            .clone()
            .or_else(|| self.field.clone())
            .unwrap_or_default();
        let compound = self.key_fields.as_ref().is_some_and(|k| k.len() > 1);
        let value = match &self.local_value {
            Some(Bson::Document(values)) if compound => values.get(&field).cloned(),
            other => other.clone(),
        };
        (field, value)
    }

    /// The record as people and programs see it.
    pub(crate) fn view(&self) -> Conflict {
        let g = |v: &Option<Bson>| v.as_ref().map(to_display).unwrap_or_default();
        let gd = |d: &Option<Document>| {
            d.as_ref().map_or(serde_json::Value::Null, |d| {
                to_display(&Bson::Document(d.clone()))
            })
        };
        let fields = self.fields.iter().flatten().map(|f| FieldView {
            path: f.shown.clone(),
            local: g(&f.local),
            remote: g(&f.remote),
            base: g(&f.base),
        });
        Conflict {
            id: self.id.map(|o| o.to_hex()).unwrap_or_default(),
            kind: self.kind.unwrap_or(ConflictKind::Update),
            collection: self.collection.clone(),
            local_id: self.local_id.as_ref().map(display_id).unwrap_or_default(),
            remote_id: self.remote_id.as_ref().map(display_id).unwrap_or_default(),
            field: self.field.clone(),
            local_value: g(&self.local_value),
            remote_value: g(&self.remote_value),
            base_value: g(&self.base_value),
            timestamp: self.timestamp.unwrap_or_default(),
            resolved: self.resolved,
            notes: self.notes.clone().unwrap_or_default(),
            deleted_on: self.deleted_on.map(|s| side_name(s).to_string()),
            fields: fields.collect(),
            local_document: gd(&self.local_document),
            remote_document: gd(&self.remote_document),
            base_document: gd(&self.base_document),
            suggested_value: self.suggested_value.as_ref().map(to_display),
            resolution: self.resolution.clone(),
            resolved_by: self.resolved_by.clone(),
            resolved_at: self.resolved_at,
            resolution_notes: self.resolution_notes.clone(),
            auto_resolved: self.auto_resolved,
            count: self.count.and_then(|n| u32::try_from(n).ok()),
            sample: self.sample.clone(),
        }
    }
}

/// How a record is closed: the fields written when it stops being open.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one settlement per decision, never stored in bulk"
)]
pub(crate) enum Settlement {
    /// A decision (a person's, or auto-resolve's) carried out.
    Decided {
        strategy: Strategy,
        by: String,
        notes: Option<String>,
        /// What was done, in words.
        message: String,
        automatic: bool,
        /// The value a decision wrote (a merge, a rename).
        applied_value: Option<Bson>,
        /// A version the decision dropped, kept here so that nothing is lost.
        discarded: Option<Document>,
    },
    /// Overtaken by events; the words say which.
    Superseded(&'static str),
    /// Settled by last-write-wins as it was recorded.
    LastWriteWins(Winner),
}

impl Settlement {
    pub(crate) fn to_set(&self, at: DateTime<Utc>) -> Document {
        let mut set = doc! { "resolved": true };
        match self {
            Settlement::Decided {
                strategy,
                by,
                notes,
                message,
                automatic,
                applied_value,
                discarded,
            } => {
                set.insert("resolution", strategy.as_str());
                set.insert("resolvedBy", by);
                set.insert("resolvedAt", to_bson(at));
                set.insert("resolutionNotes", opt(notes.clone().map(Bson::String)));
                set.insert("resolutionMessage", message);
                set.insert("autoResolved", *automatic);
                if let Some(v) = applied_value {
                    set.insert("appliedValue", v.clone());
                }
                if let Some(d) = discarded {
                    set.insert("discardedDocument", kept(d));
                }
            }
            Settlement::Superseded(why) => {
                set.insert("resolution", "superseded");
                set.insert("resolvedBy", "templesync");
                set.insert("resolvedAt", to_bson(at));
                set.insert("resolutionNotes", *why);
            }
            Settlement::LastWriteWins(winner) => {
                set.insert("autoResolved", true);
                set.insert("resolution", "last_write_wins");
                let w = if *winner == Winner::Remote {
                    "remote"
                } else {
                    "local"
                };
                set.insert("winner", w);
                set.insert("resolvedBy", "templesync");
                set.insert("resolvedAt", to_bson(at));
            }
        }
        set
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_large_version_keeps_its_small_values_and_the_size_of_the_large_ones() {
        let scan = "x".repeat(3 * 1024 * 1024);
        let d = doc! { "_id": 1, "name": "Ravi", "scan": scan.clone() };
        let k = kept(&d);
        assert_eq!(k.get_str("name").unwrap(), "Ravi");
        let n = k.get_document("scan").unwrap().get_i64(OMITTED).unwrap();
        assert_eq!(n, value_bytes(&Bson::String(scan)));
        let small = doc! { "_id": 1, "name": "Ravi" };
        assert_eq!(kept(&small), small, "a small version is kept whole");
    }

    use super::*;

    #[test]
    fn conflict_paths_are_read_from_segments_and_old_records_still_work() {
        let new = doc! { "fields": [
            { "path": "price.usd", "pathSegments": ["price.usd"] },
            { "path": "address.city", "pathSegments": ["address", "city"] },
        ] };
        assert_eq!(
            ConflictRecord::from_document(&new).paths(),
            vec![
                vec!["price.usd".to_string()],
                vec!["address".into(), "city".into()]
            ]
        );
        // Written before segments were stored: the dotted path meant what it says.
        let old = doc! { "fields": [ { "path": "address.city" } ] };
        assert_eq!(
            ConflictRecord::from_document(&old).paths(),
            vec![vec!["address".to_string(), "city".into()]]
        );
    }

    #[test]
    fn a_finding_reads_back_as_written() {
        let now = chrono::DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let finding = NewConflict {
            kind: ConflictKind::Update,
            collection: "devotees".into(),
            id: Bson::Int32(1),
            local: Some(doc! { "_id": 1, "name": "a", "syncStatus": "pending" }),
            remote: Some(doc! { "_id": 1, "name": "b" }),
            base: Some(doc! { "_id": 1, "name": "o" }),
            finding: Some(Finding::Edit {
                fields: vec![FieldConflict {
                    path: vec!["name".into()],
                    base: Some("o".into()),
                    local: Some("a".into()),
                    remote: Some("b".into()),
                }],
                merged: doc! {},
            }),
            clash: None,
            auto_resolved: false,
            winner: None,
            run_id: ObjectId::new(),
        };
        let rec = ConflictRecord::found(&finding, now).unwrap();
        let mut stored = rec.finding_fields();
        let id = ObjectId::new();
        stored.extend(ConflictRecord::opening_fields(id, now));
        let back = ConflictRecord::from_document(&stored);
        assert_eq!(
            back,
            ConflictRecord {
                id: Some(id),
                timestamp: Some(now),
                ..rec.clone()
            }
        );
        assert_eq!(
            stored.get_document("localDocument").unwrap(),
            &doc! { "_id": 1, "name": "a" },
            "content only"
        );
        let v = back.view();
        assert_eq!((v.local_value, v.base_value), ("a".into(), "o".into()));
        assert_eq!(v.fields[0].path, "name");
        assert_eq!(v.notes, "Changed on both sides since the last sync: name");
    }

    #[test]
    fn a_delete_finding_says_which_side_deleted() {
        let rec = ConflictRecord {
            kind: Some(ConflictKind::Delete),
            type_name: "delete".into(),
            ..ConflictRecord::default()
        };
        let mut r = rec.clone();
        r.found_delete(true);
        let d = r.finding_fields();
        assert_eq!(d.get_str("deletedOn"), Ok("local"));
        assert_eq!(d.get("field"), Some(&Bson::Null));
        assert_eq!(d.get_str("localValue"), Ok("(deleted)"));
        assert_eq!(
            ConflictRecord::from_document(&d)
                .view()
                .deleted_on
                .as_deref(),
            Some("local")
        );
    }

    #[test]
    fn settlements_write_what_people_read() {
        let at = chrono::DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let set = Settlement::Superseded("why").to_set(at);
        assert_eq!(set.get_str("resolution"), Ok("superseded"));
        assert_eq!(set.get_str("resolutionNotes"), Ok("why"));
        let set = Settlement::LastWriteWins(Winner::Remote).to_set(at);
        assert_eq!(set.get_str("winner"), Ok("remote"));
        assert_eq!(set.get_bool("autoResolved"), Ok(true));
        let set = Settlement::Decided {
            strategy: Strategy::Merge,
            by: "asha".into(),
            notes: None,
            message: "m".into(),
            automatic: false,
            applied_value: Some(Bson::Int32(3)),
            discarded: None,
        }
        .to_set(at);
        assert_eq!(set.get("resolutionNotes"), Some(&Bson::Null));
        assert_eq!(set.get("appliedValue"), Some(&Bson::Int32(3)));
        assert!(!set.contains_key("discardedDocument"));
        let back = ConflictRecord::from_document(&set);
        assert_eq!(back.resolved_by.as_deref(), Some("asha"));
        assert_eq!(back.resolved_at, Some(at));
    }
}
