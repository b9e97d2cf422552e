//! What the app says unasked (a system notification): a decision waits, a sync was held for
//! a person, syncing has failed for a while. Each thing is said once: the same conflicts are
//! not announced again, and a stretch of failures gets one notice, not one per try. A pure
//! state machine over what the app sees, so the rule is the same whatever shows it.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::overview::{Overview, SyncState};
use crate::conflicts::ConflictKind;

/// How long syncing must have been failing (or the cloud out of reach) before it is said.
pub const TROUBLE_AFTER_MINUTES: i64 = 30;

/// Where a click on the notice leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub enum NoticeTarget {
    Status,
    Conflicts,
    /// One conflict (its id).
    Conflict(String),
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    pub title: String,
    pub body: String,
    pub target: NoticeTarget,
}

/// An open conflict, as far as notices care.
#[derive(Debug, Clone)]
pub struct OpenConflict {
    pub id: String,
    pub kind: ConflictKind,
    pub collection: String,
}

/// What has been said already.
#[derive(Debug, Default)]
pub struct Notices {
    /// Conflicts already announced (or open when the app started and announced then).
    told: HashSet<String>,
    /// Since when syncing has been in trouble, and whether that was said.
    trouble_since: Option<DateTime<Utc>>,
    trouble_told: bool,
}

impl Notices {
    /// What to say now, given the state and the open conflicts (none when they could not be
    /// read: nothing is said about them then).
    pub fn after(
        &mut self,
        o: &Overview,
        open: Option<&[OpenConflict]>,
        now: DateTime<Utc>,
    ) -> Vec<Notice> {
        let mut out = Vec::new();
        if let Some(open) = open {
            out.extend(self.new_conflicts(open));
        }
        out.extend(self.trouble(o, now));
        out
    }

    fn new_conflicts(&mut self, open: &[OpenConflict]) -> Vec<Notice> {
        // Forget the settled ones: a conflict that comes back is news again.
        let ids: HashSet<&str> = open.iter().map(|c| c.id.as_str()).collect();
        self.told.retain(|id| ids.contains(id.as_str()));
        let fresh: Vec<&OpenConflict> =
            open.iter().filter(|c| !self.told.contains(&c.id)).collect();
        self.told.extend(fresh.iter().map(|c| c.id.clone()));
        let (held, decide): (Vec<&OpenConflict>, Vec<&OpenConflict>) = fresh
            .into_iter()
            .partition(|c| c.kind == ConflictKind::Bulk);
        let mut out = Vec::new();
        if let [one, ..] = held.as_slice() {
            out.push(Notice {
                title: "A sync is waiting for your OK".to_string(),
                body: format!(
                    "Many records were deleted at once in {}. Nothing more is deleted until someone looks at it.",
                    one.collection
                ),
                target: target_of(&held),
            });
        }
        if !decide.is_empty() {
            let title = match decide.len() {
                1 => "A conflict needs a decision".to_string(),
                n => format!("{n} new conflicts need a decision"),
            };
            let mut collections: Vec<&str> = decide.iter().map(|c| c.collection.as_str()).collect();
            collections.sort_unstable();
            collections.dedup();
            out.push(Notice {
                title,
                body: format!(
                    "In {}. Open TempleSync to choose which version to keep.",
                    collections.join(", ")
                ),
                target: target_of(&decide),
            });
        }
        out
    }

    fn trouble(&mut self, o: &Overview, now: DateTime<Utc>) -> Option<Notice> {
        let in_trouble = matches!(o.state, SyncState::Failed | SyncState::Offline);
        let settled = matches!(
            o.state,
            SyncState::Synced | SyncState::Conflicts | SyncState::Paused
        );
        if settled {
            self.trouble_since = None;
            self.trouble_told = false;
            return None;
        }
        if !in_trouble {
            // Syncing or checking: the stretch goes on, undecided.
            return None;
        }
        let since = *self.trouble_since.get_or_insert(now);
        if self.trouble_told || now - since < Duration::minutes(TROUBLE_AFTER_MINUTES) {
            return None;
        }
        self.trouble_told = true;
        let minutes = (now - since).num_minutes();
        let title = if o.state == SyncState::Offline {
            format!("The cloud has been out of reach for {minutes} minutes")
        } else {
            format!("Syncing has not worked for {minutes} minutes")
        };
        Some(Notice {
            title,
            body: o
                .todo
                .clone()
                .unwrap_or_else(|| "Open TempleSync to see why.".to_string()),
            target: NoticeTarget::Status,
        })
    }
}

fn target_of(conflicts: &[&OpenConflict]) -> NoticeTarget {
    match conflicts {
        [one] => NoticeTarget::Conflict(one.id.clone()),
        _ => NoticeTarget::Conflicts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overview(state: SyncState) -> Overview {
        let mut o = Overview::without_engine(false, None);
        o.state = state;
        o.todo = Some("Check the internet connection".to_string());
        o
    }

    fn conflict(id: &str, kind: ConflictKind) -> OpenConflict {
        OpenConflict {
            id: id.to_string(),
            kind,
            collection: "bookings".to_string(),
        }
    }

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    #[test]
    fn new_conflicts_are_said_once_and_a_returning_one_again() {
        let mut n = Notices::default();
        let o = overview(SyncState::Conflicts);
        let a = conflict("a", ConflictKind::Update);
        let b = conflict("b", ConflictKind::Unique);
        let said = n.after(&o, Some(std::slice::from_ref(&a)), t(0));
        assert_eq!(said.len(), 1);
        assert_eq!(said[0].title, "A conflict needs a decision");
        assert_eq!(said[0].target, NoticeTarget::Conflict("a".into()));
        assert!(
            n.after(&o, Some(std::slice::from_ref(&a)), t(1)).is_empty(),
            "not again"
        );
        let said = n.after(&o, Some(&[a.clone(), b.clone()]), t(2));
        assert_eq!(said.len(), 1, "only b is new");
        assert_eq!(said[0].target, NoticeTarget::Conflict("b".into()));
        assert!(
            n.after(&o, None, t(3)).is_empty(),
            "unreadable: nothing said"
        );
        n.after(&o, Some(std::slice::from_ref(&b)), t(4));
        let said = n.after(&o, Some(&[a.clone(), b]), t(5));
        assert_eq!(said.len(), 1, "a came back after being settled");
    }

    #[test]
    fn several_at_once_are_one_notice_and_a_held_sync_its_own() {
        let mut n = Notices::default();
        let o = overview(SyncState::Conflicts);
        let said = n.after(
            &o,
            Some(&[
                conflict("a", ConflictKind::Update),
                conflict("b", ConflictKind::Delete),
                conflict("h", ConflictKind::Bulk),
            ]),
            t(0),
        );
        assert_eq!(said.len(), 2, "{said:?}");
        assert_eq!(said[0].title, "A sync is waiting for your OK");
        assert_eq!(said[0].target, NoticeTarget::Conflict("h".into()));
        assert_eq!(said[1].title, "2 new conflicts need a decision");
        assert_eq!(said[1].target, NoticeTarget::Conflicts);
    }

    #[test]
    fn trouble_is_said_once_after_half_an_hour_and_again_only_after_it_mended() {
        let mut n = Notices::default();
        let off = overview(SyncState::Offline);
        assert!(n.after(&off, Some(&[]), t(0)).is_empty());
        assert!(
            n.after(&overview(SyncState::Syncing), Some(&[]), t(10))
                .is_empty()
        );
        assert!(n.after(&off, Some(&[]), t(29)).is_empty(), "not yet");
        let said = n.after(&off, Some(&[]), t(30));
        assert_eq!(said.len(), 1);
        assert_eq!(
            said[0].title,
            "The cloud has been out of reach for 30 minutes"
        );
        assert_eq!(said[0].body, "Check the internet connection");
        assert_eq!(said[0].target, NoticeTarget::Status);
        assert!(
            n.after(&off, Some(&[]), t(90)).is_empty(),
            "once per stretch"
        );
        assert!(
            n.after(&overview(SyncState::Synced), Some(&[]), t(91))
                .is_empty()
        );
        let failed = overview(SyncState::Failed);
        assert!(n.after(&failed, Some(&[]), t(92)).is_empty());
        let said = n.after(&failed, Some(&[]), t(122));
        assert_eq!(said[0].title, "Syncing has not worked for 30 minutes");
    }
}
