//! The benchmark's data: a fixed-seed temple data set of N documents (from
//! `templesync_sample::Generator`), the edits of the incremental scenario, and a check that
//! two sides hold the same content.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};

use anyhow::{Context, ensure};
use bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use futures::TryStreamExt;
use mongodb::Database;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use templesync_sample::Generator;

/// The collections of the data set, in loading order.
pub const COLLECTIONS: [&str; 3] = ["admins", "events", "bookings"];

/// Documents per generated chunk (and per `insert_many` when loading).
pub const CHUNK: usize = 1000;

/// How many documents of each kind a data set of `n` documents has: a few admins, one event
/// for every twenty documents, the rest bookings (what an office accumulates).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Mix {
    pub admins: usize,
    pub events: usize,
    pub bookings: usize,
}

impl Mix {
    pub fn of(n: usize) -> Mix {
        let admins = (n / 1000).clamp(3, 20).min(n);
        let events = (n - admins) / 20;
        Mix {
            admins,
            events,
            bookings: n - admins - events,
        }
    }

    fn count(&self, collection: &str) -> usize {
        match collection {
            "admins" => self.admins,
            "events" => self.events,
            _ => self.bookings,
        }
    }
}

/// The data set of `n` documents for `seed`, produced a chunk at a time so that nobody holds
/// all of it.
pub struct DataSet {
    generator: Generator,
    mix: Mix,
    collection: usize,
    done: usize,
}

impl DataSet {
    pub fn new(seed: u64, n: usize) -> DataSet {
        DataSet {
            generator: Generator::new(seed),
            mix: Mix::of(n),
            collection: 0,
            done: 0,
        }
    }

    /// The next chunk: up to [`CHUNK`] documents of one collection.
    pub fn next_chunk(&mut self) -> Option<(&'static str, Vec<Document>)> {
        loop {
            let name = *COLLECTIONS.get(self.collection)?;
            let total = self.mix.count(name);
            if self.done >= total {
                self.collection += 1;
                self.done = 0;
                continue;
            }
            let take = CHUNK.min(total - self.done);
            let docs = (self.done..self.done + take)
                .map(|i| match name {
                    "admins" => self.generator.admin(&format!("admin_{i:03}")),
                    "events" => self.generator.event(),
                    _ => self.generator.booking(),
                })
                .collect();
            self.done += take;
            return Some((name, docs));
        }
    }
}

/// Loads the data set into every one of `dbs` (identical copies), returning the ids of the
/// events and bookings (what the edits pick from).
pub async fn load(seed: u64, n: usize, dbs: &[Database]) -> anyhow::Result<Vec<Id>> {
    let mut data = DataSet::new(seed, n);
    let mut ids = Vec::with_capacity(n);
    while let Some((name, docs)) = data.next_chunk() {
        if name != "admins" {
            ids.extend(docs.iter().map(|d| {
                Id {
                    collection: name,
                    id: d
                        .get_object_id("_id")
                        .expect("generated documents have ObjectIds"),
                }
            }));
        }
        let docs = &docs;
        let writes = dbs.iter().map(|db| {
            let c = db.collection::<Document>(name);
            async move { c.insert_many(docs).await }
        });
        futures::future::try_join_all(writes)
            .await
            .with_context(|| format!("loading {name}"))?;
    }
    Ok(ids)
}

/// One document's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id {
    pub collection: &'static str,
    pub id: ObjectId,
}

/// What one side gets in the incremental scenario.
#[derive(Debug, Default, Clone)]
pub struct SideEdits {
    /// `$set` of one field and a new `updatedAt`, as the Temple Management System does.
    pub edits: Vec<Id>,
    /// New bookings (their `createdAt` and `updatedAt` become the edit time).
    pub inserts: Vec<(Id, Document)>,
    pub deletes: Vec<Id>,
}

impl SideEdits {
    /// The documents this side has new content for (edited or inserted), for the ceiling.
    pub fn changed(&self) -> impl Iterator<Item = Id> + '_ {
        self.edits
            .iter()
            .copied()
            .chain(self.inserts.iter().map(|(id, _)| *id))
    }
}

/// The edits of the incremental scenario, chosen from the seed: distinct documents for the
/// local edits, the remote edits and the deletes of each side.
#[derive(Debug, Clone)]
pub struct EditPlan {
    pub local: SideEdits,
    pub remote: SideEdits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Local,
    Remote,
}

impl EditPlan {
    pub fn new(
        seed: u64,
        ids: &[Id],
        edits: usize,
        inserts: usize,
        deletes: usize,
    ) -> anyhow::Result<EditPlan> {
        let needed = 2 * (edits + deletes);
        ensure!(
            ids.len() >= needed,
            "{} documents are too few for {edits} edits and {deletes} deletes per side",
            ids.len()
        );
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xED17_5EED_0000_0001);
        let mut picked = rand::seq::index::sample(&mut rng, ids.len(), needed)
            .into_iter()
            .map(|i| ids[i]);
        let mut take = |k: usize| (&mut picked).take(k).collect::<Vec<_>>();
        let (local_edits, remote_edits) = (take(edits), take(edits));
        let (local_deletes, remote_deletes) = (take(deletes), take(deletes));
        let mut g = Generator::new(seed ^ 0x1A5E_27ED_0000_0002);
        let mut new_bookings = |origin: &str| -> Vec<(Id, Document)> {
            (0..inserts)
                .map(|_| {
                    let mut d = g.booking();
                    d.insert("origin", origin);
                    let id = d.get_object_id("_id").expect("an ObjectId");
                    (
                        Id {
                            collection: "bookings",
                            id,
                        },
                        d,
                    )
                })
                .collect()
        };
        Ok(EditPlan {
            local: SideEdits {
                edits: local_edits,
                inserts: new_bookings("local"),
                deletes: local_deletes,
            },
            remote: SideEdits {
                edits: remote_edits,
                inserts: new_bookings("remote"),
                deletes: remote_deletes,
            },
        })
    }

    /// Applies the plan to one contender's two databases, at time `at`, document by
    /// document as the TMS would.
    pub async fn apply(
        &self,
        local: &Database,
        remote: &Database,
        at: DateTime,
    ) -> anyhow::Result<()> {
        apply_side(local, &self.local, Side::Local, at).await?;
        apply_side(remote, &self.remote, Side::Remote, at).await
    }
}

/// The field a person changes on each side: the office marks a booking done, a devotee adds a
/// note online; events get a new location or capacity.
fn edit_for(collection: &str, side: Side, at: DateTime) -> Document {
    match (collection, side) {
        ("events", Side::Local) => doc! {"location": "Main hall", "updatedAt": at},
        ("events", Side::Remote) => doc! {"capacity": 1500, "updatedAt": at},
        (_, Side::Local) => doc! {"status": "completed", "updatedAt": at},
        (_, Side::Remote) => doc! {"notes": "Changed online by the devotee", "updatedAt": at},
    }
}

async fn apply_side(db: &Database, e: &SideEdits, side: Side, at: DateTime) -> anyhow::Result<()> {
    for Id { collection, id } in &e.edits {
        let r = db
            .collection::<Document>(collection)
            .update_one(
                doc! {"_id": id},
                doc! {"$set": edit_for(collection, side, at)},
            )
            .await?;
        ensure!(
            r.matched_count == 1,
            "edit of {collection} {id}: no such document"
        );
    }
    for (Id { collection, .. }, d) in &e.inserts {
        let mut d = d.clone();
        d.insert("createdAt", at);
        d.insert("updatedAt", at);
        db.collection::<Document>(collection).insert_one(d).await?;
    }
    for Id { collection, id } in &e.deletes {
        let r = db
            .collection::<Document>(collection)
            .delete_one(doc! {"_id": id})
            .await?;
        ensure!(
            r.deleted_count == 1,
            "delete of {collection} {id}: no such document"
        );
    }
    Ok(())
}

/// How two sides compare, document by document, on content (a document without
/// `syncedAt` and `syncStatus`, the per-side bookkeeping).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub local_documents: u64,
    pub remote_documents: u64,
    pub equal: u64,
    /// Different, and not only in the order of their fields.
    pub different: u64,
    /// The same fields and values in another order (the engine's equality counts field
    /// order, as MongoDB's does; the baseline's `$set` upserts write new fields sorted).
    pub field_order_only: u64,
    pub local_only: u64,
    pub remote_only: u64,
}

impl Comparison {
    pub fn converged(&self) -> bool {
        self.different == 0
            && self.field_order_only == 0
            && self.local_only == 0
            && self.remote_only == 0
    }
}

/// Hashes of a document's content: as it is, and with its fields sorted (recursively).
fn content_hash(mut d: Document) -> (u64, u64) {
    d.remove("syncedAt");
    d.remove("syncStatus");
    let hash = |d: &Document| {
        let mut h = DefaultHasher::new();
        h.write(&bson::to_vec(d).unwrap_or_default());
        h.finish()
    };
    (hash(&d), hash(&sorted(d)))
}

fn sorted(d: Document) -> Document {
    let mut fields: Vec<(String, Bson)> = d.into_iter().collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    fields
        .into_iter()
        .map(|(k, v)| (k, sorted_value(v)))
        .collect()
}

fn sorted_value(v: Bson) -> Bson {
    match v {
        Bson::Document(d) => Bson::Document(sorted(d)),
        Bson::Array(a) => Bson::Array(a.into_iter().map(sorted_value).collect()),
        other => other,
    }
}

/// Compares the user collections of `local` and `remote`.
pub async fn compare(local: &Database, remote: &Database) -> anyhow::Result<Comparison> {
    let mut c = Comparison::default();
    for name in COLLECTIONS {
        let mut here: HashMap<String, (u64, u64)> = HashMap::new();
        let mut cur = local
            .collection::<Document>(name)
            .find(doc! {})
            .batch_size(CHUNK as u32)
            .await?;
        while let Some(d) = cur.try_next().await? {
            let id = d.get("_id").cloned().unwrap_or(Bson::Null).to_string();
            here.insert(id, content_hash(d));
            c.local_documents += 1;
        }
        let mut cur = remote
            .collection::<Document>(name)
            .find(doc! {})
            .batch_size(CHUNK as u32)
            .await?;
        while let Some(d) = cur.try_next().await? {
            let id = d.get("_id").cloned().unwrap_or(Bson::Null).to_string();
            c.remote_documents += 1;
            match (here.remove(&id), content_hash(d)) {
                (Some(a), b) if a == b => c.equal += 1,
                (Some((_, a)), (_, b)) if a == b => c.field_order_only += 1,
                (Some(_), _) => c.different += 1,
                (None, _) => c.remote_only += 1,
            }
        }
        c.local_only += here.len() as u64;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(seed: u64, n: usize) -> Vec<(&'static str, Document)> {
        let mut d = DataSet::new(seed, n);
        let mut out = Vec::new();
        while let Some((name, docs)) = d.next_chunk() {
            out.extend(docs.into_iter().map(|x| (name, x)));
        }
        out
    }

    #[test]
    fn a_data_set_has_exactly_n_documents_in_the_mix() {
        for n in [1000, 2500, 10_000, 100_000] {
            let m = Mix::of(n);
            assert_eq!(m.admins + m.events + m.bookings, n);
            assert!(m.admins >= 3 && m.admins <= 20);
        }
        let docs = all(42, 2500);
        assert_eq!(docs.len(), 2500);
        let admins = docs.iter().filter(|(c, _)| *c == "admins").count();
        assert_eq!(admins, Mix::of(2500).admins);
    }

    #[test]
    fn the_same_seed_gives_the_same_data_and_edits() {
        assert_eq!(all(7, 1500), all(7, 1500));
        assert_ne!(all(7, 1500), all(8, 1500));
        let ids: Vec<Id> = all(7, 1500)
            .into_iter()
            .filter(|(c, _)| *c != "admins")
            .map(|(c, d)| Id {
                collection: c,
                id: d.get_object_id("_id").unwrap(),
            })
            .collect();
        let a = EditPlan::new(7, &ids, 100, 5, 5).unwrap();
        let b = EditPlan::new(7, &ids, 100, 5, 5).unwrap();
        assert_eq!(a.local.edits, b.local.edits);
        assert_eq!(a.remote.inserts, b.remote.inserts);
        let mut every: Vec<Id> = [&a.local, &a.remote]
            .iter()
            .flat_map(|s| s.edits.iter().chain(&s.deletes).copied())
            .collect();
        assert_eq!(every.len(), 210);
        every.sort_by_key(|i| i.id);
        every.dedup();
        assert_eq!(every.len(), 210, "each document is edited or deleted once");
    }
}
