//! BSON shown as plain JSON for people and programs: dates as ISO-8601 text, ObjectIds as
//! hex, 64-bit integers as numbers. Lossy on purpose; the stored BSON stays exact.

use bson::Bson;
use serde_json::{Value, json};

pub fn to_display(v: &Bson) -> Value {
    match v {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(b) => Value::Bool(*b),
        Bson::Int32(i) => json!(i),
        Bson::Int64(i) => json!(i),
        Bson::Double(d) => serde_json::Number::from_f64(*d)
            .map_or_else(|| Value::String(d.to_string()), Value::Number),
        Bson::String(s) => Value::String(s.clone()),
        Bson::ObjectId(o) => Value::String(o.to_hex()),
        Bson::DateTime(t) => Value::String(
            t.try_to_rfc3339_string()
                .unwrap_or_else(|_| t.timestamp_millis().to_string()),
        ),
        Bson::Decimal128(d) => Value::String(d.to_string()),
        Bson::Array(a) => Value::Array(a.iter().map(to_display).collect()),
        Bson::Document(d) => {
            Value::Object(d.iter().map(|(k, v)| (k.clone(), to_display(v))).collect())
        }
        other => other.clone().into_relaxed_extjson(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn dates_and_ids_read_naturally() {
        let oid = bson::oid::ObjectId::parse_str("670abc123def456789012345").unwrap();
        let d = doc! { "_id": oid, "at": bson::DateTime::from_millis(0), "n": 3_i64 };
        assert_eq!(
            to_display(&Bson::Document(d)),
            json!({ "_id": "670abc123def456789012345", "at": "1970-01-01T00:00:00Z", "n": 3 })
        );
    }
}
