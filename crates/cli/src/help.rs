//! `iotjobs iot <operation> help`, `iotjobs iot help` and `iotjobs help`: plain-text help
//! pages generated from the model tables, with the sections of the AWS CLI's man pages
//! (NAME, DESCRIPTION, SYNOPSIS, OPTIONS with shorthand and JSON syntax, GLOBAL OPTIONS,
//! OUTPUT). The prose is ours: the generated tables carry no AWS documentation text.
//! Printed to stdout, exit 0, no pager.

use std::fmt::Write as _;

use iotjobs_model::{OperationDef, ShapeDef, ShapeKind};

use crate::model::{Service, xform_name};
use crate::params::OpArgs;

const GLOBAL_OPTIONS: &[(&str, &str)] = &[
    ("--debug (boolean)", "Turn on debug logging to stderr."),
    (
        "--endpoint-url (string)",
        "Send requests to this URL instead of the default AWS endpoint (for example http://127.0.0.1:8080 for `iotjobs serve`).",
    ),
    (
        "--no-verify-ssl (boolean)",
        "Do not verify TLS certificates.",
    ),
    (
        "--no-paginate (boolean)",
        "Make one call of a list operation instead of following every page.",
    ),
    ("--output (string)", "Output format: json, text or table."),
    (
        "--query (string)",
        "A JMESPath expression applied to the response before printing.",
    ),
    (
        "--profile (string)",
        "Use this profile of the shared config and credentials files.",
    ),
    (
        "--region (string)",
        "The AWS region (also the SigV4 signing region).",
    ),
    ("--version (string)", "Print the version and exit."),
    ("--color (string)", "on, off or auto (table output)."),
    (
        "--no-sign-request (boolean)",
        "Send the request unsigned; no credentials are loaded.",
    ),
    (
        "--ca-bundle (string)",
        "PEM file of CA certificates to verify TLS with.",
    ),
    (
        "--cli-read-timeout (int)",
        "Socket read timeout in seconds (0 = none; default 60).",
    ),
    (
        "--cli-connect-timeout (int)",
        "Socket connect timeout in seconds (0 = none; default 60).",
    ),
];

fn type_name(kind: ShapeKind) -> &'static str {
    match kind {
        ShapeKind::String => "string",
        ShapeKind::Long => "long",
        ShapeKind::Integer => "integer",
        ShapeKind::Boolean => "boolean",
        ShapeKind::Double => "double",
        ShapeKind::Float => "float",
        ShapeKind::Timestamp => "timestamp",
        ShapeKind::Blob => "blob",
        ShapeKind::Map => "map",
        ShapeKind::List => "list",
        ShapeKind::Structure => "structure",
    }
}

/// The shorthand example the AWS CLI prints for complex shapes.
fn shorthand_example(service: &Service, shape: &ShapeDef, depth: usize) -> String {
    match shape.kind {
        ShapeKind::Map => {
            let v = service.model.shape(shape.value.expect("map value"));
            let t = type_name(v.kind);
            format!("KeyName1={t},KeyName2={t}")
        }
        ShapeKind::Structure => {
            if depth > 2 {
                return "{...}".into();
            }
            let parts: Vec<String> = shape
                .members
                .iter()
                .map(|m| {
                    let ms = service.member_shape(m);
                    match ms.kind {
                        ShapeKind::Structure => format!(
                            "{}={{{}}}",
                            m.name,
                            shorthand_example(service, ms, depth + 1)
                        ),
                        ShapeKind::List | ShapeKind::Map => format!("{}=[...]", m.name),
                        k => format!("{}={}", m.name, type_name(k)),
                    }
                })
                .collect();
            parts.join(",")
        }
        ShapeKind::List => {
            let m = service.model.shape(shape.member.expect("list member"));
            let one = shorthand_example(service, m, depth + 1);
            format!("{one} {one}")
        }
        k => type_name(k).into(),
    }
}

fn json_syntax(service: &Service, shape: &ShapeDef, level: usize, out: &mut String) {
    let pad = "  ".repeat(level);
    match shape.kind {
        ShapeKind::Structure => {
            out.push_str("{\n");
            let n = shape.members.len();
            for (i, m) in shape.members.iter().enumerate() {
                let _ = write!(out, "{pad}  \"{}\": ", m.name);
                json_syntax(service, service.member_shape(m), level + 1, out);
                out.push_str(if i + 1 < n { ",\n" } else { "\n" });
            }
            let _ = write!(out, "{pad}}}");
        }
        ShapeKind::List => {
            out.push('[');
            json_syntax(
                service,
                service.model.shape(shape.member.expect("member")),
                level + 1,
                out,
            );
            out.push_str(" ...]");
        }
        ShapeKind::Map => {
            out.push_str("{\"string\": ");
            json_syntax(
                service,
                service.model.shape(shape.value.expect("value")),
                level + 1,
                out,
            );
            let _ = write!(out, "\n{pad}  ...}}");
        }
        ShapeKind::String if !shape.enum_values.is_empty() => {
            out.push_str(&format!("\"{}\"", shape.enum_values.join("\"|\"")));
        }
        ShapeKind::String | ShapeKind::Timestamp | ShapeKind::Blob => {
            let _ = write!(out, "\"{}\"", type_name(shape.kind));
        }
        ShapeKind::Boolean => out.push_str("true|false"),
        k => out.push_str(type_name(k)),
    }
}

/// The help page of one operation.
pub fn operation_help(service: &Service, op: &OperationDef, args: &OpArgs) -> String {
    let cmd = xform_name(op.name, '-');
    let mut o = String::new();
    let _ = writeln!(o, "NAME\n       {cmd} -\n");
    let _ = writeln!(
        o,
        "DESCRIPTION\n       Calls the {} operation of the AWS {} API ({} {}).\n\n       See 'iotjobs help' for descriptions of global parameters.\n",
        op.name, service.service_id, op.method, op.uri
    );
    let _ = writeln!(o, "SYNOPSIS\n          {cmd}");
    for a in &args.args {
        let opt = match a.kind {
            crate::params::ArgKind::Member(i)
                if args.member_shape(i).kind == ShapeKind::Boolean =>
            {
                format!("--{} | --no-{}", a.name, a.name)
            }
            crate::params::ArgKind::GenerateCliSkeleton => format!("--{} <value>", a.name),
            _ => format!("--{} <value>", a.name),
        };
        if a.required {
            let _ = writeln!(o, "          {opt}");
        } else {
            let _ = writeln!(o, "          [{opt}]");
        }
    }
    let _ = writeln!(o, "\nOPTIONS");
    for a in &args.args {
        match a.kind {
            crate::params::ArgKind::Member(i) => {
                let shape = args.member_shape(i);
                let member = &args.input.expect("input").members[i];
                let head = if shape.kind == ShapeKind::Boolean {
                    format!("--{} | --no-{}", a.name, a.name)
                } else {
                    format!("--{}", a.name)
                };
                let _ = writeln!(o, "       {head} ({})", type_name(shape.kind));
                let mut facts = vec![format!("The {} member", member.name)];
                if a.required {
                    facts.push("required".into());
                }
                if let Some(min) = shape.min {
                    facts.push(format!("min {min}"));
                }
                if let Some(max) = shape.max {
                    facts.push(format!("max {max}"));
                }
                if let Some(p) = shape.pattern {
                    facts.push(format!("pattern {p}"));
                }
                if !shape.enum_values.is_empty() {
                    facts.push(format!("one of: {}", shape.enum_values.join(", ")));
                }
                let _ = writeln!(o, "          {}.\n", facts.join("; "));
                if matches!(
                    shape.kind,
                    ShapeKind::Structure | ShapeKind::Map | ShapeKind::List
                ) {
                    let complex_list = shape.kind != ShapeKind::List
                        || !crate::model::is_scalar(
                            service.model.shape(shape.member.expect("m")).kind,
                        );
                    if complex_list {
                        let _ = writeln!(
                            o,
                            "       Shorthand Syntax:\n\n          {}\n",
                            shorthand_example(service, shape, 0)
                        );
                    }
                    let mut js = String::new();
                    json_syntax(service, shape, 0, &mut js);
                    let _ = writeln!(
                        o,
                        "       JSON Syntax:\n\n          {}\n",
                        js.replace('\n', "\n          ")
                    );
                }
            }
            crate::params::ArgKind::CliInputJson => {
                let _ = writeln!(
                    o,
                    "       --cli-input-json (string) The operation's input as a JSON object keyed by member name (the format --generate-cli-skeleton prints). Options given on the command line override its keys.\n"
                );
            }
            crate::params::ArgKind::GenerateCliSkeleton => {
                let _ = writeln!(
                    o,
                    "       --generate-cli-skeleton (string) Print a JSON skeleton and send nothing: `input` (the default) for --cli-input-json, `output` for the shape of a response (after checking the other options).\n"
                );
            }
            crate::params::ArgKind::StartingToken => {
                let _ = writeln!(
                    o,
                    "       --starting-token (string) Resume a listing from the NextToken of an earlier truncated output.\n"
                );
            }
            crate::params::ArgKind::PageSize => {
                let _ = writeln!(
                    o,
                    "       --page-size (integer) Items asked for per request; all pages are still fetched.\n"
                );
            }
            crate::params::ArgKind::MaxItems => {
                let _ = writeln!(
                    o,
                    "       --max-items (integer) Total items to print; a NextToken is printed to resume.\n"
                );
            }
        }
    }
    let _ = writeln!(o, "GLOBAL OPTIONS");
    for (name, text) in GLOBAL_OPTIONS {
        let _ = writeln!(o, "       {name}\n          {text}\n");
    }
    let _ = writeln!(o, "OUTPUT");
    match op.output.and_then(|n| service.shape(n)) {
        None => {
            let _ = writeln!(o, "       None");
        }
        Some(shape) => {
            for m in shape.members {
                let ms = service.member_shape(m);
                let _ = writeln!(o, "       {} -> ({})", m.name, type_name(ms.kind));
            }
        }
    }
    o
}

/// `iotjobs iot help`: the service's commands.
pub fn service_help(service: &Service) -> String {
    let mut o = format!(
        "NAME\n       {} -\n\nDESCRIPTION\n       AWS {} operations. Commands marked * are served by `iotjobs serve`; the others exist in the AWS model and are not implemented by iotjobs yet.\n\nAVAILABLE COMMANDS\n",
        service.cli_name, service.service_id
    );
    for op in service.model.ops {
        let mark = if service.is_served(op) { "*" } else { " " };
        let _ = writeln!(o, "       {mark} {}", xform_name(op.name, '-'));
    }
    o
}

/// `iotjobs help`.
pub fn top_help() -> String {
    let mut o = String::from(
        "iotjobs\n\nSYNOPSIS\n       iotjobs [options] <command> <subcommand> [parameters]\n       iotjobs serve [--listen HOST:PORT] [--database URL] ...\n\nDESCRIPTION\n       A drop-in for the AWS CLI v1 commands of AWS IoT Jobs, and the service itself.\n\nAVAILABLE SERVICES\n       o iot\n       o iot-jobs-data\n\nGLOBAL OPTIONS\n",
    );
    for (name, text) in GLOBAL_OPTIONS {
        let _ = writeln!(o, "       {name}\n          {text}\n");
    }
    o
}
