//! Job scheduling: the `schedulingConfig` of CreateJob. Reads its time strings
//! (`startTime`, `endTime`), parses the cron expressions of its recurring
//! `maintenanceWindows`, and answers when a window is open or opens next (what the
//! rollout waits for, and what DescribeJob lists as `scheduledJobRollouts`).
//!
//! Pure like the rest of the crate: every function takes the time it reasons about as
//! an argument and never reads a clock; nothing here parses JSON or knows a request.
//! All times are UTC, as AWS evaluates these expressions.
//!
//! # Cron expressions
//!
//! AWS IoT types a maintenance window's `startTime` as a `CronExpression` (1 to 256
//! characters; `durationInMinutes` 1 to 1430) and uses the EventBridge dialect, which
//! descends from Quartz: `cron(Minutes Hours Day-of-month Month Day-of-week Year)`.
//!
//! | field        | values                | wildcards           |
//! |--------------|-----------------------|---------------------|
//! | Minutes      | 0-59                  | `, - * /`           |
//! | Hours        | 0-23                  | `, - * /`           |
//! | Day-of-month | 1-31                  | `, - * ? / L W`     |
//! | Month        | 1-12 or JAN-DEC       | `, - * /`           |
//! | Day-of-week  | 1-7 or SUN-SAT, 1=SUN | `, - * ? L #`       |
//! | Year         | 1970-2199             | `, - * /`           |
//!
//! Exactly one of the two day fields is `?`: EventBridge refuses a value (or `*`) in
//! both, and `?` in both names no day at all.
//!
//! Supported, with Quartz's meaning:
//! - lists, ranges (a range that ends before it starts wraps around, e.g. hours
//!   `22-2`, as in Quartz; not for years), `*`, steps `a/s`, `*/s`, `a-b/s`;
//! - day-of-month `L` (last day of the month), `LW` (last weekday, Monday to Friday, of
//!   the month) and `nW` (the weekday nearest day n, never leaving the month: the 1st
//!   on a Saturday gives Monday the 3rd, the last day on a Sunday gives the Friday
//!   before; a month shorter than n has no such day);
//! - day-of-week `L` alone (the last day of the week: Saturday, 7), `nL` (the last day
//!   n of the month, e.g. `6L` is the last Friday) and `n#k` (the k-th day n of the
//!   month, k from 1 to 5; a month without a fifth one has no match).
//!
//! Refused with a message that says so, rather than evaluated in a way AWS may not:
//! - `L`, `W` and `#` inside a list or a range (`1,L`, `15W,20`, `3#1,6#3`): Quartz
//!   refuses these and EventBridge documents `3#1,6#3` as invalid;
//! - day-of-month offsets `L-n`, which Quartz has but the EventBridge syntax does not
//!   document.
//!
//! Single-valued minutes and hours: the AWS references consulted for this module (the
//! IoT API reference for `MaintenanceWindow` and `SchedulingConfig`, CloudFormation's
//! `AWS::IoT::JobTemplate MaintenanceWindow`, EventBridge's cron reference) state no
//! rule that a maintenance window's minutes and hours be single values, so iotjobs
//! accepts the full syntax. An expression with several start times a day gives several
//! windows a day; where they overlap, [`window_containing`] answers their union.

use crate::JobsError;
use crate::time::{Timestamp, civil_from_days, days_from_civil};
use std::fmt;

const MINUTE_MS: i64 = 60_000;
const MINUTES_PER_DAY: i64 = 1440;

/// How far [`CronExpression::next_after`] looks ahead. Eight years rather than five,
/// so that a window on February 29 still finds its next day across the leap year that
/// 2100 skips (2096, then 2104).
const HORIZON_DAYS: i64 = 8 * 366;

// ---- cron expressions -------------------------------------------------------------

/// A parsed AWS cron expression: `cron(Minutes Hours Day-of-month Month Day-of-week
/// Year)`, evaluated in UTC at minute precision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpression {
    text: String,
    minutes: Bits,
    hours: Bits,
    days: DayRule,
    months: Bits,
    /// Years as offsets from 1970.
    years: Bits,
}

/// Which days of a month match: the day-of-month field or the day-of-week field,
/// whichever is not `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayRule {
    /// Day-of-month values (1-31).
    MonthDays(Bits),
    /// Day-of-month `L`.
    LastDay,
    /// Day-of-month `LW`.
    LastWeekday,
    /// Day-of-month `nW`.
    NearestWeekday(u32),
    /// Day-of-week values (1 = Sunday).
    WeekDays(Bits),
    /// Day-of-week `nL`: the last day n of the month.
    LastOfWeekDay(u32),
    /// Day-of-week `n#k`: the k-th day n of the month.
    NthWeekDay(u32, u32),
}

impl CronExpression {
    /// Parses `text`; `member` is the request member it came from (e.g.
    /// `schedulingConfig.maintenanceWindows.1.member.startTime`), which a refusal names.
    pub fn parse(text: &str, member: &str) -> Result<CronExpression, JobsError> {
        parse_cron(text).map_err(|why| {
            JobsError::validation(format_args!(
                "Value '{text}' at '{member}' failed to satisfy constraint: {why}"
            ))
        })
    }

    /// The original text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first time strictly after `t` (a whole minute, seconds 0) that the
    /// expression matches, or `None` if there is none within eight years (a year field
    /// that lies in the past, or far ahead).
    ///
    /// Walks day by day, jumping whole years and months that do not match, and looks
    /// at hours and minutes only on a matching day: at most a few thousand cheap steps.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        // The first whole minute after t: t itself is excluded even when whole.
        let first = t.millis().div_euclid(MINUTE_MS) + 1;
        let mut day = first.div_euclid(MINUTES_PER_DAY);
        let mut from_minute = first.rem_euclid(MINUTES_PER_DAY);
        let last_day = day + HORIZON_DAYS;
        while day <= last_day {
            let (y, m, d) = civil_from_days(day);
            if !self.has_year(y) {
                let next = self.year_at_or_after(y + 1)?;
                day = days_from_civil(next, 1, 1);
                from_minute = 0;
                continue;
            }
            if !self.months.contains(m as u32) {
                day = days_from_civil(y, m, 1) + days_in_month(y, m);
                from_minute = 0;
                continue;
            }
            if self.days.matches(y, m, d, day)
                && let Some(minute) = self.first_time_of_day(from_minute)
            {
                return Some(Timestamp::from_millis(
                    (day * MINUTES_PER_DAY + minute) * MINUTE_MS,
                ));
            }
            day += 1;
            from_minute = 0;
        }
        None
    }

    fn has_year(&self, y: i64) -> bool {
        (1970..=2199).contains(&y) && self.years.contains((y - 1970) as u32)
    }

    /// The first year of the expression that is `y` or later.
    fn year_at_or_after(&self, y: i64) -> Option<i64> {
        if y > 2199 {
            return None;
        }
        let from = (y.max(1970) - 1970) as u32;
        self.years.first_from(from).map(|v| i64::from(v) + 1970)
    }

    /// The first minute of the day, at or after `minute_of_day`, whose hour and minute
    /// match.
    fn first_time_of_day(&self, minute_of_day: i64) -> Option<i64> {
        let (h0, m0) = ((minute_of_day / 60) as u32, (minute_of_day % 60) as u32);
        let mut h = self.hours.first_from(h0)?;
        loop {
            let from = if h == h0 { m0 } else { 0 };
            if let Some(m) = self.minutes.first_from(from) {
                return Some(i64::from(h) * 60 + i64::from(m));
            }
            h = self.hours.first_from(h + 1)?;
        }
    }
}

impl fmt::Display for CronExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl DayRule {
    /// Whether y-m-d (which is `epoch_day`) matches.
    fn matches(self, y: i64, m: i64, d: i64, epoch_day: i64) -> bool {
        match self {
            DayRule::MonthDays(days) => days.contains(d as u32),
            DayRule::LastDay => d == days_in_month(y, m),
            DayRule::LastWeekday => d == last_weekday_of_month(y, m),
            DayRule::NearestWeekday(n) => nearest_weekday(y, m, i64::from(n)) == Some(d),
            DayRule::WeekDays(days) => days.contains(weekday(epoch_day)),
            DayRule::LastOfWeekDay(w) => weekday(epoch_day) == w && d + 7 > days_in_month(y, m),
            DayRule::NthWeekDay(w, k) => weekday(epoch_day) == w && (d - 1) / 7 + 1 == i64::from(k),
        }
    }
}

/// One of the six fields: its name in messages, its range and its value names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Three-letter names of min, min + 1, ...
    names: &'static [&'static str],
    /// Whether a range that ends before it starts wraps around (not for years).
    cyclic: bool,
}

const MINUTES: Field = Field {
    name: "Minutes",
    min: 0,
    max: 59,
    names: &[],
    cyclic: true,
};
const HOURS: Field = Field {
    name: "Hours",
    min: 0,
    max: 23,
    names: &[],
    cyclic: true,
};
const DAY_OF_MONTH: Field = Field {
    name: "Day-of-month",
    min: 1,
    max: 31,
    names: &[],
    cyclic: true,
};
const MONTH: Field = Field {
    name: "Month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    cyclic: true,
};
const DAY_OF_WEEK: Field = Field {
    name: "Day-of-week",
    min: 1,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    cyclic: true,
};
const YEAR: Field = Field {
    name: "Year",
    min: 1970,
    max: 2199,
    names: &[],
    cyclic: false,
};

const SYNTAX: &str = "cron(Minutes Hours Day-of-month Month Day-of-week Year)";

/// Parses a whole expression; the error is the constraint text of the refusal.
fn parse_cron(text: &str) -> Result<CronExpression, String> {
    let inner = text
        .strip_prefix("cron(")
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| format!("Member must be a cron expression of the form {SYNTAX}"))?;
    let fields: Vec<&str> = inner.split_whitespace().collect();
    let [minutes, hours, dom, month, dow, year] = fields[..] else {
        return Err(format!(
            "A cron expression has six fields, {SYNTAX}, but this one has {}",
            fields.len()
        ));
    };
    // Names and the letters L, W are read in any case, as Quartz reads them.
    let (dom, dow) = (dom.to_ascii_uppercase(), dow.to_ascii_uppercase());
    let days = match (dom == "?", dow == "?") {
        (false, true) => parse_day_of_month(&dom)?,
        (true, false) => parse_day_of_week(&dow)?,
        _ => {
            return Err(
                "Exactly one of Day-of-month and Day-of-week must be '?' (a value or '*' in \
                 one, '?' in the other)"
                    .into(),
            );
        }
    };
    let expression = CronExpression {
        text: text.to_owned(),
        minutes: parse_list(&MINUTES, minutes)?,
        hours: parse_list(&HOURS, hours)?,
        days,
        months: parse_list(&MONTH, month)?,
        years: parse_list(&YEAR, year)?,
    };
    Ok(expression)
}

fn parse_day_of_month(text: &str) -> Result<DayRule, String> {
    if !text.contains(['L', 'W']) {
        return parse_list(&DAY_OF_MONTH, text).map(DayRule::MonthDays);
    }
    match text {
        "L" => return Ok(DayRule::LastDay),
        "LW" => return Ok(DayRule::LastWeekday),
        _ => {}
    }
    if text.starts_with("L-") {
        return Err(format!(
            "Day-of-month '{text}': offsets from the last day (L-n) are not supported"
        ));
    }
    if let Some(n) = text.strip_suffix('W')
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        let n = value(&DAY_OF_MONTH, n)?;
        return Ok(DayRule::NearestWeekday(n));
    }
    Err(format!(
        "Day-of-month '{text}': L, LW and nW (n from 1 to 31) must each be the whole field; \
         lists, ranges and steps with them are not supported"
    ))
}

fn parse_day_of_week(text: &str) -> Result<DayRule, String> {
    // The W of WED is a name, not the wildcard.
    if text.replace("WED", "").contains('W') {
        return Err(format!(
            "Day-of-week '{text}': W is allowed in Day-of-month only"
        ));
    }
    if !text.contains(['L', '#']) {
        return parse_list(&DAY_OF_WEEK, text).map(DayRule::WeekDays);
    }
    let alone = !text.contains([',', '-', '/', '*']);
    if alone {
        if text == "L" {
            // The last day of the week: Saturday.
            let mut saturday = Bits::default();
            saturday.insert(DAY_OF_WEEK.max);
            return Ok(DayRule::WeekDays(saturday));
        }
        if let Some(day) = text.strip_suffix('L')
            && !day.contains(['L', '#'])
        {
            return Ok(DayRule::LastOfWeekDay(value(&DAY_OF_WEEK, day)?));
        }
        if let Some((day, k)) = text.split_once('#')
            && !day.contains('L')
        {
            let day = value(&DAY_OF_WEEK, day)?;
            return match k.as_bytes() {
                [c @ b'1'..=b'5'] => Ok(DayRule::NthWeekDay(day, u32::from(c - b'0'))),
                _ => Err(format!(
                    "Day-of-week '{text}': the number after '#' must be 1 to 5"
                )),
            };
        }
    }
    Err(format!(
        "Day-of-week '{text}': L, nL and n#k (n from 1 to 7 or SUN to SAT) must each be the \
         whole field; lists, ranges and steps with them are not supported"
    ))
}

/// A list of `*`, values, ranges and steps.
fn parse_list(field: &Field, text: &str) -> Result<Bits, String> {
    let mut bits = Bits::default();
    for item in text.split(',') {
        if item.is_empty() {
            return Err(format!("{} '{text}' has an empty list element", field.name));
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(parse_step(field, step)?)),
            None => (item, None),
        };
        let (start, end) = if range == "*" {
            (field.min, field.max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(field, a)?, value(field, b)?)
        } else {
            let a = value(field, range)?;
            // "a/s" runs from a to the end of the field.
            (a, if step.is_some() { field.max } else { a })
        };
        let step = step.unwrap_or(1);
        let span = field.max - field.min + 1;
        let stop = if end >= start {
            end
        } else if field.cyclic {
            end + span
        } else {
            return Err(format!(
                "{} range '{range}' ends before it starts",
                field.name
            ));
        };
        let mut v = start;
        while v <= stop {
            let wrapped = if v > field.max { v - span } else { v };
            bits.insert(wrapped - field_offset(field));
            v += step;
        }
    }
    Ok(bits)
}

/// Years are stored as offsets from 1970 so that they fit the 256 bits of [`Bits`].
fn field_offset(field: &Field) -> u32 {
    if field.min >= 1970 { field.min } else { 0 }
}

fn parse_step(field: &Field, text: &str) -> Result<u32, String> {
    let span = field.max - field.min + 1;
    match digits(text).and_then(|s| u32::try_from(s).ok()) {
        Some(s) if (1..=span).contains(&s) => Ok(s),
        _ => Err(format!(
            "{} step '/{text}' must be a number from 1 to {span}",
            field.name
        )),
    }
}

/// A number or, where the field has them, a three-letter name.
fn value(field: &Field, text: &str) -> Result<u32, String> {
    let parsed = match digits(text) {
        Some(v) => u32::try_from(v).ok(),
        None => field
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(text))
            .map(|i| field.min + i as u32),
    };
    match parsed {
        Some(v) if (field.min..=field.max).contains(&v) => Ok(v),
        _ => {
            let names = match field.names {
                [] => String::new(),
                names => format!(" or {}-{}", names[0], names[names.len() - 1]),
            };
            Err(format!(
                "{} value '{text}' is not one of {}-{}{names}",
                field.name, field.min, field.max
            ))
        }
    }
}

/// A string of ASCII digits (nothing else, not empty) as a number.
fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A set of numbers 0 to 255.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bits([u64; 4]);

impl Bits {
    fn insert(&mut self, v: u32) {
        self.0[(v / 64) as usize] |= 1 << (v % 64);
    }

    fn contains(self, v: u32) -> bool {
        v < 256 && self.0[(v / 64) as usize] & (1 << (v % 64)) != 0
    }

    /// The smallest member that is `v` or more.
    fn first_from(self, v: u32) -> Option<u32> {
        let mut word = (v / 64) as usize;
        if word >= self.0.len() {
            return None;
        }
        let mut bits = self.0[word] & (!0u64 << (v % 64));
        loop {
            if bits != 0 {
                return Some(word as u32 * 64 + bits.trailing_zeros());
            }
            word += 1;
            bits = *self.0.get(word)?;
        }
    }
}

// ---- calendar ---------------------------------------------------------------------

fn days_in_month(y: i64, m: i64) -> i64 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1)
}

/// Day of the week in AWS's numbering: 1 = Sunday ... 7 = Saturday.
fn weekday(epoch_day: i64) -> u32 {
    // 1970-01-01 was a Thursday (5).
    ((epoch_day + 4).rem_euclid(7) + 1) as u32
}

const SUNDAY: u32 = 1;
const SATURDAY: u32 = 7;

fn last_weekday_of_month(y: i64, m: i64) -> i64 {
    let last = days_in_month(y, m);
    match weekday(days_from_civil(y, m, last)) {
        SATURDAY => last - 1,
        SUNDAY => last - 2,
        _ => last,
    }
}

/// Quartz's `nW`: the Monday-to-Friday day nearest day n, within the month.
fn nearest_weekday(y: i64, m: i64, n: i64) -> Option<i64> {
    let last = days_in_month(y, m);
    if n > last {
        return None;
    }
    Some(match weekday(days_from_civil(y, m, n)) {
        SATURDAY if n == 1 => 3,
        SATURDAY => n - 1,
        SUNDAY if n == last => n - 2,
        SUNDAY => n + 1,
        _ => n,
    })
}

// ---- maintenance windows ----------------------------------------------------------

/// One of `schedulingConfig.maintenanceWindows`: a window opens at every time its cron
/// expression matches and stays open `duration_minutes` (the model allows 1 to 1430).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    pub start: CronExpression,
    pub duration_minutes: i64,
}

impl MaintenanceWindow {
    fn duration_ms(&self) -> i64 {
        self.duration_minutes.saturating_mul(MINUTE_MS)
    }
}

/// The open window `[start, end)` that contains `t`, if any: a window that opened
/// before `t` and has not closed yet counts, so each window looks back over its own
/// duration (at most 1430 minutes). When several occurrences contain `t` (overlapping
/// windows), the answer is their union: the earliest start and the latest end.
pub fn window_containing(
    windows: &[MaintenanceWindow],
    t: Timestamp,
) -> Option<(Timestamp, Timestamp)> {
    let mut found: Option<(Timestamp, Timestamp)> = None;
    for window in windows.iter().filter(|w| w.duration_minutes > 0) {
        // An occurrence starting at s contains t when t - duration < s <= t.
        let mut next = window
            .start
            .next_after(Timestamp(t.0.saturating_sub(window.duration_ms())));
        while let Some(start) = next.filter(|s| *s <= t) {
            let end = Timestamp(start.0.saturating_add(window.duration_ms()));
            found = Some(match found {
                None => (start, end),
                Some((s, e)) => (s.min(start), e.max(end)),
            });
            next = window.start.next_after(start);
        }
    }
    found
}

/// The first window start strictly after `t`, over all windows.
pub fn next_window_start(windows: &[MaintenanceWindow], t: Timestamp) -> Option<Timestamp> {
    windows.iter().filter_map(|w| w.start.next_after(t)).min()
}

/// The first `n` window starts at or after `t`, over all windows, ascending and each
/// once (DescribeJob's `scheduledJobRollouts` lists the next seven).
pub fn next_window_starts(windows: &[MaintenanceWindow], t: Timestamp, n: usize) -> Vec<Timestamp> {
    let mut starts = Vec::new();
    for window in windows {
        // Starts are whole minutes, so "after t - 1 ms" is "at or after t".
        let mut after = Timestamp(t.0.saturating_sub(1));
        for _ in 0..n {
            let Some(start) = window.start.next_after(after) else {
                break;
            };
            starts.push(start);
            after = start;
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts.truncate(n);
    starts
}

// ---- schedulingConfig.startTime / endTime ------------------------------------------

/// Reads `schedulingConfig.startTime` or `endTime`. AWS documents the format as a date
/// `YYYY-MM-DD` and a time `HH:MM` (its examples read `2023-03-02T20:00`); iotjobs
/// accepts that, optionally with seconds (`:SS`) and a trailing `Z`, always in UTC.
/// Anything else is refused naming `member`.
pub fn parse_schedule_time(text: &str, member: &str) -> Result<Timestamp, JobsError> {
    parse_date_time(text).ok_or_else(|| {
        JobsError::validation(format_args!(
            "Value '{text}' at '{member}' failed to satisfy constraint: Member must be a UTC \
             date and time of the form YYYY-MM-DDTHH:MM (seconds :SS and a trailing Z are \
             optional)"
        ))
    })
}

fn parse_date_time(text: &str) -> Option<Timestamp> {
    let s = text.strip_suffix('Z').unwrap_or(text);
    let b = s.as_bytes();
    let with_seconds = match b.len() {
        16 => false,
        19 => true,
        _ => return None,
    };
    let separators_ok = b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && (!with_seconds || b[16] == b':');
    if !separators_ok {
        return None;
    }
    // The separators are ASCII, so these byte offsets are character boundaries.
    let y = digits(&s[0..4])?;
    let m = digits(&s[5..7])?;
    let d = digits(&s[8..10])?;
    let hh = digits(&s[11..13])?;
    let mm = digits(&s[14..16])?;
    let ss = if with_seconds { digits(&s[17..19])? } else { 0 };
    let valid = (1..=12).contains(&m)
        && (1..=days_in_month(y, m)).contains(&d)
        && hh < 24
        && mm < 60
        && ss < 60;
    if !valid {
        return None;
    }
    let seconds = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(Timestamp::from_millis(seconds * 1000))
}

/// Writes `t` as `YYYY-MM-DDTHH:MM` (UTC; seconds dropped), the form of
/// `scheduledJobRollouts[].startTime`.
pub fn format_schedule_time(t: Timestamp) -> String {
    let minutes = t.millis().div_euclid(MINUTE_MS);
    let (y, m, d) = civil_from_days(minutes.div_euclid(MINUTES_PER_DAY));
    let minute_of_day = minutes.rem_euclid(MINUTES_PER_DAY);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMBER: &str = "schedulingConfig.maintenanceWindows.1.member.startTime";

    fn at(s: &str) -> Timestamp {
        parse_schedule_time(s, "test").unwrap()
    }

    fn cron(s: &str) -> CronExpression {
        CronExpression::parse(s, MEMBER).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// The next match after `from`, formatted.
    fn next(expr: &str, from: &str) -> Option<String> {
        cron(expr).next_after(at(from)).map(format_schedule_time)
    }

    fn refusal(s: &str) -> String {
        match CronExpression::parse(s, MEMBER) {
            Err(JobsError::InvalidRequest(m)) => m,
            other => panic!("{s}: expected InvalidRequest, got {other:?}"),
        }
    }

    fn window(expr: &str, duration_minutes: i64) -> MaintenanceWindow {
        MaintenanceWindow {
            start: cron(expr),
            duration_minutes,
        }
    }

    #[test]
    fn valid_expressions_parse_and_keep_their_text() {
        for s in [
            "cron(0 0 ? * MON *)",
            "cron(15 10 * * ? *)",
            "cron(0/15 * * JAN-MAR ? 2024-2030)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 8 1 * ? *)",
            "cron(5,35 14 * * ? *)",
            "cron(0 22-2 * NOV-FEB ? *)",
            "cron(*/10 */2 1-15/2 */3 ? 1970/5)",
            "cron(0 0 L * ? *)",
            "cron(0 0 LW * ? *)",
            "cron(0 0 15W * ? *)",
            "cron(0 0 ? * L *)",
            "cron(0 0 ? * 6L *)",
            "cron(0 0 ? * FRIL *)",
            "cron(0 0 ? * WED,wed-FRI *)",
            "cron(0 0 ? * WEDL *)",
            "cron(0 0 ? * WED#2 *)",
            "cron(0 0 ? * 3#2 *)",
            "cron(0 0 ? * fri#1 *)",
            "cron(0 0 ? jan sun *)",
            "cron(0  0 ? * *  2199)",
        ] {
            assert_eq!(cron(s).as_str(), s);
            assert_eq!(cron(s).to_string(), s);
        }
    }

    #[test]
    fn invalid_expressions_are_refused_naming_the_member() {
        for (s, why) in [
            ("0 0 * * ? *", "of the form cron("),
            ("cron(0 0 * * ? *", "of the form cron("),
            ("rate(5 minutes)", "of the form cron("),
            ("CRON(0 0 * * ? *)", "of the form cron("),
            ("cron(0 0 * * ?)", "six fields"),
            ("cron(0 0 0 * * ? *)", "six fields"),
            ("cron()", "six fields"),
            ("cron(60 0 * * ? *)", "Minutes value '60'"),
            ("cron(0 24 * * ? *)", "Hours value '24'"),
            ("cron(0 0 0 * ? *)", "Day-of-month value '0'"),
            ("cron(0 0 32 * ? *)", "Day-of-month value '32'"),
            ("cron(0 0 1 13 ? *)", "Month value '13'"),
            ("cron(0 0 1 JANUARY ? *)", "Month value 'JANUARY'"),
            ("cron(0 0 ? * 0 *)", "Day-of-week value '0'"),
            ("cron(0 0 ? * 8 *)", "Day-of-week value '8'"),
            ("cron(0 0 ? * SUNDAY *)", "Day-of-week value 'SUNDAY'"),
            ("cron(0 0 * * ? 1969)", "Year value '1969'"),
            ("cron(0 0 * * ? 2200)", "Year value '2200'"),
            ("cron(0 0 * * ? 2030-2025)", "ends before it starts"),
            (
                "cron(0 0 ? * ? *)",
                "Exactly one of Day-of-month and Day-of-week",
            ),
            (
                "cron(0 0 * * * *)",
                "Exactly one of Day-of-month and Day-of-week",
            ),
            (
                "cron(0 0 1 * MON *)",
                "Exactly one of Day-of-month and Day-of-week",
            ),
            ("cron(? 0 * * ? *)", "Minutes value '?'"),
            ("cron(0 0 * ? ? *)", "Month value '?'"),
            ("cron(0 0 * * ? ?)", "Year value '?'"),
            ("cron(0/0 0 * * ? *)", "step '/0'"),
            ("cron(0/61 0 * * ? *)", "step '/61'"),
            ("cron(0 0 1,,2 * ? *)", "empty list element"),
            ("cron(-1 0 * * ? *)", "Minutes value ''"),
            ("cron(0 0 1,L * ? *)", "not supported"),
            ("cron(0 0 L-3 * ? *)", "(L-n) are not supported"),
            ("cron(0 0 15W,20 * ? *)", "not supported"),
            ("cron(0 0 1-5W * ? *)", "not supported"),
            ("cron(0 0 W * ? *)", "must each be the whole field"),
            ("cron(0 0 32W * ? *)", "Day-of-month value '32'"),
            ("cron(0 0 ? * 3#1,6#3 *)", "not supported"),
            ("cron(0 0 ? * 2-6L *)", "not supported"),
            ("cron(0 0 ? * 3#6 *)", "after '#' must be 1 to 5"),
            ("cron(0 0 ? * 3#0 *)", "after '#' must be 1 to 5"),
            ("cron(0 0 ? * 3#01 *)", "after '#' must be 1 to 5"),
            ("cron(0 0 ? * 8#1 *)", "Day-of-week value '8'"),
            ("cron(0 0 ? * 2W *)", "W is allowed in Day-of-month only"),
            ("cron(0 0 ? * LW *)", "W is allowed in Day-of-month only"),
            ("cron(0 0 L * 1 *)", "Exactly one"),
            ("cron(0 0 1 L ? *)", "Month value 'L'"),
        ] {
            let message = refusal(s);
            let prefix = format!(
                "1 validation error detected: Value '{s}' at '{MEMBER}' failed to satisfy constraint: "
            );
            assert!(message.starts_with(&prefix), "{s}: {message}");
            assert!(message.contains(why), "{s}: expected {why:?} in {message}");
        }
    }

    #[test]
    fn next_after_is_strictly_after_at_minute_precision() {
        let e = "cron(15 10 * * ? *)";
        assert_eq!(
            next(e, "2024-05-01T09:00").as_deref(),
            Some("2024-05-01T10:15")
        );
        assert_eq!(
            next(e, "2024-05-01T10:14:59").as_deref(),
            Some("2024-05-01T10:15")
        );
        // A match at t itself is not after t.
        assert_eq!(
            next(e, "2024-05-01T10:15").as_deref(),
            Some("2024-05-02T10:15")
        );
        let t = cron(e).next_after(at("2024-05-01T10:14:30")).unwrap();
        assert_eq!(t.millis() % MINUTE_MS, 0);
        assert_eq!(
            cron(e).next_after(Timestamp(at("2024-05-01T10:15").0 - 1)),
            Some(at("2024-05-01T10:15"))
        );
        assert_eq!(
            cron(e).next_after(Timestamp(at("2024-05-01T10:15").0 + 1)),
            Some(at("2024-05-02T10:15"))
        );
    }

    #[test]
    fn next_after_crosses_month_and_year_boundaries() {
        assert_eq!(
            next("cron(0 0 1 * ? *)", "2024-01-31T12:00").as_deref(),
            Some("2024-02-01T00:00")
        );
        assert_eq!(
            next("cron(30 23 31 12 ? *)", "2024-12-31T23:30").as_deref(),
            Some("2025-12-31T23:30")
        );
        assert_eq!(
            next("cron(0 0 1 1 ? *)", "2024-12-31T23:59:59").as_deref(),
            Some("2025-01-01T00:00")
        );
        // The 31st skips the months that have 30 days.
        assert_eq!(
            next("cron(0 0 31 * ? *)", "2024-04-01T00:00").as_deref(),
            Some("2024-05-31T00:00")
        );
        // Hours that wrap past midnight, and months that wrap past December.
        assert_eq!(
            next("cron(0/20 22-1 * * ? *)", "2024-01-01T01:50").as_deref(),
            Some("2024-01-01T22:00")
        );
        assert_eq!(
            next("cron(0/20 22-1 * * ? *)", "2024-01-01T23:40").as_deref(),
            Some("2024-01-02T00:00")
        );
        assert_eq!(
            next("cron(0 12 1 NOV-FEB ? *)", "2024-02-02T00:00").as_deref(),
            Some("2024-11-01T12:00")
        );
        assert_eq!(
            next("cron(0 12 1 NOV-FEB ? *)", "2024-12-01T12:00").as_deref(),
            Some("2025-01-01T12:00")
        );
        // Only some years.
        assert_eq!(
            next("cron(0 0 1 1 ? 2027,2030)", "2024-06-01T00:00").as_deref(),
            Some("2027-01-01T00:00")
        );
        assert_eq!(
            next("cron(0 0 1 1 ? 2027,2030)", "2027-01-01T00:00").as_deref(),
            Some("2030-01-01T00:00")
        );
        assert_eq!(
            next("cron(0 0 1 1 ? 1970/10)", "2024-06-01T00:00").as_deref(),
            Some("2030-01-01T00:00")
        );
    }

    #[test]
    fn next_after_gives_up_on_years_past_or_far_ahead() {
        assert_eq!(next("cron(0 0 1 1 ? 2020)", "2024-01-01T00:00"), None);
        assert_eq!(next("cron(0 0 * * ? 2024)", "2024-12-31T23:59"), None);
        assert_eq!(next("cron(0 0 1 1 ? 2150)", "2024-01-01T00:00"), None);
        assert_eq!(next("cron(0 0 * * ? *)", "2199-12-31T00:00"), None);
        // A day that no month has.
        assert_eq!(next("cron(0 0 30 2 ? *)", "2024-01-01T00:00"), None);
        // Before 1970, the search starts in 1970.
        assert_eq!(
            next("cron(0 0 1 1 ? *)", "1969-06-01T00:00").as_deref(),
            Some("1970-01-01T00:00")
        );
    }

    #[test]
    fn february_29_waits_for_leap_years() {
        let e = "cron(0 12 29 2 ? *)";
        assert_eq!(
            next(e, "2023-03-01T00:00").as_deref(),
            Some("2024-02-29T12:00")
        );
        assert_eq!(
            next(e, "2024-03-01T00:00").as_deref(),
            Some("2028-02-29T12:00")
        );
        // 2100 is not a leap year: 2096, then 2104.
        assert_eq!(
            next(e, "2096-03-01T00:00").as_deref(),
            Some("2104-02-29T12:00")
        );
        assert_eq!(
            next("cron(0 0 L 2 ? *)", "2023-01-01T00:00").as_deref(),
            Some("2023-02-28T00:00")
        );
        assert_eq!(
            next("cron(0 0 L 2 ? *)", "2024-01-01T00:00").as_deref(),
            Some("2024-02-29T00:00")
        );
        assert_eq!(
            next("cron(0 0 L 2 ? *)", "2100-01-01T00:00").as_deref(),
            Some("2100-02-28T00:00")
        );
    }

    #[test]
    fn day_of_week_one_is_sunday() {
        // 2024-01-01 is a Monday; 2024-01-06 a Saturday, 2024-01-07 a Sunday.
        assert_eq!(
            next("cron(0 9 ? * 1 *)", "2024-01-01T00:00").as_deref(),
            Some("2024-01-07T09:00")
        );
        assert_eq!(
            next("cron(0 9 ? * SUN *)", "2024-01-01T00:00").as_deref(),
            Some("2024-01-07T09:00")
        );
        assert_eq!(
            next("cron(0 9 ? * 2 *)", "2024-01-01T10:00").as_deref(),
            Some("2024-01-08T09:00")
        );
        assert_eq!(
            next("cron(0 9 ? * 7 *)", "2024-01-01T00:00").as_deref(),
            Some("2024-01-06T09:00")
        );
        assert_eq!(
            next("cron(0 9 ? * SAT *)", "2024-01-01T00:00").as_deref(),
            Some("2024-01-06T09:00")
        );
        // L alone is the last day of the week, Saturday.
        assert_eq!(
            next("cron(0 9 ? * L *)", "2024-01-01T00:00").as_deref(),
            Some("2024-01-06T09:00")
        );
        // Weekdays skip the weekend.
        assert_eq!(
            next("cron(0 18 ? * MON-FRI *)", "2024-01-05T18:00").as_deref(),
            Some("2024-01-08T18:00")
        );
        // A range that wraps: Friday to Monday.
        assert_eq!(
            next("cron(0 0 ? * FRI-MON *)", "2024-01-02T00:00").as_deref(),
            Some("2024-01-05T00:00")
        );
        assert_eq!(
            next("cron(0 0 ? * 6-2 *)", "2024-01-07T00:00").as_deref(),
            Some("2024-01-08T00:00")
        );
        // Every day of the week.
        assert_eq!(
            next("cron(0 0 ? * * *)", "2024-01-01T00:00").as_deref(),
            Some("2024-01-02T00:00")
        );
    }

    #[test]
    fn last_day_and_last_weekday_of_the_month() {
        assert_eq!(
            next("cron(0 0 L * ? *)", "2024-02-01T00:00").as_deref(),
            Some("2024-02-29T00:00")
        );
        assert_eq!(
            next("cron(0 0 L * ? *)", "2024-04-30T00:00").as_deref(),
            Some("2024-05-31T00:00")
        );
        // August 2024 ends on a Saturday, June 2024 and March 2024 on a Sunday.
        assert_eq!(
            next("cron(0 0 LW * ? *)", "2024-08-01T00:00").as_deref(),
            Some("2024-08-30T00:00")
        );
        assert_eq!(
            next("cron(0 0 LW * ? *)", "2024-06-01T00:00").as_deref(),
            Some("2024-06-28T00:00")
        );
        assert_eq!(
            next("cron(0 0 LW * ? *)", "2024-03-01T00:00").as_deref(),
            Some("2024-03-29T00:00")
        );
        // May 2024 ends on a Friday.
        assert_eq!(
            next("cron(0 0 LW * ? *)", "2024-05-01T00:00").as_deref(),
            Some("2024-05-31T00:00")
        );
    }

    #[test]
    fn nearest_weekday_stays_in_the_month() {
        // 2024-06-15 is a Saturday: the Friday before.
        assert_eq!(
            next("cron(0 0 15W * ? *)", "2024-06-01T00:00").as_deref(),
            Some("2024-06-14T00:00")
        );
        // 2024-09-15 is a Sunday: the Monday after.
        assert_eq!(
            next("cron(0 0 15W * ? *)", "2024-09-01T00:00").as_deref(),
            Some("2024-09-16T00:00")
        );
        // A weekday is itself: 2024-05-15 is a Wednesday.
        assert_eq!(
            next("cron(0 0 15W * ? *)", "2024-05-01T00:00").as_deref(),
            Some("2024-05-15T00:00")
        );
        // 2024-06-01 is a Saturday: not May 31 but Monday June 3.
        assert_eq!(
            next("cron(0 0 1W * ? *)", "2024-05-31T12:00").as_deref(),
            Some("2024-06-03T00:00")
        );
        // 2024-03-31 is a Sunday: not April 1 but Friday March 29.
        assert_eq!(
            next("cron(0 0 31W * ? *)", "2024-03-01T00:00").as_deref(),
            Some("2024-03-29T00:00")
        );
        // April has no 31st: the next is May 31 2024, a Friday.
        assert_eq!(
            next("cron(0 0 31W * ? *)", "2024-04-01T00:00").as_deref(),
            Some("2024-05-31T00:00")
        );
    }

    #[test]
    fn last_and_nth_day_of_week_in_the_month() {
        // The last Friday: January 26 and February 23, 2024.
        assert_eq!(
            next("cron(0 0 ? * 6L *)", "2024-01-01T00:00").as_deref(),
            Some("2024-01-26T00:00")
        );
        assert_eq!(
            next("cron(0 0 ? * FRIL *)", "2024-01-26T00:00").as_deref(),
            Some("2024-02-23T00:00")
        );
        // The second Tuesday of January 2024 is the 9th.
        assert_eq!(
            next("cron(0 0 ? * 3#2 *)", "2024-01-01T00:00").as_deref(),
            Some("2024-01-09T00:00")
        );
        assert_eq!(
            next("cron(0 0 ? * TUE#1 *)", "2024-01-01T00:00").as_deref(),
            Some("2024-01-02T00:00")
        );
        // The fifth Monday: January 29; February and March 2024 have none; April 29.
        assert_eq!(
            next("cron(0 0 ? * 2#5 *)", "2024-01-01T00:00").as_deref(),
            Some("2024-01-29T00:00")
        );
        assert_eq!(
            next("cron(0 0 ? * 2#5 *)", "2024-01-30T00:00").as_deref(),
            Some("2024-04-29T00:00")
        );
    }

    #[test]
    fn a_window_contains_its_start_but_not_its_end() {
        let windows = [window("cron(0 2 * * ? *)", 60)];
        let inside = Some((at("2024-01-01T02:00"), at("2024-01-01T03:00")));
        assert_eq!(window_containing(&windows, at("2024-01-01T02:00")), inside);
        assert_eq!(window_containing(&windows, at("2024-01-01T02:30")), inside);
        assert_eq!(
            window_containing(&windows, Timestamp(at("2024-01-01T03:00").0 - 1)),
            inside
        );
        assert_eq!(window_containing(&windows, at("2024-01-01T03:00")), None);
        assert_eq!(
            window_containing(&windows, Timestamp(at("2024-01-01T02:00").0 - 1)),
            None
        );
        assert_eq!(window_containing(&[], at("2024-01-01T02:00")), None);
    }

    #[test]
    fn a_window_that_opened_yesterday_is_still_open() {
        let windows = [window("cron(30 23 * * ? *)", 120)];
        assert_eq!(
            window_containing(&windows, at("2024-01-02T00:30")),
            Some((at("2024-01-01T23:30"), at("2024-01-02T01:30")))
        );
        let longest = [window("cron(0 1 ? * MON *)", 1430)];
        // Monday 2024-01-01 01:00 plus 1430 minutes is Tuesday 00:50.
        assert_eq!(
            window_containing(&longest, at("2024-01-02T00:49")),
            Some((at("2024-01-01T01:00"), at("2024-01-02T00:50")))
        );
        assert_eq!(window_containing(&longest, at("2024-01-02T00:50")), None);
    }

    #[test]
    fn overlapping_windows_give_their_union() {
        let windows = [
            window("cron(0 2 * * ? *)", 60),
            window("cron(30 2 * * ? *)", 60),
        ];
        assert_eq!(
            window_containing(&windows, at("2024-01-01T02:45")),
            Some((at("2024-01-01T02:00"), at("2024-01-01T03:30")))
        );
        assert_eq!(
            window_containing(&windows, at("2024-01-01T03:15")),
            Some((at("2024-01-01T02:30"), at("2024-01-01T03:30")))
        );
        // Occurrences of one window that overlap each other.
        let every_ten = [window("cron(0/10 * * * ? *)", 30)];
        assert_eq!(
            window_containing(&every_ten, at("2024-01-01T05:05")),
            Some((at("2024-01-01T04:40"), at("2024-01-01T05:30")))
        );
    }

    #[test]
    fn next_window_start_is_strictly_after() {
        let windows = [
            window("cron(0 2 * * ? *)", 60),
            window("cron(0 12 ? * MON *)", 60),
        ];
        assert_eq!(
            next_window_start(&windows, at("2024-01-01T02:00")),
            Some(at("2024-01-01T12:00"))
        );
        assert_eq!(
            next_window_start(&windows, at("2024-01-01T12:00")),
            Some(at("2024-01-02T02:00"))
        );
        assert_eq!(
            next_window_start(&windows, at("2024-01-01T01:59")),
            Some(at("2024-01-01T02:00"))
        );
        assert_eq!(next_window_start(&[], at("2024-01-01T00:00")), None);
        let past = [window("cron(0 0 1 1 ? 2020)", 60)];
        assert_eq!(next_window_start(&past, at("2024-01-01T00:00")), None);
    }

    #[test]
    fn next_window_starts_merges_windows_in_order() {
        // 2024-01-01 is a Monday.
        let windows = [
            window("cron(0 12 * * ? *)", 60),
            window("cron(0 0 ? * MON *)", 60),
        ];
        let starts: Vec<String> = next_window_starts(&windows, at("2024-01-01T00:00"), 7)
            .into_iter()
            .map(format_schedule_time)
            .collect();
        assert_eq!(
            starts,
            [
                "2024-01-01T00:00", // at t: included
                "2024-01-01T12:00",
                "2024-01-02T12:00",
                "2024-01-03T12:00",
                "2024-01-04T12:00",
                "2024-01-05T12:00",
                "2024-01-06T12:00",
            ]
        );
        let week_later = next_window_starts(&windows, at("2024-01-07T12:00:01"), 3);
        assert_eq!(
            week_later,
            [
                at("2024-01-08T00:00"),
                at("2024-01-08T12:00"),
                at("2024-01-09T12:00")
            ]
        );
        // The same start from two windows is listed once.
        let twice = [
            window("cron(0 12 * * ? *)", 60),
            window("cron(0 12 ? * * *)", 30),
        ];
        assert_eq!(
            next_window_starts(&twice, at("2024-01-01T00:00"), 3),
            [
                at("2024-01-01T12:00"),
                at("2024-01-02T12:00"),
                at("2024-01-03T12:00")
            ]
        );
        assert!(next_window_starts(&windows, at("2024-01-01T00:00"), 0).is_empty());
        // Fewer than asked when the windows end.
        let once = [window("cron(0 0 1 1 ? 2025)", 60)];
        assert_eq!(
            next_window_starts(&once, at("2024-01-01T00:00"), 7),
            [at("2025-01-01T00:00")]
        );
    }

    #[test]
    fn schedule_times_parse_and_format() {
        assert_eq!(at("2023-03-02T20:00"), Timestamp(1_677_787_200_000));
        assert_eq!(at("2023-03-02T20:00Z"), Timestamp(1_677_787_200_000));
        assert_eq!(at("2023-03-02T20:00:30"), Timestamp(1_677_787_230_000));
        assert_eq!(at("2023-03-02T20:00:30Z"), Timestamp(1_677_787_230_000));
        assert_eq!(at("1970-01-01T00:00"), Timestamp(0));
        assert_eq!(
            at("2024-02-29T23:59:59"),
            Timestamp(at("2024-03-01T00:00").0 - 1000)
        );
        assert_eq!(
            format_schedule_time(Timestamp(1_677_787_200_000)),
            "2023-03-02T20:00"
        );
        // Seconds are dropped, not rounded.
        assert_eq!(
            format_schedule_time(Timestamp(1_677_787_259_999)),
            "2023-03-02T20:00"
        );
        for s in [
            "2023-03-02T20:00",
            "2024-02-29T00:00",
            "1999-12-31T23:59",
            "2199-12-31T23:59",
        ] {
            assert_eq!(format_schedule_time(at(s)), s);
        }
        for minutes in [0i64, 1, 59, 1439, 1440, 27_000_000, 123_456_789] {
            let t = Timestamp(minutes * MINUTE_MS);
            assert_eq!(at(&format_schedule_time(t)), t);
        }
    }

    #[test]
    fn invalid_schedule_times_are_refused_naming_the_member() {
        for s in [
            "",
            "2023-03-02",
            "2023-03-02 20:00",
            "2023-03-02t20:00",
            "2023-3-02T20:00",
            "2023-03-02T20:00:00.000",
            "2023-03-02T20:00+01:00",
            "2023-03-02T20:00ZZ",
            "2023-03-02T20:0Z",
            "2023-03-02T20",
            "+023-03-02T20:00",
            "2023-00-02T20:00",
            "2023-13-02T20:00",
            "2023-02-29T00:00",
            "2023-04-31T00:00",
            "2023-03-00T00:00",
            "2023-03-02T24:00",
            "2023-03-02T20:60",
            "2023-03-02T20:00:60",
            "2023-03-02T2a:00",
            "２０２３-03-02T20:00",
            "2023-03-02T20:00\u{e9}",
        ] {
            match parse_schedule_time(s, "schedulingConfig.endTime") {
                Err(JobsError::InvalidRequest(m)) => {
                    let prefix = format!(
                        "1 validation error detected: Value '{s}' at 'schedulingConfig.endTime' failed to satisfy constraint: "
                    );
                    assert!(m.starts_with(&prefix), "{s}: {m}");
                }
                other => panic!("{s}: expected InvalidRequest, got {other:?}"),
            }
        }
    }

    #[test]
    fn next_after_walks_by_days_not_minutes() {
        // Eight years of days with no match: a few thousand steps, done many times over
        // well within a test's time.
        let never = cron("cron(0 0 30 2 ? *)");
        let start = std::time::Instant::now();
        for i in 0..200 {
            assert_eq!(never.next_after(Timestamp(i * MINUTE_MS)), None);
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
