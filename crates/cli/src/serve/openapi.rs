//! The OpenAPI 3.1 description of the API, served at `/api/openapi.json`.
//!
//! Written by hand next to the handlers so that it says exactly what they do: every status an
//! operation can answer, with its schema. `scripts/schemathesis.sh` checks the running server
//! against it, and `tests/http.rs` checks the answers' fields against these schemas.
//!
//! `schemas` and `paths` are longer than a function should be because they are data: one JSON
//! literal per schema and per operation. Generating them from the handlers' types (utoipa) is
//! the planned replacement, not done yet.

use serde_json::{Value, json};

use super::MAX_BODY_BYTES;
use templesync_engine::app::AUTO_RESOLVE_LIMITS;

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn resp(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema } }
    })
}

/// The statuses every operation that reads or writes the databases can answer besides its
/// own: 401 without the token, 500 for an unexpected database error, 503 when a database
/// cannot be reached.
fn with_common(mut responses: Value) -> Value {
    let o = responses.as_object_mut().expect("an object");
    o.insert("401".into(), resp("Unauthorized"));
    o.insert("500".into(), resp("ServerError"));
    o.insert("503".into(), resp("Unavailable"));
    responses
}

fn json_body(schema: Value, required: bool, description: &str) -> Value {
    json!({
        "required": required,
        "description": description,
        "content": { "application/json": { "schema": schema } }
    })
}

fn counts() -> Value {
    json!({
        "type": "object",
        "description": "Collection name -> number of documents",
        "additionalProperties": { "type": "integer", "minimum": 0 }
    })
}

const DATE_TIME: &str = "date-time";

const ERROR_KINDS: [&str; 8] = [
    "input",
    "not_found",
    "busy",
    "refused",
    "config",
    "credentials",
    "unavailable",
    "internal",
];
const ERROR_KINDS_OR_NULL: [Option<&str>; 9] = [
    Some("input"),
    Some("not_found"),
    Some("busy"),
    Some("refused"),
    Some("config"),
    Some("credentials"),
    Some("unavailable"),
    Some("internal"),
    None,
];

fn time() -> Value {
    json!({ "type": "string", "format": DATE_TIME })
}

fn time_or_null() -> Value {
    json!({ "type": ["string", "null"], "format": DATE_TIME })
}

fn string_or_null() -> Value {
    json!({ "type": ["string", "null"] })
}

fn count() -> Value {
    json!({ "type": "integer", "minimum": 0 })
}

/// Every key of `properties` is required: the engine's types always serialize every field
/// (`null` when absent).
fn object(description: &str, properties: Value) -> Value {
    let required: Vec<String> = properties
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect();
    json!({
        "type": "object",
        "description": description,
        "required": required,
        "properties": properties,
    })
}

fn config_properties() -> Value {
    json!({
        "autoSyncEnabled": { "type": "boolean", "description": "Sync at start-up and when the cloud comes back" },
        "syncIntervalMinutes": {
            "type": ["integer", "null"], "minimum": 1, "maximum": 1440,
            "description": "Periodic sync every N minutes; null: off"
        },
        "conflictResolutionStrategy": { "type": "string", "enum": ["manual", "last_write_wins"] },
        "collectionsToSync": {
            "type": "array",
            "items": { "type": "string", "minLength": 1 },
            "description": "Empty: every collection except TempleSync's own (sync_*, conflict_logs), which are refused"
        },
        "maxRetries": { "type": "integer", "minimum": 0, "maximum": 10 },
        "batchSize": { "type": "integer", "minimum": 1, "maximum": 10000 },
        "uniqueFields": {
            "type": "object",
            "description": "Collection name -> fields whose values must be unique across both sides",
            "additionalProperties": {
                "type": "array", "minItems": 1,
                "items": { "type": "string", "minLength": 1 }
            }
        },
        "checkIntervalSeconds": { "type": "integer", "minimum": 5, "maximum": 3600 },
        "massDeleteLimit": {
            "type": "integer", "minimum": 1, "maximum": 1000000,
            "description": "A run holds a collection's deletes on one side for a person when they are more than this many documents (or massDeletePercent of the collection, whichever is larger), or all of it"
        },
        "massDeletePercent": { "type": "integer", "minimum": 0, "maximum": 100 },
        "retentionDays": {
            "type": "integer", "minimum": 1, "maximum": 3650,
            "description": "Runs and settled conflicts older than this are removed"
        }
    })
}

fn schemas() -> Value {
    let mut config_patch_props = config_properties();
    for (_, p) in config_patch_props
        .as_object_mut()
        .expect("props")
        .iter_mut()
    {
        p.as_object_mut().expect("a schema").remove("description");
    }
    json!({
        "Error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable and machine-readable: branch on this, never on the message. The engine's codes (invalid_config, unknown_strategy, invalid_resolution, unknown_collection, conflict_not_found, conflict_already_resolved, sync_in_progress, remote_not_configured, remote_unreachable, local_unreachable, interrupted, database_error) and HTTP's own (invalid_request, unauthorized, not_found, method_not_allowed, payload_too_large, internal)"
                },
                "message": { "type": "string", "description": "For people; never holds a password" }
            }
        },
        "RunStatus": { "type": "string", "enum": ["running", "completed", "failed", "interrupted"] },
        "SyncRun": object("One sync run, as recorded in sync_logs", json!({
            "_id": { "type": "string" },
            "startTime": time(),
            "endTime": time_or_null(),
            "status": r("RunStatus"),
            "trigger": { "type": "string", "enum": ["manual", "startup", "reconnect", "periodic", "automatic"] },
            "collections": { "type": "array", "items": { "type": "string" } },
            "localToRemote": counts(),
            "remoteToLocal": counts(),
            "conflicts": counts(),
            "durationSeconds": { "type": ["number", "null"], "minimum": 0 },
            "error": string_or_null(),
            "errorCode": string_or_null(),
            "errors": {
                "type": "array",
                "description": "Documents that could not be synced; the rest of the run went on",
                "items": object("", json!({
                    "collection": { "type": "string" },
                    "documentId": { "type": "string" },
                    "message": { "type": "string" }
                }))
            },
            "quarantined": {
                "type": "object",
                "description": "Collection name -> documents set aside (quarantined) because a database refused them; also listed in errors",
                "additionalProperties": { "type": "integer", "minimum": 0 }
            },
            "documentsRead": counts(),
            "host": { "type": "string" }
        })),
        "SyncStatus": object("The state of syncing", json!({
            "lastSyncTime": time_or_null(),
            "lastSyncStatus": { "enum": ["running", "completed", "failed", "interrupted", null] },
            "lastSyncDuration": { "type": ["number", "null"], "minimum": 0 },
            "lastSyncError": string_or_null(),
            "totalSyncsCompleted": count(),
            "totalConflicts": count(),
            "unresolvedConflicts": count(),
            "isOnline": { "type": "boolean" },
            "isSyncing": { "type": "boolean" },
            "remoteConfigured": { "type": "boolean" },
            "remoteHost": string_or_null(),
            "localHost": { "type": "string" },
            "database": { "type": "string" },
            "offlineReason": string_or_null(),
            "clockSkewSeconds": {
                "type": ["number", "null"],
                "description": "How far this computer's clock is ahead of the cloud's (negative: behind); null before the first check"
            },
            "clockWarning": { "type": ["string", "null"], "description": "Set when the clock is off by more than 2 minutes: what to do" },
            "quarantinedDocuments": {
                "type": "integer",
                "minimum": 0,
                "description": "Documents set aside because a database refused them; every sync tries them again"
            },
            "quarantined": {
                "type": "array",
                "description": "The oldest quarantined documents (at most 20), with why and what to do",
                "items": r("QuarantinedDocument")
            }
        })),
        "QuarantinedDocument": object("A document set aside because a database refused it", json!({
            "collection": { "type": "string" },
            "documentId": { "type": "string" },
            "side": { "type": "string", "enum": ["local", "cloud"] },
            "reason": { "type": "string" },
            "firstSeen": time(),
            "lastSeen": time(),
            "attempts": count()
        })),
        "Conflict": object("A conflict, with both versions and what a person decided", json!({
            "_id": { "type": "string" },
            "type": { "type": "string", "enum": ["unique", "update", "delete", "bulk"] },
            "collection": { "type": "string" },
            "localId": { "type": "string" },
            "remoteId": { "type": "string" },
            "field": string_or_null(),
            "localValue": {},
            "remoteValue": {},
            "baseValue": {},
            "timestamp": time(),
            "resolved": { "type": "boolean" },
            "notes": { "type": "string" },
            "deletedOn": string_or_null(),
            "fields": {
                "type": "array",
                "items": object("One field changed on both sides", json!({
                    "path": { "type": "string" },
                    "local": {},
                    "remote": {},
                    "base": {}
                }))
            },
            "localDocument": {},
            "remoteDocument": {},
            "baseDocument": {},
            "suggestedValue": {},
            "resolution": string_or_null(),
            "resolvedBy": string_or_null(),
            "resolvedAt": time_or_null(),
            "resolutionNotes": string_or_null(),
            "autoResolved": { "type": "boolean" },
            "count": { "type": ["integer", "null"], "description": "Held deletes (bulk): how many documents" },
            "sample": { "type": "array", "items": { "type": "string" }, "description": "Held deletes (bulk): a few of their ids" }
        })),
        "ResolveOutcome": object("The original API's answer to a resolution (snake_case)", json!({
            "success": { "type": "boolean" },
            "message": { "type": "string" },
            "conflict_id": { "type": "string" },
            "resolved_by": { "type": "string" },
            "resolved_at": time()
        })),
        "AutoResolveReport": object("What auto-resolve did with each conflict it looked at", json!({
            "resolved": count(),
            "skipped": count(),
            "failed": count(),
            "items": {
                "type": "array",
                "items": object("", json!({
                    "conflictId": { "type": "string" },
                    "collection": { "type": "string" },
                    "outcome": { "type": "string" },
                    "detail": { "type": "string" }
                }))
            }
        })),
        "NetworkStatus": object("What the monitor knows about the cloud; the snake_case keys repeat the camelCase ones for the original API's clients", json!({
            "isRunning": { "type": "boolean" },
            "isOnline": { "type": "boolean" },
            "lastCheck": time_or_null(),
            "lastChange": time_or_null(),
            "checkIntervalSeconds": count(),
            "lastError": string_or_null(),
            "lastErrorKind": { "type": ["string", "null"], "enum": ERROR_KINDS_OR_NULL },
            "changesLastHour": count(),
            "flapping": { "type": "boolean" },
            "reconnectSettleSeconds": { "type": "number", "minimum": 0 },
            "isSyncing": { "type": "boolean" },
            "followUpPending": { "type": "boolean" },
            "is_running": { "type": "boolean" },
            "is_online": { "type": "boolean" },
            "last_check": time_or_null(),
            "check_interval_seconds": count()
        })),
        "SyncState": { "type": "string", "enum": ["not_configured", "checking", "synced", "syncing", "offline", "conflicts", "paused", "failed"] },
        "Overview": object("The state a person sees, its words and what to do", json!({
            "state": r("SyncState"),
            "title": { "type": "string", "description": "The state in a few words" },
            "headline": { "type": "string", "description": "The state in one sentence" },
            "todo": string_or_null(),
            "lastSync": string_or_null(),
            "lastCheck": string_or_null(),
            "unresolvedConflicts": count(),
            "status": { "anyOf": [r("SyncStatus"), { "type": "null" }] },
            "network": { "type": ["object", "null"], "description": "The monitor's status (camelCase keys only)" },
            "problem": { "anyOf": [{
                "type": "object",
                "required": ["code", "message", "kind", "field"],
                "properties": {
                    "code": { "type": "string" },
                    "message": { "type": "string" },
                    "kind": { "type": "string", "enum": ERROR_KINDS },
                    "field": string_or_null()
                }
            }, { "type": "null" }] }
        })),
        "SyncConfig": object("The sync settings", config_properties()),
        "SyncConfigPatch": {
            "type": "object",
            "description": "The settings to change; the others keep their values. Validated whole: nothing is stored if any value is wrong",
            "additionalProperties": false,
            "properties": config_patch_props
        },
        "SyncRequest": {
            "type": "object",
            "properties": {
                "collections": {
                    "type": ["array", "null"],
                    "items": { "type": "string" },
                    "description": "Only these collections; missing, null or empty: the configured ones (or all)"
                }
            }
        },
        "ResolveRequest": {
            "type": "object",
            "required": ["strategy"],
            "properties": {
                "strategy": { "type": "string", "enum": ["keep_local", "keep_remote", "merge", "rename_local"] },
                "newValue": { "description": "Any JSON: the new name (rename_local), the value or an object of field values (merge); null: none" },
                "notes": string_or_null(),
                "resolvedBy": { "type": ["string", "null"], "description": "Who decided (default: api)" }
            }
        },
        "VerifyRequest": {
            "type": "object",
            "properties": {
                "collections": { "type": ["array", "null"], "items": { "type": "string", "minLength": 1 },
                    "description": "Missing, null or empty: the collections a sync covers" },
                "repair": { "type": "boolean", "default": false,
                    "description": "List the documents that differ for the next sync" }
            }
        },
        "CollectionCheck": object("One collection compared", json!({
            "collection": { "type": "string" },
            "localCount": count(),
            "remoteCount": count(),
            "onlyLocal": count(),
            "onlyLocalIds": { "type": "array", "items": { "type": "string" } },
            "onlyRemote": count(),
            "onlyRemoteIds": { "type": "array", "items": { "type": "string" } },
            "different": count(),
            "differentIds": { "type": "array", "items": { "type": "string" } },
            "matches": { "type": "boolean" }
        })),
        "VerifyReport": object("Both sides compared by content", json!({
            "checkedAt": time(),
            "matches": { "type": "boolean" },
            "collections": { "type": "array", "items": r("CollectionCheck") },
            "queued": count(),
            "summary": { "type": "string" }
        })),
        "CloudChoiceRequest": {
            "type": "object",
            "required": ["choice"],
            "properties": {
                "choice": {
                    "type": "string", "enum": ["send_local", "accept_cloud"],
                    "description": "send_local: treat this cloud as new and send this computer's data (nothing deleted; documents that differ become conflicts). accept_cloud: accept the cloud as it is now (documents it no longer has are removed here)"
                }
            }
        },
        "CloudChoice": {
            "type": "object",
            "required": ["choice"],
            "properties": { "choice": { "type": "string", "enum": ["send_local", "accept_cloud"] } }
        },
        "AutoResolveRequest": {
            "type": "object",
            "properties": {
                "max": {
                    "type": ["integer", "null"], "minimum": 1, "maximum": AUTO_RESOLVE_LIMITS.end(), "default": 10,
                    "description": "How many conflicts to look at; missing or null: 10"
                },
                "resolvedBy": { "type": ["string", "null"], "description": "Who to record (default: api)" }
            }
        }
    })
}

fn responses() -> Value {
    let error = |description: &str| ok(description, r("Error"));
    json!({
        "BadRequest": error("Invalid input; the message names the field"),
        "Unauthorized": {
            "description": "No token, a wrong token, or a token in the URL (never accepted)",
            "headers": {
                "WWW-Authenticate": { "required": true, "schema": { "type": "string", "pattern": "^Bearer" } }
            },
            "content": { "application/json": { "schema": r("Error") } }
        },
        "NotFound": error("No such conflict (also for a malformed id)"),
        "Conflict": error("A sync is in progress (sync_in_progress), or the conflict is already resolved (conflict_already_resolved)"),
        "TooLarge": error(&format!("The body is larger than {MAX_BODY_BYTES} bytes")),
        "ServerError": error("An unexpected database error"),
        "Unavailable": error("The cloud is not configured (remote_not_configured) or cannot be reached (remote_unreachable), or the local database cannot be reached")
    })
}

fn paths() -> Value {
    let bad = resp("BadRequest");
    let too_large = resp("TooLarge");
    let conflict = resp("Conflict");
    json!({
        "/api/sync/sync": { "post": {
            "operationId": "sync",
            "summary": "Sync now, both ways, and wait for the run",
            "description": "Answers the run's record, also when the run failed (status: failed, with the error). A run that cannot start is an error: 409 while another runs, 503 without a reachable cloud.",
            "requestBody": json_body(r("SyncRequest"), false, "Optional; an empty body syncs the configured collections"),
            "responses": with_common(json!({
                "200": ok("The run", r("SyncRun")),
                "400": bad, "409": conflict, "413": too_large
            }))
        }},
        "/api/sync/status": { "get": {
            "operationId": "status",
            "summary": "Last sync, totals, open conflicts, online or not",
            "responses": with_common(json!({ "200": ok("The status", r("SyncStatus")) }))
        }},
        "/api/sync/conflicts": { "get": {
            "operationId": "conflicts",
            "summary": "The conflicts, newest first",
            "parameters": [
                { "name": "resolved", "in": "query", "required": false, "schema": { "type": "boolean" },
                  "description": "Only resolved (true) or open (false) ones; missing: all" },
                { "name": "collection", "in": "query", "required": false, "schema": { "type": "string" } }
            ],
            "responses": with_common(json!({
                "200": ok("The conflicts", json!({ "type": "array", "items": r("Conflict") })),
                "400": bad
            }))
        }},
        "/api/sync/overview": { "get": {
            "operationId": "overview",
            "summary": "The state a person sees (up to date, syncing, offline, needs a decision, paused, failed), its words and what to do",
            "responses": { "200": ok("The overview", r("Overview")), "401": resp("Unauthorized") }
        }},
        "/api/sync/conflicts/{id}": { "get": {
            "operationId": "conflict",
            "summary": "One conflict, open or resolved",
            "parameters": [
                { "name": "id", "in": "path", "required": true, "schema": { "type": "string" },
                  "description": "The conflict's _id" }
            ],
            "responses": with_common(json!({
                "200": ok("The conflict", r("Conflict")),
                "404": resp("NotFound")
            }))
        }},
        "/api/sync/conflicts/{id}/resolve": { "post": {
            "operationId": "resolve",
            "summary": "Settle one conflict; the next sync carries it out",
            "parameters": [
                { "name": "id", "in": "path", "required": true, "schema": { "type": "string" },
                  "description": "The conflict's _id" }
            ],
            "requestBody": json_body(r("ResolveRequest"), true, "The decision"),
            "responses": with_common(json!({
                "200": ok("Resolved", r("ResolveOutcome")),
                "400": bad, "404": resp("NotFound"), "409": conflict, "413": too_large
            }))
        }},
        "/api/sync/conflicts/auto-resolve": { "post": {
            "operationId": "autoResolve",
            "summary": "Settle the simple conflicts; leave the rest for a person",
            "requestBody": json_body(r("AutoResolveRequest"), false, "Optional; an empty body looks at up to 10 conflicts"),
            "responses": with_common(json!({
                "200": ok("What was done", r("AutoResolveReport")),
                "400": bad, "409": conflict, "413": too_large
            }))
        }},
        "/api/sync/cloud": { "post": {
            "operationId": "chooseCloud",
            "summary": "Decide what to do with a cloud that is not the one this computer last synced with",
            "description": "When a run fails with cloud_changed (the cloud was restored from a backup, or the connection points to another cluster), nothing syncs until a person chooses. The next sync carries the choice out.",
            "requestBody": json_body(r("CloudChoiceRequest"), true, "The choice"),
            "responses": with_common(json!({
                "200": ok("The choice is recorded", r("CloudChoice")),
                "400": bad, "409": conflict, "413": too_large
            }))
        }},
        "/api/sync/verify": { "post": {
            "operationId": "verify",
            "summary": "Compare both sides by content, changing nothing (unless repair)",
            "requestBody": json_body(r("VerifyRequest"), false, "Optional; an empty body checks the collections a sync covers"),
            "responses": with_common(json!({
                "200": ok("What was found", r("VerifyReport")),
                "400": bad, "413": too_large
            }))
        }},
        "/api/sync/logs": { "get": {
            "operationId": "logs",
            "summary": "The most recent runs, newest first",
            "parameters": [
                { "name": "limit", "in": "query", "required": false,
                  "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 20 } }
            ],
            "responses": with_common(json!({
                "200": ok("The runs", json!({ "type": "array", "items": r("SyncRun") })),
                "400": bad
            }))
        }},
        "/api/sync/network-status": { "get": {
            "operationId": "networkStatus",
            "summary": "The connection monitor's view of the cloud",
            "responses": {
                "200": ok("The monitor's status", r("NetworkStatus")),
                "401": resp("Unauthorized")
            }
        }},
        "/api/sync/config": {
            "get": {
                "operationId": "getConfig",
                "summary": "The sync settings",
                "responses": with_common(json!({ "200": ok("The settings", r("SyncConfig")) }))
            },
            "put": {
                "operationId": "setConfig",
                "summary": "Change some settings",
                "requestBody": json_body(r("SyncConfigPatch"), true, "The settings to change"),
                "responses": with_common(json!({
                    "200": ok("The settings now in force", r("SyncConfig")),
                    "400": bad, "413": too_large
                }))
            }
        },
        "/api/openapi.json": { "get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": { "200": ok("The OpenAPI document", json!({ "type": "object" })) }
        }}
    })
}

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "TempleSync API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Two-way sync between the temple's local MongoDB and its cloud copy. Every /api/sync path needs 'Authorization: Bearer <token>' (the token is in TEMPLESYNC_API_TOKEN or the file named when `templesync serve` first started). Errors are {code, message}; bodies larger than 1 MiB are refused with 413; unknown paths under /api answer 404 and wrong methods 405, with the same error body. Paths outside /api serve TempleSync's web UI (public; it asks for the token and sends it with each API request)."
        },
        "security": [ { "bearerAuth": [] } ],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer" }
            },
            "schemas": schemas(),
            "responses": responses()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_engine_types_serialize_to_the_documented_fields() {
        let doc = document();
        let keys = |schema: &str| -> Vec<String> {
            let mut k: Vec<String> = doc["components"]["schemas"][schema]["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            k.sort();
            k
        };
        let fields = |v: Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let cfg = serde_json::to_value(templesync_engine::SyncConfig::default()).unwrap();
        assert_eq!(fields(cfg), keys("SyncConfig"));
        assert_eq!(
            keys("SyncConfigPatch"),
            keys("SyncConfig"),
            "every setting can be changed"
        );
    }
}
