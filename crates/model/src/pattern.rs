//! Java regular expressions (the models' `pattern` traits) in `regex`-crate syntax.
//!
//! The models write patterns for Java's `java.util.regex`; AWS matches them against the whole
//! value. This module translates the one construct the two engines read differently (Java's
//! ASCII POSIX classes) and compiles the result as a full match. It knows nothing of shapes
//! or validation messages: `Model` caches what it compiles, and the server's validator reads
//! that cache.

use regex::Regex;

/// Compiles a model pattern as a full match, after Java→Rust translation.
pub fn compile_pattern(java: &str) -> Result<Regex, regex::Error> {
    let translated = translate_java_pattern(java);
    Regex::new(&format!("^(?:{translated})$"))
}

/// Rewrites a model (Java) regex into `regex`-crate syntax.
///
/// Java's POSIX-style classes (`\p{Upper}`, `\p{Graph}`, …) mean ASCII sets by default, while
/// the `regex` crate either rejects those names or reads them as Unicode properties, so they
/// are spelled out as ASCII ranges (bare inside a `[...]` class, bracketed outside). Unicode
/// categories such as `\p{C}`, `\p{L}`, `\p{Z}`, `\p{N}` are left alone: both engines agree.
pub fn translate_java_pattern(java: &str) -> String {
    let mut out = String::with_capacity(java.len() + 16);
    let mut chars = java.chars().peekable();
    let mut class_depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                if matches!(next, 'p' | 'P') && chars.peek() == Some(&'{') {
                    chars.next();
                    let mut name = String::new();
                    let mut closed = false;
                    for ch in chars.by_ref() {
                        if ch == '}' {
                            closed = true;
                            break;
                        }
                        name.push(ch);
                    }
                    match posix_class(&name).filter(|_| closed) {
                        Some(set) if class_depth > 0 && next == 'p' => out.push_str(set),
                        Some(set) => {
                            out.push('[');
                            if next == 'P' {
                                out.push('^');
                            }
                            out.push_str(set);
                            out.push(']');
                        }
                        None => {
                            out.push('\\');
                            out.push(next);
                            out.push('{');
                            out.push_str(&name);
                            if closed {
                                out.push('}');
                            }
                        }
                    }
                } else {
                    out.push('\\');
                    out.push(next);
                }
            }
            '[' => {
                class_depth += 1;
                out.push('[');
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Java's `\p{Name}` POSIX classes (US-ASCII only, Java's default) as class contents.
fn posix_class(name: &str) -> Option<&'static str> {
    Some(match name {
        "Lower" => "a-z",
        "Upper" => "A-Z",
        "ASCII" => r"\x00-\x7F",
        "Alpha" => "a-zA-Z",
        "Digit" => "0-9",
        "Alnum" => "a-zA-Z0-9",
        "Punct" => r"\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E",
        "Graph" => r"\x21-\x7E",
        "Print" => r"\x20-\x7E",
        "Blank" => r" \t",
        "Cntrl" => r"\x00-\x1F\x7F",
        "XDigit" => "0-9a-fA-F",
        "Space" => r" \t\n\x0B\f\r",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::{iot, iot_jobs_data};

    #[test]
    fn every_pattern_compiles() {
        for model in [&iot::MODEL, &iot_jobs_data::MODEL] {
            for shape in model.shapes {
                if let Some(p) = shape.pattern {
                    let r = compile_pattern(p);
                    assert!(r.is_ok(), "{}: {} → {:?}", shape.name, p, r.err());
                }
            }
        }
    }

    #[test]
    fn translation() {
        assert_eq!(
            translate_java_pattern(r"[\p{Upper}\p{Digit}_]+"),
            "[A-Z0-9_]+"
        );
        assert_eq!(
            translate_java_pattern(r"[\p{Graph}\x20]*"),
            r"[\x21-\x7E\x20]*"
        );
        assert_eq!(translate_java_pattern(r"\p{Alpha}+"), "[a-zA-Z]+");
        assert_eq!(translate_java_pattern(r"\P{Digit}"), "[^0-9]");
        assert_eq!(translate_java_pattern(r"[^\p{C}]+"), r"[^\p{C}]+");
        assert_eq!(translate_java_pattern(r"\[\p{L}\]"), r"\[\p{L}\]");
    }

    #[test]
    fn translated_classes_are_ascii_and_full_match() {
        let re = compile_pattern(r"[\p{Upper}\p{Digit}_]+").unwrap();
        assert!(re.is_match("AB_12"));
        assert!(!re.is_match("Ab"));
        assert!(!re.is_match("É"));
        let re = compile_pattern(r"[\p{Graph}\x20]*").unwrap();
        assert!(re.is_match("a b~"));
        assert!(!re.is_match("tab\there"));
        let re = compile_pattern(r"\p{Punct}+").unwrap();
        assert!(re.is_match(r##"!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##));
        assert!(!re.is_match("a"));
        // Full match: a matching substring is not enough (spec §2.1, I-java666).
        let re = compile_pattern("[a-zA-Z0-9_.,@/:#-]+").unwrap();
        assert!(!re.is_match("\"state\""));
        // The data plane's alternation with its own anchor.
        let re = compile_pattern(r"[a-zA-Z0-9_-]+|^\$next").unwrap();
        assert!(re.is_match("$next") && re.is_match("j-1") && !re.is_match("x$next"));
    }
}
