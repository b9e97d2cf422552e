//! System notifications: what the engine's [`Notices`] says is new (a decision waits, a sync
//! held for a person, syncing failing for a while), shown once each when the person has them
//! on. On Linux (a D-Bus notification server) a click opens the screen the notice is about;
//! elsewhere the notice only tells.

use std::sync::Mutex;

use tauri::{AppHandle, Manager};
use templesync_engine::Overview;
use templesync_engine::app::notices::{Notice, NoticeTarget, Notices, OpenConflict};

use crate::backend::Backend;
use crate::connection;

/// What has been said already, for the app's lifetime.
#[derive(Default)]
pub struct Notifier(Mutex<Notices>);

/// After each new overview: says what is new, if anything.
pub async fn after(app: &AppHandle, overview: &Overview) {
    let Some(notifier) = app.try_state::<Notifier>() else {
        return;
    };
    let open = match app.state::<Backend>().app().await {
        Ok(sync) => sync.conflicts(Some(false), None).await.ok().map(|list| {
            list.into_iter()
                .map(|c| OpenConflict {
                    id: c.id,
                    kind: c.kind,
                    collection: c.collection,
                })
                .collect::<Vec<_>>()
        }),
        Err(_) => None,
    };
    let said = notifier
        .0
        .lock()
        .map(|mut n| n.after(overview, open.as_deref(), chrono::Utc::now()))
        .unwrap_or_default();
    // Kept track of even when off, so that turning them on does not bring old news.
    if said.is_empty() || !connection::preferences(app).notifications {
        return;
    }
    for notice in said {
        show(app, notice);
    }
}

fn show(app: &AppHandle, notice: Notice) {
    tracing::info!(title = %notice.title, "notification");
    let app = app.clone();
    // Showing (and, on Linux, waiting for a click) blocks: on a thread of its own.
    std::thread::spawn(move || {
        let mut n = notify_rust::Notification::new();
        n.appname("TempleSync")
            .summary(&notice.title)
            .body(&notice.body)
            .icon("org.templesync.desktop");
        #[cfg(all(unix, not(target_os = "macos")))]
        {
            n.action("default", "Open TempleSync");
            match n.show() {
                Ok(handle) => handle.wait_for_action(|action| {
                    if action == "default" {
                        open(&app, &notice.target);
                    }
                }),
                Err(e) => tracing::warn!(error = %e, "the notification could not be shown"),
            }
        }
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        {
            let _ = &app;
            if let Err(e) = n.show() {
                tracing::warn!(error = %e, "the notification could not be shown");
            }
        }
    });
}

/// Shows the window on the screen the notice is about.
fn open(app: &AppHandle, target: &NoticeTarget) {
    let hash = match target {
        NoticeTarget::Status => "#status".to_string(),
        NoticeTarget::Conflicts => "#conflicts".to_string(),
        NoticeTarget::Conflict(id) => format!("#conflicts/{}", urlencode(id)),
    };
    crate::tray::show_window(app);
    if let Some(w) = app.get_webview_window("main") {
        let js = format!(
            "location.hash = {}",
            serde_json::to_string(&hash).unwrap_or_default()
        );
        let _ = w.eval(js);
    }
}

/// A conflict id in a URL fragment (ids are hex, but nothing is assumed).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
