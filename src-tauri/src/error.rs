//! The one error shape the UI sees: `{ code, message, field }`. The UI branches on `code`
//! (the engine's stable codes, plus a few of the shell's own), never on `message`.

use serde::Serialize;
use templesync_engine::Error;

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct ErrorDto {
    /// A stable code such as `remote_unreachable` or `invalid_config`.
    pub code: String,
    /// What happened and what to do, in plain words (never a password).
    pub message: String,
    /// The setting at fault, for `invalid_config` (to show the message next to it).
    pub field: Option<String>,
}

impl ErrorDto {
    pub fn new(code: &str, message: impl Into<String>) -> ErrorDto {
        ErrorDto {
            code: code.to_string(),
            message: message.into(),
            field: None,
        }
    }

    /// The app's own preferences file could not be written.
    pub fn not_saved(what: &str, e: impl std::fmt::Display) -> ErrorDto {
        ErrorDto::new(
            "not_saved",
            format!(
                "Could not save the {what} ({e}). Check that the disk is not full and try again"
            ),
        )
    }
}

impl From<Error> for ErrorDto {
    fn from(e: Error) -> ErrorDto {
        let field = match &e {
            Error::InvalidConfig { field, .. } => Some(field.clone()),
            _ => None,
        };
        ErrorDto {
            code: e.code().to_string(),
            message: e.to_string(),
            field,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_keep_their_code_and_name_the_field_at_fault() {
        let e = ErrorDto::from(Error::InvalidConfig {
            field: "batchSize".into(),
            reason: "0 is out of range".into(),
        });
        assert_eq!(e.code, "invalid_config");
        assert_eq!(e.field.as_deref(), Some("batchSize"));
        assert!(e.message.contains("out of range"));
        let e = ErrorDto::from(Error::SyncInProgress {
            holder: String::new(),
        });
        assert_eq!((e.code.as_str(), e.field), ("sync_in_progress", None));
    }
}
