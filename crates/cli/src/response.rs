//! Reading responses as botocore's rest-json parser reads them.
//!
//! Errors: the code comes from `x-amzn-ErrorType` (text before `:`), else the body's
//! `code`/`Code`, else `__type` (after `#`), else the HTTP status; the message from the
//! body's `message`, then `Message`; a non-JSON body is the message; a 5xx with an empty or
//! `<html>` body is `<status>` / the reason phrase. Success: the output shape's members in
//! model order (unknown keys and nulls dropped, maps in received order, timestamps as
//! received, as the AWS CLI v1 prints them by default).

use iotjobs_model::{ShapeDef, ShapeKind};

use crate::http::Response;
use crate::model::Service;
use crate::pyjson::{self, Dict, Value};

/// A service error.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceError {
    pub code: String,
    pub message: String,
}

fn body_json(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Dict(Dict::new());
    }
    let text = String::from_utf8_lossy(body);
    match pyjson::loads(&text, false) {
        Ok(v) => v,
        Err(_) => {
            let mut d = Dict::new();
            d.insert("message", Value::Str(text.into_owned()));
            Value::Dict(d)
        }
    }
}

fn value_text(v: &Value) -> String {
    v.py_str()
}

/// botocore's error parsing for rest-json (`_do_error_parse` + `_inject_error_code`).
pub fn parse_error(r: &Response) -> ServiceError {
    if r.status >= 500 {
        let trimmed = trim_ascii(&r.body);
        if trimmed.is_empty() || trimmed.starts_with(b"<html>") {
            return ServiceError {
                code: r.status.to_string(),
                message: r.reason.clone(),
            };
        }
    }
    let body = body_json(&r.body);
    let empty = Dict::new();
    let d = body.as_dict().unwrap_or(&empty);
    let message = d
        .get("message")
        .or_else(|| d.get("Message"))
        .map(value_text)
        .unwrap_or_default();
    let mut code = match d.get("__type") {
        Some(t) => value_text(t),
        None => r.status.to_string(),
    };
    if let Some((before, _)) = code.split_once(':') {
        code = before.to_string();
    }
    if let Some((_, after)) = code.rsplit_once('#') {
        code = after.to_string();
    }
    let injected = if let Some(h) = r.header("x-amzn-errortype") {
        Some(h.to_string())
    } else {
        d.get("code").or_else(|| d.get("Code")).map(value_text)
    };
    if let Some(c) = injected {
        let c = c.split(':').next().unwrap_or("").to_string();
        code = c.split('#').next().unwrap_or("").to_string();
    }
    ServiceError { code, message }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// The parsed output of a 2xx response (`{}` for an operation without an output shape).
pub fn parse_output(service: &Service, output: Option<&ShapeDef>, r: &Response) -> Value {
    let Some(shape) = output else {
        return Value::Dict(Dict::new());
    };
    let body = body_json(&r.body);
    match parse_shape(service, shape, &body) {
        Some(Value::Dict(d)) => Value::Dict(d),
        _ => Value::Dict(Dict::new()),
    }
}

fn parse_shape(service: &Service, shape: &ShapeDef, v: &Value) -> Option<Value> {
    Some(match shape.kind {
        ShapeKind::Structure => {
            let d = match v {
                Value::Null => return Some(Value::Null),
                Value::Dict(d) => d,
                _ => return Some(v.clone()),
            };
            let mut out = Dict::new();
            for m in shape.members {
                if let Some(raw) = d.get(m.location_name) {
                    if matches!(raw, Value::Null) {
                        continue;
                    }
                    if let Some(p) = parse_shape(service, service.member_shape(m), raw) {
                        out.insert(m.name, p);
                    }
                }
            }
            Value::Dict(out)
        }
        ShapeKind::List => match v {
            Value::List(items) => {
                let ms = service.model.shape(shape.member?);
                Value::List(
                    items
                        .iter()
                        .filter_map(|i| parse_shape(service, ms, i))
                        .collect(),
                )
            }
            other => other.clone(),
        },
        ShapeKind::Map => match v {
            Value::Dict(d) => {
                let vs = service.model.shape(shape.value?);
                let mut out = Dict::new();
                for (k, val) in d.iter() {
                    if let Some(p) = parse_shape(service, vs, val) {
                        out.insert(k.clone(), p);
                    }
                }
                Value::Dict(out)
            }
            other => other.clone(),
        },
        _ => v.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            reason: match status {
                500 => "Internal Server Error",
                502 => "Bad Gateway",
                _ => "",
            }
            .into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_lowercase(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn e(status: u16, headers: &[(&str, &str)], body: &str) -> (String, String) {
        let err = parse_error(&resp(status, headers, body));
        (err.code, err.message)
    }

    #[test]
    fn error_code_and_message_as_spec_3_4() {
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            e(
                409,
                &[("x-amzn-ErrorType", "InvalidStateTransitionException")],
                r#"{"message": "m"}"#
            ),
            s("InvalidStateTransitionException", "m")
        );
        assert_eq!(
            e(
                400,
                &[(
                    "x-amzn-ErrorType",
                    "InvalidRequestException:http://internal.amazon.com/coral/x"
                )],
                ""
            ),
            s("InvalidRequestException", "")
        );
        assert_eq!(
            e(400, &[], r#"{"__type": "InvalidRequestException"}"#),
            s("InvalidRequestException", "")
        );
        assert_eq!(
            e(
                400,
                &[],
                r#"{"__type": "com.amazonaws.iot#InvalidRequestException"}"#
            ),
            s("InvalidRequestException", "")
        );
        assert_eq!(e(400, &[], r#"{"code": "X"}"#), s("X", ""));
        assert_eq!(
            e(
                400,
                &[("x-amzn-ErrorType", "H")],
                r#"{"__type": "T", "code": "C"}"#
            ),
            s("H", "")
        );
        assert_eq!(e(400, &[], r#"{"Message": "m"}"#), s("400", "m"));
        assert_eq!(e(400, &[], ""), s("400", ""));
        assert_eq!(
            e(404, &[], "<html>Not Found</html>"),
            s("404", "<html>Not Found</html>")
        );
        assert_eq!(e(500, &[], ""), s("500", "Internal Server Error"));
        assert_eq!(e(502, &[], "<html>x</html>"), s("502", "Bad Gateway"));
        assert_eq!(e(500, &[], "Something broke"), s("500", "Something broke"));
    }
}
