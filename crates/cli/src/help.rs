//! `iotjobs iot <operation> help`, `iotjobs iot help` and `iotjobs help`: plain-text help
//! pages, with the sections of the AWS CLI's man pages (NAME, DESCRIPTION, SYNOPSIS,
//! OPTIONS with shorthand and JSON syntax, GLOBAL OPTIONS, OUTPUT). The structure, types and
//! constraints come from the model tables; the sentences come from `help_text`, our own
//! words (the generated tables carry no AWS documentation text). This module lays pages
//! out and must not word what an operation or member does: that belongs in `help_text`.
//! Printed to stdout, exit 0, no pager.

use std::fmt::Write as _;

use iotjobs_model::{OperationDef, ShapeDef, ShapeKind};

use crate::help_text;
use crate::model::{Service, xform_name};
use crate::params::OpArgs;

/// Help pages are laid out for this many columns (as `man` renders for a terminal of 80).
const WIDTH: usize = 79;

/// `text` word-wrapped to [`WIDTH`], each line indented by `indent` spaces and ended with a
/// newline. Words longer than a line (patterns, ARNs) are kept whole.
pub(crate) fn wrap(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > WIDTH {
            let _ = writeln!(out, "{pad}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{pad}{line}");
    }
    out
}

/// The constraints the model states for a member, as one line (empty when there are none).
fn constraints(required: bool, shape: &ShapeDef) -> String {
    let mut facts = Vec::new();
    if required {
        facts.push("required".to_string());
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
    if facts.is_empty() {
        String::new()
    } else {
        format!("Constraints: {}", facts.join("; "))
    }
}

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
    let text = help_text::operation(service.cli_name, op.name);
    let mut o = String::new();
    let _ = writeln!(o, "NAME\n       {cmd} -\n");
    o.push_str("DESCRIPTION\n");
    if let Some(t) = text {
        o.push_str(&wrap(t.summary, 7));
        o.push('\n');
    }
    o.push_str(&wrap(
        &format!(
            "Calls the {} operation of the AWS {} API ({} {}).",
            op.name, service.service_id, op.method, op.uri
        ),
        7,
    ));
    let _ = writeln!(
        o,
        "\n       See 'iotjobs help' for descriptions of global parameters.\n"
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
                if let Some(sentence) = text.and_then(|t| t.input_member(member.name)) {
                    o.push_str(&wrap(sentence, 10));
                }
                let facts = constraints(a.required, shape);
                if !facts.is_empty() {
                    o.push_str(&wrap(&facts, 10));
                }
                o.push('\n');
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
                if let Some(sentence) = text.and_then(|t| t.output_member(m.name)) {
                    o.push_str(&wrap(sentence, 10));
                }
                o.push('\n');
            }
        }
    }
    o
}

/// `iotjobs iot help` (also `iotjobs help iot`): the service's served operations, each
/// with its summary.
pub fn service_help(service: &Service) -> String {
    let mut o = format!("NAME\n       {} -\n\nDESCRIPTION\n", service.cli_name);
    if let Some(summary) = help_text::service_summary(service.cli_name) {
        o.push_str(&wrap(&format!("{summary}."), 7));
        o.push('\n');
    }
    let served: Vec<_> = service
        .model
        .ops
        .iter()
        .filter(|op| service.is_served(op))
        .collect();
    let others = match service.model.ops.len() - served.len() {
        0 => String::new(),
        1 => " The model's one other operation is not served: calling it exits 255 with a message."
            .to_string(),
        n => format!(
            " The model's {n} other operations are not served: calling one exits 255 with a message."
        ),
    };
    o.push_str(&wrap(
        &format!(
            "These are the operations of AWS {} that `iotjobs serve` implements; `iotjobs {} <operation> help` describes one.{others}",
            service.service_id, service.cli_name
        ),
        7,
    ));
    o.push_str("\nAVAILABLE COMMANDS\n");
    for op in served {
        let _ = writeln!(o, "       o {}", xform_name(op.name, '-'));
        if let Some(t) = help_text::operation(service.cli_name, op.name) {
            o.push_str(&wrap(t.summary, 9));
        }
        o.push('\n');
    }
    o
}

/// `iotjobs help`: the commands, and the global options of the CLI commands.
pub fn top_help() -> String {
    let mut o = String::from(
        "iotjobs\n\nSYNOPSIS\n       iotjobs serve [--listen HOST:PORT] [--database URL] ...\n       iotjobs [options] <command> <subcommand> [parameters]\n       iotjobs help [<command> [<subcommand>]]\n\nDESCRIPTION\n       A self-hostable AWS IoT Jobs service, and a drop-in for the AWS CLI v1\n       commands of the operations it serves.\n\nAVAILABLE COMMANDS\n",
    );
    let _ = writeln!(o, "       o serve");
    o.push_str(&wrap(
        &format!(
            "{}. `iotjobs serve --help` lists its options.",
            help_text::SERVE_SUMMARY
        ),
        9,
    ));
    for (command, summary) in help_text::SERVER_COMMANDS {
        let _ = writeln!(o, "\n       o {command}");
        o.push_str(&wrap(
            &format!("{summary}. `iotjobs {command} --help` lists its options."),
            9,
        ));
    }
    for service in crate::model::SERVICES {
        let _ = writeln!(o, "\n       o {}", service.cli_name);
        o.push_str(&wrap(&help_text::service_line(service.cli_name), 9));
    }
    o.push_str("\nGLOBAL OPTIONS (of the iot and iot-jobs-data commands)\n");
    for (name, text) in GLOBAL_OPTIONS {
        let _ = writeln!(o, "       {name}\n          {text}\n");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SERVICES;

    /// Whitespace runs as one space, so that wrapped text can be searched.
    fn flat(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn page(service: &'static Service, op: &'static OperationDef) -> String {
        let input = op.input.and_then(|n| service.shape(n));
        let args = OpArgs::new(service, input, service.paginator(op.name).is_some());
        operation_help(service, op, &args)
    }

    #[test]
    fn wrap_keeps_words_and_width() {
        let text = "Also cancel an execution that is IN_PROGRESS; without it only QUEUED executions can be canceled. The device can then no longer update it.";
        let wrapped = wrap(text, 10);
        assert!(wrapped.lines().count() > 1);
        for line in wrapped.lines() {
            assert!(line.len() <= WIDTH, "{line:?}");
            assert!(line.starts_with("          ") && !line.starts_with("           "));
        }
        assert_eq!(flat(&wrapped), text);
        // A word longer than a line stays whole.
        let long = "x".repeat(100);
        assert_eq!(wrap(&long, 4), format!("    {long}\n"));
        assert_eq!(wrap("", 4), "");
    }

    /// Every served operation's page has our summary and a sentence for every input and
    /// output member, the constraints after the sentence, and never the old boilerplate.
    #[test]
    fn operation_pages_print_our_sentences() {
        for service in SERVICES {
            for op in service.model.ops.iter().filter(|op| service.is_served(op)) {
                let text = help_text::operation(service.cli_name, op.name)
                    .unwrap_or_else(|| panic!("{} {}: no help text", service.cli_name, op.name));
                let page = page(service, op);
                let flat_page = flat(&page);
                assert!(flat_page.contains(&flat(text.summary)), "{}", op.name);
                assert!(
                    !page.contains(" member;") && !page.contains(" member."),
                    "{}: boilerplate left:\n{page}",
                    op.name
                );
                for (name, sentence) in text.input.iter().chain(text.output) {
                    assert!(
                        flat_page.contains(&flat(sentence)),
                        "{} {name}: sentence missing from the page",
                        op.name
                    );
                }
            }
        }
        let page = page(
            &crate::model::IOT,
            crate::model::IOT
                .model
                .find_op("CancelJobExecution")
                .unwrap(),
        );
        let flat_page = flat(&page);
        let job_id = flat_page
            .find("--job-id (string) The job whose execution is canceled.")
            .expect("sentence after the option");
        let constraints = flat_page
            .find("Constraints: required; min 1; max 64; pattern [a-zA-Z0-9_-]+")
            .expect("constraints");
        assert!(job_id < constraints);
        assert!(flat_page.contains("--force | --no-force (boolean) Also cancel an execution that is IN_PROGRESS; without it only QUEUED executions can be canceled."));
    }

    #[test]
    fn service_pages_list_the_served_operations_only() {
        let iot = service_help(&crate::model::IOT);
        assert!(iot.contains("\n       o cancel-job-execution\n"));
        assert!(
            flat(&iot).contains("o cancel-job-execution Cancel one thing's execution of a job")
        );
        assert!(!iot.contains("list-policies"));
        let served = crate::model::IOT.model.served.len();
        assert_eq!(iot.matches("\n       o ").count(), served);
        let data = service_help(&crate::model::IOT_JOBS_DATA);
        assert!(data.contains("\n       o start-next-pending-job-execution\n"));
        assert!(!data.contains("start-command-execution"));
        assert!(data.contains("one other operation is not served"));
    }

    #[test]
    fn top_page_lists_the_commands() {
        let top = top_help();
        for command in ["serve", "backup", "audit", "iot", "iot-jobs-data"] {
            assert!(
                top.contains(&format!("\n       o {command}\n")),
                "{command}"
            );
        }
        assert!(flat(&top).contains("`iotjobs help iot` lists its operations."));
        assert!(flat(&top).contains("`iotjobs help iot-jobs-data` lists its operations."));
    }
}
