//! One API call end to end: serialize, sign, send, retry (legacy mode), parse; and the
//! AWS CLI's auto-pagination of list operations (botocore's `PageIterator` with
//! `--starting-token`, `--page-size`, `--max-items` and the base64 `NextToken` it prints).
//!
//! It returns values and errors; printing and exit codes are the driver's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use iotjobs_model::OperationDef;

use crate::credentials::Credentials;
use crate::http::{Client, TransportError};
use crate::model::{Paginator, Service};
use crate::pyjson::{self, Dict, Value};
use crate::request;
use crate::response::{self, ServiceError};
use crate::retry;

/// Everything needed to send requests of one invocation.
pub struct Context<'a> {
    pub service: &'static Service,
    pub op: &'static OperationDef,
    pub client: Client,
    pub endpoint: String,
    pub region: String,
    /// `None` with `--no-sign-request`.
    pub credentials: Option<Credentials>,
    pub max_attempts: u32,
    pub read_timeout: Option<Duration>,
    pub debug: bool,
    pub user_agent: String,
    pub stderr: &'a mut dyn std::io::Write,
}

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    Service {
        error: ServiceError,
        /// `Some(retries)` when every attempt was used.
        max_retries_reached: Option<u32>,
    },
    Transport(String),
    /// `Error during pagination: …` and other messages printed as they are.
    Other(String),
}

/// Joins the endpoint and the request path (botocore `_urljoin`).
fn url_join(endpoint: &str, path_and_query: &str) -> String {
    let (base, _) = endpoint.split_once('?').unwrap_or((endpoint, ""));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let (origin, ep_path) = match base[scheme_end..].find('/') {
        Some(i) => base.split_at(scheme_end + i),
        None => (base, ""),
    };
    let ep_path = ep_path.strip_suffix('/').unwrap_or(ep_path);
    format!("{origin}{ep_path}{path_and_query}")
}

/// The authority of a URL (what the transport sends as `Host`).
fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    rest[..end].to_string()
}

impl Context<'_> {
    /// One operation call with retries; the parsed output on 2xx.
    pub fn call(&mut self, params: &Dict) -> Result<Value, CallError> {
        let req = request::serialize(self.service, self.op, params);
        let url = url_join(&self.endpoint, &req.path_and_query);
        let host = authority(&url);
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let mut attempt = 1u32;
        loop {
            let now = SystemTime::now();
            let mut headers: Vec<(String, String)> =
                vec![("Accept-Encoding".into(), "identity".into())];
            // Modelled header members come before Content-Type, as botocore's serializer
            // adds them.
            headers.extend(req.headers.iter().cloned());
            if let Some(ct) = req.content_type {
                headers.push(("Content-Type".into(), ct.into()));
            }
            headers.push(("User-Agent".into(), self.user_agent.clone()));
            if let Some(creds) = &self.credentials {
                let signed = crate::sign::sign_request(
                    &crate::sign::Signable {
                        method: req.method,
                        url: &url,
                        host: &host,
                        content_type: req.content_type,
                        headers: &req.headers,
                        body: &req.body,
                    },
                    &crate::sign::Scope {
                        creds,
                        region: &self.region,
                        service: self.service.signing_name,
                        time: now,
                    },
                )
                .map_err(CallError::Other)?;
                headers.extend(signed);
            }
            let ttl = self.read_timeout.map(|t| {
                now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() + t.as_secs()
            });
            headers.push(("amz-sdk-invocation-id".into(), invocation_id.clone()));
            headers.push((
                "amz-sdk-request".into(),
                retry::sdk_request_header(attempt, self.max_attempts, ttl),
            ));
            if self.debug {
                let _ = writeln!(
                    self.stderr,
                    "iotjobs debug: {} {url} attempt {attempt}",
                    req.method
                );
                for (k, v) in &headers {
                    let _ = writeln!(self.stderr, "iotjobs debug:   {k}: {v}");
                }
                let _ = writeln!(
                    self.stderr,
                    "iotjobs debug:   body: {}",
                    String::from_utf8_lossy(&req.body)
                );
            }
            let outcome = self.client.send(req.method, &url, &headers, &req.body);
            let retry_reason = match outcome {
                Ok(r) => {
                    if self.debug {
                        let _ = writeln!(
                            self.stderr,
                            "iotjobs debug: response {} {}",
                            r.status,
                            String::from_utf8_lossy(&r.body)
                        );
                    }
                    if r.status < 300 {
                        let out = self.op.output.and_then(|n| self.service.shape(n));
                        return Ok(response::parse_output(self.service, out, &r));
                    }
                    let error = response::parse_error(&r);
                    if !retry::retryable_response(r.status, &error.code) {
                        return Err(CallError::Service {
                            error,
                            max_retries_reached: None,
                        });
                    }
                    if attempt >= self.max_attempts {
                        return Err(CallError::Service {
                            error,
                            max_retries_reached: Some(self.max_attempts - 1),
                        });
                    }
                    format!("HTTP {}", r.status)
                }
                Err(e) => {
                    if !e.retryable() || attempt >= self.max_attempts {
                        return Err(CallError::Transport(e.message(&url)));
                    }
                    if matches!(e, TransportError::Fatal(_)) {
                        return Err(CallError::Transport(e.message(&url)));
                    }
                    e.message(&url)
                }
            };
            let sleep = retry::delay(attempt);
            if self.debug {
                let _ = writeln!(
                    self.stderr,
                    "iotjobs debug: retrying after {retry_reason} in {sleep:?}"
                );
            }
            std::thread::sleep(sleep);
            attempt += 1;
        }
    }

    /// The AWS CLI's paginated call: the pages (after `--starting-token`/`--max-items`
    /// truncation) and the resume token, if any.
    pub fn paginate(
        &mut self,
        pag: &Paginator,
        params: &Dict,
        starting_token: Option<&str>,
        page_size: Option<&str>,
        max_items: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), CallError> {
        let mut kwargs = params.clone();
        let (mut next_token, starting_truncation0) = match starting_token {
            Some(t) => decode_token(t, pag)?,
            None => (None, 0usize),
        };
        if let Some(t) = &next_token {
            kwargs.insert(pag.input_token, Value::Str(t.clone()));
        }
        if let Some(ps) = page_size {
            kwargs.insert(pag.limit_key, Value::Int(ps.to_string()));
        }
        let max_items: Option<i64> = max_items.and_then(|m| m.parse().ok());
        let mut pages = Vec::new();
        let mut resume = None;
        let mut total: i64 = 0;
        let mut first = true;
        let mut previous: Option<String> = None;
        loop {
            let mut parsed = self.call(&kwargs)?;
            let mut starting_truncation = 0usize;
            if first {
                if starting_token.is_some() {
                    starting_truncation = starting_truncation0;
                    if let Value::Dict(d) = &mut parsed {
                        let data = match d.get(pag.result_key) {
                            Some(Value::List(l)) => {
                                Value::List(l.iter().skip(starting_truncation).cloned().collect())
                            }
                            _ => Value::Null,
                        };
                        d.insert(pag.result_key, data);
                    }
                }
                first = false;
            }
            let items = match parsed.as_dict().and_then(|d| d.get(pag.result_key)) {
                Some(Value::List(l)) => l.len() as i64,
                _ => 0,
            };
            let token_now = match parsed.as_dict().and_then(|d| d.get(pag.output_token)) {
                Some(v) if v.truthy() => Some(v.py_str()),
                _ => None,
            };
            if let Some(max) = max_items {
                let truncate = total + items - max;
                if truncate > 0 {
                    let keep = (items - truncate).max(0) as usize;
                    if let Value::Dict(d) = &mut parsed
                        && let Some(Value::List(l)) = d.get_mut(pag.result_key)
                    {
                        l.truncate(keep);
                    }
                    resume = Some(encode_token(
                        pag,
                        next_token.as_deref(),
                        Some(keep + starting_truncation),
                    ));
                    pages.push(parsed);
                    break;
                }
            }
            pages.push(parsed);
            total += items;
            let Some(token) = token_now else { break };
            if max_items == Some(total) {
                resume = Some(encode_token(pag, Some(&token), None));
                break;
            }
            if previous.as_deref() == Some(token.as_str()) {
                return Err(CallError::Other(format!(
                    "Error during pagination: The same next token was received twice: {{'{}': {}}}",
                    pag.input_token,
                    pyjson::str_repr(&token)
                )));
            }
            kwargs.insert(pag.input_token, Value::Str(token.clone()));
            previous = Some(token.clone());
            next_token = Some(token);
        }
        Ok((pages, resume))
    }
}

fn encode_token(pag: &Paginator, token: Option<&str>, truncate: Option<usize>) -> String {
    let mut d = Dict::new();
    d.insert(pag.input_token, token.map_or(Value::Null, Value::str));
    if let Some(t) = truncate {
        d.insert("boto_truncate_amount", Value::int(t as i64));
    }
    base64::engine::general_purpose::STANDARD.encode(pyjson::dumps(&Value::Dict(d)))
}

fn decode_token(t: &str, pag: &Paginator) -> Result<(Option<String>, usize), CallError> {
    let bad = || CallError::Other(format!("Bad starting token: {t}"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(t)
        .map_err(|_| bad())?;
    let v = pyjson::loads(&String::from_utf8_lossy(&bytes), false).map_err(|_| bad())?;
    let d = v.as_dict().ok_or_else(bad)?;
    let token = d
        .get(pag.input_token)
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let trunc = match d.get("boto_truncate_amount") {
        Some(Value::Int(i)) => i.parse().unwrap_or(0),
        _ => 0,
    };
    Ok((token, trunc))
}

/// botocore's `build_full_result` for one result key, plus `NextToken`.
pub fn full_result(pag: &Paginator, pages: &[Value], resume: Option<&str>) -> Value {
    let mut complete = Dict::new();
    for page in pages {
        let Some(v) = page.as_dict().and_then(|d| d.get(pag.result_key)) else {
            continue;
        };
        if matches!(v, Value::Null) {
            continue;
        }
        match (complete.get_mut(pag.result_key), v) {
            (None, v) => complete.insert(pag.result_key, v.clone()),
            (Some(Value::List(existing)), Value::List(more)) => {
                existing.extend(more.iter().cloned())
            }
            (Some(Value::Str(existing)), Value::Str(more)) => existing.push_str(more),
            _ => {}
        }
    }
    if let Some(r) = resume {
        complete.insert("NextToken", Value::str(r));
    }
    Value::Dict(complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_join_like_botocore() {
        assert_eq!(
            url_join("http://127.0.0.1:8080", "/things/t1"),
            "http://127.0.0.1:8080/things/t1"
        );
        assert_eq!(url_join("http://h/", "/things/t1"), "http://h/things/t1");
        assert_eq!(
            url_join("http://h/prefix", "/things/t1?x=1"),
            "http://h/prefix/things/t1?x=1"
        );
        assert_eq!(authority("http://127.0.0.1:8080/x?y"), "127.0.0.1:8080");
    }

    #[test]
    fn resume_tokens_round_trip() {
        let pag = crate::model::IOT.paginator("ListJobs").unwrap();
        let t = encode_token(pag, Some("abc"), Some(2));
        assert_eq!(
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(&t)
                    .unwrap()
            )
            .unwrap(),
            r#"{"nextToken": "abc", "boto_truncate_amount": 2}"#
        );
        assert_eq!(decode_token(&t, pag).unwrap(), (Some("abc".into()), 2));
    }
}
