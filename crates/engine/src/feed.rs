//! The remote change feed: which cloud documents changed since the last run, by any writer.
//!
//! A change stream per collection, resumed from the token saved at the end of the last run.
//! It carries only ids and operation types (the documents themselves are fetched once, in
//! batches, when reconciled), so catching up on a quiet collection reads no user documents.
//! When the history is gone (the server's oplog moved on) or change streams are not available
//! (a standalone server), the caller falls back to a full scan.

use std::time::Duration;

use bson::{Bson, Document, doc};
use mongodb::Collection;
use mongodb::change_stream::ChangeStream;
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};

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
}

/// How the feed could be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    /// Resumed from the saved token: only later changes will come.
    Resumed,
    /// Started now; everything before must be found by a scan.
    Fresh,
    /// The saved token is older than the server's history; started now, a scan is needed.
    HistoryLost,
}

/// What a drain found besides document changes.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    pub events: Vec<FeedEvent>,
    /// The collection was dropped or renamed on the cloud side: the stream ended.
    pub invalidated: bool,
    /// More events are waiting (the drain stopped at its limit).
    pub more: bool,
}

pub(crate) struct RemoteFeed {
    stream: ChangeStream<ChangeStreamEvent<Document>>,
}

/// How long one "anything new?" request waits on the server when nothing is there.
const AWAIT: Duration = Duration::from_millis(50);

/// Server codes that mean the resume point is gone.
const HISTORY_LOST: &[i32] = &[280, 286, 136];
/// Server codes that mean change streams are not available here.
const UNSUPPORTED: &[i32] = &[40573, 40324, 115, 20];

fn pipeline() -> Vec<Document> {
    // Ids and operation types only: the document bodies are fetched when reconciled.
    vec![
        doc! { "$project": { "fullDocument": 0, "updateDescription": 0, "fullDocumentBeforeChange": 0 } },
    ]
}

fn code_of(e: &mongodb::error::Error) -> Option<i32> {
    crate::error::server_code(e)
}

pub(crate) fn decode_token(stored: &Bson) -> Option<ResumeToken> {
    bson::from_bson(stored.clone()).ok()
}

impl RemoteFeed {
    /// Opens the feed. `Ok(None)` when the server has no change streams (standalone).
    pub async fn open(
        coll: &Collection<Document>,
        token: Option<ResumeToken>,
    ) -> Result<Option<(RemoteFeed, Opened)>> {
        let map =
            |e: &mongodb::error::Error| Error::db(Side::Remote, "opening the cloud change feed", e);
        if let Some(t) = token {
            match coll
                .watch()
                .pipeline(pipeline())
                .start_after(t)
                .max_await_time(AWAIT)
                .await
            {
                Ok(stream) => return Ok(Some((RemoteFeed { stream }, Opened::Resumed))),
                Err(e) if code_of(&e).is_some_and(|c| HISTORY_LOST.contains(&c)) => {
                    tracing::warn!(
                        collection = coll.name(),
                        "cloud change history lost; a full scan follows"
                    );
                    return Self::open_fresh(coll, Opened::HistoryLost).await;
                }
                Err(e) if code_of(&e).is_some_and(|c| UNSUPPORTED.contains(&c)) => return Ok(None),
                Err(e) => return Err(map(&e)),
            }
        }
        Self::open_fresh(coll, Opened::Fresh).await
    }

    async fn open_fresh(
        coll: &Collection<Document>,
        how: Opened,
    ) -> Result<Option<(RemoteFeed, Opened)>> {
        match coll
            .watch()
            .pipeline(pipeline())
            .max_await_time(AWAIT)
            .await
        {
            Ok(stream) => Ok(Some((RemoteFeed { stream }, how))),
            Err(e) if code_of(&e).is_some_and(|c| UNSUPPORTED.contains(&c)) => Ok(None),
            Err(e) => Err(Error::db(Side::Remote, "opening the cloud change feed", &e)),
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
            let next = self.stream.next_if_any().await.map_err(|e| {
                if code_of(&e).is_some_and(|c| HISTORY_LOST.contains(&c)) {
                    Error::Interrupted("the cloud change history was lost during the run".into())
                } else {
                    Error::db(Side::Remote, "reading the cloud change feed", &e)
                }
            })?;
            let Some(ev) = next else { return Ok(out) };
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
            if let Some(id) = ev.document_key.as_ref().and_then(|k| k.get("_id")) {
                out.events.push(FeedEvent { id: id.clone(), op });
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
