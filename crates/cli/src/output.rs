//! `--output json|text|table` exactly as AWS CLI v1 prints (`awscli/formatter.py`,
//! `text.py`, `table.py`), and `--query` (JMESPath) applied before printing.
//!
//! json: `json.dumps(indent=4, ensure_ascii=False)` and nothing at all for `{}`; text: tab
//! separated scalars with sorted keys and upper-cased list identifiers; table: the boxed
//! layout with sections per nested key, 80 columns when stdout is not a terminal, and a
//! vertical layout when too wide. This module formats values; it never reads the model.

use std::fmt::Write as _;

use crate::pyjson::{self, Dict, Value};

/// `--query` compiled once.
#[derive(Debug)]
pub struct Query {
    expr: jmespath::Expression<'static>,
}

impl Query {
    /// Compiles; the error text follows `Bad value for --query <expr>: `.
    pub fn compile(text: &str) -> Result<Query, String> {
        jmespath::compile(text)
            .map(|expr| Query { expr })
            .map_err(|e| format!("Bad value for --query {text}: Invalid jmespath expression: {e}"))
    }

    pub fn search(&self, v: &Value) -> Result<Value, String> {
        let var = to_jmespath(v);
        let mut result = self
            .expr
            .search(var)
            .map(|r| from_jmespath(&r))
            .map_err(|e| e.to_string())?;
        // The jmespath crate keeps objects in a BTreeMap (sorted keys); Python keeps the
        // input's order. An object of the result that has exactly the keys of an object of
        // the input (a projection like `execution` or `jobs[0]`) gets that object's order back.
        let mut orders = std::collections::HashMap::new();
        collect_key_orders(v, &mut orders);
        restore_key_order(&mut result, &orders);
        Ok(result)
    }
}

fn collect_key_orders(v: &Value, orders: &mut std::collections::HashMap<Vec<String>, Vec<String>>) {
    match v {
        Value::Dict(d) => {
            let order: Vec<String> = d.iter().map(|(k, _)| k.clone()).collect();
            let mut key = order.clone();
            key.sort();
            orders.entry(key).or_insert(order);
            for (_, x) in d.iter() {
                collect_key_orders(x, orders);
            }
        }
        Value::List(items) => items.iter().for_each(|x| collect_key_orders(x, orders)),
        _ => {}
    }
}

fn restore_key_order(v: &mut Value, orders: &std::collections::HashMap<Vec<String>, Vec<String>>) {
    match v {
        Value::Dict(d) => {
            for (_, x) in d.entries.iter_mut() {
                restore_key_order(x, orders);
            }
            let mut key: Vec<String> = d.iter().map(|(k, _)| k.clone()).collect();
            key.sort();
            if let Some(order) = orders.get(&key) {
                let mut entries = std::mem::take(&mut d.entries);
                for k in order {
                    if let Some(i) = entries.iter().position(|(ek, _)| ek == k) {
                        d.entries.push(entries.swap_remove(i));
                    }
                }
                d.entries.append(&mut entries);
            }
        }
        Value::List(items) => items.iter_mut().for_each(|x| restore_key_order(x, orders)),
        _ => {}
    }
}

fn to_jmespath(v: &Value) -> jmespath::Variable {
    use jmespath::Variable as V;
    match v {
        Value::Null => V::Null,
        Value::Bool(b) => V::Bool(*b),
        Value::Int(i) => V::Number(
            i.parse::<i64>()
                .map(Into::into)
                .unwrap_or_else(|_| serde_json_number(i.parse::<f64>().unwrap_or(0.0))),
        ),
        Value::Float(f) => V::Number(serde_json_number(*f)),
        Value::Str(s) => V::String(s.clone()),
        Value::List(items) => V::Array(
            items
                .iter()
                .map(|i| jmespath::Rcvar::new(to_jmespath(i)))
                .collect(),
        ),
        Value::Dict(d) => V::Object(
            d.iter()
                .map(|(k, v)| (k.clone(), jmespath::Rcvar::new(to_jmespath(v))))
                .collect(),
        ),
    }
}

fn serde_json_number(f: f64) -> serde_json::Number {
    serde_json::Number::from_f64(f).unwrap_or_else(|| 0.into())
}

fn from_jmespath(v: &jmespath::Variable) -> Value {
    use jmespath::Variable as V;
    match v {
        V::Null | V::Expref(_) => Value::Null,
        V::Bool(b) => Value::Bool(*b),
        V::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i.to_string()),
            (_, Some(u)) => Value::Int(u.to_string()),
            _ => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        V::String(s) => Value::Str(s.clone()),
        V::Array(items) => Value::List(items.iter().map(|i| from_jmespath(i)).collect()),
        V::Object(m) => {
            let mut d = Dict::new();
            for (k, v) in m {
                d.insert(k.clone(), from_jmespath(v));
            }
            Value::Dict(d)
        }
    }
}

/// Python's `!=  {}` test of the JSON formatter.
fn is_empty_dict(v: &Value) -> bool {
    matches!(v, Value::Dict(d) if d.is_empty())
}

/// `--output json`.
pub fn format_json(v: &Value) -> String {
    if is_empty_dict(v) {
        return String::new();
    }
    let mut s = pyjson::dumps_pretty(v, false);
    s.push('\n');
    s
}

/// `--output text` (`awscli/text.py`).
pub fn format_text(v: &Value) -> String {
    let mut out = String::new();
    text_item(v, &mut out, None, None);
    out
}

fn text_item(
    v: &Value,
    out: &mut String,
    identifier: Option<&str>,
    scalar_keys: Option<&[String]>,
) {
    match v {
        Value::Dict(d) => text_dict(d, out, identifier, scalar_keys),
        Value::List(items) => text_list(items, out, identifier),
        other => {
            out.push_str(&other.py_str());
            out.push('\n');
        }
    }
}

fn is_container(v: &Value) -> bool {
    matches!(v, Value::Dict(_) | Value::List(_))
}

fn text_list(items: &[Value], out: &mut String, identifier: Option<&str>) {
    if items.is_empty() {
        return;
    }
    if items.iter().any(|e| matches!(e, Value::Dict(_))) {
        let mut keys: Vec<String> = Vec::new();
        for e in items {
            if let Value::Dict(d) = e {
                for (k, v) in d.iter() {
                    if !is_container(v) && !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
            }
        }
        keys.sort();
        for e in items {
            text_item(e, out, identifier, Some(&keys));
        }
    } else if items.iter().any(|e| matches!(e, Value::List(_))) {
        let (scalars, non): (Vec<&Value>, Vec<&Value>) =
            items.iter().partition(|e| !is_container(e));
        if !scalars.is_empty() {
            text_scalar_list(&scalars, out, identifier);
        }
        for n in non {
            text_item(n, out, identifier, None);
        }
    } else {
        let all: Vec<&Value> = items.iter().collect();
        text_scalar_list(&all, out, identifier);
    }
}

fn text_scalar_list(items: &[&Value], out: &mut String, identifier: Option<&str>) {
    match identifier {
        Some(id) => {
            for i in items {
                let _ = writeln!(out, "{}\t{}", id.to_uppercase(), i.py_str());
            }
        }
        None => {
            let parts: Vec<String> = items.iter().map(|i| i.py_str()).collect();
            out.push_str(&parts.join("\t"));
            out.push('\n');
        }
    }
}

fn text_dict(d: &Dict, out: &mut String, identifier: Option<&str>, scalar_keys: Option<&[String]>) {
    let mut scalars: Vec<String> = Vec::new();
    let mut non: Vec<(String, &Value)> = Vec::new();
    match scalar_keys {
        None => {
            let mut entries: Vec<(&String, &Value)> = d.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in entries {
                if is_container(v) {
                    non.push((k.clone(), v));
                } else {
                    scalars.push(v.py_str());
                }
            }
        }
        Some(keys) => {
            for k in keys {
                scalars.push(d.get(k).map(Value::py_str).unwrap_or_default());
            }
            let mut rest: Vec<&String> = d
                .iter()
                .map(|(k, _)| k)
                .filter(|k| !keys.contains(k))
                .collect();
            rest.sort();
            for k in rest {
                non.push((k.clone(), d.get(k).expect("key")));
            }
        }
    }
    if !scalars.is_empty() {
        if let Some(id) = identifier {
            scalars.insert(0, id.to_uppercase());
        }
        out.push_str(&scalars.join("\t"));
        out.push('\n');
    }
    for (k, v) in non {
        text_item(v, out, Some(&k), None);
    }
}

// ---- table (awscli/table.py) ----

/// Python `unicodedata.east_asian_width(c) in 'WFA'` counts 2.
fn text_len(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if c.is_ascii() {
                1
            } else {
                unicode_width::UnicodeWidthChar::width_cjk(c)
                    .unwrap_or(1)
                    .max(1)
            }
        })
        .sum()
}

#[derive(Default)]
struct Section {
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    indent: usize,
    max_widths: Vec<usize>,
}

impl Section {
    fn update_widths(&mut self, row: &[String]) {
        if self.max_widths.is_empty() {
            self.max_widths = row.iter().map(|e| text_len(e)).collect();
        } else {
            for (i, e) in row.iter().enumerate() {
                if i < self.max_widths.len() {
                    self.max_widths[i] = self.max_widths[i].max(text_len(e));
                }
            }
        }
    }

    fn add_header(&mut self, headers: Vec<String>) {
        self.update_widths(&headers);
        self.headers = headers;
    }

    fn add_row(&mut self, row: Vec<String>) {
        self.update_widths(&row);
        self.rows.push(row);
    }

    fn column_widths(&self, padding: usize, max_width: Option<usize>) -> Vec<usize> {
        let unscaled: Vec<usize> = self.max_widths.iter().map(|w| w + padding).collect();
        let Some(max_width) = max_width else {
            return unscaled;
        };
        if unscaled.is_empty() {
            return unscaled;
        }
        let total: usize = unscaled.iter().sum();
        let scale = max_width as f64 / total as f64;
        let mut scaled: Vec<i64> = unscaled
            .iter()
            .map(|w| round_half_even(scale * *w as f64))
            .collect();
        let mut off_by: i64 = scaled.iter().sum::<i64>() - max_width as i64;
        while off_by != 0 {
            let order: Vec<usize> = if off_by < 0 {
                (0..scaled.len()).rev().collect()
            } else {
                (0..scaled.len()).collect()
            };
            for i in order {
                if off_by > 0 {
                    scaled[i] -= 1;
                    off_by -= 1;
                } else {
                    scaled[i] += 1;
                    off_by += 1;
                }
                if off_by == 0 {
                    break;
                }
            }
        }
        scaled.into_iter().map(|w| w.max(0) as usize).collect()
    }

    fn total_width(&self, padding: usize, outer: usize) -> usize {
        let total: usize = self
            .column_widths(0, None)
            .iter()
            .map(|w| w + padding)
            .sum::<usize>()
            + 2
            + 2 * outer;
        total.max(text_len(&self.title) + 2 + 2 * outer)
    }
}

/// Python's `round()` (half to even).
fn round_half_even(x: f64) -> i64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        let t = x.trunc();
        if (t as i64) % 2 == 0 {
            t as i64
        } else {
            r as i64
        }
    } else {
        r as i64
    }
}

fn center_text(text: &str, length: usize, left: &str, right: &str) -> String {
    let tl = text_len(text) as i64;
    let start = (length as i64 / 2) - (tl / 2) - 1;
    let start = start.max(0) as usize;
    let so_far = text_len(left) as i64 + start as i64 + tl;
    let right_spaces = (length as i64 - text_len(right) as i64 - so_far).max(0) as usize;
    format!(
        "{left}{}{text}{}{right}",
        " ".repeat(start),
        " ".repeat(right_spaces)
    )
}

fn align_left(text: &str, length: usize, left: &str, right: &str) -> String {
    let tl = text_len(text);
    let computed = tl + 2 + text_len(left) + text_len(right);
    let padding = if length >= computed { 2 } else { 0 };
    let so_far = left.chars().count() + padding + tl;
    let fill = length.saturating_sub(so_far + right.chars().count());
    format!(
        "{left}{}{text}{}{right}",
        " ".repeat(padding),
        " ".repeat(fill)
    )
}

struct Table {
    sections: Vec<Section>,
    width: usize,
}

impl Table {
    fn current(&mut self) -> &mut Section {
        self.sections.last_mut().expect("a section")
    }

    fn new_section(&mut self, title: &str, indent: usize) {
        self.sections.push(Section {
            title: title.to_string(),
            indent,
            ..Section::default()
        });
    }

    fn max_width(&self) -> usize {
        self.sections
            .iter()
            .map(|s| s.total_width(4, s.indent))
            .max()
            .unwrap_or(0)
    }

    fn render(&mut self) -> String {
        let mut max_width = self.max_width();
        if max_width > self.width {
            // convert_to_vertical_table
            for s in &mut self.sections {
                if s.rows.len() == 1 && !s.headers.is_empty() {
                    let mut n = Section {
                        title: s.title.clone(),
                        indent: s.indent,
                        ..Section::default()
                    };
                    let row = s.rows[0].clone();
                    for (h, e) in s.headers.clone().into_iter().zip(row) {
                        n.add_row(vec![h, e]);
                    }
                    *s = n;
                }
            }
            max_width = self.max_width();
        }
        let mut out = String::new();
        out.push_str(&"-".repeat(max_width));
        out.push('\n');
        for s in &self.sections {
            render_section(s, max_width, &mut out);
        }
        out
    }
}

fn indented_write(out: &mut String, indent: usize, line: &str) {
    out.push_str(&"|".repeat(indent));
    out.push_str(line);
    out.push_str(&"|".repeat(indent));
    out.push('\n');
}

fn line_break(widths: &[usize]) -> String {
    let mut s = String::new();
    for (i, w) in widths.iter().enumerate() {
        if i == 0 {
            let _ = write!(s, "+{}+", "-".repeat(w.saturating_sub(2)));
        } else {
            let _ = write!(s, "{}+", "-".repeat(w.saturating_sub(1)));
        }
    }
    s
}

fn render_section(s: &Section, max_width: usize, out: &mut String) {
    let max_width = max_width.saturating_sub(s.indent * 2);
    if !s.title.is_empty() {
        indented_write(out, s.indent, &center_text(&s.title, max_width, "|", "|"));
        if s.headers.is_empty() && s.rows.is_empty() {
            indented_write(
                out,
                s.indent,
                &format!("+{}+", "-".repeat(max_width.saturating_sub(2))),
            );
        }
    }
    if !s.headers.is_empty() {
        let widths = s.column_widths(4, Some(max_width));
        let mut current = String::new();
        for (i, (w, h)) in widths.iter().zip(&s.headers).enumerate() {
            current.push_str(&center_text(h, *w, if i == 0 { "|" } else { "" }, "|"));
        }
        indented_write(out, s.indent, &line_break(&widths));
        indented_write(out, s.indent, &current);
    }
    if !s.rows.is_empty() {
        let widths = s.column_widths(4, Some(max_width));
        if widths.is_empty() {
            return;
        }
        indented_write(out, s.indent, &line_break(&widths));
        for row in &s.rows {
            let mut current = String::new();
            for (i, (w, e)) in widths.iter().zip(row).enumerate() {
                current.push_str(&align_left(e, *w, if i == 0 { "|" } else { "" }, "|"));
            }
            indented_write(out, s.indent, &current);
        }
        indented_write(out, s.indent, &line_break(&widths));
    }
}

/// `--output table` with `title` (the operation name); `width` is the terminal width.
pub fn format_table(title: &str, v: &Value, width: usize) -> String {
    let mut t = Table {
        sections: Vec::new(),
        width,
    };
    if !build_table(&mut t, Some(title), v, 0) {
        return String::new();
    }
    t.render()
}

fn scalar_str(v: &Value) -> String {
    v.py_str()
}

fn build_table(t: &mut Table, title: Option<&str>, current: &Value, indent: usize) -> bool {
    if !current.truthy() {
        return false;
    }
    if let Some(title) = title {
        t.new_section(title, indent);
    }
    if t.sections.is_empty() {
        t.new_section("", indent);
    }
    match current {
        Value::List(items) => {
            if matches!(items.first(), Some(Value::Dict(_))) {
                sub_table_from_list(t, items, indent, title.unwrap_or(""));
            } else {
                for item in items {
                    match item {
                        Value::List(inner) if inner.iter().all(|e| !is_container(e)) => {
                            t.current().add_row(inner.iter().map(scalar_str).collect())
                        }
                        i if !is_container(i) => t.current().add_row(vec![scalar_str(i)]),
                        other => {
                            build_table(t, None, other, 0);
                        }
                    }
                }
            }
        }
        Value::Dict(d) => sub_table_from_dict(t, d, indent),
        _ => {}
    }
    true
}

fn group_scalar_keys(d: &Dict) -> (Vec<String>, Vec<String>) {
    let mut headers = Vec::new();
    let mut more = Vec::new();
    for (k, v) in d.iter() {
        if is_container(v) {
            more.push(k.clone());
        } else {
            headers.push(k.clone());
        }
    }
    headers.sort();
    more.sort();
    (headers, more)
}

fn sub_table_from_dict(t: &mut Table, d: &Dict, indent: usize) {
    let (headers, more) = group_scalar_keys(d);
    if headers.len() == 1 {
        let v = scalar_str(d.get(&headers[0]).expect("key"));
        t.current().add_row(vec![headers[0].clone(), v]);
    } else if !headers.is_empty() {
        t.current().add_header(headers.clone());
        let row = headers
            .iter()
            .map(|h| scalar_str(d.get(h).expect("key")))
            .collect();
        t.current().add_row(row);
    }
    for k in more {
        build_table(t, Some(&k), d.get(&k).expect("key"), indent + 1);
    }
}

fn sub_table_from_list(t: &mut Table, items: &[Value], indent: usize, title: &str) {
    let mut headers: Vec<String> = Vec::new();
    let mut more: Vec<String> = Vec::new();
    for item in items {
        if let Value::Dict(d) = item {
            let (h, m) = group_scalar_keys(d);
            for x in h {
                if !headers.contains(&x) {
                    headers.push(x);
                }
            }
            for x in m {
                if !more.contains(&x) {
                    more.push(x);
                }
            }
        }
    }
    headers.sort();
    more.sort();
    t.current().add_header(headers.clone());
    let mut first = true;
    for item in items {
        let Value::Dict(d) = item else { continue };
        if !first && !more.is_empty() {
            t.new_section(title, indent);
            t.current().add_header(headers.clone());
        }
        first = false;
        let row = headers
            .iter()
            .map(|h| d.get(h).map(scalar_str).unwrap_or_default())
            .collect();
        t.current().add_row(row);
        for k in &more {
            if let Some(v) = d.get(k) {
                build_table(t, Some(k), v, indent + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pyjson::loads;

    #[test]
    fn spec_8_examples() {
        let v = loads(r#"{"k": [1, 2], "s": "x"}"#, false).unwrap();
        assert_eq!(
            format_json(&v),
            "{\n    \"k\": [\n        1,\n        2\n    ],\n    \"s\": \"x\"\n}\n"
        );
        assert_eq!(format_text(&v), "x\nK\t1\nK\t2\n");
        let v = loads(r#"{"k": "v"}"#, false).unwrap();
        assert_eq!(
            format_table("CancelJobExecution", &v, 80),
            "--------------------\n|CancelJobExecution|\n+--------+---------+\n|  k     |  v      |\n+--------+---------+\n"
        );
        assert_eq!(format_json(&loads("{}", false).unwrap()), "");
        assert_eq!(format_json(&Value::Null), "null\n");
        assert_eq!(format_text(&Value::Null), "None\n");
        assert_eq!(format_table("X", &Value::Null, 80), "");
    }

    #[test]
    fn query_runs_on_the_value() {
        let q = Query::compile("jobs[].jobId").unwrap();
        let v = loads(r#"{"jobs": [{"jobId": "a"}, {"jobId": "b"}]}"#, false).unwrap();
        assert_eq!(pyjson::dumps(&q.search(&v).unwrap()), r#"["a", "b"]"#);
        let v = loads(r#"{"execution": {"z": 1, "a": {"y": 2, "b": 3}}}"#, false).unwrap();
        let q = Query::compile("execution").unwrap();
        assert_eq!(
            pyjson::dumps(&q.search(&v).unwrap()),
            r#"{"z": 1, "a": {"y": 2, "b": 3}}"#
        );
        assert!(
            Query::compile("[[")
                .unwrap_err()
                .starts_with("Bad value for --query [[: Invalid jmespath expression: ")
        );
    }
}
