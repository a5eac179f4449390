//! Authentication and authorization, without a server: requests are signed as a client
//! would (aws-sigv4's client side), then verified, then tampered with one part at a
//! time. AWS's published SigV4 test-suite vectors are checked in
//! `crates/api/tests/sigv4_testsuite.rs`.

use super::*;
use crate::auth::sigv4::{Request, format_amz_date, parse_amz_date};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const HOST: &str = "127.0.0.1:8080";
const REGION: &str = "us-east-1";

/// 2026-11-28T12:00:00Z.
fn now() -> SystemTime {
    parse_amz_date("20261128T120000Z").unwrap()
}

fn keyring() -> Keyring {
    let mut k = Keyring::default();
    for (id, account, role, token) in [
        ("AKADMIN", "111111111111", Role::Admin, None),
        ("AKOP", "111111111111", Role::Operator, None),
        (
            "AKDEV",
            "111111111111",
            Role::Device {
                thing_name: "thing-a".into(),
            },
            None,
        ),
        (
            "AKTMP",
            "222222222222",
            Role::Admin,
            Some("session-token/+="),
        ),
    ] {
        k.insert(AccessKey {
            access_key_id: id.into(),
            secret_access_key: format!("secret-{id}"),
            session_token: token.map(str::to_owned),
            account_id: account.into(),
            role,
        })
        .unwrap();
    }
    k
}

fn auth() -> Auth {
    Auth::SigV4 {
        keys: keyring(),
        region: REGION.into(),
    }
}

/// A request as the server receives it.
#[derive(Clone, Debug)]
struct Raw {
    method: String,
    target: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn new(method: &str, target: &str, body: &str) -> Raw {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static(HOST));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        Raw {
            method: method.into(),
            target: target.into(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn view(&self) -> Request<'_> {
        Request {
            method: &self.method,
            path_and_query: &self.target,
            headers: &self.headers,
            body: &self.body,
        }
    }

    fn set(&mut self, name: &str, value: &str) {
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
}

struct Signer<'a> {
    key: &'a str,
    secret: String,
    token: Option<&'a str>,
    region: &'a str,
    service: &'a str,
    time: SystemTime,
    presign: Option<Duration>,
}

impl<'a> Signer<'a> {
    fn new(key: &'a str) -> Self {
        Signer {
            key,
            secret: format!("secret-{key}"),
            token: None,
            region: REGION,
            service: "iot",
            time: now(),
            presign: None,
        }
    }

    /// Sign `raw` as an SDK would: every header present is signed.
    fn sign(&self, raw: &Raw) -> Raw {
        let identity: Identity = Credentials::new(
            self.key,
            &self.secret,
            self.token.map(str::to_owned),
            None,
            "test",
        )
        .into();
        let mut settings = SigningSettings::default();
        if let Some(d) = self.presign {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(d);
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(self.time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let headers: Vec<(&str, &str)> = raw
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        let uri = format!("http://{HOST}{}", raw.target);
        let signable = SignableRequest::new(
            &raw.method,
            uri.as_str(),
            headers.into_iter(),
            SignableBody::Bytes(&raw.body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut out = raw.clone();
        for (k, v) in instructions.headers() {
            out.set(k, v);
        }
        let params: Vec<String> = instructions
            .params()
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
            .collect();
        if !params.is_empty() {
            let sep = if out.target.contains('?') { '&' } else { '?' };
            out.target = format!("{}{sep}{}", out.target, params.join("&"));
        }
        out
    }
}

fn cancel() -> Raw {
    Raw::new(
        "PUT",
        "/things/thing%3A1/jobs/job-1/cancel?force=true",
        r#"{"expectedVersion":1}"#,
    )
}

fn check(raw: &Raw) -> Result<(Principal, Option<Plane>), AuthError> {
    auth().authenticate(&raw.view(), now())
}

fn code(r: Result<(Principal, Option<Plane>), AuthError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(AuthError::MissingAuthenticationToken) => "missing",
        Err(AuthError::IncompleteSignature(_)) => "incomplete",
        Err(AuthError::UnrecognizedClient) => "unrecognized",
        Err(AuthError::InvalidSignature(_)) => "invalid",
        Err(AuthError::AccessDenied(_)) => "denied",
    }
}

#[test]
fn a_signed_request_names_its_principal_and_plane() {
    let (p, plane) = check(&Signer::new("AKOP").sign(&cancel())).unwrap();
    assert_eq!(p.access_key_id, "AKOP");
    assert_eq!(p.account_id, "111111111111");
    assert_eq!(p.role, Role::Operator);
    assert_eq!(plane, Some(Plane::Control));

    let mut s = Signer::new("AKDEV");
    s.service = "iot-jobs-data";
    let get = Raw::new("GET", "/things/thing-a/jobs", "");
    assert_eq!(check(&s.sign(&get)).unwrap().1, Some(Plane::Data));
}

#[test]
fn tampering_with_any_signed_part_is_refused() {
    let signed = Signer::new("AKADMIN").sign(&cancel());
    assert_eq!(code(check(&signed)), "ok");
    type Tamper = Box<dyn Fn(&mut Raw)>;
    let tampered: Vec<(&str, Tamper)> = vec![
        ("method", Box::new(|r| r.method = "POST".into())),
        (
            "path",
            Box::new(|r| r.target = r.target.replace("job-1", "job-2")),
        ),
        (
            "query",
            Box::new(|r| r.target = r.target.replace("force=true", "force=false")),
        ),
        ("added query", Box::new(|r| r.target.push_str("&x=1"))),
        (
            "body",
            Box::new(|r| r.body = br#"{"expectedVersion":2}"#.to_vec()),
        ),
        ("header", Box::new(|r| r.set("content-type", "text/plain"))),
        ("host", Box::new(|r| r.set("host", "127.0.0.1:8081"))),
        (
            "date",
            Box::new(|r| {
                r.set(
                    "x-amz-date",
                    &format_amz_date(now() + Duration::from_secs(1)),
                )
            }),
        ),
        (
            "signature",
            Box::new(|r| {
                let a = r.headers["authorization"].to_str().unwrap().to_owned();
                let flipped = if a.ends_with('0') { "1" } else { "0" };
                r.set("authorization", &format!("{}{flipped}", &a[..a.len() - 1]));
            }),
        ),
    ];
    for (what, tamper) in tampered {
        let mut r = signed.clone();
        tamper(&mut r);
        assert_eq!(code(check(&r)), "invalid", "tampered {what}");
    }
}

#[test]
fn wrong_keys_secrets_scopes_and_times_are_refused() {
    let req = cancel();
    let mut s = Signer::new("AKNOBODY");
    assert_eq!(code(check(&s.sign(&req))), "unrecognized");
    s = Signer::new("AKADMIN");
    s.secret = "wrong".into();
    assert_eq!(code(check(&s.sign(&req))), "invalid");
    s = Signer::new("AKADMIN");
    s.region = "eu-west-1";
    assert_eq!(code(check(&s.sign(&req))), "invalid");
    s = Signer::new("AKADMIN");
    s.service = "s3";
    assert_eq!(code(check(&s.sign(&req))), "invalid");
    // 15 minutes either way is the limit.
    for (offset, ok) in [
        (-16 * 60, false),
        (-14 * 60, true),
        (14 * 60, true),
        (16 * 60, false),
    ] {
        let mut s = Signer::new("AKADMIN");
        s.time = UNIX_EPOCH
            + Duration::from_secs(
                (now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64 + offset) as u64,
            );
        let want = if ok { "ok" } else { "invalid" };
        assert_eq!(
            code(check(&s.sign(&req))),
            want,
            "signed {offset} s from now"
        );
    }
    assert_eq!(code(check(&req)), "missing");
    let mut r = req.clone();
    r.set("authorization", "Bearer abc");
    assert_eq!(code(check(&r)), "incomplete");
    r.set("authorization", "AWS4-HMAC-SHA256 Credential=AKADMIN/20261128/us-east-1/iot/aws4_request, SignedHeaders=host");
    assert_eq!(code(check(&r)), "incomplete");
}

#[test]
fn hostile_signed_header_lists_and_double_signatures_are_malformed() {
    let signed = Signer::new("AKADMIN").sign(&cancel());
    let auth = signed.headers["authorization"].to_str().unwrap().to_owned();
    // Listed twice, or thousands of times (aws-sigv4 would panic past 24,576 headers).
    for list in [
        "host;host;x-amz-date".to_owned(),
        vec!["host"; 30_000].join(";"),
    ] {
        let mut r = signed.clone();
        let start = auth.find("SignedHeaders=").unwrap() + "SignedHeaders=".len();
        let end = start + auth[start..].find(',').unwrap();
        r.set(
            "authorization",
            &format!("{}{list}{}", &auth[..start], &auth[end..]),
        );
        assert_eq!(code(check(&r)), "incomplete", "{}", &list[..20]);
    }
    // A valid header signature plus presigned query parameters: AWS refuses both.
    let mut r = signed.clone();
    r.target.push_str("&X-Amz-Signature=00");
    assert_eq!(code(check(&r)), "incomplete");
}

/// A header the signature depends on, sent twice, is refused whichever copy is the valid
/// one: the first must not decide (nor the last).
#[test]
fn repeated_signature_headers_are_malformed() {
    let valid = Signer::new("AKADMIN").sign(&cancel());
    let mut other = Signer::new("AKOP");
    other.time = now() - Duration::from_secs(60);
    let forged = other.sign(&cancel());
    for name in ["authorization", "x-amz-date"] {
        for (first, second) in [(&valid, &forged), (&forged, &valid)] {
            let mut r = first.clone();
            r.headers
                .append(HeaderName::from_static(name), second.headers[name].clone());
            assert_eq!(code(check(&r)), "incomplete", "{name}");
        }
    }
    let mut s = Signer::new("AKTMP");
    s.token = Some("session-token/+=");
    let mut r = s.sign(&cancel());
    r.headers.append(
        "x-amz-security-token",
        HeaderValue::from_static("session-token/+="),
    );
    assert_eq!(code(check(&r)), "incomplete");
    // The presigned form: a parameter given twice.
    let mut p = Signer::new("AKADMIN");
    p.presign = Some(Duration::from_secs(300));
    let presigned = p.sign(&Raw::new("GET", "/jobs/job-1", ""));
    assert_eq!(code(check(&presigned)), "ok");
    let sig = presigned
        .target
        .split('&')
        .find(|q| q.starts_with("X-Amz-Signature="))
        .unwrap()
        .to_owned();
    let mut r = presigned.clone();
    r.target = format!("{}&{sig}", r.target);
    assert_eq!(code(check(&r)), "incomplete");
}

#[test]
fn the_body_is_checked_only_after_everything_else() {
    // `begin` refuses without a body; `finish` needs it.
    let req = cancel();
    let unsigned = auth().begin(&req.view(), now()).unwrap_err();
    assert_eq!(unsigned, AuthError::MissingAuthenticationToken);
    let signed = Signer::new("AKADMIN").sign(&req);
    let mut head = signed.clone();
    head.body.clear();
    let keys = auth();
    let pending = keys.begin(&head.view(), now()).unwrap();
    assert!(pending.finish(&signed.view()).is_ok());
    let pending = keys.begin(&head.view(), now()).unwrap();
    assert!(matches!(
        pending.finish(&head.view()),
        Err(AuthError::InvalidSignature(_))
    ));
}

#[test]
fn host_must_be_signed() {
    let signed = Signer::new("AKADMIN").sign(&cancel());
    let auth = signed.headers["authorization"].to_str().unwrap().to_owned();
    let without_host = auth.replace("host;", "");
    assert_ne!(auth, without_host);
    let mut r = signed.clone();
    r.set("authorization", &without_host);
    match check(&r) {
        Err(AuthError::InvalidSignature(m)) => assert!(m.contains("Host"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn session_tokens_must_match_the_key() {
    let req = cancel();
    let mut s = Signer::new("AKTMP");
    s.token = Some("session-token/+=");
    let (p, _) = check(&s.sign(&req)).unwrap();
    assert_eq!(p.account_id, "222222222222");
    s.token = Some("other-token");
    assert_eq!(code(check(&s.sign(&req))), "unrecognized");
    s.token = None;
    assert_eq!(code(check(&s.sign(&req))), "unrecognized");
    // A token on a key that has none.
    let mut s = Signer::new("AKADMIN");
    s.token = Some("made-up");
    assert_eq!(code(check(&s.sign(&req))), "unrecognized");
}

#[test]
fn presigned_query_requests_verify_until_they_expire() {
    let get = Raw::new("GET", "/jobs/job-1?x=%2Fy", "");
    let mut s = Signer::new("AKTMP");
    s.token = Some("session-token/+=");
    s.presign = Some(Duration::from_secs(300));
    let signed = s.sign(&get);
    assert!(
        signed.target.contains("X-Amz-Signature="),
        "{}",
        signed.target
    );
    assert!(!signed.headers.contains_key("authorization"));
    assert_eq!(code(check(&signed)), "ok");
    // Tampered query parameter.
    let mut r = signed.clone();
    r.target = r.target.replace("x=%2Fy", "x=%2Fz");
    assert_eq!(code(check(&r)), "invalid");
    // Longer lifetime claimed than signed.
    let mut r = signed.clone();
    r.target = r.target.replace("X-Amz-Expires=300", "X-Amz-Expires=900");
    assert_eq!(code(check(&r)), "invalid");
    // Expired: 301 s after signing.
    let later = now() + Duration::from_secs(301);
    assert_eq!(code(auth().authenticate(&signed.view(), later)), "invalid");
    assert_eq!(
        code(auth().authenticate(&signed.view(), now() + Duration::from_secs(299))),
        "ok"
    );
}

#[test]
fn roles_allow_what_they_name_and_nothing_else() {
    let p = |role: Role| Principal {
        access_key_id: "AK".into(),
        account_id: "111111111111".into(),
        role,
    };
    let device = p(Role::Device {
        thing_name: "thing-a".into(),
    });
    let op = |plane, thing| Action::Operation {
        plane,
        op: "DescribeJobExecution",
        thing_name: thing,
    };
    let cases = [
        (p(Role::Admin), op(Plane::Control, None), true),
        (p(Role::Admin), op(Plane::Data, Some("thing-b")), true),
        (p(Role::Admin), Action::Reset, true),
        (p(Role::Operator), op(Plane::Control, Some("thing-b")), true),
        (p(Role::Operator), op(Plane::Data, Some("thing-a")), false),
        (p(Role::Operator), Action::Reset, false),
        (device.clone(), op(Plane::Data, Some("thing-a")), true),
        (device.clone(), op(Plane::Data, Some("thing-b")), false),
        (device.clone(), op(Plane::Data, Some("thing-a2")), false),
        (device.clone(), op(Plane::Data, None), false),
        (device.clone(), op(Plane::Control, Some("thing-a")), false),
        (device.clone(), Action::Reset, false),
        (p(Role::Admin), Action::WhoAmI, true),
        (p(Role::Operator), Action::WhoAmI, true),
        (device.clone(), Action::WhoAmI, true),
        (device.clone(), Action::ReadAudit, false),
    ];
    for (principal, action, allowed) in cases {
        let r = authorize(&principal, action, REGION);
        assert_eq!(r.is_ok(), allowed, "{principal:?} {action:?}: {r:?}");
    }
    let Err(AuthError::AccessDenied(m)) =
        authorize(&device, op(Plane::Data, Some("thing-b")), REGION)
    else {
        panic!()
    };
    assert_eq!(
        m,
        "User: arn:aws:iam::111111111111:user/AK is not authorized to perform: \
         iotjobsdata:DescribeJobExecution on resource: arn:aws:iot:us-east-1:111111111111:thing/thing-b"
    );
}

#[test]
fn whoami_names_the_key_account_and_role_and_never_the_secret() {
    let p = |role: Role| Principal {
        access_key_id: "AKOP".into(),
        account_id: "111111111111".into(),
        role,
    };
    assert_eq!(
        p(Role::Operator).whoami(),
        serde_json::json!({"accountId": "111111111111", "accessKeyId": "AKOP", "role": "operator"})
    );
    assert_eq!(p(Role::Admin).whoami()["role"], "admin");
    assert_eq!(
        p(Role::Device {
            thing_name: "thing-a".into()
        })
        .whoami(),
        serde_json::json!({
            "accountId": "111111111111",
            "accessKeyId": "AKOP",
            "role": "device",
            "thingName": "thing-a",
        })
    );
}

#[test]
fn auth_none_accepts_anything_as_the_admin_of_its_account() {
    let none = Auth::None {
        account_id: "000000000000".into(),
    };
    let mut r = cancel();
    let (p, plane) = none.authenticate(&r.view(), now()).unwrap();
    assert_eq!(
        (p.role, p.account_id.as_str(), plane),
        (Role::Admin, "000000000000", None)
    );
    r.set(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=x/20200101/xx/iot-jobs-data/aws4_request, SignedHeaders=host, Signature=00",
    );
    assert_eq!(
        none.authenticate(&r.view(), now()).unwrap().1,
        Some(Plane::Data)
    );
}

#[test]
fn amz_dates_round_trip() {
    for s in [
        "19700101T000000Z",
        "20000229T235959Z",
        "20261128T120000Z",
        "20991231T000001Z",
    ] {
        assert_eq!(format_amz_date(parse_amz_date(s).unwrap()), s);
    }
    for bad in [
        "2026-11-28T12:00:00Z",
        "20261328T120000Z",
        "20261128T126000Z",
        "2026112T1200000Z",
        "+0261128T120000Z",
    ] {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
}
