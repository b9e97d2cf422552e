//! Where the two databases are: connection strings and the database name, and how to show a
//! connection string to a person without its password.

use crate::error::{Error, Result};

pub const DEFAULT_LOCAL_URL: &str = "mongodb://localhost:27017";
pub const DEFAULT_DATABASE: &str = "temple_db";

/// The connection settings: `MONGODB_LOCAL_URL`, `MONGODB_CLOUD_URL`, `DATABASE_NAME`.
#[derive(Clone, Default)]
pub struct Settings {
    pub local_url: String,
    pub remote_url: Option<String>,
    pub database: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("local_url", &redact_url(&self.local_url))
            .field("remote_url", &self.remote_url.as_deref().map(redact_url))
            .field("database", &self.database)
            .finish()
    }
}

impl Settings {
    /// Settings from a variable lookup (the environment, after `.env` was loaded), with the
    /// defaults for what is missing. Blank values count as missing.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Settings {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Settings {
            local_url: get("MONGODB_LOCAL_URL").unwrap_or_else(|| DEFAULT_LOCAL_URL.to_string()),
            remote_url: get("MONGODB_CLOUD_URL"),
            database: get("DATABASE_NAME").unwrap_or_else(|| DEFAULT_DATABASE.to_string()),
        }
    }

    /// Checks the form of everything, so a typo is reported before any connection attempt.
    pub fn validate(&self) -> Result<()> {
        check_url("local", &self.local_url)?;
        if let Some(url) = &self.remote_url {
            check_url("cloud", url)?;
        }
        validate_database_name(&self.database)
    }

    /// The passwords in the connection strings: scrubbed from every message the engine emits.
    pub(crate) fn secrets(&self) -> Vec<String> {
        [Some(&self.local_url), self.remote_url.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|u| password_of(u))
            .filter(|p| !p.is_empty())
            .collect()
    }
}

fn validate_database_name(name: &str) -> Result<()> {
    let bad = name.chars().find(|c| {
        matches!(
            c,
            '/' | '\\' | '.' | ' ' | '"' | '$' | '*' | '<' | '>' | ':' | '|' | '?' | '\0'
        )
    });
    if name.is_empty() || name.len() > 63 || bad.is_some() {
        return Err(Error::InvalidConfig {
            field: "DATABASE_NAME".into(),
            reason: format!(
                "'{name}' is not a valid database name (1 to 63 characters, no spaces or any of / \\ . \" $ * < > : | ?)"
            ),
        });
    }
    Ok(())
}

fn check_url(which: &'static str, url: &str) -> Result<()> {
    let invalid = |reason: &str| Error::InvalidConnectionString {
        which,
        url: redact_url(url),
        reason: reason.to_string(),
    };
    let rest = url
        .strip_prefix("mongodb://")
        .or_else(|| url.strip_prefix("mongodb+srv://"))
        .ok_or_else(|| invalid("it must start with mongodb:// or mongodb+srv://"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if hosts.is_empty() {
        return Err(invalid("it names no host"));
    }
    for host in hosts.split(',') {
        if host.is_empty() {
            return Err(invalid("it has an empty host in its host list"));
        }
        if let Some((_, port)) = host.rsplit_once(':')
            && !host.ends_with(']')
            && port.parse::<u16>().map_or(true, |p| p == 0)
        {
            return Err(invalid(&format!("'{port}' is not a valid port")));
        }
    }
    Ok(())
}

fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    Some(password.to_string())
}

/// The connection string with its password replaced by `****`: safe to log or show.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<not a connection string>".to_string();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') { ":****" } else { "" };
            // Query options may carry secrets too (e.g. a TLS key password).
            let tail = strip_secret_options(tail);
            format!("{scheme}://{user}{masked}@{hosts}{tail}")
        }
        None => format!("{scheme}://{authority}{}", strip_secret_options(tail)),
    }
}

fn strip_secret_options(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let kept: Vec<String> = query
        .split('&')
        .map(|kv| {
            let key = kv.split('=').next().unwrap_or_default();
            if key.to_ascii_lowercase().contains("password") {
                format!("{key}=****")
            } else {
                kv.to_string()
            }
        })
        .collect();
    format!("{path}?{}", kept.join("&"))
}

/// Only the host list of a connection string, for messages such as "Cannot reach the cloud
/// database at cluster0.example.net".
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_string()
}

/// Replaces every occurrence of a secret in a message.
pub(crate) fn scrub(message: &str, secrets: &[String]) -> String {
    let mut out = message.to_string();
    for s in secrets {
        if s.len() >= 3 {
            out = out.replace(s.as_str(), "****");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_the_password_and_keeps_the_rest() {
        let url =
            "mongodb+srv://temple:s3cr3t!pw@cluster0.example.net/?retryWrites=true&w=majority";
        let shown = redact_url(url);
        assert!(
            !shown.contains("s3cr3t"),
            "password must never be shown: {shown}"
        );
        assert_eq!(
            shown,
            "mongodb+srv://temple:****@cluster0.example.net/?retryWrites=true&w=majority"
        );
        assert_eq!(host_of(url), "cluster0.example.net");
    }

    #[test]
    fn redaction_covers_passwords_in_query_options() {
        let shown = redact_url("mongodb://h:1/?tlsCertificateKeyFilePassword=topsecret&tls=true");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(shown.contains("tls=true"));
    }

    #[test]
    fn a_password_containing_at_signs_is_still_hidden() {
        let url = "mongodb://u:p@ss@host:27017/db";
        assert!(!redact_url(url).contains("p@ss"));
        assert_eq!(host_of(url), "host:27017");
        assert_eq!(password_of(url).as_deref(), Some("p@ss"));
    }

    #[test]
    fn malformed_connection_strings_are_named() {
        for (url, needle) in [
            ("localhost:27017", "must start with"),
            ("mongodb://", "no host"),
            ("mongodb://host:99999", "not a valid port"),
            ("mongodb://host:abc", "not a valid port"),
            ("mongodb://a,,b", "empty host"),
        ] {
            let err = check_url("cloud", url).expect_err(url);
            assert!(err.to_string().contains(needle), "{url}: {err}");
        }
        check_url("local", "mongodb://127.0.0.1:27017/?directConnection=true").unwrap();
        check_url("local", "mongodb://[::1]:27017").unwrap();
    }

    #[test]
    fn settings_use_defaults_and_treat_blank_as_missing() {
        let s = Settings::from_lookup(|k| (k == "MONGODB_CLOUD_URL").then(|| "  ".to_string()));
        assert_eq!(s.local_url, DEFAULT_LOCAL_URL);
        assert_eq!(s.remote_url, None);
        assert_eq!(s.database, DEFAULT_DATABASE);
        assert!(validate_database_name("temple db").is_err());
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let s = Settings {
            local_url: "mongodb://a:hunter22@h".into(),
            remote_url: Some("mongodb://b:swordfish@h".into()),
            database: "db".into(),
        };
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("hunter22") && !dbg.contains("swordfish"),
            "{dbg}"
        );
        assert_eq!(scrub("x swordfish y", &s.secrets()), "x **** y");
    }
}
