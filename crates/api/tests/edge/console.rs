//! The web console's two server-side pieces, through the whole router as a request
//! arrives (no socket): its static files, served before authentication with their
//! content types and security headers, and `GET /iotjobs-api/whoami`, signed like every
//! request and answered to every role.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::body::Body;
use axum::http::{Request, Response, header};
use iotjobs_api::app::{AccountConfig, App};
use iotjobs_api::auth::{AccessKey, Auth, Keyring, Role};
use iotjobs_api::server::{BodyLimits, Service, router};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::SystemTime;
use tower_service::Service as _;

const HOST: &str = "127.0.0.1:8080";
const CSP: &str = "default-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

/// The router of a server with an admin, an operator and a device key in account
/// 111111111111 (the temp dir holds its database).
fn server() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = iotjobs_store::SqliteStore::open(
        &dir.path().join("db.sqlite"),
        iotjobs_store::SqliteOptions::default(),
    )
    .unwrap();
    let config = AccountConfig {
        account_id: "111111111111".into(),
        ..AccountConfig::default()
    };
    let app = Arc::new(App::new(store, Arc::new(iotjobs_core::SystemClock), config));
    let mut keys = Keyring::default();
    for (id, role) in [
        ("AKADMIN", Role::Admin),
        ("AKOP", Role::Operator),
        (
            "AKDEV",
            Role::Device {
                thing_name: "thing-a".into(),
            },
        ),
    ] {
        keys.insert(AccessKey {
            access_key_id: id.into(),
            secret_access_key: format!("secret-{id}"),
            session_token: None,
            account_id: "111111111111".into(),
            role,
        })
        .unwrap();
    }
    let auth = Auth::SigV4 {
        keys,
        region: "us-east-1".into(),
    };
    let service = Arc::new(Service::new(vec![app], auth, BodyLimits::default()));
    (router(service), dir)
}

/// One request through the router: status, response, body text.
async fn call(router: &mut axum::Router, req: Request<Body>) -> (u16, Response<Body>, String) {
    let resp = router.call(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        parts.status.as_u16(),
        Response::from_parts(parts, Body::empty()),
        text,
    )
}

fn unsigned(method: &str, path: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", HOST)
        .body(Body::empty())
        .unwrap()
}

/// A GET of `path` signed by `key` for `service`, as the console (and the SDK) sign it.
fn signed_get(key: &str, path: &str, service: &str) -> Request<Body> {
    let identity: Identity =
        Credentials::new(key, format!("secret-{key}"), None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let uri = format!("http://{HOST}{path}");
    let signable = SignableRequest::new(
        "GET",
        uri.as_str(),
        [("host", HOST)].into_iter(),
        SignableBody::Bytes(b""),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = unsigned("GET", path);
    for (name, value) in instructions.headers() {
        req.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    req
}

fn header<'r>(resp: &'r Response<Body>, name: &str) -> &'r str {
    resp.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn the_console_files_are_served_without_a_signature_with_their_types_and_policy() {
    let (mut router, _dir) = server();
    for (method, path, content_type, contains) in [
        ("GET", "/console", "text/html; charset=utf-8", "<title>"),
        ("GET", "/console/", "text/html; charset=utf-8", "<title>"),
        (
            "GET",
            "/console/assets/console.js",
            "text/javascript; charset=utf-8",
            "from \"./sigv4.js\"",
        ),
        (
            "GET",
            "/console/assets/sigv4.js",
            "text/javascript; charset=utf-8",
            "AWS4-HMAC-SHA256",
        ),
        (
            "GET",
            "/console/assets/console.css",
            "text/css; charset=utf-8",
            "{",
        ),
        (
            "HEAD",
            "/console/assets/sigv4.js",
            "text/javascript; charset=utf-8",
            "",
        ),
    ] {
        let (status, resp, body) = call(&mut router, unsigned(method, path)).await;
        assert_eq!(status, 200, "{method} {path}: {body}");
        assert_eq!(header(&resp, "content-type"), content_type, "{path}");
        assert_eq!(header(&resp, "cache-control"), "no-cache", "{path}");
        assert_eq!(header(&resp, "content-security-policy"), CSP, "{path}");
        assert_eq!(header(&resp, "x-content-type-options"), "nosniff", "{path}");
        assert!(body.contains(contains), "{path}");
    }
    // The page loads its scripts as modules from its own origin.
    let (_, _, html) = call(&mut router, unsigned("GET", "/console")).await;
    assert!(html.contains(r#"<script type="module" src="/console/assets/console.js">"#));

    // Unknown files are 404, with the same headers.
    for path in [
        "/console/assets/nope.js",
        "/console/assets/",
        "/console/assets/%2e%2e/index.html",
        "/console/index.htm",
    ] {
        let (status, resp, _) = call(&mut router, unsigned("GET", path)).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(header(&resp, "content-security-policy"), CSP, "{path}");
        assert_eq!(header(&resp, "x-content-type-options"), "nosniff", "{path}");
    }
    // Only GET and HEAD are static: anything else is an API request like any other, and
    // unsigned it is refused before routing.
    let (status, resp, _) = call(&mut router, unsigned("POST", "/console")).await;
    assert_eq!(status, 403);
    assert_eq!(
        header(&resp, "x-amzn-ErrorType"),
        "MissingAuthenticationTokenException"
    );
    // A path that merely starts like the console's is not the console's.
    let (status, _, _) = call(&mut router, unsigned("GET", "/consoles")).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn whoami_names_the_callers_key_account_and_role() {
    let (mut router, _dir) = server();
    for (key, service, want) in [
        (
            "AKADMIN",
            "iot",
            json!({"accountId": "111111111111", "accessKeyId": "AKADMIN", "role": "admin"}),
        ),
        (
            "AKOP",
            "iot",
            json!({"accountId": "111111111111", "accessKeyId": "AKOP", "role": "operator"}),
        ),
        // A device may ask too, on either plane's signing scope.
        (
            "AKDEV",
            "iot",
            json!({"accountId": "111111111111", "accessKeyId": "AKDEV", "role": "device", "thingName": "thing-a"}),
        ),
        (
            "AKDEV",
            "iot-jobs-data",
            json!({"accountId": "111111111111", "accessKeyId": "AKDEV", "role": "device", "thingName": "thing-a"}),
        ),
    ] {
        let (status, resp, body) =
            call(&mut router, signed_get(key, "/iotjobs-api/whoami", service)).await;
        assert_eq!(status, 200, "{key}: {body}");
        assert_eq!(header(&resp, "content-type"), "application/json");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), want, "{key}");
    }
    // The same device key is still refused the control plane.
    let (status, resp, _) = call(&mut router, signed_get("AKDEV", "/jobs", "iot")).await;
    assert_eq!(
        (status, header(&resp, "x-amzn-ErrorType")),
        (403, "AccessDeniedException")
    );

    // Signed like every request: unsigned, or signed with a wrong secret, is refused.
    let (status, resp, _) = call(&mut router, unsigned("GET", "/iotjobs-api/whoami")).await;
    assert_eq!(
        (status, header(&resp, "x-amzn-ErrorType")),
        (403, "MissingAuthenticationTokenException")
    );
    let mut forged = signed_get("AKOP", "/iotjobs-api/whoami", "iot");
    let auth = header_value(&forged, "authorization").replace("Signature=", "Signature=0");
    forged.headers_mut().insert(
        header::AUTHORIZATION,
        auth[..auth.len() - 1].parse().unwrap(),
    );
    let (status, resp, body) = call(&mut router, forged).await;
    assert_eq!(
        (status, header(&resp, "x-amzn-ErrorType")),
        (403, "InvalidSignatureException"),
        "{body}"
    );
    // An unknown key gets the SDK's own error, which the console shows as is.
    let (status, resp, body) = call(
        &mut router,
        signed_get("AKNOBODY", "/iotjobs-api/whoami", "iot"),
    )
    .await;
    assert_eq!(
        (status, header(&resp, "x-amzn-ErrorType")),
        (403, "UnrecognizedClientException")
    );
    assert!(body.contains("\"message\""), "{body}");
}

fn header_value(req: &Request<Body>, name: &str) -> String {
    req.headers()
        .get(name)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}
