//! `iotjobs iot <operation>` and `iotjobs iot-jobs-data <operation>`: a drop-in for the AWS
//! CLI v1 commands of the operations iotjobs serves, driven by the service models.
//!
//! The contract is `../shared/spec/aws-cli-v1-behaviour.md`: same exit codes (0, 2, 255),
//! same stdout bytes, same requests, same error lines. The flow mirrors `awscli/clidriver.py`:
//!
//! 1. global options (`args` over the whole argv, like the AWS CLI's main parser), then the
//!    service's operation name, then the operation's options (built from the input shape by
//!    `params`); argparse errors exit 2, left-over words exit 255 (`Unknown options: …`);
//! 2. parameter values: paramfiles, shorthand (`shorthand`) or JSON (`pyjson`),
//!    `--cli-input-json`; `--generate-cli-skeleton`;
//! 3. profile, region, endpoint (`credentials`), client-side validation (`validate`),
//!    credentials, then the request (`request`), SigV4 (`sign`), HTTP (`http`), legacy
//!    retries (`retry`), the response (`response`) and pagination (`call`);
//! 4. output (`output`: json, text, table, `--query`).
//!
//! Nothing here starts an async runtime or probes the network beyond the one endpoint, so
//! a call costs a few milliseconds of process time. This crate never reads or writes the
//! server's store: it is a client of the HTTP API only.

pub mod args;
pub mod audit;
pub mod call;
pub mod clock;
pub mod credentials;
pub mod help;
pub mod help_text;
pub mod http;
pub mod model;
pub mod output;
mod own_api;
pub mod paramfile;
pub mod params;
pub mod pyjson;
pub mod request;
pub mod response;
pub mod retry;
pub mod shorthand;
pub mod sign;
pub mod validate;

use std::io::{IsTerminal as _, Write};
use std::time::Duration;

use args::{Action, ArgError, Namespace, Nargs, Parser};
use model::Service;
use pyjson::Value;

/// The usage block printed before argparse errors and `Unknown options` (the AWS CLI's,
/// naming this program, without the "AWS CLI version 2" banner).
pub const USAGE: &str = "usage: iotjobs [options] <command> <subcommand> [<subcommand> ...] [parameters]\nTo see help text, you can run:\n\n  iotjobs help\n  iotjobs <command> help\n  iotjobs <command> <subcommand> help\n";

/// The services this binary serves as CLI commands.
pub const COMMANDS: [&str; 2] = ["iot", "iot-jobs-data"];

/// Whether `command` is one of the binary's own (clap) commands.
fn is_server_command(command: &str) -> bool {
    command == "serve"
        || help_text::SERVER_COMMANDS
            .iter()
            .any(|(name, _)| *name == command)
}

/// Whether `argv` (without the program name) is a CLI invocation rather than `serve`.
pub fn is_cli_invocation(argv: &[String]) -> bool {
    match argv.first().map(String::as_str) {
        Some(first) if COMMANDS.contains(&first) => true,
        // `iotjobs help [<command> [<operation>]]` (the usage block points there); only
        // `iotjobs help serve|backup|audit` is clap's.
        Some("help") => !argv.get(1).is_some_and(|c| is_server_command(c)),
        // Global options may come first, as with `aws --endpoint-url X iot …`.
        Some(first) if first.starts_with("--") && !matches!(first, "--help" | "--version") => {
            argv.iter().any(|a| COMMANDS.contains(&a.as_str()))
        }
        _ => false,
    }
}

fn main_parser() -> Parser {
    let mut p = Parser::new();
    p.add(Action::flag("--debug", "debug", true));
    p.add(Action::option("--endpoint-url", "endpoint_url"));
    p.add(Action::flag("--no-verify-ssl", "verify_ssl", false));
    p.add(Action::flag("--no-paginate", "paginate", false));
    p.add(Action::option("--output", "output").with_choices(&["json", "text", "table"]));
    p.add(Action::option("--query", "query"));
    p.add(Action::option("--profile", "profile"));
    p.add(Action::option("--region", "region"));
    p.add(Action::option("--color", "color").with_choices(&["on", "off", "auto"]));
    p.add(Action::flag("--no-sign-request", "sign_request", false));
    p.add(Action::option("--ca-bundle", "ca_bundle"));
    // `type: int` in cli.json, but converted only later, by `_resolve_timeout`.
    p.add(Action::option("--cli-read-timeout", "read_timeout"));
    p.add(Action::option("--cli-connect-timeout", "connect_timeout"));
    p.add(Action::flag("--v2-debug", "v2_debug", true));
    p.add(Action {
        option_strings: vec!["--version".into()],
        dest: "version".into(),
        kind: args::Kind::Version,
        required: false,
    });
    p.add(Action::positional(
        "command",
        Nargs::One,
        Some(COMMANDS.iter().map(|s| s.to_string()).collect()),
    ));
    p
}

/// Output streams (injectable for tests).
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

/// Runs one invocation; `argv` excludes the program name. Returns the exit code.
pub fn run(argv: &[String], io: &mut Io<'_>) -> i32 {
    match run_inner(argv, io) {
        Ok(code) => code,
        Err(Exit::Usage(msg)) => {
            let _ = writeln!(io.err, "{USAGE}iotjobs: error: {msg}");
            2
        }
        Err(Exit::Unknown(words)) => {
            let _ = write!(io.err, "{USAGE}\nUnknown options: {}\n", words.join(", "));
            255
        }
        Err(Exit::Error(msg)) => {
            let _ = write!(io.err, "\n{msg}\n");
            255
        }
        Err(Exit::Plain(msg)) => {
            let _ = writeln!(io.err, "{msg}");
            255
        }
    }
}

enum Exit {
    /// argparse error, exit 2.
    Usage(String),
    /// `Unknown options: …`, exit 255.
    Unknown(Vec<String>),
    /// Printed after an empty line, exit 255.
    Error(String),
    /// Printed as is (credentials and region errors), exit 255.
    Plain(String),
}

impl From<ArgError> for Exit {
    fn from(e: ArgError) -> Exit {
        Exit::Usage(e.0)
    }
}

/// `_resolve_timeout`: Python `int()` of the value (default 60 s), 0 = no timeout.
fn timeout(ns: &Namespace, dest: &str) -> Result<Option<Duration>, Exit> {
    let Some(text) = ns.str(dest) else {
        return Ok(Some(Duration::from_secs(60)));
    };
    let n = pyjson::parse_py_int(text).ok_or_else(|| {
        Exit::Error(format!(
            "invalid literal for int() with base 10: {}",
            pyjson::str_repr(text)
        ))
    })?;
    Ok(match n.parse::<u64>() {
        Ok(0) | Err(_) => None,
        Ok(secs) => Some(Duration::from_secs(secs)),
    })
}

/// `iotjobs help [<command> [<operation>]]`: `words` follow `help`. The help of an
/// operation is exactly `iotjobs <command> <operation> help`; anything that names no
/// command or no served operation is a usage error (exit 2, as argparse's), naming what
/// exists.
fn help_topic(words: &[String], io: &mut Io<'_>) -> Result<i32, Exit> {
    let (command, rest) = match words {
        [] => {
            let _ = io.out.write_all(help::top_help().as_bytes());
            return Ok(0);
        }
        [command, rest @ ..] => (command, rest),
    };
    let Some(service) = Service::by_cli_name(command) else {
        let mut msg = format!(
            "argument command: no help for '{command}': the commands are serve, {}, {}",
            help_text::SERVER_COMMANDS.map(|(c, _)| c).join(", "),
            COMMANDS.join(", ")
        );
        let choices: Vec<String> = std::iter::once("serve")
            .chain(help_text::SERVER_COMMANDS.map(|(c, _)| c))
            .chain(COMMANDS)
            .map(str::to_string)
            .collect();
        if let Some(close) = args::get_close_matches(command, &choices, 1, 0.6).first() {
            msg.push_str(&format!(" (maybe you meant '{close}'?)"));
        }
        msg.push_str(
            "\n`iotjobs help` describes them; `iotjobs help <command>` lists a command's operations.",
        );
        return Err(Exit::Usage(msg));
    };
    let operation = match rest {
        [] => {
            let _ = io.out.write_all(help::service_help(service).as_bytes());
            return Ok(0);
        }
        [operation] => operation,
        [_, extra, ..] => {
            return Err(Exit::Usage(format!(
                "unrecognized arguments after `iotjobs help {command} {}`: {extra} (usage: iotjobs help [<command> [<operation>]])",
                rest[0]
            )));
        }
    };
    if let Some(op) = service.op_by_command(operation)
        && service.is_served(op)
    {
        let argv = [command.clone(), operation.clone(), "help".to_string()];
        return run_inner(&argv, io);
    }
    let served: Vec<String> = service
        .model
        .ops
        .iter()
        .filter(|op| service.is_served(op))
        .map(|op| model::xform_name(op.name, '-'))
        .collect();
    let mut msg = match service.op_by_command(operation) {
        Some(op) => format!(
            "argument operation: iotjobs does not serve {} ({command} {operation}) yet",
            op.name
        ),
        None => format!("argument operation: {command} has no operation '{operation}'"),
    };
    if let Some(close) = args::get_close_matches(operation, &served, 1, 0.6).first() {
        msg.push_str(&format!(" (maybe you meant '{close}'?)"));
    }
    msg.push_str(&format!(
        "\nThe operations of {command} that iotjobs serves (`iotjobs help {command}` describes them):\n{}",
        help::wrap(&served.join(", "), 2).trim_end()
    ));
    Err(Exit::Usage(msg))
}

fn run_inner(argv: &[String], io: &mut Io<'_>) -> Result<i32, Exit> {
    if argv.first().map(String::as_str) == Some("help") {
        return help_topic(&argv[1..], io);
    }
    let (globals, remaining) = main_parser().parse_known_args(argv)?;
    if globals.version_requested {
        let _ = writeln!(
            io.out,
            "iotjobs/{} (AWS CLI v1 compatible: aws-cli/1.46.3)",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(0);
    }
    // `--query` is compiled with the global options, before anything else can fail.
    let query = match globals.str("query") {
        Some(q) => Some(output::Query::compile(q).map_err(Exit::Error)?),
        None => None,
    };
    // `resolve_types` and the timeout handlers of `top-level-args-parsed`, in their order.
    if let Some(url) = globals.str("endpoint_url")
        && (!url.contains("://") || url.starts_with("://"))
    {
        return Err(Exit::Error(format!(
            "Bad value for --endpoint-url \"{url}\": scheme is missing.  Must be of the form http://<hostname>/ or https://<hostname>/"
        )));
    }
    let read_timeout = timeout(&globals, "read_timeout")?;
    let connect_timeout = timeout(&globals, "connect_timeout")?;
    let service = Service::by_cli_name(globals.str("command").unwrap_or_default())
        .expect("argparse checked the command");

    // The service parser: the operation name.
    let mut sp = Parser::new();
    sp.add(Action::positional(
        "operation",
        Nargs::One,
        Some(service.command_names()),
    ));
    let (sns, remaining) = sp.parse_known_args(&remaining)?;
    let command = sns.str("operation").unwrap_or_default().to_string();
    if command == "help" {
        let _ = io.out.write_all(help::service_help(service).as_bytes());
        return Ok(0);
    }
    let op = service
        .op_by_command(&command)
        .expect("argparse checked the operation");
    if !service.is_served(op) {
        return Err(Exit::Error(format!(
            "iotjobs does not implement {} ({} {}) yet, so `iotjobs {} {command}` is not available; `iotjobs {} help` lists the served operations",
            op.name, service.cli_name, command, service.cli_name, service.cli_name
        )));
    }
    let input = op.input.and_then(|n| service.shape(n));
    let paginator = service.paginator(op.name);
    let op_args = params::OpArgs::new(service, input, paginator.is_some());

    // The operation parser.
    if remaining.len() == 1 && remaining[0] == "help" {
        let _ = io
            .out
            .write_all(help::operation_help(service, op, &op_args).as_bytes());
        return Ok(0);
    }
    let (ns, mut extras) = op_args
        .parser(params::lifts_required(&remaining))
        .parse_known_args(&remaining)?;
    match ns.str("help") {
        Some("help") => {
            let _ = io
                .out
                .write_all(help::operation_help(service, op, &op_args).as_bytes());
            return Ok(0);
        }
        Some(other) => extras.push(other.to_string()),
        None => {}
    }
    if !extras.is_empty() {
        return Err(Exit::Unknown(extras));
    }

    // Pagination switches (`check_should_enable_pagination`).
    let mut paginate = globals.bool("paginate").unwrap_or(true) && paginator.is_some();
    if let Some(p) = paginator {
        let manual = [p.input_token, p.limit_key]
            .iter()
            .any(|m| ns.get(&model::xform_name(m, '_')).is_some());
        if manual {
            paginate = false;
        }
        if !paginate {
            // A paging option that has the name of one of the operation's own members
            // (ListCertificates' `pageSize` is `--page-size`) shadows it; with pagination
            // off, its value is that member's (awscli `ensure_paging_params_not_set` skips
            // shadowed arguments, `check_should_enable_pagination` puts them back).
            let shadowed = |dest: &str| {
                op_args
                    .args
                    .iter()
                    .any(|a| matches!(a.kind, params::ArgKind::Member(_)) && a.dest == dest)
            };
            let used: Vec<&str> = ["starting_token", "page_size", "max_items"]
                .into_iter()
                .filter(|d| ns.get(d).is_some() && !shadowed(d))
                .collect();
            if !used.is_empty() {
                let names: Vec<String> = used
                    .iter()
                    .map(|d| format!("--{}", d.replace('_', "-")))
                    .collect();
                return Err(Exit::Error(format!(
                    "Error during pagination: Cannot specify --no-paginate along with pagination arguments: {}",
                    names.join(", ")
                )));
            }
        }
    }

    let call_params = params::build(&op_args, &ns, &command).map_err(|e| Exit::Error(e.0))?;
    if let Some(sk) = call_params.skeleton.as_deref()
        && sk != "output"
    {
        let skeleton = match input {
            Some(shape) => params::skeleton(service, shape, false),
            None => Value::Dict(pyjson::Dict::new()),
        };
        let _ = writeln!(io.out, "{}", pyjson::dumps_pretty(&skeleton, true));
        return Ok(0);
    }

    // Creating the client: profile, region, endpoint.
    let config = credentials::Config::load(globals.str("profile"));
    let scoped = config.scoped().map_err(|e| Exit::Error(e.to_string()))?;
    let region = config.region(globals.str("region")).map_err(|e| match e {
        credentials::ConfigError::NoRegion => Exit::Plain(e.to_string()),
        other => Exit::Error(other.to_string()),
    })?;
    let endpoint = config.endpoint(
        globals.str("endpoint_url"),
        service.service_id,
        service.endpoint_prefix,
        &region,
    );
    if !valid_endpoint(&endpoint) {
        return Err(Exit::Error(format!("Invalid endpoint: {endpoint}")));
    }
    let output_format = globals
        .str("output")
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_DEFAULT_OUTPUT").ok())
        .or_else(|| scoped.get("output").cloned())
        .unwrap_or_else(|| "json".into());
    let printer = Printer {
        format: output_format,
        query,
        title: op.name.to_string(),
    };

    // Validation (botocore validates before it signs or sends; skeleton output too).
    let mut params_dict = call_params.params.clone();
    if let Some(shape) = input {
        validate::validate(service, &params_dict, shape).map_err(Exit::Error)?;
    }
    if call_params.skeleton.as_deref() == Some("output") {
        let out = match op.output.and_then(|n| service.shape(n)) {
            Some(shape) => {
                let sk = params::skeleton(service, shape, true);
                // The AWS CLI hands the sample to botocore's Stubber, which validates it
                // against the output shape (and fails for maps with `min` keys).
                if let Value::Dict(d) = &sk {
                    validate::validate(service, d, shape).map_err(Exit::Error)?;
                }
                sk
            }
            None => Value::Dict(pyjson::Dict::new()),
        };
        printer.print(&out, io.out).map_err(Exit::Error)?;
        return Ok(0);
    }

    let credentials = if globals.bool("sign_request") == Some(false) {
        None
    } else {
        Some(config.credentials().map_err(|e| match e {
            credentials::ConfigError::NoCredentials => Exit::Plain(e.to_string()),
            other => Exit::Error(other.to_string()),
        })?)
    };
    let ca_bundle = globals
        .str("ca_bundle")
        .map(str::to_string)
        .or_else(|| config.setting("AWS_CA_BUNDLE", "ca_bundle"));
    let client = http::Client::new(&http::Options {
        verify_ssl: globals.bool("verify_ssl") != Some(false),
        ca_bundle,
        connect_timeout,
        read_timeout,
    })
    .map_err(Exit::Error)?;
    let max_attempts = config
        .setting("AWS_MAX_ATTEMPTS", "max_attempts")
        .and_then(|m| m.trim().parse::<u32>().ok())
        .filter(|m| *m >= 1)
        .unwrap_or(retry::DEFAULT_MAX_ATTEMPTS);
    let debug = globals.bool("debug") == Some(true);
    let mut ctx = call::Context {
        service,
        op,
        client,
        endpoint,
        region,
        credentials,
        max_attempts,
        read_timeout,
        debug,
        user_agent: format!(
            "iotjobs-cli/{} aws-cli/1.46.3-compatible os/{} md/arch#{} cfg/retry-mode#legacy",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        ),
        stderr: io.err,
    };
    let result = match (paginate, paginator) {
        (true, Some(pag)) => ctx
            .paginate(
                pag,
                &params_dict,
                call_params.starting_token.as_deref(),
                call_params.page_size.as_deref(),
                call_params.max_items.as_deref(),
            )
            .map(|(pages, resume)| Output::Pages(pag, pages, resume)),
        _ => ctx.call(&params_dict).map(Output::One),
    };
    params_dict.entries.clear();
    match result {
        Ok(out) => {
            printer.print_output(out, io.out).map_err(Exit::Error)?;
            Ok(0)
        }
        Err(call::CallError::Service {
            error,
            max_retries_reached,
        }) => {
            let retry = max_retries_reached
                .map(|n| format!(" (reached max retries: {n})"))
                .unwrap_or_default();
            Err(Exit::Error(format!(
                "An error occurred ({}) when calling the {} operation{retry}: {}",
                error.code, op.name, error.message
            )))
        }
        Err(call::CallError::Transport(m)) | Err(call::CallError::Other(m)) => Err(Exit::Error(m)),
    }
}

/// botocore's `is_valid_endpoint_url` (a scheme and a host).
fn valid_endpoint(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !scheme.is_empty() && !host.is_empty() && !host.starts_with(':')
}

enum Output {
    One(Value),
    Pages(&'static model::Paginator, Vec<Value>, Option<String>),
}

struct Printer {
    format: String,
    query: Option<output::Query>,
    title: String,
}

impl Printer {
    fn apply(&self, v: &Value) -> Result<Value, String> {
        match &self.query {
            Some(q) => q.search(v),
            None => Ok(v.clone()),
        }
    }

    fn render(&self, v: &Value) -> Result<String, String> {
        Ok(match self.format.as_str() {
            "text" => output::format_text(v),
            "table" => {
                let width = if std::io::stdout().is_terminal() {
                    std::env::var("COLUMNS")
                        .ok()
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(80)
                } else {
                    80
                };
                output::format_table(&self.title, v, width)
            }
            _ => output::format_json(v),
        })
    }

    fn print(&self, v: &Value, out: &mut dyn Write) -> Result<(), String> {
        let text = self.render(&self.apply(v)?)?;
        let _ = out.write_all(text.as_bytes());
        Ok(())
    }

    fn print_output(&self, o: Output, out: &mut dyn Write) -> Result<(), String> {
        match o {
            Output::One(v) => self.print(&v, out),
            Output::Pages(pag, pages, resume) if self.format == "text" => {
                // The text formatter prints page by page, the query applied to each.
                for page in &pages {
                    let mut current = pyjson::Dict::new();
                    let data = page
                        .as_dict()
                        .and_then(|d| d.get(pag.result_key))
                        .cloned()
                        .unwrap_or(Value::Null);
                    current.insert(pag.result_key, data);
                    self.print(&Value::Dict(current), out)?;
                }
                if let Some(r) = resume {
                    let mut inner = pyjson::Dict::new();
                    inner.insert("NextToken", Value::Str(r));
                    let mut outer = pyjson::Dict::new();
                    outer.insert("NextToken", Value::Dict(inner));
                    self.print(&Value::Dict(outer), out)?;
                }
                Ok(())
            }
            Output::Pages(pag, pages, resume) => {
                self.print(&call::full_result(pag, &pages, resume.as_deref()), out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_cli(argv: &[&str]) -> (i32, String, String) {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = run(
            &argv,
            &mut Io {
                out: &mut out,
                err: &mut err,
            },
        );
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn argparse_errors_exit_2_with_the_aws_message() {
        let (code, out, err) = run_cli(&["iot", "cancel-job-execution", "--thing-name", "t"]);
        assert_eq!((code, out.as_str()), (2, ""));
        assert!(
            err.ends_with("iotjobs: error: the following arguments are required: --job-id\n"),
            "{err}"
        );
        let (code, _, err) = run_cli(&["iot", "cancel-job-executions"]);
        assert_eq!(code, 2);
        assert!(err.ends_with("\n\n\nInvalid choice: 'cancel-job-executions', maybe you meant:\n\n  * cancel-job-execution\n"), "{err}");
        let (code, _, err) = run_cli(&["--no", "iot", "cancel-job-execution"]);
        assert_eq!(code, 2);
        assert!(err.ends_with("error: ambiguous option: --no could match --no-verify-ssl, --no-paginate, --no-sign-request\n"));
    }

    #[test]
    fn unknown_options_exit_255_in_aws_order() {
        let (code, _, err) = run_cli(&[
            "iot",
            "cancel-job-execution",
            "--job-id",
            "j",
            "--thing-name",
            "t",
            "--bogus",
            "x",
            "--other",
        ]);
        assert_eq!(code, 255);
        assert!(
            err.ends_with("\nUnknown options: --bogus, --other, x\n"),
            "{err}"
        );
        let (_, _, err) = run_cli(&[
            "iot",
            "cancel-job-execution",
            "--job-id",
            "j",
            "--thing-name",
            "t",
            "--help",
        ]);
        assert!(err.ends_with("\nUnknown options: --help\n"));
    }

    #[test]
    fn skeleton_needs_no_config() {
        let (code, out, err) = run_cli(&["iot", "cancel-job-execution", "--generate-cli-skeleton"]);
        assert_eq!((code, err.as_str()), (0, ""));
        assert!(out.starts_with("{\n    \"jobId\": \"\",\n"));
        assert!(out.ends_with("}\n"));
    }

    #[test]
    fn dispatch_rule() {
        let v =
            |a: &[&str]| is_cli_invocation(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(v(&["iot", "list-jobs"]));
        assert!(v(&["--endpoint-url", "http://x", "iot-jobs-data", "x"]));
        assert!(!v(&["serve", "--listen", "x"]));
        assert!(!v(&["--help"]));
        assert!(v(&["help"]));
        assert!(v(&["help", "iot"]));
        assert!(v(&["help", "iot-jobs-data", "describe-job-execution"]));
        assert!(v(&["help", "bogus"]));
        // clap's own help of `serve`.
        assert!(!v(&["help", "serve"]));
        assert!(!v(&["help", "backup"]));
        assert!(!v(&["help", "audit"]));
        assert!(!v(&[]));
    }

    #[test]
    fn help_topics() {
        let (code, top, err) = run_cli(&["help"]);
        assert_eq!((code, err.as_str()), (0, ""));
        assert!(top.contains("\n       o iot\n") && top.contains("\n       o serve\n"));

        let (code, iot, err) = run_cli(&["help", "iot"]);
        assert_eq!((code, err.as_str()), (0, ""));
        assert_eq!(iot, run_cli(&["iot", "help"]).1);
        assert!(iot.contains("\n       o cancel-job-execution\n"));

        let (code, page, err) = run_cli(&["help", "iot", "cancel-job-execution"]);
        assert_eq!((code, err.as_str()), (0, ""));
        assert_eq!(page, run_cli(&["iot", "cancel-job-execution", "help"]).1);
        assert!(page.starts_with("NAME\n       cancel-job-execution -\n"));

        let (code, page, _) = run_cli(&["help", "iot-jobs-data", "describe-job-execution"]);
        assert_eq!(code, 0);
        assert_eq!(
            page,
            run_cli(&["iot-jobs-data", "describe-job-execution", "help"]).1
        );
        // The data plane's page, not the control plane's operation of the same name.
        assert!(page.contains("$next"));
    }

    #[test]
    fn unknown_help_topics_are_usage_errors_naming_what_exists() {
        let usage_error = |argv: &[&str]| {
            let (code, out, err) = run_cli(argv);
            assert_eq!((code, out.as_str()), (2, ""), "{argv:?}: {err}");
            assert!(err.starts_with(USAGE), "{err}");
            err[USAGE.len()..].to_string()
        };
        let err = usage_error(&["help", "io"]);
        assert!(
            err.starts_with("iotjobs: error: argument command: no help for 'io': the commands are serve, backup, audit, iot, iot-jobs-data (maybe you meant 'iot'?)\n"),
            "{err}"
        );
        let err = usage_error(&["help", "iot", "cancel-job-executio"]);
        assert!(
            err.starts_with("iotjobs: error: argument operation: iot has no operation 'cancel-job-executio' (maybe you meant 'cancel-job-execution'?)\n"),
            "{err}"
        );
        assert!(err.contains("  add-thing-to-thing-group, associate-targets-with-job,"));
        // Modelled but not served.
        let err = usage_error(&["help", "iot", "list-policies"]);
        assert!(
            err.contains("iotjobs does not serve ListPolicies (iot list-policies) yet"),
            "{err}"
        );
        assert!(!err.contains("list-policies,"));
        let err = usage_error(&["help", "iot-jobs-data", "cancel-job-execution"]);
        assert!(
            err.contains("iot-jobs-data has no operation 'cancel-job-execution'"),
            "{err}"
        );
        assert!(
            err.contains("describe-job-execution, get-pending-job-executions"),
            "{err}"
        );
        let err = usage_error(&["help", "iot", "cancel-job-execution", "--force"]);
        assert!(err.contains("unrecognized arguments"), "{err}");
    }
}
