//! Validation of a decoded input (`serde_json::Value`) against a model shape.
//!
//! botocore only checks `required` and `min` client-side, so `max`, `pattern` and `enum`
//! violations reach the server and must be rejected here (spec §2.1). Messages follow the AWS
//! (Coral) format, listing every violation:
//! `2 validation errors detected: Value 'x' at 'a' failed to satisfy constraint: …; Value …`.
//!
//! Paths are dotted member names (`abortConfig.criteriaList`). List elements that are
//! structures use Coral's `list.N.member` (1-based); map values that are structures or
//! collections use `map.<key>`. Scalar list elements and map keys/values are reported once per
//! collection, as AWS does (`Map keys must satisfy constraint: [<all key constraints>]`).
//!
//! A value of the wrong JSON type is not a constraint violation but a malformed request: it
//! stops validation with a [`WireErrorKind::Type`] error. This module must not coerce values
//! (a `"3"` is not a long); coercion of query and path text happens in `decode`.

use std::fmt::Write as _;

use serde_json::Value;

use super::{WireError, WireErrorKind};
use iotjobs_model::{Model, ShapeDef, ShapeId, ShapeKind};

/// Checks `value` against shape `shape` of `model`; `Ok` when it conforms.
pub fn validate(model: &Model, shape: ShapeId, value: &Value) -> Result<(), WireError> {
    let mut v = Validator {
        model,
        violations: Vec::new(),
    };
    v.check(shape, value, "")?;
    match v.violations.len() {
        0 => Ok(()),
        n => Err(WireError::new(
            WireErrorKind::Validation,
            format!(
                "{n} validation error{} detected: {}",
                if n == 1 { "" } else { "s" },
                v.violations.join("; ")
            ),
        )),
    }
}

struct Validator<'m> {
    model: &'m Model,
    violations: Vec<String>,
}

impl Validator<'_> {
    fn check(&mut self, id: ShapeId, value: &Value, path: &str) -> Result<(), WireError> {
        let shape = self.model.shape(id);
        match shape.kind {
            ShapeKind::Structure => {
                let Value::Object(obj) = value else {
                    return Err(type_error(path, shape, value));
                };
                // Model member order, so messages are stable and read like the model.
                for m in shape.members {
                    let child = join(path, m.name);
                    match obj.get(m.name) {
                        None | Some(Value::Null) => {
                            if shape.required.contains(&m.name) {
                                self.violations.push(format!(
                                    "Value null at '{child}' failed to satisfy constraint: \
                                     Member must not be null"
                                ));
                            }
                        }
                        Some(v) => self.check(m.shape, v, &child)?,
                    }
                }
            }
            ShapeKind::List => {
                let Value::Array(items) = value else {
                    return Err(type_error(path, shape, value));
                };
                self.size(shape, items.len(), value, path);
                let Some(elem) = shape.member else {
                    return Ok(());
                };
                if is_scalar(self.model.shape(elem).kind) {
                    let mut bad = false;
                    for (i, item) in items.iter().enumerate() {
                        let item_path = format!("{path}.{}.member", i + 1);
                        bad |= !self.scalar(elem, item, &item_path)?.is_empty();
                    }
                    if bad {
                        self.collection_violation(value, path, "Member", elem);
                    }
                } else {
                    for (i, item) in items.iter().enumerate() {
                        self.check(elem, item, &format!("{path}.{}.member", i + 1))?;
                    }
                }
            }
            ShapeKind::Map => {
                let Value::Object(entries) = value else {
                    return Err(type_error(path, shape, value));
                };
                self.size(shape, entries.len(), value, path);
                if let Some(key) = shape.key {
                    let mut bad = false;
                    for k in entries.keys() {
                        let k = Value::String(k.clone());
                        bad |= !self.scalar(key, &k, path)?.is_empty();
                    }
                    if bad {
                        self.collection_violation(value, path, "Map keys", key);
                    }
                }
                if let Some(val) = shape.value {
                    if is_scalar(self.model.shape(val).kind) {
                        let mut bad = false;
                        for (k, v) in entries {
                            bad |= !self.scalar(val, v, &join(path, k))?.is_empty();
                        }
                        if bad {
                            self.collection_violation(value, path, "Map value", val);
                        }
                    } else {
                        for (k, v) in entries {
                            self.check(val, v, &join(path, k))?;
                        }
                    }
                }
            }
            _ => {
                for phrase in self.scalar(id, value, path)? {
                    self.violations.push(format!(
                        "Value {} at '{path}' failed to satisfy constraint: {phrase}",
                        render(value)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Length/entry-count constraints of a list or map.
    fn size(&mut self, shape: &ShapeDef, len: usize, value: &Value, path: &str) {
        // Collection sizes are far below 2^52, so the conversion is exact.
        #[allow(clippy::cast_precision_loss)]
        let len = len as f64;
        for phrase in length_phrases(shape, len) {
            self.violations.push(format!(
                "Value {} at '{path}' failed to satisfy constraint: {phrase}",
                render(value)
            ));
        }
    }

    /// One violation for a collection whose scalar elements/keys/values break `elem`'s
    /// constraints; like AWS, it lists all of `elem`'s constraints, not only the broken ones.
    fn collection_violation(&mut self, value: &Value, path: &str, what: &str, elem: ShapeId) {
        self.violations.push(format!(
            "Value {} at '{path}' failed to satisfy constraint: {what} must satisfy constraint: \
             [{}]",
            render(value),
            all_phrases(self.model.shape(elem)).join(", ")
        ));
    }

    /// Type-checks a scalar and returns the constraint phrases it violates.
    fn scalar(&self, id: ShapeId, value: &Value, path: &str) -> Result<Vec<String>, WireError> {
        let shape = self.model.shape(id);
        let ok_type = match shape.kind {
            ShapeKind::String | ShapeKind::Blob => value.is_string(),
            ShapeKind::Long => value.as_i64().is_some(),
            ShapeKind::Integer => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            ShapeKind::Double | ShapeKind::Float | ShapeKind::Timestamp => value.is_number(),
            ShapeKind::Boolean => value.is_boolean(),
            ShapeKind::Map | ShapeKind::List | ShapeKind::Structure => false,
        };
        if !ok_type {
            return Err(type_error(path, shape, value));
        }
        let mut phrases = Vec::new();
        match (shape.kind, value) {
            (ShapeKind::String, Value::String(s)) => {
                // Lengths count Unicode scalar values, as Coral counts code points.
                #[allow(clippy::cast_precision_loss)]
                let len = s.chars().count() as f64;
                phrases.extend(length_phrases(shape, len));
                if let Some(p) = shape.pattern
                    && let Some(re) = self.model.pattern(id)
                    && !re.is_match(s)
                {
                    phrases.push(pattern_phrase(p));
                }
                if !shape.enum_values.is_empty() && !shape.enum_values.contains(&s.as_str()) {
                    phrases.push(enum_phrase(shape.enum_values));
                }
            }
            (ShapeKind::Long | ShapeKind::Integer | ShapeKind::Double | ShapeKind::Float, _) => {
                if let Some(n) = value.as_f64() {
                    if let Some(max) = shape.max
                        && n > max
                    {
                        phrases.push(format!(
                            "Member must have value less than or equal to {}",
                            num(max)
                        ));
                    }
                    if let Some(min) = shape.min
                        && n < min
                    {
                        phrases.push(format!(
                            "Member must have value greater than or equal to {}",
                            num(min)
                        ));
                    }
                }
            }
            // Blob sizes apply to decoded bytes, and no served blob has bounds; booleans and
            // timestamps carry no constraints.
            _ => {}
        }
        Ok(phrases)
    }
}

fn is_scalar(kind: ShapeKind) -> bool {
    !matches!(
        kind,
        ShapeKind::Map | ShapeKind::List | ShapeKind::Structure
    )
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn length_phrases(shape: &ShapeDef, len: f64) -> Vec<String> {
    let mut phrases = Vec::new();
    if let Some(max) = shape.max
        && len > max
    {
        phrases.push(format!(
            "Member must have length less than or equal to {}",
            num(max)
        ));
    }
    if let Some(min) = shape.min
        && len < min
    {
        phrases.push(format!(
            "Member must have length greater than or equal to {}",
            num(min)
        ));
    }
    phrases
}

/// Every constraint of a scalar shape, in Coral's order (max, min, pattern, enum).
fn all_phrases(shape: &ShapeDef) -> Vec<String> {
    let unit = match shape.kind {
        ShapeKind::String | ShapeKind::Blob => "length",
        _ => "value",
    };
    let mut phrases = Vec::new();
    if let Some(max) = shape.max {
        phrases.push(format!(
            "Member must have {unit} less than or equal to {}",
            num(max)
        ));
    }
    if let Some(min) = shape.min {
        phrases.push(format!(
            "Member must have {unit} greater than or equal to {}",
            num(min)
        ));
    }
    if let Some(p) = shape.pattern {
        phrases.push(pattern_phrase(p));
    }
    if !shape.enum_values.is_empty() {
        phrases.push(enum_phrase(shape.enum_values));
    }
    phrases
}

fn pattern_phrase(pattern: &str) -> String {
    format!("Member must satisfy regular expression pattern: {pattern}")
}

fn enum_phrase(values: &[&str]) -> String {
    format!(
        "Member must satisfy enum value set: [{}]",
        values.join(", ")
    )
}

/// A model bound as text: `64`, not `64.0`; `1.1` stays `1.1`.
fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        // Exact: whole numbers below 1e15 fit an i64.
        #[allow(clippy::cast_possible_truncation)]
        let n = x as i64;
        n.to_string()
    } else {
        x.to_string()
    }
}

/// Coral's rendering of the offending value: `null` bare, everything else in single quotes,
/// lists as `[a, b]` and maps as `{k=v}` (Java `toString`).
fn render(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        other => {
            let mut s = String::from("'");
            render_inner(other, &mut s);
            s.push('\'');
            s
        }
    }
}

fn render_inner(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_inner(item, out);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                render_inner(v, out);
            }
            out.push('}');
        }
    }
}

pub(crate) fn type_error(path: &str, shape: &ShapeDef, value: &Value) -> WireError {
    let got = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number with a fraction or exponent",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let message = if path.is_empty() {
        format!(
            "Invalid input: expected {}, got {got}",
            expected(shape.kind)
        )
    } else {
        format!(
            "Invalid value for member '{path}': expected {}, got {got}",
            expected(shape.kind)
        )
    };
    WireError::new(WireErrorKind::Type, message)
}

pub(crate) fn expected(kind: ShapeKind) -> &'static str {
    match kind {
        ShapeKind::String => "a string",
        ShapeKind::Long => "a long",
        ShapeKind::Integer => "an integer",
        ShapeKind::Boolean => "a boolean",
        ShapeKind::Double => "a double",
        ShapeKind::Float => "a float",
        ShapeKind::Timestamp => "a timestamp (epoch seconds)",
        ShapeKind::Blob => "a blob (base64 string)",
        ShapeKind::Map => "a map (JSON object)",
        ShapeKind::List => "a list (JSON array)",
        ShapeKind::Structure => "a structure (JSON object)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotjobs_model::generated::{iot, iot_jobs_data};
    use serde_json::json;

    fn check(model: &Model, shape: &str, value: &Value) -> Result<(), WireError> {
        validate(model, model.shape_id(shape).unwrap(), value)
    }

    #[test]
    fn nested_list_structure_paths() {
        let v = json!({
            "jobId": "j1",
            "targets": ["arn:t"],
            "abortConfig": { "criteriaList": [
                { "failureType": "FAILED", "action": "CANCEL",
                  "thresholdPercentage": 101.5, "minNumberOfExecutedThings": 1 },
                { "failureType": "NOPE", "action": "CANCEL", "minNumberOfExecutedThings": 0 }
            ]}
        });
        let e = check(&iot::MODEL, "CreateJobRequest", &v).unwrap_err();
        assert_eq!(e.kind, WireErrorKind::Validation);
        assert_eq!(
            e.message,
            "4 validation errors detected: \
             Value '101.5' at 'abortConfig.criteriaList.1.member.thresholdPercentage' failed to \
             satisfy constraint: Member must have value less than or equal to 100; \
             Value 'NOPE' at 'abortConfig.criteriaList.2.member.failureType' failed to satisfy \
             constraint: Member must satisfy enum value set: [FAILED, REJECTED, TIMED_OUT, ALL]; \
             Value null at 'abortConfig.criteriaList.2.member.thresholdPercentage' failed to \
             satisfy constraint: Member must not be null; \
             Value '0' at 'abortConfig.criteriaList.2.member.minNumberOfExecutedThings' failed to \
             satisfy constraint: Member must have value greater than or equal to 1"
        );
    }

    #[test]
    fn scalar_list_violations_are_aggregated() {
        let v = json!({ "jobId": "j1", "targets": ["ok", "x".repeat(2049)] });
        let e = check(&iot::MODEL, "CreateJobRequest", &v).unwrap_err();
        assert!(
            e.message
                .starts_with("1 validation error detected: Value '[ok, xxx"),
            "{}",
            e.message
        );
        assert!(e.message.ends_with(
            "at 'targets' failed to satisfy constraint: Member must satisfy constraint: \
             [Member must have length less than or equal to 2048]"
        ));
    }

    #[test]
    fn map_key_violation_lists_all_key_constraints() {
        let v = json!({ "thingName": "t", "jobId": "j", "statusDetails": { "bad key": "v" } });
        let e = check(&iot::MODEL, "CancelJobExecutionRequest", &v).unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value '{bad key=v}' at 'statusDetails' failed to \
             satisfy constraint: Map keys must satisfy constraint: [Member must have length less \
             than or equal to 128, Member must have length greater than or equal to 1, Member \
             must satisfy regular expression pattern: [a-zA-Z0-9:_-]+]"
        );
    }

    #[test]
    fn type_errors_stop_validation() {
        let v = json!({ "thingName": "t", "jobId": "j", "statusDetails": { "k": 5 } });
        let e = check(&iot::MODEL, "CancelJobExecutionRequest", &v).unwrap_err();
        assert_eq!(e.kind, WireErrorKind::Type);
        assert_eq!(
            e.message,
            "Invalid value for member 'statusDetails.k': expected a string, got an integer"
        );
        let v = json!({ "thingName": "t", "jobId": "j", "expectedVersion": 1.5 });
        let e = check(&iot::MODEL, "CancelJobExecutionRequest", &v).unwrap_err();
        assert_eq!(e.kind, WireErrorKind::Type);
        let v = json!({ "thingName": "t", "expectedVersion": 2, "stepTimeoutInMinutes": 1e3 });
        let e = check(&iot_jobs_data::MODEL, "UpdateJobExecutionRequest", &v).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value for member 'stepTimeoutInMinutes': expected a long, got a number \
             with a fraction or exponent"
        );
    }

    #[test]
    fn string_length_counts_chars() {
        // 64 two-byte characters fit `max 64` even though they are 128 bytes; the pattern
        // rejects them, which proves length was not the failing constraint.
        let v = json!({ "thingName": "t", "jobId": "é".repeat(64) });
        let e = check(&iot::MODEL, "CancelJobExecutionRequest", &v).unwrap_err();
        assert!(!e.message.contains("length"), "{}", e.message);
        assert!(e.message.starts_with("1 validation error"), "{}", e.message);
    }
}
