//! The tray: an icon per state, a tooltip with the state and the last sync, and a menu
//! (Sync now, Open TempleSync, Quit). What it shows is a pure function of the overview
//! ([`look_of`]), whose words come from the engine's application layer; the rest is wiring.

use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Wry};
use templesync_engine::{Overview, SyncState};

use crate::backend::Backend;

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
    /// Syncing is paused on this computer: the menu offers Resume instead of Pause.
    pub paused: bool,
}

/// The icon for a state: the tray's only rule of its own. The words come with the overview,
/// as the window and the web screens get them.
pub fn icon_of(state: SyncState) -> TrayIcon {
    match state {
        SyncState::Synced => TrayIcon::Synced,
        SyncState::Syncing | SyncState::Checking => TrayIcon::Syncing,
        SyncState::Offline | SyncState::NotConfigured | SyncState::Paused => TrayIcon::Offline,
        SyncState::Conflicts | SyncState::Failed => TrayIcon::Attention,
    }
}

/// The tray's look for an overview.
pub fn look_of(o: &Overview) -> TrayLook {
    let last = o.last_sync.as_deref().unwrap_or("Not synced yet");
    TrayLook {
        icon: icon_of(o.state),
        tooltip: format!("TempleSync: {}\n{last}", o.headline),
        headline: o.headline.clone(),
        paused: o.paused_here.is_some(),
    }
}

pub const TRAY_ID: &str = "templesync";

/// The menu's lines that change with the state.
struct Lines {
    headline: MenuItem<Wry>,
    pause_hour: MenuItem<Wry>,
    pause: MenuItem<Wry>,
    resume: MenuItem<Wry>,
}

/// Creates the tray. Where no tray host runs (e.g. under Xvfb) the icon exists but is not
/// seen; the app works the same.
pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let lines = Lines {
        headline: MenuItem::with_id(app, "headline", "Starting", false, None::<&str>)?,
        pause_hour: MenuItem::with_id(
            app,
            "pause-hour",
            "Pause syncing for 1 hour",
            true,
            None::<&str>,
        )?,
        pause: MenuItem::with_id(
            app,
            "pause",
            "Pause syncing until I resume",
            true,
            None::<&str>,
        )?,
        resume: MenuItem::with_id(app, "resume", "Resume syncing", false, None::<&str>)?,
    };
    let menu = Menu::with_items(
        app,
        &[
            &lines.headline,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, "sync", "Sync now", true, None::<&str>)?,
            &MenuItem::with_id(app, "open", "Open TempleSync", true, None::<&str>)?,
            &PredefinedMenuItem::separator(app)?,
            &lines.pause_hour,
            &lines.pause,
            &lines.resume,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?,
        ],
    )?;
    app.manage(lines);
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
        "pause-hour" | "pause" | "resume" => {
            let app = app.clone();
            let id = event.id().as_ref().to_string();
            tauri::async_runtime::spawn(async move {
                let Ok(sync) = app.state::<Backend>().app().await else {
                    return;
                };
                let done = match id.as_str() {
                    "pause-hour" => sync.pause_here(Some(60)).map(drop),
                    "pause" => sync.pause_here(None).map(drop),
                    _ => sync.resume_here(),
                };
                if let Err(e) = done {
                    tracing::warn!(error = %e, "the pause could not be changed");
                }
                crate::backend::publish(&app).await;
            });
        }
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
    if let Some(lines) = app.try_state::<Lines>() {
        let _ = lines.headline.set_text(&look.headline);
        let _ = lines.pause_hour.set_enabled(!look.paused);
        let _ = lines.pause.set_enabled(!look.paused);
        let _ = lines.resume.set_enabled(look.paused);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_has_its_icon() {
        for (state, icon) in [
            (SyncState::Synced, TrayIcon::Synced),
            (SyncState::Syncing, TrayIcon::Syncing),
            (SyncState::Checking, TrayIcon::Syncing),
            (SyncState::Offline, TrayIcon::Offline),
            (SyncState::NotConfigured, TrayIcon::Offline),
            (SyncState::Paused, TrayIcon::Offline),
            (SyncState::Conflicts, TrayIcon::Attention),
            (SyncState::Failed, TrayIcon::Attention),
        ] {
            assert_eq!(icon_of(state), icon, "{state:?}");
        }
    }

    /// The tray shows the overview's own words: it can never disagree with the window.
    #[test]
    fn the_tooltip_leads_with_the_overviews_headline_then_the_last_sync() {
        let mut o = Overview::without_engine(false, None);
        let l = look_of(&o);
        assert_eq!(l.headline, "Not set up yet");
        assert_eq!(l.tooltip, "TempleSync: Not set up yet\nNot synced yet");
        o.last_sync = Some("Last sync 5 minutes ago, completed in 0.4 s".into());
        assert_eq!(
            look_of(&o).tooltip,
            "TempleSync: Not set up yet\nLast sync 5 minutes ago, completed in 0.4 s"
        );
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
