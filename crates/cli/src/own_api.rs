//! Calls to iotjobs' own endpoints (`/iotjobs-api/...`: the audit log, the test clock),
//! which are not AWS operations: the caller's credentials and region resolved and the
//! request signed as for every other command (profile, environment, SigV4 with the `iot`
//! signing name), the JSON answer returned, and a refusal turned into the one-line
//! message the commands print (the server's error code and message).
//!
//! No server code here (the CLI is a client).

use crate::credentials::{Config, Credentials};
use crate::http::{Client, Options};
use std::time::SystemTime;

/// A signed connection to one server's own endpoints.
pub struct OwnApi {
    client: Client,
    creds: Credentials,
    region: String,
    /// The endpoint URL without a trailing `/`.
    base: String,
    host: String,
}

impl OwnApi {
    /// Credentials and region as the AWS CLI resolves them (`profile`, `region`
    /// override), for the server at `endpoint` (e.g. `http://127.0.0.1:8080`).
    pub fn new(
        endpoint: &str,
        profile: Option<&str>,
        region: Option<&str>,
    ) -> Result<Self, String> {
        let config = Config::load(profile);
        let region = config.region(region).map_err(|e| e.to_string())?;
        let creds = config.credentials().map_err(|e| e.to_string())?;
        let client = Client::new(&Options {
            verify_ssl: true,
            ..Options::default()
        })?;
        let base = endpoint.trim_end_matches('/').to_owned();
        let host = base
            .split_once("://")
            .map_or(base.as_str(), |(_, r)| r)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok(OwnApi {
            client,
            creds,
            region,
            base,
            host,
        })
    }

    /// `method` `path_and_query` with a JSON `body` (POST) or none (GET); the answer's
    /// JSON. A refusal is `Err("An error occurred (CODE) when WHAT: MESSAGE")`.
    pub fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&str>,
        what: &str,
    ) -> Result<serde_json::Value, String> {
        let url = format!("{}{path_and_query}", self.base);
        let content_type = body.map(|_| "application/json");
        let bytes = body.unwrap_or_default().as_bytes();
        let mut headers = crate::sign::sign_request(
            &crate::sign::Signable {
                method,
                url: &url,
                host: &self.host,
                content_type,
                headers: &[],
                body: bytes,
            },
            &crate::sign::Scope {
                creds: &self.creds,
                region: &self.region,
                service: "iot",
                time: SystemTime::now(),
            },
        )?;
        // The signature covers Content-Type; the request must carry it too.
        if let Some(ct) = content_type {
            headers.push(("Content-Type".into(), ct.into()));
        }
        let resp = self
            .client
            .send(method, &url, &headers, bytes)
            .map_err(|e| e.message(&url))?;
        let answer: serde_json::Value = serde_json::from_slice(&resp.body)
            .map_err(|e| format!("the server answered {} without JSON: {e}", resp.status))?;
        if resp.status != 200 {
            let code = resp
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("x-amzn-ErrorType"))
                .map_or("error", |(_, v)| v.as_str());
            let message = answer["message"]
                .as_str()
                .or(answer["Message"].as_str())
                .unwrap_or("");
            return Err(format!(
                "An error occurred ({}) when {what}: {message}",
                code.split(':').next().unwrap_or(code)
            ));
        }
        Ok(answer)
    }
}
