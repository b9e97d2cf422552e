//! One sync at a time, across processes: a lease in the local `sync_state` collection.
//!
//! The holder renews its lease while it runs. A holder that crashed stops renewing and its
//! lease runs out; a holder on this computer whose process is gone is taken over at once, and
//! so is a lock this very process left behind (its release failed, say, because the link to
//! the database was cut at that moment).

use std::sync::Arc;
use std::time::Duration;

use bson::{Bson, Document, doc};
use mongodb::Collection;
use mongodb::options::ReturnDocument;

use crate::clock::{Clock, to_bson};
use crate::error::{Error, Result, Side};
use crate::store::SYNC_STATE;

const LOCK_ID: &str = "run_lock";
pub(crate) const LEASE: Duration = Duration::from_secs(60);

/// The holders this process has now (a lock of this process that is not here was left behind).
static LIVE: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn live_holders() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<String>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) struct RunLock {
    coll: Collection<Document>,
    holder: String,
    renewal: tokio::task::JoinHandle<()>,
}

/// What the previous holder left behind, when we took over a stale lock.
pub(crate) struct Acquired {
    pub lock: RunLock,
    pub took_over_stale: bool,
}

pub(crate) fn this_host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "this computer".to_string())
}

fn process_is_gone(pid: i64) -> bool {
    // Only decidable where /proc exists; elsewhere wait for the lease to run out.
    cfg!(target_os = "linux") && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether a held lock can be taken over at once: its holder is a process of this computer
/// that no longer exists, or this very process, which no longer holds it (it left it behind).
fn abandoned(lock: &Document) -> bool {
    let pid = lock.get_i64("pid").unwrap_or(0);
    let ours = std::process::id() as i64;
    let holder = lock.get_str("holder").unwrap_or_default();
    lock.get_str("host").ok() == Some(this_host().as_str())
        && ((pid != ours && pid > 0 && process_is_gone(pid))
            || (pid == ours && !holder.is_empty() && !live_holders().contains(holder)))
}

impl RunLock {
    pub async fn acquire(
        db: &mongodb::Database,
        clock: Arc<dyn Clock>,
        purpose: &str,
    ) -> Result<Acquired> {
        let coll = db.collection::<Document>(SYNC_STATE);
        let holder = bson::oid::ObjectId::new().to_hex();
        let host = this_host();
        let pid = std::process::id() as i64;
        let now = clock.now();
        let expires = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        let claim = doc! { "$set": {
            "holder": &holder, "host": &host, "pid": pid, "purpose": purpose,
            "acquiredAt": to_bson(now), "expiresAt": to_bson(expires),
        }};
        let map = |e: &mongodb::error::Error| Error::db(Side::Local, "taking the sync lock", e);

        // Free or expired: take it.
        let free = doc! { "_id": LOCK_ID, "$or": [ { "holder": Bson::Null }, { "expiresAt": { "$lt": to_bson(now) } } ] };
        let previous = coll
            .find_one_and_update(free, claim.clone())
            .return_document(ReturnDocument::Before)
            .await
            .map_err(|e| map(&e))?;
        if let Some(prev) = previous {
            let stale = !matches!(prev.get("holder"), None | Some(Bson::Null));
            return Ok(Acquired {
                lock: RunLock::start(coll, holder, clock),
                took_over_stale: stale,
            });
        }
        // No lock document yet: create it (a racing creator makes this fail with a duplicate key).
        let current = coll
            .find_one(doc! { "_id": LOCK_ID })
            .await
            .map_err(|e| map(&e))?;
        let Some(current) = current else {
            let mut fresh = claim.get_document("$set").cloned().unwrap_or_default();
            fresh.insert("_id", LOCK_ID);
            return match coll.insert_one(fresh).await {
                Ok(_) => Ok(Acquired {
                    lock: RunLock::start(coll, holder, clock),
                    took_over_stale: false,
                }),
                Err(_) => Err(Error::SyncInProgress {
                    holder: String::new(),
                }),
            };
        };
        // Held. If by a process of this computer that no longer exists, or left behind by this
        // process, take it over.
        let their_pid = current.get_i64("pid").unwrap_or(0);
        if abandoned(&current) {
            let filter = doc! { "_id": LOCK_ID, "holder": current.get("holder").cloned().unwrap_or(Bson::Null) };
            let taken = coll.update_one(filter, claim).await.map_err(|e| map(&e))?;
            if taken.modified_count == 1 {
                return Ok(Acquired {
                    lock: RunLock::start(coll, holder, clock),
                    took_over_stale: true,
                });
            }
        }
        let since = current
            .get_datetime("acquiredAt")
            .map(|t| t.to_chrono().format(" since %H:%M:%S UTC").to_string())
            .unwrap_or_default();
        let what = current.get_str("purpose").unwrap_or("sync");
        Err(Error::SyncInProgress {
            holder: format!(
                " ({what} on {}, process {their_pid}{since})",
                current.get_str("host").unwrap_or("?")
            ),
        })
    }

    fn start(coll: Collection<Document>, holder: String, clock: Arc<dyn Clock>) -> RunLock {
        let (c, h) = (coll.clone(), holder.clone());
        let renewal = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE / 4).await;
                let expires = clock.now() + chrono::Duration::from_std(LEASE).unwrap_or_default();
                let r = c
                    .update_one(
                        doc! { "_id": LOCK_ID, "holder": &h },
                        doc! { "$set": { "expiresAt": to_bson(expires) } },
                    )
                    .await;
                if let Err(e) = r {
                    tracing::warn!(error = %e, "could not renew the sync lock");
                }
            }
        });
        live_holders().insert(holder.clone());
        RunLock {
            coll,
            holder,
            renewal,
        }
    }

    pub async fn release(self) {
        self.renewal.abort();
        let r = self
            .coll
            .update_one(
                doc! { "_id": LOCK_ID, "holder": &self.holder },
                doc! { "$set": { "holder": Bson::Null, "expiresAt": Bson::Null } },
            )
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not release the sync lock; it expires by itself");
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        self.renewal.abort();
        live_holders().remove(&self.holder);
    }
}

/// Whether a run holds the lock now (for `status`).
pub(crate) async fn is_held(db: &mongodb::Database, clock: &dyn Clock) -> Result<bool> {
    let coll = db.collection::<Document>(SYNC_STATE);
    let cur = coll
        .find_one(doc! { "_id": LOCK_ID })
        .await
        .map_err(|e| Error::db(Side::Local, "reading the sync lock", &e))?;
    Ok(match cur {
        None => false,
        Some(d) => {
            let held = !matches!(d.get("holder"), None | Some(Bson::Null));
            let live = d
                .get_datetime("expiresAt")
                .map(|t| t.to_chrono() > clock.now())
                .unwrap_or(false);
            held && live && !abandoned(&d)
        }
    })
}
