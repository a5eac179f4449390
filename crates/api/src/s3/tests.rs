use super::*;
use std::time::UNIX_EPOCH;

fn s3(endpoint: &str, session_token: Option<&str>) -> S3 {
    S3::new(S3Config {
        endpoint: endpoint.into(),
        region: "us-east-1".into(),
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        session_token: session_token.map(Into::into),
    })
    .unwrap()
}

/// 2013-05-24T00:00:00Z, the date of AWS's published example.
fn may_24_2013() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_369_353_600)
}

/// `20130524T000000Z` in epoch seconds.
fn amz_date_seconds(d: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| d[r].parse::<i64>().unwrap();
    let days = iotjobs_core::time::days_from_civil(n(0..4), n(4..6), n(6..8));
    days * 86_400 + n(9..11) * 3600 + n(11..13) * 60 + n(13..15)
}

fn query(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    q.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn presigned_urls_match_the_published_s3_example() {
    // "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)", the
    // Amazon S3 API reference's worked example: its signature, to the hex digit.
    let client = s3("http://127.0.0.1:9000", None);
    let url = client
        .client
        .as_ref()
        .unwrap()
        .presign_url(
            "https://examplebucket.s3.amazonaws.com/test.txt",
            Duration::from_secs(86_400),
            may_24_2013(),
        )
        .unwrap();
    let (base, _) = url.split_once('?').unwrap();
    assert_eq!(base, "https://examplebucket.s3.amazonaws.com/test.txt");
    let mut q = query(&url);
    q.sort();
    assert_eq!(
        q,
        [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            (
                "X-Amz-Credential",
                "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            ),
            ("X-Amz-Date", "20130524T000000Z"),
            ("X-Amz-Expires", "86400"),
            (
                "X-Amz-Signature",
                "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
            ),
            ("X-Amz-SignedHeaders", "host"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

#[test]
fn objects_are_addressed_path_style_on_the_endpoint_with_encoded_keys() {
    let s3 = s3("http://LocalHost:9000/", Some("tok/en+="));
    assert_eq!(s3.endpoint(), Some("LocalHost:9000"));
    let object = S3Object {
        bucket: "fw".into(),
        key: "dir/my file+1 ü.bin".into(),
        version_id: Some("v+1/2".into()),
    };
    let url = s3.presign_get(&object, 60).unwrap();
    assert!(
        url.starts_with("http://LocalHost:9000/fw/dir/my%20file%2B1%20%C3%BC.bin?"),
        "{url}"
    );
    let q = query(&url);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("versionId"), Some("v%2B1%2F2"));
    assert_eq!(get("X-Amz-Expires"), Some("60"));
    assert_eq!(get("X-Amz-Security-Token"), Some("tok%2Fen%2B%3D"));
    assert_eq!(get("X-Amz-SignedHeaders"), Some("host"));
    // Signed now, in the real time (not the domain clock).
    let date = get("X-Amz-Date").unwrap();
    let signed_at = amz_date_seconds(date);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - signed_at).abs() < 60, "{date}");
    let credential = get("X-Amz-Credential").unwrap();
    assert!(
        credential.ends_with("%2Fus-east-1%2Fs3%2Faws4_request"),
        "{credential}"
    );
}

#[test]
fn default_ports_are_left_out_of_the_signed_host() {
    let s3 = s3("http://127.0.0.1:80", None);
    let object = S3Object {
        bucket: "b".into(),
        key: "k".into(),
        version_id: None,
    };
    let url = s3.presign_get(&object, 3600).unwrap();
    assert!(url.starts_with("http://127.0.0.1/b/k?"), "{url}");
    assert_eq!(s3.endpoint(), Some("127.0.0.1:80"));
}

#[test]
fn endpoints_with_a_path_or_another_scheme_are_refused() {
    for bad in [
        "ftp://127.0.0.1:9000",
        "127.0.0.1:9000",
        "http://127.0.0.1:9000/bucket",
        "http://127.0.0.1:9000/?x=1",
        "http://user:pw@127.0.0.1:9000",
        "not a url",
    ] {
        let got = S3::new(S3Config {
            endpoint: bad.into(),
            region: "us-east-1".into(),
            access_key_id: "a".into(),
            secret_access_key: "s".into(),
            session_token: None,
        });
        assert!(got.is_err(), "{bad}");
    }
}

#[test]
fn the_secret_never_shows_in_debug_output() {
    let shown = format!("{:?}", s3("http://127.0.0.1:9000", Some("token")));
    assert!(shown.contains("AKIAIOSFODNN7EXAMPLE"), "{shown}");
    assert!(
        !shown.contains("wJalr") && !shown.contains("token"),
        "{shown}"
    );
    assert_eq!(format!("{:?}", S3::disabled()), "S3(disabled)");
}

#[test]
fn without_an_endpoint_nothing_is_signed_and_document_sources_are_refused() {
    let s3 = S3::disabled();
    let object = S3Object {
        bucket: "b".into(),
        key: "k".into(),
        version_id: None,
    };
    assert_eq!(s3.presign_get(&object, 60), None);
    assert_eq!(s3.presign_get(&object, 60), None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = rt
        .block_on(s3.read_document("https://s3.amazonaws.com/b/k", 32768))
        .unwrap_err();
    assert!(
        matches!(&err, JobsError::InvalidRequest(m) if m.contains("--s3-endpoint")),
        "{err:?}"
    );
}

#[test]
fn expiry_is_read_from_the_stored_config() {
    let s3 = S3::disabled();
    assert_eq!(
        s3.expires_in_sec(r#"{"roleArn":"arn:aws:iam::1:role/r","expiresInSec":60}"#),
        Some(60)
    );
    assert_eq!(s3.expires_in_sec(r#"{"roleArn":"r"}"#), None);
    assert_eq!(s3.expires_in_sec("not json"), None);
}

#[test]
fn error_codes_come_from_the_xml_body() {
    assert_eq!(
        error_code(
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>x</Message></Error>"
        ),
        "NoSuchKey"
    );
    assert_eq!(error_code(b""), "");
}
