//! Python `argparse` as the AWS CLI v1 uses it (`parse_known_args` on three parsers in a
//! row: global options, the service's operation name, the operation's options).
//!
//! Scripts depend on argparse's exact behaviour: unique prefixes of option names are
//! accepted (`--thing` = `--thing-name`), an ambiguous prefix is an error, a value that
//! starts with `-` is taken for an option unless it looks like a negative number, `--x=v`
//! works, the last repetition wins, unknown options are left over in command-line order,
//! and the error texts (`expected one argument`, `invalid int value: 'abc'`, `the following
//! arguments are required: …`, the AWS CLI's `Invalid choice, valid choices are:` table with
//! difflib suggestions) end up in scripts' logs. clap cannot be configured to do all of
//! that, so this module ports the algorithm of CPython 3.11's `argparse._parse_known_args`.
//!
//! It knows nothing about AWS: callers describe parsers with [`Action`]s. It never prints
//! or exits; errors are returned as [`ArgError`] (the text after `error: `).

use std::collections::HashMap;

use crate::pyjson::{parse_py_float, parse_py_int, str_repr};

/// `nargs` of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nargs {
    /// `None`: exactly one value.
    One,
    /// `'?'`
    Optional,
    /// `'*'`
    ZeroOrMore,
}

/// The `type=` conversion applied to each value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    Str,
    /// Python `int()`.
    Int,
    /// Python `float()`.
    Float,
}

/// What an action does when seen.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `store` with `nargs`, `type`, `choices`, and `const` (for `nargs='?'` without a value).
    Store {
        nargs: Nargs,
        conv: Conv,
        choices: Option<Vec<String>>,
        constant: Option<String>,
    },
    /// `store_true`
    StoreTrue,
    /// `store_false`
    StoreFalse,
    /// `version`: stops parsing; the caller prints its version.
    Version,
}

/// One `add_argument` call.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// `--job-id` etc.; empty for a positional.
    pub option_strings: Vec<String>,
    pub dest: String,
    pub kind: Kind,
    pub required: bool,
}

impl Action {
    /// An option taking one string value.
    pub fn option(name: &str, dest: &str) -> Action {
        Action {
            option_strings: vec![name.to_string()],
            dest: dest.to_string(),
            kind: Kind::Store {
                nargs: Nargs::One,
                conv: Conv::Str,
                choices: None,
                constant: None,
            },
            required: false,
        }
    }

    pub fn with_conv(mut self, c: Conv) -> Action {
        if let Kind::Store { conv, .. } = &mut self.kind {
            *conv = c;
        }
        self
    }

    pub fn with_nargs(mut self, n: Nargs) -> Action {
        if let Kind::Store { nargs, .. } = &mut self.kind {
            *nargs = n;
        }
        self
    }

    pub fn with_choices(mut self, list: &[&str]) -> Action {
        if let Kind::Store { choices, .. } = &mut self.kind {
            *choices = Some(list.iter().map(|s| s.to_string()).collect());
        }
        self
    }

    pub fn with_const(mut self, c: &str) -> Action {
        if let Kind::Store { constant, .. } = &mut self.kind {
            *constant = Some(c.to_string());
        }
        self
    }

    pub fn required(mut self, r: bool) -> Action {
        self.required = r;
        self
    }

    /// A flag (`store_true` / `store_false`) writing `dest`.
    pub fn flag(name: &str, dest: &str, value: bool) -> Action {
        Action {
            option_strings: vec![name.to_string()],
            dest: dest.to_string(),
            kind: if value {
                Kind::StoreTrue
            } else {
                Kind::StoreFalse
            },
            required: false,
        }
    }

    /// A positional (`nargs` one or `'?'`) with optional choices.
    pub fn positional(dest: &str, nargs: Nargs, choices: Option<Vec<String>>) -> Action {
        Action {
            option_strings: Vec::new(),
            dest: dest.to_string(),
            kind: Kind::Store {
                nargs,
                conv: Conv::Str,
                choices,
                constant: None,
            },
            required: nargs == Nargs::One,
        }
    }

    fn name(&self) -> String {
        if self.option_strings.is_empty() {
            self.dest.clone()
        } else {
            self.option_strings.join("/")
        }
    }

    fn nargs(&self) -> Option<Nargs> {
        match &self.kind {
            Kind::Store { nargs, .. } => Some(*nargs),
            _ => None, // zero arguments
        }
    }
}

/// A parsed value (`Namespace` attribute).
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    Str(String),
    /// A Python int from `type=int`, as canonical decimal text.
    Int(String),
    Float(f64),
    Bool(bool),
    List(Vec<ArgValue>),
}

impl ArgValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ArgValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The parse result: `dest` → value (absent = `None`).
#[derive(Debug, Default, Clone)]
pub struct Namespace {
    values: HashMap<String, ArgValue>,
    /// Set when a `version` action was seen.
    pub version_requested: bool,
}

impl Namespace {
    pub fn get(&self, dest: &str) -> Option<&ArgValue> {
        self.values.get(dest)
    }

    pub fn str(&self, dest: &str) -> Option<&str> {
        self.get(dest).and_then(ArgValue::as_str)
    }

    pub fn bool(&self, dest: &str) -> Option<bool> {
        match self.get(dest) {
            Some(ArgValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    pub fn set(&mut self, dest: &str, v: ArgValue) {
        self.values.insert(dest.to_string(), v);
    }
}

/// An argparse error: the text after `<prog>: error: ` (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(pub String);

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One `ArgumentParser` (prefix chars `-`, `allow_abbrev=True`).
#[derive(Debug, Clone, Default)]
pub struct Parser {
    actions: Vec<Action>,
    /// Option strings in registration order (argparse's `_option_string_actions` dict).
    option_strings: Vec<(String, usize)>,
}

#[derive(Clone)]
struct OptionTuple {
    action: Option<usize>,
    option_string: String,
    explicit_arg: Option<String>,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// `add_argument`; with `conflict_handler='resolve'`, a repeated option string moves to
    /// the end (as `--version` does in the AWS CLI's main parser).
    pub fn add(&mut self, action: Action) {
        let idx = self.actions.len();
        for s in &action.option_strings {
            self.option_strings.retain(|(o, _)| o != s);
            self.option_strings.push((s.clone(), idx));
        }
        self.actions.push(action);
    }

    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    fn lookup(&self, s: &str) -> Option<usize> {
        self.option_strings
            .iter()
            .find(|(o, _)| o == s)
            .map(|(_, i)| *i)
    }

    fn parse_optional(&self, arg: &str) -> Result<Option<OptionTuple>, ArgError> {
        if arg.is_empty() || !arg.starts_with('-') {
            return Ok(None);
        }
        if let Some(i) = self.lookup(arg) {
            return Ok(Some(OptionTuple {
                action: Some(i),
                option_string: arg.to_string(),
                explicit_arg: None,
            }));
        }
        if arg.chars().count() == 1 {
            return Ok(None);
        }
        if let Some((opt, explicit)) = arg.split_once('=')
            && let Some(i) = self.lookup(opt)
        {
            return Ok(Some(OptionTuple {
                action: Some(i),
                option_string: opt.to_string(),
                explicit_arg: Some(explicit.to_string()),
            }));
        }
        let tuples = self.get_option_tuples(arg);
        if tuples.len() > 1 {
            let names: Vec<&str> = tuples.iter().map(|t| t.option_string.as_str()).collect();
            return Err(ArgError(format!(
                "ambiguous option: {arg} could match {}",
                names.join(", ")
            )));
        }
        if let Some(t) = tuples.into_iter().next() {
            return Ok(Some(t));
        }
        if is_negative_number(arg) {
            return Ok(None);
        }
        if arg.contains(' ') {
            return Ok(None);
        }
        Ok(Some(OptionTuple {
            action: None,
            option_string: arg.to_string(),
            explicit_arg: None,
        }))
    }

    fn get_option_tuples(&self, arg: &str) -> Vec<OptionTuple> {
        let mut result = Vec::new();
        let second_dash = arg[1..].starts_with('-');
        if second_dash {
            let (prefix, explicit) = match arg.split_once('=') {
                Some((p, e)) => (p, Some(e.to_string())),
                None => (arg, None),
            };
            for (o, i) in &self.option_strings {
                if o.starts_with(prefix) {
                    result.push(OptionTuple {
                        action: Some(*i),
                        option_string: o.clone(),
                        explicit_arg: explicit.clone(),
                    });
                }
            }
        } else {
            let short: String = arg.chars().take(2).collect();
            let short_explicit: String = arg.chars().skip(2).collect();
            for (o, i) in &self.option_strings {
                if *o == short {
                    result.push(OptionTuple {
                        action: Some(*i),
                        option_string: o.clone(),
                        explicit_arg: Some(short_explicit.clone()),
                    });
                } else if o.starts_with(arg) {
                    result.push(OptionTuple {
                        action: Some(*i),
                        option_string: o.clone(),
                        explicit_arg: None,
                    });
                }
            }
        }
        result
    }

    /// `parse_known_args`: the namespace and the left-over strings, in order.
    pub fn parse_known_args(&self, args: &[String]) -> Result<(Namespace, Vec<String>), ArgError> {
        let mut option_indices: HashMap<usize, OptionTuple> = HashMap::new();
        let mut pattern = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            if a == "--" {
                // Everything after `--` is positional.
                pattern.push('-');
                pattern.extend(std::iter::repeat_n('A', args.len() - i - 1));
                break;
            }
            match self.parse_optional(a)? {
                None => pattern.push('A'),
                Some(t) => {
                    option_indices.insert(i, t);
                    pattern.push('O');
                }
            }
        }
        let mut st = State {
            p: self,
            args,
            pattern,
            ns: Namespace::default(),
            seen: vec![false; self.actions.len()],
            extras: Vec::new(),
            positionals: (0..self.actions.len())
                .filter(|i| self.actions[*i].option_strings.is_empty())
                .collect(),
        };
        let max_option = option_indices.keys().copied().max();
        let mut start = 0usize;
        if let Some(max_option) = max_option {
            while start <= max_option {
                let next_option = option_indices
                    .keys()
                    .copied()
                    .filter(|i| *i >= start)
                    .min()
                    .unwrap_or(max_option);
                if start != next_option {
                    let end = st.consume_positionals(start)?;
                    if end > start {
                        start = end;
                        continue;
                    }
                    start = end;
                }
                if !option_indices.contains_key(&start) {
                    st.extras.extend(args[start..next_option].iter().cloned());
                    start = next_option;
                }
                let tuple = option_indices[&start].clone();
                start = st.consume_optional(start, tuple)?;
                if st.ns.version_requested {
                    return Ok((st.ns, Vec::new()));
                }
            }
        }
        let stop = st.consume_positionals(start)?;
        st.extras.extend(args[stop..].iter().cloned());

        let missing: Vec<String> = self
            .actions
            .iter()
            .enumerate()
            .filter(|(i, a)| !st.seen[*i] && a.required)
            .map(|(_, a)| a.name())
            .collect();
        if !missing.is_empty() {
            return Err(ArgError(format!(
                "the following arguments are required: {}",
                missing.join(", ")
            )));
        }
        Ok((st.ns, st.extras))
    }
}

struct State<'a> {
    p: &'a Parser,
    args: &'a [String],
    pattern: Vec<char>,
    ns: Namespace,
    seen: Vec<bool>,
    extras: Vec<String>,
    positionals: Vec<usize>,
}

/// `^-\d+$|^-\d*\.\d+$`
fn is_negative_number(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('-') else {
        return false;
    };
    let digits = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
    if digits(rest) {
        return true;
    }
    match rest.split_once('.') {
        Some((a, b)) => (a.is_empty() || digits(a)) && digits(b),
        None => false,
    }
}

/// How many pattern characters an action consumes at the start of `pattern`
/// (`_match_argument`), or `None` if its nargs pattern does not match.
fn match_count(nargs: Option<Nargs>, pattern: &[char], positional: bool) -> Option<usize> {
    // For options, `-` (after `--`) is not allowed inside the match.
    let skip_dashes = |mut i: usize| {
        if positional {
            while pattern.get(i) == Some(&'-') {
                i += 1;
            }
        }
        i
    };
    match nargs {
        None => Some(0),
        Some(Nargs::One) => {
            let i = skip_dashes(0);
            if pattern.get(i) == Some(&'A') {
                Some(skip_dashes(i + 1))
            } else {
                None
            }
        }
        Some(Nargs::Optional) => {
            let i = skip_dashes(0);
            if pattern.get(i) == Some(&'A') {
                Some(skip_dashes(i + 1))
            } else {
                Some(i)
            }
        }
        Some(Nargs::ZeroOrMore) => {
            let mut i = skip_dashes(0);
            while matches!(pattern.get(i), Some('A'))
                || (positional && pattern.get(i) == Some(&'-'))
            {
                i += 1;
            }
            Some(i)
        }
    }
}

impl State<'_> {
    fn consume_optional(&mut self, start: usize, tuple: OptionTuple) -> Result<usize, ArgError> {
        let Some(ai) = tuple.action else {
            self.extras.push(self.args[start].clone());
            return Ok(start + 1);
        };
        let action = &self.p.actions[ai];
        if let Some(explicit) = tuple.explicit_arg {
            let count = match_count(action.nargs(), &['A'], false);
            if count == Some(1) {
                self.take_action(ai, vec![explicit])?;
                return Ok(start + 1);
            }
            // Single-dash combined flags (`-xyz`) do not occur in the AWS CLI's tables.
            return Err(ArgError(format!(
                "argument {}: ignored explicit argument {}",
                action.name(),
                str_repr(&explicit)
            )));
        }
        let rest = &self.pattern[start + 1..];
        let Some(count) = match_count(action.nargs(), rest, false) else {
            let msg = match action.nargs() {
                Some(Nargs::Optional) => "expected at most one argument",
                _ => "expected one argument",
            };
            return Err(ArgError(format!("argument {}: {msg}", action.name())));
        };
        let values = self.args[start + 1..start + 1 + count].to_vec();
        self.take_action(ai, values)?;
        Ok(start + 1 + count)
    }

    /// `_match_arguments_partial` + `take_action` for the leading positionals.
    fn consume_positionals(&mut self, start: usize) -> Result<usize, ArgError> {
        let pattern = self.pattern[start..].to_vec();
        // Match as many positionals as possible (all of ours are One or Optional, so the
        // greedy left-to-right match is what the regex alternation finds).
        let mut counts = Vec::new();
        for n in (1..=self.positionals.len()).rev() {
            let mut pos = 0usize;
            let mut these = Vec::new();
            let mut ok = true;
            for &ai in &self.positionals[..n] {
                match match_count(self.p.actions[ai].nargs(), &pattern[pos..], true) {
                    Some(c) => {
                        these.push(c);
                        pos += c;
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                counts = these;
                break;
            }
        }
        let mut idx = start;
        let taken: Vec<usize> = self.positionals.drain(..counts.len()).collect();
        for (ai, count) in taken.into_iter().zip(counts) {
            let values: Vec<String> = self.args[idx..idx + count]
                .iter()
                .filter(|a| *a != "--")
                .cloned()
                .collect();
            idx += count;
            self.take_action(ai, values)?;
        }
        Ok(idx)
    }

    fn take_action(&mut self, ai: usize, values: Vec<String>) -> Result<(), ArgError> {
        self.seen[ai] = true;
        let action = &self.p.actions[ai];
        match &action.kind {
            Kind::StoreTrue => self.ns.set(&action.dest, ArgValue::Bool(true)),
            Kind::StoreFalse => self.ns.set(&action.dest, ArgValue::Bool(false)),
            Kind::Version => self.ns.version_requested = true,
            Kind::Store {
                nargs,
                conv,
                choices,
                constant,
            } => {
                let convert = |s: &str| -> Result<ArgValue, ArgError> {
                    let v = match conv {
                        Conv::Str => ArgValue::Str(s.to_string()),
                        Conv::Int => ArgValue::Int(parse_py_int(s).ok_or_else(|| {
                            ArgError(format!(
                                "argument {}: invalid int value: {}",
                                action.name(),
                                str_repr(s)
                            ))
                        })?),
                        Conv::Float => ArgValue::Float(parse_py_float(s).ok_or_else(|| {
                            ArgError(format!(
                                "argument {}: invalid float value: {}",
                                action.name(),
                                str_repr(s)
                            ))
                        })?),
                    };
                    if let Some(choices) = choices {
                        check_choice(&action.name(), s, choices)?;
                    }
                    Ok(v)
                };
                let value = match (nargs, values.len()) {
                    (Nargs::Optional, 0) => match constant {
                        Some(c) if !action.option_strings.is_empty() => Some(convert(c)?),
                        _ => None,
                    },
                    (Nargs::ZeroOrMore, _) => Some(ArgValue::List(
                        values
                            .iter()
                            .map(|v| convert(v))
                            .collect::<Result<_, _>>()?,
                    )),
                    (_, _) => match values.first() {
                        Some(v) => Some(convert(v)?),
                        None => None,
                    },
                };
                match value {
                    Some(v) => self.ns.set(&action.dest, v),
                    None => {
                        self.ns.values.remove(&action.dest);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The AWS CLI's `CLIArgParser._check_value` message: choices two per row, each padded to
/// 40 columns, and difflib's close matches (cutoff 0.8).
pub fn check_choice(name: &str, value: &str, choices: &[String]) -> Result<(), ArgError> {
    if choices.iter().any(|c| c == value) {
        return Ok(());
    }
    let mut msg = vec!["Invalid choice, valid choices are:\n".to_string()];
    for row in choices.chunks(2) {
        let cells: Vec<String> = row.iter().map(|c| format!("{c:<40}")).collect();
        msg.push(cells.join(" | "));
    }
    let possible = get_close_matches(value, choices, 3, 0.8);
    if !possible.is_empty() {
        msg.push(format!(
            "\n\nInvalid choice: {}, maybe you meant:\n",
            str_repr(value)
        ));
        for w in possible {
            msg.push(format!("  * {w}"));
        }
    }
    Err(ArgError(format!("argument {name}: {}", msg.join("\n"))))
}

/// `difflib.get_close_matches(word, possibilities, n, cutoff)`.
pub fn get_close_matches(
    word: &str,
    possibilities: &[String],
    n: usize,
    cutoff: f64,
) -> Vec<String> {
    let b: Vec<char> = word.chars().collect();
    let mut scored: Vec<(f64, &String)> = possibilities
        .iter()
        .filter_map(|x| {
            let a: Vec<char> = x.chars().collect();
            let r = ratio(&a, &b);
            (r >= cutoff).then_some((r, x))
        })
        .collect();
    // heapq.nlargest on (score, word): ties go to the larger word.
    scored.sort_by(|x, y| {
        y.0.partial_cmp(&x.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| y.1.cmp(x.1))
    });
    scored.into_iter().take(n).map(|(_, w)| w.clone()).collect()
}

/// `SequenceMatcher(None, a, b).ratio()` (no junk; the inputs are short).
fn ratio(a: &[char], b: &[char]) -> f64 {
    let total = a.len() + b.len();
    if total == 0 {
        return 1.0;
    }
    let matches = matching_chars(a, b, 0, a.len(), 0, b.len());
    2.0 * matches as f64 / total as f64
}

fn matching_chars(a: &[char], b: &[char], alo: usize, ahi: usize, blo: usize, bhi: usize) -> usize {
    let (i, j, k) = longest_match(a, b, alo, ahi, blo, bhi);
    if k == 0 {
        return 0;
    }
    k + matching_chars(a, b, alo, i, blo, j) + matching_chars(a, b, i + k, ahi, j + k, bhi)
}

/// `find_longest_match`: longest block, earliest in `a`, then earliest in `b`.
fn longest_match(
    a: &[char],
    b: &[char],
    alo: usize,
    ahi: usize,
    blo: usize,
    bhi: usize,
) -> (usize, usize, usize) {
    let mut best = (alo, blo, 0usize);
    for i in alo..ahi {
        for j in blo..bhi {
            let mut k = 0;
            while i + k < ahi && j + k < bhi && a[i + k] == b[j + k] {
                k += 1;
            }
            if k > best.2 {
                best = (i, j, k);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn op_parser() -> Parser {
        let mut p = Parser::new();
        p.add(Action::option("--job-id", "job_id").required(true));
        p.add(Action::option("--thing-name", "thing_name").required(true));
        p.add(Action::flag("--force", "force", true));
        p.add(Action::flag("--no-force", "force", false));
        p.add(Action::option("--expected-version", "expected_version").with_conv(Conv::Int));
        p.add(Action::option("--status-details", "status_details"));
        p.add(Action::positional("help", Nargs::Optional, None));
        p
    }

    #[test]
    fn prefixes_equals_and_last_wins() {
        let (ns, extra) = op_parser()
            .parse_known_args(&s(&[
                "--job",
                "j1",
                "--thing=t1",
                "--f",
                "--no-force",
                "--exp",
                "-1",
            ]))
            .unwrap();
        assert!(extra.is_empty());
        assert_eq!(ns.str("job_id"), Some("j1"));
        assert_eq!(ns.str("thing_name"), Some("t1"));
        assert_eq!(ns.bool("force"), Some(false));
        assert_eq!(
            ns.get("expected_version"),
            Some(&ArgValue::Int("-1".into()))
        );
    }

    #[test]
    fn error_texts() {
        let e = |a: &[&str]| op_parser().parse_known_args(&s(a)).unwrap_err().0;
        assert_eq!(
            e(&["--thing-name", "t"]),
            "the following arguments are required: --job-id"
        );
        assert_eq!(
            e(&[]),
            "the following arguments are required: --job-id, --thing-name"
        );
        assert_eq!(
            e(&["--job-id", "-x"]),
            "argument --job-id: expected one argument"
        );
        assert_eq!(
            e(&[
                "--job-id",
                "j",
                "--thing-name",
                "t",
                "--expected-version",
                "abc"
            ]),
            "argument --expected-version: invalid int value: 'abc'"
        );
        assert_eq!(
            e(&["--job-id", "j", "--thing-name", "t", "--force=true"]),
            "argument --force: ignored explicit argument 'true'"
        );
    }

    #[test]
    fn leftovers_keep_order_and_first_positional_goes_to_help() {
        let (ns, extra) = op_parser()
            .parse_known_args(&s(&[
                "--job-id",
                "j",
                "--bogus",
                "x",
                "--thing-name",
                "t",
                "--other",
            ]))
            .unwrap();
        assert_eq!(extra, s(&["--bogus", "--other"]));
        assert_eq!(ns.str("help"), Some("x"));
        let (ns, extra) = op_parser()
            .parse_known_args(&s(&["--job-id", "j", "--thing-name", "t", "p1", "p2"]))
            .unwrap();
        assert_eq!(extra, s(&["p2"]));
        assert_eq!(ns.str("help"), Some("p1"));
    }

    #[test]
    fn ambiguous_prefix() {
        let mut p = Parser::new();
        p.add(Action::flag("--no-verify-ssl", "verify_ssl", false));
        p.add(Action::flag("--no-paginate", "paginate", false));
        p.add(Action::flag("--no-sign-request", "sign_request", false));
        assert_eq!(
            p.parse_known_args(&s(&["--no"])).unwrap_err().0,
            "ambiguous option: --no could match --no-verify-ssl, --no-paginate, --no-sign-request"
        );
    }

    #[test]
    fn choices_message_and_close_matches() {
        let choices = s(&["json", "text", "table"]);
        assert_eq!(
            check_choice("--output", "bogus", &choices).unwrap_err().0,
            "argument --output: Invalid choice, valid choices are:\n\njson                                     | text                                    \ntable                                   "
        );
        let inputs = check_choice(
            "--generate-cli-skeleton",
            "inputs",
            &s(&["input", "output"]),
        )
        .unwrap_err()
        .0;
        assert!(
            inputs.ends_with("\n\n\nInvalid choice: 'inputs', maybe you meant:\n\n  * input"),
            "{inputs}"
        );
        assert_eq!(
            get_close_matches(
                "cancel-job-executions",
                &s(&["cancel-job-execution", "cancel-job"]),
                3,
                0.8
            ),
            s(&["cancel-job-execution"])
        );
    }
}
