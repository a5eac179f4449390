//! SigV4 signing with `aws-sigv4` (the AWS SDKs' signer; no hand-rolled crypto here).
//!
//! The signed headers are the ones botocore signs for these services: `content-type` (when
//! there is a body), `host` and `x-amz-date`, plus `x-amz-security-token` with a session
//! token, plus the operation's modelled header members (`x-amzn-principal`): botocore signs
//! every header it sends except `user-agent`, `expect` and `x-amzn-trace-id`, and the
//! others it sends (`accept-encoding`, `amz-sdk-*`) are added after signing. The signer's defaults match botocore for non-S3 services: the canonical URI is
//! the sent path with dot segments removed, percent-encoded again; the payload hash is the
//! SHA-256 of the exact body and is not sent as a header.

use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::credentials::Credentials;

/// What is signed: the request as it will be sent.
pub struct Signable<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// The `Host` header value the transport sends (the URL's authority).
    pub host: &'a str,
    pub content_type: Option<&'a str>,
    /// The operation's modelled header members, signed (names in any case).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Who signs, where and when: the SigV4 scope.
pub struct Scope<'a> {
    pub creds: &'a Credentials,
    pub region: &'a str,
    /// The signing name (`iot`, `iot-jobs-data`).
    pub service: &'a str,
    pub time: SystemTime,
}

/// Returns the headers to add (`X-Amz-Date`, `X-Amz-Security-Token`, `Authorization`).
pub fn sign_request(
    req: &Signable<'_>,
    scope: &Scope<'_>,
) -> Result<Vec<(String, String)>, String> {
    let Signable {
        method,
        url,
        host,
        content_type,
        headers: modelled,
        body,
    } = *req;
    let Scope {
        creds,
        region,
        service,
        time,
    } = *scope;
    let identity: Identity = aws_credential_types::Credentials::new(
        &creds.access_key,
        &creds.secret_key,
        creds.session_token.clone(),
        None,
        "iotjobs-cli",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let mut headers = vec![("host", host)];
    if let Some(ct) = content_type {
        headers.insert(0, ("content-type", ct));
    }
    headers.extend(modelled.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let request = SignableRequest::new(method, url, headers.into_iter(), SignableBody::Bytes(body))
        .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let (headers, _) = instructions.into_parts();
    let mut out: Vec<(String, String)> = headers
        .iter()
        .map(|h| (canonical_case(h.name()), h.value().to_string()))
        .collect();
    // Header order as botocore sends them: X-Amz-Date, X-Amz-Security-Token, Authorization.
    out.sort_by_key(|(n, _)| match n.as_str() {
        "X-Amz-Date" => 0,
        "X-Amz-Security-Token" => 1,
        _ => 2,
    });
    Ok(out)
}

fn canonical_case(name: &str) -> String {
    match name {
        "x-amz-date" => "X-Amz-Date".into(),
        "x-amz-security-token" => "X-Amz-Security-Token".into(),
        "authorization" => "Authorization".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn scope_and_signed_headers_match_botocore() {
        let creds = Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "secret".into(),
            session_token: Some("tok".into()),
        };
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let h = sign_request(
            &Signable {
                method: "PUT",
                url: "http://127.0.0.1:8080/things/t1/jobs/j1/cancel",
                host: "127.0.0.1:8080",
                content_type: Some("application/json"),
                headers: &[],
                body: b"{}",
            },
            &Scope {
                creds: &creds,
                region: "us-east-1",
                service: "iot",
                time: t,
            },
        )
        .unwrap();
        assert_eq!(h[0], ("X-Amz-Date".into(), "20231114T221320Z".into()));
        assert_eq!(h[1], ("X-Amz-Security-Token".into(), "tok".into()));
        assert!(h[2].1.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/iot/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
        ), "{}", h[2].1);
    }

    #[test]
    fn modelled_headers_are_signed() {
        let creds = Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "secret".into(),
            session_token: None,
        };
        let h = sign_request(
            &Signable {
                method: "PUT",
                url: "http://127.0.0.1:8080/things/t1/principals",
                host: "127.0.0.1:8080",
                content_type: None,
                headers: &[(
                    "x-amzn-principal".into(),
                    "arn:aws:iot:us-east-1:000000000000:cert/ab".into(),
                )],
                body: b"",
            },
            &Scope {
                creds: &creds,
                region: "us-east-1",
                service: "iot",
                time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            },
        )
        .unwrap();
        let auth = &h.last().unwrap().1;
        assert!(
            auth.contains("SignedHeaders=host;x-amz-date;x-amzn-principal,"),
            "{auth}"
        );
    }
}
