//! Client-side parameter validation, as botocore's `ParamValidator` does it before sending:
//! required members, unknown members, Python types (`bool` counts as `int`, as
//! `isinstance(True, int)`), minimum lengths and minimum values. Nothing else: botocore does
//! not check maximums, patterns or enums, and neither does this module, so a request the
//! AWS CLI would send is sent (the server answers with its own validation error).
//!
//! The report lines are botocore's exact texts, in its order, joined under
//! `Parameter validation failed:`.

use iotjobs_model::{ShapeDef, ShapeKind};

use crate::model::Service;
use crate::pyjson::{Dict, Value};

/// Validates `params` against `shape`; `Err` holds the full message.
pub fn validate(service: &Service, params: &Dict, shape: &ShapeDef) -> Result<(), String> {
    let mut errors = Vec::new();
    structure(
        service,
        &Value::Dict(params.clone()),
        shape,
        "",
        &mut errors,
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "Parameter validation failed:\n{}",
            errors.join("\n")
        ))
    }
}

fn display_name(name: &str) -> &str {
    if name.is_empty() {
        "input"
    } else {
        name.strip_prefix('.').unwrap_or(name)
    }
}

fn invalid_type(name: &str, v: &Value, valid: &str, errors: &mut Vec<String>) {
    errors.push(format!(
        "Invalid type for parameter {}, value: {}, type: {}, valid types: {valid}",
        display_name(name),
        v.py_str(),
        v.py_type()
    ));
}

fn min_text(m: f64) -> String {
    if m.fract() == 0.0 {
        format!("{}", m as i64)
    } else {
        crate::pyjson::float_repr(m)
    }
}

fn check(service: &Service, v: &Value, shape: &ShapeDef, name: &str, errors: &mut Vec<String>) {
    match shape.kind {
        ShapeKind::Structure => structure(service, v, shape, name, errors),
        ShapeKind::String => match v {
            Value::Str(s) => {
                let len = s.chars().count();
                if let Some(min) = shape.min
                    && (len as f64) < min
                {
                    errors.push(format!(
                        "Invalid length for parameter {}, value: {len}, valid min length: {}",
                        display_name(name),
                        min_text(min)
                    ));
                }
            }
            other => invalid_type(name, other, "<class 'str'>", errors),
        },
        ShapeKind::List => match v {
            Value::List(items) => {
                if let Some(min) = shape.min
                    && (items.len() as f64) < min
                {
                    errors.push(format!(
                        "Invalid length for parameter {}, value: {}, valid min length: {}",
                        display_name(name),
                        items.len(),
                        min_text(min)
                    ));
                }
                let member = service.model.shape(shape.member.expect("list member"));
                for (i, item) in items.iter().enumerate() {
                    check(service, item, member, &format!("{name}[{i}]"), errors);
                }
            }
            other => invalid_type(name, other, "<class 'list'>, <class 'tuple'>", errors),
        },
        ShapeKind::Map => match v {
            Value::Dict(d) => {
                let key = service.model.shape(shape.key.expect("map key"));
                let value = service.model.shape(shape.value.expect("map value"));
                for (k, val) in d.iter() {
                    check(
                        service,
                        &Value::Str(k.clone()),
                        key,
                        &format!("{name} (key: {k})"),
                        errors,
                    );
                    check(service, val, value, &format!("{name}.{k}"), errors);
                }
            }
            other => invalid_type(name, other, "<class 'dict'>", errors),
        },
        ShapeKind::Integer | ShapeKind::Long => match v {
            Value::Int(i) => range(i.parse::<f64>().unwrap_or(0.0), i, shape, name, errors),
            Value::Bool(b) => range(if *b { 1.0 } else { 0.0 }, &v.py_str(), shape, name, errors),
            other => invalid_type(name, other, "<class 'int'>", errors),
        },
        ShapeKind::Double | ShapeKind::Float => match v {
            Value::Float(f) => range(*f, &v.py_str(), shape, name, errors),
            Value::Int(i) => range(i.parse::<f64>().unwrap_or(0.0), i, shape, name, errors),
            Value::Bool(b) => range(if *b { 1.0 } else { 0.0 }, &v.py_str(), shape, name, errors),
            other => invalid_type(
                name,
                other,
                "<class 'float'>, <class 'decimal.Decimal'>, <class 'int'>",
                errors,
            ),
        },
        ShapeKind::Boolean => {
            if !matches!(v, Value::Bool(_)) {
                invalid_type(name, v, "<class 'bool'>", errors)
            }
        }
        ShapeKind::Timestamp => {
            if crate::request::timestamp_epoch(v).is_none() {
                invalid_type(
                    name,
                    v,
                    "<class 'datetime.datetime'>, timestamp-string",
                    errors,
                )
            }
        }
        ShapeKind::Blob => {
            if !matches!(v, Value::Str(_)) {
                invalid_type(
                    name,
                    v,
                    "<class 'bytes'>, <class 'bytearray'>, file-like object",
                    errors,
                )
            }
        }
    }
}

fn range(n: f64, text: &str, shape: &ShapeDef, name: &str, errors: &mut Vec<String>) {
    if let Some(min) = shape.min
        && n < min
    {
        errors.push(format!(
            "Invalid value for parameter {}, value: {text}, valid min value: {}",
            display_name(name),
            min_text(min)
        ));
    }
}

fn structure(service: &Service, v: &Value, shape: &ShapeDef, name: &str, errors: &mut Vec<String>) {
    let Value::Dict(params) = v else {
        invalid_type(name, v, "<class 'dict'>", errors);
        return;
    };
    for req in shape.required {
        if !params.contains_key(req) {
            errors.push(format!(
                "Missing required parameter in {}: \"{req}\"",
                display_name(name)
            ));
        }
    }
    let valid: Vec<&str> = shape.members.iter().map(|m| m.name).collect();
    let mut known = Vec::new();
    for (k, val) in params.iter() {
        match shape.members.iter().find(|m| m.name == k) {
            Some(m) => known.push((m, val, k)),
            None => errors.push(format!(
                "Unknown parameter in {}: \"{k}\", must be one of: {}",
                display_name(name),
                valid.join(", ")
            )),
        }
    }
    for (m, val, k) in known {
        check(
            service,
            val,
            service.member_shape(m),
            &format!("{name}.{k}"),
            errors,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IOT;
    use crate::pyjson::loads;

    fn run(json: &str) -> Result<(), String> {
        let shape = IOT.shape("CancelJobExecutionRequest").unwrap();
        let Value::Dict(d) = loads(json, false).unwrap() else {
            panic!()
        };
        validate(&IOT, &d, shape)
    }

    #[test]
    fn botocore_messages_in_member_order() {
        assert_eq!(
            run(r#"{"jobId": "", "thingName": "", "statusDetails": {"a": "", "": "x", "l": ["x", "y"]}}"#)
                .unwrap_err(),
            "Parameter validation failed:\n\
             Invalid length for parameter jobId, value: 0, valid min length: 1\n\
             Invalid length for parameter thingName, value: 0, valid min length: 1\n\
             Invalid length for parameter statusDetails.a, value: 0, valid min length: 1\n\
             Invalid length for parameter statusDetails (key: ), value: 0, valid min length: 1\n\
             Invalid type for parameter statusDetails.l, value: ['x', 'y'], type: <class 'list'>, valid types: <class 'str'>"
        );
        assert_eq!(
            run(r#"{"jobId": "j", "bogus": 1}"#).unwrap_err(),
            "Parameter validation failed:\n\
             Missing required parameter in input: \"thingName\"\n\
             Unknown parameter in input: \"bogus\", must be one of: jobId, thingName, force, expectedVersion, statusDetails"
        );
        assert_eq!(
            run(r#"{"jobId": "j", "thingName": "t", "expectedVersion": "3", "force": "yes"}"#)
                .unwrap_err(),
            "Parameter validation failed:\n\
             Invalid type for parameter expectedVersion, value: 3, type: <class 'str'>, valid types: <class 'int'>\n\
             Invalid type for parameter force, value: yes, type: <class 'str'>, valid types: <class 'bool'>"
        );
        assert!(run(r#"{"jobId": "j", "thingName": "t", "expectedVersion": true}"#).is_ok());
    }
}
