//! A task's recurrence: an RFC 5545 rule (`FREQ=WEEKLY;BYDAY=SA,MO`, `FREQ=MONTHLY;BYMONTHDAY=1;
//! COUNT=12`), read by the `rrule` crate. One instance is open at a time: when it is done, the
//! next is made (`tasks::TaskRules`), so a rule without an end never makes more than one task
//! ahead. The rule runs on the business's wall clock (its fixed offset from UTC, as everywhere in
//! Peyvand): "every Saturday at 10" stays at 10.

use rrule::{Frequency, RRule, Tz, Unvalidated};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Most instances a rule may count.
pub const MAX_COUNT: u32 = 1000;
/// Most instances passed over looking for the next (a task done long after its time).
const MAX_STEPS: usize = 10_000;

/// Why a rule is refused (a field error's code).
pub type Refusal = &'static str;

/// A rule as written, checked for the task due at `due`: a daily, weekly, monthly or yearly one
/// with at most [`MAX_COUNT`] instances; errors are `invalid_recurrence`, `recurrence_too_often`
/// and `recurrence_too_long`.
pub fn check(rule: &str, due: OffsetDateTime, offset: UtcOffset) -> Result<(), Refusal> {
    let parsed = parse(rule)?;
    if !matches!(parsed.get_freq(), Frequency::Daily | Frequency::Weekly | Frequency::Monthly | Frequency::Yearly) {
        return Err("recurrence_too_often");
    }
    if parsed.get_count().is_some_and(|c| c == 0 || c > MAX_COUNT) {
        return Err("recurrence_too_long");
    }
    parsed.build(floating(due, offset)).map(|_| ()).map_err(|_| "invalid_recurrence")
}

fn parse(rule: &str) -> Result<RRule<Unvalidated>, Refusal> {
    let rule = rule.trim();
    let rule = rule.strip_prefix("RRULE:").unwrap_or(rule);
    // One rule, its own parts only: a DTSTART comes from the task's due time.
    if rule.is_empty() || rule.len() > 300 || rule.contains(['\n', '\r', ':']) {
        return Err("invalid_recurrence");
    }
    rule.parse::<RRule<Unvalidated>>().map_err(|_| "invalid_recurrence")
}

/// The wall-clock time at `offset`, written as if it were UTC (the rule counts in wall time).
fn floating(t: OffsetDateTime, offset: UtcOffset) -> chrono::DateTime<Tz> {
    use chrono::TimeZone;
    let local = t.to_offset(offset);
    let wall = PrimitiveDateTime::new(local.date(), local.time()).assume_utc().unix_timestamp();
    Tz::UTC.timestamp_opt(wall, 0).single().unwrap_or_else(|| Tz::UTC.timestamp_opt(0, 0).unwrap())
}

/// Back from wall-clock time to the instant it is at `offset`.
fn instant(t: &chrono::DateTime<Tz>, offset: UtcOffset) -> Option<OffsetDateTime> {
    let wall = OffsetDateTime::from_unix_timestamp(t.timestamp()).ok()?;
    Some(PrimitiveDateTime::new(wall.date(), wall.time()).assume_offset(offset))
}

/// The instance after the one due at `due`, not before `not_before` (a task done late does not
/// make instances already past), and the rule it carries (its count less the instances used);
/// none when the series has ended.
pub fn next(
    rule: &str,
    due: OffsetDateTime,
    not_before: OffsetDateTime,
    offset: UtcOffset,
) -> Option<(OffsetDateTime, String)> {
    let parsed = parse(rule).ok()?;
    let set = parsed.clone().build(floating(due, offset)).ok()?;
    let threshold = due.max(not_before);
    let mut used = 0u32;
    for occurrence in set.into_iter().take(MAX_STEPS) {
        let at = instant(&occurrence, offset)?;
        if at <= threshold {
            used += 1;
            continue;
        }
        let rule = match parsed.get_count() {
            Some(count) => parsed.clone().count(count.saturating_sub(used.max(1))).to_string(),
            None => parsed.to_string(),
        };
        return Some((at, rule));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    const TEHRAN: UtcOffset = offset!(+03:30);

    #[test]
    fn rules_are_checked() {
        let due = datetime!(2026-12-05 06:30 UTC); // Saturday 10:00 in Tehran
        assert_eq!(check("FREQ=WEEKLY;BYDAY=SA,MO", due, TEHRAN), Ok(()));
        assert_eq!(check("RRULE:FREQ=MONTHLY;BYMONTHDAY=1;COUNT=12", due, TEHRAN), Ok(()));
        assert_eq!(check("FREQ=HOURLY", due, TEHRAN), Err("recurrence_too_often"));
        assert_eq!(check("FREQ=DAILY;COUNT=5000", due, TEHRAN), Err("recurrence_too_long"));
        for bad in ["", "every day", "FREQ=DAILY\nDTSTART:20260101T000000Z", "FREQ=WEEKLY;BYDAY=XX"] {
            assert_eq!(check(bad, due, TEHRAN), Err("invalid_recurrence"), "{bad:?}");
        }
    }

    #[test]
    fn the_next_instance_keeps_the_wall_clock_and_the_count() {
        let sat = datetime!(2026-12-05 06:30 UTC); // Saturday 10:00 in Tehran
        // Weekly on Saturday and Monday: Monday 10:00 Tehran next.
        let (at, rule) = next("FREQ=WEEKLY;BYDAY=SA,MO", sat, sat, TEHRAN).expect("a next");
        assert_eq!(at, datetime!(2026-12-07 06:30 UTC));
        assert_eq!(rule, "FREQ=WEEKLY;BYDAY=SA,MO");
        // Daily, three in all: two left after the first, none after the third.
        let (at, rule) = next("FREQ=DAILY;COUNT=3", sat, sat, TEHRAN).expect("a second");
        assert_eq!((at, rule.as_str()), (datetime!(2026-12-06 06:30 UTC), "FREQ=DAILY;COUNT=2"));
        let (_, rule) = next(&rule, at, at, TEHRAN).expect("a third");
        assert_eq!(rule, "FREQ=DAILY;COUNT=1");
        assert_eq!(next(&rule, at + time::Duration::days(1), at, TEHRAN), None, "the series ended");
        // Done ten days late: the next is the first one still ahead, and the count says so.
        let late = sat + time::Duration::days(10);
        let (at, rule) = next("FREQ=DAILY;COUNT=30", sat, late, TEHRAN).expect("ahead");
        assert_eq!((at, rule.as_str()), (datetime!(2026-12-16 06:30 UTC), "FREQ=DAILY;COUNT=19"));
        // Monthly on the 31st skips the months without one.
        let jan31 = datetime!(2027-01-31 06:30 UTC);
        let (at, _) = next("FREQ=MONTHLY;BYMONTHDAY=31", jan31, jan31, TEHRAN).expect("march");
        assert_eq!(at, datetime!(2027-03-31 06:30 UTC));
    }
}
