use super::*;
use std::cell::Cell;

fn obj(bucket: &str, key: &str, version: Option<&str>) -> S3Object {
    S3Object {
        bucket: bucket.into(),
        key: key.into(),
        version_id: version.map(Into::into),
    }
}

const PLAIN: UrlEncoding = UrlEncoding::Plain;
const ENCODED: UrlEncoding = UrlEncoding::Encoded;

#[test]
fn every_documented_url_form_names_its_bucket_and_key() {
    let cases = [
        (
            "https://s3.amazonaws.com/my-bucket/job.json",
            "my-bucket",
            "job.json",
        ),
        (
            "https://s3.us-west-2.amazonaws.com/fw/dir/device-firmware.1.0",
            "fw",
            "dir/device-firmware.1.0",
        ),
        ("https://s3-eu-west-1.amazonaws.com/b1/k", "b1", "k"),
        (
            "https://my.dotted.bucket.s3.us-east-1.amazonaws.com/a/b.bin",
            "my.dotted.bucket",
            "a/b.bin",
        ),
        ("https://bucket.s3.amazonaws.com/k", "bucket", "k"),
        ("http://S3.AMAZONAWS.COM/b/k", "b", "k"),
        (
            "https://MyBucket.s3.us-east-1.amazonaws.com/k",
            "mybucket",
            "k",
        ),
        ("http://127.0.0.1:9000/b/k/x", "b", "k/x"),
        ("http://LOCALHOST:9000/b/k", "b", "k"),
        ("b/k", "b", "k"),
        ("https:\\/\\/s3.amazonaws.com\\/b\\/k", "b", "k"),
    ];
    for (url, bucket, key) in cases {
        for encoding in [PLAIN, ENCODED] {
            let endpoint = if url.contains("LOCALHOST") {
                "localhost:9000"
            } else {
                "127.0.0.1:9000"
            };
            assert_eq!(
                parse_s3_url(url, encoding, Some(endpoint)),
                Ok(obj(bucket, key, None)),
                "{url} {encoding:?}"
            );
        }
    }
}

#[test]
fn json_escapes_in_the_document_text_are_undone_first() {
    // As `json.dumps` and friends write them: `\/`, `\u00fc`, a surrogate pair.
    let url = r"https:\/\/s3.amazonaws.com\/b\/fw \u00fc\ud83d\ude00.bin";
    assert_eq!(
        parse_s3_url(url, PLAIN, None),
        Ok(obj("b", "fw \u{fc}\u{1f600}.bin", None))
    );
    assert_eq!(
        parse_s3_url(r"b/k\u0025C3\u0025BC", ENCODED, None),
        Ok(obj("b", "k\u{fc}", None))
    );
    for bad in [
        r"b/k\x",
        r"b/k\u00",
        r"b/k\ud83d",
        r"b/k\ud83d\u0041",
        r"b/k\",
    ] {
        assert!(parse_s3_url(bad, PLAIN, None).is_err(), "{bad}");
    }
}

#[test]
fn version_2_decodes_the_key_and_reads_the_version_id() {
    let url = "https://s3.us-west-2.amazonaws.com/b/dir/my%20file%2B1.bin%3FversionId%3Dv1.a_b";
    assert_eq!(
        parse_s3_url(url, ENCODED, None),
        Ok(obj("b", "dir/my file+1.bin", Some("v1.a_b")))
    );
    // Lower-case hex, the virtual-hosted form, and a literal query.
    assert_eq!(
        parse_s3_url(
            "https://b.s3.us-west-2.amazonaws.com/k%3fversionId%3dX",
            ENCODED,
            None
        ),
        Ok(obj("b", "k", Some("X")))
    );
    assert_eq!(
        parse_s3_url("https://s3.amazonaws.com/b/k?versionId=X", ENCODED, None),
        Ok(obj("b", "k", Some("X")))
    );
    // Version 1 takes the URL as written: no decoding, no version.
    assert_eq!(
        parse_s3_url(
            "https://s3.amazonaws.com/b/my%20file%3FversionId%3DX",
            PLAIN,
            None
        ),
        Ok(obj("b", "my%20file%3FversionId%3DX", None))
    );
    assert_eq!(
        parse_s3_url("https://s3.amazonaws.com/b/my file.bin", PLAIN, None),
        Ok(obj("b", "my file.bin", None))
    );
    // A stray % stays; bytes that are not UTF-8 do not decode.
    assert_eq!(
        parse_s3_url("b/100%", ENCODED, None),
        Ok(obj("b", "100%", None))
    );
    assert!(parse_s3_url("b/%ff", ENCODED, None).is_err());
}

#[test]
fn urls_that_name_no_object_are_refused_with_a_reason() {
    for (url, endpoint) in [
        ("https://example.com/b/k", Some("127.0.0.1:9000")),
        ("http://127.0.0.1:9000/b/k", None),
        ("http://127.0.0.1:9001/b/k", Some("127.0.0.1:9000")),
        ("https://s3.amazonaws.com/b", None),
        ("https://s3.amazonaws.com/b/", None),
        ("https://s3.amazonaws.com", None),
        ("https://b.s3.amazonaws.com/", None),
        ("https://s3.a.b.amazonaws.com/b/k", None),
        ("https://nots3.amazonaws.com/b/k", None),
        ("https://.s3.amazonaws.com/k", None),
        ("s3://b/k", None),
        ("ftp://s3.amazonaws.com/b/k", None),
        ("bucket-only", None),
        ("/k", None),
    ] {
        let got = parse_s3_url(url, PLAIN, endpoint);
        assert!(got.is_err(), "{url}: {got:?}");
    }
    assert!(parse_s3_url("https://s3.amazonaws.com/b/k%3FversionId%3D", ENCODED, None).is_err());
}

#[test]
fn placeholders_are_found_with_their_kind_url_and_extent() {
    let doc = r#"{"a":"${aws:iot:s3-presigned-url:https://s3.amazonaws.com/b/k}","b":"${aws:iot:s3-presigned-url-v2:b/k2}","c":"${aws:iot:s3-presigned-url-v1:b/k3}","d":"${aws:iot:s3-presigned-url-upload:b/${thingName}"}"#;
    let found: Vec<_> = placeholders(doc).collect();
    let kinds: Vec<_> = found.iter().map(|p| p.map(|p| (p.kind, p.url))).collect();
    assert_eq!(
        kinds,
        vec![
            Ok((PlaceholderKind::Get(PLAIN), "https://s3.amazonaws.com/b/k")),
            Ok((PlaceholderKind::Get(ENCODED), "b/k2")),
            Ok((PlaceholderKind::Get(PLAIN), "b/k3")),
            // The upload key's own `${thingName` ends at the first brace.
            Ok((PlaceholderKind::Upload, "b/${thingName")),
        ]
    );
    let first = found[0].unwrap();
    assert_eq!(
        &doc[first.start..first.start + first.text.len()],
        first.text
    );
    assert!(first.text.starts_with("${aws") && first.text.ends_with("/k}"));
    assert_eq!(
        placeholders("x ${aws:iot:s3-presigned-url:b/k").collect::<Vec<_>>(),
        vec![Err(Unterminated(2))]
    );
    assert_eq!(placeholders("{\"no\":\"placeholders\"}").count(), 0);
}

#[test]
fn substitution_replaces_get_placeholders_and_keeps_the_rest() {
    let doc = r#"{"fw":"${aws:iot:s3-presigned-url-v2:https://s3.amazonaws.com/b/fw%201.bin}","x":"${aws:iot:s3-presigned-url-upload:b/up}","y":"${aws:iot:s3-presigned-url:b/k}"}"#;
    let calls = Cell::new(0);
    let out = substitute(doc, |encoding, url| {
        calls.set(calls.get() + 1);
        let o = parse_s3_url(url, encoding, None).ok()?;
        Some(format!(
            "http://s3/{}/{}?sig={}",
            o.bucket,
            o.key.replace(' ', "%20"),
            calls.get()
        ))
    });
    assert_eq!(
        out,
        r#"{"fw":"http://s3/b/fw%201.bin?sig=1","x":"${aws:iot:s3-presigned-url-upload:b/up}","y":"http://s3/b/k?sig=2"}"#
    );
    assert_eq!(calls.get(), 2);
    // A refusal keeps the placeholder.
    let kept = substitute(doc, |_, _| None);
    assert_eq!(kept, doc);
    // One that is not closed inside its string is kept; the next one is replaced.
    let doc = r#"{"a":"${aws:iot:s3-presigned-url:b/open","b":"${aws:iot:s3-presigned-url:b/k}"}"#;
    assert_eq!(
        substitute(doc, |_, url| Some(format!("<{url}>"))),
        r#"{"a":"${aws:iot:s3-presigned-url:b/open","b":"<b/k>"}"#
    );
}

#[test]
fn a_document_without_placeholders_is_not_copied() {
    let doc = r#"{"url":"https://s3.amazonaws.com/b/k","text":"${aws:iot:parameter:x}"}"#;
    assert!(
        matches!(substitute(doc, |_, _| panic!("no placeholder")), Cow::Borrowed(d) if std::ptr::eq(d, doc))
    );
    let owned = doc.to_owned();
    let ptr = owned.as_ptr();
    let out = document_for_device(owned, Some("{}"), &Panics);
    assert_eq!(
        out.as_ptr(),
        ptr,
        "the stored String is handed on, not copied"
    );
}

/// A presigner that must not be asked (the fast path).
struct Panics;

impl Presigner for Panics {
    fn endpoint(&self) -> Option<&str> {
        panic!("endpoint asked")
    }
    fn expires_in_sec(&self, _: &str) -> Option<u64> {
        panic!("expiry asked")
    }
    fn presign_get(&self, _: &S3Object, _: u64) -> Option<String> {
        panic!("signing asked")
    }
}

/// Records what it was asked to sign.
struct Recorder {
    asked: std::sync::Mutex<Vec<(S3Object, u64)>>,
}

impl Presigner for Recorder {
    fn endpoint(&self) -> Option<&str> {
        Some("127.0.0.1:9000")
    }
    fn expires_in_sec(&self, config: &str) -> Option<u64> {
        config.strip_prefix("expires=").and_then(|n| n.parse().ok())
    }
    fn presign_get(&self, object: &S3Object, expires_in_sec: u64) -> Option<String> {
        let mut asked = self.asked.lock().unwrap();
        asked.push((object.clone(), expires_in_sec));
        Some(format!("signed-{}", asked.len()))
    }
}

#[test]
fn documents_for_devices_are_signed_for_the_jobs_expiry_or_the_default() {
    let doc = r#"{"a":"${aws:iot:s3-presigned-url-v2:http://127.0.0.1:9000/b/k%3FversionId%3D7}","b":"${aws:iot:s3-presigned-url:https://nowhere.example/x}"}"#;
    let r = Recorder {
        asked: Default::default(),
    };
    let out = document_for_device(doc.to_owned(), Some("expires=60"), &r);
    // The second names no object: kept as written.
    assert_eq!(
        out,
        r#"{"a":"signed-1","b":"${aws:iot:s3-presigned-url:https://nowhere.example/x}"}"#
    );
    let out = document_for_device(doc.to_owned(), None, &r);
    assert!(out.starts_with(r#"{"a":"signed-2""#));
    assert_eq!(
        *r.asked.lock().unwrap(),
        vec![
            (obj("b", "k", Some("7")), 60),
            (obj("b", "k", Some("7")), DEFAULT_EXPIRES_IN_SEC)
        ]
    );
    // Without an endpoint nothing is signed.
    assert_eq!(document_for_device(doc.to_owned(), None, &NoPresigner), doc);
}

#[test]
fn create_job_refuses_placeholders_that_would_never_work() {
    let ok = r#"{"a":"${aws:iot:s3-presigned-url-v2:https://b.s3.us-east-1.amazonaws.com/k}","b":"${aws:iot:s3-presigned-url:http://127.0.0.1:9000/b/k}"}"#;
    assert_eq!(check_placeholders(ok, Some("127.0.0.1:9000")), Ok(()));
    assert_eq!(check_placeholders(r#"{"plain":"doc"}"#, None), Ok(()));
    let message = |doc: &str| match check_placeholders(doc, None) {
        Err(JobsError::InvalidRequest(m)) => m,
        other => panic!("{doc}: {other:?}"),
    };
    let m = message(r#"{"a":"${aws:iot:s3-presigned-url:https://example.com/b/k}"}"#);
    assert!(
        m.contains("${aws:iot:s3-presigned-url:https://example.com/b/k}")
            && m.contains("--s3-endpoint"),
        "{m}"
    );
    assert!(message(r#"{"a":"${aws:iot:s3-presigned-url-upload:b/k}"}"#).contains("not supported"));
    assert!(message(r#"{"a":"${aws:iot:s3-presigned-url-v3:b/k}"}"#).contains("not a placeholder"));
    assert!(message(r#"{"a":"${aws:iot:s3-presigned-url:b/k"}"#).contains("not closed"));
}
