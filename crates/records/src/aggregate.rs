//! Aggregates for dashboards and reports: count records and sum numeric fields, grouped by up to
//! three fields (a date or instant by day, month or year). Parsed and checked against the
//! object's metadata here; the store runs them.
//!
//! Text form (query parameters of the API): `group=kind,occurred_at:month` and `sum=amount,score`.

use crate::filter::{FieldRef, resolve};
use crate::meta::{FieldType, ObjectDef, Storage};
use crate::value::FieldError;
use serde::{Deserialize, Serialize};

/// Most grouping fields in one aggregate.
pub const MAX_GROUPS: usize = 3;
/// Most summed fields in one aggregate.
pub const MAX_SUMS: usize = 5;

/// How a date or instant is grouped: by the leading part of its stored text (UTC for instants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Day,
    Month,
    Year,
}

impl Bucket {
    /// Characters of the stored `YYYY-MM-DD…` text that make the bucket.
    pub fn prefix_len(self) -> u32 {
        match self {
            Bucket::Day => 10,
            Bucket::Month => 7,
            Bucket::Year => 4,
        }
    }
    fn parse(text: &str) -> Option<Bucket> {
        match text {
            "day" => Some(Bucket::Day),
            "month" => Some(Bucket::Month),
            "year" => Some(Bucket::Year),
            _ => None,
        }
    }
}

/// One grouping key.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupKey {
    pub field: FieldRef,
    pub bucket: Option<Bucket>,
}

/// A checked aggregate: what to group by and what to sum.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AggregateSpec {
    pub group_by: Vec<GroupKey>,
    pub sum: Vec<FieldRef>,
}

/// Parses `group` and `sum` (comma-separated, see the module docs) for `object`. Every problem
/// names the parameter: `group` or `sum`.
pub fn parse_aggregate(object: &ObjectDef, group: &str, sum: &str) -> Result<AggregateSpec, FieldError> {
    let mut spec = AggregateSpec::default();
    for part in group.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, bucket) = match part.split_once(':') {
            Some((name, b)) => {
                (name, Some(Bucket::parse(b).ok_or_else(|| FieldError::new("group", "invalid_bucket"))?))
            }
            None => (part, None),
        };
        let field = resolve(object, name).ok_or_else(|| FieldError::new("group", "unknown_field"))?;
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
        spec.group_by.push(GroupKey { field, bucket });
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
    fn bad_aggregates_say_which_parameter() {
        let code = |g: &str, s: &str| {
            let e = parse_aggregate(&deal(), g, s).expect_err("invalid");
            format!("{}:{}", e.field, e.code)
        };
        assert_eq!(code("nope", ""), "group:unknown_field");
        assert_eq!(code("stage:month", ""), "group:invalid_bucket");
        assert_eq!(code("closed_on:week", ""), "group:invalid_bucket");
        assert_eq!(code("tags", ""), "group:not_groupable");
        assert_eq!(code("notes", ""), "group:not_groupable");
        assert_eq!(code("amount", ""), "group:not_groupable");
        assert_eq!(code("stage,won,units,closed_on", ""), "group:too_many");
        assert_eq!(code("", "stage"), "sum:not_numeric");
        assert_eq!(code("", "won"), "sum:not_numeric");
        assert_eq!(code("", "ghost"), "sum:unknown_field");
    }
}
