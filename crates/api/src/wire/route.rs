//! Routing: (method, raw path) → operation and decoded path labels, from the generated
//! `OPERATIONS` table of one model.
//!
//! SDKs percent-encode labels with no safe characters (`thing:1` → `thing%3A1`, `$next` →
//! `%24next`) but send template literals such as `$next` unencoded, so the path is split on `/`
//! first and each segment is decoded afterwards: a `%2F` stays inside its label. Choosing the
//! plane (control vs data) is not done here; callers pick the model first.

use percent_encoding::percent_decode_str;
use std::borrow::Cow;

use iotjobs_model::{OperationDef, Segment};

/// The outcome of [`match_route`].
#[derive(Debug, Clone, PartialEq)]
pub enum RouteMatch {
    /// `op` matched; `labels` are the decoded `{label}` / `{label+}` values by label name.
    Matched {
        op: &'static OperationDef,
        labels: Vec<(&'static str, String)>,
    },
    /// The path matches at least one operation, but none with this method. `allowed` lists
    /// the methods that would match (for an `Allow` header), without duplicates.
    MethodNotAllowed { allowed: Vec<&'static str> },
    /// No operation's path template matches.
    NotFound,
}

/// Matches `method` + `raw_path` (still percent-encoded, without the query) against `ops`.
///
/// When several templates match, the one with more literal segments wins (then the one
/// without a greedy label), so `/things/t/jobs/$next` prefers the `$next` literal over
/// `{jobId}`. Labels never match an empty segment.
pub fn match_route(ops: &'static [OperationDef], method: &str, raw_path: &str) -> RouteMatch {
    match_route_with_query(ops, method, raw_path, None)
}

/// Like [`match_route`], but also honours literal query parts of `requestUri` templates
/// (`/x?versioning`): when `raw_query` is given, an operation whose literal query keys are
/// absent does not match, and among matches the one with more literal query keys wins.
/// Neither of our models has such a template today; with `None` the literals are ignored.
pub fn match_route_with_query(
    ops: &'static [OperationDef],
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
) -> RouteMatch {
    let path = raw_path.split_once('?').map_or(raw_path, |(p, _)| p);
    let Some(path) = path.strip_prefix('/') else {
        return RouteMatch::NotFound;
    };
    // Decoding borrows unless a segment holds an escape, so the common request allocates
    // nothing here; labels are bound only for the winning template (a cancel's path has
    // literal-prefix matches in dozens of templates).
    let segments: Vec<Cow<'_, str>> = path
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy())
        .collect();

    // (score, op) of the best match with the right method.
    let mut best: Option<((usize, bool, usize), &'static OperationDef)> = None;
    let mut allowed: Vec<&'static str> = Vec::new();
    for op in ops {
        if !path_matches(op.path, &segments) {
            continue;
        }
        if let Some(q) = raw_query
            && !op.query.iter().all(|(k, _)| query_has_key(q, k))
        {
            continue;
        }
        if !op.method.eq_ignore_ascii_case(method) {
            if !allowed.contains(&op.method) {
                allowed.push(op.method);
            }
            continue;
        }
        let literals = op
            .path
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let no_greedy = !op.path.iter().any(|s| matches!(s, Segment::Greedy(_)));
        let query_literals = if raw_query.is_some() {
            op.query.len()
        } else {
            0
        };
        let score = (literals, no_greedy, query_literals);
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, op));
        }
    }
    match best {
        Some((_, op)) => RouteMatch::Matched {
            op,
            labels: bind_labels(op.path, &segments),
        },
        None if !allowed.is_empty() => RouteMatch::MethodNotAllowed { allowed },
        None => RouteMatch::NotFound,
    }
}

/// Whether decoded `segments` match a template: literals equal, labels non-empty, a
/// greedy label (always last) taking a non-empty rest.
fn path_matches(template: &'static [Segment], segments: &[Cow<'_, str>]) -> bool {
    let greedy = matches!(template.last(), Some(Segment::Greedy(_)));
    if greedy {
        if segments.len() < template.len() {
            return false;
        }
    } else if segments.len() != template.len() {
        return false;
    }
    template
        .iter()
        .zip(segments)
        .all(|(seg, value)| match *seg {
            Segment::Literal(l) => value == l,
            Segment::Label(_) => !value.is_empty(),
            Segment::Greedy(_) => true,
        })
        && (!greedy || {
            // The rest joined with `/` is empty only when it is one empty segment.
            let rest = &segments[template.len() - 1..];
            rest.len() > 1 || !rest[0].is_empty()
        })
}

/// The label bindings of a template that [`path_matches`] the segments.
fn bind_labels(
    template: &'static [Segment],
    segments: &[Cow<'_, str>],
) -> Vec<(&'static str, String)> {
    let mut labels = Vec::new();
    for (i, seg) in template.iter().enumerate() {
        match *seg {
            Segment::Literal(_) => {}
            Segment::Label(name) => labels.push((name, segments[i].clone().into_owned())),
            Segment::Greedy(name) => {
                labels.push((name, segments[i..].join("/")));
                break;
            }
        }
    }
    labels
}

/// Whether the raw query string contains parameter `key` (with or without a value).
fn query_has_key(raw_query: &str, key: &str) -> bool {
    raw_query.split('&').any(|pair| {
        let k = pair.split_once('=').map_or(pair, |(k, _)| k);
        let k = k.replace('+', " ");
        percent_decode_str(&k).decode_utf8_lossy() == key
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotjobs_model::generated::{iot, iot_jobs_data};

    fn matched(r: RouteMatch) -> (&'static str, Vec<(&'static str, String)>) {
        match r {
            RouteMatch::Matched { op, labels } => (op.name, labels),
            other => panic!("expected a match, got {other:?}"),
        }
    }

    fn labels(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    }

    #[test]
    fn cancel_job_execution_with_encoded_thing_name() {
        let r = match_route(
            iot::OPERATIONS,
            "PUT",
            "/things/thing%3A1/jobs/job-1/cancel",
        );
        assert_eq!(
            matched(r),
            (
                "CancelJobExecution",
                labels(&[("thingName", "thing:1"), ("jobId", "job-1")])
            )
        );
    }

    #[test]
    fn encoded_dollar_next_is_a_job_id_label_for_get() {
        let r = match_route(iot_jobs_data::OPERATIONS, "GET", "/things/t/jobs/%24next");
        assert_eq!(
            matched(r),
            (
                "DescribeJobExecution",
                labels(&[("thingName", "t"), ("jobId", "$next")])
            )
        );
    }

    #[test]
    fn dollar_next_literal_for_put() {
        for path in ["/things/t1/jobs/$next", "/things/t1/jobs/%24next"] {
            let r = match_route(iot_jobs_data::OPERATIONS, "PUT", path);
            assert_eq!(
                matched(r),
                (
                    "StartNextPendingJobExecution",
                    labels(&[("thingName", "t1")])
                ),
                "{path}"
            );
        }
        // POST on the same path is UpdateJobExecution with jobId `$next`.
        let r = match_route(iot_jobs_data::OPERATIONS, "POST", "/things/t1/jobs/$next");
        assert_eq!(matched(r).0, "UpdateJobExecution");
    }

    #[test]
    fn encoded_slash_stays_inside_label() {
        let r = match_route(iot::OPERATIONS, "GET", "/things/a%2Fb");
        assert_eq!(
            matched(r),
            ("DescribeThing", labels(&[("thingName", "a/b")]))
        );
    }

    #[test]
    fn literal_beats_label() {
        // `/thing-groups/addThingToThingGroup` (PUT) vs `/thing-groups/{thingGroupName}`.
        let r = match_route(iot::OPERATIONS, "PUT", "/thing-groups/addThingToThingGroup");
        assert_eq!(matched(r).0, "AddThingToThingGroup");
        let r = match_route(iot::OPERATIONS, "GET", "/jobs/j1/things");
        assert_eq!(matched(r).0, "ListJobExecutionsForJob");
    }

    #[test]
    fn method_not_allowed_and_not_found() {
        match match_route(iot::OPERATIONS, "POST", "/things/t1/jobs/j1/cancel") {
            RouteMatch::MethodNotAllowed { allowed } => assert_eq!(allowed, vec!["PUT"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            match_route(iot::OPERATIONS, "GET", "/no/such/route/here/at/all"),
            RouteMatch::NotFound
        );
    }

    #[test]
    fn empty_segments_do_not_bind_labels() {
        // Trailing slash: `/things/` must not be DescribeThing with an empty name.
        assert_eq!(
            match_route(iot::OPERATIONS, "GET", "/things/"),
            RouteMatch::NotFound
        );
        assert_eq!(
            match_route(iot::OPERATIONS, "PUT", "/things//jobs/j1/cancel"),
            RouteMatch::NotFound
        );
        assert_eq!(
            match_route(iot::OPERATIONS, "GET", "/jobs/j1/"),
            RouteMatch::NotFound
        );
    }

    #[test]
    fn greedy_label_takes_the_rest() {
        let r = match_route(
            iot::OPERATIONS,
            "GET",
            "/destinations/arn:aws:iot:us-east-1:1/x%2Fy/z",
        );
        assert_eq!(
            matched(r),
            (
                "GetTopicRuleDestination",
                labels(&[("arn", "arn:aws:iot:us-east-1:1/x/y/z")])
            )
        );
    }

    #[test]
    fn query_is_ignored_in_path() {
        let r = match_route(iot::OPERATIONS, "GET", "/jobs?maxResults=2");
        assert_eq!(matched(r).0, "ListJobs");
    }
}
