//! Writing a batch to both sides: the cloud first, then this computer, each write a
//! compare-and-set or an insert, and each outcome known per document.

use super::*;

/// Whether a write failed because another write got there first (duplicate key).
pub(super) fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        _ => false,
    }
}

/// A side's refusal of one inserted document, as the quarantine records it.
pub(super) fn refused_insert(side: Side, code: i32, msg: &str) -> Error {
    Error::Database {
        context: "inserting documents".into(),
        message: format!("{msg} (code {code})"),
        transient: false,
        network: false,
        side,
    }
}

impl CollectionSync<'_> {
    /// Writes the batch to both sides: the cloud's writes, and at the same time the local
    /// writes of documents that go nowhere else (pulls, deletes here); then the local writes
    /// of merged documents, once their cloud write went through (a cut between the two leaves
    /// the cloud ahead, which the next run sees as in sync or as a change to bring here).
    pub(super) async fn write_sides(&mut self, items: &mut [Item]) -> Result<()> {
        let exact = self.env.exact_cas;
        let (cloud, local) = tokio::join!(
            send(
                &self.remote,
                Side::Remote,
                self.remote_writes(items),
                exact[1]
            ),
            send(
                &self.local,
                Side::Local,
                self.local_writes(items, false),
                exact[0]
            ),
        );
        let (cloud, local) = (cloud?, local?);
        self.remote_outcomes(items, cloud).await?;
        self.step(Step::PushedBatch).await?;
        let mut refused = self.local_outcomes(items, local);
        let merged = send(
            &self.local,
            Side::Local,
            self.local_writes(items, true),
            exact[0],
        )
        .await?;
        refused.extend(self.local_outcomes(items, merged));
        self.keep_replaced().await;
        self.clashes_here(items, refused).await
    }

    /// Keeps the versions this batch replaced (`sync_history`). A failure to keep them is
    /// said in the log and does not stop the sync: the data itself is written and safe.
    async fn keep_replaced(&mut self) {
        let replaced = std::mem::take(&mut self.replaced);
        let now = self.env.clock.now();
        let run = Some(self.env.run_id);
        if let Err(e) = crate::history::keep(&self.env.dbs.local, run, now, replaced).await {
            tracing::warn!(collection = %self.name, error = %e, "the replaced versions could not be kept");
        }
    }

    /// Remembers the version a write on `side` replaced.
    fn replaced(&mut self, side: Side, old: Option<&Document>, new: Option<&Document>) {
        let Some(old) = old else {
            return;
        };
        self.replaced.push(crate::history::Kept {
            collection: self.name.clone(),
            side,
            version: old.clone(),
            replaced_by: new.cloned(),
            why: if new.is_some() {
                crate::history::Replaced::Overwritten
            } else {
                crate::history::Replaced::Deleted
            },
        });
    }

    /// The cloud's writes of a batch: compare-and-set replacements and deletes, and inserts.
    pub(super) fn remote_writes(&self, items: &[Item]) -> Writes {
        let now = self.now();
        let mut inserts = Vec::new();
        let mut cas = Vec::new();
        for (i, it) in items.iter().enumerate() {
            if it.clash.is_some() || !it.ok {
                continue;
            }
            match (&it.decision, &it.remote) {
                (Decision::DeleteRemote, Some(r)) => cas.push((i, CasWrite::Delete(r.clone()))),
                (d, r) => {
                    let Some(doc) = Self::outgoing(d) else {
                        continue;
                    };
                    let mut out = as_synced(doc, now);
                    if let Some(own) = &it.remote_id {
                        out.insert("_id", own.clone());
                    }
                    match r {
                        None => inserts.push((i, out)),
                        Some(r) => cas.push((i, CasWrite::Replace(r.clone(), out))),
                    }
                }
            }
        }
        Writes { cas, inserts }
    }

    /// What the cloud said to a batch's writes.
    pub(super) async fn remote_outcomes(&mut self, items: &mut [Item], sent: Sent) -> Result<()> {
        for (i, outcome) in sent.cas {
            let it = &mut items[i];
            match outcome {
                CasOutcome::Done(op) => {
                    self.echoes_remote
                        .entry(it.key.clone())
                        .or_default()
                        .push(op);
                    self.out.pushed += 1;
                    let new = match it.decision {
                        Decision::DeleteRemote => None,
                        ref d => Self::outgoing(d),
                    };
                    let (old, new) = (it.remote.clone(), new.cloned());
                    self.replaced(Side::Remote, old.as_ref(), new.as_ref());
                }
                CasOutcome::Changed => {
                    it.ok = false;
                    it.retry = true;
                }
                CasOutcome::Duplicate => {
                    it.ok = false;
                    let doc = Self::outgoing(&it.decision).cloned().unwrap_or_default();
                    it.clash = self.clash_from_index(&doc).await?;
                    // The holder went meanwhile: look again at the end of the run.
                    it.retry = it.clash.is_none();
                }
            }
        }
        for (pos, (i, doc)) in sent.inserts.iter().enumerate() {
            let it = &mut items[*i];
            match sent.refused.get(&pos) {
                None => {
                    self.echoes_remote
                        .entry(it.key.clone())
                        .or_default()
                        .push(Op::Insert);
                    self.out.pushed += 1;
                }
                Some((11000, msg)) if is_id_key(msg) => {
                    // Someone inserted the same document meanwhile: decide again.
                    it.ok = false;
                    it.retry = true;
                }
                Some((11000, _)) => {
                    it.ok = false;
                    it.clash = self.clash_from_index(doc).await?;
                    it.retry = it.clash.is_none();
                }
                Some((code, msg)) => {
                    it.ok = false;
                    self.refused_inserts
                        .push((it.id.clone(), refused_insert(Side::Remote, *code, msg)));
                }
            }
        }
        Ok(())
    }

    /// The local writes of a batch: those of documents that are written here only
    /// (`merged` false), or of those also written to the cloud (`merged` true), which wait
    /// for their cloud write.
    pub(super) fn local_writes(&self, items: &[Item], merged: bool) -> Writes {
        let now = self.now();
        let mut inserts = Vec::new();
        let mut cas = Vec::new();
        for (i, it) in items.iter().enumerate() {
            if it.clash.is_some() || !it.ok || Self::outgoing(&it.decision).is_some() != merged {
                continue;
            }
            match (&it.decision, &it.local) {
                (Decision::DeleteLocal, Some(l)) => cas.push((i, CasWrite::Delete(l.clone()))),
                (d, l) => {
                    let Some(doc) = Self::incoming(d) else {
                        continue;
                    };
                    let out = as_synced(doc, now);
                    match l {
                        None => inserts.push((i, out)),
                        Some(l) => cas.push((i, CasWrite::Replace(l.clone(), out))),
                    }
                }
            }
        }
        Writes { cas, inserts }
    }

    /// What this computer's database said to a batch's writes. Returns the positions of the
    /// items that a unique index here refused.
    pub(super) fn local_outcomes(&mut self, items: &mut [Item], sent: Sent) -> Vec<usize> {
        let mut refused = Vec::new();
        for (i, outcome) in sent.cas {
            let it = &mut items[i];
            match outcome {
                CasOutcome::Done(op) => {
                    self.echoes_local
                        .entry(it.key.clone())
                        .or_default()
                        .push(op);
                    self.out.pulled += 1;
                    let new = match it.decision {
                        Decision::DeleteLocal => None,
                        ref d => Self::incoming(d),
                    };
                    let (old, new) = (it.local.clone(), new.cloned());
                    self.replaced(Side::Local, old.as_ref(), new.as_ref());
                }
                // Edited here meanwhile (it is pending now): look again at the end of the run.
                CasOutcome::Changed => {
                    it.ok = false;
                    it.retry = true;
                }
                CasOutcome::Duplicate => {
                    it.ok = false;
                    refused.push(i);
                }
            }
        }
        for (pos, (i, _)) in sent.inserts.iter().enumerate() {
            let it = &mut items[*i];
            match sent.refused.get(&pos) {
                None => {
                    self.echoes_local
                        .entry(it.key.clone())
                        .or_default()
                        .push(Op::Insert);
                    self.out.pulled += 1;
                }
                Some((11000, msg)) if is_id_key(msg) => {
                    it.ok = false;
                    it.retry = true;
                }
                Some((11000, _)) => {
                    it.ok = false;
                    refused.push(*i);
                }
                Some((code, msg)) => {
                    it.ok = false;
                    self.refused_inserts
                        .push((it.id.clone(), refused_insert(Side::Local, *code, msg)));
                }
            }
        }
        refused
    }
}

/// A batch's writes to one side, each with its item's position in the batch.
pub(super) struct Writes {
    cas: Vec<(usize, CasWrite)>,
    inserts: Vec<(usize, Document)>,
}

/// What one side said to a batch's writes: each compare-and-set's outcome, and the inserts
/// with the refused ones by position.
pub(super) struct Sent {
    cas: Vec<(usize, CasOutcome)>,
    inserts: Vec<(usize, Document)>,
    refused: HashMap<usize, (i32, String)>,
}

/// Sends a batch's writes to one side.
pub(super) async fn send(
    coll: &Collection<Document>,
    side: Side,
    writes: Writes,
    exact: bool,
) -> Result<Sent> {
    let Writes { cas, inserts } = writes;
    let cas = apply_cas(coll, side, cas, exact).await?;
    let refused = if inserts.is_empty() {
        HashMap::new()
    } else {
        insert_all(coll, side, inserts.iter().map(|(_, d)| d)).await?
    };
    Ok(Sent {
        cas,
        inserts,
        refused,
    })
}

/// Inserts unordered; returns the refused ones by position, with code and message.
pub(super) async fn insert_all<'d>(
    coll: &Collection<Document>,
    side: Side,
    docs: impl IntoIterator<Item = &'d Document>,
) -> Result<HashMap<usize, (i32, String)>> {
    match coll.insert_many(docs).ordered(false).await {
        Ok(_) => Ok(HashMap::new()),
        Err(e) => match &*e.kind {
            mongodb::error::ErrorKind::InsertMany(ime) if ime.write_concern_error.is_none() => {
                Ok(ime
                    .write_errors
                    .iter()
                    .flatten()
                    .map(|w| (w.index, (w.code, w.message.clone())))
                    .collect())
            }
            _ => Err(Error::db(side, "inserting documents", &e)),
        },
    }
}

/// Whether a duplicate-key message is about `_id` (the same document) rather than another
/// unique index.
pub(super) fn is_id_key(msg: &str) -> bool {
    msg.contains("_id_") || msg.contains("{ _id:") || msg.contains("_id:")
}
