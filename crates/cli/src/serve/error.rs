//! Errors over HTTP: `{ "code", "message" }` with a status a client can act on. `code` is the
//! engine's [`Error::code`] for engine errors, or one of HTTP's own below; clients branch on
//! it, never on the message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use templesync_engine::{Error, ErrorKind};

/// The codes of the errors that come from HTTP itself rather than from the engine.
pub mod codes {
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const INTERNAL: &str = "internal";
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The `WWW-Authenticate` challenge of a 401.
    challenge: Option<&'static str>,
}

/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
// Named `Error` in the OpenAPI document, as the original API's clients know it.
#[schema(as = Error)]
pub struct ErrorAnswer<'a> {
    /// Stable and machine-readable: branch on this, never on the message. The engine's codes
    /// (invalid_config, unknown_strategy, invalid_resolution, unknown_collection,
    /// conflict_not_found, conflict_already_resolved, sync_in_progress, remote_not_configured,
    /// remote_unreachable, local_unreachable, interrupted, database_error) and HTTP's own
    /// (invalid_request, unauthorized, not_found, method_not_allowed, payload_too_large, internal)
    code: &'a str,
    /// For people; never holds a password
    message: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            challenge: None,
        }
    }

    /// 400 for input that is wrong before the engine sees it, naming the field, as the
    /// engine's own `invalid_request` does.
    pub fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
        ApiError::from(Error::InvalidRequest {
            field: field.to_string(),
            reason: reason.to_string(),
        })
    }

    /// Unauthorized (401), with the challenge of RFC 6750: plain `Bearer` when no token was
    /// sent, `Bearer error="invalid_token"` when a wrong one was.
    pub fn unauthorized(message: impl Into<String>, challenge: &'static str) -> ApiError {
        ApiError {
            challenge: Some(challenge),
            ..ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message)
        }
    }

    pub fn no_such_route(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("There is no {path}: the API is described at /api/openapi.json"),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
            format!("{path} does not take {method}: the Allow header lists what it takes"),
        )
    }

    pub fn too_large() -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::PAYLOAD_TOO_LARGE,
            format!(
                "The request body is larger than {} KiB",
                super::MAX_BODY_BYTES / 1024
            ),
        )
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, message)
    }
}

/// The status of each kind of engine error: the one place HTTP maps [`ErrorKind`]. A setting
/// to fix (`config`, `credentials`) is 503: the request was right and the server cannot serve
/// it until whoever runs it fixes its settings; 401 is kept for the API token.
pub fn status_of(e: &Error) -> StatusCode {
    match e.kind() {
        ErrorKind::Input => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Busy | ErrorKind::Refused => StatusCode::CONFLICT,
        ErrorKind::Config | ErrorKind::Credentials | ErrorKind::Unavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        // The engine scrubs passwords out of its messages, and its messages are written for
        // people: they are passed on as they are.
        ApiError::new(status_of(&e), e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), code = self.code, message = %self.message, "request failed");
        }
        let body = serde_json::to_vec(&ErrorAnswer {
            code: self.code,
            message: &self.message,
        })
        .unwrap_or_default();
        let mut res = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(challenge) = self.challenge {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_engine_error_gets_the_status_a_client_can_act_on() {
        let cases = [
            (Error::RemoteNotConfigured, 503),
            (
                Error::RemoteUnreachable {
                    host: "h".into(),
                    reason: "r".into(),
                },
                503,
            ),
            (
                Error::SyncInProgress {
                    holder: String::new(),
                },
                409,
            ),
            (
                Error::ConflictAlreadyResolved {
                    id: "x".into(),
                    how: "keep_local".into(),
                },
                409,
            ),
            (Error::ConflictNotFound { id: "x".into() }, 404),
            (
                Error::AuthenticationFailed {
                    side: templesync_engine::error::Side::Remote,
                    host: "h".into(),
                    setting: "MONGODB_CLOUD_URL",
                },
                503,
            ),
            (
                Error::InvalidConnectionString {
                    which: "cloud",
                    url: "u".into(),
                    reason: "r".into(),
                },
                503,
            ),
            (Error::UnknownStrategy("s".into()), 400),
            (
                Error::InvalidConfig {
                    field: "batchSize".into(),
                    reason: "r".into(),
                },
                400,
            ),
            (
                Error::Database {
                    context: "c".into(),
                    message: "m".into(),
                    transient: false,
                    network: false,
                    side: templesync_engine::error::Side::Local,
                },
                500,
            ),
        ];
        for (e, status) in cases {
            assert_eq!(status_of(&e).as_u16(), status, "{e}");
        }
    }

    #[test]
    fn invalid_input_names_the_field_like_the_engine_does() {
        let e = ApiError::invalid("limit", "expected 1 to 1000");
        assert_eq!(e.message, "Invalid value for limit: expected 1 to 1000");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
