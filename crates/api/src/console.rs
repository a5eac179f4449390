//! The web console's static files: `GET /console` (and `/console/`) answers its page,
//! `GET /console/assets/<file>` its scripts and style sheet, all compiled into the binary
//! from `src/console/` (no build step, no CDN, nothing read from disk at run time).
//!
//! The console is a client of the public API only: the page signs every request with
//! SigV4 in the browser, with the key the user typed, and calls the same AWS operations
//! (and `/iotjobs-api/whoami`, `/iotjobs-api/audit`) as the CLI and the SDKs. So this
//! module must serve no data and no private API: its answers are the same bytes for
//! everyone, served before authentication like `/health` (GET and HEAD only; other
//! methods on these paths go on to authentication and routing like any request). Each
//! answer carries a Content-Security-Policy that allows the page nothing but its own
//! files and its own origin's API.
//!
//! Uses no other module of the crate.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// The console's page.
pub const CONSOLE_PATH: &str = "/console";

/// Where its files are.
const ASSETS_PREFIX: &str = "/console/assets/";

/// Sent with every console answer: only this origin's scripts, styles and API; inline
/// images only as data URLs; never in a frame.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

const INDEX_HTML: &[u8] = include_bytes!("console/index.html");

/// The files under `/console/assets/`: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("console/assets/console.js"),
    ),
    (
        "sigv4.js",
        "text/javascript; charset=utf-8",
        include_bytes!("console/assets/sigv4.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("console/assets/console.css"),
    ),
];

/// Whether `path` is the console's: its page or anything under `/console/`.
pub fn is_console_path(path: &str) -> bool {
    path == CONSOLE_PATH || path.starts_with("/console/")
}

/// The content type and bytes served at `path`, or `None` (404) for a console path
/// that names no file.
fn file(path: &str) -> Option<(&'static str, &'static [u8])> {
    if path == CONSOLE_PATH || path == "/console/" || path == "/console/index.html" {
        return Some(("text/html; charset=utf-8", INDEX_HTML));
    }
    let name = path.strip_prefix(ASSETS_PREFIX)?;
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, ct, bytes)| (*ct, *bytes))
}

/// The answer to a GET or HEAD of `path`, or `None` when `path` is not the console's.
/// (Hyper sends no body in answer to HEAD, but the headers are the same.)
pub fn respond(path: &str) -> Option<Response> {
    if !is_console_path(path) {
        return None;
    }
    let (status, content_type, body) = match file(path) {
        Some((ct, bytes)) => (StatusCode::OK, ct, Body::from(bytes)),
        None => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            Body::from(format!("No console file at {path}\n")),
        ),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidate every time: an upgraded server must never run yesterday's script.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_found_and_nothing_else() {
        for path in ["/console", "/console/", "/console/index.html"] {
            assert_eq!(file(path).unwrap().0, "text/html; charset=utf-8", "{path}");
        }
        assert!(
            file("/console/assets/console.js")
                .unwrap()
                .0
                .starts_with("text/javascript")
        );
        assert!(
            file("/console/assets/sigv4.js")
                .unwrap()
                .0
                .starts_with("text/javascript")
        );
        assert!(
            file("/console/assets/console.css")
                .unwrap()
                .0
                .starts_with("text/css")
        );
        for path in [
            "/console/assets/",
            "/console/assets/nope.js",
            "/console/assets/../index.html",
            "/console/assets/console.js/",
            "/console/other",
        ] {
            assert!(file(path).is_none(), "{path}");
            assert!(is_console_path(path), "{path}");
        }
        for path in ["/consoles", "/", "/jobs", "/iotjobs-api/whoami"] {
            assert!(!is_console_path(path), "{path}");
            assert!(respond(path).is_none(), "{path}");
        }
    }

    #[test]
    fn the_page_loads_only_its_own_files() {
        let html = std::str::from_utf8(INDEX_HTML).unwrap();
        // Every script and style sheet the page names is served, and nothing is
        // fetched from elsewhere (no inline script either: the policy forbids it).
        for (name, _, _) in ASSETS {
            assert!(html.contains(&format!("assets/{name}")), "{name}");
        }
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!html.contains("<script>") && !html.contains(" style="));
        for (name, _, bytes) in ASSETS {
            let text = std::str::from_utf8(bytes).unwrap();
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{name} names another origin"
            );
        }
    }
}
