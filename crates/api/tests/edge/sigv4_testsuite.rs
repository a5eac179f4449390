//! AWS's published Signature Version 4 test suite (`tests/sigv4-testsuite`, from
//! botocore's copy; Apache-2.0, see its README): every signed request (`.sreq`) must
//! verify with the suite's secret, and must stop verifying when its signature, body or
//! a signed header changes.
//!
//! Vectors whose request cannot arrive over HTTP/1.1 as hyper parses it are listed in
//! `NOT_HTTP` with the reason; the test fails if that list and the files disagree.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use iotjobs_api::auth::AuthError;
use iotjobs_api::auth::sigv4::{
    Request, check_time, parse_amz_date, parse_claim, verify_signature,
};
use std::path::Path;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Vectors no HTTP/1.1 server can receive as written, and why.
const NOT_HTTP: &[(&str, &str)] = &[
    ("get-space", "a raw space in the request target"),
    ("get-utf8", "raw UTF-8 bytes in the request target"),
    (
        "get-header-value-multiline",
        "obsolete line folding in a header value",
    ),
    (
        "get-vanilla-with-session-token",
        "its .sreq carries the signature of get-vanilla (inconsistent upstream)",
    ),
];

struct Vector {
    method: String,
    target: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn parse_sreq(text: &str) -> Vector {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.split('\n');
    let request_line = lines.next().unwrap();
    let (method, rest) = request_line.split_once(' ').unwrap();
    let target = rest.strip_suffix(" HTTP/1.1").unwrap();
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        // hyper hands over values without surrounding whitespace.
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    Vector {
        method: method.into(),
        target: target.into(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn verify(v: &Vector) -> Result<(), AuthError> {
    let req = Request {
        method: &v.method,
        path_and_query: &v.target,
        headers: &v.headers,
        body: &v.body,
    };
    let claim = parse_claim(&req)?.expect("the vector is signed");
    let now = parse_amz_date("20150830T123600Z").unwrap();
    let signed_at = check_time(&claim, now)?;
    verify_signature(&req, &claim, SECRET, signed_at)
}

#[test]
fn every_vector_verifies_and_tampering_breaks_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4-testsuite");
    let mut verified = Vec::new();
    let mut skipped = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.file_type()
                .unwrap()
                .is_dir()
                .then(|| e.file_name().into_string().unwrap())
        })
        .collect();
    names.sort();
    for name in &names {
        if NOT_HTTP.iter().any(|(n, _)| n == name) {
            skipped.push(name.as_str());
            continue;
        }
        let text = std::fs::read_to_string(dir.join(name).join(format!("{name}.sreq"))).unwrap();
        let v = parse_sreq(&text);
        verify(&v).unwrap_or_else(|e| panic!("{name}: {e:?}"));

        // A flipped signature character.
        let mut t = parse_sreq(&text);
        let auth = t.headers["authorization"].to_str().unwrap().to_owned();
        let last = if auth.ends_with('0') { "1" } else { "0" };
        t.headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("{}{last}", &auth[..auth.len() - 1])).unwrap(),
        );
        assert!(
            matches!(verify(&t), Err(AuthError::InvalidSignature(_))),
            "{name}: signature"
        );
        // A changed body.
        let mut t = parse_sreq(&text);
        t.body.extend_from_slice(b"x");
        assert!(
            matches!(verify(&t), Err(AuthError::InvalidSignature(_))),
            "{name}: body"
        );
        // A changed signed header (host is signed in every vector).
        let mut t = parse_sreq(&text);
        t.headers
            .insert("host", HeaderValue::from_static("example.amazonaws.org"));
        assert!(
            matches!(verify(&t), Err(AuthError::InvalidSignature(_))),
            "{name}: host"
        );
        verified.push(name.as_str());
    }
    assert_eq!(
        skipped.len(),
        NOT_HTTP.len(),
        "NOT_HTTP names a missing vector"
    );
    assert!(
        verified.len() >= 30,
        "only {} vectors verified",
        verified.len()
    );
}
