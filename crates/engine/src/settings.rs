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

    /// Every form of the connection strings' passwords, for a front end to remove from what
    /// it writes.
    pub fn passwords(&self) -> Vec<String> {
        self.secrets()
    }

    /// The passwords in the connection strings: scrubbed from every message the engine emits.
    pub(crate) fn secrets(&self) -> Vec<String> {
        [Some(&self.local_url), self.remote_url.as_ref()]
            .into_iter()
            .flatten()
            .flat_map(|u| secrets_of(u))
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
    let p = parts(rest);
    let bad = p
        .userinfo
        .and_then(|u| u.split_once(':'))
        .map(|(_, pw)| unencoded(pw))
        .unwrap_or_default();
    if !bad.is_empty() {
        // The driver would cut the address at it and quote a piece of the password.
        let list =
            |f: fn(char) -> String| bad.iter().map(|c| f(*c)).collect::<Vec<_>>().join(" and ");
        return Err(invalid(&format!(
            "the password holds {}, which a connection string must hold written as {}: change \
             {} in the password part and try again",
            list(|c| format!("'{c}'")),
            list(|c| format!("%{:02X}", c as u32)),
            if bad.len() == 1 { "it" } else { "them" },
        )));
    }
    let hosts = p.hosts;
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

/// A connection string's parts after the scheme: the user info (if any), the host list, and
/// the rest (path and options). People paste Atlas passwords unencoded, and those may hold
/// `/`, `?`, `@` or `:`: the user info ends at the last `@` that a host list follows, not at
/// the first `/` or `?`. When in doubt, more is taken for the user info, so that a password
/// is never shown as if it were a host or a path.
struct Parts<'a> {
    userinfo: Option<&'a str>,
    hosts: &'a str,
    tail: &'a str,
}

fn parts(rest: &str) -> Parts<'_> {
    let end_of_hosts = |from: usize| {
        rest[from..]
            .find(['/', '?'])
            .map_or(rest.len(), |i| from + i)
    };
    let looks_like_hosts = |h: &str| {
        !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_:,[]%".contains(c))
    };
    let ats: Vec<usize> = rest.match_indices('@').map(|(i, _)| i).collect();
    let at = ats
        .iter()
        .rev()
        .find(|&&i| looks_like_hosts(&rest[i + 1..end_of_hosts(i + 1)]))
        .or(ats.last());
    match at {
        Some(&i) => {
            let end = end_of_hosts(i + 1);
            Parts {
                userinfo: Some(&rest[..i]),
                hosts: &rest[i + 1..end],
                tail: &rest[end..],
            }
        }
        None => {
            let end = end_of_hosts(0);
            Parts {
                userinfo: None,
                hosts: &rest[..end],
                tail: &rest[end..],
            }
        }
    }
}

/// The characters of a password that a connection string cannot hold as they are (as the
/// driver sees it), each once, in order.
fn unencoded(password: &str) -> Vec<char> {
    let b = password.as_bytes();
    let mut bad = Vec::new();
    for (i, c) in password.char_indices() {
        let reserved = match c {
            '/' | '?' | '@' | ':' | '#' | '[' | ']' => true,
            '%' => {
                !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            }
            _ => false,
        };
        if reserved && !bad.contains(&c) {
            bad.push(c);
        }
    }
    bad
}

/// Every form of a connection string's password that a message could quote.
pub(crate) fn secrets_of(url: &str) -> Vec<String> {
    let Some(p) = password_of(url).filter(|p| !p.is_empty()) else {
        return Vec::new();
    };
    let decoded = percent_decode(&p);
    let encoded = percent_encode(&decoded);
    let mut all = vec![p, decoded, encoded];
    all.sort();
    all.dedup();
    all
}

fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let (_, password) = parts(rest).userinfo?.split_once(':')?;
    Some(password.to_string())
}

/// The connection string's password taken out: the string with `****` in its place (all
/// else as it was), and the password as written in it. None when it holds no password.
pub fn take_password(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let p = parts(rest);
    let (user, password) = p.userinfo?.split_once(':')?;
    if password.is_empty() {
        return None;
    }
    Some((
        format!("{scheme}://{user}:****@{}{}", p.hosts, p.tail),
        password.to_string(),
    ))
}

/// The reverse of [`take_password`]: `password` (as written in a connection string) put in
/// place of the `****` of `url`'s user info.
pub fn put_password(url: &str, password: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let p = parts(rest);
    let (user, "****") = p.userinfo?.split_once(':')? else {
        return None;
    };
    Some(format!(
        "{scheme}://{user}:{password}@{}{}",
        p.hosts, p.tail
    ))
}

/// The connection string with its password replaced by `****`: safe to log or show.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<not a connection string>".to_string();
    };
    let p = parts(rest);
    // Query options may carry secrets too (e.g. a TLS key password).
    let tail = strip_secret_options(p.tail);
    match p.userinfo {
        Some(userinfo) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') { ":****" } else { "" };
            format!("{scheme}://{user}{masked}@{}{tail}", p.hosts)
        }
        None => format!("{scheme}://{}{tail}", p.hosts),
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
    parts(rest).hosts.to_string()
}

/// What a password keeps as it is when encoded: RFC 3986's unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Replaces every occurrence of a secret in a message, longest first (so that a secret that
/// holds another is hidden whole).
pub(crate) fn scrub(message: &str, secrets: &[String]) -> String {
    let mut out = message.to_string();
    let mut secrets: Vec<&String> = secrets.iter().collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
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
    fn a_password_taken_out_and_put_back_gives_the_same_string() {
        for url in [
            "mongodb+srv://temple:s3cr%2Ft%40pw@cluster0.example.net/?retryWrites=true&tlsCertificateKeyFilePassword=k",
            "mongodb://u:p:w@h1:1,h2:2/db?authSource=admin",
        ] {
            let (masked, pw) = take_password(url).unwrap();
            assert!(masked.contains(":****@"), "{masked}");
            assert!(!masked.contains(&pw), "{masked}");
            assert!(
                masked.ends_with(url.rsplit_once('@').unwrap().1),
                "{masked}"
            );
            assert_eq!(put_password(&masked, &pw).as_deref(), Some(url));
        }
        assert_eq!(take_password("mongodb://h:1/db"), None);
        assert_eq!(take_password("mongodb://user@h:1/db"), None);
        assert_eq!(
            put_password("mongodb://u:pw@h/", "x"),
            None,
            "no mask to fill"
        );
    }

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

    /// Every character that means something in a URL, in raw passwords as people paste them
    /// from Atlas, and percent-encoded as they should be.
    #[test]
    fn passwords_made_of_url_special_characters_are_never_shown() {
        let specials = [
            "/", "?", "@", ":", "#", "%", "&", "=", "+", "[", "]", ",", ";", "$", "!", " ",
        ];
        let mut passwords: Vec<String> =
            specials.iter().map(|c| format!("Pa{c}ss{c}w0rd")).collect();
        passwords.push(specials.concat());
        passwords.push("p/a?s@s:w#o%r&d".into());
        for raw in passwords {
            for pw in [raw.clone(), percent_encode(&raw)] {
                for tail in [
                    "",
                    "/",
                    "/temple_db",
                    "/?retryWrites=true&w=majority",
                    "/db?appName=x",
                ] {
                    let url = format!("mongodb+srv://temple:{pw}@cluster0.example.net{tail}");
                    let shown = redact_url(&url);
                    assert!(!shown.contains(&pw), "{url} shown as {shown}");
                    assert!(
                        shown.contains("cluster0.example.net"),
                        "{url} shown as {shown}"
                    );
                    assert_eq!(host_of(&url), "cluster0.example.net", "{url}");
                    let settings = Settings {
                        local_url: "mongodb://localhost:27017".into(),
                        remote_url: Some(url.clone()),
                        database: "temple_db".into(),
                    };
                    let secrets = settings.secrets();
                    for message in [
                        format!("invalid connection string {url}"),
                        format!("password '{raw}' rejected"),
                        format!("password '{}' rejected", percent_encode(&raw)),
                    ] {
                        let scrubbed = scrub(&message, &secrets);
                        assert!(!scrubbed.contains(&raw), "{message} -> {scrubbed}");
                    }
                    match check_url("cloud", &url) {
                        Err(e) => assert!(!e.to_string().contains(&pw), "{url}: {e}"),
                        Ok(()) => assert!(unencoded(&pw).is_empty(), "{url} is refused"),
                    }
                }
            }
        }
    }

    #[test]
    fn an_unencoded_password_is_refused_naming_the_character_not_the_password() {
        let err = check_url(
            "cloud",
            "mongodb+srv://temple:Pa/ss@cluster0.example.net/db",
        )
        .expect_err("a raw / in the password");
        let text = err.to_string();
        assert!(text.contains("'/'") && text.contains("%2F"), "{text}");
        let two = check_url("cloud", "mongodb://u:a?b/c?@h/db").expect_err("two kinds");
        assert!(
            two.to_string().contains("'?' and '/'") && two.to_string().contains("%3F and %2F"),
            "{two}"
        );
        assert!(!text.contains("Pa/ss") && !text.contains(":Pa"), "{text}");
        check_url(
            "cloud",
            "mongodb+srv://temple:Pa%2Fss@cluster0.example.net/db",
        )
        .expect("encoded is fine");
        assert!(unencoded("100%25sure").is_empty());
        assert_eq!(unencoded("100%sure"), vec!['%']);
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
