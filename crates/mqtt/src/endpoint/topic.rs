//! Topic rules of the jobs-only endpoint, as pure functions: which client ids are things,
//! which subscription filters and publish topics a thing may use, and MQTT filter
//! matching. No I/O and no state, so every rule is unit-tested here.
//!
//! Authorization mimics what an AWS IoT policy scoped to the thing allows for Jobs:
//! `$aws/things/{thing}/jobs/...` only, with the service's reply and notification topics
//! (`…/accepted`, `…/rejected`, `…/jobs/notify`, `…/jobs/notify-next`) reserved: a
//! device may subscribe to them but never publish there.

/// Largest thing name AWS IoT accepts (`CreateThing`: 1–128 characters).
const MAX_THING_NAME: usize = 128;

/// Whether `name` is a thing name (`[a-zA-Z0-9:_-]+`, 1–128).
///
/// The loopback listener takes the thing from the client id, so a client id must be
/// usable as one topic level: anything else (`/`, `+`, `#`, empty) could make the
/// thing's prefix ambiguous or a wildcard, so such a connection is refused.
pub(crate) fn is_thing_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_THING_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// `$aws/things/{thing}/jobs/`: everything a connection of `thing` may use starts here.
pub(crate) fn jobs_prefix(thing: &str) -> String {
    format!("$aws/things/{thing}/jobs/")
}

/// Whether `filter` is a well-formed MQTT topic filter (MQTT 3.1.1 §4.7.1, 5 §4.7.1):
/// non-empty, `#` only as the whole last level, `+` only as a whole level.
pub(crate) fn is_valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return false;
        }
        if level.contains('+') && level != "+" {
            return false;
        }
    }
    true
}

/// Whether a connection of `thing` may subscribe to `filter`: a valid filter under its own
/// `$aws/things/{thing}/jobs/`, with wildcards only after that prefix. `$next` (as in
/// `…/jobs/$next/get/+`, which the SDK's V2 client subscribes to) is an ordinary level:
/// only a leading `$` is special in MQTT.
pub(crate) fn may_subscribe(thing: &str, filter: &str) -> bool {
    match filter.strip_prefix(&jobs_prefix(thing)) {
        Some(rest) => !rest.is_empty() && is_valid_filter(filter),
        None => false,
    }
}

/// Whether an operator connection may subscribe to `filter`: a valid filter under
/// `$aws/events/` (wildcards only after it). Only Jobs events (`$aws/events/job/...`,
/// `$aws/events/jobExecution/...`) are ever published there.
pub(crate) fn may_subscribe_events(filter: &str) -> bool {
    filter
        .strip_prefix("$aws/events/")
        .is_some_and(|rest| !rest.is_empty())
        && is_valid_filter(filter)
}

/// Whether a connection of `thing` may publish on `topic`, i.e. whether it is a request:
/// under its own prefix, no wildcard, and not one of the topics the service publishes on
/// (replies end in `/accepted` or `/rejected`; notifications are `…/jobs/notify` and
/// `…/jobs/notify-next`). AWS IoT reserves those; a device publishing there would forge
/// service messages, so they are refused and never processed.
pub(crate) fn may_publish(thing: &str, topic: &str) -> bool {
    let Some(rest) = topic.strip_prefix(&jobs_prefix(thing)) else {
        return false;
    };
    if topic.contains(['+', '#', '\0']) {
        return false;
    }
    let reserved = rest == "notify"
        || rest == "notify-next"
        || rest == "accepted"
        || rest == "rejected"
        || rest.ends_with("/accepted")
        || rest.ends_with("/rejected");
    !reserved
}

/// MQTT topic filter matching (MQTT 3.1.1 §4.7, 5 §4.7): `+` matches exactly one level,
/// `#` (last) matches the parent level and any number of child levels. A filter starting
/// with a wildcard does not match a topic starting with `$` (§4.7.2).
pub(crate) fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_may_subscribe_to_events_only() {
        for ok in [
            "$aws/events/job/j1/canceled",
            "$aws/events/jobExecution/+/canceled",
            "$aws/events/#",
        ] {
            assert!(may_subscribe_events(ok), "{ok}");
        }
        for refused in [
            "$aws/events/",
            "$aws/things/t1/jobs/notify",
            "#",
            "+/events/job/j1/canceled",
            "$aws/events/job/j#",
        ] {
            assert!(!may_subscribe_events(refused), "{refused}");
        }
    }

    #[test]
    fn thing_names() {
        assert!(is_thing_name("t1"));
        assert!(is_thing_name("a:b_c-D9"));
        assert!(is_thing_name(&"x".repeat(128)));
        assert!(!is_thing_name(&"x".repeat(129)));
        assert!(!is_thing_name(""));
        assert!(!is_thing_name("a/b"));
        assert!(!is_thing_name("+"));
        assert!(!is_thing_name("#"));
        assert!(!is_thing_name("a b"));
        assert!(!is_thing_name("dev?SDK=x"));
    }

    #[test]
    fn plus_matches_one_level() {
        assert!(filter_matches(
            "$aws/things/t1/jobs/get/+",
            "$aws/things/t1/jobs/get/accepted"
        ));
        assert!(!filter_matches(
            "$aws/things/t1/jobs/get/+",
            "$aws/things/t1/jobs/get"
        ));
        assert!(!filter_matches(
            "$aws/things/t1/jobs/get/+",
            "$aws/things/t1/jobs/get/accepted/x"
        ));
        assert!(filter_matches(
            "$aws/things/t1/jobs/+/update/+",
            "$aws/things/t1/jobs/job-1/update/rejected"
        ));
        assert!(filter_matches("a/+/c", "a//c"));
    }

    #[test]
    fn hash_matches_parent_and_children() {
        assert!(filter_matches(
            "$aws/things/t1/jobs/#",
            "$aws/things/t1/jobs/notify"
        ));
        assert!(filter_matches(
            "$aws/things/t1/jobs/#",
            "$aws/things/t1/jobs/j/get/accepted"
        ));
        assert!(filter_matches(
            "$aws/things/t1/jobs/#",
            "$aws/things/t1/jobs"
        ));
        assert!(!filter_matches(
            "$aws/things/t1/jobs/#",
            "$aws/things/t1/jobsx"
        ));
    }

    #[test]
    fn exact_and_next_level() {
        assert!(filter_matches(
            "$aws/things/t1/jobs/notify-next",
            "$aws/things/t1/jobs/notify-next"
        ));
        assert!(!filter_matches(
            "$aws/things/t1/jobs/notify",
            "$aws/things/t1/jobs/notify-next"
        ));
        assert!(filter_matches(
            "$aws/things/t1/jobs/$next/get/+",
            "$aws/things/t1/jobs/$next/get/accepted"
        ));
        assert!(!filter_matches(
            "$aws/things/t1/jobs/$next/get/+",
            "$aws/things/t1/jobs/job-1/get/accepted"
        ));
        assert!(filter_matches(
            "$aws/things/t1/jobs/+/get/+",
            "$aws/things/t1/jobs/$next/get/accepted"
        ));
    }

    #[test]
    fn no_match_across_things() {
        assert!(!filter_matches(
            "$aws/things/t1/jobs/#",
            "$aws/things/t2/jobs/notify"
        ));
        assert!(!filter_matches(
            "$aws/things/t1/jobs/notify",
            "$aws/things/t10/jobs/notify"
        ));
    }

    #[test]
    fn leading_wildcard_does_not_match_dollar_topics() {
        assert!(!filter_matches("#", "$aws/things/t1/jobs/notify"));
        assert!(!filter_matches(
            "+/things/t1/jobs/notify",
            "$aws/things/t1/jobs/notify"
        ));
        assert!(filter_matches("#", "a/b"));
    }

    #[test]
    fn filter_validity() {
        assert!(is_valid_filter("a/b/#"));
        assert!(is_valid_filter("#"));
        assert!(is_valid_filter("a/+/c"));
        assert!(!is_valid_filter(""));
        assert!(!is_valid_filter("a/#/c"));
        assert!(!is_valid_filter("a/b#"));
        assert!(!is_valid_filter("a/b+/c"));
    }

    #[test]
    fn subscribe_only_own_jobs_prefix() {
        for ok in [
            "$aws/things/t1/jobs/notify",
            "$aws/things/t1/jobs/notify-next",
            "$aws/things/t1/jobs/get/+",
            "$aws/things/t1/jobs/$next/get/+",
            "$aws/things/t1/jobs/job-1/update/+",
            "$aws/things/t1/jobs/#",
            "$aws/things/t1/jobs/+/get/accepted",
        ] {
            assert!(may_subscribe("t1", ok), "{ok}");
        }
        for refused in [
            "$aws/things/t2/jobs/notify",
            "$aws/things/+/jobs/notify",
            "$aws/things/#",
            "#",
            "$aws/things/t1/jobs",
            "$aws/things/t1/jobs/",
            "$aws/things/t1/shadow/get/+",
            "$aws/things/t1/jobs/a/#/b",
            "$aws/things/t10/jobs/notify",
            "$share/g/$aws/things/t1/jobs/notify",
        ] {
            assert!(!may_subscribe("t1", refused), "{refused}");
        }
    }

    #[test]
    fn publish_only_own_requests() {
        for ok in [
            "$aws/things/t1/jobs/get",
            "$aws/things/t1/jobs/start-next",
            "$aws/things/t1/jobs/$next/get",
            "$aws/things/t1/jobs/job-1/get",
            "$aws/things/t1/jobs/job-1/update",
            "$aws/things/t1/jobs/unknown/op",
            "$aws/things/t1/jobs/job-1/notify",
        ] {
            assert!(may_publish("t1", ok), "{ok}");
        }
        for refused in [
            "$aws/things/t2/jobs/get",
            "$aws/things/t1/shadow/get",
            "a/b",
            "$aws/things/t1/jobs/get/accepted",
            "$aws/things/t1/jobs/get/rejected",
            "$aws/things/t1/jobs/job-1/update/accepted",
            "$aws/things/t1/jobs/$next/get/rejected",
            "$aws/things/t1/jobs/notify",
            "$aws/things/t1/jobs/notify-next",
            "$aws/things/t1/jobs/accepted",
            "$aws/things/t1/jobs/+/get",
        ] {
            assert!(!may_publish("t1", refused), "{refused}");
        }
    }
}
