use serde_json::json;

use super::*;

/// The document as served, without a server.
fn document() -> Value {
    let (_, doc) = super::super::api_routes().split_for_parts();
    finish(doc)
}

fn operations(doc: &Value) -> impl Iterator<Item = (String, &Value)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .map(move |(method, op)| (format!("{} {path}", method.to_uppercase()), op))
        })
}

/// Every `$ref` points at something that exists.
#[test]
fn every_reference_resolves() {
    let doc = document();
    fn walk(v: &Value, doc: &Value) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(target)) = o.get("$ref") {
                    let pointer = target.trim_start_matches('#');
                    assert!(doc.pointer(pointer).is_some(), "dangling {target}");
                }
                o.values().for_each(|x| walk(x, doc));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, doc)),
            _ => {}
        }
    }
    walk(&doc, &doc);
}

#[test]
fn every_operation_but_the_document_needs_the_token() {
    let doc = document();
    assert_eq!(doc["security"], json!([{ "bearerAuth": [] }]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"],
        json!({ "type": "http", "scheme": "bearer" })
    );
    for (name, op) in operations(&doc) {
        if name == "GET /api/openapi.json" {
            assert_eq!(op["security"], json!([{}]), "{name} is public");
        } else {
            assert!(op.get("security").is_none(), "{name} keeps the token");
            assert_eq!(
                op["responses"]["401"]["$ref"], "#/components/responses/Unauthorized",
                "{name}"
            );
        }
    }
}

#[test]
fn optional_bodies_may_be_left_out_but_are_never_null() {
    let doc = document();
    for (name, op) in operations(&doc) {
        let Some(body) = op.get("requestBody") else {
            continue;
        };
        let optional = [
            "POST /api/sync/sync",
            "POST /api/sync/verify",
            "POST /api/sync/conflicts/auto-resolve",
            "POST /api/sync/pause",
            "POST /api/sync/logs/{id}/undo",
        ]
        .contains(&name.as_str());
        assert_eq!(
            body["required"].as_bool().unwrap_or(false),
            !optional,
            "{name}"
        );
        let schema = &body["content"]["application/json"]["schema"];
        assert!(schema.get("$ref").is_some(), "{name}: {schema}");
        assert_eq!(
            op["responses"]["413"]["$ref"],
            "#/components/responses/TooLarge"
        );
    }
}

#[test]
fn answers_carry_every_field_and_request_bodies_need_only_theirs() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let required = |name: &str| -> Vec<String> {
        let mut r: Vec<String> = schemas[name]["required"]
            .as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        r.sort();
        r
    };
    let keys = |name: &str| -> Vec<String> {
        let mut k: Vec<String> = schemas[name]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    for answer in [
        "SyncRun",
        "SyncStatus",
        "Conflict",
        "Overview",
        "NetworkStatus",
        "ErrorBody",
    ] {
        assert_eq!(required(answer), keys(answer), "{answer}");
    }
    assert_eq!(required("SyncRequest"), Vec::<String>::new());
    assert_eq!(required("ResolveRequest"), ["strategy"]);
    assert_eq!(required("SyncConfigPatch"), Vec::<String>::new());
}

#[test]
fn the_engine_types_serialize_to_the_documented_fields() {
    let doc = document();
    let sorted = |o: &serde_json::Map<String, Value>| -> Vec<String> {
        let mut k: Vec<String> = o.keys().cloned().collect();
        k.sort();
        k
    };
    let keys = |schema: &str| {
        sorted(
            doc["components"]["schemas"][schema]["properties"]
                .as_object()
                .unwrap(),
        )
    };
    let fields = sorted(
        serde_json::to_value(SyncConfig::default())
            .unwrap()
            .as_object()
            .unwrap(),
    );
    assert_eq!(fields, keys("SyncConfig"));
    assert_eq!(
        keys("SyncConfigPatch"),
        keys("SyncConfig"),
        "every setting can be changed"
    );
    let mut monitor = keys("MonitorStatus");
    monitor.extend(SNAKE_CASE_KEYS.map(|(snake, _)| snake.to_string()));
    monitor.sort();
    assert_eq!(keys("NetworkStatus"), monitor);
}

/// The bounds the document gives each whole-number setting are the ones the engine enforces
/// (they are written twice: in the validation and in the schema attributes).
#[test]
fn the_documented_setting_bounds_are_the_enforced_ones() {
    let doc = document();
    let props = doc["components"]["schemas"]["SyncConfig"]["properties"]
        .as_object()
        .unwrap();
    let with = |key: &str, n: i64| -> bool {
        let mut v = serde_json::to_value(SyncConfig::default()).unwrap();
        v[key] = n.into();
        serde_json::from_value::<SyncConfig>(v).is_ok_and(|c| c.validate().is_ok())
    };
    let mut checked = 0;
    for (key, p) in props {
        let (Some(min), Some(max)) = (p["minimum"].as_i64(), p["maximum"].as_i64()) else {
            continue;
        };
        assert!(
            with(key, min) && with(key, max),
            "{key}: {min}..={max} allowed"
        );
        assert!(!with(key, max + 1), "{key}: above {max} refused");
        assert!(
            min == 0 || !with(key, min - 1),
            "{key}: below {min} refused"
        );
        checked += 1;
    }
    assert_eq!(checked, 9, "every bounded setting");
}

#[test]
fn the_counts_asked_for_are_bounded_as_the_engine_bounds_them() {
    let doc = document();
    let limit = &doc["paths"]["/api/sync/logs"]["get"]["parameters"][0];
    assert_eq!(limit["name"], "limit");
    assert_eq!(limit["schema"]["minimum"], *HISTORY_LIMITS.start());
    assert_eq!(limit["schema"]["maximum"], *HISTORY_LIMITS.end());
    let max = &doc["components"]["schemas"]["AutoResolveRequest"]["properties"]["max"];
    assert_eq!(max["minimum"], *AUTO_RESOLVE_LIMITS.start());
    assert_eq!(max["maximum"], *AUTO_RESOLVE_LIMITS.end());
}
