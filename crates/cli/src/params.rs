//! From an operation's input shape to its command-line options, and from the parsed options
//! to the call parameters, as the AWS CLI v1 builds them (`awscli/clidriver.py`
//! `_create_argument_table` / `_build_call_parameters`, `argprocess.py`, `paramfile.py`,
//! `customizations/cliinputjson.py`).
//!
//! Option names are the kebab-case member names; booleans get `--x` / `--no-x`; lists take
//! several values; `long` values are checked by argparse, `integer` values only later (that is
//! the AWS CLI's `TYPE_MAP`). Values are loaded from `file://`/`http://` first, then parsed as
//! shorthand or JSON depending on the shape and the first character, then `--cli-input-json`
//! fills the members not given on the command line. The result is an insertion-ordered dict,
//! because botocore serializes members in the order the CLI built them.
//!
//! This module does not validate (see `validate`) and does not know about HTTP.

use iotjobs_model::{ShapeDef, ShapeKind};

use crate::args::{Action, ArgValue, Conv, Namespace, Nargs, Parser};
use crate::model::{Service, is_scalar, xform_name};
use crate::paramfile;
use crate::pyjson::{self, Dict, Value};
use crate::shorthand;

/// A failure while building the call parameters; `Display` is the exact stderr text (the
/// CLI prints it after an empty line, exit 255).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError(pub String);

impl ParamError {
    pub fn parsing(cli_name: &str, msg: impl std::fmt::Display) -> ParamError {
        ParamError(format!("Error parsing parameter '{cli_name}': {msg}"))
    }
}

/// What an entry of the argument table stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A member of the input shape (index into `members`).
    Member(usize),
    CliInputJson,
    GenerateCliSkeleton,
    StartingToken,
    PageSize,
    MaxItems,
}

/// One entry of the operation's argument table (AWS CLI `arg_table`).
#[derive(Debug, Clone)]
pub struct CliArg {
    /// Without the leading dashes (`job-id`).
    pub name: String,
    /// argparse `dest` (`job_id`).
    pub dest: String,
    pub kind: ArgKind,
    pub required: bool,
}

/// The argument table of an operation and the parser built from it.
pub struct OpArgs {
    pub service: &'static Service,
    pub input: Option<&'static ShapeDef>,
    pub args: Vec<CliArg>,
    pub paginated: bool,
}

fn dest_of(name: &str) -> String {
    name.replace('-', "_")
}

impl OpArgs {
    pub fn new(
        service: &'static Service,
        input: Option<&'static ShapeDef>,
        paginated: bool,
    ) -> OpArgs {
        let mut args = Vec::new();
        if let Some(shape) = input {
            for (i, m) in shape.members.iter().enumerate() {
                let name = xform_name(m.name, '-');
                args.push(CliArg {
                    dest: dest_of(&name),
                    name,
                    kind: ArgKind::Member(i),
                    required: shape.required.contains(&m.name),
                });
            }
        }
        let mut extra = |name: &str, kind| {
            args.push(CliArg {
                name: name.to_string(),
                dest: dest_of(name),
                kind,
                required: false,
            })
        };
        extra("cli-input-json", ArgKind::CliInputJson);
        if paginated {
            extra("starting-token", ArgKind::StartingToken);
            extra("page-size", ArgKind::PageSize);
            extra("max-items", ArgKind::MaxItems);
        }
        extra("generate-cli-skeleton", ArgKind::GenerateCliSkeleton);
        OpArgs {
            service,
            input,
            args,
            paginated,
        }
    }

    pub fn member_shape(&self, i: usize) -> &'static ShapeDef {
        let shape = self
            .input
            .expect("member args exist only with an input shape");
        self.service.member_shape(&shape.members[i])
    }

    /// The argparse parser; `lift_required` is the `--cli-input-json` /
    /// `--generate-cli-skeleton` override (`OverrideRequiredArgsArgument`).
    pub fn parser(&self, lift_required: bool) -> Parser {
        let mut p = Parser::new();
        for a in &self.args {
            let opt = format!("--{}", a.name);
            match a.kind {
                ArgKind::Member(i) => {
                    let shape = self.member_shape(i);
                    let required = a.required && !lift_required;
                    match shape.kind {
                        ShapeKind::Boolean => {
                            p.add(Action::flag(&opt, &a.dest, true));
                            p.add(Action::flag(&format!("--no-{}", a.name), &a.dest, false));
                        }
                        ShapeKind::List => {
                            p.add(
                                Action::option(&opt, &a.dest)
                                    .with_nargs(Nargs::ZeroOrMore)
                                    .required(required),
                            );
                        }
                        // The AWS CLI's TYPE_MAP: `long` is `int`, `integer` is `str`.
                        ShapeKind::Long => p.add(
                            Action::option(&opt, &a.dest)
                                .with_conv(Conv::Int)
                                .required(required),
                        ),
                        ShapeKind::Double | ShapeKind::Float => p.add(
                            Action::option(&opt, &a.dest)
                                .with_conv(Conv::Float)
                                .required(required),
                        ),
                        _ => p.add(Action::option(&opt, &a.dest).required(required)),
                    }
                }
                ArgKind::GenerateCliSkeleton => p.add(
                    Action::option(&opt, &a.dest)
                        .with_nargs(Nargs::Optional)
                        .with_const("input")
                        .with_choices(&["input", "output"]),
                ),
                ArgKind::PageSize | ArgKind::MaxItems => {
                    p.add(Action::option(&opt, &a.dest).with_conv(Conv::Int))
                }
                ArgKind::CliInputJson | ArgKind::StartingToken => {
                    p.add(Action::option(&opt, &a.dest))
                }
            }
        }
        p.add(Action::positional("help", Nargs::Optional, None));
        p
    }
}

/// Whether argv lifts the required check: a literal `--cli-input-json` token, or
/// `--generate-cli-skeleton` not followed by `output`.
pub fn lifts_required(argv: &[String]) -> bool {
    if argv.iter().any(|a| a == "--cli-input-json") {
        return true;
    }
    match argv.iter().position(|a| a == "--generate-cli-skeleton") {
        Some(i) => argv.get(i + 1).map(String::as_str) != Some("output"),
        None => false,
    }
}

/// The call parameters plus the CLI-only settings read from the namespace.
#[derive(Debug, Default)]
pub struct CallParams {
    pub params: Dict,
    pub skeleton: Option<String>,
    pub starting_token: Option<String>,
    pub page_size: Option<String>,
    pub max_items: Option<String>,
}

/// `_build_call_parameters` followed by the `--cli-input-json` merge.
pub fn build(op: &OpArgs, ns: &Namespace, op_command: &str) -> Result<CallParams, ParamError> {
    let mut out = CallParams::default();
    let mut cli_input_json = None;
    for a in &op.args {
        let Some(raw) = ns.get(&a.dest) else {
            continue;
        };
        let opt = format!("--{}", a.name);
        match a.kind {
            ArgKind::Member(i) => {
                let member = &op.input.expect("input").members[i];
                let shape = op.member_shape(i);
                if let ArgValue::Bool(b) = raw {
                    out.params.insert(member.name, Value::Bool(*b));
                    continue;
                }
                let disabled = op.service.cli_name == "iot"
                    && op_command == "create-job"
                    && a.name == "document-source";
                let loaded = if disabled {
                    Loaded::Raw(raw.clone())
                } else {
                    load_paramfile(&opt, raw)?
                };
                let value = unpack(op.service, shape, &opt, loaded)?;
                out.params.insert(member.name, value);
            }
            ArgKind::CliInputJson => {
                // The `load-cli-arg` handler loads first (and reports with dashes); the
                // handler of --cli-input-json then only knows the local prefixes, so the
                // content of an http(s):// value is fetched but not used (the URL itself is
                // parsed as JSON), as in the AWS CLI.
                let loaded = load_paramfile(&opt, raw)?;
                let local = raw
                    .as_str()
                    .is_some_and(|s| s.starts_with("file://") || s.starts_with("fileb://"));
                cli_input_json = Some(match loaded {
                    Loaded::Text(t) if local => t,
                    Loaded::Text(_) => raw.as_str().unwrap_or_default().to_string(),
                    Loaded::Raw(v) => v.as_str().unwrap_or_default().to_string(),
                    Loaded::Bytes => {
                        return Err(ParamError::parsing(
                            &opt,
                            "fileb:// gives bytes; --cli-input-json needs text (use file://)",
                        ));
                    }
                });
            }
            ArgKind::GenerateCliSkeleton => out.skeleton = raw.as_str().map(str::to_string),
            ArgKind::StartingToken => out.starting_token = raw.as_str().map(str::to_string),
            ArgKind::PageSize => out.page_size = int_text(raw),
            ArgKind::MaxItems => out.max_items = int_text(raw),
        }
    }
    if let Some(text) = cli_input_json {
        let data = pyjson::loads(&text, false).map_err(|e| {
            ParamError::parsing(
                "cli-input-json",
                format!("Invalid JSON: {e}\nJSON received: {text}"),
            )
        })?;
        let Value::Dict(data) = data else {
            return Err(ParamError(
                "--cli-input-json must be a JSON object of the operation's input members".into(),
            ));
        };
        for (k, v) in data.entries {
            if !out.params.contains_key(&k) {
                out.params.insert(k, v);
            }
        }
    }
    Ok(out)
}

fn int_text(v: &ArgValue) -> Option<String> {
    match v {
        ArgValue::Int(i) => Some(i.clone()),
        ArgValue::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// A value after the `load-cli-arg` (paramfile) step.
#[derive(Debug, Clone)]
enum Loaded {
    Raw(ArgValue),
    Text(String),
    /// `fileb://` content: bytes, which no served parameter takes.
    Bytes,
}

fn load_paramfile(opt: &str, raw: &ArgValue) -> Result<Loaded, ParamError> {
    // A one-element list is looked at as its element (`_check_for_uri_param`).
    let candidate = match raw {
        ArgValue::Str(s) => Some(s.as_str()),
        ArgValue::List(items) if items.len() == 1 => items[0].as_str(),
        _ => None,
    };
    if let Some(s) = candidate {
        match paramfile::get_paramfile(s, true) {
            Ok(Some(paramfile::Content::Text(t))) => return Ok(Loaded::Text(t)),
            Ok(Some(paramfile::Content::Bytes(_))) => return Ok(Loaded::Bytes),
            Ok(None) => {}
            Err(e) => return Err(ParamError::parsing(opt, e)),
        }
    }
    Ok(Loaded::Raw(raw.clone()))
}

fn arg_to_value(v: &ArgValue) -> Value {
    match v {
        ArgValue::Str(s) => Value::Str(s.clone()),
        ArgValue::Int(i) => Value::Int(i.clone()),
        ArgValue::Float(f) => Value::Float(*f),
        ArgValue::Bool(b) => Value::Bool(*b),
        ArgValue::List(l) => Value::List(l.iter().map(arg_to_value).collect()),
    }
}

/// `_supports_shorthand_syntax`: structures, maps, lists of complex shapes.
fn supports_shorthand(service: &Service, shape: &ShapeDef) -> bool {
    match shape.kind {
        ShapeKind::Structure | ShapeKind::Map => true,
        ShapeKind::List => shape
            .member
            .is_some_and(|m| !is_scalar(service.model.shape(m).kind)),
        _ => false,
    }
}

fn looks_like_json(s: &str) -> bool {
    let t = s.trim_matches(|c: char| c.is_whitespace());
    t.starts_with('[') || t.starts_with('{')
}

/// `process-cli-arg`: shorthand if the shape supports it and the value does not look like
/// JSON, else `unpack_cli_arg`.
fn unpack(
    service: &Service,
    shape: &ShapeDef,
    opt: &str,
    loaded: Loaded,
) -> Result<Value, ParamError> {
    let value = match loaded {
        Loaded::Bytes => {
            return Err(ParamError::parsing(
                opt,
                "fileb:// gives bytes, and this parameter is not a blob; use file://",
            ));
        }
        Loaded::Text(t) => Value::Str(t),
        Loaded::Raw(v) => arg_to_value(&v),
    };
    let check = match &value {
        Value::List(items) => items.first().and_then(Value::as_str),
        Value::Str(s) => Some(s.as_str()),
        _ => None,
    };
    if supports_shorthand(service, shape) && !check.is_some_and(looks_like_json) {
        let resolve = |v: &str| -> Result<Option<Value>, String> {
            match paramfile::get_paramfile(v, false)? {
                Some(paramfile::Content::Text(t)) => Ok(Some(Value::Str(t))),
                Some(paramfile::Content::Bytes(_)) => {
                    Err("fileb:// gives bytes; shorthand values need text (use file://)".into())
                }
                None => Ok(None),
            }
        };
        let parse_one = |s: &str| -> Result<Value, ParamError> {
            let d = shorthand::parse(s, &resolve).map_err(|e| match e {
                shorthand::ShorthandError::Resource(m) => ParamError(m),
                other => ParamError::parsing(opt, other),
            })?;
            Ok(Value::Dict(d))
        };
        let mut parsed = match &value {
            Value::List(items) => Value::List(
                items
                    .iter()
                    .map(|v| parse_one(v.as_str().unwrap_or_default()))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Str(s) => parse_one(s)?,
            other => other.clone(),
        };
        back_compat_visit(service, shape, &mut parsed)?;
        return Ok(parsed);
    }
    unpack_cli_arg(service, shape, opt, value)
}

fn unpack_json(opt: &str, text: &str) -> Result<Value, ParamError> {
    pyjson::loads(text, true)
        .map_err(|e| ParamError::parsing(opt, format!("Invalid JSON: {e}\nJSON received: {text}")))
}

fn unpack_cli_arg(
    service: &Service,
    shape: &ShapeDef,
    opt: &str,
    value: Value,
) -> Result<Value, ParamError> {
    match shape.kind {
        ShapeKind::Structure | ShapeKind::Map => {
            let text = value.as_str().unwrap_or_default();
            if text.trim_start().starts_with('{') {
                unpack_json(opt, text)
            } else {
                Err(ParamError::parsing(opt, format!("Invalid JSON:\n{text}")))
            }
        }
        ShapeKind::List => {
            let member = service.model.shape(shape.member.expect("list member"));
            match value {
                Value::Str(s) => {
                    if s.trim_start().starts_with('[') {
                        return unpack_json(opt, &s);
                    }
                    // The AWS CLI iterates over the string's characters here.
                    s.chars()
                        .map(|c| unpack_cli_arg(service, member, opt, Value::Str(c.to_string())))
                        .collect::<Result<Vec<_>, _>>()
                        .map(Value::List)
                }
                Value::List(items) => {
                    if items.len() == 1
                        && let Some(s) = items[0].as_str()
                        && s.trim().starts_with('[')
                    {
                        return unpack_json(opt, s);
                    }
                    items
                        .into_iter()
                        .map(|v| unpack_cli_arg(service, member, opt, v))
                        .collect::<Result<Vec<_>, _>>()
                        .map(Value::List)
                }
                other => Ok(other),
            }
        }
        _ => unpack_scalar(shape, value),
    }
}

/// `unpack_scalar_cli_arg`.
fn unpack_scalar(shape: &ShapeDef, value: Value) -> Result<Value, ParamError> {
    let Value::Str(s) = value else {
        return Ok(value);
    };
    match shape.kind {
        ShapeKind::Integer | ShapeKind::Long => {
            pyjson::parse_py_int(&s).map(Value::Int).ok_or_else(|| {
                ParamError(format!(
                    "invalid literal for int() with base 10: {}",
                    pyjson::str_repr(&s)
                ))
            })
        }
        ShapeKind::Float | ShapeKind::Double => {
            pyjson::parse_py_float(&s).map(Value::Float).ok_or_else(|| {
                ParamError(format!(
                    "could not convert string to float: {}",
                    pyjson::str_repr(&s)
                ))
            })
        }
        ShapeKind::Boolean => Ok(Value::Bool(
            !s.eq_ignore_ascii_case("false") && !s.is_empty(),
        )),
        _ => Ok(Value::Str(s)),
    }
}

/// `BackCompatVisitor`: shorthand values are strings; convert them by the model and wrap
/// single values of list members in a list.
fn back_compat_visit(
    service: &Service,
    shape: &ShapeDef,
    value: &mut Value,
) -> Result<(), ParamError> {
    match shape.kind {
        ShapeKind::Structure => {
            let Value::Dict(d) = value else {
                return Ok(());
            };
            for m in shape.members {
                let mshape = service.member_shape(m);
                if let Some(v) = d.get_mut(m.name) {
                    if mshape.kind == ShapeKind::List && !matches!(v, Value::List(_)) {
                        *v = Value::List(vec![v.clone()]);
                        continue;
                    }
                    back_compat_visit(service, mshape, v)?;
                }
            }
        }
        ShapeKind::List => {
            let Value::List(items) = value else {
                return Ok(());
            };
            let member = service.model.shape(shape.member.expect("list member"));
            for v in items.iter_mut() {
                back_compat_visit(service, member, v)?;
            }
        }
        ShapeKind::Map => {
            let Value::Dict(d) = value else {
                return Ok(());
            };
            let vshape = service.model.shape(shape.value.expect("map value"));
            for (_, v) in d.entries.iter_mut() {
                back_compat_visit(service, vshape, v)?;
            }
        }
        ShapeKind::Integer | ShapeKind::Long => {
            if let Value::Str(s) = value {
                *value = Value::Int(pyjson::parse_py_int(s).ok_or_else(|| {
                    ParamError(format!(
                        "invalid literal for int() with base 10: {}",
                        pyjson::str_repr(s)
                    ))
                })?);
            }
        }
        ShapeKind::Float | ShapeKind::Double => {
            if let Value::Str(s) = value {
                *value = Value::Float(pyjson::parse_py_float(s).ok_or_else(|| {
                    ParamError(format!(
                        "could not convert string to float: {}",
                        pyjson::str_repr(s)
                    ))
                })?);
            }
        }
        ShapeKind::Boolean => {
            if let Value::Str(s) = value {
                if s.eq_ignore_ascii_case("true") {
                    *value = Value::Bool(true);
                } else if s.eq_ignore_ascii_case("false") {
                    *value = Value::Bool(false);
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// botocore's `ArgumentGenerator.generate_skeleton`: `""` for strings (the member name with
/// `use_member_names`, for output skeletons), `0`, `0.0`, `true`, the epoch for timestamps,
/// one element per list and one `KeyName` entry per map. A recursive structure is `{}` the
/// second time it is met. Enums: botocore picks a random value; we print the first.
pub fn skeleton(service: &Service, shape: &'static ShapeDef, use_member_names: bool) -> Value {
    let mut stack = Vec::new();
    gen_skeleton(service, shape, use_member_names, "", &mut stack)
}

fn gen_skeleton(
    service: &Service,
    shape: &'static ShapeDef,
    names: bool,
    name: &str,
    stack: &mut Vec<&'static str>,
) -> Value {
    stack.push(shape.name);
    let v = match shape.kind {
        ShapeKind::Structure => {
            if stack.iter().filter(|s| **s == shape.name).count() > 1 {
                Value::Dict(Dict::new())
            } else {
                let mut d = Dict::new();
                for m in shape.members {
                    let v = gen_skeleton(service, service.member_shape(m), names, m.name, stack);
                    d.insert(m.name, v);
                }
                Value::Dict(d)
            }
        }
        ShapeKind::List => {
            let member = service.model.shape(shape.member.expect("list member"));
            let n = if names { member.name } else { "" };
            Value::List(vec![gen_skeleton(service, member, names, n, stack)])
        }
        ShapeKind::Map => {
            let value = service.model.shape(shape.value.expect("map value"));
            let mut d = Dict::new();
            d.insert("KeyName", gen_skeleton(service, value, names, "", stack));
            Value::Dict(d)
        }
        ShapeKind::String => {
            if names {
                Value::str(name)
            } else {
                Value::str(shape.enum_values.first().copied().unwrap_or(""))
            }
        }
        ShapeKind::Integer | ShapeKind::Long => Value::int(0),
        ShapeKind::Float | ShapeKind::Double => Value::Float(0.0),
        ShapeKind::Boolean => Value::Bool(true),
        ShapeKind::Timestamp => Value::str("1970-01-01T00:00:00"),
        ShapeKind::Blob => Value::str(""),
    };
    stack.pop();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IOT;

    fn cancel() -> OpArgs {
        let op = IOT.op_by_command("cancel-job-execution").unwrap();
        OpArgs::new(&IOT, op.input.and_then(|n| IOT.shape(n)), false)
    }

    fn run(argv: &[&str]) -> Result<String, String> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let op = cancel();
        let (ns, extra) = op
            .parser(lifts_required(&argv))
            .parse_known_args(&argv)
            .map_err(|e| e.0)?;
        assert!(extra.is_empty());
        let p = build(&op, &ns, "cancel-job-execution").map_err(|e| e.0)?;
        Ok(pyjson::dumps(&Value::Dict(p.params)))
    }

    #[test]
    fn cancel_job_execution_params() {
        assert_eq!(
            run(&[
                "--job-id",
                "j1",
                "--thing-name",
                "t1",
                "--force",
                "--expected-version",
                "3",
                "--status-details",
                "a=b,c=d"
            ])
            .unwrap(),
            r#"{"jobId": "j1", "thingName": "t1", "force": true, "expectedVersion": 3, "statusDetails": {"a": "b", "c": "d"}}"#
        );
        assert_eq!(
            run(&[
                "--job-id",
                "j1",
                "--thing-name",
                "t1",
                "--status-details",
                r#"{"a":"x","a":"y"}"#
            ])
            .unwrap(),
            r#"{"jobId": "j1", "thingName": "t1", "statusDetails": {"a": "y"}}"#
        );
        assert_eq!(
            run(&[
                "--job-id",
                "j1",
                "--thing-name",
                "t1",
                "--status-details",
                r#"["a"]"#
            ])
            .unwrap_err(),
            "Error parsing parameter '--status-details': Invalid JSON:\n[\"a\"]"
        );
        assert_eq!(
            run(&[
                "--cli-input-json",
                r#"{"jobId":"j","thingName":"t","force":true}"#,
                "--job-id",
                "j2",
                "--no-force"
            ])
            .unwrap(),
            r#"{"jobId": "j2", "force": false, "thingName": "t"}"#
        );
        assert_eq!(
            run(&["--cli-input-json", r#"{"jobId": "#]).unwrap_err(),
            "Error parsing parameter 'cli-input-json': Invalid JSON: Expecting value: line 1 column 11 (char 10)\nJSON received: {\"jobId\": "
        );
    }

    #[test]
    fn input_skeleton_is_the_spec_one() {
        let op = cancel();
        let sk = skeleton(&IOT, op.input.unwrap(), false);
        assert_eq!(
            pyjson::dumps_pretty(&sk, true),
            "{\n    \"jobId\": \"\",\n    \"thingName\": \"\",\n    \"force\": true,\n    \"expectedVersion\": 0,\n    \"statusDetails\": {\n        \"KeyName\": \"\"\n    }\n}"
        );
    }
}
