//! Aggregates for dashboards and reports: count records, and sum, average, take the least or
//! greatest, or count the distinct values of fields, grouped by up to three fields (a date or
//! instant by day, week, month, quarter or year, in the Gregorian or the Jalali calendar). Parsed
//! and checked against the object's metadata here; the store runs them.
//!
//! Text form (query parameters of the API): `group=kind,occurred_at:month`, `sum=amount,score`,
//! `measure=avg:amount,distinct:contact` and `calendar=jalali`.
//!
//! A Gregorian day, month or year is the leading part of the stored text (UTC for instants), so
//! rollups answer it; every other bucket (weeks, quarters, Jalali months and years) is cut at the
//! business's local midnight by the store, from [`breakpoints`].

use crate::filter::{FieldRef, resolve};
use crate::meta::{FieldType, ObjectDef, Storage};
use crate::value::FieldError;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month, Weekday};

/// Most grouping fields in one aggregate.
pub const MAX_GROUPS: usize = 3;
/// Most summed fields in one aggregate.
pub const MAX_SUMS: usize = 5;
/// Most other measures in one aggregate.
pub const MAX_MEASURES: usize = 6;
/// Most buckets one date grouping may span (a century of months; ten years of days).
pub const MAX_BUCKETS: usize = 4_000;

/// How a date or instant is grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

/// The calendar months, quarters and years follow (weeks start on Saturday in the Jalali
/// calendar and on Monday in the Gregorian).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Calendar {
    #[default]
    Gregorian,
    Jalali,
}

impl Calendar {
    /// `gregorian` or `jalali` (empty is Gregorian).
    pub fn parse(text: &str) -> Result<Calendar, FieldError> {
        match text {
            "" | "gregorian" => Ok(Calendar::Gregorian),
            "jalali" => Ok(Calendar::Jalali),
            _ => Err(FieldError::new("calendar", "invalid_calendar")),
        }
    }

    fn week_start(self) -> Weekday {
        match self {
            Calendar::Gregorian => Weekday::Monday,
            Calendar::Jalali => Weekday::Saturday,
        }
    }
}

impl Bucket {
    /// Characters of the stored `YYYY-MM-DD…` text that make the bucket, for the Gregorian day,
    /// month and year; `None` for a bucket the store cuts at breakpoints.
    pub fn prefix_len(self) -> Option<u32> {
        match self {
            Bucket::Day => Some(10),
            Bucket::Month => Some(7),
            Bucket::Year => Some(4),
            Bucket::Week | Bucket::Quarter => None,
        }
    }

    /// The length of the stored text's prefix that makes this bucket in `calendar`, if one does
    /// (a day is the same day in both calendars).
    pub fn prefix_in(self, calendar: Calendar) -> Option<u32> {
        match (self, calendar) {
            (Bucket::Day, _) | (_, Calendar::Gregorian) => self.prefix_len(),
            _ => None,
        }
    }

    pub fn parse(text: &str) -> Option<Bucket> {
        match text {
            "day" => Some(Bucket::Day),
            "week" => Some(Bucket::Week),
            "month" => Some(Bucket::Month),
            "quarter" => Some(Bucket::Quarter),
            "year" => Some(Bucket::Year),
            _ => None,
        }
    }

    /// The first day of the bucket that holds `day`.
    pub fn start(self, calendar: Calendar, day: Date) -> Date {
        match self {
            Bucket::Day => day,
            Bucket::Week => {
                let back =
                    (day.weekday().number_days_from_monday() + 7 - calendar.week_start().number_days_from_monday()) % 7;
                day - Duration::days(i64::from(back))
            }
            Bucket::Month | Bucket::Quarter | Bucket::Year => {
                let (y, m) = year_month(calendar, day);
                let m = match self {
                    Bucket::Month => m,
                    Bucket::Quarter => (m - 1) / 3 * 3 + 1,
                    _ => 1,
                };
                first_of(calendar, y, m).unwrap_or(day)
            }
        }
    }

    /// The first day of the bucket after the one starting on `start`.
    pub fn next(self, calendar: Calendar, start: Date) -> Date {
        let months = match self {
            Bucket::Day => return start + Duration::days(1),
            Bucket::Week => return start + Duration::days(7),
            Bucket::Month => 1,
            Bucket::Quarter => 3,
            Bucket::Year => 12,
        };
        let (y, m) = year_month(calendar, start);
        let index = y * 12 + i32::from(m) - 1 + months;
        first_of(calendar, index.div_euclid(12), (index.rem_euclid(12) + 1) as u8)
            .unwrap_or(start + Duration::days(366))
    }

    /// The key of the bucket that holds `day`: `2026-12-05` (a day, or a week by its first day),
    /// `2026-12` or `1405-09` (a month), `2026-Q4` or `1405-Q3` (a quarter), `2026` or `1405`.
    pub fn key(self, calendar: Calendar, day: Date) -> String {
        match self {
            Bucket::Day | Bucket::Week => crate::value::format_date(self.start(calendar, day)),
            Bucket::Month | Bucket::Quarter | Bucket::Year => {
                let (y, m) = year_month(calendar, day);
                match self {
                    Bucket::Month => format!("{y:04}-{m:02}"),
                    Bucket::Quarter => format!("{y:04}-Q{}", (m - 1) / 3 + 1),
                    _ => format!("{y:04}"),
                }
            }
        }
    }
}

/// The year and month of `day` in `calendar`.
fn year_month(calendar: Calendar, day: Date) -> (i32, u8) {
    match calendar {
        Calendar::Gregorian => (day.year(), u8::from(day.month())),
        Calendar::Jalali => crate::jalali::to_jalali(day).map(|(y, m, _)| (y, m)).unwrap_or((day.year(), 1)),
    }
}

/// The first day of month `m` of year `y` in `calendar`.
fn first_of(calendar: Calendar, y: i32, m: u8) -> Option<Date> {
    match calendar {
        Calendar::Gregorian => Date::from_calendar_date(y, Month::try_from(m).ok()?, 1).ok(),
        Calendar::Jalali => crate::jalali::from_jalali(y, m, 1),
    }
}

/// The first day of the bucket whose key is `key` (the inverse of [`Bucket::key`]).
pub fn key_start(bucket: Bucket, calendar: Calendar, key: &str) -> Option<Date> {
    match bucket {
        Bucket::Day | Bucket::Week => crate::value::parse_date(key),
        Bucket::Month => {
            let (y, m) = key.split_once('-')?;
            first_of(calendar, y.parse().ok()?, m.parse().ok()?)
        }
        Bucket::Quarter => {
            let (y, q) = key.split_once("-Q")?;
            let q: u8 = q.parse().ok()?;
            if !(1..=4).contains(&q) {
                return None;
            }
            first_of(calendar, y.parse().ok()?, (q - 1) * 3 + 1)
        }
        Bucket::Year => first_of(calendar, key.parse().ok()?, 1),
    }
}

/// The buckets that cover `from..=to`, in order: each one's first day and key. `None` when
/// there would be more than [`MAX_BUCKETS`].
pub fn breakpoints(bucket: Bucket, calendar: Calendar, from: Date, to: Date) -> Option<Vec<(Date, String)>> {
    let mut out = Vec::new();
    let mut start = bucket.start(calendar, from);
    while start <= to {
        if out.len() == MAX_BUCKETS {
            return None;
        }
        out.push((start, bucket.key(calendar, start)));
        start = bucket.next(calendar, start);
    }
    Some(out)
}

/// A bucket's key as people read it: `آذر ۱۴۰۵` or `Dec 2026`, `فصل ۳ ۱۴۰۵` or `Q4 2026`, a
/// day or a week's first day as a short date. Anything else is shown as it is.
pub fn bucket_label(lang: &str, bucket: Bucket, calendar: Calendar, key: &str) -> String {
    let fa = lang == "fa";
    let digits = |s: String| if fa { crate::normalize::to_persian_digits(&s) } else { s };
    match bucket {
        Bucket::Day | Bucket::Week => match (crate::value::parse_date(key), calendar) {
            (Some(d), Calendar::Jalali) => match crate::jalali::to_jalali(d) {
                Some((y, m, day)) => digits(format!("{y:04}/{m:02}/{day:02}")),
                None => key.to_string(),
            },
            (Some(d), Calendar::Gregorian) => digits(crate::value::format_date(d)),
            (None, _) => key.to_string(),
        },
        Bucket::Month => {
            let Some((y, m)) =
                key.split_once('-').and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<usize>().ok()?)))
            else {
                return key.to_string();
            };
            let name = match calendar {
                Calendar::Jalali if fa => crate::jalali::MONTHS_FA.get(m.wrapping_sub(1)).copied(),
                Calendar::Jalali => JALALI_MONTHS_EN.get(m.wrapping_sub(1)).copied(),
                Calendar::Gregorian if fa => GREGORIAN_MONTHS_FA.get(m.wrapping_sub(1)).copied(),
                Calendar::Gregorian => GREGORIAN_MONTHS_EN.get(m.wrapping_sub(1)).copied(),
            };
            match name {
                Some(name) => digits(format!("{name} {y}")),
                None => key.to_string(),
            }
        }
        Bucket::Quarter => match key.split_once("-Q") {
            Some((y, q)) if fa => digits(format!("فصل {q} {y}")),
            Some((y, q)) => format!("Q{q} {y}"),
            None => key.to_string(),
        },
        Bucket::Year => digits(key.to_string()),
    }
}

const JALALI_MONTHS_EN: [&str; 12] = [
    "Farvardin",
    "Ordibehesht",
    "Khordad",
    "Tir",
    "Mordad",
    "Shahrivar",
    "Mehr",
    "Aban",
    "Azar",
    "Dey",
    "Bahman",
    "Esfand",
];
const GREGORIAN_MONTHS_EN: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const GREGORIAN_MONTHS_FA: [&str; 12] =
    ["ژانویه", "فوریه", "مارس", "آوریل", "مه", "ژوئن", "ژوئیه", "اوت", "سپتامبر", "اکتبر", "نوامبر", "دسامبر"];

/// One grouping key: a field of the object, or of the record a relation of it leads to
/// (`contact.city`: an order's contact's city).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupKey {
    pub field: FieldRef,
    pub bucket: Option<Bucket>,
    pub via: Option<Via>,
}

/// The relation a grouping key's field is reached through.
#[derive(Clone, Debug, PartialEq)]
pub struct Via {
    /// The relation field on the object (its column holds the related record's id).
    pub relation: FieldRef,
    /// The related object's API name and table.
    pub object: String,
    pub table: String,
}

impl GroupKey {
    /// The key's name in results: the field's, or `relation.field`.
    pub fn name(&self) -> String {
        match &self.via {
            Some(v) => format!("{}.{}", v.relation.api_name, self.field.api_name),
            None => self.field.api_name.clone(),
        }
    }
}

/// What a measure computes over a group's values of its field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MeasureKind {
    Sum,
    Avg,
    Min,
    Max,
    Distinct,
}

impl MeasureKind {
    pub fn parse(text: &str) -> Option<MeasureKind> {
        match text {
            "sum" => Some(MeasureKind::Sum),
            "avg" => Some(MeasureKind::Avg),
            "min" => Some(MeasureKind::Min),
            "max" => Some(MeasureKind::Max),
            "distinct" => Some(MeasureKind::Distinct),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MeasureKind::Sum => "sum",
            MeasureKind::Avg => "avg",
            MeasureKind::Min => "min",
            MeasureKind::Max => "max",
            MeasureKind::Distinct => "distinct",
        }
    }
}

/// A measure of a field: its result is named `kind:field` (`avg:amount`).
#[derive(Clone, Debug, PartialEq)]
pub struct Measure {
    pub kind: MeasureKind,
    pub field: FieldRef,
}

impl Measure {
    pub fn name(&self) -> String {
        format!("{}:{}", self.kind.name(), self.field.api_name)
    }
}

/// A checked aggregate: what to group by, what to sum and what else to measure.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AggregateSpec {
    pub group_by: Vec<GroupKey>,
    pub sum: Vec<FieldRef>,
    pub measures: Vec<Measure>,
    pub calendar: Calendar,
}

impl AggregateSpec {
    /// Whether a rollup may be declared for it: counts and sums grouped by fields, each date of
    /// the object's own cut to a day, month or year (weeks, quarters and Jalali periods are cut
    /// from a rollup's days when read), a related record's field whole (not a date).
    pub fn declarable(&self) -> bool {
        self.measures.is_empty()
            && self.group_by.iter().all(|g| match g.via {
                None => g.bucket.is_none_or(|b| b.prefix_len().is_some()),
                Some(_) => g.bucket.is_none(),
            })
    }

    /// Adds `measure` (`avg:amount,distinct:contact`, see the module docs) and the calendar.
    /// Every problem names its parameter: `measure` or `calendar`.
    pub fn with_measures(mut self, object: &ObjectDef, measure: &str, calendar: &str) -> Result<Self, FieldError> {
        self.calendar = Calendar::parse(calendar)?;
        for part in measure.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kind, name) = part.split_once(':').ok_or_else(|| FieldError::new("measure", "invalid_measure"))?;
            let kind = MeasureKind::parse(kind).ok_or_else(|| FieldError::new("measure", "invalid_measure"))?;
            let field = resolve(object, name).ok_or_else(|| FieldError::new("measure", "unknown_field"))?;
            let numeric = matches!(field.storage, Storage::Int | Storage::Scaled | Storage::Money)
                && field.field_type != FieldType::Boolean;
            let dated = matches!(field.field_type, FieldType::Date | FieldType::Datetime);
            let fits = match kind {
                MeasureKind::Sum | MeasureKind::Avg => numeric,
                MeasureKind::Min | MeasureKind::Max => numeric || dated,
                MeasureKind::Distinct => {
                    !matches!(field.storage, Storage::List) && field.field_type != FieldType::LongText
                }
            };
            if !fits {
                return Err(FieldError::new("measure", "not_measurable"));
            }
            let measure = Measure { kind, field };
            if !self.measures.contains(&measure) {
                self.measures.push(measure);
            }
        }
        if self.measures.len() > MAX_MEASURES {
            return Err(FieldError::new("measure", "too_many"));
        }
        Ok(self)
    }
}

/// Parses `group` and `sum` (comma-separated, see the module docs) for `object`. Every problem
/// names the parameter: `group` or `sum`.
pub fn parse_aggregate(object: &ObjectDef, group: &str, sum: &str) -> Result<AggregateSpec, FieldError> {
    parse_aggregate_in(object, group, sum, &|_| None)
}

/// [`parse_aggregate`] where a grouping may also be a related record's field
/// (`contact.city`), the related object found by `lookup`.
pub fn parse_aggregate_in(
    object: &ObjectDef,
    group: &str,
    sum: &str,
    lookup: &dyn Fn(&str) -> Option<std::sync::Arc<ObjectDef>>,
) -> Result<AggregateSpec, FieldError> {
    let mut spec = AggregateSpec::default();
    for part in group.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, bucket) = match part.split_once(':') {
            Some((name, b)) => {
                (name, Some(Bucket::parse(b).ok_or_else(|| FieldError::new("group", "invalid_bucket"))?))
            }
            None => (part, None),
        };
        let unknown = || FieldError::new("group", "unknown_field");
        let (field, via) = match name.split_once('.') {
            Some((relation, name)) => {
                let def = object.field(relation).filter(|f| f.field_type == FieldType::Relation).ok_or_else(unknown)?;
                let target = def.options.target.as_deref().and_then(lookup).ok_or_else(unknown)?;
                let field = resolve(&target, name).ok_or_else(unknown)?;
                let relation = resolve(object, relation).ok_or_else(unknown)?;
                (field, Some(Via { relation, object: target.api_name.clone(), table: target.table.clone() }))
            }
            None => (resolve(object, name).ok_or_else(unknown)?, None),
        };
        let dated = matches!(field.field_type, FieldType::Date | FieldType::Datetime);
        let bucket = match (dated, bucket) {
            (true, None) => Some(Bucket::Day),
            (true, b) => b,
            (false, None) => None,
            (false, Some(_)) => return Err(FieldError::new("group", "invalid_bucket")),
        };
        // A multi-valued field has no single value to group by, and long text no useful one.
        let groupable = !matches!(field.storage, Storage::List | Storage::Money | Storage::Scaled)
            && field.field_type != FieldType::LongText;
        if !groupable {
            return Err(FieldError::new("group", "not_groupable"));
        }
        spec.group_by.push(GroupKey { field, bucket, via });
    }
    for name in sum.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let field = resolve(object, name).ok_or_else(|| FieldError::new("sum", "unknown_field"))?;
        if !matches!(field.storage, Storage::Int | Storage::Scaled | Storage::Money)
            || field.field_type == FieldType::Boolean
        {
            return Err(FieldError::new("sum", "not_numeric"));
        }
        spec.sum.push(field);
    }
    if spec.group_by.len() > MAX_GROUPS {
        return Err(FieldError::new("group", "too_many"));
    }
    if spec.sum.len() > MAX_SUMS {
        return Err(FieldError::new("sum", "too_many"));
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{FieldDef, FieldOptions, Origin};

    fn field(name: &str, t: FieldType, multiple: bool) -> FieldDef {
        FieldDef {
            label_fa: name.into(),
            label_en: name.into(),
            options: FieldOptions { multiple, ..Default::default() },
            ..FieldDef::plain("deal", name, t)
        }
    }

    fn deal() -> ObjectDef {
        ObjectDef {
            id: "o".into(),
            api_name: "deal".into(),
            label_fa: String::new(),
            label_en: String::new(),
            plural_fa: String::new(),
            plural_en: String::new(),
            origin: Origin::Custom,
            title_field: "stage".into(),
            table: "r_deal".into(),
            fields: vec![
                field("stage", FieldType::Select, false),
                field("amount", FieldType::Currency, false),
                field("units", FieldType::Integer, false),
                field("closed_on", FieldType::Date, false),
                field("tags", FieldType::MultiSelect, true),
                field("notes", FieldType::LongText, false),
                field("won", FieldType::Boolean, false),
            ],
        }
    }

    #[test]
    fn groups_and_sums_parse() {
        let spec = parse_aggregate(&deal(), "stage, created_at:month", "amount,units").expect("valid");
        assert_eq!(spec.group_by.len(), 2);
        assert_eq!(spec.group_by[0].field.api_name, "stage");
        assert_eq!(spec.group_by[0].bucket, None);
        assert_eq!(spec.group_by[1].field.column, "created_at");
        assert_eq!(spec.group_by[1].bucket, Some(Bucket::Month));
        assert_eq!(spec.sum.iter().map(|f| f.api_name.as_str()).collect::<Vec<_>>(), ["amount", "units"]);
        let by_day = parse_aggregate(&deal(), "closed_on", "").expect("valid");
        assert_eq!(by_day.group_by[0].bucket, Some(Bucket::Day), "dates group by day unless told");
        assert_eq!(parse_aggregate(&deal(), "", "").expect("a plain count"), AggregateSpec::default());
    }

    #[test]
    fn a_grouping_may_be_a_related_records_field() {
        let mut order = deal();
        order.api_name = "order".into();
        order.fields.push(FieldDef {
            options: FieldOptions { target: Some("deal".into()), ..Default::default() },
            ..field("deal", FieldType::Relation, false)
        });
        let target = std::sync::Arc::new(deal());
        let lookup = |name: &str| (name == "deal").then(|| target.clone());
        let spec = parse_aggregate_in(&order, "deal.stage,deal.closed_on:month", "", &lookup).expect("valid");
        assert_eq!(spec.group_by[0].name(), "deal.stage");
        assert_eq!(spec.group_by[0].via.as_ref().map(|v| v.relation.column.as_str()), Some("c_deal"));
        assert_eq!(spec.group_by[1].bucket, Some(Bucket::Month));
        assert!(!spec.declarable(), "a related record's date is not kept by a rollup");
        let code = |g: &str| parse_aggregate_in(&order, g, "", &lookup).expect_err("invalid").code;
        assert_eq!(code("stage.name"), "unknown_field", "not a relation");
        assert_eq!(code("deal.ghost"), "unknown_field");
        assert_eq!(code("deal.tags"), "not_groupable");
        assert_eq!(parse_aggregate(&order, "deal.stage", "").expect_err("no lookup").code, "unknown_field");
    }

    #[test]
    fn bad_aggregates_say_which_parameter() {
        let code = |g: &str, s: &str| {
            let e = parse_aggregate(&deal(), g, s).expect_err("invalid");
            format!("{}:{}", e.field, e.code)
        };
        assert_eq!(code("nope", ""), "group:unknown_field");
        assert_eq!(code("stage:month", ""), "group:invalid_bucket");
        assert_eq!(code("closed_on:fortnight", ""), "group:invalid_bucket");
        assert_eq!(code("tags", ""), "group:not_groupable");
        assert_eq!(code("notes", ""), "group:not_groupable");
        assert_eq!(code("amount", ""), "group:not_groupable");
        assert_eq!(code("stage,won,units,closed_on", ""), "group:too_many");
        assert_eq!(code("", "stage"), "sum:not_numeric");
        assert_eq!(code("", "won"), "sum:not_numeric");
        assert_eq!(code("", "ghost"), "sum:unknown_field");
    }

    #[test]
    fn buckets_in_both_calendars() {
        use time::macros::date;
        let g = Calendar::Gregorian;
        let j = Calendar::Jalali;
        // 5 December 2026 is a Saturday, 14 Azar 1405.
        let day = date!(2026 - 12 - 05);
        assert_eq!(Bucket::Week.key(j, day), "2026-12-05", "a Persian week starts on Saturday");
        assert_eq!(Bucket::Week.key(g, day), "2026-11-30", "an English week starts on Monday");
        assert_eq!(Bucket::Week.key(j, date!(2026 - 12 - 11)), "2026-12-05", "the Friday after is in it");
        assert_eq!(Bucket::Month.key(j, day), "1405-09");
        assert_eq!(Bucket::Month.key(g, day), "2026-12");
        assert_eq!(Bucket::Quarter.key(j, day), "1405-Q3");
        assert_eq!(Bucket::Quarter.key(g, day), "2026-Q4");
        assert_eq!(Bucket::Year.key(j, day), "1405");
        assert_eq!(Bucket::Year.key(j, date!(2026 - 03 - 20)), "1404", "Nowruz 1405 is 21 March 2026");
        assert_eq!(Bucket::Year.key(j, date!(2026 - 03 - 21)), "1405");
        assert_eq!(Bucket::Month.start(j, day), date!(2026 - 11 - 22), "1 Azar 1405");
        assert_eq!(Bucket::Month.next(j, date!(2026 - 11 - 22)), date!(2026 - 12 - 22), "1 Dey 1405");
        assert_eq!(Bucket::Quarter.next(g, date!(2026 - 10 - 01)), date!(2027 - 01 - 01));
        assert_eq!(Bucket::Year.next(j, date!(2026 - 03 - 21)), date!(2027 - 03 - 21));
        assert_eq!(Bucket::Month.prefix_in(g), Some(7));
        assert_eq!(Bucket::Month.prefix_in(j), None, "a Jalali month is no prefix of the ISO text");
        assert_eq!(Bucket::Day.prefix_in(j), Some(10));
        for bucket in [Bucket::Day, Bucket::Week, Bucket::Month, Bucket::Quarter, Bucket::Year] {
            for calendar in [g, j] {
                let key = bucket.key(calendar, day);
                assert_eq!(key_start(bucket, calendar, &key), Some(bucket.start(calendar, day)), "{key}");
            }
        }
        assert_eq!(key_start(Bucket::Quarter, j, "1405-Q5"), None);
    }

    #[test]
    fn breakpoints_cover_the_range_once() {
        use time::macros::date;
        // Esfand 1404 to Ordibehesht 1405: three months, the first starting before the range.
        let b =
            breakpoints(Bucket::Month, Calendar::Jalali, date!(2026 - 03 - 01), date!(2026 - 05 - 01)).expect("few");
        let keys: Vec<&str> = b.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(keys, ["1404-12", "1405-01", "1405-02"]);
        assert_eq!(b[0].0, date!(2026 - 02 - 20), "1 Esfand 1404");
        assert_eq!(b[1].0, date!(2026 - 03 - 21));
        // Every day of two years falls in exactly the bucket whose range holds it.
        for bucket in [Bucket::Week, Bucket::Month, Bucket::Quarter, Bucket::Year] {
            for calendar in [Calendar::Gregorian, Calendar::Jalali] {
                let (from, to) = (date!(2025 - 01 - 01), date!(2026 - 12 - 31));
                let b = breakpoints(bucket, calendar, from, to).expect("few");
                let mut day = from;
                while day <= to {
                    let i = b.iter().rposition(|(start, _)| *start <= day).expect("covered");
                    assert_eq!(b[i].1, bucket.key(calendar, day), "{bucket:?} {calendar:?} {day}");
                    day += Duration::days(1);
                }
            }
        }
        assert!(breakpoints(Bucket::Day, Calendar::Gregorian, date!(1900 - 01 - 01), date!(2026 - 01 - 01)).is_none());
    }

    #[test]
    fn labels_read_right_in_both_languages() {
        assert_eq!(bucket_label("fa", Bucket::Month, Calendar::Jalali, "1405-09"), "آذر ۱۴۰۵");
        assert_eq!(bucket_label("en", Bucket::Month, Calendar::Jalali, "1405-09"), "Azar 1405");
        assert_eq!(bucket_label("en", Bucket::Month, Calendar::Gregorian, "2026-12"), "Dec 2026");
        assert_eq!(bucket_label("fa", Bucket::Quarter, Calendar::Jalali, "1405-Q3"), "فصل ۳ ۱۴۰۵");
        assert_eq!(bucket_label("en", Bucket::Quarter, Calendar::Gregorian, "2026-Q4"), "Q4 2026");
        assert_eq!(bucket_label("fa", Bucket::Week, Calendar::Jalali, "2026-12-05"), "۱۴۰۵/۰۹/۱۴");
        assert_eq!(bucket_label("en", Bucket::Day, Calendar::Gregorian, "2026-12-05"), "2026-12-05");
        assert_eq!(bucket_label("fa", Bucket::Year, Calendar::Jalali, "1405"), "۱۴۰۵");
        assert_eq!(bucket_label("en", Bucket::Month, Calendar::Gregorian, "garbage"), "garbage");
    }

    #[test]
    fn measures_parse_and_are_checked() {
        let spec =
            AggregateSpec::default().with_measures(&deal(), "avg:amount, max:closed_on,distinct:stage", "jalali");
        let spec = spec.expect("valid");
        assert_eq!(spec.calendar, Calendar::Jalali);
        let names: Vec<String> = spec.measures.iter().map(Measure::name).collect();
        assert_eq!(names, ["avg:amount", "max:closed_on", "distinct:stage"]);
        assert!(!spec.declarable(), "a rollup keeps counts and sums, not measures");
        let code = |m: &str, c: &str| {
            let e = AggregateSpec::default().with_measures(&deal(), m, c).expect_err("invalid");
            format!("{}:{}", e.field, e.code)
        };
        assert_eq!(code("avg:stage", ""), "measure:not_measurable", "a measure on a text field");
        assert_eq!(code("sum:won", ""), "measure:not_measurable");
        assert_eq!(code("distinct:tags", ""), "measure:not_measurable");
        assert_eq!(code("median:amount", ""), "measure:invalid_measure");
        assert_eq!(code("amount", ""), "measure:invalid_measure");
        assert_eq!(code("min:ghost", ""), "measure:unknown_field");
        assert_eq!(code("", "hijri"), "calendar:invalid_calendar");
        assert!(parse_aggregate(&deal(), "closed_on:day", "").expect("valid").declarable());
        let weekly = parse_aggregate(&deal(), "closed_on:week", "").expect("valid");
        assert!(!weekly.declarable(), "weeks are cut from a rollup's days when read, not kept");
    }
}
