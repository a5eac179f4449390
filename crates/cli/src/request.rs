//! The restJson1 request of an operation, built from the model tables as botocore's
//! `RestJSONSerializer` builds it: path labels percent-encoded with no safe characters
//! (`/` → `%2F`, `.`/`..` left literal), query members in parameter order (booleans as
//! `true`/`false`), and a JSON body of the body members, or `{}` when the input shape has
//! body members but none was given. `Content-Type: application/json` goes with any body.
//!
//! It builds a method, a path-and-query and a body; signing and sending are elsewhere.

use iotjobs_model::{Location, OperationDef, Segment, ShapeDef, ShapeKind};

use crate::model::Service;
use crate::pyjson::{self, Dict, Value};

/// A serialized request, before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    /// Path plus `?query` (already percent-encoded), to append to the endpoint's path.
    pub path_and_query: String,
    pub body: Vec<u8>,
    /// Set when there is a body.
    pub content_type: Option<&'static str>,
    /// The input's header-bound members (`x-amzn-principal`), in parameter order: sent
    /// and signed like botocore's.
    pub headers: Vec<(String, String)>,
}

/// `percent_encode(value, safe='')` after `str()`: only `A-Za-z0-9-_.~` stay.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of a URI label or query value (`_get_uri_and_query_string_value`).
fn uri_text(v: &Value, shape: &ShapeDef) -> String {
    match (v, shape.kind) {
        (Value::Bool(b), _) => if *b { "true" } else { "false" }.into(),
        (v, ShapeKind::Timestamp) => timestamp_iso8601(v).unwrap_or_else(|| v.py_str()),
        (Value::Float(f), _) => handle_float(*f).py_str(),
        (v, _) => v.py_str(),
    }
}

/// botocore `_handle_float`: whole floats become ints.
fn handle_float(f: f64) -> Value {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e17 {
        Value::Int(format!("{}", f as i64))
    } else {
        Value::Float(f)
    }
}

/// Serializes validated `params` for `op`.
pub fn serialize(service: &Service, op: &OperationDef, params: &Dict) -> HttpRequest {
    let input = op.input.and_then(|n| service.shape(n));
    let mut labels: Vec<(&str, String)> = Vec::new();
    let mut query: Vec<(String, String)> = Vec::new();
    let mut body = Dict::new();
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(shape) = input {
        for (k, v) in params.iter() {
            if matches!(v, Value::Null) {
                continue;
            }
            let Some(m) = shape.members.iter().find(|m| m.name == k) else {
                continue;
            };
            let mshape = service.member_shape(m);
            match m.location {
                Location::Uri => labels.push((m.location_name, uri_text(v, mshape))),
                Location::QueryString => match (v, mshape.kind) {
                    (Value::List(items), _) => {
                        let member = service.model.shape(mshape.member.expect("list member"));
                        for it in items {
                            query.push((m.location_name.to_string(), uri_text(it, member)));
                        }
                    }
                    (Value::Dict(d), ShapeKind::Map) => {
                        for (qk, qv) in d.iter() {
                            query.push((qk.clone(), qv.py_str()));
                        }
                    }
                    _ => query.push((m.location_name.to_string(), uri_text(v, mshape))),
                },
                // botocore's `_serialize_header_value`: text as is (booleans as
                // `true`/`false`); no served operation has a timestamp, list or JSON one.
                Location::Header => {
                    headers.push((m.location_name.to_string(), uri_text(v, mshape)))
                }
                Location::StatusCode => {}
                Location::Body => {
                    body.insert(m.location_name, body_value(service, v, mshape));
                }
            }
        }
    }
    let mut path = String::new();
    for seg in op.path {
        path.push('/');
        match seg {
            Segment::Literal(l) => path.push_str(l),
            Segment::Label(name) => {
                let v = labels
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("");
                path.push_str(&percent_encode(v));
            }
            Segment::Greedy(name) => {
                let v = labels
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("");
                // `{name+}` keeps `/` and `~`.
                let enc: Vec<String> = v.split('/').map(percent_encode).collect();
                path.push_str(&enc.join("/"));
            }
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    for (k, v) in op.query {
        query.insert(0, (k.to_string(), v.to_string()));
    }
    if !query.is_empty() {
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        path.push('?');
        path.push_str(&q.join("&"));
    }
    let has_body_members =
        input.is_some_and(|s| s.members.iter().any(|m| m.location == Location::Body));
    let body_bytes = if !body.is_empty() || has_body_members {
        pyjson::dumps(&Value::Dict(body)).into_bytes()
    } else {
        Vec::new()
    };
    HttpRequest {
        method: op.method,
        path_and_query: path,
        content_type: (!body_bytes.is_empty()).then_some("application/json"),
        body: body_bytes,
        headers,
    }
}

/// A body value as the JSON serializer writes it: structures keep parameter order (and
/// drop nothing: the validator already rejected unknown members), timestamps become epoch
/// seconds, whole floats stay floats.
fn body_value(service: &Service, v: &Value, shape: &ShapeDef) -> Value {
    match (shape.kind, v) {
        (ShapeKind::Structure, Value::Dict(d)) => {
            let mut out = Dict::new();
            for (k, val) in d.iter() {
                if let Some(m) = shape.members.iter().find(|m| m.name == k) {
                    out.insert(
                        m.location_name,
                        body_value(service, val, service.member_shape(m)),
                    );
                }
            }
            Value::Dict(out)
        }
        (ShapeKind::Map, Value::Dict(d)) => {
            let vs = service.model.shape(shape.value.expect("map value"));
            let mut out = Dict::new();
            for (k, val) in d.iter() {
                out.insert(k.clone(), body_value(service, val, vs));
            }
            Value::Dict(out)
        }
        (ShapeKind::List, Value::List(items)) => {
            let ms = service.model.shape(shape.member.expect("list member"));
            Value::List(items.iter().map(|i| body_value(service, i, ms)).collect())
        }
        (ShapeKind::Timestamp, v) => match timestamp_epoch(v) {
            Some(secs) => handle_float(secs),
            None => v.clone(),
        },
        (_, v) => {
            let mut v = v.clone();
            if let Value::Dict(d) = &mut v {
                d.ordered = false;
            }
            v
        }
    }
}

/// A timestamp parameter as epoch seconds: a number, a numeric string, or ISO 8601
/// (`2024-01-02`, `2024-01-02T03:04:05[.fff][Z|±hh:mm]`), as botocore's
/// `parse_to_aware_datetime` accepts them for the common forms.
pub fn timestamp_epoch(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => i.parse().ok(),
        Value::Float(f) => Some(*f),
        Value::Str(s) => {
            if let Ok(n) = s.trim().parse::<f64>() {
                return Some(n);
            }
            parse_iso8601(s.trim())
        }
        _ => None,
    }
}

fn parse_iso8601(s: &str) -> Option<f64> {
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: i64 = dp.next()?.parse().ok()?;
    let d: i64 = dp.next()?.parse().ok()?;
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = iotjobs_core::time::days_from_civil(y, m, d) as f64 * 86400.0;
    if let Some(t) = time {
        let (t, offset) = if let Some(t) = t.strip_suffix('Z') {
            (t, 0.0)
        } else if let Some(i) = t.rfind(['+', '-']) {
            let (hh, mm) = t[i + 1..].split_once(':').unwrap_or((&t[i + 1..], "0"));
            let off = hh.parse::<f64>().ok()? * 3600.0 + mm.parse::<f64>().ok()? * 60.0;
            (&t[..i], if &t[i..i + 1] == "+" { off } else { -off })
        } else {
            (t, 0.0)
        };
        let mut tp = t.split(':');
        let h: f64 = tp.next()?.parse().ok()?;
        let mi: f64 = tp.next().unwrap_or("0").parse().ok()?;
        let se: f64 = tp.next().unwrap_or("0").parse().ok()?;
        secs += h * 3600.0 + mi * 60.0 + se - offset;
    }
    Some(secs)
}

/// ISO 8601 for query-string timestamps (botocore's default for rest protocols).
fn timestamp_iso8601(v: &Value) -> Option<String> {
    let secs = timestamp_epoch(v)?;
    let whole = secs.floor() as i64;
    let (y, m, d) = iotjobs_core::time::civil_from_days(whole.div_euclid(86400));
    let rem = whole.rem_euclid(86400);
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IOT;
    use crate::pyjson::loads;

    fn req(op: &str, json: &str) -> HttpRequest {
        let op = IOT.model.find_op(op).unwrap();
        let Value::Dict(d) = loads(json, true).unwrap() else {
            panic!()
        };
        serialize(&IOT, op, &d)
    }

    #[test]
    fn cancel_job_execution_requests() {
        let r = req(
            "CancelJobExecution",
            r#"{"jobId": "a/b c", "thingName": "t:1"}"#,
        );
        assert_eq!(r.method, "PUT");
        assert_eq!(r.path_and_query, "/things/t%3A1/jobs/a%2Fb%20c/cancel");
        assert_eq!(r.body, b"{}");
        assert_eq!(r.content_type, Some("application/json"));
        let r = req(
            "CancelJobExecution",
            r#"{"jobId": "..", "thingName": "ü", "force": true, "expectedVersion": 7, "statusDetails": {"a": "héllo ✓"}}"#,
        );
        assert_eq!(r.path_and_query, "/things/%C3%BC/jobs/../cancel?force=true");
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"expectedVersion": 7, "statusDetails": {"a": "h\u00e9llo \u2713"}}"#
        );
    }

    #[test]
    fn get_without_body_members_has_no_body() {
        let r = req("DescribeThing", r#"{"thingName": "t1"}"#);
        assert_eq!((r.method, r.path_and_query.as_str()), ("GET", "/things/t1"));
        assert!(r.body.is_empty());
        assert_eq!(r.content_type, None);
    }

    #[test]
    fn iso8601_to_epoch_seconds() {
        assert_eq!(parse_iso8601("1970-01-02T00:00:01Z"), Some(86401.0));
    }
}
