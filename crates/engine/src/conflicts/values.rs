//! A value given with a decision, turned into BSON: typed like the value it replaces, so that a
//! person typing `2024` for a text field means the text "2024", and an ObjectId stays one.
//! Pure; an `Err` is the reason the value is refused.

use bson::{Bson, Document};

use super::ResolveValue;
use crate::content::{FieldPath, display_path, get_path, set_path};
use crate::json::to_display;

/// Why a value is refused, in words.
pub(crate) type Reason = String;

/// Turns a typed value into BSON, keeping the type of the value it replaces.
pub(crate) fn to_bson_value(v: &ResolveValue, like: Option<&Bson>) -> Result<Bson, Reason> {
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

fn json_to_bson(j: &serde_json::Value) -> Result<Bson, Reason> {
    Bson::try_from(j.clone()).map_err(|e| format!("the value is not valid: {e}"))
}

/// Puts a `merge` value into the merged document: the value itself when one field conflicts,
/// else a JSON object keyed by each field's path exactly as shown (a name holding a `.` is
/// one key). Returns the value as applied.
pub(crate) fn merge_values(
    v: &ResolveValue,
    paths: &[FieldPath],
    cur: &Document,
    merged: &mut Document,
) -> Result<Bson, Reason> {
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
            format!(
                "several fields conflict ({}): give a JSON object such as {{\"{}\": ...}}",
                shown.join(", "),
                shown.first().cloned().unwrap_or_default()
            )
        })?,
    };
    let Some(map) = obj.as_object() else {
        return Err("the value must be a JSON object of field: value".into());
    };
    for (path, key) in paths.iter().zip(&shown) {
        let Some(val) = map.get(key) else {
            return Err(format!("the value gives no '{key}'"));
        };
        let like = get_path(cur, path);
        let typed = typed_like(val, like).map_or_else(|| json_to_bson(val), Ok)?;
        set_path(merged, path, Some(typed));
    }
    json_to_bson(&obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId};

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
    fn a_merge_of_several_fields_needs_each_of_them_by_its_shown_path() {
        let paths = vec![vec!["price.usd".to_string()], vec!["qty".to_string()]];
        let cur = doc! { "price.usd": 1.5, "qty": 2_i64 };
        let mut merged = cur.clone();
        let v = ResolveValue::Json(serde_json::json!({ "price.usd": 3.0, "qty": 4 }));
        merge_values(&v, &paths, &cur, &mut merged).unwrap();
        assert_eq!(
            merged,
            doc! { "price.usd": 3.0, "qty": 4_i64 },
            "types kept"
        );
        let missing = ResolveValue::Json(serde_json::json!({ "qty": 4 }));
        let why = merge_values(&missing, &paths, &cur, &mut merged).unwrap_err();
        assert!(why.contains("price.usd"), "{why}");
        let text = ResolveValue::Text("3".into());
        let why = merge_values(&text, &paths, &cur, &mut merged).unwrap_err();
        assert!(why.contains("JSON object"), "{why}");
    }
}
