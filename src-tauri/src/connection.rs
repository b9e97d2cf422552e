//! Where the two databases are, for the app: the environment (after `.env` in the working
//! folder, as for the CLI), overridden by what was saved in the app's settings screen. The UI
//! only ever sees connection strings with their passwords masked; a masked password sent
//! back means "keep the one I have".

use serde::{Deserialize, Serialize};
use tauri::AppHandle;
use tauri_plugin_store::StoreExt;
use templesync_engine::{Settings, redact_url};

use crate::error::ErrorDto;

/// The app's own settings file, in its data folder (e.g. `~/.local/share/<identifier>/`).
pub const STORE_FILE: &str = "templesync.json";
const CONNECTION_KEY: &str = "connection";
const PREFERENCES_KEY: &str = "preferences";
/// What `redact_url` puts in place of a password.
const MASK: &str = "****";

/// Where the connection settings in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `MONGODB_LOCAL_URL` / `MONGODB_CLOUD_URL` / `DATABASE_NAME` (or `.env`).
    Environment,
    /// Saved from the settings screen.
    Saved,
    /// Nothing set: the defaults (no cloud).
    Defaults,
}

/// The connection settings as stored in the app's settings file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Saved {
    local_url: String,
    cloud_url: Option<String>,
    database: String,
}

/// The settings in use and where they came from.
#[derive(Debug, Clone)]
pub struct Connection {
    pub settings: Settings,
    pub source: Source,
}

/// The connection as the UI sees it: passwords masked.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    pub local_url: String,
    pub cloud_url: Option<String>,
    pub database: String,
    pub source: Source,
    /// A cloud database is set: syncing is possible.
    pub configured: bool,
}

/// What the settings screen sends. A password left as `****` keeps the stored one.
#[derive(Debug, Clone, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInput {
    pub local_url: String,
    pub cloud_url: Option<String>,
    pub database: String,
}

impl Connection {
    /// The saved settings when there are any, else the environment's.
    fn resolve(env: impl Fn(&str) -> Option<String>, saved: Option<Saved>) -> Connection {
        if let Some(s) = saved {
            return Connection {
                settings: Settings {
                    local_url: s.local_url,
                    remote_url: s.cloud_url.filter(|u| !u.trim().is_empty()),
                    database: s.database,
                },
                source: Source::Saved,
            };
        }
        let set = ["MONGODB_LOCAL_URL", "MONGODB_CLOUD_URL", "DATABASE_NAME"]
            .iter()
            .any(|k| env(k).is_some_and(|v| !v.trim().is_empty()));
        Connection {
            settings: Settings::from_lookup(env),
            source: if set {
                Source::Environment
            } else {
                Source::Defaults
            },
        }
    }

    /// The connection for this start of the app.
    pub fn load(app: &AppHandle) -> Connection {
        let saved = app
            .store(STORE_FILE)
            .ok()
            .and_then(|s| s.get(CONNECTION_KEY))
            .and_then(|v| serde_json::from_value::<Saved>(v).ok());
        Connection::resolve(|k| std::env::var(k).ok(), saved)
    }

    pub fn configured(&self) -> bool {
        self.settings.remote_url.is_some()
    }

    pub fn view(&self) -> ConnectionView {
        ConnectionView {
            local_url: redact_url(&self.settings.local_url),
            cloud_url: self.settings.remote_url.as_deref().map(redact_url),
            database: self.settings.database.clone(),
            source: self.source,
            configured: self.configured(),
        }
    }

    /// The settings a person typed, with masked passwords put back, checked for form.
    pub fn apply(&self, input: &ConnectionInput) -> Result<Settings, ErrorDto> {
        let cloud = input
            .cloud_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let settings = Settings {
            local_url: restore_masked(input.local_url.trim(), Some(&self.settings.local_url)),
            remote_url: cloud.map(|u| restore_masked(u, self.settings.remote_url.as_deref())),
            database: input.database.trim().to_string(),
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// Saves connection settings in the app's settings file (readable by this user only).
pub fn save(app: &AppHandle, settings: &Settings) -> Result<(), ErrorDto> {
    let saved = Saved {
        local_url: settings.local_url.clone(),
        cloud_url: settings.remote_url.clone(),
        database: settings.database.clone(),
    };
    let value = serde_json::to_value(saved).map_err(|e| crate::error::not_saved("settings", e))?;
    put(app, CONNECTION_KEY, value)
}

/// The app's own preferences (kept in its settings file, not in the database).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase", default)]
pub struct Preferences {
    /// Recorded as who settled a conflict; the computer's account name when empty.
    pub your_name: String,
    /// Sync at once after a conflict is resolved, instead of offering to.
    pub sync_after_resolve: bool,
}

pub fn preferences(app: &AppHandle) -> Preferences {
    app.store(STORE_FILE)
        .ok()
        .and_then(|s| s.get(PREFERENCES_KEY))
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

pub fn save_preferences(app: &AppHandle, p: &Preferences) -> Result<(), ErrorDto> {
    let value = serde_json::to_value(p).map_err(|e| crate::error::not_saved("preferences", e))?;
    put(app, PREFERENCES_KEY, value)
}

fn put(app: &AppHandle, key: &str, value: serde_json::Value) -> Result<(), ErrorDto> {
    let store = app
        .store(STORE_FILE)
        .map_err(|e| crate::error::not_saved("settings", e))?;
    store.set(key, value);
    store
        .save()
        .map_err(|e| crate::error::not_saved("settings", e))?;
    // It holds the database passwords.
    #[cfg(unix)]
    if let Ok(path) = tauri_plugin_store::resolve_store_path(app, STORE_FILE) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

/// A connection string sent back by the UI, with `****` in place of a password replaced by
/// the password of `current` (same user), so a person can change the host or the options
/// without retyping the password. Anything else is taken as typed.
pub fn restore_masked(submitted: &str, current: Option<&str>) -> String {
    let Some(current) = current else {
        return submitted.to_string();
    };
    if !submitted.contains(MASK) {
        return submitted.to_string();
    }
    if submitted == redact_url(current) {
        return current.to_string();
    }
    let (Some((s_user, s_pass)), Some((c_user, c_pass))) = (userinfo(submitted), userinfo(current))
    else {
        return submitted.to_string();
    };
    if s_pass != MASK || s_user != c_user {
        return submitted.to_string();
    }
    let (scheme, rest) = submitted.split_once("://").unwrap_or(("", submitted));
    let at = rest.find(['/', '?']).unwrap_or(rest.len());
    let hosts_and_tail = &rest[rest[..at].rfind('@').map_or(0, |i| i + 1)..];
    format!("{scheme}://{s_user}:{c_pass}@{hosts_and_tail}")
}

/// The user and password of a connection string, when it has both.
fn userinfo(url: &str) -> Option<(&str, &str)> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let (info, _) = authority.rsplit_once('@')?;
    info.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOUD: &str = "mongodb+srv://temple:s3cr3t@cluster0.example.net/?retryWrites=true";

    #[test]
    fn a_masked_password_sent_back_keeps_the_stored_one() {
        let shown = redact_url(CLOUD);
        assert!(!shown.contains("s3cr3t"));
        assert_eq!(restore_masked(&shown, Some(CLOUD)), CLOUD);
    }

    #[test]
    fn a_new_host_with_the_masked_password_keeps_the_password() {
        let typed = "mongodb+srv://temple:****@cluster1.example.net/?retryWrites=true";
        assert_eq!(
            restore_masked(typed, Some(CLOUD)),
            "mongodb+srv://temple:s3cr3t@cluster1.example.net/?retryWrites=true"
        );
    }

    #[test]
    fn a_typed_password_or_another_user_is_taken_as_typed() {
        let new_pw = "mongodb+srv://temple:n3w@cluster0.example.net/";
        assert_eq!(restore_masked(new_pw, Some(CLOUD)), new_pw);
        let other_user = "mongodb+srv://office:****@cluster0.example.net/";
        assert_eq!(
            restore_masked(other_user, Some(CLOUD)),
            other_user,
            "another account must not get this account's password"
        );
        assert_eq!(restore_masked("mongodb://h:1", None), "mongodb://h:1");
    }

    #[test]
    fn the_view_never_shows_a_password() {
        let c = Connection {
            settings: Settings {
                local_url: "mongodb://admin:hunter22@localhost:27017".into(),
                remote_url: Some(CLOUD.into()),
                database: "temple_db".into(),
            },
            source: Source::Saved,
        };
        let json = serde_json::to_string(&c.view()).unwrap();
        assert!(
            !json.contains("hunter22") && !json.contains("s3cr3t"),
            "{json}"
        );
        assert!(c.view().configured);
    }

    #[test]
    fn saving_with_masked_fields_keeps_the_passwords_and_checks_the_form() {
        let c = Connection {
            settings: Settings {
                local_url: "mongodb://localhost:27017".into(),
                remote_url: Some(CLOUD.into()),
                database: "temple_db".into(),
            },
            source: Source::Environment,
        };
        let v = c.view();
        let s = c
            .apply(&ConnectionInput {
                local_url: v.local_url.clone(),
                cloud_url: v.cloud_url.clone(),
                database: "temple_db".into(),
            })
            .unwrap();
        assert_eq!(s.remote_url.as_deref(), Some(CLOUD));
        let err = c
            .apply(&ConnectionInput {
                local_url: "localhost:27017".into(),
                cloud_url: None,
                database: "temple_db".into(),
            })
            .unwrap_err();
        assert_eq!(err.code, "invalid_connection_string");
        let blank_cloud = c
            .apply(&ConnectionInput {
                local_url: v.local_url,
                cloud_url: Some("  ".into()),
                database: "temple_db".into(),
            })
            .unwrap();
        assert_eq!(blank_cloud.remote_url, None, "a blank cloud URL is none");
    }

    #[test]
    fn saved_settings_win_over_the_environment() {
        let env = |k: &str| (k == "MONGODB_CLOUD_URL").then(|| "mongodb://env:1".to_string());
        let c = Connection::resolve(env, None);
        assert_eq!(c.source, Source::Environment);
        assert_eq!(c.settings.remote_url.as_deref(), Some("mongodb://env:1"));
        let saved = Saved {
            local_url: "mongodb://l:2".into(),
            cloud_url: Some("mongodb://saved:3".into()),
            database: "db".into(),
        };
        let c = Connection::resolve(env, Some(saved));
        assert_eq!(c.source, Source::Saved);
        assert_eq!(c.settings.remote_url.as_deref(), Some("mongodb://saved:3"));
        let c = Connection::resolve(|_| None, None);
        assert_eq!((c.source, c.configured()), (Source::Defaults, false));
    }
}
