//! The engine's one error type. Every variant is something a caller can act on, and its
//! message says what happened and what to do, in words office staff can follow.

use serde::Serialize;

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "Remote database not configured: set MONGODB_CLOUD_URL in the environment or in a .env file"
    )]
    RemoteNotConfigured,

    #[error(
        "Cannot reach the cloud database at {host}: {reason}. Check the internet connection; TempleSync will sync by itself when it is back"
    )]
    RemoteUnreachable { host: String, reason: String },

    #[error(
        "Cannot reach the local database at {host}: {reason}. Check that MongoDB is running on this computer"
    )]
    LocalUnreachable { host: String, reason: String },

    #[error(
        "The {side} database at {host} refused the user name or password: check the connection string ({setting})"
    )]
    AuthenticationFailed {
        side: Side,
        host: String,
        setting: &'static str,
    },

    #[error(
        "The {side} database at {host} presented a certificate this computer does not trust ({reason}): check the tlsCAFile in the connection string ({setting}), or get the server's CA certificate from whoever runs it"
    )]
    CertificateRejected {
        side: Side,
        host: String,
        reason: String,
        setting: &'static str,
    },

    #[error("Invalid connection string for the {which} database ({url}): {reason}")]
    InvalidConnectionString {
        which: &'static str,
        url: String,
        reason: String,
    },

    #[error("Sync is already in progress{holder}: wait for it to finish, then try again")]
    SyncInProgress { holder: String },

    #[error("No conflict with id '{id}'")]
    ConflictNotFound { id: String },

    #[error("Conflict {id} is already resolved ({how})")]
    ConflictAlreadyResolved { id: String, how: String },

    #[error("Invalid value for {field}: {reason}")]
    InvalidConfig { field: String, reason: String },

    /// A parameter of a request (a limit, a count) that is not a setting.
    #[error("Invalid value for {field}: {reason}")]
    InvalidRequest { field: String, reason: String },

    #[error("Cannot resolve conflict {id}: {reason}")]
    InvalidResolution { id: String, reason: String },

    /// A resolution that needs a value typed by a person and came without one. Its own
    /// variant so that each front end can point at its own way of giving it (the CLI's flag,
    /// the screen's field); the code is that of any refused resolution.
    #[error("Cannot resolve conflict {id}: {reason}")]
    ValueNeeded { id: String, reason: &'static str },

    #[error("Unknown strategy '{0}': use one of keep_local, keep_remote, merge, rename_local")]
    UnknownStrategy(String),

    #[error(
        "Unknown collection '{name}': there is no such collection on either side (there are: {known})"
    )]
    UnknownCollection { name: String, known: String },

    #[error("{collection} {id}: {reason}")]
    VersionNotFound {
        collection: String,
        id: String,
        reason: String,
    },

    #[error("No run with id '{id}': `templesync logs` lists the runs with their ids")]
    RunNotFound { id: String },

    #[error("Run {id} is still going: wait for it to end, then undo it")]
    RunStillGoing { id: String },

    #[error("The sync was stopped: {0}")]
    Interrupted(String),

    #[error(
        "{what}. Nothing was synced, so that no document on this computer is deleted or changed on that evidence. Choose one: treat this cloud as new and send this computer's data to it (nothing is deleted on either side), or accept the cloud as it is now (documents it no longer has are removed here)"
    )]
    CloudChanged { what: String },

    /// A file of this computer's own (its pause, its logs, a support file) could not be read
    /// or written.
    #[error("Could not {action} {path}: {reason}. {advice}")]
    LocalFile {
        action: &'static str,
        path: String,
        reason: String,
        advice: &'static str,
    },

    #[error("{context}: {message}")]
    Database {
        context: String,
        message: String,
        transient: bool,
        /// The connection failed (closed, timed out, no server to talk to), as opposed to
        /// the server answering with an error.
        network: bool,
        side: Side,
    },
}

/// What kind of trouble an error is, defined once: each front end maps the kind, once, to
/// what it shows (an exit code, an HTTP status, a screen). See `docs/operations.md`.
///
/// | kind          | exit | HTTP | meaning                                                   |
/// |---------------|------|------|-----------------------------------------------------------|
/// | `input`       | 2    | 400  | what was asked is wrong: ask differently                  |
/// | `not_found`   | 2    | 404  | what was asked about does not exist                       |
/// | `busy`        | 1    | 409  | not now: a run is going on; try again when it ends        |
/// | `refused`     | 2    | 409  | the state refuses it until a person acts (already decided)|
/// | `config`      | 2    | 503  | a setting of this installation is wrong: fix the setting  |
/// | `credentials` | 2    | 503  | a database refused the user name or password: fix them    |
/// | `unavailable` | 1    | 503  | a database cannot be reached now; it may work later       |
/// | `internal`    | 1    | 500  | unexpected                                                |
///
/// Over HTTP, `config` and `credentials` are 503, not 400 or 401: the request is right, the
/// server cannot serve it until whoever runs TempleSync fixes its settings, and 401 belongs to
/// the API token (the web screens ask for the token again on 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Input,
    NotFound,
    Busy,
    Refused,
    Config,
    Credentials,
    Unavailable,
    Internal,
}

impl ErrorKind {
    /// Whether the person must change something (a value, a setting) before trying again.
    pub fn is_for_the_user_to_fix(self) -> bool {
        matches!(
            self,
            ErrorKind::Input
                | ErrorKind::NotFound
                | ErrorKind::Refused
                | ErrorKind::Config
                | ErrorKind::Credentials
        )
    }
}

/// An error as it crosses IPC and HTTP: `{ code, message }`, plus its kind and the field at
/// fault where there is one. Front ends branch on `code` or `kind`, never on `message`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A stable code such as `remote_unreachable` or `invalid_config`.
    pub code: String,
    /// What happened and what to do, in plain words (never a password).
    pub message: String,
    pub kind: ErrorKind,
    /// The setting or parameter at fault (to show the message next to it).
    pub field: Option<String>,
}

impl From<&Error> for ErrorBody {
    fn from(e: &Error) -> ErrorBody {
        ErrorBody {
            code: e.code().to_string(),
            message: e.to_string(),
            kind: e.kind(),
            field: e.field().map(str::to_string),
        }
    }
}

impl From<Error> for ErrorBody {
    fn from(e: Error) -> ErrorBody {
        ErrorBody::from(&e)
    }
}

/// Which of the two databases an operation talked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Side {
    Local,
    Remote,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Local => "local",
            Side::Remote => "cloud",
        })
    }
}

impl Error {
    /// A stable, machine-readable code for IPC and HTTP (`{ code, message }`); front ends branch
    /// on this, never on the message text.
    pub fn code(&self) -> &'static str {
        match self {
            Error::RemoteNotConfigured => "remote_not_configured",
            Error::RemoteUnreachable { .. } => "remote_unreachable",
            Error::LocalUnreachable { .. } => "local_unreachable",
            Error::InvalidConnectionString { .. } => "invalid_connection_string",
            Error::AuthenticationFailed { .. } => "authentication_failed",
            Error::CertificateRejected { .. } => "certificate_rejected",
            Error::SyncInProgress { .. } => "sync_in_progress",
            Error::ConflictNotFound { .. } => "conflict_not_found",
            Error::ConflictAlreadyResolved { .. } => "conflict_already_resolved",
            Error::InvalidConfig { .. } => "invalid_config",
            Error::InvalidRequest { .. } => "invalid_request",
            Error::InvalidResolution { .. } | Error::ValueNeeded { .. } => "invalid_resolution",
            Error::UnknownStrategy(_) => "unknown_strategy",
            Error::UnknownCollection { .. } => "unknown_collection",
            Error::VersionNotFound { .. } => "version_not_found",
            Error::RunNotFound { .. } => "run_not_found",
            Error::RunStillGoing { .. } => "run_still_going",
            Error::Interrupted(_) => "interrupted",
            Error::CloudChanged { .. } => "cloud_changed",
            Error::LocalFile { .. } => "local_file",
            Error::Database { .. } => "database_error",
        }
    }

    /// What kind of trouble this is. Exhaustive on purpose: a new error needs a decision
    /// about what every front end makes of it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidConfig { .. }
            | Error::InvalidRequest { .. }
            | Error::InvalidResolution { .. }
            | Error::ValueNeeded { .. }
            | Error::UnknownStrategy(_)
            | Error::UnknownCollection { .. } => ErrorKind::Input,
            Error::ConflictNotFound { .. }
            | Error::VersionNotFound { .. }
            | Error::RunNotFound { .. } => ErrorKind::NotFound,
            Error::SyncInProgress { .. } => ErrorKind::Busy,
            Error::ConflictAlreadyResolved { .. }
            | Error::CloudChanged { .. }
            | Error::RunStillGoing { .. } => ErrorKind::Refused,
            Error::RemoteNotConfigured
            | Error::InvalidConnectionString { .. }
            | Error::CertificateRejected { .. } => ErrorKind::Config,
            Error::AuthenticationFailed { .. } => ErrorKind::Credentials,
            Error::LocalFile { .. } => ErrorKind::Internal,
            Error::RemoteUnreachable { .. }
            | Error::LocalUnreachable { .. }
            | Error::Interrupted(_) => ErrorKind::Unavailable,
            Error::Database { transient, .. } => {
                if *transient {
                    ErrorKind::Unavailable
                } else {
                    ErrorKind::Internal
                }
            }
        }
    }

    /// The setting or parameter at fault, where one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidConfig { field, .. } | Error::InvalidRequest { field, .. } => Some(field),
            Error::ValueNeeded { .. } => Some("value"),
            _ => None,
        }
    }

    /// Whether trying the same operation again may succeed (a dropped connection, a primary
    /// stepping down), as the driver's `RetryableWriteError` label says for single writes.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Database { transient, .. } => *transient,
            Error::RemoteUnreachable { .. } | Error::LocalUnreachable { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn db(side: Side, context: impl Into<String>, err: &mongodb::error::Error) -> Error {
        Error::Database {
            context: context.into(),
            message: describe_driver_error(err),
            transient: is_transient_driver_error(err),
            network: is_network_error(err)
                || matches!(*err.kind, mongodb::error::ErrorKind::ServerSelection { .. }),
            side,
        }
    }
}

/// Server error codes that mean "try again": network, elections, shutdowns, write conflicts.
/// The list follows the drivers' retryable-error specification.
pub(crate) const TRANSIENT_CODES: &[i32] = &[
    6, 7, 63, 89, 91, 112, 134, 150, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
];

pub(crate) fn is_transient_driver_error(err: &mongodb::error::Error) -> bool {
    use mongodb::error::ErrorKind;
    if err.contains_label("RetryableWriteError")
        || err.contains_label("TransientTransactionError")
        || err.contains_label("ResumableChangeStreamError")
        || is_network_error(err)
    {
        return true;
    }
    if let Some(code) = server_code(err)
        && TRANSIENT_CODES.contains(&code)
    {
        return true;
    }
    matches!(
        *err.kind,
        ErrorKind::ConnectionPoolCleared { .. } | ErrorKind::ServerSelection { .. }
    )
}

/// Whether the server refused the credentials.
pub(crate) fn is_auth_error(err: &mongodb::error::Error) -> bool {
    use mongodb::error::ErrorKind;
    matches!(*err.kind, ErrorKind::Authentication { .. })
        || server_code(err) == Some(18)
        || matches!(&*err.kind, ErrorKind::ServerSelection { message, .. } if message.contains("Authentication") || message.contains("SCRAM"))
}

/// The TLS problem, when the server's certificate was refused: the driver reports it inside a
/// server selection timeout, which alone reads as "the server did not answer".
pub(crate) fn certificate_problem(err: &mongodb::error::Error) -> Option<String> {
    let text = err.to_string();
    let lower = text.to_ascii_lowercase();
    let at = [
        "invalid peer certificate",
        "certificate verify failed",
        "certificate",
    ]
    .iter()
    .find_map(|needle| lower.find(needle))?;
    // The driver's wording from there to the end of its sentence.
    let reason: String = text[at..]
        .split([',', '\n', ')'])
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(200)
        .collect();
    Some(reason)
}

/// Whether the connection itself failed (as opposed to the server answering with an error).
pub(crate) fn is_network_error(err: &mongodb::error::Error) -> bool {
    use mongodb::error::ErrorKind;
    matches!(
        *err.kind,
        ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. }
    )
}

/// The server's error code, where the server answered with one (a command error or a write
/// concern error).
pub(crate) fn server_code(err: &mongodb::error::Error) -> Option<i32> {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*err.kind {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        ErrorKind::InsertMany(i) => i.write_concern_error.as_ref().map(|w| w.code),
        _ => None,
    }
}

/// The driver's message, shortened to what helps a person: server selection errors list every
/// server's state, which is long and repeats the address.
pub(crate) fn describe_driver_error(err: &mongodb::error::Error) -> String {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*err.kind {
        ErrorKind::ServerSelection { .. } => "the server did not answer in time".to_string(),
        ErrorKind::DnsResolve { .. } => "its address could not be looked up (DNS)".to_string(),
        ErrorKind::Io(io) => format!("network error ({io})"),
        ErrorKind::Command(c) => format!("{} (code {})", c.message, c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => format!("{} (code {})", w.message, w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => {
            format!("{} (code {})", w.message, w.code)
        }
        ErrorKind::InsertMany(i) => match (&i.write_errors, &i.write_concern_error) {
            (Some(errors), _) if !errors.is_empty() => {
                format!("{} (code {})", errors[0].message, errors[0].code)
            }
            (_, Some(w)) => format!("{} (code {})", w.message, w.code),
            _ => "the server refused the documents".to_string(),
        },
        ErrorKind::InvalidArgument { message, .. } => message.clone(),
        _ => {
            let text = err.to_string();
            // Keep the first line; the rest is driver context a person cannot use.
            text.lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(400)
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_so_front_ends_can_branch_on_them() {
        let all = [
            Error::RemoteNotConfigured,
            Error::RemoteUnreachable {
                host: "h".into(),
                reason: "r".into(),
            },
            Error::LocalUnreachable {
                host: "h".into(),
                reason: "r".into(),
            },
            Error::InvalidConnectionString {
                which: "local",
                url: "u".into(),
                reason: "r".into(),
            },
            Error::AuthenticationFailed {
                side: Side::Remote,
                host: "h".into(),
                setting: "MONGODB_CLOUD_URL",
            },
            Error::CertificateRejected {
                side: Side::Remote,
                host: "h".into(),
                reason: "r".into(),
                setting: "MONGODB_CLOUD_URL",
            },
            Error::SyncInProgress { holder: "".into() },
            Error::ConflictNotFound { id: "x".into() },
            Error::ConflictAlreadyResolved {
                id: "x".into(),
                how: "y".into(),
            },
            Error::InvalidConfig {
                field: "f".into(),
                reason: "r".into(),
            },
            Error::InvalidRequest {
                field: "f".into(),
                reason: "r".into(),
            },
            Error::InvalidResolution {
                id: "x".into(),
                reason: "r".into(),
            },
            Error::UnknownStrategy("s".into()),
            Error::UnknownCollection {
                name: "c".into(),
                known: String::new(),
            },
            Error::Interrupted("i".into()),
            Error::CloudChanged { what: "w".into() },
            Error::Database {
                context: "c".into(),
                message: "m".into(),
                transient: false,
                network: false,
                side: Side::Local,
            },
        ];
        let mut codes: Vec<_> = all.iter().map(Error::code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len(), "each variant needs its own code");
    }

    #[test]
    fn remote_not_configured_message_gives_the_hint() {
        let msg = Error::RemoteNotConfigured.to_string();
        assert!(msg.starts_with("Remote database not configured"));
        assert!(
            msg.contains("MONGODB_CLOUD_URL"),
            "the message must say what to set"
        );
    }

    #[test]
    fn engine_messages_name_no_command_line_flag_because_every_front_end_shows_them() {
        for e in [
            Error::RemoteNotConfigured,
            Error::ConflictNotFound { id: "x".into() },
        ] {
            let msg = e.to_string();
            assert!(
                !msg.contains("--") && !msg.contains("templesync "),
                "a CLI flag or command in an engine message: {msg}"
            );
        }
    }

    #[test]
    fn settings_to_fix_are_for_the_user_and_a_dropped_connection_is_not() {
        let refused = Error::AuthenticationFailed {
            side: Side::Remote,
            host: "h".into(),
            setting: "MONGODB_CLOUD_URL",
        };
        assert_eq!(refused.kind(), ErrorKind::Credentials);
        assert!(refused.kind().is_for_the_user_to_fix());
        let bad_url = Error::InvalidConnectionString {
            which: "cloud",
            url: "u".into(),
            reason: "r".into(),
        };
        assert_eq!(bad_url.kind(), ErrorKind::Config);
        let offline = Error::RemoteUnreachable {
            host: "h".into(),
            reason: "r".into(),
        };
        assert_eq!(offline.kind(), ErrorKind::Unavailable);
        assert!(!offline.kind().is_for_the_user_to_fix());
    }
}
