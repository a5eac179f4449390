//! Repository automation, run as `cargo xtask <command>`.
//!
//! `codegen` turns the botocore service models in `<workspace>/../shared/aws-models` into the
//! committed tables and DTOs under `crates/model/src/generated/`; `codegen --check` regenerates in
//! memory and fails when the committed files differ (the CI drift check). This is a plain
//! program, not a build script, so ordinary builds never depend on the models being present.
//!
//! Licence rule: the output may carry facts from the models only (names, HTTP bindings,
//! constraints, error codes). It must never copy a `documentation` string.

mod codegen;
mod json;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask codegen [--check]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["codegen"] => codegen::run(false),
        ["codegen", "--check"] => codegen::run(true),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
