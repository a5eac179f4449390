//! Tidy checks: invariants of ARCHITECTURE.md that the compiler cannot enforce, checked
//! over the source text (as rust-analyzer's tidy tests do).

use std::path::{Path, PathBuf};

/// The `JobsError` variants that carry a message a caller (or the log) reads.
const MESSAGE_VARIANTS: &[&str] = &[
    "InvalidRequest",
    "NotFound",
    "LimitExceeded",
    "TerminalState",
    "Unavailable",
    "Internal",
    "AlreadyExists",
    "Conflict",
    "InvalidStateTransition",
    "VersionMismatch",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Places in `source` that build a `JobsError` with a message of their own (rather
/// than through a named constructor of `iotjobs-core`). Patterns (`JobsError::X(_)`,
/// `JobsError::X { .. }`) are not constructions.
fn message_constructions(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, line) in source.lines().enumerate() {
        for variant in MESSAGE_VARIANTS {
            let needle = format!("JobsError::{variant}");
            let mut rest = line;
            while let Some(at) = rest.find(&needle) {
                let after = rest[at + needle.len()..].trim_start();
                let is_pattern = after.starts_with("(_)")
                    || after.starts_with("(ref ")
                    || after.starts_with("{ ..")
                    || after.starts_with("{..")
                    || after.starts_with("(m)")
                    || after.starts_with("(msg)");
                let is_construction = after.starts_with('(') || after.starts_with('{');
                if is_construction && !is_pattern {
                    found.push((i + 1, line.trim().to_owned()));
                }
                rest = &rest[at + needle.len()..];
            }
        }
    }
    found
}

/// "No `JobsError` message is formatted in `crates/store` or in
/// `crates/api/src/handlers`": stores and handlers use the core's named constructors,
/// so each message is one decision in one place. Test code (the conformance suite, the
/// backends' tests) may match on variants freely.
#[test]
fn stores_and_handlers_word_no_messages() {
    let root = workspace();
    let mut files = Vec::new();
    rust_files(&root.join("crates/store/src"), &mut files);
    rust_files(&root.join("crates/api/src/handlers"), &mut files);
    files.retain(|f| {
        let name = f.file_name().unwrap().to_string_lossy();
        name != "conformance.rs" && name != "tests.rs"
    });
    assert!(files.len() > 10, "found only {files:?}");
    let mut offenders = Vec::new();
    for f in &files {
        let source = std::fs::read_to_string(f).unwrap();
        // A file's own unit tests may match on variants.
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        for (line, text) in message_constructions(code) {
            offenders.push(format!("{}:{line}: {text}", f.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "JobsError messages worded outside iotjobs-core (add a named constructor there):\n{}",
        offenders.join("\n")
    );
}

/// The checker itself finds what it must (so the test above can fail).
#[test]
fn the_message_checker_sees_constructions_but_not_patterns() {
    let bad = r#"return Err(JobsError::NotFound(format!("Thing {t} is gone")));"#;
    assert_eq!(message_constructions(bad).len(), 1);
    let bad_struct = "Err(JobsError::AlreadyExists {";
    assert_eq!(message_constructions(bad_struct).len(), 1);
    let fine =
        "Err(JobsError::InvalidStateTransition { .. } | JobsError::VersionMismatch { .. }) => {";
    assert!(message_constructions(fine).is_empty());
    assert!(message_constructions("Err(JobsError::thing_not_found(name))").is_empty());
}
