//! Values as the AWS CLI v1 holds them (Python objects), with Python's JSON text forms.
//!
//! The AWS CLI parses `--cli-input-json` and JSON parameter values with Python's `json`
//! module, prints parse errors with its messages (`Expecting value: line 1 column 6 (char
//! 5)`), sends bodies formatted by `json.dumps` (`", "` and `": "` separators, non-ASCII as
//! `\uXXXX`), prints `--output json` with `indent=4, ensure_ascii=False`, and quotes values in
//! validation messages with `str()`/`repr()`. Scripts compare those bytes, so this module
//! reproduces them: a small value type whose integers are unbounded (kept as decimal text, as
//! Python ints are), a parser that mirrors CPython's `_json` scanner (positions counted in
//! code points), and the three printers.
//!
//! It must not know anything about the AWS models or the CLI: it is only Python's data model.

use std::fmt::Write as _;

/// A Python value as produced by `json.loads` or by the CLI's argument parsing.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// A Python `int`, as canonical decimal text (`-12`, `99999999999999999999`).
    Int(String),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Dict(Dict),
}

/// A Python `dict` (insertion-ordered). `ordered` marks an `OrderedDict`, which is what the
/// AWS CLI builds for JSON parameter values (`object_pairs_hook=OrderedDict`); it only changes
/// how `str()` prints the value in validation messages.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dict {
    pub entries: Vec<(String, Value)>,
    pub ordered: bool,
}

impl Dict {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// `d[key] = value`: an existing key keeps its position (Python dict semantics).
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.entries.push((key, value)),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn int(i: i64) -> Value {
        Value::Int(i.to_string())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// Python truthiness (`if value:`).
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => i != "0",
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Dict(d) => !d.is_empty(),
        }
    }

    /// `str(type(value))`, as botocore's validation messages print it.
    pub fn py_type(&self) -> &'static str {
        match self {
            Value::Null => "<class 'NoneType'>",
            Value::Bool(_) => "<class 'bool'>",
            Value::Int(_) => "<class 'int'>",
            Value::Float(_) => "<class 'float'>",
            Value::Str(_) => "<class 'str'>",
            Value::List(_) => "<class 'list'>",
            Value::Dict(d) if d.ordered => "<class 'collections.OrderedDict'>",
            Value::Dict(_) => "<class 'dict'>",
        }
    }

    /// Python `str(value)`.
    pub fn py_str(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            other => other.py_repr(),
        }
    }

    /// Python `repr(value)`.
    pub fn py_repr(&self) -> String {
        match self {
            Value::Null => "None".into(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Int(i) => i.clone(),
            Value::Float(f) => float_repr(*f),
            Value::Str(s) => str_repr(s),
            Value::List(items) => {
                let inner: Vec<String> = items.iter().map(Value::py_repr).collect();
                format!("[{}]", inner.join(", "))
            }
            Value::Dict(d) if d.ordered => {
                if d.is_empty() {
                    return "OrderedDict()".into();
                }
                let inner: Vec<String> = d
                    .iter()
                    .map(|(k, v)| format!("({}, {})", str_repr(k), v.py_repr()))
                    .collect();
                format!("OrderedDict([{}])", inner.join(", "))
            }
            Value::Dict(d) => {
                let inner: Vec<String> = d
                    .iter()
                    .map(|(k, v)| format!("{}: {}", str_repr(k), v.py_repr()))
                    .collect();
                format!("{{{}}}", inner.join(", "))
            }
        }
    }
}

/// Python `repr(str)`: single quotes unless the text has `'` and no `"`.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python `repr(float)` (the shortest text that round-trips, Python's layout rules).
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let sign = if x < 0.0 { "-" } else { "" };
    // Rust's `{:e}` prints the shortest round-trip digits, like Python's repr.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = usize::try_from(exp).unwrap_or(0) + 1;
            let (int_part, frac) = if digits.len() > int_len {
                (digits[..int_len].to_string(), digits[int_len..].to_string())
            } else {
                (
                    format!("{digits}{}", "0".repeat(int_len - digits.len())),
                    "0".to_string(),
                )
            };
            format!("{sign}{int_part}.{frac}")
        } else {
            let zeros = "0".repeat(usize::try_from(-exp - 1).unwrap_or(0));
            format!("{sign}0.{zeros}{digits}")
        }
    } else {
        let rest = &digits[1..];
        let m = if rest.is_empty() {
            digits[..1].to_string()
        } else {
            format!("{}.{}", &digits[..1], rest)
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

/// A `json.JSONDecodeError`: its `str()` is `"<msg>: line L column C (char P)"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub msg: &'static str,
    /// Position in code points.
    pub pos: usize,
    lineno: usize,
    colno: usize,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: line {} column {} (char {})",
            self.msg, self.lineno, self.colno, self.pos
        )
    }
}

/// `json.loads(text)`; `ordered` selects `object_pairs_hook=OrderedDict`.
pub fn loads(text: &str, ordered: bool) -> Result<Value, JsonError> {
    let chars: Vec<char> = text.chars().collect();
    let p = Parser { s: &chars, ordered };
    let start = p.skip_ws(0);
    let (value, end) = match p.scan_once(start) {
        Ok(v) => v,
        Err(Scan::Stop(at)) => return Err(p.error("Expecting value", at)),
        Err(Scan::Fail(e)) => return Err(e),
    };
    let end = p.skip_ws(end);
    if end != chars.len() {
        return Err(p.error("Extra data", end));
    }
    Ok(value)
}

enum Scan {
    /// CPython's `StopIteration(idx)`: no value starts here.
    Stop(usize),
    Fail(JsonError),
}

struct Parser<'a> {
    s: &'a [char],
    ordered: bool,
}

impl Parser<'_> {
    fn error(&self, msg: &'static str, pos: usize) -> JsonError {
        let before = &self.s[..pos.min(self.s.len())];
        let lineno = before.iter().filter(|c| **c == '\n').count() + 1;
        let colno = match before.iter().rposition(|c| *c == '\n') {
            Some(nl) => pos - nl,
            None => pos + 1,
        };
        JsonError {
            msg,
            pos,
            lineno,
            colno,
        }
    }

    fn fail<T>(&self, msg: &'static str, pos: usize) -> Result<T, Scan> {
        Err(Scan::Fail(self.error(msg, pos)))
    }

    fn skip_ws(&self, mut i: usize) -> usize {
        while i < self.s.len() && matches!(self.s[i], ' ' | '\t' | '\n' | '\r') {
            i += 1;
        }
        i
    }

    fn starts_with(&self, i: usize, lit: &str) -> bool {
        (i..)
            .zip(lit.chars())
            .all(|(j, c)| self.s.get(j) == Some(&c))
    }

    fn scan_once(&self, i: usize) -> Result<(Value, usize), Scan> {
        let Some(&c) = self.s.get(i) else {
            return Err(Scan::Stop(i));
        };
        match c {
            '"' => {
                let (s, end) = self.scanstring(i + 1)?;
                Ok((Value::Str(s), end))
            }
            '{' => self.object(i + 1),
            '[' => self.array(i + 1),
            'n' if self.starts_with(i, "null") => Ok((Value::Null, i + 4)),
            't' if self.starts_with(i, "true") => Ok((Value::Bool(true), i + 4)),
            'f' if self.starts_with(i, "false") => Ok((Value::Bool(false), i + 5)),
            'N' if self.starts_with(i, "NaN") => Ok((Value::Float(f64::NAN), i + 3)),
            'I' if self.starts_with(i, "Infinity") => Ok((Value::Float(f64::INFINITY), i + 8)),
            '-' if self.starts_with(i, "-Infinity") => Ok((Value::Float(f64::NEG_INFINITY), i + 9)),
            '-' | '0'..='9' => self.number(i),
            _ => Err(Scan::Stop(i)),
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`
    fn number(&self, start: usize) -> Result<(Value, usize), Scan> {
        let s = self.s;
        let digit = |i: usize| s.get(i).is_some_and(char::is_ascii_digit);
        let mut i = start;
        if s[i] == '-' {
            i += 1;
        }
        if !digit(i) {
            return Err(Scan::Stop(start));
        }
        if s[i] == '0' {
            i += 1;
        } else {
            while digit(i) {
                i += 1;
            }
        }
        let int_end = i;
        let mut is_float = false;
        if s.get(i) == Some(&'.') && digit(i + 1) {
            i += 1;
            while digit(i) {
                i += 1;
            }
            is_float = true;
        }
        if matches!(s.get(i), Some('e' | 'E')) {
            let mut j = i + 1;
            if matches!(s.get(j), Some('-' | '+')) {
                j += 1;
            }
            if digit(j) {
                while digit(j) {
                    j += 1;
                }
                i = j;
                is_float = true;
            }
        }
        let text: String = s[start..i].iter().collect();
        if is_float {
            Ok((Value::Float(text.parse().unwrap_or(f64::NAN)), i))
        } else {
            let _ = int_end;
            Ok((Value::Int(canonical_int(&text)), i))
        }
    }

    fn object(&self, mut i: usize) -> Result<(Value, usize), Scan> {
        let mut dict = Dict {
            entries: Vec::new(),
            ordered: self.ordered,
        };
        let n = self.s.len();
        i = self.skip_ws(i);
        if i >= n || self.s[i] != '}' {
            loop {
                if i >= n || self.s[i] != '"' {
                    return self.fail("Expecting property name enclosed in double quotes", i);
                }
                let (key, next) = self.scanstring(i + 1)?;
                i = self.skip_ws(next);
                if i >= n || self.s[i] != ':' {
                    return self.fail("Expecting ':' delimiter", i);
                }
                i = self.skip_ws(i + 1);
                let (value, next) = self.scan_once(i)?;
                // Duplicate keys: the last value wins, at the first key's position.
                dict.insert(key, value);
                i = self.skip_ws(next);
                if i < n && self.s[i] == '}' {
                    break;
                }
                if i >= n || self.s[i] != ',' {
                    return self.fail("Expecting ',' delimiter", i);
                }
                i = self.skip_ws(i + 1);
            }
        }
        Ok((Value::Dict(dict), i + 1))
    }

    fn array(&self, mut i: usize) -> Result<(Value, usize), Scan> {
        let mut items = Vec::new();
        let n = self.s.len();
        i = self.skip_ws(i);
        if i >= n || self.s[i] != ']' {
            loop {
                let (value, next) = self.scan_once(i)?;
                items.push(value);
                i = self.skip_ws(next);
                if i < n && self.s[i] == ']' {
                    break;
                }
                if i >= n || self.s[i] != ',' {
                    return self.fail("Expecting ',' delimiter", i);
                }
                i = self.skip_ws(i + 1);
            }
        }
        Ok((Value::List(items), i + 1))
    }

    /// CPython's `scanstring_unicode` (strict): `end` is just after the opening quote.
    fn scanstring(&self, mut end: usize) -> Result<(String, usize), Scan> {
        let s = self.s;
        let len = s.len();
        let begin = end - 1;
        let mut out = String::new();
        loop {
            let mut next = end;
            let mut c = '\0';
            while next < len {
                c = s[next];
                if c == '"' || c == '\\' {
                    break;
                }
                if (c as u32) <= 0x1f {
                    return self.fail("Invalid control character at", next);
                }
                next += 1;
            }
            if next == len {
                return self.fail("Unterminated string starting at", begin);
            }
            out.extend(&s[end..next]);
            if c == '"' {
                return Ok((out, next + 1));
            }
            next += 1;
            if next == len {
                return self.fail("Unterminated string starting at", begin);
            }
            let esc = s[next];
            if esc != 'u' {
                end = next + 1;
                let ch = match esc {
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    _ => return self.fail("Invalid \\escape", end - 2),
                };
                out.push(ch);
            } else {
                next += 1;
                end = next + 4;
                if end >= len {
                    return self.fail("Invalid \\uXXXX escape", next - 1);
                }
                let Some(mut code) = self.hex4(next) else {
                    return self.fail("Invalid \\uXXXX escape", end - 5);
                };
                if (0xd800..0xdc00).contains(&code)
                    && end + 6 < len
                    && s[end] == '\\'
                    && s[end + 1] == 'u'
                {
                    let Some(low) = self.hex4(end + 2) else {
                        return self.fail("Invalid \\uXXXX escape", end + 1);
                    };
                    if (0xdc00..0xe000).contains(&low) {
                        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                        end += 6;
                    }
                }
                // Python keeps lone surrogates; a Rust string cannot hold them.
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0u32;
        for k in 0..4 {
            v = v * 16 + self.s.get(at + k)?.to_digit(16)?;
        }
        Some(v)
    }
}

/// Python `int(text)` of a JSON integer literal: strip a `-0` and leading zeros.
fn canonical_int(text: &str) -> String {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        "0".into()
    } else if neg {
        format!("-{digits}")
    } else {
        digits.into()
    }
}

/// Python `int(text)` for a command-line value: surrounding whitespace, a sign,
/// underscores between digits and any Unicode decimal digit are accepted.
pub fn parse_py_int(text: &str) -> Option<String> {
    let t = text.trim_matches(|c: char| c.is_whitespace());
    let (neg, body) = match t.chars().next()? {
        '-' => (true, &t[1..]),
        '+' => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let mut digits = String::new();
    for c in body.chars() {
        if c == '_' {
            continue;
        }
        digits.push(char::from_digit(unicode_decimal(c)?, 10)?);
    }
    Some(canonical_int(&if neg {
        format!("-{digits}")
    } else {
        digits
    }))
}

/// The value of a Unicode decimal digit (category Nd), for the common digit blocks.
fn unicode_decimal(c: char) -> Option<u32> {
    if let Some(d) = c.to_digit(10) {
        return Some(d);
    }
    // Nd blocks are runs of ten starting at a code point ending in 0 (or 6 for some);
    // these are the zero digits of the scripts Python's int() accepts most often.
    const ZEROS: &[u32] = &[
        0x0660, 0x06f0, 0x07c0, 0x0966, 0x09e6, 0x0a66, 0x0ae6, 0x0b66, 0x0be6, 0x0c66, 0x0ce6,
        0x0d66, 0x0de6, 0x0e50, 0x0ed0, 0x0f20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0,
        0x1a80, 0x1a90, 0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0,
        0xaa50, 0xabf0, 0xff10,
    ];
    let cp = c as u32;
    ZEROS
        .iter()
        .find(|z| (**z..**z + 10).contains(&cp))
        .map(|z| cp - z)
}

/// Python `float(text)` for a command-line value.
pub fn parse_py_float(text: &str) -> Option<f64> {
    let t = text.trim().replace('_', "");
    match t.to_ascii_lowercase().as_str() {
        "nan" | "+nan" | "-nan" => return Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    if t.is_empty()
        || !t
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    t.parse().ok()
}

/// `json.dumps(value)`: the request body form (`", "`, `": "`, ASCII only).
pub fn dumps(value: &Value) -> String {
    let mut out = String::new();
    write_compact(value, &mut out);
    out
}

fn write_compact(value: &Value, out: &mut String) {
    match value {
        Value::List(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_compact(v, out);
            }
            out.push(']');
        }
        Value::Dict(d) => {
            out.push('{');
            for (i, (k, v)) in d.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_str(k, true, out);
                out.push_str(": ");
                write_compact(v, out);
            }
            out.push('}');
        }
        scalar => write_scalar(scalar, true, out),
    }
}

/// `json.dumps(value, indent=4, ensure_ascii=...)`: `--output json` and the skeletons.
pub fn dumps_pretty(value: &Value, ensure_ascii: bool) -> String {
    let mut out = String::new();
    write_pretty(value, 0, ensure_ascii, &mut out);
    out
}

fn write_pretty(value: &Value, level: usize, ascii: bool, out: &mut String) {
    let pad = |out: &mut String, level: usize| {
        out.push('\n');
        for _ in 0..level {
            out.push_str("    ");
        }
    };
    match value {
        Value::List(items) if !items.is_empty() => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, level + 1);
                write_pretty(v, level + 1, ascii, out);
            }
            pad(out, level);
            out.push(']');
        }
        Value::Dict(d) if !d.is_empty() => {
            out.push('{');
            for (i, (k, v)) in d.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, level + 1);
                write_json_str(k, ascii, out);
                out.push_str(": ");
                write_pretty(v, level + 1, ascii, out);
            }
            pad(out, level);
            out.push('}');
        }
        Value::List(_) => out.push_str("[]"),
        Value::Dict(_) => out.push_str("{}"),
        scalar => write_scalar(scalar, ascii, out),
    }
}

fn write_scalar(value: &Value, ascii: bool, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => out.push_str(i),
        Value::Float(f) if f.is_nan() => out.push_str("NaN"),
        Value::Float(f) if f.is_infinite() => {
            out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Value::Float(f) => out.push_str(&float_repr(*f)),
        Value::Str(s) => write_json_str(s, ascii, out),
        Value::List(_) | Value::Dict(_) => {}
    }
}

fn write_json_str(s: &str, ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        loads(text, false).unwrap_err().to_string()
    }

    #[test]
    fn python_json_error_texts() {
        assert_eq!(err(r#"{"a":"#), "Expecting value: line 1 column 6 (char 5)");
        assert_eq!(
            err(r#"{"jobId": "#),
            "Expecting value: line 1 column 11 (char 10)"
        );
        assert_eq!(
            err("{a}"),
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
        );
        assert_eq!(
            err(r#"{"a" 1}"#),
            "Expecting ':' delimiter: line 1 column 6 (char 5)"
        );
        assert_eq!(
            err(r#"{"a": 1 "b"}"#),
            "Expecting ',' delimiter: line 1 column 9 (char 8)"
        );
        assert_eq!(err("[1,]"), "Expecting value: line 1 column 4 (char 3)");
        assert_eq!(err("{}x"), "Extra data: line 1 column 3 (char 2)");
        assert_eq!(
            err("\"abc"),
            "Unterminated string starting at: line 1 column 1 (char 0)"
        );
        assert_eq!(
            err("{\n\"a\":\n}"),
            "Expecting value: line 3 column 1 (char 7)"
        );
        assert_eq!(err(""), "Expecting value: line 1 column 1 (char 0)");
        assert_eq!(err(r#""\x""#), "Invalid \\escape: line 1 column 2 (char 1)");
    }

    #[test]
    fn duplicate_keys_keep_first_position_last_value() {
        let v = loads(r#"{"a": 1, "b": 2, "a": 3}"#, false).unwrap();
        assert_eq!(dumps(&v), r#"{"a": 3, "b": 2}"#);
    }

    #[test]
    fn dumps_matches_python() {
        let v = loads(
            r#"{"a":"h\u00e9llo ✓","n":[1,2.50,1e400,-0],"b":true}"#,
            false,
        )
        .unwrap();
        assert_eq!(
            dumps(&v),
            r#"{"a": "h\u00e9llo \u2713", "n": [1, 2.5, Infinity, 0], "b": true}"#
        );
        assert_eq!(
            dumps_pretty(&v, false),
            "{\n    \"a\": \"h\u{e9}llo \u{2713}\",\n    \"n\": [\n        1,\n        2.5,\n        Infinity,\n        0\n    ],\n    \"b\": true\n}"
        );
        assert_eq!(dumps(&Value::str("😀")), r#""\ud83d\ude00""#);
    }

    #[test]
    fn python_float_repr() {
        for (f, s) in [
            (1.0, "1.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123.456, "123.456"),
            (-2.5, "-2.5"),
            (1700000000.123, "1700000000.123"),
        ] {
            assert_eq!(float_repr(f), s);
        }
    }

    #[test]
    fn python_int_parsing() {
        assert_eq!(parse_py_int(" 7 ").as_deref(), Some("7"));
        assert_eq!(parse_py_int("+5").as_deref(), Some("5"));
        assert_eq!(parse_py_int("1_000").as_deref(), Some("1000"));
        assert_eq!(parse_py_int("007").as_deref(), Some("7"));
        assert_eq!(parse_py_int("٣").as_deref(), Some("3"));
        assert_eq!(
            parse_py_int("-9223372036854775809").as_deref(),
            Some("-9223372036854775809")
        );
        for bad in ["", "3.5", "1e3", "0x10", "abc", "_1", "1__0"] {
            assert_eq!(parse_py_int(bad), None, "{bad}");
        }
    }

    #[test]
    fn python_str_and_repr() {
        let l = Value::List(vec![Value::str("x"), Value::str("y")]);
        assert_eq!(l.py_str(), "['x', 'y']");
        let mut d = Dict::new();
        d.insert("b", Value::str("c"));
        assert_eq!(Value::Dict(d.clone()).py_str(), "{'b': 'c'}");
        d.ordered = true;
        assert_eq!(Value::Dict(d).py_str(), "OrderedDict([('b', 'c')])");
        assert_eq!(str_repr("it's"), "\"it's\"");
    }
}
