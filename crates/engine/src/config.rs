//! The sync settings kept in the local `sync_config` collection, their defaults and their
//! validation. A change is validated whole before anything is stored.

use std::collections::BTreeMap;

use bson::{Bson, Document, doc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How an edit conflict (the same field changed on both sides) is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConflictStrategy {
    /// Record the conflict and hold the document back for a person.
    #[default]
    Manual,
    /// The version with the newer `updatedAt` wins; the loser is kept in a resolved conflict.
    LastWriteWins,
}

impl ConflictStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictStrategy::Manual => "manual",
            ConflictStrategy::LastWriteWins => "last_write_wins",
        }
    }
}

/// The document in `sync_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(description = "The sync settings"))]
#[serde(rename_all = "camelCase")]
pub struct SyncConfig {
    /// Sync at start-up and when the cloud comes back.
    pub auto_sync_enabled: bool,
    /// Periodic sync every N minutes; none (null): off.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1440))]
    pub sync_interval_minutes: Option<u32>,
    pub conflict_resolution_strategy: ConflictStrategy,
    /// Empty: every collection on either side except TempleSync's own.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::collection_names))]
    pub collections_to_sync: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(maximum = 10))]
    pub max_retries: u32,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10000))]
    pub batch_size: u32,
    /// Collection name -> fields whose values must be unique across both sides.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::unique_fields))]
    pub unique_fields: BTreeMap<String, Vec<String>>,
    #[cfg_attr(feature = "openapi", schema(minimum = 5, maximum = 3600))]
    pub check_interval_seconds: u32,
    /// The brake: a run that would delete more than this many documents of a collection on one
    /// side (or `massDeletePercent` of it, whichever is larger) holds those deletes for a
    /// person.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000))]
    pub mass_delete_limit: u32,
    #[cfg_attr(feature = "openapi", schema(maximum = 100))]
    pub mass_delete_percent: u32,
    /// Runs in `sync_logs` and settled conflicts are kept this many days.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub retention_days: u32,
    /// Versions a sync overwrote or deleted (`sync_history`) are kept this many days.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub history_days: u32,
    /// ... and within this many megabytes: the oldest go first.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100000))]
    pub history_max_mb: u32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            auto_sync_enabled: true,
            sync_interval_minutes: None,
            conflict_resolution_strategy: ConflictStrategy::Manual,
            collections_to_sync: Vec::new(),
            max_retries: 3,
            batch_size: 100,
            unique_fields: BTreeMap::from([("admins".to_string(), vec!["username".to_string()])]),
            check_interval_seconds: 30,
            mass_delete_limit: 50,
            mass_delete_percent: 20,
            retention_days: 180,
            history_days: 30,
            history_max_mb: 500,
        }
    }
}

/// The names of the settings, as stored and as typed in `config set KEY=VALUE`.
pub const CONFIG_KEYS: &[&str] = &[
    "autoSyncEnabled",
    "syncIntervalMinutes",
    "conflictResolutionStrategy",
    "collectionsToSync",
    "maxRetries",
    "batchSize",
    "uniqueFields",
    "checkIntervalSeconds",
    "massDeleteLimit",
    "massDeletePercent",
    "retentionDays",
    "historyDays",
    "historyMaxMb",
];

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        field: field.to_string(),
        reason: reason.into(),
    }
}

impl SyncConfig {
    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<()> {
        if let Some(m) = self.sync_interval_minutes
            && !(1..=1440).contains(&m)
        {
            return Err(invalid(
                "syncIntervalMinutes",
                format!(
                    "{m} is out of range: use 1 to 1440 minutes, or null to turn periodic sync off"
                ),
            ));
        }
        if self.max_retries > 10 {
            return Err(invalid(
                "maxRetries",
                format!("{} is out of range: use 0 to 10", self.max_retries),
            ));
        }
        if !(1..=10_000).contains(&self.batch_size) {
            return Err(invalid(
                "batchSize",
                format!("{} is out of range: use 1 to 10000", self.batch_size),
            ));
        }
        if !(5..=3600).contains(&self.check_interval_seconds) {
            return Err(invalid(
                "checkIntervalSeconds",
                format!(
                    "{} is out of range: use 5 to 3600 seconds",
                    self.check_interval_seconds
                ),
            ));
        }
        if !(1..=1_000_000).contains(&self.mass_delete_limit) {
            return Err(invalid(
                "massDeleteLimit",
                format!(
                    "{} is out of range: use 1 to 1000000 documents",
                    self.mass_delete_limit
                ),
            ));
        }
        if self.mass_delete_percent > 100 {
            return Err(invalid(
                "massDeletePercent",
                format!(
                    "{} is out of range: use 0 to 100 (per cent of a collection)",
                    self.mass_delete_percent
                ),
            ));
        }
        if !(1..=3650).contains(&self.retention_days) {
            return Err(invalid(
                "retentionDays",
                format!(
                    "{} is out of range: use 1 to 3650 days",
                    self.retention_days
                ),
            ));
        }
        if !(1..=3650).contains(&self.history_days) {
            return Err(invalid(
                "historyDays",
                format!("{} is out of range: use 1 to 3650 days", self.history_days),
            ));
        }
        if !(1..=100_000).contains(&self.history_max_mb) {
            return Err(invalid(
                "historyMaxMb",
                format!(
                    "{} is out of range: use 1 to 100000 megabytes",
                    self.history_max_mb
                ),
            ));
        }
        for name in &self.collections_to_sync {
            check_collection_name("collectionsToSync", name)?;
        }
        for (coll, fields) in &self.unique_fields {
            check_collection_name("uniqueFields", coll)?;
            if fields.is_empty() {
                return Err(invalid(
                    "uniqueFields",
                    format!("'{coll}' lists no fields: give at least one field name or remove it"),
                ));
            }
            for f in fields {
                if f.is_empty() || f.starts_with('$') || f == "_id" {
                    return Err(invalid(
                        "uniqueFields",
                        format!("'{f}' in '{coll}' is not a usable field name"),
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn to_document(&self) -> Document {
        let unique: Document = self
            .unique_fields
            .iter()
            .map(|(k, v)| (k.clone(), Bson::from(v.clone())))
            .collect();
        doc! {
            "autoSyncEnabled": self.auto_sync_enabled,
            "syncIntervalMinutes": self.sync_interval_minutes.map(|m| Bson::Int32(m as i32)).unwrap_or(Bson::Null),
            "conflictResolutionStrategy": self.conflict_resolution_strategy.as_str(),
            "collectionsToSync": self.collections_to_sync.clone(),
            "maxRetries": self.max_retries as i32,
            "batchSize": self.batch_size as i32,
            "uniqueFields": unique,
            "checkIntervalSeconds": self.check_interval_seconds as i32,
            "massDeleteLimit": self.mass_delete_limit as i32,
            "massDeletePercent": self.mass_delete_percent as i32,
            "retentionDays": self.retention_days as i32,
            "historyDays": self.history_days as i32,
            "historyMaxMb": self.history_max_mb as i32,
        }
    }

    /// Reads a stored config. Fields that are missing take their defaults; a stored value that
    /// is invalid (someone edited the collection by hand) is reported, never silently replaced.
    pub(crate) fn from_document(stored: &Document) -> Result<SyncConfig> {
        let mut cfg = SyncConfig::default();
        for key in CONFIG_KEYS {
            if let Some(v) = stored.get(*key) {
                cfg.set_from_json(key, &bson_to_json(v))?;
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Applies `KEY=VALUE` assignments as typed on the command line. All are checked before
    /// any takes effect.
    pub fn with_assignments(&self, assignments: &[String]) -> Result<SyncConfig> {
        let mut next = self.clone();
        if assignments.is_empty() {
            return Err(invalid(
                "config",
                "nothing to set: use KEY=VALUE, e.g. batchSize=200",
            ));
        }
        for a in assignments {
            let (key, value) = a
                .split_once('=')
                .ok_or_else(|| invalid(a, "expected KEY=VALUE, e.g. syncIntervalMinutes=60"))?;
            let json = parse_cli_value(key.trim(), value.trim());
            next.set_from_json(key.trim(), &json)?;
        }
        next.validate()?;
        Ok(next)
    }

    /// Applies a JSON object of changes (the REST API's `PUT /api/sync/config`).
    pub fn with_json_patch(&self, patch: &serde_json::Value) -> Result<SyncConfig> {
        let obj = patch
            .as_object()
            .ok_or_else(|| invalid("body", "expected a JSON object of settings"))?;
        let mut next = self.clone();
        for (k, v) in obj {
            next.set_from_json(k, v)?;
        }
        next.validate()?;
        Ok(next)
    }

    fn set_from_json(&mut self, key: &str, v: &serde_json::Value) -> Result<()> {
        let int = || json_whole(key, v);
        match key {
            "autoSyncEnabled" => {
                self.auto_sync_enabled = v
                    .as_bool()
                    .ok_or_else(|| invalid(key, format!("expected true or false, got {v}")))?
            }
            "syncIntervalMinutes" => {
                self.sync_interval_minutes = if v.is_null() { None } else { Some(int()?) }
            }
            "conflictResolutionStrategy" => {
                self.conflict_resolution_strategy = match v.as_str() {
                    Some("manual") => ConflictStrategy::Manual,
                    Some("last_write_wins") => ConflictStrategy::LastWriteWins,
                    _ => {
                        return Err(invalid(
                            key,
                            format!("{v} is not a strategy: use manual or last_write_wins"),
                        ));
                    }
                }
            }
            "collectionsToSync" => self.collections_to_sync = json_names(key, v)?,
            "maxRetries" => self.max_retries = int()?,
            "batchSize" => self.batch_size = int()?,
            "checkIntervalSeconds" => self.check_interval_seconds = int()?,
            "massDeleteLimit" => self.mass_delete_limit = int()?,
            "massDeletePercent" => self.mass_delete_percent = int()?,
            "retentionDays" => self.retention_days = int()?,
            "historyDays" => self.history_days = int()?,
            "historyMaxMb" => self.history_max_mb = int()?,
            "uniqueFields" => self.unique_fields = json_unique_fields(key, v)?,
            other => {
                return Err(invalid(
                    other,
                    format!(
                        "unknown setting; the settings are: {}",
                        CONFIG_KEYS.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Reads a command-line value: JSON when it parses as JSON, otherwise a friendly form
/// (`off`/`none` for null, `yes`/`no`, comma-separated lists, `coll.field` pairs).
fn parse_cli_value(key: &str, raw: &str) -> serde_json::Value {
    use serde_json::Value as J;
    if let Ok(v) = serde_json::from_str::<J>(raw) {
        return v;
    }
    let lower = raw.to_ascii_lowercase();
    match key {
        "autoSyncEnabled" => match lower.as_str() {
            "yes" | "on" | "y" => return J::Bool(true),
            "no" | "off" | "n" => return J::Bool(false),
            _ => {}
        },
        "syncIntervalMinutes" if matches!(lower.as_str(), "off" | "none" | "disabled" | "") => {
            return J::Null;
        }
        "collectionsToSync" => {
            let items: Vec<J> = raw
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| J::String(s.to_string()))
                .collect();
            return J::Array(items);
        }
        "uniqueFields" => {
            let mut map = serde_json::Map::new();
            for pair in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if let Some((c, f)) = pair.split_once('.') {
                    let entry = map.entry(c.to_string()).or_insert_with(|| J::Array(vec![]));
                    if let J::Array(a) = entry {
                        a.push(J::String(f.to_string()));
                    }
                } else {
                    return J::String(raw.to_string());
                }
            }
            return J::Object(map);
        }
        _ => {}
    }
    J::String(raw.to_string())
}

fn check_collection_name(field: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with("system.") || name.contains('$') || name.contains('\0') {
        return Err(invalid(
            field,
            format!("'{name}' is not a valid collection name"),
        ));
    }
    if crate::store::is_bookkeeping(name) {
        return Err(invalid(
            field,
            format!("'{name}' is one of TempleSync's own collections and is never synced"),
        ));
    }
    Ok(())
}

fn bson_to_json(v: &Bson) -> serde_json::Value {
    match v {
        Bson::Int32(i) => (*i).into(),
        Bson::Int64(i) => (*i).into(),
        Bson::Double(d) => {
            serde_json::Number::from_f64(*d).map_or(serde_json::Value::Null, Into::into)
        }
        other => other.clone().into_relaxed_extjson(),
    }
}

/// A whole number setting (`5` or `5.0`), at most `u32::MAX`.
fn json_whole(key: &str, v: &serde_json::Value) -> Result<u32> {
    let max = u32::MAX as u64;
    match v {
        serde_json::Value::Number(n) => n
            .as_u64()
            .filter(|n| *n <= max)
            .map(|n| n as u32)
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= max as f64)
                    .map(|f| f as u32)
            })
            .ok_or_else(|| invalid(key, format!("{n} is not a whole number in range"))),
        other => Err(invalid(
            key,
            format!("expected a whole number, got {other}"),
        )),
    }
}

/// A list of collection names.
fn json_names(key: &str, v: &serde_json::Value) -> Result<Vec<String>> {
    let arr = v
        .as_array()
        .ok_or_else(|| invalid(key, format!("expected a list of collection names, got {v}")))?;
    arr.iter()
        .map(|x| {
            x.as_str()
                .map(str::to_string)
                .ok_or_else(|| invalid(key, format!("{x} is not a collection name")))
        })
        .collect()
}

/// `{"admins": ["username"], ...}`: the unique fields of each collection.
fn json_unique_fields(key: &str, v: &serde_json::Value) -> Result<BTreeMap<String, Vec<String>>> {
    let obj = v.as_object().ok_or_else(|| {
        invalid(
            key,
            format!("expected an object such as {{\"admins\": [\"username\"]}}, got {v}"),
        )
    })?;
    let mut map = BTreeMap::new();
    for (coll, fields) in obj {
        let list = fields
            .as_array()
            .ok_or_else(|| invalid(key, format!("the fields of '{coll}' must be a list")))?
            .iter()
            .map(|f| {
                f.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid(key, format!("{f} in '{coll}' is not a field name")))
            })
            .collect::<Result<Vec<_>>>()?;
        map.insert(coll.clone(), list);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_those_the_issue_names() {
        let c = SyncConfig::default();
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.check_interval_seconds, 30);
        assert_eq!(c.unique_fields["admins"], vec!["username"]);
        assert_eq!(c.conflict_resolution_strategy, ConflictStrategy::Manual);
        assert_eq!((c.mass_delete_limit, c.mass_delete_percent), (50, 20));
        c.validate().unwrap();
    }

    #[test]
    fn every_range_bound_is_enforced_with_the_field_named() {
        let base = SyncConfig::default();
        for (assignment, field) in [
            ("syncIntervalMinutes=0", "syncIntervalMinutes"),
            ("syncIntervalMinutes=1441", "syncIntervalMinutes"),
            ("maxRetries=11", "maxRetries"),
            ("batchSize=0", "batchSize"),
            ("batchSize=10001", "batchSize"),
            ("checkIntervalSeconds=4", "checkIntervalSeconds"),
            ("checkIntervalSeconds=3601", "checkIntervalSeconds"),
            ("massDeleteLimit=0", "massDeleteLimit"),
            ("massDeleteLimit=1000001", "massDeleteLimit"),
            ("massDeletePercent=101", "massDeletePercent"),
            ("retentionDays=0", "retentionDays"),
            (
                "conflictResolutionStrategy=newest",
                "conflictResolutionStrategy",
            ),
            ("autoSyncEnabled=maybe", "autoSyncEnabled"),
            ("batchSize=-3", "batchSize"),
            ("batchSize=2.5", "batchSize"),
            ("collectionsToSync=sync_logs", "collectionsToSync"),
            ("frobnicate=1", "frobnicate"),
        ] {
            let err = base
                .with_assignments(&[assignment.to_string()])
                .expect_err(assignment);
            match err {
                Error::InvalidConfig { field: f, .. } => assert_eq!(f, field, "{assignment}"),
                other => panic!("{assignment}: {other}"),
            }
        }
    }

    #[test]
    fn one_bad_assignment_rejects_the_whole_change() {
        let base = SyncConfig::default();
        let err = base.with_assignments(&["batchSize=200".into(), "maxRetries=99".into()]);
        assert!(err.is_err());
        assert_eq!(base.batch_size, 100, "the original must be untouched");
    }

    #[test]
    fn friendly_cli_values_parse() {
        let c = SyncConfig::default()
            .with_assignments(&[
                "syncIntervalMinutes=60".into(),
                "autoSyncEnabled=off".into(),
                "collectionsToSync=admins, bookings".into(),
                "uniqueFields=admins.username,employees.employee_id".into(),
                "conflictResolutionStrategy=last_write_wins".into(),
            ])
            .unwrap();
        assert_eq!(c.sync_interval_minutes, Some(60));
        assert!(!c.auto_sync_enabled);
        assert_eq!(c.collections_to_sync, vec!["admins", "bookings"]);
        assert_eq!(c.unique_fields["employees"], vec!["employee_id"]);
        let off = c
            .with_assignments(&["syncIntervalMinutes=off".into()])
            .unwrap();
        assert_eq!(off.sync_interval_minutes, None);
    }

    #[test]
    fn stored_documents_round_trip() {
        let c = SyncConfig::default()
            .with_assignments(&["syncIntervalMinutes=15".into(), "batchSize=500".into()])
            .unwrap();
        assert_eq!(SyncConfig::from_document(&c.to_document()).unwrap(), c);
        let partial = doc! { "batchSize": 7 };
        assert_eq!(SyncConfig::from_document(&partial).unwrap().batch_size, 7);
        let broken = doc! { "batchSize": "lots" };
        assert!(SyncConfig::from_document(&broken).is_err());
    }
}
