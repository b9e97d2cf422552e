//! Where the two databases are, for the app: the environment (after `.env` in the working
//! folder, as for the CLI), overridden by what was saved in the app's settings screen. The UI
//! only ever sees connection strings with their passwords masked; a masked password sent
//! back means "keep the one I have".

use serde::{Deserialize, Serialize};
use tauri::AppHandle;
use tauri_plugin_store::StoreExt;
use templesync_engine::settings::{put_password, take_password};
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
    /// With `****` for the password when that is in the keychain.
    cloud_url: Option<String>,
    database: String,
    /// Where the cloud password is (absent in files written before the keychain: the file).
    #[serde(default)]
    cloud_password_in: Option<PasswordStore>,
}

/// Where the cloud connection string's password is kept on this computer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum PasswordStore {
    /// The system's keychain (Secret Service, Credential Manager, Keychain).
    Keychain,
    /// The app's settings file, readable by this user only: no keychain answered.
    File,
    /// From the environment or `.env`, not saved by the app.
    Environment,
    /// No cloud password.
    None,
}

/// The settings in use and where they came from.
#[derive(Debug, Clone)]
pub struct Connection {
    pub settings: Settings,
    pub source: Source,
    pub password_in: PasswordStore,
    /// Why the saved password could not be read back (the keychain did not answer).
    pub password_problem: Option<String>,
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
    /// Where the cloud password is kept.
    pub password_in: PasswordStore,
    /// Why the saved cloud password could not be read (then it must be typed again).
    pub password_problem: Option<String>,
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
    fn resolve(
        env: impl Fn(&str) -> Option<String>,
        saved: Option<Saved>,
        keychain: &dyn Keychain,
    ) -> Connection {
        if let Some(s) = saved {
            let mut cloud = s.cloud_url.filter(|u| !u.trim().is_empty());
            let mut password_in = s.cloud_password_in.unwrap_or(PasswordStore::File);
            let mut password_problem = None;
            if password_in == PasswordStore::Keychain
                && let Some(masked) = &cloud
            {
                match keychain.get() {
                    Ok(pw) => cloud = put_password(masked, &pw).or(cloud),
                    Err(e) => {
                        tracing::warn!(error = %e, "the cloud password could not be read from the keychain");
                        password_problem = Some(format!(
                            "The cloud password could not be read from this computer's keychain ({e}): type it again in Settings"
                        ));
                    }
                }
            }
            if cloud.as_deref().is_none_or(|u| take_password(u).is_none())
                && password_problem.is_none()
            {
                password_in = PasswordStore::None;
            }
            return Connection {
                settings: Settings {
                    local_url: s.local_url,
                    remote_url: cloud,
                    database: s.database,
                },
                source: Source::Saved,
                password_in,
                password_problem,
            };
        }
        let set = ["MONGODB_LOCAL_URL", "MONGODB_CLOUD_URL", "DATABASE_NAME"]
            .iter()
            .any(|k| env(k).is_some_and(|v| !v.trim().is_empty()));
        let settings = Settings::from_lookup(env);
        let password_in = if settings
            .remote_url
            .as_deref()
            .is_some_and(|u| take_password(u).is_some())
        {
            PasswordStore::Environment
        } else {
            PasswordStore::None
        };
        Connection {
            settings,
            source: if set {
                Source::Environment
            } else {
                Source::Defaults
            },
            password_in,
            password_problem: None,
        }
    }

    /// The connection for this start of the app.
    pub fn load(app: &AppHandle) -> Connection {
        let saved = app
            .store(STORE_FILE)
            .ok()
            .and_then(|s| s.get(CONNECTION_KEY))
            .and_then(|v| serde_json::from_value::<Saved>(v).ok());
        Connection::resolve(|k| std::env::var(k).ok(), saved, &SystemKeychain)
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
            password_in: self.password_in,
            password_problem: self.password_problem.clone(),
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

/// Saves connection settings: the cloud password in the system's keychain where one answers,
/// else (and everything else) in the app's settings file, readable by this user only.
/// Answers where the password went.
pub fn save(app: &AppHandle, settings: &Settings) -> Result<PasswordStore, ErrorDto> {
    let saved = to_saved(settings, &SystemKeychain);
    let value = serde_json::to_value(&saved).map_err(|e| crate::error::not_saved("settings", e))?;
    put(app, CONNECTION_KEY, value)?;
    Ok(saved.cloud_password_in.unwrap_or(PasswordStore::None))
}

fn to_saved(settings: &Settings, keychain: &dyn Keychain) -> Saved {
    let mut saved = Saved {
        local_url: settings.local_url.clone(),
        cloud_url: settings.remote_url.clone(),
        database: settings.database.clone(),
        cloud_password_in: Some(PasswordStore::None),
    };
    let Some((masked, password)) = settings.remote_url.as_deref().and_then(take_password) else {
        let _ = keychain.delete();
        return saved;
    };
    match keychain.set(&password) {
        Ok(()) => {
            saved.cloud_url = Some(masked);
            saved.cloud_password_in = Some(PasswordStore::Keychain);
        }
        Err(e) => {
            tracing::warn!(error = %e, "no keychain: the cloud password is kept in the settings file");
            saved.cloud_password_in = Some(PasswordStore::File);
        }
    }
    saved
}

/// The system's keychain, for the one secret the app keeps: the cloud password.
pub trait Keychain {
    fn get(&self) -> Result<String, String>;
    fn set(&self, password: &str) -> Result<(), String>;
    fn delete(&self) -> Result<(), String>;
}

/// Secret Service on Linux, Credential Manager on Windows, Keychain on macOS (`keyring`).
pub struct SystemKeychain;

impl SystemKeychain {
    const SERVICE: &str = "org.templesync.desktop";
    const ACCOUNT: &str = "cloud database password";
    /// A keychain that asks a person to unlock it and gets no answer must not hold up the
    /// app: after this long it counts as not answering.
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

    /// Runs `work` on the keychain's entry, on a thread of its own, within [`Self::PATIENCE`].
    fn with_entry<T: Send + 'static>(
        work: impl FnOnce(keyring::Entry) -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let done = keyring::Entry::new(Self::SERVICE, Self::ACCOUNT)
                .map_err(|e| e.to_string())
                .and_then(work);
            let _ = tx.send(done);
        });
        rx.recv_timeout(Self::PATIENCE).unwrap_or_else(|_| {
            Err(format!(
                "the keychain did not answer within {} seconds",
                Self::PATIENCE.as_secs()
            ))
        })
    }
}

impl Keychain for SystemKeychain {
    fn get(&self) -> Result<String, String> {
        Self::with_entry(|e| e.get_password().map_err(|e| e.to_string()))
    }

    fn set(&self, password: &str) -> Result<(), String> {
        let password = password.to_string();
        Self::with_entry(move |entry| {
            entry.set_password(&password).map_err(|e| e.to_string())?;
            // Only trusted once it reads back.
            match entry.get_password() {
                Ok(p) if p == password => Ok(()),
                Ok(_) => Err("the keychain gave back another password".to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn delete(&self) -> Result<(), String> {
        Self::with_entry(|entry| match entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(e.to_string()),
        })
    }
}

/// The app's own preferences (kept in its settings file, not in the database).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase", default)]
pub struct Preferences {
    /// Recorded as who settled a conflict; the computer's account name when empty.
    pub your_name: String,
    /// Sync at once after a conflict is resolved, instead of offering to.
    pub sync_after_resolve: bool,
    /// A person's choice about starting with the computer; none: not chosen (on after the
    /// first setup).
    pub start_with_computer: Option<bool>,
    /// Say so in a system notification when a decision waits or syncing keeps failing.
    pub notifications: bool,
}

impl Default for Preferences {
    fn default() -> Preferences {
        Preferences {
            your_name: String::new(),
            sync_after_resolve: false,
            start_with_computer: None,
            notifications: true,
        }
    }
}

/// The passwords of the saved connection (which may differ from the one in use), to be
/// removed from the support file too.
pub fn saved_secrets(app: &AppHandle) -> Vec<String> {
    let saved = app
        .store(STORE_FILE)
        .ok()
        .and_then(|s| s.get(CONNECTION_KEY))
        .and_then(|v| serde_json::from_value::<Saved>(v).ok());
    saved.map_or_else(Vec::new, |s| {
        Settings {
            local_url: s.local_url,
            remote_url: s.cloud_url,
            database: s.database,
        }
        .passwords()
    })
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
            password_in: PasswordStore::File,
            password_problem: None,
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
            password_in: PasswordStore::Environment,
            password_problem: None,
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
        let c = Connection::resolve(env, None, &NoKeychain);
        assert_eq!(c.source, Source::Environment);
        assert_eq!(c.settings.remote_url.as_deref(), Some("mongodb://env:1"));
        let saved = Saved {
            local_url: "mongodb://l:2".into(),
            cloud_url: Some("mongodb://saved:3".into()),
            database: "db".into(),
            cloud_password_in: None,
        };
        let c = Connection::resolve(env, Some(saved), &NoKeychain);
        assert_eq!(c.source, Source::Saved);
        assert_eq!(c.settings.remote_url.as_deref(), Some("mongodb://saved:3"));
        let c = Connection::resolve(|_| None, None, &NoKeychain);
        assert_eq!((c.source, c.configured()), (Source::Defaults, false));
    }

    /// A keychain that holds what it is given (as the system's does).
    #[derive(Default)]
    struct MemoryKeychain(std::sync::Mutex<Option<String>>);

    impl Keychain for MemoryKeychain {
        fn get(&self) -> Result<String, String> {
            self.0
                .lock()
                .unwrap()
                .clone()
                .ok_or_else(|| "no entry".to_string())
        }
        fn set(&self, password: &str) -> Result<(), String> {
            *self.0.lock().unwrap() = Some(password.to_string());
            Ok(())
        }
        fn delete(&self) -> Result<(), String> {
            *self.0.lock().unwrap() = None;
            Ok(())
        }
    }

    /// No keychain answers (a desktop without Secret Service).
    struct NoKeychain;

    impl Keychain for NoKeychain {
        fn get(&self) -> Result<String, String> {
            Err("no keychain".into())
        }
        fn set(&self, _: &str) -> Result<(), String> {
            Err("no keychain".into())
        }
        fn delete(&self) -> Result<(), String> {
            Err("no keychain".into())
        }
    }

    fn settings_with_cloud(url: &str) -> Settings {
        Settings {
            local_url: "mongodb://localhost:27017".into(),
            remote_url: Some(url.into()),
            database: "temple_db".into(),
        }
    }

    #[test]
    fn the_cloud_password_goes_to_the_keychain_and_not_into_the_file() {
        let keychain = MemoryKeychain::default();
        let saved = to_saved(&settings_with_cloud(CLOUD), &keychain);
        assert_eq!(saved.cloud_password_in, Some(PasswordStore::Keychain));
        let file = serde_json::to_string(&saved).unwrap();
        assert!(!file.contains("s3cr3t"), "{file}");
        assert!(file.contains("cluster0.example.net"), "{file}");
        let c = Connection::resolve(|_| None, Some(saved), &keychain);
        assert_eq!(
            c.settings.remote_url.as_deref(),
            Some(CLOUD),
            "read back whole"
        );
        assert_eq!(c.view().password_in, PasswordStore::Keychain);
        assert_eq!(c.password_problem, None);
    }

    #[test]
    fn without_a_keychain_the_password_stays_in_the_file_and_says_so() {
        let saved = to_saved(&settings_with_cloud(CLOUD), &NoKeychain);
        assert_eq!(saved.cloud_password_in, Some(PasswordStore::File));
        assert_eq!(saved.cloud_url.as_deref(), Some(CLOUD));
        let c = Connection::resolve(|_| None, Some(saved), &NoKeychain);
        assert_eq!(c.settings.remote_url.as_deref(), Some(CLOUD));
        assert_eq!(c.view().password_in, PasswordStore::File);
    }

    #[test]
    fn a_keychain_that_no_longer_answers_is_said_and_the_password_asked_for_again() {
        let keychain = MemoryKeychain::default();
        let saved = to_saved(&settings_with_cloud(CLOUD), &keychain);
        let c = Connection::resolve(|_| None, Some(saved), &NoKeychain);
        let view = c.view();
        assert!(
            view.password_problem
                .as_deref()
                .is_some_and(|p| p.contains("keychain") && p.contains("type it again")),
            "{view:?}"
        );
        assert!(!serde_json::to_string(&view).unwrap().contains("s3cr3t"));
    }
}
