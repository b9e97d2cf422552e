//! One side deleted a document the other changed.

use super::{Current, Steps, Write, pending, recheck_both, refuse};
use crate::conflicts::record::ConflictRecord;
use crate::conflicts::{Resolution, Strategy};
use crate::content::content;
use crate::error::{Result, Side};

/// Only the synced version and the local copy are touched; the next sync's ordinary rules
/// then delete or copy the document on the other side.
pub(super) fn plan(id: &str, rec: &ConflictRecord, cur: &Current, r: &Resolution) -> Result<Steps> {
    if matches!(r.strategy, Strategy::RenameLocal | Strategy::Merge) {
        return Err(refuse(
            id,
            format!(
                "{} needs two versions, but this document was deleted on one side: use keep_local or keep_remote",
                r.strategy.as_str()
            ),
        ));
    }
    let local_id = rec.local_id();
    let forget = Write::ForgetSynced {
        ids: vec![local_id.clone()],
    };
    let deleted_here = rec.deleted_on == Some(Side::Local);
    let keep_local = r.strategy == Strategy::KeepLocal;
    let mut discarded = None;
    let (mut writes, message) = match (deleted_here, keep_local) {
        // The deletion wins: the cloud version becomes the synced one, so the next sync
        // deletes it.
        (true, true) => (
            vec![Write::SetSynced {
                id: local_id.clone(),
                doc: content(&rec.remote_document.clone().unwrap_or_default()),
            }],
            "The document stays deleted; the next sync deletes it in the cloud too",
        ),
        (true, false) => (
            vec![forget],
            "The cloud version wins; the next sync copies it back here",
        ),
        (false, true) => (
            vec![
                forget,
                Write::SetLocal {
                    id: local_id.clone(),
                    set: pending(),
                },
            ],
            "The local version wins; the next sync puts it back in the cloud",
        ),
        (false, false) => {
            discarded = cur.local.clone();
            (
                vec![
                    Write::DeleteLocal {
                        id: local_id.clone(),
                    },
                    forget,
                ],
                "The deletion wins; the local document was removed (it is kept in this conflict record)",
            )
        }
    };
    writes.push(recheck_both(rec));
    Ok(Steps {
        writes,
        message: message.to_string(),
        applied_value: None,
        discarded,
    })
}
