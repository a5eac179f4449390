//! Decoding a restJson1 request (path labels, raw query, headers, body bytes) into the operation's
//! input structure as a `serde_json::Value` object keyed by member name, then validating it.
//!
//! Bindings come from the generated shape table: `uri` members from the route's labels,
//! `querystring` members from the query (form-urlencoded), `header` members from the
//! request headers (names compared case-insensitively, as HTTP's are), everything without a
//! location from the JSON body. Path, query and header text is converted to the member's type here (booleans
//! must be exactly `true`/`false`, numbers decimal); body values are taken as sent and
//! type-checked by `validate`. Unknown query parameters, headers and body keys are ignored, as AWS
//! does. This module must
//! not interpret values beyond that: defaults and domain rules belong to the handlers/core.

use percent_encoding::percent_decode_str;
use serde_json::{Map, Number, Value};

use super::validate::{expected, validate};
use super::{WireError, WireErrorKind};
use iotjobs_model::{Location, Model, OperationDef, ShapeDef, ShapeKind};

/// Builds and validates `op`'s input from the request parts.
///
/// `labels` are the decoded path labels from `route::match_route`; `raw_query` is the query
/// string without `?`, still percent-encoded; `headers` are the request's headers whose
/// values are text (name, value), in any case; `body` is the raw request body. A body that is
/// empty or only whitespace counts as `{}`; the body is not read at all when the input has
/// no body members (GET/DELETE operations).
pub fn decode_input(
    model: &Model,
    op: &OperationDef,
    labels: &[(&str, String)],
    raw_query: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Value, WireError> {
    let id = op
        .input
        .and_then(|name| model.shape_id(name))
        .ok_or_else(|| {
            WireError::new(
                WireErrorKind::NotServed,
                format!("Operation {} is not supported", op.name),
            )
        })?;
    let shape = model.shape(id);
    let query = parse_query(raw_query.unwrap_or(""))?;
    let body = if shape.members.iter().any(|m| m.location == Location::Body) {
        parse_body(body)?
    } else {
        Map::new()
    };

    let mut input = Map::new();
    for m in shape.members {
        let target = model.shape(m.shape);
        let value = match m.location {
            Location::Uri => labels
                .iter()
                .find(|(name, _)| *name == m.location_name)
                .map(|(_, text)| from_text(target, text, m.name))
                .transpose()?,
            Location::QueryString => from_query(model, shape, target, m.location_name, &query)?,
            Location::Body => body.get(m.location_name).filter(|v| !v.is_null()).cloned(),
            // A repeated header: the first occurrence wins, as for query parameters.
            Location::Header => headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(m.location_name))
                .map(|(_, text)| from_text(target, text.trim(), m.location_name))
                .transpose()?,
            Location::StatusCode => None,
        };
        if let Some(value) = value {
            input.insert(m.name.to_owned(), value);
        }
    }
    let input = Value::Object(input);
    validate(model, id, &input)?;
    Ok(input)
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, WireError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(WireError::new(
            WireErrorKind::Malformed,
            format!(
                "Could not parse request body into json: expected a JSON object, got {}",
                json_type(&other)
            ),
        )),
        Err(e) => Err(WireError::new(
            WireErrorKind::Malformed,
            format!("Could not parse request body into json: {e}"),
        )),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `application/x-www-form-urlencoded` pairs, in order; a key without `=` has value `""`.
fn parse_query(raw: &str) -> Result<Vec<(String, String)>, WireError> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((form_decode(k)?, form_decode(v)?))
        })
        .collect()
}

fn form_decode(s: &str) -> Result<String, WireError> {
    let s = s.replace('+', " ");
    percent_decode_str(&s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            WireError::new(
                WireErrorKind::Malformed,
                "Query string is not valid percent-encoded UTF-8",
            )
        })
}

/// The value of query member `key` of structure `owner`, typed by `target`.
fn from_query(
    model: &Model,
    owner: &ShapeDef,
    target: &ShapeDef,
    key: &str,
    query: &[(String, String)],
) -> Result<Option<Value>, WireError> {
    match target.kind {
        // `?k=a&k=b` → `["a", "b"]`.
        ShapeKind::List => {
            let elem = target.member.map(|id| model.shape(id)).ok_or_else(|| {
                WireError::new(
                    WireErrorKind::Type,
                    format!("Unsupported query list '{key}'"),
                )
            })?;
            let items = query
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| from_text(elem, v, key))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((!items.is_empty()).then_some(Value::Array(items)))
        }
        // A map-typed query member collects every parameter no other member binds.
        ShapeKind::Map => {
            let value = target.value.map(|id| model.shape(id)).ok_or_else(|| {
                WireError::new(
                    WireErrorKind::Type,
                    format!("Unsupported query map '{key}'"),
                )
            })?;
            let bound = |k: &str| {
                owner
                    .members
                    .iter()
                    .any(|m| m.location == Location::QueryString && m.location_name == k)
            };
            let mut map = Map::new();
            for (k, v) in query.iter().filter(|(k, _)| !bound(k)) {
                if !map.contains_key(k) {
                    map.insert(k.clone(), from_text(value, v, k)?);
                }
            }
            Ok((!map.is_empty()).then_some(Value::Object(map)))
        }
        // A repeated scalar parameter: the first occurrence wins.
        _ => query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| from_text(target, v, key))
            .transpose(),
    }
}

/// Converts path/query/header text to a JSON value of `shape`'s type; `name` is for messages.
fn from_text(shape: &ShapeDef, text: &str, name: &str) -> Result<Value, WireError> {
    let bad = || {
        WireError::new(
            WireErrorKind::Type,
            format!(
                "Invalid value for member '{name}': expected {}, got '{text}'",
                expected(shape.kind)
            ),
        )
    };
    Ok(match shape.kind {
        ShapeKind::String | ShapeKind::Blob => Value::String(text.to_owned()),
        ShapeKind::Boolean => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad()),
        },
        ShapeKind::Long => Value::from(text.parse::<i64>().map_err(|_| bad())?),
        ShapeKind::Integer => Value::from(text.parse::<i32>().map_err(|_| bad())?),
        // restJson1 sends query/path timestamps as ISO-8601; no served operation has one, so
        // only epoch seconds are understood here.
        ShapeKind::Double | ShapeKind::Float | ShapeKind::Timestamp => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(bad)?,
        ShapeKind::List | ShapeKind::Map | ShapeKind::Structure => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::route::{RouteMatch, match_route};
    use iotjobs_model::generated::{iot, iot_jobs_data};
    use serde_json::json;

    /// Routes and decodes like the edge will: `target` is `METHOD /path?query`.
    fn decode(
        model: &'static Model,
        method: &str,
        target: &str,
        body: &str,
    ) -> Result<Value, WireError> {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let RouteMatch::Matched { op, labels } = match_route(model.ops, method, path) else {
            panic!("no route for {method} {target}");
        };
        decode_input(model, op, &labels, query, &[], body.as_bytes())
    }

    fn cancel(target: &str, body: &str) -> Result<Value, WireError> {
        decode(&iot::MODEL, "PUT", target, body)
    }

    fn message(r: Result<Value, WireError>) -> String {
        r.expect_err("expected an error").message
    }

    #[test]
    fn cancel_job_execution_decodes_all_locations() {
        let v = cancel(
            "/things/t1/jobs/j1/cancel?force=true",
            r#"{"expectedVersion":3,"statusDetails":{"k":"v"}}"#,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"jobId": "j1", "thingName": "t1", "force": true,
                   "expectedVersion": 3, "statusDetails": {"k": "v"}})
        );
        let req: iot::CancelJobExecutionRequest = serde_json::from_value(v).unwrap();
        assert_eq!(req.job_id, "j1");
        assert_eq!(req.thing_name, "t1");
        assert_eq!(req.force, Some(true));
        assert_eq!(req.expected_version, Some(3));
        let details = req.status_details.unwrap();
        assert_eq!(details.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn empty_body_and_encoded_labels() {
        let v = cancel("/things/thing%3A1/jobs/j1/cancel", "").unwrap();
        assert_eq!(v, json!({"jobId": "j1", "thingName": "thing:1"}));
        let v = cancel("/things/t/jobs/j/cancel?force=false", " \n{}\t").unwrap();
        assert_eq!(v["force"], json!(false));
    }

    #[test]
    fn body_cannot_override_path_or_query_members() {
        let v = cancel(
            "/things/t1/jobs/j1/cancel?force=false",
            r#"{"jobId":"other","thingName":"x","force":true,"unknown":1}"#,
        )
        .unwrap();
        assert_eq!(v, json!({"jobId": "j1", "thingName": "t1", "force": false}));
    }

    #[test]
    fn bad_boolean_in_query() {
        assert_eq!(
            message(cancel("/things/t1/jobs/j1/cancel?force=yes", "{}")),
            "Invalid value for member 'force': expected a boolean, got 'yes'"
        );
        assert!(cancel("/things/t1/jobs/j1/cancel?force=True", "{}").is_err());
        assert!(cancel("/things/t1/jobs/j1/cancel?force", "{}").is_err());
    }

    #[test]
    fn job_id_pattern_violation() {
        assert_eq!(
            message(cancel("/things/t1/jobs/bad%20id!/cancel", "{}")),
            "1 validation error detected: Value 'bad id!' at 'jobId' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
        );
    }

    #[test]
    fn job_id_too_long() {
        let id = "a".repeat(65);
        assert_eq!(
            message(cancel(&format!("/things/t1/jobs/{id}/cancel"), "{}")),
            format!(
                "1 validation error detected: Value '{id}' at 'jobId' failed to satisfy \
                 constraint: Member must have length less than or equal to 64"
            )
        );
    }

    #[test]
    fn several_violations_are_joined() {
        let id = "!".repeat(65);
        assert_eq!(
            message(cancel(&format!("/things/a%20b/jobs/{id}/cancel"), "{}")),
            format!(
                "3 validation errors detected: \
                 Value '{id}' at 'jobId' failed to satisfy constraint: Member must have length \
                 less than or equal to 64; \
                 Value '{id}' at 'jobId' failed to satisfy constraint: Member must satisfy \
                 regular expression pattern: [a-zA-Z0-9_-]+; \
                 Value 'a b' at 'thingName' failed to satisfy constraint: Member must satisfy \
                 regular expression pattern: [a-zA-Z0-9:_-]+"
            )
        );
    }

    #[test]
    fn status_details_value_with_control_character() {
        assert_eq!(
            message(cancel(
                "/things/t1/jobs/j1/cancel",
                r#"{"statusDetails":{"k":"a\nb"}}"#
            )),
            "1 validation error detected: Value '{k=a\nb}' at 'statusDetails' failed to satisfy \
             constraint: Map value must satisfy constraint: [Member must have length greater \
             than or equal to 1, Member must satisfy regular expression pattern: [^\\p{C}]+]"
        );
    }

    #[test]
    fn empty_strings_fail_min_length() {
        // Map value: reported once for the map, listing the value shape's constraints.
        let m = message(cancel(
            "/things/t1/jobs/j1/cancel",
            r#"{"statusDetails":{"k":""}}"#,
        ));
        assert!(
            m.starts_with("1 validation error detected: Value '{k=}' at 'statusDetails'"),
            "{m}"
        );
        // Plain member: min length and pattern are two violations (CreateThing).
        let m = message(decode(
            &iot::MODEL,
            "POST",
            "/things/t1",
            r#"{"thingTypeName":""}"#,
        ));
        assert_eq!(
            m,
            "2 validation errors detected: \
             Value '' at 'thingTypeName' failed to satisfy constraint: Member must have length \
             greater than or equal to 1; \
             Value '' at 'thingTypeName' failed to satisfy constraint: Member must satisfy \
             regular expression pattern: [a-zA-Z0-9:_-]+"
        );
    }

    #[test]
    fn malformed_and_non_object_bodies() {
        let e = cancel("/things/t1/jobs/j1/cancel", r#"{"expectedVersion":"#).unwrap_err();
        assert_eq!(e.kind, WireErrorKind::Malformed);
        assert!(
            e.message
                .starts_with("Could not parse request body into json: "),
            "{}",
            e.message
        );
        let e = cancel("/things/t1/jobs/j1/cancel", "[1,2]").unwrap_err();
        assert_eq!(e.kind, WireErrorKind::Malformed);
        assert_eq!(
            e.message,
            "Could not parse request body into json: expected a JSON object, got an array"
        );
        assert!(cancel("/things/t1/jobs/j1/cancel", "null").is_err());
    }

    #[test]
    fn wrong_json_type_for_member() {
        let e = cancel("/things/t1/jobs/j1/cancel", r#"{"expectedVersion":"3"}"#).unwrap_err();
        assert_eq!(e.kind, WireErrorKind::Type);
        assert_eq!(
            e.message,
            "Invalid value for member 'expectedVersion': expected a long, got a string"
        );
    }

    #[test]
    fn update_job_execution_status_enum() {
        let m = message(decode(
            &iot_jobs_data::MODEL,
            "POST",
            "/things/t1/jobs/j1",
            r#"{"status":"BOGUS"}"#,
        ));
        assert_eq!(
            m,
            "1 validation error detected: Value 'BOGUS' at 'status' failed to satisfy \
             constraint: Member must satisfy enum value set: [QUEUED, IN_PROGRESS, SUCCEEDED, \
             FAILED, TIMED_OUT, REJECTED, REMOVED, CANCELED]"
        );
        // A missing required body member.
        let m = message(decode(
            &iot_jobs_data::MODEL,
            "POST",
            "/things/t1/jobs/j1",
            "{}",
        ));
        assert_eq!(
            m,
            "1 validation error detected: Value null at 'status' failed to satisfy constraint: \
             Member must not be null"
        );
    }

    #[test]
    fn create_job_targets_min_one() {
        let m = message(decode(&iot::MODEL, "PUT", "/jobs/j1", r#"{"targets":[]}"#));
        assert_eq!(
            m,
            "1 validation error detected: Value '[]' at 'targets' failed to satisfy constraint: \
             Member must have length greater than or equal to 1"
        );
        let v = decode(
            &iot::MODEL,
            "PUT",
            "/jobs/j1",
            r#"{"targets":["arn:a"],"document":"{}"}"#,
        )
        .unwrap();
        let req: iot::CreateJobRequest = serde_json::from_value(v).unwrap();
        assert_eq!(req.targets, vec!["arn:a".to_owned()]);
    }

    #[test]
    fn query_members_are_typed_and_unknown_ones_ignored() {
        let v = decode(
            &iot::MODEL,
            "GET",
            "/things/t%201x/jobs?maxResults=10&status=QUEUED&nextToken=a%2Bb+c&foo=bar",
            "",
        );
        // `t 1x` breaks the thingName pattern; use a valid name for the typing check.
        assert!(v.is_err());
        let v = decode(
            &iot::MODEL,
            "GET",
            "/things/t1/jobs?maxResults=10&status=QUEUED&nextToken=a%2Bb+c&foo=bar",
            "",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"thingName": "t1", "status": "QUEUED", "maxResults": 10, "nextToken": "a+b c"})
        );
        let m = message(decode(&iot::MODEL, "GET", "/jobs?maxResults=ten", ""));
        assert_eq!(
            m,
            "Invalid value for member 'maxResults': expected an integer, got 'ten'"
        );
        let m = message(decode(&iot::MODEL, "GET", "/jobs?maxResults=0", ""));
        assert_eq!(
            m,
            "1 validation error detected: Value '0' at 'maxResults' failed to satisfy \
             constraint: Member must have value greater than or equal to 1"
        );
    }

    #[test]
    fn long_path_label_is_typed() {
        let v = decode(
            &iot::MODEL,
            "DELETE",
            "/things/t1/jobs/j1/executionNumber/7?force=true",
            "",
        )
        .unwrap();
        assert_eq!(v["executionNumber"], json!(7));
        let m = message(decode(
            &iot::MODEL,
            "DELETE",
            "/things/t1/jobs/j1/executionNumber/x",
            "",
        ));
        assert_eq!(
            m,
            "Invalid value for member 'executionNumber': expected a long, got 'x'"
        );
    }

    #[test]
    fn get_ignores_body_and_data_plane_next() {
        let v = decode(
            &iot_jobs_data::MODEL,
            "GET",
            "/things/t1/jobs/%24next?includeJobDocument=true",
            "garbage",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"jobId": "$next", "thingName": "t1", "includeJobDocument": true})
        );
        let req: iot_jobs_data::DescribeJobExecutionRequest = serde_json::from_value(v).unwrap();
        assert_eq!(req.job_id, "$next");
    }

    #[test]
    fn unserved_operation() {
        let op = iot::MODEL.find_op("DescribeBillingGroup").unwrap();
        let e = decode_input(&iot::MODEL, op, &[], None, &[], b"").unwrap_err();
        assert_eq!(e.kind, WireErrorKind::NotServed);
    }

    #[test]
    fn header_members_are_decoded_case_insensitively() {
        let op = iot::MODEL.find_op("AttachThingPrincipal").unwrap();
        let labels = [("thingName", "t1".to_string())];
        let arn = "arn:aws:iot:us-east-1:000000000000:cert/ab";
        for name in ["x-amzn-principal", "X-Amzn-Principal"] {
            let v = decode_input(
                &iot::MODEL,
                op,
                &labels,
                Some("thingPrincipalType=EXCLUSIVE_THING"),
                &[("host", "h"), (name, arn), ("x-amzn-principal", "second")],
                b"",
            )
            .unwrap();
            assert_eq!(
                v,
                json!({"thingName": "t1", "principal": arn, "thingPrincipalType": "EXCLUSIVE_THING"})
            );
        }
        // A required header member that is missing fails validation like any member.
        let e = decode_input(&iot::MODEL, op, &labels, None, &[], b"").unwrap_err();
        assert_eq!(e.kind, WireErrorKind::Validation, "{}", e.message);
        assert!(e.message.contains("principal"), "{}", e.message);
    }
}
