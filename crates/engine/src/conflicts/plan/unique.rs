//! A unique value (e.g. `admins.username`) held by a different document in the cloud.

use bson::{Bson, Document, doc};
use chrono::{DateTime, Utc};

use super::{Current, Steps, Write, need_local, pending, recheck_both, refuse};
use crate::clock::to_bson;
use crate::conflicts::record::ConflictRecord;
use crate::conflicts::values::to_bson_value;
use crate::conflicts::{Resolution, Strategy};
use crate::content::{content, display_id, get_path, key_path};
use crate::error::{Error, Result};

/// A merge of a unique value without the value. Front ends say how to give it.
pub(super) const MERGE_NEEDS_A_VALUE: &str = "merge needs a value: give the new value";
/// A rename of a value that is not text, which no suggestion can be made for.
pub(super) const NO_SUGGESTION: &str =
    "no suggestion is possible for this value: give the new value";

/// A rename for which no free value was found to suggest.
pub(super) const NO_FREE_VALUE: &str = "no free value was found to suggest: give the new value";

/// A refusal for want of a value a person types.
pub(super) fn value_needed(id: &str, reason: &'static str) -> Error {
    Error::ValueNeeded {
        id: id.to_string(),
        reason,
    }
}

/// The value the decision gives the local document, if it gives one: a value given (typed like
/// the one it replaces), else for a rename the suggestion. Refuses an empty one. Shared with
/// the reads before planning, which check whether this value is free.
pub(crate) fn new_value(
    id: &str,
    rec: &ConflictRecord,
    local: &Document,
    r: &Resolution,
    suggestion: Option<&str>,
) -> Result<Option<Bson>> {
    let (field, _) = rec.rename_target();
    let taken = get_path(local, &key_path(&field)).cloned();
    let v = match (r.strategy, &r.value) {
        (Strategy::KeepRemote, _) | (Strategy::KeepLocal, None) => None,
        (Strategy::Merge, None) => return Err(value_needed(id, MERGE_NEEDS_A_VALUE)),
        (_, Some(v)) => Some(to_bson_value(v, taken.as_ref()).map_err(|e| refuse(id, e))?),
        (Strategy::RenameLocal, None) => match (&rec.suggested_value, &taken) {
            (Some(Bson::String(s)), _) => Some(Bson::String(s.clone())),
            (_, Some(Bson::String(_))) => match suggestion {
                Some(s) => Some(Bson::String(s.to_string())),
                // Never a silent keep_local instead of the rename asked for.
                None => return Err(value_needed(id, NO_FREE_VALUE)),
            },
            _ => {
                return Err(value_needed(id, NO_SUGGESTION));
            }
        },
    };
    if let Some(v) = &v
        && (matches!(v, Bson::Null) || v.as_str().is_some_and(|s| s.trim().is_empty()))
    {
        return Err(refuse(id, format!("the new {field} must not be empty")));
    }
    Ok(v)
}

pub(super) fn plan(
    id: &str,
    rec: &ConflictRecord,
    cur: &Current,
    r: &Resolution,
    now: DateTime<Utc>,
) -> Result<Steps> {
    let local = need_local(id, cur)?;
    let (field, _) = rec.rename_target();
    let mut steps = match new_value(id, rec, local, r, cur.suggestion.as_deref())? {
        Some(v) => rename(id, rec, cur, &field, v, now)?,
        None if r.strategy == Strategy::KeepRemote => yield_value(rec, cur, local, now),
        None => keep_value(id, rec, cur, &field)?,
    };
    steps.writes.push(recheck_both(rec));
    Ok(steps)
}

/// The local document takes the new value; the next sync sends it.
fn rename(
    id: &str,
    rec: &ConflictRecord,
    cur: &Current,
    field: &str,
    v: Bson,
    now: DateTime<Utc>,
) -> Result<Steps> {
    let shown = display_id(&v);
    if cur.value_taken {
        return Err(refuse(
            id,
            format!("{field} '{shown}' is also taken; choose another value"),
        ));
    }
    let mut set = doc! { "updatedAt": to_bson(now), "syncStatus": "pending" };
    set.insert(field, v.clone());
    Ok(Steps {
        writes: vec![Write::SetLocal {
            id: rec.local_id(),
            set,
        }],
        message: format!("Local {field} changed to '{shown}'; the next sync sends it to the cloud"),
        applied_value: Some(v),
        discarded: None,
    })
}

/// keep_remote: the local change is undone (back to the synced version), or a document never
/// synced is removed and the cloud's copied here.
fn yield_value(rec: &ConflictRecord, cur: &Current, local: &Document, now: DateTime<Utc>) -> Steps {
    let local_id = rec.local_id();
    let (write, message) = match &cur.synced {
        Some(prev) => {
            let mut restored = prev.clone();
            let synced_at = prev.get("updatedAt").cloned();
            restored.insert(
                "syncedAt",
                synced_at.unwrap_or(Bson::DateTime(to_bson(now))),
            );
            restored.insert("syncStatus", "synced");
            (
                Write::ReplaceLocal {
                    id: local_id,
                    doc: restored,
                },
                "The local change was undone; the cloud version stays (the local version is kept in this conflict record)",
            )
        }
        None => (
            Write::DeleteLocal { id: local_id },
            "The local document was removed and the cloud one will be copied here (the local version is kept in this conflict record)",
        ),
    };
    Steps {
        writes: vec![write],
        message: message.to_string(),
        applied_value: None,
        discarded: Some(local.clone()),
    }
}

/// keep_local without a value: the local document keeps the value and the cloud document
/// holding it is deleted on both sides (its cloud version becomes the synced one, and its
/// copy here goes).
fn keep_value(id: &str, rec: &ConflictRecord, cur: &Current, field: &str) -> Result<Steps> {
    let Some(holder) = &rec.remote_document else {
        return Err(refuse(
            id,
            "the cloud document is unknown; use rename_local instead",
        ));
    };
    let remote_id = rec.remote_id();
    Ok(Steps {
        writes: vec![
            Write::SetSynced {
                id: remote_id.clone(),
                doc: content(holder),
            },
            Write::DeleteLocal {
                id: remote_id.clone(),
            },
            Write::SetLocal {
                id: rec.local_id(),
                set: pending(),
            },
        ],
        message: format!(
            "The local document keeps {field}; the cloud document {} that held it will be deleted by the next sync (it is kept in this conflict record)",
            display_id(&remote_id)
        ),
        applied_value: None,
        discarded: cur.holder_here.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_value_is_asked_for_without_a_command_line_flag_because_every_front_end_shows_it() {
        for reason in [MERGE_NEEDS_A_VALUE, NO_SUGGESTION, NO_FREE_VALUE] {
            let e = value_needed("c1", reason);
            let msg = e.to_string();
            assert!(
                !msg.contains("--") && !msg.contains("templesync "),
                "a CLI flag in an engine message: {msg}"
            );
            assert_eq!(e.code(), "invalid_resolution", "the code of any refusal");
            assert_eq!(e.field(), Some("value"), "the screen shows it by the value");
        }
    }
}
