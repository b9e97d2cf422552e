//! Compare-and-set writes: a write that happens only if the document is still as it was
//! read, sent as few commands as the server's size limits allow.

use super::*;

/// Above this size a compare-and-set filter does not repeat the document's large fields: the
/// filter and the new version share one command, which MongoDB caps at 16 MB, so repeating a
/// 9 MB document would make a command no server accepts.
pub(super) const SLIM_FILTER_BYTES: usize = 1024 * 1024;

/// In a large document's filter, fields up to this size are compared by value; larger ones
/// through the document's total size.
pub(super) const FIELD_IN_FILTER_BYTES: usize = 16 * 1024;

/// A filter that matches the document only while it is as it was read: its `_id` and every
/// top-level field equal. Plain equality keeps the `_id` index usable on every server (an
/// `$expr` over `$$ROOT` would be exact too, but some servers evaluate it without the index).
/// It does not notice a field *added* by another writer in the moment between our read and
/// write; every TempleSync and TMS write changes `updatedAt`, which it does notice. (Sides
/// that run transactions compare the whole document instead: [`crate::exact`].)
///
/// A large document's filter compares its small fields by value and the rest by the
/// document's size in bytes, so that the write stays within the server's command limit
/// whatever the document's size: a change to a large field that keeps both its size and
/// `updatedAt` is then not seen.
pub(crate) fn unchanged(doc: &Document) -> Document {
    let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
    let size = bson_len(doc);
    let large = size > SLIM_FILTER_BYTES;
    let unusable = |k: &str| k.contains('.') || k.starts_with('$');
    if !large && doc.keys().any(|k| unusable(k)) {
        // Such names cannot be written as query paths: compare the whole document instead.
        return doc! { "_id": id, "$expr": { "$eq": [ "$$ROOT", { "$literal": doc.clone() } ] } };
    }
    let mut f = doc! { "_id": id };
    let mut by_size = false;
    for (k, v) in doc.iter().filter(|(k, _)| k.as_str() != "_id") {
        if large && (unusable(k) || value_len(v) > FIELD_IN_FILTER_BYTES) {
            by_size = true;
            continue;
        }
        f.insert(k.clone(), doc! { "$eq": v.clone() });
    }
    if by_size {
        f.insert(
            "$expr",
            doc! { "$eq": [ { "$bsonSize": "$$ROOT" }, size as i64 ] },
        );
    }
    f
}

/// A value's size as BSON (close enough for choosing what a filter repeats).
pub(super) fn value_len(v: &Bson) -> usize {
    match v {
        Bson::String(s) => s.len(),
        Bson::Binary(b) => b.bytes.len(),
        Bson::Document(d) => bson_len(d),
        Bson::Array(a) => a.iter().map(value_len).sum::<usize>() + a.len() * 8,
        _ => 16,
    }
}

/// A write that must only happen if the document is still as it was read: the document as
/// read, and for a replacement the new version.
pub(crate) enum CasWrite {
    Replace(Document, Document),
    Delete(Document),
}

pub(crate) enum CasOutcome {
    Done(Op),
    /// The document changed (or went) since it was read.
    Changed,
    /// A unique index refused the write.
    Duplicate,
}

/// How many single-document writes are in flight at once.
pub(super) const CONCURRENT_WRITES: usize = 16;

/// Above this size a write is sent in a command of its own; smaller ones share commands.
pub(super) const SHARED_COMMAND_BYTES: usize = 4 * 1024 * 1024;

/// Applies compare-and-set writes; each outcome is known per document. They go as a few
/// `update` and `delete` commands of many statements each: one round trip, and far less work
/// for the server per document than a command each. When a command matched fewer documents
/// than it had statements (someone wrote in between), the documents are read back to tell
/// which writes went through.
pub(super) async fn apply_cas(
    coll: &Collection<Document>,
    side: Side,
    writes: Vec<(usize, CasWrite)>,
    exact: bool,
) -> Result<Vec<(usize, CasOutcome)>> {
    let mut out = Vec::with_capacity(writes.len());
    let writes = match exact && !writes.is_empty() {
        true => {
            // Writes refused inside a transaction (a unique index) come back: each one's
            // outcome is then found the ordinary way.
            let (done, back) = crate::exact::apply(coll, side, writes).await?;
            out.extend(done);
            back
        }
        false => writes,
    };
    let (deletes, replaces): (Vec<_>, Vec<_>) = writes
        .into_iter()
        .partition(|(_, w)| matches!(w, CasWrite::Delete(_)));
    let mut alone = Vec::new();
    for group in [replaces, deletes] {
        let (chunks, large) = by_size(group, |(_, w)| w.size());
        for chunk in chunks {
            out.extend(apply_cas_command(coll, side, chunk).await?);
        }
        alone.extend(large);
    }
    out.extend(apply_cas_each(coll, side, alone).await?);
    Ok(out)
}

/// Splits writes into groups of at most [`SHARED_COMMAND_BYTES`] to share a command, and
/// those larger than that, which go alone.
pub(super) fn by_size<T>(writes: Vec<T>, size: impl Fn(&T) -> usize) -> (Vec<Vec<T>>, Vec<T>) {
    let (mut chunks, mut alone) = (Vec::new(), Vec::new());
    let (mut chunk, mut bytes) = (Vec::new(), 0);
    for w in writes {
        let n = size(&w);
        if n > SHARED_COMMAND_BYTES {
            alone.push(w);
            continue;
        }
        if bytes + n > SHARED_COMMAND_BYTES && !chunk.is_empty() {
            chunks.push(std::mem::take(&mut chunk));
            bytes = 0;
        }
        chunk.push(w);
        bytes += n;
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    (chunks, alone)
}

pub(super) fn bson_len(d: &Document) -> usize {
    bson::to_vec(d).map(|v| v.len()).unwrap_or(usize::MAX / 4)
}

/// The error in a write command's reply, if it has one: the first statement refused, or a
/// write concern that failed.
pub(super) fn refusal(
    reply: &Document,
    what: &str,
    side: Side,
    allow_duplicates: bool,
) -> Result<()> {
    let refused = |code: i32, message: &str| Error::Database {
        context: what.into(),
        message: format!("{message} (code {code})"),
        transient: crate::error::TRANSIENT_CODES.contains(&code),
        network: false,
        side,
    };
    if let Ok(wce) = reply.get_document("writeConcernError") {
        let code = wce.get_i32("code").unwrap_or(0);
        return Err(refused(code, wce.get_str("errmsg").unwrap_or_default()));
    }
    for e in reply.get_array("writeErrors").into_iter().flatten() {
        let Some(e) = e.as_document() else { continue };
        let code = e.get_i32("code").unwrap_or(0);
        if !(allow_duplicates && code == 11000) {
            return Err(refused(code, e.get_str("errmsg").unwrap_or_default()));
        }
    }
    Ok(())
}

/// Sends `statements` (of an `update` or `delete` command, by `_id`) in as few commands as
/// their sizes allow; fails on the first refused statement.
pub(super) async fn write_by_id(
    coll: &Collection<Document>,
    side: Side,
    kind: &str,
    statements: Vec<Document>,
    what: &str,
) -> Result<()> {
    let (mut chunks, alone) = by_size(statements, bson_len);
    chunks.extend(alone.into_iter().map(|s| vec![s]));
    let db = coll.client().database(&coll.namespace().db);
    let list = if kind == "delete" {
        "deletes"
    } else {
        "updates"
    };
    for chunk in chunks {
        let statements: Vec<Bson> = chunk.into_iter().map(Bson::Document).collect();
        let command = doc! { kind: coll.name(), list: statements, "ordered": false };
        let reply = db.run_command(command).await.map_err(db_err(side, what))?;
        refusal(&reply, what, side, false)?;
    }
    Ok(())
}

impl CasWrite {
    /// The size of the write: its filter, plus the new version.
    fn size(&self) -> usize {
        match self {
            CasWrite::Replace(_, u) => bson_len(&self.filter()) + bson_len(u),
            CasWrite::Delete(_) => bson_len(&self.filter()),
        }
    }

    pub(crate) fn read(&self) -> &Document {
        match self {
            CasWrite::Replace(q, _) | CasWrite::Delete(q) => q,
        }
    }

    pub(crate) fn id(&self) -> Bson {
        self.read().get("_id").cloned().unwrap_or(Bson::Null)
    }

    /// The filter that matches the document only while it is as read.
    fn filter(&self) -> Document {
        unchanged(self.read())
    }
}

/// One `update` or `delete` command for writes of one kind.
pub(super) async fn apply_cas_command(
    coll: &Collection<Document>,
    side: Side,
    writes: Vec<(usize, CasWrite)>,
) -> Result<Vec<(usize, CasOutcome)>> {
    let deleting = matches!(writes.first(), Some((_, CasWrite::Delete(_))));
    let what = if deleting {
        "deleting documents"
    } else {
        "writing documents"
    };
    let statements: Vec<Bson> = writes
        .iter()
        .map(|(_, w)| match w {
            CasWrite::Replace(_, u) => Bson::Document(doc! { "q": w.filter(), "u": u.clone() }),
            CasWrite::Delete(_) => Bson::Document(doc! { "q": w.filter(), "limit": 1 }),
        })
        .collect();
    let command = if deleting {
        doc! { "delete": coll.name(), "deletes": statements, "ordered": false }
    } else {
        doc! { "update": coll.name(), "updates": statements, "ordered": false }
    };
    let db = coll.client().database(&coll.namespace().db);
    let reply = db.run_command(command).await.map_err(db_err(side, what))?;
    // A refusal other than a clash stops the batch here (and the quarantine looks for the
    // document at fault).
    refusal(&reply, what, side, true)?;
    let mut duplicates = HashSet::new();
    for e in reply.get_array("writeErrors").into_iter().flatten() {
        let Some(e) = e.as_document() else { continue };
        let index = match e.get("index") {
            Some(Bson::Int32(i)) => *i as usize,
            Some(Bson::Int64(i)) => *i as usize,
            _ => continue,
        };
        duplicates.insert(index);
    }
    let n = match reply.get("n") {
        Some(Bson::Int32(n)) => *n as usize,
        Some(Bson::Int64(n)) => *n as usize,
        _ => 0,
    };
    let op = if deleting { Op::Delete } else { Op::Replace };
    if n + duplicates.len() == writes.len() {
        return Ok(writes
            .into_iter()
            .enumerate()
            .map(|(pos, (i, _))| match duplicates.contains(&pos) {
                true => (i, CasOutcome::Duplicate),
                false => (i, CasOutcome::Done(op)),
            })
            .collect());
    }
    // Some documents changed since they were read: see which writes went through.
    let ids: Vec<Bson> = writes.iter().map(|(_, w)| w.id()).collect();
    let mut now = CollectionSync::fetch(coll, side, &ids).await?;
    Ok(writes
        .into_iter()
        .enumerate()
        .map(|(pos, (i, w))| {
            let current = now.remove(&IdKey::of(&w.id()));
            let outcome = match (&w, current) {
                _ if duplicates.contains(&pos) => CasOutcome::Duplicate,
                (CasWrite::Replace(_, u), Some(d)) if same_fields(u, &d) => CasOutcome::Done(op),
                (CasWrite::Delete(_), None) => CasOutcome::Done(op),
                _ => CasOutcome::Changed,
            };
            (i, outcome)
        })
        .collect())
}

/// The same fields with the same values, in any order.
pub(super) fn same_fields(a: &Document, b: &Document) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
}

/// Applies compare-and-set writes one command each, concurrently: for writes too large to
/// share a command.
pub(super) async fn apply_cas_each(
    coll: &Collection<Document>,
    side: Side,
    writes: Vec<(usize, CasWrite)>,
) -> Result<Vec<(usize, CasOutcome)>> {
    use futures::StreamExt;
    futures::stream::iter(writes)
        .map(|(i, w)| async move {
            let filter = w.filter();
            let outcome = match w {
                CasWrite::Replace(_, doc) => match coll.replace_one(filter, doc).await {
                    Ok(r) if r.matched_count == 1 => CasOutcome::Done(Op::Replace),
                    Ok(_) => CasOutcome::Changed,
                    Err(e) if is_duplicate_key(&e) => CasOutcome::Duplicate,
                    Err(e) => return Err(Error::db(side, "writing a document", &e)),
                },
                CasWrite::Delete(_) => match coll.delete_one(filter).await {
                    Ok(r) if r.deleted_count == 1 => CasOutcome::Done(Op::Delete),
                    Ok(_) => CasOutcome::Changed,
                    Err(e) => return Err(Error::db(side, "deleting a document", &e)),
                },
            };
            Ok((i, outcome))
        })
        .buffer_unordered(CONCURRENT_WRITES)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_documents_filter_repeats_every_field() {
        let d = doc! { "_id": 1, "name": "Ravi", "updatedAt": bson::DateTime::from_millis(5) };
        let f = unchanged(&d);
        assert_eq!(
            f,
            doc! { "_id": 1, "name": { "$eq": "Ravi" }, "updatedAt": { "$eq": bson::DateTime::from_millis(5) } }
        );
    }

    #[test]
    fn a_large_documents_filter_stays_small_and_still_compares_its_size() {
        let scan = "x".repeat(9 * 1024 * 1024);
        let d = doc! { "_id": 1, "name": "Ravi", "scan": scan, "updatedAt": bson::DateTime::from_millis(5) };
        let f = unchanged(&d);
        assert!(
            bson_len(&f) < 4096,
            "the 9 MB field is not repeated: {} bytes",
            bson_len(&f)
        );
        assert_eq!(f.get_document("name").unwrap(), &doc! { "$eq": "Ravi" });
        assert!(
            f.get("updatedAt").is_some(),
            "updatedAt is compared by value"
        );
        assert!(f.get("scan").is_none());
        let size = f.get_document("$expr").unwrap().get_array("$eq").unwrap()[1].clone();
        assert_eq!(
            size,
            Bson::Int64(bson_len(&d) as i64),
            "the large field is compared by the document's size"
        );
    }

    #[test]
    fn a_large_document_with_a_dotted_name_leaves_that_name_to_the_size() {
        let d = doc! { "_id": 1, "price.usd": 10, "scan": "x".repeat(2 * 1024 * 1024) };
        let f = unchanged(&d);
        assert!(
            f.keys().all(|k| k == "_id" || k == "$expr"),
            "{:?}",
            f.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_large_write_is_sized_by_its_filter_not_twice_the_document() {
        let d = doc! { "_id": 1, "scan": "x".repeat(9 * 1024 * 1024) };
        let w = CasWrite::Replace(d.clone(), d.clone());
        assert!(w.size() < bson_len(&d) + 4096, "{}", w.size());
    }
}
