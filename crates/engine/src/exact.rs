//! Compare-and-set that sees every change, inside a transaction.
//!
//! A filter that repeats a document's fields as read (`run::unchanged`) cannot see a field
//! that another writer *added* in the meantime, nor (for a field read as null) one it removed:
//! four office PCs merging their own fields into one booking at the same moment lost one PC's
//! edit that way. And it doubles the size of every write, so a document over about 8 MB could
//! never be updated within MongoDB's 16 MB command limit.
//!
//! Where a side runs transactions (a replica set: Atlas always, a local replica set too), a
//! batch's writes go in one transaction instead: the documents are read again inside it and
//! compared whole with what the run decided on; the ones still as read are written by `_id`
//! alone; the others are reported changed (decided again later). Any write by anyone else to
//! those documents after the transaction's read makes the server abort it
//! (`WriteConflict`, labelled `TransientTransactionError`): then every write of the batch is
//! reported changed, and nothing of it was applied.

use std::collections::HashMap;

use bson::{Bson, Document, doc};
use mongodb::Collection;
use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};

use crate::content::IdKey;
use crate::error::{Error, Result, Side};
use crate::feed::Op;
use crate::run::{CasOutcome, CasWrite};

/// Above this many bytes of new versions, a batch's writes are split over transactions (a
/// transaction's writes are kept in memory by the server until it commits).
const TRANSACTION_BYTES: usize = 8 * 1024 * 1024;

type Outcomes = Vec<(usize, CasOutcome)>;

/// Applies `writes` in transactions. Gives back, besides the outcomes, the writes whose
/// transaction a write error aborted (a unique index refusing one): the caller applies those
/// the ordinary way, which reports each write's outcome.
pub(crate) async fn apply(
    coll: &Collection<Document>,
    side: Side,
    writes: Vec<(usize, CasWrite)>,
) -> Result<(Outcomes, Vec<(usize, CasWrite)>)> {
    let mut out = Vec::with_capacity(writes.len());
    let mut back = Vec::new();
    for chunk in chunks(writes) {
        match in_transaction(coll, side, chunk).await? {
            Ok(outcomes) => out.extend(outcomes),
            Err(chunk) => back.extend(chunk),
        }
    }
    Ok((out, back))
}

fn chunks(writes: Vec<(usize, CasWrite)>) -> Vec<Vec<(usize, CasWrite)>> {
    let mut all = Vec::new();
    let (mut cur, mut bytes) = (Vec::new(), 0);
    for w in writes {
        let n = new_size(&w.1);
        if bytes + n > TRANSACTION_BYTES && !cur.is_empty() {
            all.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += n;
        cur.push(w);
    }
    if !cur.is_empty() {
        all.push(cur);
    }
    all
}

fn new_size(w: &CasWrite) -> usize {
    match w {
        CasWrite::Replace(_, u) => bson::to_vec(u).map(|v| v.len()).unwrap_or(0),
        CasWrite::Delete(_) => 64,
    }
}

/// What to write of a batch, given the documents as they are now: the statements by `_id` for
/// the writes whose document is still exactly as read, and the positions of the others. Pure.
pub(crate) fn plan(
    writes: &[(usize, CasWrite)],
    now: &HashMap<IdKey, Document>,
) -> (Vec<Document>, Vec<Document>, Vec<usize>) {
    let (mut updates, mut deletes, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for (pos, (_, w)) in writes.iter().enumerate() {
        let current = now.get(&IdKey::of(&w.id()));
        let still = current.is_some_and(|c| same_document(c, w.read()));
        match (still, w) {
            (false, _) => changed.push(pos),
            (true, CasWrite::Replace(read, new)) => {
                let id = read.get("_id").cloned().unwrap_or(Bson::Null);
                updates.push(doc! { "q": { "_id": id }, "u": new.clone() });
            }
            (true, CasWrite::Delete(read)) => {
                let id = read.get("_id").cloned().unwrap_or(Bson::Null);
                deletes.push(doc! { "q": { "_id": id }, "limit": 1 });
            }
        }
    }
    (updates, deletes, changed)
}

/// The same document: the same fields with the same values (order aside, as the filter it
/// replaces compared), none added, none removed.
/// `_id`s are compared as MongoDB does (`1` is `1.0`): the run reads a side's document under the
/// id type of the other.
fn same_document(a: &Document, b: &Document) -> bool {
    a.len() == b.len()
        && a.iter().all(|(k, v)| match k.as_str() {
            "_id" => b.get(k).is_some_and(|w| IdKey::of(w) == IdKey::of(v)),
            _ => crate::content::same_value(b.get(k), Some(v)),
        })
}

fn err(side: Side, what: &'static str) -> impl Fn(mongodb::error::Error) -> Error {
    move |e| Error::db(side, what, &e)
}

/// One transaction: read, compare, write, commit. `Ok(Err(writes))` when a write was refused.
async fn in_transaction(
    coll: &Collection<Document>,
    side: Side,
    writes: Vec<(usize, CasWrite)>,
) -> Result<std::result::Result<Outcomes, Vec<(usize, CasWrite)>>> {
    let what = "writing documents (in a transaction)";
    let client = coll.client();
    let db = client.database(&coll.namespace().db);
    let mut session = client.start_session().await.map_err(err(side, what))?;
    session.start_transaction().await.map_err(err(side, what))?;
    let ids: Vec<Bson> = writes.iter().map(|(_, w)| w.id()).collect();
    let attempt = async {
        let mut cursor = coll
            .find(doc! { "_id": { "$in": ids } })
            .session(&mut session)
            .await?;
        let mut now = HashMap::new();
        while let Some(d) = cursor.next(&mut session).await {
            let d = d?;
            if let Some(id) = d.get("_id") {
                now.insert(IdKey::of(id), d);
            }
        }
        drop(cursor);
        let (updates, deletes, changed) = plan(&writes, &now);
        let mut refused = false;
        for (kind, list, statements) in [
            ("update", "updates", updates),
            ("delete", "deletes", deletes),
        ] {
            if statements.is_empty() {
                continue;
            }
            let expected = statements.len();
            let command = doc! { kind: coll.name(), list: statements, "ordered": false };
            let reply = db.run_command(command).session(&mut session).await?;
            let n = reply
                .get("n")
                .and_then(Bson::as_i64)
                .or_else(|| reply.get_i32("n").ok().map(i64::from));
            refused |= reply.get_array("writeErrors").is_ok_and(|a| !a.is_empty())
                || n != Some(expected as i64);
        }
        Ok::<_, mongodb::error::Error>((changed, refused))
    }
    .await;
    let (changed, refused) = match attempt {
        Ok(r) => r,
        Err(e) if e.contains_label(TRANSIENT_TRANSACTION_ERROR) => {
            let _ = session.abort_transaction().await;
            tracing::debug!(
                batch = writes.len(),
                "write conflict in a transaction: the batch is decided again"
            );
            return Ok(Ok(all_changed(&writes)));
        }
        Err(e) => {
            let _ = session.abort_transaction().await;
            return Err(Error::db(side, what, &e));
        }
    };
    if refused {
        let _ = session.abort_transaction().await;
        return Ok(Err(writes));
    }
    if let Err(e) = commit(&mut session).await {
        if e.contains_label(TRANSIENT_TRANSACTION_ERROR) {
            return Ok(Ok(all_changed(&writes)));
        }
        return Err(Error::db(side, what, &e));
    }
    Ok(Ok(outcomes(writes, &changed)))
}

/// Commits, once more when the server could not say whether the first commit went through
/// (committing again is safe: the server answers for the same transaction).
async fn commit(session: &mut mongodb::ClientSession) -> mongodb::error::Result<()> {
    match session.commit_transaction().await {
        Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => {
            session.commit_transaction().await
        }
        r => r,
    }
}

fn all_changed(writes: &[(usize, CasWrite)]) -> Outcomes {
    writes
        .iter()
        .map(|(i, _)| (*i, CasOutcome::Changed))
        .collect()
}

fn outcomes(writes: Vec<(usize, CasWrite)>, changed: &[usize]) -> Outcomes {
    writes
        .into_iter()
        .enumerate()
        .map(|(pos, (i, w))| {
            let outcome = match (changed.contains(&pos), w) {
                (true, _) => CasOutcome::Changed,
                (false, CasWrite::Replace(..)) => CasOutcome::Done(Op::Replace),
                (false, CasWrite::Delete(_)) => CasOutcome::Done(Op::Delete),
            };
            (i, outcome)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now_of(docs: &[Document]) -> HashMap<IdKey, Document> {
        docs.iter()
            .map(|d| (IdKey::of(d.get("_id").unwrap()), d.clone()))
            .collect()
    }

    #[test]
    fn a_field_added_since_the_read_stops_the_write() {
        let read = doc! { "_id": 1, "name": "Ravi", "updatedAt": 5 };
        let added = doc! { "_id": 1, "name": "Ravi", "updatedAt": 5, "phone": "111" };
        let writes = vec![(
            0,
            CasWrite::Replace(read.clone(), doc! { "_id": 1, "name": "R" }),
        )];
        let (u, d, changed) = plan(&writes, &now_of(&[added]));
        assert!(u.is_empty() && d.is_empty());
        assert_eq!(
            changed,
            vec![0],
            "another writer's new field must not be overwritten"
        );
    }

    #[test]
    fn a_field_removed_or_changed_stops_the_write_and_order_alone_does_not() {
        let read = doc! { "_id": 1, "note": Bson::Null, "n": 1 };
        let removed = doc! { "_id": 1, "n": 1 };
        let writes = vec![(0, CasWrite::Delete(read.clone()))];
        assert_eq!(plan(&writes, &now_of(&[removed])).2, vec![0]);
        let retyped = doc! { "_id": 1, "note": Bson::Null, "n": 1_i64 };
        assert_eq!(plan(&writes, &now_of(&[retyped])).2, vec![0]);
        let reordered = doc! { "_id": 1, "n": 1, "note": Bson::Null };
        let (_, d, changed) = plan(&writes, &now_of(&[reordered]));
        assert!(changed.is_empty());
        assert_eq!(d, vec![doc! { "q": { "_id": 1 }, "limit": 1 }]);
    }

    #[test]
    fn writes_still_as_read_go_by_id_alone_and_gone_ones_are_changed() {
        let a = doc! { "_id": 1, "big": "x".repeat(1000) };
        let new = doc! { "_id": 1, "big": "y" };
        let writes = vec![
            (3, CasWrite::Replace(a.clone(), new.clone())),
            (4, CasWrite::Delete(doc! { "_id": 2 })),
        ];
        let (u, d, changed) = plan(&writes, &now_of(&[a]));
        assert_eq!(
            u,
            vec![doc! { "q": { "_id": 1 }, "u": new }],
            "no copy of the document in the filter"
        );
        assert!(d.is_empty());
        assert_eq!(
            changed,
            vec![1],
            "a document gone since the read is not deleted blindly"
        );
    }
}
