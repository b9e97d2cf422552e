//! An edit conflict: the same fields changed on both sides.

use bson::Bson;

use super::unique::{MERGE_NEEDS_A_VALUE, value_needed};
use super::{Current, Steps, Write, need_local, recheck_both, refuse};
use crate::conflicts::record::ConflictRecord;
use crate::conflicts::values::merge_values;
use crate::conflicts::{Resolution, Strategy};
use crate::content::{content, get_path, set_path};
use crate::error::Result;
use crate::reconcile::merge3;

/// The local document becomes the three-way merge of the recorded versions with the fields in
/// conflict taken as decided, and the cloud version the person saw becomes the synced one:
/// the next sync then sends the result, and flags again a cloud change made since.
pub(super) fn plan(id: &str, rec: &ConflictRecord, cur: &Current, r: &Resolution) -> Result<Steps> {
    if r.strategy == Strategy::RenameLocal {
        return Err(refuse(
            id,
            "rename_local is for unique-value conflicts; use keep_local, keep_remote or merge",
        ));
    }
    let local = need_local(id, cur)?;
    let remote_v = rec.remote_document.clone().unwrap_or_default();
    let base_v = rec.base_document.clone().unwrap_or_default();
    let mut merged = merge3(&base_v, &content(local), &remote_v).merged;
    let paths = rec.paths();
    let mut applied_value = None;
    let message = match (r.strategy, &r.value) {
        (Strategy::KeepLocal, _) => {
            for p in &paths {
                set_path(&mut merged, p, get_path(local, p).cloned());
            }
            "The local values are kept; the next sync sends them to the cloud"
        }
        (Strategy::KeepRemote, _) => {
            for p in &paths {
                set_path(&mut merged, p, get_path(&remote_v, p).cloned());
            }
            "The cloud values are taken; the local document was updated"
        }
        (_, None) => return Err(value_needed(id, MERGE_NEEDS_A_VALUE)),
        (_, Some(v)) => {
            let applied = merge_values(v, &paths, local, &mut merged).map_err(|e| refuse(id, e))?;
            applied_value = Some(applied);
            "The merged value is stored; the next sync sends it to the cloud"
        }
    };
    merged.insert("syncedAt", Bson::Null);
    merged.insert("syncStatus", "pending");
    let local_id = rec.local_id();
    Ok(Steps {
        writes: vec![
            Write::ReplaceLocal {
                id: local_id.clone(),
                doc: merged,
            },
            Write::SetSynced {
                id: local_id,
                doc: content(&remote_v),
            },
            recheck_both(rec),
        ],
        message: message.to_string(),
        applied_value,
        discarded: Some(local.clone()),
    })
}
