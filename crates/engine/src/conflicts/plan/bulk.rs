//! Held deletes (the brake, [`crate::bulk`]): many documents deleted on one side.

use super::{Steps, Write, refuse};
use crate::conflicts::record::ConflictRecord;
use crate::conflicts::{Resolution, Strategy};
use crate::error::{Result, Side};

/// What a decision on a hold means: carry the deletes out (`true`), or copy the documents
/// back to the side that deleted them (`false`).
pub(super) fn applies(deleted_on: Side, strategy: Strategy) -> Option<bool> {
    match (deleted_on, strategy) {
        // The cloud deleted them: the cloud's state (keep_remote) deletes them here too.
        (Side::Remote, Strategy::KeepRemote) | (Side::Local, Strategy::KeepLocal) => Some(true),
        (Side::Remote, Strategy::KeepLocal) | (Side::Local, Strategy::KeepRemote) => Some(false),
        _ => None,
    }
}

/// Applying lists the ids for the next run with permission to delete them; restoring forgets
/// their synced versions first, so that the next run sees them as new on the side that still
/// has them and copies them back.
pub(super) fn plan(id: &str, rec: &ConflictRecord, r: &Resolution) -> Result<Steps> {
    let on = rec.deleted_on.unwrap_or(Side::Local);
    let Some(apply) = applies(on, r.strategy) else {
        return Err(refuse(
            id,
            "held deletes are settled by choosing a side: keep_local or keep_remote",
        ));
    };
    let ids = rec.doc_ids.clone();
    let count = ids.len();
    let (writes, message) = match (apply, on) {
        (true, Side::Remote) => (
            vec![],
            format!(
                "The next sync deletes these {count} documents on this computer too, as in the cloud."
            ),
        ),
        (true, Side::Local) => (
            vec![],
            format!(
                "The next sync deletes these {count} documents in the cloud too, as on this computer."
            ),
        ),
        (false, Side::Remote) => (
            vec![Write::ForgetSynced { ids: ids.clone() }],
            format!(
                "The next sync puts these {count} documents back in the cloud from this computer."
            ),
        ),
        (false, Side::Local) => (
            vec![Write::ForgetSynced { ids: ids.clone() }],
            format!(
                "The next sync brings these {count} documents back to this computer from the cloud."
            ),
        ),
    };
    let mut writes = writes;
    writes.push(Write::Recheck {
        ids,
        approved: apply,
    });
    Ok(Steps {
        writes,
        message,
        ..Steps::default()
    })
}
