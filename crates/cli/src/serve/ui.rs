//! The web UI at `/`: the desktop app's screens, for a browser on another office PC. The
//! built UI (`ui/dist`) is embedded in the binary by `build.rs`; the UI itself needs no token
//! (it holds nothing secret) and asks the person for the API token, which every `/api/sync/`
//! request still needs.
//!
//! A path that names no file and looks like a page (no extension) gets `index.html`, so a
//! bookmarked or reloaded address still opens the app; a missing asset is a plain 404.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

include!(concat!(env!("OUT_DIR"), "/ui_files.rs"));

/// The security headers of every UI answer. The policy allows what the built UI uses and
/// nothing else: its own scripts, styles and images (small images are inlined as `data:`),
/// and requests to this server. It keeps a script injected through some displayed value from
/// running, and so from reading the token kept in the browser.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Whether this binary was built with the UI.
pub fn built() -> bool {
    !FILES.is_empty()
}

/// `GET`/`HEAD` of anything outside `/api/`.
pub async fn serve(method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut res = ApiError::method_not_allowed(method.as_str(), uri.path()).into_response();
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    let path = uri.path().trim_start_matches('/');
    let (status, name, bytes) = match lookup(path) {
        Some(found) => found,
        None if FILES.is_empty() => (StatusCode::NOT_FOUND, "index.html", NOT_BUILT.as_bytes()),
        None => (StatusCode::NOT_FOUND, "404.txt", &b"Not found\n"[..]),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(bytes)
    };
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    // Vite names assets after their contents: they never change. The page does, with each
    // new build, so it is always checked.
    let cache = if name.starts_with("assets/") && status.is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    res
}

/// The file to answer `path` (relative to `/`) with.
fn lookup(path: &str) -> Option<(StatusCode, &'static str, &'static [u8])> {
    let file = |name: &str| {
        FILES
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| FILES[i])
    };
    let wanted = if path.is_empty() { "index.html" } else { path };
    if let Some((name, bytes)) = file(wanted) {
        return Some((StatusCode::OK, name, bytes));
    }
    // A page address of the app (no extension in the last segment): the app, which shows the
    // screen its address names.
    let last = path.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return None;
    }
    file("index.html").map(|(name, bytes)| (StatusCode::OK, name, bytes))
}

fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// What `/` says when this binary was built without the UI.
const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>TempleSync: the screens are not built</title></head>
<body>
<h1>TempleSync</h1>
<p>This copy of <code>templesync</code> was built without its screens, so there is nothing to
show here. The API at <code>/api/sync/</code> works as usual.</p>
<p>To build the screens into it, in the TempleSync source folder run:</p>
<pre>npm --prefix ui ci
npm --prefix ui run build
cargo build --release --bin templesync</pre>
<p>then start <code>templesync serve</code> again.</p>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("assets/index-abc.CSS"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("assets/icon-x.png"), "image/png");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }

    #[test]
    fn page_addresses_open_the_app_and_missing_files_do_not() {
        if FILES.is_empty() {
            // Built without ui/dist: nothing is found, and `/` explains (checked by serve()).
            assert!(lookup("").is_none());
            return;
        }
        let index = lookup("").expect("the index");
        assert_eq!(index.1, "index.html");
        assert_eq!(lookup("conflicts").map(|f| f.1), Some("index.html"));
        assert_eq!(lookup("some/page").map(|f| f.1), Some("index.html"));
        assert!(lookup("assets/gone-123.js").is_none());
        assert!(lookup("favicon.ico").is_none());
        for (name, _) in FILES {
            assert_eq!(lookup(name).map(|f| f.1), Some(*name), "{name}");
        }
    }

    #[test]
    fn the_embedded_table_is_sorted_for_the_binary_search() {
        assert!(FILES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
