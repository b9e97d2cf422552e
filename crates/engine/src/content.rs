//! What a document *is* for syncing: its content without the per-side bookkeeping fields, a
//! hash of that content, and a hashable key for its `_id`.
//!
//! Equality here is byte equality of the BSON encoding, as MongoDB's own document equality
//! is field-order and type sensitive. It is also NaN-safe, which `PartialEq` on `Bson` is not.

use bson::{Bson, Document};

/// Fields that describe a document's sync state on one side, not its content. They are never
/// compared, merged or hashed.
pub const META_FIELDS: &[&str] = &["syncedAt", "syncStatus"];

/// The field the Temple Management System sets on every change.
pub const UPDATED_AT: &str = "updatedAt";

/// The document without its bookkeeping fields, order kept.
pub fn content(doc: &Document) -> Document {
    let mut c = doc.clone();
    for f in META_FIELDS {
        c.remove(*f);
    }
    c
}

/// A hash of the content, stored with the last-synced version so that "did this side change
/// since the last sync?" is answered without comparing whole documents. A numeric `_id` is
/// hashed in its canonical form ([`canonical_id`]): `1` and `1.0` are the same document.
pub fn content_hash(doc: &Document) -> String {
    let mut c = content(doc);
    if let Some(id) = c.get("_id")
        && let Some(canon) = canonical_number(id)
    {
        c.insert("_id", canon);
    }
    let bytes = bson::to_vec(&c).unwrap_or_default();
    blake3::hash(&bytes).to_hex()[..32].to_string()
}

/// An `_id` as MongoDB compares it: `1`, `1.0` and `NumberLong(1)` are one id (mongosh and
/// Compass write doubles, the TMS and drivers integers). Integral numbers take the smallest
/// integer type that holds them; other values are themselves.
pub fn canonical_id(id: &Bson) -> Bson {
    canonical_number(id).unwrap_or_else(|| id.clone())
}

fn canonical_number(v: &Bson) -> Option<Bson> {
    let as_int = |i: i64| match i32::try_from(i) {
        Ok(small) => Bson::Int32(small),
        Err(_) => Bson::Int64(i),
    };
    match v {
        Bson::Int32(_) => None,
        Bson::Int64(i) => Some(as_int(*i)),
        Bson::Double(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(as_int(*f as i64)),
        _ => None,
    }
}

/// Byte equality of two BSON values.
pub fn same_value(a: Option<&Bson>, b: Option<&Bson>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => value_bytes(a) == value_bytes(b),
        _ => false,
    }
}

fn value_bytes(v: &Bson) -> Vec<u8> {
    let mut d = Document::new();
    d.insert("v", v.clone());
    bson::to_vec(&d).unwrap_or_default()
}

/// A document `_id` as a key for hash maps: the BSON encoding of its [`canonical_id`] (type
/// byte included, so the string "1" and the number 1 stay different ids, as they are in
/// MongoDB, while `1`, `1.0` and `NumberLong(1)` are one).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdKey(Vec<u8>);

impl IdKey {
    pub fn of(id: &Bson) -> IdKey {
        IdKey(value_bytes(&canonical_id(id)))
    }

    /// Its bytes (to store as a lookup key).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The `_id` back as BSON.
    pub fn to_bson(&self) -> Bson {
        bson::from_slice::<Document>(&self.0)
            .ok()
            .and_then(|mut d| d.remove("v"))
            .unwrap_or(Bson::Null)
    }
}

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", display_id(&self.to_bson()))
    }
}

/// An `_id` as a person reads it: the hex of an ObjectId, a string as it is.
pub fn display_id(id: &Bson) -> String {
    match id {
        Bson::ObjectId(o) => o.to_hex(),
        Bson::String(s) => s.clone(),
        Bson::Int32(i) => i.to_string(),
        Bson::Int64(i) => i.to_string(),
        other => other.clone().into_relaxed_extjson().to_string(),
    }
}

/// A field's place in a document, one segment per level: `["address", "city"]`. A field
/// name may itself contain a `.` (or start with `$`), so a path is never a string to split.
pub type FieldPath = Vec<String>;

/// A path as people read it: the segments joined with `.`.
pub fn display_path<S: AsRef<str>>(path: &[S]) -> String {
    path.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(".")
}

/// The path of an index key or a `uniqueFields` entry: these are MongoDB query paths, in
/// which a `.` always means a sub-document (no index can name a field holding a `.`).
pub fn key_path(key: &str) -> FieldPath {
    key.split('.').map(str::to_string).collect()
}

/// The value at a path in a document.
pub fn get_path<'a, S: AsRef<str>>(doc: &'a Document, path: &[S]) -> Option<&'a Bson> {
    let (first, rest) = path.split_first()?;
    let mut cur = doc.get(first.as_ref())?;
    for p in rest {
        cur = match cur {
            Bson::Document(d) => d.get(p.as_ref())?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Sets (or with `None` removes) the value at a path, creating sub-documents as needed.
pub fn set_path<S: AsRef<str>>(doc: &mut Document, path: &[S], value: Option<Bson>) {
    let Some((head, rest)) = path.split_first() else {
        return;
    };
    let head = head.as_ref();
    if rest.is_empty() {
        match value {
            Some(v) => {
                doc.insert(head, v);
            }
            None => {
                doc.remove(head);
            }
        }
        return;
    }
    if !matches!(doc.get(head), Some(Bson::Document(_))) {
        if value.is_none() {
            return;
        }
        doc.insert(head, Document::new());
    }
    if let Some(Bson::Document(sub)) = doc.get_mut(head) {
        set_path(sub, rest, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn bookkeeping_fields_do_not_change_content() {
        let a = doc! { "_id": 1, "name": "x", "syncedAt": bson::DateTime::now(), "syncStatus": "synced" };
        let b = doc! { "_id": 1, "name": "x", "syncStatus": "pending" };
        assert_eq!(content_hash(&a), content_hash(&b));
        let c = doc! { "_id": 1, "name": "y" };
        assert_ne!(content_hash(&a), content_hash(&c));
    }

    #[test]
    fn nan_equals_itself_so_a_nan_field_does_not_look_changed_forever() {
        let nan = Bson::Double(f64::NAN);
        assert!(same_value(Some(&nan), Some(&nan)));
    }

    #[test]
    fn numeric_ids_equal_in_mongodb_are_one_key_and_one_hash() {
        let ids = [Bson::Int32(1), Bson::Int64(1), Bson::Double(1.0)];
        for id in &ids {
            assert_eq!(IdKey::of(id), IdKey::of(&Bson::Int32(1)), "{id:?}");
            let d = doc! { "_id": id.clone(), "name": "x" };
            assert_eq!(
                content_hash(&d),
                content_hash(&doc! { "_id": 1, "name": "x" })
            );
        }
        assert_ne!(IdKey::of(&Bson::Double(1.5)), IdKey::of(&Bson::Int32(1)));
        assert_eq!(canonical_id(&Bson::Int64(1 << 40)), Bson::Int64(1 << 40));
        assert_eq!(canonical_id(&Bson::Double(1.5)), Bson::Double(1.5));
        // A number is still not a string.
        assert_ne!(
            IdKey::of(&Bson::Double(1.0)),
            IdKey::of(&Bson::String("1".into()))
        );
    }

    #[test]
    fn types_are_significant_as_in_mongodb() {
        assert!(!same_value(Some(&Bson::Int32(1)), Some(&Bson::Int64(1))));
        assert_ne!(
            IdKey::of(&Bson::Int32(1)),
            IdKey::of(&Bson::String("1".into()))
        );
        let oid = bson::oid::ObjectId::new();
        assert_eq!(
            IdKey::of(&Bson::ObjectId(oid)).to_bson(),
            Bson::ObjectId(oid)
        );
    }

    #[test]
    fn paths_get_and_set() {
        let mut d = doc! { "a": { "b": 1 } };
        assert_eq!(get_path(&d, &["a", "b"]), Some(&Bson::Int32(1)));
        set_path(&mut d, &["a", "c"], Some(Bson::Int32(2)));
        set_path(&mut d, &["x", "y"], Some(Bson::Int32(3)));
        set_path(&mut d, &["a", "b"], None);
        assert_eq!(d, doc! { "a": { "c": 2 }, "x": { "y": 3 } });
    }

    #[test]
    fn a_field_name_holding_a_dot_is_one_segment() {
        let mut d = doc! { "price": "standard", "price.usd": 10 };
        assert_eq!(get_path(&d, &["price.usd"]), Some(&Bson::Int32(10)));
        set_path(&mut d, &["price.usd"], Some(Bson::Int32(12)));
        assert_eq!(d, doc! { "price": "standard", "price.usd": 12 });
        assert_eq!(display_path(&["rates", "$usd.x"]), "rates.$usd.x");
    }
}
