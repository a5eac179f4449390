//! The AWS CLI's shorthand syntax (`KeyName1=string,KeyName2=string`), parsed exactly as
//! AWS CLI v1's `awscli/shorthand.py` parses it (behaviour spec §5.2).
//!
//! No crate implements this grammar, so it is written here, as a port of the Python
//! recursive-descent parser including its quirks: whitespace is not skipped before the first
//! key, a comma after a value starts a list unless the parser meets `key=` and backtracks,
//! quoted strings follow the Python regexes' backtracking, duplicate top-level keys are an
//! error, and error messages carry a caret under the failing code point.
//!
//! The parser is pure: it turns a string into [`Value`]s (strings, lists, dicts) and never
//! looks at the service model (the caller converts types, as the CLI's `BackCompatVisitor`
//! does) and never touches the file system itself: `key@=file://…` values are handed to the
//! caller's resolver.

use crate::pyjson::{Dict, Value};

/// A shorthand parse error; `Display` is the AWS CLI's exact message (without the
/// `Error parsing parameter '--x': ` prefix, which the caller adds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShorthandError {
    /// `Expected: '<expected>', received: '<actual>' for input:\n…`
    Syntax {
        input: Vec<char>,
        expected: String,
        actual: String,
        index: usize,
    },
    /// `Second instance of key "a" encountered for input:\n…`
    DuplicateKey {
        input: Vec<char>,
        key: String,
        index: usize,
    },
    /// A `key@=file://…` value whose file could not be loaded (the resolver's message).
    Resource(String),
}

impl ShorthandError {
    /// The input with a caret under `index` (Python's `_error_location`).
    fn location(input: &[char], index: usize) -> String {
        let index = index.min(input.len());
        let before = &input[..index];
        let num_spaces = match before.iter().rposition(|c| *c == '\n') {
            Some(nl) => index - nl - 1,
            None => index,
        };
        let (consumed, remaining): (String, String) =
            match input[index..].iter().position(|c| *c == '\n') {
                Some(off) => (
                    input[..index + off].iter().collect(),
                    input[index + off..].iter().collect(),
                ),
                None => (input.iter().collect(), String::new()),
            };
        format!("{consumed}\n{}^{remaining}", " ".repeat(num_spaces))
    }
}

impl std::fmt::Display for ShorthandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShorthandError::Syntax {
                input,
                expected,
                actual,
                index,
            } => write!(
                f,
                "Expected: '{expected}', received: '{actual}' for input:\n{}",
                Self::location(input, *index)
            ),
            ShorthandError::DuplicateKey { input, key, index } => write!(
                f,
                "Second instance of key \"{key}\" encountered for input:\n{}\nThis is often because there is a preceding \",\" instead of a space.",
                Self::location(input, *index)
            ),
            ShorthandError::Resource(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for ShorthandError {}

/// Resolves a `key@=` value: `Ok(Some(content))` for a `file://`/`fileb://` reference,
/// `Ok(None)` to keep the literal value.
pub type Resolver<'r> = &'r dyn Fn(&str) -> Result<Option<Value>, String>;

/// A resolver that never loads anything (`key@=` values stay literal).
pub fn no_files(_: &str) -> Result<Option<Value>, String> {
    Ok(None)
}

/// Parses one shorthand value into a dict (AWS CLI `ShorthandParser.parse`).
pub fn parse(input: &str, resolve: Resolver<'_>) -> Result<Dict, ShorthandError> {
    let mut p = Parser {
        s: input.chars().collect(),
        i: 0,
        resolve_files: false,
        resolve,
    };
    p.parameter()
}

/// Python's `string.whitespace`, which the parser skips around `=`, `@` and `,`.
fn is_ascii_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
}

/// Python `str.isspace`, used by `rstrip()` on unquoted values.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python `re`'s `\s` for str patterns.
fn is_re_space(c: char) -> bool {
    is_py_space(c)
}

/// `_START_WORD`: the first character of an unquoted value.
fn is_start(c: char) -> bool {
    let u = c as u32;
    u == 0x21
        || (0x23..=0x26).contains(&u)
        || (0x28..=0x2b).contains(&u)
        || (0x2d..=0x3c).contains(&u)
        || (0x3e..=0x5a).contains(&u)
        || (0x5c..=0x7a).contains(&u)
        || (0x7c..=0xffff).contains(&u)
}

/// `_FIRST_FOLLOW_CHARS`: later characters of a first (or only) unquoted value.
fn is_first_follow(c: char) -> bool {
    let u = c as u32;
    is_re_space(c)
        || u == 0x21
        || (0x23..=0x26).contains(&u)
        || (0x28..=0x2b).contains(&u)
        || (0x2d..=0x5c).contains(&u)
        || (0x5e..=0x7c).contains(&u)
        || (0x7e..=0xffff).contains(&u)
}

/// `_SECOND_FOLLOW_CHARS`: later characters of the second and further list items.
fn is_second_follow(c: char) -> bool {
    let u = c as u32;
    is_re_space(c)
        || u == 0x21
        || (0x23..=0x26).contains(&u)
        || (0x28..=0x2b).contains(&u)
        || (0x2d..=0x3c).contains(&u)
        || (0x3e..=0xffff).contains(&u)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '#' | '/' | ':')
}

struct Parser<'r> {
    s: Vec<char>,
    i: usize,
    resolve_files: bool,
    resolve: Resolver<'r>,
}

impl Parser<'_> {
    fn syntax(&self, expected: impl Into<String>, actual: impl Into<String>) -> ShorthandError {
        ShorthandError::Syntax {
            input: self.s.clone(),
            expected: expected.into(),
            actual: actual.into(),
            index: self.i,
        }
    }

    fn at_eof(&self) -> bool {
        self.i >= self.s.len()
    }

    fn current(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn consume_whitespace(&mut self) {
        while self.current().is_some_and(is_ascii_ws) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: char, consume_whitespace: bool) -> Result<(), ShorthandError> {
        if consume_whitespace {
            self.consume_whitespace();
        }
        match self.current() {
            None => return Err(self.syntax(c, "EOF")),
            Some(actual) if actual != c => return Err(self.syntax(c, actual)),
            Some(_) => {}
        }
        self.i += 1;
        if consume_whitespace {
            self.consume_whitespace();
        }
        Ok(())
    }

    fn parameter(&mut self) -> Result<Dict, ShorthandError> {
        let mut params = Dict::new();
        let (key, val) = self.keyval()?;
        params.insert(key, val);
        let mut last_index = self.i;
        while !self.at_eof() {
            self.expect(',', true)?;
            let (key, val) = self.keyval()?;
            if params.contains_key(&key) {
                return Err(ShorthandError::DuplicateKey {
                    input: self.s.clone(),
                    key,
                    index: last_index + 1,
                });
            }
            params.insert(key, val);
            last_index = self.i;
        }
        Ok(params)
    }

    /// `key [@] = values`; `@` asks for `file://`/`fileb://` values to be loaded.
    fn key_at_equals(&mut self) -> Result<String, ShorthandError> {
        let key = self.key();
        // Python catches the syntax error of a missing `@`; whitespace that `_expect`
        // skipped stays consumed (so `' a=b'` fails at `a`, not at the space).
        self.resolve_files = self.expect('@', true).is_ok();
        self.expect('=', true)?;
        Ok(key)
    }

    fn keyval(&mut self) -> Result<(String, Value), ShorthandError> {
        let key = self.key_at_equals()?;
        let values = self.values()?;
        Ok((key, values))
    }

    fn key(&mut self) -> String {
        let start = self.i;
        while self.current().is_some_and(is_key_char) {
            self.i += 1;
        }
        self.s[start..self.i].iter().collect()
    }

    fn values(&mut self) -> Result<Value, ShorthandError> {
        match self.current() {
            None => Ok(Value::str("")),
            Some('[') => self.explicit_list(),
            Some('{') => self.hash_literal(),
            Some(_) => self.csv_value(),
        }
    }

    fn csv_value(&mut self) -> Result<Value, ShorthandError> {
        let first_value = self.first_value()?;
        self.consume_whitespace();
        if self.at_eof() || self.s[self.i] != ',' {
            return Ok(first_value);
        }
        self.expect(',', true)?;
        let mut csv_list = vec![first_value.clone()];
        loop {
            let attempt = (|| -> Result<bool, ShorthandError> {
                let current = self.second_value()?;
                self.consume_whitespace();
                if self.at_eof() {
                    csv_list.push(current);
                    return Ok(true);
                }
                self.expect(',', true)?;
                csv_list.push(current);
                Ok(false)
            })();
            match attempt {
                Ok(true) => break,
                Ok(false) => {}
                Err(e @ ShorthandError::Syntax { .. }) => {
                    if self.at_eof() {
                        return Err(e);
                    }
                    // We met `key=`: give the comma back and let the caller parse the key.
                    while self.s[self.i] != ',' {
                        self.i -= 1;
                    }
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if csv_list.len() == 1 {
            return Ok(first_value);
        }
        Ok(Value::List(csv_list))
    }

    fn resolve(&self, value: String) -> Result<Value, ShorthandError> {
        if self.resolve_files
            && let Some(v) = (self.resolve)(&value).map_err(ShorthandError::Resource)?
        {
            return Ok(v);
        }
        Ok(Value::Str(value))
    }

    /// Consumes `(\\,|[first])(\\,|[follow])*` and returns the raw text, or `None`.
    fn consume_unquoted(&mut self, follow: fn(char) -> bool) -> Option<String> {
        let s = &self.s;
        let start = self.i;
        let mut j = start;
        let step = |j: usize, class: &dyn Fn(char) -> bool| -> Option<usize> {
            if s.get(j) == Some(&'\\') && s.get(j + 1) == Some(&',') {
                Some(j + 2)
            } else if s.get(j).is_some_and(|c| class(*c)) {
                Some(j + 1)
            } else {
                None
            }
        };
        j = step(j, &is_start)?;
        while let Some(next) = step(j, &follow) {
            j = next;
        }
        self.i = j;
        Some(s[start..j].iter().collect())
    }

    fn unquoted_value(&mut self) -> Result<Value, ShorthandError> {
        match self.consume_unquoted(is_first_follow) {
            Some(raw) => {
                let processed = raw.replace("\\,", ",");
                let processed = processed.trim_end_matches(is_py_space).to_string();
                self.resolve(processed)
            }
            None => Ok(Value::str("")),
        }
    }

    fn explicit_list(&mut self) -> Result<Value, ShorthandError> {
        self.expect('[', true)?;
        let mut values = Vec::new();
        while self.current() != Some(']') {
            let val = self.explicit_values()?;
            values.push(val);
            self.consume_whitespace();
            if self.current() != Some(']') {
                self.expect(',', false)?;
                self.consume_whitespace();
            }
        }
        self.expect(']', false)?;
        Ok(Value::List(values))
    }

    fn explicit_values(&mut self) -> Result<Value, ShorthandError> {
        match self.current() {
            Some('[') => self.explicit_list(),
            Some('{') => self.hash_literal(),
            _ => self.first_value(),
        }
    }

    fn hash_literal(&mut self) -> Result<Value, ShorthandError> {
        self.expect('{', true)?;
        let mut keyvals = Dict::new();
        while self.current() != Some('}') {
            let key = self.key_at_equals()?;
            let v = self.explicit_values()?;
            self.consume_whitespace();
            if self.current() != Some('}') {
                self.expect(',', false)?;
                self.consume_whitespace();
            }
            keyvals.insert(key, v);
        }
        self.expect('}', false)?;
        Ok(Value::Dict(keyvals))
    }

    fn first_value(&mut self) -> Result<Value, ShorthandError> {
        match self.current() {
            Some('\'') => self.quoted('\'', "singled quoted"),
            Some('"') => self.quoted('"', "double quoted"),
            _ => self.unquoted_value(),
        }
    }

    fn second_value(&mut self) -> Result<Value, ShorthandError> {
        match self.current() {
            Some('\'') => self.quoted('\'', "singled quoted"),
            Some('"') => self.quoted('"', "double quoted"),
            _ => match self.consume_unquoted(is_second_follow) {
                Some(raw) => {
                    let processed = raw.replace("\\,", ",");
                    let processed = processed.trim_end_matches(is_py_space).to_string();
                    self.resolve(processed)
                }
                None => Err(self.syntax("<second>", "<none>")),
            },
        }
    }

    /// Matches `q(?:\\q|[^q])*q` with Python's backtracking: the greedy run stops at an
    /// unescaped quote; at end of input it falls back to the last `\q`, whose quote closes.
    fn quoted(&mut self, q: char, name: &str) -> Result<Value, ShorthandError> {
        let s = &self.s;
        let start = self.i;
        let mut j = start + 1;
        let mut last_escaped_quote = None;
        let end = loop {
            match s.get(j) {
                Some('\\') if s.get(j + 1) == Some(&q) => {
                    last_escaped_quote = Some(j + 1);
                    j += 2;
                }
                Some(c) if *c != q => j += 1,
                Some(_) => break Some(j),
                None => break last_escaped_quote,
            }
        };
        let Some(end) = end else {
            return Err(self.syntax(format!("<{name}>"), "<none>"));
        };
        self.i = end + 1;
        let inner: String = s[start + 1..end].iter().collect();
        let value = inner
            .replace(&format!("\\{q}"), &q.to_string())
            .replace("\\\\", "\\");
        self.resolve(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pyjson::dumps;
    use proptest::prelude::*;

    fn ok(input: &str) -> String {
        dumps(&Value::Dict(parse(input, &no_files).unwrap()))
    }

    fn err(input: &str) -> String {
        parse(input, &no_files).unwrap_err().to_string()
    }

    #[test]
    fn values_as_spec_5_2_lists_them() {
        assert_eq!(ok("a=b"), r#"{"a": "b"}"#);
        assert_eq!(ok("a=b "), r#"{"a": "b"}"#);
        assert_eq!(ok("a=x y"), r#"{"a": "x y"}"#);
        assert_eq!(ok("a= b"), r#"{"a": "b"}"#);
        assert_eq!(ok("a=b=c"), r#"{"a": "b=c"}"#);
        assert_eq!(ok(r"a=x\y"), r#"{"a": "x\\y"}"#);
        assert_eq!(ok("a=]"), r#"{"a": "]"}"#);
        assert_eq!(ok(r#"a="x,y""#), r#"{"a": "x,y"}"#);
        assert_eq!(ok(r#"a=" b ""#), r#"{"a": " b "}"#);
        assert_eq!(ok(r#"a="""#), r#"{"a": ""}"#);
        assert_eq!(ok("a=x,y"), r#"{"a": ["x", "y"]}"#);
        assert_eq!(ok("a=x,y,c=d"), r#"{"a": ["x", "y"], "c": "d"}"#);
        assert_eq!(ok(r"a=x\,y"), r#"{"a": "x,y"}"#);
        assert_eq!(ok("a=[1,2]"), r#"{"a": ["1", "2"]}"#);
        assert_eq!(ok("a={b=c}"), r#"{"a": {"b": "c"}}"#);
        assert_eq!(ok("a="), r#"{"a": ""}"#);
        assert_eq!(ok("a=,c=d"), r#"{"a": "", "c": "d"}"#);
        assert_eq!(ok("=b"), r#"{"": "b"}"#);
        assert_eq!(ok("a=b,,c=d"), r#"{"a": "b", "c": "d"}"#);
        assert_eq!(ok("a=1,b=true"), r#"{"a": "1", "b": "true"}"#);
        assert_eq!(ok("a.b/c=1,a#b/c=2"), r#"{"a.b/c": "1", "a#b/c": "2"}"#);
        assert_eq!(ok("a@=plain"), r#"{"a": "plain"}"#);
        assert_eq!(ok("a=x\ty"), r#"{"a": "x\ty"}"#);
        assert_eq!(ok(r"a='it\'s'"), r#"{"a": "it's"}"#);
    }

    #[test]
    fn errors_as_spec_5_2_lists_them() {
        assert_eq!(err(""), "Expected: '=', received: 'EOF' for input:\n\n^");
        assert_eq!(
            err(" a=b"),
            "Expected: '=', received: 'a' for input:\n a=b\n ^"
        );
        assert_eq!(
            err("a=😀"),
            "Expected: ',', received: '😀' for input:\na=😀\n  ^"
        );
        assert_eq!(
            err(r#"a=x"y"#),
            "Expected: ',', received: '\"' for input:\na=x\"y\n   ^"
        );
        assert_eq!(
            err("a=x}y"),
            "Expected: ',', received: '}' for input:\na=x}y\n   ^"
        );
        assert_eq!(
            err(r#"a="abc"#),
            "Expected: '<double quoted>', received: '<none>' for input:\na=\"abc\n  ^"
        );
        assert_eq!(
            err("a=1,a=2"),
            "Second instance of key \"a\" encountered for input:\na=1,a=2\n    ^\nThis is often because there is a preceding \",\" instead of a space."
        );
        assert_eq!(
            err("a=b,"),
            "Expected: '<second>', received: '<none>' for input:\na=b,\n    ^"
        );
        // A newline in the input: the caret counts from the last newline, the rest follows.
        assert_eq!(
            err("a=x,\n'\nzz"),
            "Expected: '=', received: ''' for input:\na=x,\n'\n^\nzz"
        );
    }

    #[test]
    fn at_equals_loads_files_through_the_resolver() {
        let resolve = |v: &str| -> Result<Option<Value>, String> {
            Ok(v.strip_prefix("file://")
                .map(|p| Value::str(format!("<{p}>\n"))))
        };
        let d = parse("a@=file://v.txt,b=file://v.txt", &resolve).unwrap();
        assert_eq!(
            dumps(&Value::Dict(d)),
            r#"{"a": "<v.txt>\n", "b": "file://v.txt"}"#
        );
    }

    proptest! {
        /// Any `key=value` list of plain keys and safe values round-trips.
        #[test]
        fn plain_pairs_round_trip(pairs in proptest::collection::btree_map(
            "[A-Za-z0-9_:-]{1,8}", "[A-Za-z0-9][A-Za-z0-9 ./-]{0,8}[A-Za-z0-9]", 1..6)) {
            let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let parsed = parse(&text.join(","), &no_files).unwrap();
            let got: Vec<(String, Value)> = parsed.entries;
            let want: Vec<(String, Value)> =
                pairs.iter().map(|(k, v)| (k.clone(), Value::str(v.clone()))).collect();
            prop_assert_eq!(got, want);
        }

        /// Double-quoted values keep any text that has no quote or backslash.
        #[test]
        fn quoted_values_are_literal(v in "[^\"\\\\]{0,20}") {
            let parsed = parse(&format!("k=\"{v}\""), &no_files).unwrap();
            prop_assert_eq!(parsed.get("k"), Some(&Value::str(v)));
        }

        /// Escaped commas never split a value.
        #[test]
        fn escaped_commas_stay_in_the_value(parts in proptest::collection::vec("[a-z]{1,5}", 1..5)) {
            let parsed = parse(&format!("k={}", parts.join("\\,")), &no_files).unwrap();
            prop_assert_eq!(parsed.get("k"), Some(&Value::str(parts.join(","))));
        }

        /// The parser never panics, and every error points inside (or just past) the input.
        #[test]
        fn never_panics(input in "\\PC{0,40}") {
            match parse(&input, &no_files) {
                Ok(_) => {}
                Err(ShorthandError::Syntax { index, input: s, .. })
                | Err(ShorthandError::DuplicateKey { index, input: s, .. }) => {
                    prop_assert!(index <= s.len());
                }
                Err(ShorthandError::Resource(_)) => prop_assert!(false),
            }
        }
    }
}
