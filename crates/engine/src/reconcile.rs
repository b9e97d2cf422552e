//! The decisions of a sync, as pure functions of the two sides' documents, the last-synced
//! version (the *base*) and the configured strategy. No I/O and no clock in here: everything
//! that decides what is pushed, pulled, merged or flagged is testable on plain values.

use bson::{Bson, Document};

use crate::config::ConflictStrategy;
use crate::content::{FieldPath, META_FIELDS, UPDATED_AT, content, content_hash, same_value};

/// One field changed on both sides to different values.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldConflict {
    /// The field's path, one segment per level: `["phone"]`, `["address", "city"]`, or
    /// `["price.usd"]` for a top-level field whose name holds a dot.
    pub path: FieldPath,
    pub base: Option<Bson>,
    pub local: Option<Bson>,
    pub remote: Option<Bson>,
}

/// The outcome of a three-way merge.
#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    /// Every change from both sides; in conflicting fields, the local value.
    pub merged: Document,
    pub conflicts: Vec<FieldConflict>,
}

/// Merges two versions of a document against the version both started from. A field changed
/// on one side only takes that side's value; a field changed on both sides to the same value
/// is no conflict; sub-documents are merged field by field; `updatedAt` takes the newer time.
pub fn merge3(base: &Document, local: &Document, remote: &Document) -> Merge {
    let mut conflicts = Vec::new();
    let merged = merge_level(base, local, remote, &[], &mut conflicts);
    Merge { merged, conflicts }
}

fn merge_level(
    base: &Document,
    local: &Document,
    remote: &Document,
    prefix: &[String],
    conflicts: &mut Vec<FieldConflict>,
) -> Document {
    // One side unchanged: the other side exactly, field order included.
    let strip = |d: &Document| {
        if prefix.is_empty() {
            content(d)
        } else {
            d.clone()
        }
    };
    let (b, l, r) = (strip(base), strip(local), strip(remote));
    let doc_eq = |x: &Document, y: &Document| {
        same_value(
            Some(&Bson::Document(x.clone())),
            Some(&Bson::Document(y.clone())),
        )
    };
    if doc_eq(&l, &b) {
        return r;
    }
    if doc_eq(&r, &b) || doc_eq(&l, &r) {
        return l;
    }
    let mut out = Document::new();
    let keys = local
        .keys()
        .chain(remote.keys().filter(|k| !local.contains_key(k.as_str())))
        .chain(
            base.keys()
                .filter(|k| !local.contains_key(k.as_str()) && !remote.contains_key(k.as_str())),
        )
        .cloned()
        .collect::<Vec<_>>();
    for key in keys {
        if prefix.is_empty() && META_FIELDS.contains(&key.as_str()) {
            continue;
        }
        let (b, l, r) = (base.get(&key), local.get(&key), remote.get(&key));
        let mut path = prefix.to_vec();
        path.push(key.clone());
        let chosen = if same_value(l, r) || same_value(r, b) {
            l.cloned()
        } else if same_value(l, b) {
            r.cloned()
        } else if prefix.is_empty() && key == UPDATED_AT {
            // Both sides were edited: the merge is as new as the newer edit.
            newer(l, r)
        } else if let (Some(Bson::Document(ld)), Some(Bson::Document(rd))) = (l, r) {
            let empty = Document::new();
            let bd = match b {
                Some(Bson::Document(bd)) => bd,
                _ => &empty,
            };
            Some(Bson::Document(merge_level(bd, ld, rd, &path, conflicts)))
        } else {
            conflicts.push(FieldConflict {
                path,
                base: b.cloned(),
                local: l.cloned(),
                remote: r.cloned(),
            });
            l.cloned()
        };
        if let Some(v) = chosen {
            out.insert(key, v);
        }
    }
    out
}

fn newer(l: Option<&Bson>, r: Option<&Bson>) -> Option<Bson> {
    match (l, r) {
        (Some(Bson::DateTime(a)), Some(Bson::DateTime(b))) => Some(Bson::DateTime(*a.max(b))),
        (Some(_), _) => l.cloned(),
        (None, _) => r.cloned(),
    }
}

/// What kind of conflict a document is in.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// The same fields changed on both sides. `merged` holds every non-conflicting change.
    Edit {
        fields: Vec<FieldConflict>,
        merged: Document,
    },
    /// Deleted here, changed in the cloud.
    LocalDeletedRemoteEdited,
    /// Deleted in the cloud, changed here.
    RemoteDeletedLocalEdited,
}

/// What to do with one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing exists anywhere.
    Nothing,
    /// Both sides hold the same content: remember it as the base, mark the local copy synced.
    InSync,
    /// The local version goes to the cloud.
    Push(Document),
    /// The cloud version comes here.
    Pull(Document),
    /// Both sides changed different fields: the merge goes to both.
    Merge(Document),
    /// Deleted here, unchanged in the cloud since: delete it there.
    DeleteRemote,
    /// Deleted in the cloud, unchanged here since: delete it here.
    DeleteLocal,
    /// Deleted on both sides: forget the base.
    Forget,
    /// Needs a person: hold the local document back, record the conflict.
    Conflict(Finding),
    /// A conflict that the configured strategy decided; `apply` says how, and the conflict is
    /// still recorded (resolved) with the losing version.
    AutoResolved {
        finding: Finding,
        apply: Box<Decision>,
        winner: Winner,
    },
}

impl Decision {
    /// A short name, for traces.
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Nothing => "nothing",
            Decision::InSync => "in_sync",
            Decision::Push(_) => "push",
            Decision::Pull(_) => "pull",
            Decision::Merge(_) => "merge",
            Decision::DeleteRemote => "delete_remote",
            Decision::DeleteLocal => "delete_local",
            Decision::Forget => "forget",
            Decision::Conflict(_) => "conflict",
            Decision::AutoResolved { .. } => "auto_resolved",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Winner {
    Local,
    Remote,
}

/// Decides one document from its three versions (any may be absent).
/// Whether a local version is an old copy put back (a collection restored from a dump), not an
/// edit: it says it was synced (`syncedAt == updatedAt`, as TempleSync marks what it synced)
/// yet is older than the last synced version. Sending it would revert the cloud; it is
/// treated as unchanged, so the synced version comes back here.
fn is_restored_copy(local: &Document, base: &Document) -> bool {
    let (Ok(changed), Ok(synced)) = (
        local.get_datetime(UPDATED_AT),
        local.get_datetime("syncedAt"),
    ) else {
        return false;
    };
    changed == synced && base.get_datetime(UPDATED_AT).is_ok_and(|b| changed < b)
}

pub fn decide(
    local: Option<&Document>,
    base: Option<&Document>,
    remote: Option<&Document>,
    strategy: ConflictStrategy,
) -> Decision {
    let h = |d: Option<&Document>| d.map(content_hash);
    let (hl, hb, hr) = (h(local), h(base), h(remote));
    match (local, remote) {
        (None, None) => {
            if base.is_some() {
                Decision::Forget
            } else {
                Decision::Nothing
            }
        }
        (Some(l), None) => match base {
            None => Decision::Push(content(l)),
            Some(b) if hl == hb || is_restored_copy(l, b) => Decision::DeleteLocal,
            Some(_) => lww_or_hold(
                strategy,
                Finding::RemoteDeletedLocalEdited,
                // Deletion time is unknown: keeping the edit is the choice that loses nothing.
                Winner::Local,
                Decision::Push(content(l)),
            ),
        },
        (None, Some(r)) => match base {
            None => Decision::Pull(content(r)),
            Some(_) if hr == hb => Decision::DeleteRemote,
            Some(_) => lww_or_hold(
                strategy,
                Finding::LocalDeletedRemoteEdited,
                Winner::Remote,
                Decision::Pull(content(r)),
            ),
        },
        (Some(l), Some(r)) => {
            if hl == hr {
                return Decision::InSync;
            }
            if base.is_some_and(|b| hl == hb || is_restored_copy(l, b)) {
                return Decision::Pull(content(r));
            }
            if base.is_some() && hr == hb {
                return Decision::Push(content(l));
            }
            let empty = Document::new();
            let m = merge3(base.unwrap_or(&empty), l, r);
            if m.conflicts.is_empty() {
                return normalise(m.merged, l, r);
            }
            let finding = Finding::Edit {
                fields: m.conflicts.clone(),
                merged: m.merged.clone(),
            };
            match strategy {
                ConflictStrategy::Manual => Decision::Conflict(finding),
                ConflictStrategy::LastWriteWins => {
                    let winner = if remote_is_newer(l, r) {
                        Winner::Remote
                    } else {
                        Winner::Local
                    };
                    let mut merged = m.merged;
                    if winner == Winner::Remote {
                        for c in &m.conflicts {
                            crate::content::set_path(&mut merged, &c.path, c.remote.clone());
                        }
                    }
                    Decision::AutoResolved {
                        finding,
                        apply: Box::new(normalise(merged, l, r)),
                        winner,
                    }
                }
            }
        }
    }
}

fn lww_or_hold(
    strategy: ConflictStrategy,
    finding: Finding,
    winner: Winner,
    apply: Decision,
) -> Decision {
    match strategy {
        ConflictStrategy::Manual => Decision::Conflict(finding),
        ConflictStrategy::LastWriteWins => Decision::AutoResolved {
            finding,
            apply: Box::new(apply),
            winner,
        },
    }
}

/// A merge equal to one side is just a push or a pull of the other.
fn normalise(merged: Document, local: &Document, remote: &Document) -> Decision {
    let hm = content_hash(&merged);
    if hm == content_hash(remote) {
        Decision::Pull(merged)
    } else if hm == content_hash(local) {
        Decision::Push(merged)
    } else {
        Decision::Merge(merged)
    }
}

/// Whether the cloud version was written later, by `updatedAt`. Ties and missing times keep
/// the local version.
pub fn remote_is_newer(local: &Document, remote: &Document) -> bool {
    match (local.get(UPDATED_AT), remote.get(UPDATED_AT)) {
        (Some(Bson::DateTime(l)), Some(Bson::DateTime(r))) => r > l,
        (None, Some(Bson::DateTime(_))) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{DateTime, doc};
    use proptest::prelude::*;

    fn t(ms: i64) -> DateTime {
        DateTime::from_millis(ms)
    }

    #[test]
    fn an_old_synced_copy_put_back_from_a_dump_is_not_an_edit() {
        let base = doc! { "_id": 1, "name": "Ravi K", "updatedAt": t(9) };
        let old = doc! { "_id": 1, "name": "Ravi", "updatedAt": t(5), "syncedAt": t(5), "syncStatus": "synced" };
        let remote = base.clone();
        match decide(
            Some(&old),
            Some(&base),
            Some(&remote),
            ConflictStrategy::Manual,
        ) {
            Decision::Pull(d) => assert_eq!(d, base, "the synced version comes back"),
            other => panic!("the cloud must not be reverted to the dump's copy: {other:?}"),
        }
        // An edit that moved no `updatedAt` (a hand edit of a synced document) is still an edit.
        let hand = doc! { "_id": 1, "name": "Ravi Kumar", "updatedAt": t(9), "syncedAt": t(9) };
        assert!(matches!(
            decide(
                Some(&hand),
                Some(&base),
                Some(&remote),
                ConflictStrategy::Manual
            ),
            Decision::Push(_)
        ));
        // A pending edit (not marked synced) is an edit even with an older `updatedAt`: a PC
        // whose clock is behind.
        let behind = doc! { "_id": 1, "name": "Ravi", "updatedAt": t(5), "syncedAt": t(1) };
        assert!(matches!(
            decide(
                Some(&behind),
                Some(&base),
                Some(&remote),
                ConflictStrategy::Manual
            ),
            Decision::Push(_)
        ));
    }

    #[test]
    fn disjoint_field_edits_merge() {
        let base = doc! { "_id": 1, "name": "Ravi", "phone": "111", "updatedAt": t(1) };
        let local = doc! { "_id": 1, "name": "Ravi K", "phone": "111", "updatedAt": t(5) };
        let remote = doc! { "_id": 1, "name": "Ravi", "phone": "222", "updatedAt": t(7) };
        match decide(
            Some(&local),
            Some(&base),
            Some(&remote),
            ConflictStrategy::Manual,
        ) {
            Decision::Merge(m) => {
                assert_eq!(
                    m,
                    doc! { "_id": 1, "name": "Ravi K", "phone": "222", "updatedAt": t(7) }
                )
            }
            other => panic!("expected a merge, got {other:?}"),
        }
    }

    #[test]
    fn same_field_to_different_values_is_a_conflict_with_all_three_values() {
        let base = doc! { "_id": 1, "phone": "111" };
        let local = doc! { "_id": 1, "phone": "222" };
        let remote = doc! { "_id": 1, "phone": "333" };
        match decide(
            Some(&local),
            Some(&base),
            Some(&remote),
            ConflictStrategy::Manual,
        ) {
            Decision::Conflict(Finding::Edit { fields, .. }) => {
                assert_eq!(fields.len(), 1);
                assert_eq!(fields[0].path, vec!["phone".to_string()]);
                assert_eq!(fields[0].base, Some(Bson::String("111".into())));
                assert_eq!(fields[0].local, Some(Bson::String("222".into())));
                assert_eq!(fields[0].remote, Some(Bson::String("333".into())));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn same_change_on_both_sides_is_no_conflict() {
        let base = doc! { "_id": 1, "phone": "111", "x": 1 };
        let local = doc! { "_id": 1, "phone": "222", "x": 2 };
        let remote = doc! { "_id": 1, "phone": "222", "x": 1 };
        assert_eq!(
            decide(
                Some(&local),
                Some(&base),
                Some(&remote),
                ConflictStrategy::Manual
            ),
            Decision::Push(local.clone())
        );
    }

    #[test]
    fn nested_documents_merge_field_by_field() {
        let base = doc! { "_id": 1, "address": { "city": "Pune", "zip": "1" } };
        let local = doc! { "_id": 1, "address": { "city": "Mumbai", "zip": "1" } };
        let remote = doc! { "_id": 1, "address": { "city": "Pune", "zip": "2" } };
        assert_eq!(
            decide(
                Some(&local),
                Some(&base),
                Some(&remote),
                ConflictStrategy::Manual
            ),
            Decision::Merge(doc! { "_id": 1, "address": { "city": "Mumbai", "zip": "2" } })
        );
    }

    #[test]
    fn last_write_wins_takes_the_newer_and_reports_the_loser() {
        let base = doc! { "_id": 1, "phone": "111", "updatedAt": t(1) };
        let local = doc! { "_id": 1, "phone": "222", "updatedAt": t(5) };
        let remote = doc! { "_id": 1, "phone": "333", "updatedAt": t(9) };
        match decide(
            Some(&local),
            Some(&base),
            Some(&remote),
            ConflictStrategy::LastWriteWins,
        ) {
            Decision::AutoResolved {
                apply,
                winner,
                finding,
            } => {
                assert_eq!(winner, Winner::Remote);
                assert_eq!(*apply, Decision::Pull(remote.clone()));
                assert!(matches!(finding, Finding::Edit { .. }));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn last_write_wins_never_splits_a_field_name_holding_a_dot() {
        let base = doc! { "_id": 1, "price": "standard", "price.usd": 10, "updatedAt": t(1) };
        let local = doc! { "_id": 1, "price": "standard", "price.usd": 11, "updatedAt": t(5) };
        let remote = doc! { "_id": 1, "price": "standard", "price.usd": 12, "updatedAt": t(9) };
        match decide(
            Some(&local),
            Some(&base),
            Some(&remote),
            ConflictStrategy::LastWriteWins,
        ) {
            Decision::AutoResolved { apply, .. } => {
                assert_eq!(*apply, Decision::Pull(remote.clone()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deletes_and_edits() {
        let b = doc! { "_id": 1, "v": 1 };
        let edited = doc! { "_id": 1, "v": 2 };
        let m = ConflictStrategy::Manual;
        assert_eq!(decide(None, Some(&b), Some(&b), m), Decision::DeleteRemote);
        assert_eq!(decide(Some(&b), Some(&b), None, m), Decision::DeleteLocal);
        assert_eq!(decide(None, Some(&b), None, m), Decision::Forget);
        assert_eq!(
            decide(None, Some(&b), Some(&edited), m),
            Decision::Conflict(Finding::LocalDeletedRemoteEdited)
        );
        assert_eq!(
            decide(Some(&edited), Some(&b), None, m),
            Decision::Conflict(Finding::RemoteDeletedLocalEdited)
        );
        // A deleted document never comes back: with no base, absence is just "not yet seen".
        assert_eq!(decide(Some(&b), None, None, m), Decision::Push(b.clone()));
    }

    #[test]
    fn bookkeeping_fields_never_make_a_difference() {
        let base = doc! { "_id": 1, "v": 1 };
        let local = doc! { "_id": 1, "v": 1, "syncStatus": "pending" };
        let remote = doc! { "_id": 1, "v": 1, "syncStatus": "synced", "syncedAt": t(3) };
        assert_eq!(
            decide(
                Some(&local),
                Some(&base),
                Some(&remote),
                ConflictStrategy::Manual
            ),
            Decision::InSync
        );
    }

    fn arb_value() -> impl Strategy<Value = Bson> {
        prop_oneof![
            (0i32..4).prop_map(Bson::Int32),
            "[ab]{0,2}".prop_map(Bson::String),
            Just(Bson::Double(f64::NAN)),
            Just(Bson::Null),
        ]
    }

    fn arb_doc() -> impl Strategy<Value = Document> {
        prop::collection::btree_map("[a-d]", arb_value(), 0..4).prop_map(|m| {
            let mut d = Document::new();
            d.insert("_id", 1);
            for (k, v) in m {
                d.insert(k, v);
            }
            d
        })
    }

    proptest! {
        #[test]
        fn merge_of_identical_sides_is_that_side(b in arb_doc(), x in arb_doc()) {
            let m = merge3(&b, &x, &x);
            prop_assert!(m.conflicts.is_empty());
            prop_assert_eq!(content_hash(&m.merged), content_hash(&x));
        }

        #[test]
        fn one_sided_change_wins(b in arb_doc(), x in arb_doc()) {
            let m = merge3(&b, &b, &x);
            prop_assert!(m.conflicts.is_empty());
            prop_assert_eq!(content_hash(&m.merged), content_hash(&x));
        }

        #[test]
        fn conflicts_are_symmetric(b in arb_doc(), l in arb_doc(), r in arb_doc()) {
            let lr: Vec<_> = merge3(&b, &l, &r).conflicts.into_iter().map(|c| c.path).collect();
            let rl: Vec<_> = merge3(&b, &r, &l).conflicts.into_iter().map(|c| c.path).collect();
            let (mut lr, mut rl) = (lr, rl);
            lr.sort(); rl.sort();
            prop_assert_eq!(lr, rl);
        }

        #[test]
        fn every_changed_field_survives_the_merge_unless_in_conflict(b in arb_doc(), l in arb_doc(), r in arb_doc()) {
            let m = merge3(&b, &l, &r);
            let conflicted: Vec<_> = m.conflicts.iter().map(|c| c.path.clone()).collect();
            for (side, other) in [(&l, &r), (&r, &l)] {
                for key in side.keys().chain(b.keys()) {
                    if conflicted.contains(&vec![key.clone()]) { continue; }
                    let (sv, bv, ov) = (side.get(key), b.get(key), other.get(key));
                    if !same_value(sv, bv) && same_value(ov, bv) {
                        prop_assert!(same_value(m.merged.get(key), sv), "change to {} lost", key);
                    }
                }
            }
        }

        #[test]
        fn decide_never_loses_a_one_sided_edit(b in arb_doc(), x in arb_doc()) {
            prop_assume!(content_hash(&b) != content_hash(&x));
            // Compared by content hash: NaN fields make `PartialEq` useless here.
            match decide(Some(&x), Some(&b), Some(&b), ConflictStrategy::Manual) {
                Decision::Push(d) => prop_assert_eq!(content_hash(&d), content_hash(&x)),
                other => prop_assert!(false, "expected a push, got {:?}", other),
            }
            match decide(Some(&b), Some(&b), Some(&x), ConflictStrategy::Manual) {
                Decision::Pull(d) => prop_assert_eq!(content_hash(&d), content_hash(&x)),
                other => prop_assert!(false, "expected a pull, got {:?}", other),
            }
        }
    }
}
