//! Business time: a calendar's working hours by weekday and the days off, and the arithmetic
//! service levels need on them — the moment a number of working seconds after a start falls,
//! and the working seconds between two moments. Pure: no I/O, the business's offset given.
//!
//! A week starts on Saturday, as it does in Iran; hours are local wall-clock times, `24:00`
//! being the end of a day. Iran keeps no daylight saving time (since 2022), so one offset holds
//! all year.

use peyvand_records::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Date, Duration, OffsetDateTime, UtcOffset, Weekday};

/// The weekdays from Saturday, as working hours name them.
pub const DAYS: [&str; 7] = ["saturday", "sunday", "monday", "tuesday", "wednesday", "thursday", "friday"];
/// The longest span the clock looks through for working time (a calendar of one working hour a
/// year still ends; an empty one is refused before it is used).
const HORIZON_DAYS: i64 = 3 * 366;

/// One stretch of working time on a weekday, `HH:MM` to `HH:MM`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    /// `saturday` … `friday`.
    pub day: String,
    pub from: String,
    pub to: String,
}

/// A calendar's working week.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    pub shifts: Vec<Shift>,
}

impl Hours {
    /// Saturday to Wednesday 08:00–16:00, Thursday 08:00–13:00, Friday off.
    pub fn iranian_office() -> Hours {
        let mut shifts: Vec<Shift> =
            DAYS[..5].iter().map(|d| Shift { day: d.to_string(), from: "08:00".into(), to: "16:00".into() }).collect();
        shifts.push(Shift { day: "thursday".into(), from: "08:00".into(), to: "13:00".into() });
        Hours { shifts }
    }

    /// Every hour of every day (a desk that never closes).
    pub fn always() -> Hours {
        Hours {
            shifts: DAYS
                .iter()
                .map(|d| Shift { day: d.to_string(), from: "00:00".into(), to: "24:00".into() })
                .collect(),
        }
    }

    /// The week as minutes from midnight per weekday (Saturday first), sorted; or every problem,
    /// naming the shift (`shifts.2.to`): an unknown day, a time that is not one, a shift that ends
    /// before it starts or overlaps another, a week without working time.
    pub fn week(&self) -> Result<Week, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut days: [Vec<(u32, u32)>; 7] = Default::default();
        for (i, s) in self.shifts.iter().enumerate() {
            let name = |part: &str| format!("shifts.{i}.{part}");
            let day = DAYS.iter().position(|d| *d == s.day);
            if day.is_none() {
                errors.push(FieldError::with(&name("day"), "invalid_option", json!({ "allowed": DAYS })));
            }
            let (from, to) = (minutes(&s.from), minutes(&s.to));
            if from.is_none() {
                errors.push(FieldError::new(&name("from"), "invalid_time"));
            }
            if to.is_none() {
                errors.push(FieldError::new(&name("to"), "invalid_time"));
            }
            if let (Some(day), Some(from), Some(to)) = (day, from, to) {
                if to <= from {
                    errors.push(FieldError::new(&name("to"), "ends_before_start"));
                } else if days[day].iter().any(|&(f, t)| from < t && f < to) {
                    errors.push(FieldError::new(&name("from"), "overlapping_hours"));
                } else {
                    days[day].push((from, to));
                }
            }
        }
        if errors.is_empty() && days.iter().all(Vec::is_empty) {
            errors.push(FieldError::new("shifts", "no_working_hours"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        for d in &mut days {
            d.sort_unstable();
        }
        Ok(Week { days })
    }
}

/// `HH:MM` as minutes from midnight (`24:00` the end of the day).
fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let total = h * 60 + m;
    (m < 60 && total <= 24 * 60).then_some(total)
}

/// A checked working week: per weekday from Saturday, its shifts in minutes, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Week {
    days: [Vec<(u32, u32)>; 7],
}

/// The weekday's place in a week that starts on Saturday.
pub fn day_index(d: Weekday) -> usize {
    (d.number_days_from_monday() as usize + 2) % 7
}

/// Days off: inclusive ranges of dates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaysOff {
    pub from: Date,
    pub to: Date,
}

/// Working time: a week, the days off and where the business is.
#[derive(Clone, Debug)]
pub struct Clock {
    week: Week,
    off: Vec<DaysOff>,
    offset: UtcOffset,
}

impl Clock {
    pub fn new(week: Week, mut off: Vec<DaysOff>, offset: UtcOffset) -> Clock {
        off.sort_by_key(|d| d.from);
        Clock { week, off, offset }
    }

    /// The shifts worked on a local date (none on a day off).
    fn shifts(&self, day: Date) -> &[(u32, u32)] {
        if self.off.iter().any(|o| o.from <= day && day <= o.to) {
            return &[];
        }
        &self.week.days[day_index(day.weekday())]
    }

    fn at(&self, day: Date, second: i64) -> OffsetDateTime {
        day.midnight().assume_offset(self.offset) + Duration::seconds(second)
    }

    /// The moment `seconds` of working time after `start` (at `start` itself for none). Past
    /// the horizon (a calendar nearly all days off) it answers the horizon's end.
    pub fn add(&self, start: OffsetDateTime, seconds: i64) -> OffsetDateTime {
        if seconds <= 0 {
            return start;
        }
        let local = start.to_offset(self.offset);
        let mut day = local.date();
        let mut from = i64::from(local.time().hour()) * 3600
            + i64::from(local.time().minute()) * 60
            + i64::from(local.time().second());
        let mut left = seconds;
        for _ in 0..HORIZON_DAYS {
            for &(s, e) in self.shifts(day) {
                let (s, e) = (i64::from(s) * 60, i64::from(e) * 60);
                let begin = s.max(from);
                if begin >= e {
                    continue;
                }
                if left <= e - begin {
                    return self.at(day, begin + left);
                }
                left -= e - begin;
            }
            from = 0;
            match day.next_day() {
                Some(d) => day = d,
                None => break,
            }
        }
        self.at(day, 0)
    }

    /// The working seconds from `a` to `b` (negative when `b` is before `a`).
    pub fn between(&self, a: OffsetDateTime, b: OffsetDateTime) -> i64 {
        if b < a {
            return -self.between(b, a);
        }
        let (a, b) = (a.to_offset(self.offset), b.to_offset(self.offset));
        let second = |t: OffsetDateTime| {
            i64::from(t.time().hour()) * 3600 + i64::from(t.time().minute()) * 60 + i64::from(t.time().second())
        };
        let mut day = a.date();
        let mut total = 0;
        while day <= b.date() {
            let from = if day == a.date() { second(a) } else { 0 };
            let to = if day == b.date() { second(b) } else { 24 * 3600 };
            for &(s, e) in self.shifts(day) {
                let (s, e) = (i64::from(s) * 60, i64::from(e) * 60);
                total += (e.min(to) - s.max(from)).max(0);
            }
            match day.next_day() {
                Some(d) => day = d,
                None => break,
            }
        }
        total
    }
}

/// Days off that overlap one another, as errors naming the later one (`holidays.3.from`).
pub fn overlaps(list: &[DaysOff]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, d) in list.iter().enumerate() {
        if d.to < d.from {
            errors.push(FieldError::new(&format!("holidays.{i}.to"), "ends_before_start"));
            continue;
        }
        if let Some(j) = list[..i].iter().position(|o| o.from <= d.to && d.from <= o.to && o.from <= o.to) {
            errors.push(FieldError::with(&format!("holidays.{i}.from"), "overlapping_holidays", json!({ "other": j })));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime, offset};

    fn office(off: Vec<DaysOff>) -> Clock {
        Clock::new(Hours::iranian_office().week().expect("a week"), off, offset!(+03:30))
    }

    #[test]
    fn the_week_starts_on_saturday() {
        assert_eq!(day_index(Weekday::Saturday), 0);
        assert_eq!(day_index(Weekday::Friday), 6);
        assert_eq!(day_index(Weekday::Wednesday), 4);
    }

    #[test]
    fn hours_that_cannot_be_worked_are_refused_by_shift() {
        let bad = Hours {
            shifts: vec![
                Shift { day: "saturday".into(), from: "09:00".into(), to: "08:00".into() },
                Shift { day: "caturday".into(), from: "09:00".into(), to: "10:00".into() },
                Shift { day: "sunday".into(), from: "9".into(), to: "25:00".into() },
                Shift { day: "monday".into(), from: "08:00".into(), to: "12:00".into() },
                Shift { day: "monday".into(), from: "11:00".into(), to: "14:00".into() },
            ],
        };
        let codes: Vec<(String, &str)> =
            bad.week().expect_err("refused").into_iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            codes,
            [
                ("shifts.0.to".to_string(), "ends_before_start"),
                ("shifts.1.day".to_string(), "invalid_option"),
                ("shifts.2.from".to_string(), "invalid_time"),
                ("shifts.2.to".to_string(), "invalid_time"),
                ("shifts.4.from".to_string(), "overlapping_hours"),
            ]
        );
        let none = Hours { shifts: vec![] }.week().expect_err("refused");
        assert_eq!(none[0].code, "no_working_hours");
        assert!(Hours::always().week().is_ok());
    }

    #[test]
    fn working_time_skips_the_evening_friday_and_days_off() {
        let clock = office(vec![]);
        // Wednesday 15:00 in Tehran (11:30 UTC); 8 working hours: one on Wednesday, five on
        // the short Thursday, Friday off, two on Saturday: Saturday 10:00 (06:30 UTC).
        let wed = datetime!(2026-12-02 11:30 UTC);
        assert_eq!(wed.weekday(), Weekday::Wednesday);
        assert_eq!(clock.add(wed, 8 * 3600), datetime!(2026-12-05 06:30 UTC));
        assert_eq!(clock.between(wed, datetime!(2026-12-05 06:30 UTC)), 8 * 3600);
        assert_eq!(clock.between(datetime!(2026-12-05 06:30 UTC), wed), -8 * 3600);
        // A day off on Saturday moves it to Sunday.
        let holiday = office(vec![DaysOff { from: date!(2026 - 12 - 05), to: date!(2026 - 12 - 05) }]);
        assert_eq!(holiday.add(wed, 8 * 3600), datetime!(2026-12-06 06:30 UTC));
        // Started at night, the clock starts with the morning; ends exactly at a shift's end.
        let night = datetime!(2026-12-05 19:00 UTC); // Saturday 22:30
        assert_eq!(clock.add(night, 8 * 3600), datetime!(2026-12-06 12:30 UTC)); // Sunday 16:00
        assert_eq!(clock.between(night, datetime!(2026-12-06 04:30 UTC)), 0); // to Sunday 08:00
        assert_eq!(clock.add(night, 0), night);
        // Around the clock, working time is time.
        let always = Clock::new(Hours::always().week().expect("a week"), vec![], offset!(+03:30));
        assert_eq!(always.add(night, 3 * 86_400 + 5), night + Duration::seconds(3 * 86_400 + 5));
        assert_eq!(always.between(night, night + Duration::hours(50)), 50 * 3600);
    }

    #[test]
    fn a_calendar_all_days_off_still_ends() {
        let off = office(vec![DaysOff { from: date!(2026 - 01 - 01), to: date!(2032 - 01 - 01) }]);
        let start = datetime!(2026-12-02 11:30 UTC);
        assert!(off.add(start, 3600) > start + Duration::days(1000));
    }

    #[test]
    fn overlapping_days_off_are_named() {
        let list = vec![
            DaysOff { from: date!(2026 - 03 - 21), to: date!(2026 - 03 - 24) },
            DaysOff { from: date!(2026 - 04 - 01), to: date!(2026 - 04 - 02) },
            DaysOff { from: date!(2026 - 03 - 24), to: date!(2026 - 03 - 24) },
            DaysOff { from: date!(2026 - 05 - 02), to: date!(2026 - 05 - 01) },
        ];
        let codes: Vec<(String, &str)> = overlaps(&list).into_iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            codes,
            [
                ("holidays.2.from".to_string(), "overlapping_holidays"),
                ("holidays.3.to".to_string(), "ends_before_start")
            ]
        );
    }
}
