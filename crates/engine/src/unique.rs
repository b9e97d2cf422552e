//! Which values must be unique in a collection, and the cloud index that makes it so.
//!
//! A value is unique when `uniqueFields` says so, or when a unique index on either side says
//! so (single-field or compound; `_id` aside): both refuse a document, so both are checked
//! before writing and both name the real fields when they clash. A read-then-write check
//! alone lets two PCs push the same new value at the same moment, so for each configured
//! field the cloud is given a unique index; the index then refuses the later write (E11000),
//! which becomes a `unique` conflict like any other clash.

use bson::{Bson, Document, doc};
use futures::TryStreamExt;
use mongodb::{Collection, IndexModel, options::IndexOptions};

use crate::content::{get_path, key_path, same_value};
use crate::error::{Error, Result, Side, server_code};

/// Fields whose values, taken together, no two documents of a collection may share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UniqueKey {
    /// Index key paths (MongoDB query paths, where a `.` means a sub-document), in order.
    pub fields: Vec<String>,
}

impl UniqueKey {
    pub fn single(field: &str) -> UniqueKey {
        UniqueKey {
            fields: vec![field.to_string()],
        }
    }

    /// The fields as people read them: `username`, or `templeId, slot`.
    pub fn shown(&self) -> String {
        self.fields.join(", ")
    }

    /// The key's values in a document, if it holds them all (a missing or null value is
    /// constrained by no index of ours, and by no configured field).
    pub fn values(&self, doc: &Document) -> Option<Vec<Bson>> {
        self.fields
            .iter()
            .map(|f| get_path(doc, &key_path(f)).filter(|v| !matches!(v, Bson::Null)))
            .map(|v| v.cloned())
            .collect()
    }

    /// Whether two sets of the key's values are equal (every field equal).
    pub fn same(a: &[Bson], b: &[Bson]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(Some(x), Some(y)))
    }

    /// Whether `doc` holds exactly `values`.
    pub fn holds(&self, doc: &Document, values: &[Bson]) -> bool {
        self.values(doc).is_some_and(|v| Self::same(&v, values))
    }

    /// A query for the documents holding any of `wanted` (each a set of the key's values).
    pub fn query(&self, wanted: &[Vec<Bson>]) -> Document {
        if let [field] = self.fields.as_slice() {
            let values: Vec<Bson> = wanted.iter().filter_map(|v| v.first().cloned()).collect();
            return doc! { field: { "$in": values } };
        }
        let each: Vec<Bson> = wanted
            .iter()
            .map(|values| Bson::Document(self.filter(values)))
            .collect();
        doc! { "$or": each }
    }

    /// A query for the documents holding `values`.
    pub fn filter(&self, values: &[Bson]) -> Document {
        self.fields
            .iter()
            .cloned()
            .zip(values.iter().cloned())
            .collect()
    }

    /// The field a rename changes: the last one holding text (a suggestion like
    /// `john_admin_a7k2` is made for text), else the last one.
    pub fn rename_field(&self, values: &[Bson]) -> &str {
        self.fields
            .iter()
            .zip(values)
            .rev()
            .find(|(_, v)| matches!(v, Bson::String(_)))
            .or_else(|| self.fields.iter().zip(values).next_back())
            .map(|(f, _)| f.as_str())
            .unwrap_or_default()
    }
}

/// A collection's unique keys for one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct UniqueRules {
    /// Every key: configured fields, and the unique indexes of both sides.
    pub keys: Vec<UniqueKey>,
    /// The unique indexes of this computer's database: they decide what it refuses.
    pub local_keys: Vec<UniqueKey>,
    /// Why the cloud could not be given an index for a configured field (said once a run).
    pub warning: Option<String>,
}

/// The bounds of the cloud index made for a configured field: documents without the field,
/// or with `null`, stay free (accepted by MongoDB and SecantusDB alike).
fn partial_filter(field: &str) -> Document {
    let types = [
        "string", "number", "date", "objectId", "bool", "binData", "object", "array",
    ];
    doc! { field: { "$exists": true, "$type": types.to_vec() } }
}

/// Reads the unique indexes of both sides (once per collection and run) and makes sure the
/// cloud has one for each configured field. A cloud that already holds duplicates of a
/// configured field cannot get one: that is a warning, and the check before each push stays
/// the only guard.
pub(crate) async fn prepare(
    local: &Collection<Document>,
    remote: &Collection<Document>,
    configured: &[String],
) -> Result<UniqueRules> {
    let mut cloud = index_keys(remote, Side::Remote).await?;
    let mut warnings = Vec::new();
    for field in configured {
        let key = UniqueKey::single(field);
        if cloud.contains(&key) {
            continue;
        }
        match ensure_index(remote, field).await? {
            None => cloud.push(key),
            Some(why) => warnings.push(why),
        }
    }
    let local_keys = index_keys(local, Side::Local).await?;
    let mut keys: Vec<UniqueKey> = configured.iter().map(|f| UniqueKey::single(f)).collect();
    for k in cloud.into_iter().chain(local_keys.iter().cloned()) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    Ok(UniqueRules {
        keys,
        local_keys,
        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
    })
}

/// The keys of a collection's unique indexes (none when the collection does not exist yet).
async fn index_keys(coll: &Collection<Document>, side: Side) -> Result<Vec<UniqueKey>> {
    let what = "reading the unique indexes";
    let indexes: Vec<IndexModel> = match coll.list_indexes().await {
        Ok(cursor) => cursor
            .try_collect()
            .await
            .map_err(|e| Error::db(side, what, &e))?,
        Err(e) if server_code(&e) == Some(26) => Vec::new(),
        Err(e) => return Err(Error::db(side, what, &e)),
    };
    Ok(indexes
        .into_iter()
        .filter(|i| i.options.as_ref().and_then(|o| o.unique) == Some(true))
        .map(|i| UniqueKey {
            fields: i.keys.keys().cloned().collect(),
        })
        .filter(|k| !k.fields.is_empty() && k.fields != ["_id"])
        .collect())
}

/// Creates the cloud's unique index for a configured field (creating an existing one is a
/// no-op). Returns why it could not be made, unless the cloud is simply out of reach (an
/// error then: the run is retried).
async fn ensure_index(remote: &Collection<Document>, field: &str) -> Result<Option<String>> {
    let options = IndexOptions::builder()
        .unique(true)
        .name(format!("templesync_unique_{field}"))
        .partial_filter_expression(partial_filter(field))
        .build();
    let model = IndexModel::builder()
        .keys(doc! { field: 1 })
        .options(options)
        .build();
    let e = match remote.create_index(model).await {
        Ok(_) => return Ok(None),
        Err(e) => e,
    };
    let err = Error::db(Side::Remote, "creating a unique index in the cloud", &e);
    if err.is_transient() {
        return Err(err);
    }
    let coll = remote.name();
    let why = if server_code(&e) == Some(11000) {
        format!(
            "the cloud already holds the same {field} in more than one {coll} document, so it cannot refuse duplicates itself; each push is still checked first, but two PCs pushing the same new {field} at the same moment can both succeed until the duplicates are removed"
        )
    } else {
        format!(
            "the cloud refused a unique index on {coll}.{field} ({err}); each push is still checked first, but two PCs pushing the same new {field} at the same moment can both succeed"
        )
    };
    tracing::warn!(collection = coll, field, reason = %why, "no unique index in the cloud");
    Ok(Some(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compound_key_clashes_only_when_every_field_is_equal() {
        let key = UniqueKey {
            fields: vec!["templeId".into(), "slot".into()],
        };
        let held = doc! { "templeId": "T1", "slot": "9am" };
        let values = key.values(&held).unwrap();
        assert!(key.holds(&doc! { "templeId": "T1", "slot": "9am", "x": 1 }, &values));
        assert!(!key.holds(&doc! { "templeId": "T2", "slot": "9am" }, &values));
        assert_eq!(key.values(&doc! { "templeId": "T1" }), None);
        assert_eq!(key.rename_field(&values), "slot");
        assert_eq!(key.shown(), "templeId, slot");
    }

    #[test]
    fn a_null_value_is_not_constrained() {
        let key = UniqueKey::single("username");
        assert_eq!(key.values(&doc! { "username": Bson::Null }), None);
        assert_eq!(
            key.query(&[vec![Bson::String("a".into())]]),
            doc! { "username": { "$in": ["a"] } }
        );
    }
}
