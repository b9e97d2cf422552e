//! Change feeds: which documents changed since the last run, on either side, by any writer.
//!
//! A change stream per collection, resumed from the token saved at the end of the last run.
//! It carries ids and operation types, not document bodies (those are fetched once, in
//! batches, when reconciled), so catching up on a quiet collection reads no user documents.
//! When the history is gone (the oplog moved on) or the server has no change streams (a
//! standalone `mongod`), the caller falls back: a full scan of the cloud, or the
//! `updatedAt != syncedAt` query and an id comparison here.

use std::time::Duration;

use bson::{Bson, Document, doc};
use mongodb::Collection;
use mongodb::change_stream::ChangeStream;
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};

use crate::content::META_FIELDS;
use crate::error::{Error, Result, Side};

/// The kind of write a change event reports, as far as reconciling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Insert,
    Replace,
    Update,
    Delete,
}

#[derive(Debug, Clone)]
pub(crate) struct FeedEvent {
    pub id: Bson,
    pub op: Op,
    /// An update that touched only bookkeeping fields (`syncedAt`, `syncStatus`): ours.
    pub meta_only: bool,
}

/// How the feed could be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    /// Resumed from the saved token: only later changes will come.
    Resumed,
    /// Started now; everything before must be found another way.
    Fresh,
    /// The saved token is older than the server's history; started now.
    HistoryLost,
}

/// What a drain found besides document changes.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    pub events: Vec<FeedEvent>,
    /// The collection was dropped or renamed: the stream ended.
    pub invalidated: bool,
    /// More events are waiting (the drain stopped at its limit).
    pub more: bool,
}

pub(crate) struct ChangeFeed {
    stream: ChangeStream<ChangeStreamEvent<Document>>,
    side: Side,
    /// Whether the stream has asked the server at least once (a stream's first batch can be
    /// empty even when changes are waiting).
    primed: bool,
}

/// How long one "anything new?" request waits on the server when nothing is there.
const AWAIT: Duration = Duration::from_millis(10);

/// Server codes that mean the resume point is gone.
const HISTORY_LOST: &[i32] = &[280, 286, 136];
/// Server codes that mean change streams are not available here.
const UNSUPPORTED: &[i32] = &[40573, 40324, 115, 20];

fn pipeline(side: Side) -> Vec<Document> {
    // Ids and operation types only: document bodies are fetched when reconciled. Here, the
    // names of updated fields tell our own bookkeeping writes from the office's edits.
    let mut drop = doc! { "fullDocument": 0, "fullDocumentBeforeChange": 0 };
    if side == Side::Remote {
        drop.insert("updateDescription", 0);
    }
    vec![doc! { "$project": drop }]
}

fn code_of(e: &mongodb::error::Error) -> Option<i32> {
    crate::error::server_code(e)
}

pub(crate) fn decode_token(stored: &Bson) -> Option<ResumeToken> {
    bson::from_bson(stored.clone()).ok()
}

impl ChangeFeed {
    /// Opens the feed. `Ok(None)` when the server has no change streams (standalone).
    pub async fn open(
        coll: &Collection<Document>,
        side: Side,
        token: Option<ResumeToken>,
    ) -> Result<Option<(ChangeFeed, Opened)>> {
        if let Some(t) = token {
            match coll
                .watch()
                .pipeline(pipeline(side))
                .start_after(t)
                .max_await_time(AWAIT)
                .await
            {
                Ok(stream) => {
                    return Ok(Some((
                        ChangeFeed {
                            stream,
                            side,
                            primed: false,
                        },
                        Opened::Resumed,
                    )));
                }
                Err(e) if code_of(&e).is_some_and(|c| HISTORY_LOST.contains(&c)) => {
                    tracing::warn!(collection = coll.name(), %side, "change history lost; falling back");
                    return Self::open_fresh(coll, side, Opened::HistoryLost).await;
                }
                Err(e) if code_of(&e).is_some_and(|c| UNSUPPORTED.contains(&c)) => return Ok(None),
                Err(e) => return Err(Error::db(side, "opening the change feed", &e)),
            }
        }
        Self::open_fresh(coll, side, Opened::Fresh).await
    }

    async fn open_fresh(
        coll: &Collection<Document>,
        side: Side,
        how: Opened,
    ) -> Result<Option<(ChangeFeed, Opened)>> {
        match coll
            .watch()
            .pipeline(pipeline(side))
            .max_await_time(AWAIT)
            .await
        {
            Ok(stream) => Ok(Some((
                ChangeFeed {
                    stream,
                    side,
                    primed: false,
                },
                how,
            ))),
            Err(e) if code_of(&e).is_some_and(|c| UNSUPPORTED.contains(&c)) => Ok(None),
            Err(e) => Err(Error::db(side, "opening the change feed", &e)),
        }
    }

    /// Reads the changes that are there now, up to `limit` events.
    pub async fn drain(&mut self, limit: usize) -> Result<Drained> {
        let mut out = Drained::default();
        loop {
            if out.events.len() >= limit {
                out.more = true;
                return Ok(out);
            }
            let side = self.side;
            let next = self.stream.next_if_any().await.map_err(|e| {
                if code_of(&e).is_some_and(|c| HISTORY_LOST.contains(&c)) {
                    Error::Interrupted("the change history was lost during the run".into())
                } else {
                    Error::db(side, "reading the change feed", &e)
                }
            })?;
            let Some(ev) = next else {
                if self.primed {
                    return Ok(out);
                }
                self.primed = true;
                continue;
            };
            self.primed = true;
            let op = match ev.operation_type {
                OperationType::Insert => Op::Insert,
                OperationType::Replace => Op::Replace,
                OperationType::Update => Op::Update,
                OperationType::Delete => Op::Delete,
                OperationType::Drop
                | OperationType::Rename
                | OperationType::DropDatabase
                | OperationType::Invalidate => {
                    out.invalidated = true;
                    return Ok(out);
                }
                _ => continue,
            };
            let meta_only = op == Op::Update
                && ev.update_description.as_ref().is_some_and(|u| {
                    u.updated_fields
                        .keys()
                        .chain(u.removed_fields.iter())
                        .all(|k| META_FIELDS.contains(&k.as_str()))
                });
            if let Some(id) = ev.document_key.as_ref().and_then(|k| k.get("_id")) {
                out.events.push(FeedEvent {
                    id: id.clone(),
                    op,
                    meta_only,
                });
            }
        }
    }

    /// Where the next run resumes: after everything drained so far.
    pub fn token(&self) -> Option<Bson> {
        self.stream
            .resume_token()
            .and_then(|t| bson::to_bson(&t).ok())
    }
}
