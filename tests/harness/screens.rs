//! The screens' end-to-end scenarios, written once for both windows that show them: the
//! desktop app (tests/desktop_e2e.rs, through tauri-driver) and a browser on another office PC
//! (tests/browser_e2e.rs, Chromium through Playwright). Each test file implements [`Screens`]
//! (what a person's hands do) for its window; the flows, what they expect to see and the
//! database checks after them live here, so that a change of the UI is followed in one place.
//!
//! The set-ups (`a_username_clash`, ...) prepare the databases before the window opens; the
//! flows (`settle_the_clash_with_rename_local`, ...) drive the window and check the result.

use std::future::Future;
use std::time::{Duration, Instant};

use bson::{Document, doc, oid::ObjectId};

use crate::fixture::{Office, all, assert_same, coll, get, sync, tms_doc, tms_edit};

/// How long a window may take to show what a scenario waits for. Generous: two cores also
/// run the servers, the sync and the window.
pub const PATIENCE: Duration = Duration::from_secs(40);

/// What a person does on the screens, in one window. Selectors are CSS, mostly
/// `[data-testid=...]`; `what` names the wait in a failure's message.
#[allow(async_fn_in_trait)]
pub trait Screens {
    /// Clicks the element once it is there (finding it again if the UI redraws it).
    async fn click(&self, css: &str);
    /// Replaces the text of an input.
    async fn fill(&self, css: &str, text: &str);
    /// Waits until the element is there.
    async fn wait(&self, css: &str, what: &str);
    /// The element's text, once it is there.
    async fn text(&self, css: &str, what: &str) -> String;
    /// Waits until the element's text contains `needle`; that text.
    async fn wait_text(&self, css: &str, needle: &str, what: &str) -> String;
    /// An input's current value.
    async fn value(&self, css: &str) -> String;
    /// Whether a control can be used.
    async fn enabled(&self, css: &str) -> bool;
    /// Waits for the status band to show one of `states` (its `data-state`).
    async fn wait_state(&self, states: &[&str], what: &str);
    /// Brings an element into view (for a screenshot of that part of a screen).
    async fn scroll_to(&self, css: &str);
    /// Saves a screenshot named `name`.
    async fn shot(&self, name: &str);
}

/// Waits until `f` gives a value, for at most [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "timed out waiting for {what} ({PATIENCE:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---- Sync now, History, Settings ----

/// Three bookings made here, for the start-up sync to send.
pub async fn three_bookings_here(o: &Office) {
    let local = o.local(0).await;
    for i in 0..3 {
        coll(&local, "bookings")
            .insert_one(tms_doc(
                ObjectId::new(),
                doc! { "devotee": format!("Devotee {i}"), "slot": "9am" },
            ))
            .await
            .unwrap();
    }
}

/// The window syncs by itself at start-up; then a person presses Sync now and finds both
/// runs in History, with the details of the one they made.
pub async fn sync_now_shows_the_run_in_history(s: &impl Screens, o: &Office) {
    s.wait_state(&["synced"], "the start-up sync to be shown")
        .await;
    s.wait(
        "[data-testid=last-run] .pill",
        "the last run on the Status screen",
    )
    .await;
    s.shot("status").await;
    s.click("[data-testid=sync-now]").await;
    s.click("[data-testid=nav-history]").await;
    let manual = "[data-testid=history-row][data-trigger=manual][data-status=completed]";
    s.wait(manual, "the Sync now run in History").await;
    s.wait(
        "[data-testid=history-row][data-trigger=startup]",
        "the start-up run in History too",
    )
    .await;
    // WebKitWebDriver clicks cells, not rows.
    s.click(&format!("{manual} td")).await;
    let text = s
        .text("[data-testid=run-details]", "the run's details")
        .await;
    assert!(
        text.contains("bookings"),
        "the details list the collections: {text}"
    );
    s.shot("history").await;
    assert_eq!(
        all(&o.remote().await, "bookings").await.len(),
        3,
        "the bookings reached the cloud"
    );
}

/// Opens Settings, at the sync settings.
pub async fn open_settings(s: &impl Screens) {
    s.click("[data-testid=nav-settings]").await;
    s.wait(
        "[data-testid=cfg-checkIntervalSeconds]",
        "the sync settings",
    )
    .await;
    s.shot("settings").await;
}

/// The sync settings are checked as they are typed: an out-of-range value is pointed out
/// and cannot be saved.
pub async fn settings_are_checked_as_typed(s: &impl Screens) {
    s.fill("[data-testid=cfg-checkIntervalSeconds]", "2").await;
    s.wait_text(
        "main",
        "from 5 to 3600",
        "the out-of-range value pointed out",
    )
    .await;
    assert!(
        !s.enabled("[data-testid=save-settings]").await,
        "an invalid value cannot be saved"
    );
    s.scroll_to("[data-testid=cfg-checkIntervalSeconds]").await;
    s.shot("settings-validation").await;
}

// ---- A username taken in the cloud, settled with rename_local ----

/// The cloud has john_admin; then this office creates its own john_admin (and priya), and a
/// sync finds the clash.
pub async fn a_username_clash(o: &Office) {
    let (local, remote) = (o.local(0).await, o.remote().await);
    coll(&remote, "admins")
        .insert_one(tms_doc(
            ObjectId::new(),
            doc! { "username": "john_admin", "name": "John (cloud)" },
        ))
        .await
        .unwrap();
    let engine = o.engine(0).await;
    sync(&engine).await;
    for (username, name) in [("john_admin", "John (office)"), ("priya", "Priya")] {
        coll(&local, "admins")
            .insert_one(tms_doc(
                ObjectId::new(),
                doc! { "username": username, "name": name },
            ))
            .await
            .unwrap();
    }
    let run = sync(&engine).await;
    assert_eq!(run.conflicts["admins"], 1, "the clash is a conflict");
}

/// The conflict is found in the list, opened with the engine's suggestion filled in; a name
/// that is taken is refused saying so; a free one is saved, synced, and reaches both sides
/// with the cloud's john_admin untouched.
pub async fn settle_the_clash_with_rename_local(s: &impl Screens, o: &Office) {
    let (local, remote) = (o.local(0).await, o.remote().await);
    s.wait_state(&["conflicts"], "the conflict to be shown")
        .await;
    s.click("[data-testid=nav-conflicts]").await;
    s.wait(
        "[data-testid=conflict-row][data-kind=unique][data-collection=admins]",
        "the username conflict in the list",
    )
    .await;
    s.shot("conflicts").await;
    s.click("[data-testid=conflict-row][data-kind=unique]")
        .await;
    s.wait("[data-testid=rename-input]", "the rename field")
        .await;
    let suggested = s.value("[data-testid=rename-input]").await;
    assert!(
        suggested.starts_with("john_admin_"),
        "prefilled with the engine's suggestion: {suggested:?}"
    );
    s.shot("conflict-unique").await;
    s.scroll_to("[data-testid=rename-local]").await;
    s.shot("conflict-unique-decide").await;

    s.fill("[data-testid=rename-input]", "priya").await;
    s.click("[data-testid=rename-local]").await;
    s.wait_text(
        "[data-testid=resolve-error]",
        "taken",
        "the refusal of a taken name, saying why",
    )
    .await;

    s.fill("[data-testid=rename-input]", "john_admin_office")
        .await;
    s.click("[data-testid=rename-local]").await;
    s.wait("[data-testid=resolved-banner]", "the decision to be saved")
        .await;
    s.shot("conflict-resolved").await;
    s.click("[data-testid=offer-sync]").await;

    eventually("the renamed admin in both databases", || async {
        let renamed = |docs: Vec<Document>| {
            docs.iter().any(|d| {
                d.get_str("username") == Ok("john_admin_office")
                    && d.get_str("name") == Ok("John (office)")
            })
        };
        (renamed(all(&local, "admins").await) && renamed(all(&remote, "admins").await))
            .then_some(())
    })
    .await;
    s.wait_state(&["synced"], "no conflict left").await;
    assert_same(&local, &remote, "admins").await;
    let johns: Vec<_> = all(&local, "admins")
        .await
        .into_iter()
        .filter(|d| d.get_str("username") == Ok("john_admin"))
        .collect();
    assert_eq!(johns.len(), 1, "one john_admin, the cloud's: {johns:?}");
    assert_eq!(johns[0].get_str("name"), Ok("John (cloud)"));
}

// ---- The same field edited on both sides, settled with keep_remote ----

/// A booking synced, then its slot changed here and in the cloud (with other fields changed
/// on one side each), and a sync finds the conflict.
pub async fn an_edit_conflict(o: &Office) {
    let (local, remote) = (o.local(0).await, o.remote().await);
    coll(&local, "bookings")
        .insert_one(tms_doc(1, doc! { "slot": "9am", "note": "n" }))
        .await
        .unwrap();
    let engine = o.engine(0).await;
    sync(&engine).await;
    let here = doc! { "slot": "10am", "note": "local note" };
    tms_edit(&local, "bookings", 1, here).await;
    tms_edit(
        &remote,
        "bookings",
        1,
        doc! { "slot": "11am", "paid": true },
    )
    .await;
    let run = sync(&engine).await;
    assert_eq!(run.conflicts["bookings"], 1, "slot changed on both sides");
}

/// Both values and the last-synced one side by side; keep_remote takes the cloud's slot
/// and keeps the changes each side made alone.
pub async fn settle_the_edit_with_keep_remote(s: &impl Screens, o: &Office) {
    let (local, remote) = (o.local(0).await, o.remote().await);
    s.wait_state(&["conflicts"], "the conflict to be shown")
        .await;
    s.click("[data-testid=nav-conflicts]").await;
    s.click("[data-testid=conflict-row][data-kind=update][data-collection=bookings]")
        .await;
    let row = s
        .text(
            "[data-testid=side-by-side] tr.conflict[data-field=slot]",
            "the slot highlighted as the field to decide on",
        )
        .await;
    assert!(
        row.contains("10am") && row.contains("11am") && row.contains("9am"),
        "both values and the last-synced one, side by side: {row}"
    );
    s.shot("conflict-edit").await;
    s.scroll_to("[data-testid=merge]").await;
    s.shot("conflict-edit-decide").await;
    s.click("[data-testid=keep-remote]").await;
    s.wait("[data-testid=resolved-banner]", "the decision to be saved")
        .await;
    s.click("[data-testid=offer-sync]").await;

    eventually("the cloud's slot in both databases", || async {
        let l = get(&local, "bookings", 1).await?;
        let r = get(&remote, "bookings", 1).await?;
        (l.get_str("slot") == Ok("11am") && r.get_str("slot") == Ok("11am")).then_some(())
    })
    .await;
    s.wait_state(&["synced"], "no conflict left").await;
    assert_same(&local, &remote, "bookings").await;
    let doc = get(&local, "bookings", 1).await.unwrap();
    assert_eq!(
        doc.get_str("note"),
        Ok("local note"),
        "the change made only here is kept"
    );
    assert_eq!(
        doc.get_bool("paid"),
        Ok(true),
        "the change made only in the cloud is kept"
    );
}

// ---- The cloud goes away and comes back ----

/// The cloud stops: the band turns offline and says why, in words.
pub async fn the_cloud_goes_away(s: &impl Screens, o: &mut Office) {
    s.wait_state(&["synced"], "the start-up sync").await;
    o.cloud.kill();
    s.wait_state(&["offline"], "the status to turn offline")
        .await;
    let problem = s.text("[data-testid=band-problem]", "why, in words").await;
    assert!(
        problem.contains("Cannot reach the cloud database"),
        "says what is wrong and what happens next: {problem}"
    );
    s.shot("offline").await;
}

/// The cloud is back: the band turns synced by itself, and History shows the reconnect run.
pub async fn the_cloud_comes_back(s: &impl Screens, o: &mut Office) {
    o.cloud.restart().await.expect("the cloud restarts");
    s.wait_state(&["synced"], "the status to be back online")
        .await;
    s.click("[data-testid=nav-history]").await;
    s.wait(
        "[data-testid=history-row][data-trigger=reconnect][data-status=completed]",
        "a reconnect run in History",
    )
    .await;
    s.shot("history-reconnect").await;
}

/// Pauses syncing here from the Status screen ("until I resume"): the band turns paused and
/// says until when, and the card offers Resume.
pub async fn pause_until_resumed(s: &impl Screens) {
    s.wait_state(&["synced"], "the start-up sync").await;
    s.click("[data-testid=nav-status]").await;
    s.click("[data-testid=pause-until]").await;
    s.wait_state(&["paused"], "the status to turn paused").await;
    let card = s
        .wait_text("[data-testid=pause]", "until you resume", "the pause card")
        .await;
    assert!(card.contains("Sync now still works"), "{card}");
    s.wait("[data-testid=resume]", "the Resume button").await;
    s.shot("paused").await;
}

/// Resumes from the Status screen: the band leaves "paused".
pub async fn resume(s: &impl Screens) {
    s.click("[data-testid=nav-status]").await;
    s.click("[data-testid=resume]").await;
    s.wait("[data-testid=pause-hour]", "the Pause buttons again")
        .await;
    s.wait_state(&["synced", "syncing"], "the status to leave paused")
        .await;
}

/// Pauses for an hour and resumes, in the browser as in the app: the time it ends is said.
pub async fn pause_for_an_hour_and_resume(s: &impl Screens) {
    s.wait_state(&["synced"], "the start-up sync").await;
    s.click("[data-testid=nav-status]").await;
    s.click("[data-testid=pause-hour]").await;
    s.wait_state(&["paused"], "the status to turn paused").await;
    let card = s
        .wait_text(
            "[data-testid=pause]",
            "Nothing syncs by itself",
            "the pause card",
        )
        .await;
    assert!(card.contains(" until "), "says until when: {card}");
    assert!(
        !card.contains("until you resume"),
        "a time, not 'until you resume': {card}"
    );
    resume(s).await;
}
