//! Wire-level behaviour the SDK relies on: request ids, errors on unknown routes and
//! malformed input. Raw HTTP here, because the SDK cannot send malformed requests.

use crate::harness::{Server, sigv4_lines};
use std::io::{Read, Write};
use std::net::TcpStream;

/// Send one raw HTTP/1.1 request; return (status, headers, body).
fn raw(server: &Server, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let addr = server.endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    let signed = sigv4_lines(
        method,
        addr,
        path,
        &[("content-type", "application/json")],
        body.as_bytes(),
        "iot",
    );
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{signed}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn errors_are_aws_shaped() {
    let server = Server::start();
    let cases = [
        (
            "GET",
            "/no/such/route",
            "",
            404,
            "unknownoperationexception",
        ),
        (
            "PUT",
            "/things/t1/jobs/j1/cancel",
            "{not json",
            400,
            "invalidrequestexception",
        ),
        (
            "PUT",
            "/things/t1/jobs/j1/cancel",
            "[1]",
            400,
            "invalidrequestexception",
        ),
        (
            "PUT",
            "/things/t1/jobs/j1/cancel",
            r#"{"expectedVersion":"3"}"#,
            400,
            "invalidrequestexception",
        ),
        (
            "PUT",
            "/things/t1/jobs/j1/cancel?force=yes",
            "{}",
            400,
            "invalidrequestexception",
        ),
        (
            "PUT",
            "/things/t1/jobs/j1/cancel",
            "{}",
            404,
            "resourcenotfoundexception",
        ),
        // An operation of the model that iotjobs does not serve (DeleteBillingGroup;
        // this case named DeleteThingGroup until that became served).
        (
            "DELETE",
            "/billing-groups/b1",
            "",
            501,
            "notimplementedexception",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (got, head, resp) = raw(&server, method, path, body);
        assert_eq!(got, status, "{method} {path} {body}: {resp}");
        assert!(
            head.contains(&format!("x-amzn-errortype: {code}")),
            "{method} {path}: {head}"
        );
        assert!(head.contains("x-amzn-requestid: "), "{head}");
        let v: serde_json::Value = serde_json::from_str(&resp).expect("JSON error body");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{resp}"
        );
    }
}

#[test]
fn success_without_output_is_empty_200_with_request_id() {
    let server = Server::start();
    for (method, path, body) in [
        ("POST", "/things/t1", "{}"),
        (
            "PUT",
            "/jobs/j1",
            r#"{"targets":["arn:aws:iot:us-east-1:000000000000:thing/t1"],"document":"{}"}"#,
        ),
    ] {
        let (status, _, resp) = raw(&server, method, path, body);
        assert_eq!(status, 200, "{resp}");
    }
    let (status, head, body) = raw(&server, "PUT", "/things/t1/jobs/j1/cancel", "{}");
    assert_eq!(status, 200);
    assert!(head.contains("x-amzn-requestid: "));
    assert_eq!(body, "");
}

/// A missing required member is refused by validation, before any DTO exists (the DTO's
/// required members are not `Option`s), with AWS's message.
#[test]
fn missing_required_member_is_a_validation_error() {
    let server = Server::start();
    let (status, head, body) = raw(&server, "PUT", "/jobs/j1", r#"{"document":"{}"}"#);
    assert_eq!(status, 400, "{body}");
    assert!(
        head.contains("x-amzn-errortype: invalidrequestexception"),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
    assert_eq!(
        v["message"],
        "1 validation error detected: Value null at 'targets' failed to satisfy constraint: \
         Member must not be null"
    );
}

/// One unsigned raw HTTP/1.1 request; the response head (lower case) and body.
fn raw_unsigned(server: &Server, method: &str, path: &str) -> (u16, String, String) {
    let addr = server.endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    (
        head[9..12].parse().unwrap(),
        head.to_ascii_lowercase(),
        body.to_owned(),
    )
}

/// The web console over the real listener: its files without a signature (HEAD answers
/// the headers alone), and the signed whoami its sign-in asks.
#[test]
fn the_console_is_served_and_whoami_answers() {
    let server = Server::start();
    let (status, head, body) = raw_unsigned(&server, "GET", "/console");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(head.contains("cache-control: no-cache"), "{head}");
    assert!(
        head.contains(
            "content-security-policy: default-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
        ),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(body.contains("/console/assets/console.js"), "{body}");
    let (status, head, body) = raw_unsigned(&server, "HEAD", "/console/assets/sigv4.js");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("content-type: text/javascript"), "{head}");
    assert_eq!(body, "");
    let (status, head, _) = raw_unsigned(&server, "GET", "/console/assets/missing.js");
    assert_eq!(status, 404, "{head}");

    let (status, _, body) = raw(&server, "GET", "/iotjobs-api/whoami", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"accountId": "000000000000", "accessKeyId": "test", "role": "admin"})
    );
}
