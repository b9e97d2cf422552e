//! The API token: where it comes from, how it is made the first time, and how a presented one
//! is checked.
//!
//! `TEMPLESYNC_API_TOKEN` wins when set; otherwise the token file (`--token-file`, else
//! `api-token` in TempleSync's settings folder, see [`default_path`]), which is
//! created on the first start with 32 random bytes, readable by its owner only. The token is
//! never printed or logged; only the file's path is.

use std::fs;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rand::RngCore;
use templesync_engine::Places;

pub const ENV_VAR: &str = "TEMPLESYNC_API_TOKEN";

/// The expected token, kept only as its hash.
pub struct ApiToken {
    hash: blake3::Hash,
}

/// Where the token came from, for the startup message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Env,
    File(PathBuf),
    /// Made on this start and written to this file.
    Created(PathBuf),
}

impl ApiToken {
    fn new(token: &str) -> ApiToken {
        ApiToken {
            hash: blake3::hash(token.as_bytes()),
        }
    }

    /// Whether `presented` is the token. Compares the hashes, whose `==` is constant-time
    /// (blake3 documents it), so neither the token's content nor its length leaks through
    /// timing.
    pub fn matches(&self, presented: &str) -> bool {
        blake3::hash(presented.as_bytes()) == self.hash
    }
}

/// `api-token` in TempleSync's settings folder ([`Places`]): `$XDG_CONFIG_HOME/templesync`
/// on Linux, the roaming application data on Windows, Application Support on macOS.
pub fn default_path() -> anyhow::Result<PathBuf> {
    let places =
        Places::of_this_user().context("pass --token-file PATH or set TEMPLESYNC_API_TOKEN")?;
    Ok(places.config.join("api-token"))
}

/// The token, from the environment or the token file, creating the file when there is none.
pub fn load(
    token_file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<(ApiToken, Source)> {
    if let Some(t) = env(ENV_VAR).map(|t| t.trim().to_string())
        && !t.is_empty()
    {
        check_usable(&t).with_context(|| format!("{ENV_VAR} is not usable"))?;
        return Ok((ApiToken::new(&t), Source::Env));
    }
    let path = match token_file {
        Some(p) => p.to_path_buf(),
        None => default_path()?,
    };
    match read(&path)? {
        Some(t) => Ok((ApiToken::new(&t), Source::File(path))),
        None => match create(&path)? {
            Some(t) => Ok((ApiToken::new(&t), Source::Created(path))),
            // Another process created it between our look and our write: use theirs.
            None => {
                let t = read(&path)?.with_context(|| {
                    format!("{} disappeared while it was being read", path.display())
                })?;
                Ok((ApiToken::new(&t), Source::File(path)))
            }
        },
    }
}

fn read(path: &Path) -> anyhow::Result<Option<String>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let token = text.trim();
    if token.is_empty() {
        bail!(
            "the API token file {} is empty: delete it to have a new token made, or write a token in it",
            path.display()
        );
    }
    check_usable(token)
        .with_context(|| format!("the token in {} is not usable", path.display()))?;
    warn_if_readable_by_others(path);
    Ok(Some(token.to_string()))
}

/// A token must fit in an `Authorization` header as typed: visible ASCII, no spaces.
fn check_usable(token: &str) -> anyhow::Result<()> {
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        bail!("a token may hold only visible ASCII characters, without spaces");
    }
    Ok(())
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "the API token file can be read by other users of this computer: run `chmod 600 {}`",
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Makes a new token and writes it to `path` (owner-only), or `None` when the file appeared
/// meanwhile.
fn create(path: &Path) -> anyhow::Result<Option<String>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();

    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(format!("{token}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn only_the_exact_token_matches() {
        let t = ApiToken::new("s3cret");
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre"), "a prefix is not the token");
        assert!(!t.matches("s3cret2"));
        assert!(!t.matches(""));
    }

    #[test]
    fn the_environment_wins_and_a_blank_one_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        let (t, src) = load(Some(&file), env_of(&[(ENV_VAR, " abc ")])).unwrap();
        assert_eq!(src, Source::Env);
        assert!(t.matches("abc"));
        assert!(
            !file.exists(),
            "no file is made when the environment has the token"
        );

        let (_, src) = load(Some(&file), env_of(&[(ENV_VAR, "  ")])).unwrap();
        assert_eq!(src, Source::Created(file.clone()));
    }

    #[cfg(unix)]
    #[test]
    fn a_made_token_is_owner_only_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("conf").join("templesync").join("api-token");
        let (first, src) = load(Some(&file), env_of(&[])).unwrap();
        assert_eq!(src, Source::Created(file.clone()));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
        let written = fs::read_to_string(&file).unwrap();
        assert_eq!(written.trim().len(), 64, "32 random bytes in hex");
        assert!(first.matches(written.trim()));

        let (again, src) = load(Some(&file), env_of(&[])).unwrap();
        assert_eq!(src, Source::File(file.clone()));
        assert!(again.matches(written.trim()), "the next start reuses it");
    }

    #[test]
    fn an_empty_or_unsendable_token_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        fs::write(&file, "\n").unwrap();
        let err = load(Some(&file), env_of(&[])).err().unwrap();
        assert!(format!("{err:#}").contains("is empty"), "{err:#}");
        fs::write(&file, "two words").unwrap();
        assert!(load(Some(&file), env_of(&[])).is_err());
    }
}
