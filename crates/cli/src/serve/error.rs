//! Errors over HTTP: `{ "code", "message" }` with a status a client can act on. `code` is the
//! engine's [`Error::code`] for engine errors, or one of HTTP's own below; clients branch on
//! it, never on the message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use templesync_engine::Error;

/// The codes of the errors that come from HTTP itself rather than from the engine.
pub mod codes {
    pub const INVALID_REQUEST: &str = "invalid_request";
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

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
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

    /// 400 for input that is wrong before the engine sees it, naming the field, in the words
    /// of the engine's `InvalidConfig` ("Invalid value for FIELD: ...").
    pub fn invalid(field: &str, reason: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_REQUEST,
            format!("Invalid value for {field}: {reason}"),
        )
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

/// The status of each engine error. Exhaustive on purpose: a new kind of error needs a
/// decision about what HTTP clients see.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::InvalidConfig { .. }
        | Error::InvalidResolution { .. }
        | Error::UnknownStrategy(_)
        | Error::UnknownCollection { .. } => StatusCode::BAD_REQUEST,
        Error::ConflictNotFound { .. } => StatusCode::NOT_FOUND,
        Error::SyncInProgress { .. }
        | Error::ConflictAlreadyResolved { .. }
        | Error::CloudChanged { .. } => {
            StatusCode::CONFLICT
        }
        Error::RemoteNotConfigured
        | Error::RemoteUnreachable { .. }
        | Error::LocalUnreachable { .. }
        // The server is up but refuses our credentials: a configuration problem of the
        // office server, not of the request.
        | Error::AuthenticationFailed { .. }
        | Error::CertificateRejected { .. }
        | Error::Interrupted(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Database { transient, .. } => {
            if *transient {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
        // The engine was opened, so its connection strings were valid; seeing this means a bug.
        Error::InvalidConnectionString { .. } => StatusCode::INTERNAL_SERVER_ERROR,
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
        let body = serde_json::to_vec(&Body {
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
