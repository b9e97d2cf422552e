//! The one error shape the UI sees: the engine's [`ErrorBody`] (`{ code, message, kind,
//! field }`). The UI branches on `code` or `kind` (the engine's, plus a few of the shell's
//! own), never on `message`.

pub use templesync_engine::ErrorBody as ErrorDto;
use templesync_engine::ErrorKind;

/// The app's own preferences file could not be written.
pub fn not_saved(what: &str, e: impl std::fmt::Display) -> ErrorDto {
    ErrorDto {
        code: "not_saved".to_string(),
        message: format!(
            "Could not save the {what} ({e}). Check that the disk is not full and try again"
        ),
        kind: ErrorKind::Internal,
        field: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use templesync_engine::Error;

    #[test]
    fn engine_errors_keep_their_code_and_kind_and_name_the_field_at_fault() {
        let e = ErrorDto::from(Error::InvalidConfig {
            field: "batchSize".into(),
            reason: "0 is out of range".into(),
        });
        assert_eq!(e.code, "invalid_config");
        assert_eq!(e.kind, ErrorKind::Input);
        assert_eq!(e.field.as_deref(), Some("batchSize"));
        assert!(e.message.contains("out of range"));
        let e = ErrorDto::from(Error::SyncInProgress {
            holder: String::new(),
        });
        assert_eq!(
            (e.code.as_str(), e.kind, e.field),
            ("sync_in_progress", ErrorKind::Busy, None)
        );
    }
}
