//! The tray: an icon per state, a tooltip with the state and the last sync, and a menu
//! (Sync now, Open TempleSync, Quit). What it shows is a pure function of the overview
//! ([`look`]); the rest is wiring.

use chrono::{DateTime, Utc};
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Wry};
use templesync_engine::RunStatus;

use crate::backend::Backend;
use crate::state::{Overview, SyncState};

/// The four tray images (icons/tray-*.png).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayIcon {
    Synced,
    Syncing,
    Offline,
    /// Conflicts, or a failed run: something for a person to look at.
    Attention,
}

impl TrayIcon {
    fn png(self) -> &'static [u8] {
        match self {
            TrayIcon::Synced => include_bytes!("../../icons/tray-synced.png"),
            TrayIcon::Syncing => include_bytes!("../../icons/tray-syncing.png"),
            TrayIcon::Offline => include_bytes!("../../icons/tray-offline.png"),
            TrayIcon::Attention => include_bytes!("../../icons/tray-conflicts.png"),
        }
    }
}

/// What the tray shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayLook {
    pub icon: TrayIcon,
    /// The state in words: the first (disabled) line of the menu, since Linux trays show no
    /// tooltips.
    pub headline: String,
    /// The headline and the last sync.
    pub tooltip: String,
}

/// The last run, as the tray describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LastSync {
    pub at: DateTime<Utc>,
    pub status: RunStatus,
    pub seconds: Option<f64>,
}

/// What the tray shows for a state, the number of open conflicts and the last run.
pub fn look(
    state: SyncState,
    unresolved: u64,
    last: Option<LastSync>,
    now: DateTime<Utc>,
) -> TrayLook {
    let (icon, headline) = match state {
        SyncState::NotConfigured => (TrayIcon::Offline, "Not set up yet".to_string()),
        SyncState::Checking => (TrayIcon::Syncing, "Checking the connection".to_string()),
        SyncState::Synced => (TrayIcon::Synced, "Up to date".to_string()),
        SyncState::Syncing => (TrayIcon::Syncing, "Syncing now".to_string()),
        SyncState::Offline => (
            TrayIcon::Offline,
            "Offline: changes will sync when the cloud is back".to_string(),
        ),
        SyncState::Conflicts => (
            TrayIcon::Attention,
            match unresolved {
                1 => "1 conflict needs a decision".to_string(),
                n => format!("{n} conflicts need a decision"),
            },
        ),
        SyncState::Failed => (
            TrayIcon::Attention,
            "The last sync did not finish: open TempleSync to see why".to_string(),
        ),
    };
    let last_line = match last {
        None => "Not synced yet".to_string(),
        Some(l) => {
            let how = match (l.status, l.seconds) {
                (RunStatus::Completed, Some(s)) => format!("completed in {}", seconds(s)),
                (RunStatus::Completed, None) => "completed".to_string(),
                (RunStatus::Failed, _) => "failed".to_string(),
                (RunStatus::Interrupted, _) => "interrupted".to_string(),
                (RunStatus::Running, _) => "running".to_string(),
            };
            format!("Last sync {}, {how}", ago(l.at, now))
        }
    };
    TrayLook {
        icon,
        tooltip: format!("TempleSync: {headline}\n{last_line}"),
        headline,
    }
}

/// The tray's look for an overview.
pub fn look_of(o: &Overview, now: DateTime<Utc>) -> TrayLook {
    let last = o.status.as_ref().and_then(|s| {
        Some(LastSync {
            at: s.last_sync_time?,
            status: s.last_sync_status?,
            seconds: s.last_sync_duration,
        })
    });
    let unresolved = o.status.as_ref().map_or(0, |s| s.unresolved_conflicts);
    look(o.state, unresolved, last, now)
}

/// "just now", "5 minutes ago", "yesterday"...
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - then).num_seconds();
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match s {
        ..45 => "just now".to_string(),
        45..2_700 => plural(((s + 30) / 60).max(1), "minute"),
        2_700..79_200 => plural(((s + 1_800) / 3_600).max(1), "hour"),
        79_200..129_600 => "yesterday".to_string(),
        _ => plural((s + 43_200) / 86_400, "day"),
    }
}

fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{} s", s.round())
    }
}

pub const TRAY_ID: &str = "templesync";

/// The menu's first line, kept to update its text.
struct Headline(MenuItem<Wry>);

/// Creates the tray. Where no tray host runs (e.g. under Xvfb) the icon exists but is not
/// seen; the app works the same.
pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let headline = MenuItem::with_id(app, "headline", "Starting", false, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &headline,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, "sync", "Sync now", true, None::<&str>)?,
            &MenuItem::with_id(app, "open", "Open TempleSync", true, None::<&str>)?,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?,
        ],
    )?;
    app.manage(Headline(headline));
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(TrayIcon::Offline.png())?)
        .tooltip("TempleSync")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(on_menu)
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                show_window(tray.app_handle());
            }
        })
        .build(app)?;
    Ok(())
}

fn on_menu(app: &AppHandle, event: MenuEvent) {
    match event.id().as_ref() {
        "sync" => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                if let Ok(monitor) = app.state::<Backend>().monitor().await {
                    // The outcome reaches the window and the tray through the monitor's events.
                    let _ = monitor.sync_now(None).await;
                }
            });
        }
        "open" => show_window(app),
        // The exit handler (lib.rs) lets a run in progress finish first.
        "quit" => app.exit(0),
        _ => {}
    }
}

/// Whether a tray icon can be seen on this desktop. On Linux the icon needs a
/// StatusNotifier host (most desktops have one; GNOME only with an extension, Xvfb none):
/// without one, closing the window must quit, or the app would run on out of reach. Unknown
/// (no `gdbus` to ask) counts as yes.
pub fn visible_somewhere() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let answer = std::process::Command::new("gdbus")
        .args([
            "call",
            "--session",
            "--timeout",
            "2",
            "--dest",
            "org.freedesktop.DBus",
            "--object-path",
            "/org/freedesktop/DBus",
            "--method",
            "org.freedesktop.DBus.NameHasOwner",
            "org.kde.StatusNotifierWatcher",
        ])
        .stderr(std::process::Stdio::null())
        .output();
    match answer {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).contains("true"),
        _ => true,
    }
}

pub fn show_window(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

/// Shows a look in the tray (no-op when the tray could not be created).
pub fn show(app: &AppHandle, look: &TrayLook) {
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        if let Ok(image) = Image::from_bytes(look.icon.png()) {
            let _ = tray.set_icon(Some(image));
        }
        let _ = tray.set_tooltip(Some(&look.tooltip));
    }
    if let Some(h) = app.try_state::<Headline>() {
        let _ = h.0.set_text(&look.headline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 14, h, m, s).unwrap()
    }

    #[test]
    fn each_state_has_its_icon() {
        let now = at(12, 0, 0);
        for (state, icon) in [
            (SyncState::Synced, TrayIcon::Synced),
            (SyncState::Syncing, TrayIcon::Syncing),
            (SyncState::Checking, TrayIcon::Syncing),
            (SyncState::Offline, TrayIcon::Offline),
            (SyncState::NotConfigured, TrayIcon::Offline),
            (SyncState::Conflicts, TrayIcon::Attention),
            (SyncState::Failed, TrayIcon::Attention),
        ] {
            assert_eq!(look(state, 1, None, now).icon, icon, "{state:?}");
        }
    }

    #[test]
    fn the_tooltip_says_the_state_and_when_the_last_sync_was() {
        let last = LastSync {
            at: at(11, 55, 0),
            status: RunStatus::Completed,
            seconds: Some(0.42),
        };
        let l = look(SyncState::Synced, 0, Some(last), at(12, 0, 0));
        assert_eq!(
            l.tooltip,
            "TempleSync: Up to date\nLast sync 5 minutes ago, completed in 0.4 s"
        );
        assert_eq!(l.headline, "Up to date");

        let failed = LastSync {
            status: RunStatus::Failed,
            ..last
        };
        let l = look(SyncState::Offline, 0, Some(failed), at(14, 0, 0));
        assert_eq!(
            l.tooltip,
            "TempleSync: Offline: changes will sync when the cloud is back\nLast sync 2 hours ago, failed"
        );

        let l = look(SyncState::Synced, 0, None, at(12, 0, 0));
        assert!(l.tooltip.ends_with("\nNot synced yet"), "{}", l.tooltip);
    }

    #[test]
    fn conflicts_are_counted_in_words() {
        let now = at(12, 0, 0);
        assert_eq!(
            look(SyncState::Conflicts, 1, None, now).headline,
            "1 conflict needs a decision"
        );
        assert_eq!(
            look(SyncState::Conflicts, 3, None, now).headline,
            "3 conflicts need a decision"
        );
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = at(12, 0, 0);
        let cases = [
            (at(12, 0, 0), "just now"),
            (at(11, 59, 30), "just now"),
            (at(11, 59, 0), "1 minute ago"),
            (at(11, 50, 0), "10 minutes ago"),
            (at(11, 0, 0), "1 hour ago"),
            (at(5, 0, 0), "7 hours ago"),
            (now - chrono::Duration::hours(26), "yesterday"),
            (now - chrono::Duration::days(4), "4 days ago"),
            // A clock a little ahead of this one.
            (at(12, 0, 5), "just now"),
        ];
        for (then, want) in cases {
            assert_eq!(ago(then, now), want, "{then}");
        }
    }

    /// From what the app knows to what the tray shows, through the same state the status
    /// bar shows: the tray can never disagree with the window.
    #[test]
    fn the_facts_pick_the_icon_through_the_status_bars_state() {
        use crate::state::{Facts, sync_state};
        let now = at(12, 0, 0);
        let healthy = Facts {
            configured: true,
            local_ok: true,
            checked: true,
            online: true,
            syncing: false,
            unresolved: 0,
            last_run: Some(RunStatus::Completed),
        };
        let cases = [
            (healthy.clone(), TrayIcon::Synced, "Up to date"),
            (
                Facts {
                    syncing: true,
                    unresolved: 2,
                    ..healthy.clone()
                },
                TrayIcon::Syncing,
                "Syncing now",
            ),
            (
                Facts {
                    online: false,
                    unresolved: 2,
                    ..healthy.clone()
                },
                TrayIcon::Offline,
                "Offline: changes will sync when the cloud is back",
            ),
            (
                Facts {
                    unresolved: 2,
                    ..healthy.clone()
                },
                TrayIcon::Attention,
                "2 conflicts need a decision",
            ),
            (
                Facts {
                    local_ok: false,
                    ..healthy.clone()
                },
                TrayIcon::Attention,
                "The last sync did not finish: open TempleSync to see why",
            ),
            (
                Facts {
                    checked: false,
                    online: false,
                    ..healthy.clone()
                },
                TrayIcon::Syncing,
                "Checking the connection",
            ),
            (Facts::default(), TrayIcon::Offline, "Not set up yet"),
        ];
        for (facts, icon, headline) in cases {
            let l = look(sync_state(&facts), facts.unresolved, None, now);
            assert_eq!((l.icon, l.headline.as_str()), (icon, headline), "{facts:?}");
            assert!(
                l.tooltip.starts_with(&format!("TempleSync: {headline}\n")),
                "the tooltip leads with the state: {:?}",
                l.tooltip
            );
        }
    }

    #[test]
    fn an_overview_without_a_status_still_has_a_look() {
        // Not configured, or the local database cannot be read: no status to read from.
        for (state, icon) in [
            (SyncState::NotConfigured, TrayIcon::Offline),
            (SyncState::Failed, TrayIcon::Attention),
        ] {
            let o = Overview {
                state,
                status: None,
                network: None,
                problem: None,
            };
            let l = look_of(&o, at(12, 0, 0));
            assert_eq!(l.icon, icon, "{state:?}");
            assert!(l.tooltip.ends_with("\nNot synced yet"), "{}", l.tooltip);
        }
    }

    #[test]
    fn the_icons_are_real_pngs() {
        for icon in [
            TrayIcon::Synced,
            TrayIcon::Syncing,
            TrayIcon::Offline,
            TrayIcon::Attention,
        ] {
            let img = Image::from_bytes(icon.png()).expect("decodes");
            assert_eq!((img.width(), img.height()), (64, 64), "{icon:?}");
        }
    }
}
