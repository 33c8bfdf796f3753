//! Filters and sorts for listing records: parsed from the API's JSON syntax and checked against
//! an object's fields before any SQL is written.
//!
//! Syntax (documented for users in docs/filters.md):
//! - a condition: `{"field": "city", "op": "eq", "value": "تهران"}`
//! - a group: `{"and": [ … ]}` or `{"or": [ … ]}`, nested up to [`MAX_DEPTH`] levels
//! - a sort: `-created_at,last_name` (a leading `-` sorts descending)

use crate::meta::{FieldDef, FieldType, ObjectDef, SYSTEM_ATTRIBUTES, Storage};
use crate::normalize::{normalize, to_latin_digits};
use crate::value::{FieldError, Value, parse_email, parse_phone, parse_value};
use serde_json::{Value as Json, json};

/// Deepest nesting of groups.
pub const MAX_DEPTH: usize = 5;
/// Most conditions in one filter.
pub const MAX_CONDITIONS: usize = 50;
/// The fewest characters a `contains` looks for.
pub const MIN_CONTAINS: usize = 3;
/// Most values in one `in` list.
pub const MAX_IN_VALUES: usize = 500;
/// Most sort keys.
pub const MAX_SORT_KEYS: usize = 3;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    Contains,
    StartsWith,
    In,
    IsEmpty,
    Between,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Lte,
        Op::Gt,
        Op::Gte,
        Op::Contains,
        Op::StartsWith,
        Op::In,
        Op::IsEmpty,
        Op::Between,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
            Op::In => "in",
            Op::IsEmpty => "is_empty",
            Op::Between => "between",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Whether the operator applies to a field of this type.
    pub fn applies_to(self, field_type: FieldType, storage: Storage) -> bool {
        match self {
            Op::Eq | Op::Ne | Op::In | Op::IsEmpty => true,
            Op::Lt | Op::Lte | Op::Gt | Op::Gte | Op::Between => {
                !matches!(storage, Storage::List | Storage::Bool) && !matches!(field_type, FieldType::LongText)
            }
            Op::Contains => field_type.is_textual() || storage == Storage::List,
            Op::StartsWith => field_type.is_textual() && storage != Storage::List,
        }
    }
}

/// A field or system attribute that a filter or sort refers to.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldRef {
    pub api_name: String,
    pub field_type: FieldType,
    pub storage: Storage,
    /// The column holding the values (for money, the amount column).
    pub column: String,
}

/// The operand of a condition, already parsed for the field's type.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    One(Value),
    Two(Value, Value),
    Many(Vec<Value>),
    /// Normalized text for `contains` and `starts_with` (see [`crate::normalize`]).
    Pattern(String),
    /// `is_empty`: true for empty, false for not empty.
    Flag(bool),
}

/// One checked condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub field: FieldRef,
    pub op: Op,
    pub operand: Operand,
}

/// A checked filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Cond(Condition),
}

/// One checked sort key.
#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    pub field: FieldRef,
    pub descending: bool,
}

/// Resolves a name to a live field of the object or a system attribute.
pub fn resolve(object: &ObjectDef, name: &str) -> Option<FieldRef> {
    if let Some(f) = object.field(name) {
        return Some(FieldRef {
            api_name: f.api_name.clone(),
            field_type: f.field_type,
            storage: f.storage(),
            column: f.column.clone(),
        });
    }
    if name == "id" {
        return Some(FieldRef {
            api_name: "id".into(),
            field_type: FieldType::Text,
            storage: Storage::Text,
            column: "id".into(),
        });
    }
    SYSTEM_ATTRIBUTES.iter().find(|(n, _)| *n == name).map(|(n, t)| FieldRef {
        api_name: n.to_string(),
        field_type: *t,
        storage: t.storage(false),
        column: n.to_string(),
    })
}

fn pseudo_field(object: &ObjectDef, r: &FieldRef) -> FieldDef {
    let mut f = object.field(&r.api_name).cloned().unwrap_or_else(|| FieldDef {
        id: String::new(),
        origin: crate::meta::Origin::Builtin,
        indexed: true,
        column: r.column.clone(),
        ..FieldDef::plain(&object.api_name, &r.api_name, r.field_type)
    });
    // Filters may name values outside a select's options (e.g. an option since removed) and
    // compare relation ids as text.
    f.options.allow_new = true;
    f.required = false;
    f.options.max_length = Some(10_000);
    f
}

/// Parses one operand value for a field: a single member for list fields, the field's own type
/// otherwise. Money is compared by amount.
fn parse_operand(object: &ObjectDef, r: &FieldRef, json: &Json) -> Result<Value, FieldError> {
    let name = r.api_name.as_str();
    if r.storage == Storage::List {
        let Json::String(s) = json else {
            return Err(FieldError::with(name, "invalid_type", json!({ "expected": "string" })));
        };
        return match r.field_type {
            FieldType::Email => parse_email(name, s).map(Value::Text),
            FieldType::Phone => parse_phone(name, s).map(Value::Text),
            _ => Ok(Value::Text(s.trim().to_string())),
        };
    }
    let mut f = pseudo_field(object, r);
    if f.field_type == FieldType::Currency {
        // Money is compared by amount, at the field's own scale.
        f.options.scale = Some(f.options.scale_or_default(FieldType::Currency));
        f.field_type = FieldType::Decimal;
    }
    let v = parse_value(&f, json)?;
    if v.is_null() {
        return Err(FieldError::new(name, "filter_value_missing"));
    }
    Ok(v)
}

/// Parses and checks a filter in the JSON syntax.
pub fn parse_filter(object: &ObjectDef, json: &Json) -> Result<Filter, FieldError> {
    let mut count = 0;
    parse_node(object, json, 0, &mut count)
}

fn parse_node(object: &ObjectDef, json: &Json, depth: usize, count: &mut usize) -> Result<Filter, FieldError> {
    let Json::Object(map) = json else {
        return Err(FieldError::new("filter", "filter_syntax"));
    };
    if depth > MAX_DEPTH {
        return Err(FieldError::with("filter", "filter_too_deep", json!({ "max": MAX_DEPTH })));
    }
    for (key, is_and) in [("and", true), ("or", false)] {
        if let Some(children) = map.get(key) {
            if map.len() != 1 {
                return Err(FieldError::new("filter", "filter_syntax"));
            }
            let Json::Array(children) = children else {
                return Err(FieldError::new("filter", "filter_syntax"));
            };
            let parsed =
                children.iter().map(|c| parse_node(object, c, depth + 1, count)).collect::<Result<Vec<_>, _>>()?;
            return Ok(if is_and { Filter::And(parsed) } else { Filter::Or(parsed) });
        }
    }
    *count += 1;
    if *count > MAX_CONDITIONS {
        return Err(FieldError::with("filter", "filter_too_large", json!({ "max": MAX_CONDITIONS })));
    }
    if map.keys().any(|k| !matches!(k.as_str(), "field" | "op" | "value")) {
        return Err(FieldError::new("filter", "filter_syntax"));
    }
    let name = map.get("field").and_then(Json::as_str).ok_or_else(|| FieldError::new("filter", "filter_syntax"))?;
    let field = resolve(object, name).ok_or_else(|| FieldError::new(name, "unknown_field"))?;
    let op_name = map.get("op").and_then(Json::as_str).unwrap_or("eq");
    let op = Op::parse(op_name).ok_or_else(|| FieldError::with(name, "unknown_operator", json!({ "op": op_name })))?;
    if !op.applies_to(field.field_type, field.storage) {
        return Err(FieldError::with(
            name,
            "operator_not_applicable",
            json!({ "op": op_name, "type": field.field_type.as_str() }),
        ));
    }
    let value = map.get("value").unwrap_or(&Json::Null);
    let operand = match op {
        Op::IsEmpty => Operand::Flag(value.as_bool().unwrap_or(true)),
        Op::Contains | Op::StartsWith => {
            let Json::String(s) = value else {
                return Err(FieldError::with(name, "invalid_type", json!({ "expected": "string" })));
            };
            let pattern = if field.field_type == FieldType::Phone { to_latin_digits(s) } else { normalize(s) };
            if pattern.contains('\0') {
                return Err(FieldError::new(name, "control_characters"));
            }
            // A phone is matched by its digits: a pattern without one would match every number.
            let no_digits = field.field_type == FieldType::Phone && !pattern.chars().any(|c| c.is_ascii_digit());
            if pattern.is_empty() || no_digits || pattern.chars().count() > 200 {
                return Err(FieldError::new(name, "filter_value_missing"));
            }
            // A letter or two inside a value is in most of a million records: such a filter
            // would read them all for little use. Three at least (digits, for a phone).
            let significant = if field.field_type == FieldType::Phone {
                pattern.chars().filter(char::is_ascii_digit).count()
            } else {
                pattern.chars().filter(|c| !c.is_whitespace()).count()
            };
            if op == Op::Contains && significant < MIN_CONTAINS {
                return Err(FieldError::with(name, "pattern_too_short", json!({ "min": MIN_CONTAINS })));
            }
            Operand::Pattern(pattern)
        }
        Op::In => {
            let Json::Array(items) = value else {
                return Err(FieldError::with(name, "invalid_type", json!({ "expected": "array" })));
            };
            if items.is_empty() || items.len() > MAX_IN_VALUES {
                return Err(FieldError::with(name, "filter_in_size", json!({ "max": MAX_IN_VALUES })));
            }
            Operand::Many(items.iter().map(|i| parse_operand(object, &field, i)).collect::<Result<_, _>>()?)
        }
        Op::Between => match value {
            Json::Array(pair) if pair.len() == 2 => {
                Operand::Two(parse_operand(object, &field, &pair[0])?, parse_operand(object, &field, &pair[1])?)
            }
            _ => {
                return Err(FieldError::with(name, "invalid_type", json!({ "expected": "[low, high]" })));
            }
        },
        _ => Operand::One(parse_operand(object, &field, value)?),
    };
    Ok(Filter::Cond(Condition { field, op, operand }))
}

/// Parses a sort such as `-created_at,last_name`. The record id is always the last tie-breaker
/// (added by the store), so pages are stable.
pub fn parse_sort(object: &ObjectDef, text: &str) -> Result<Vec<SortKey>, FieldError> {
    let mut keys = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (descending, name) = match part.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, part.strip_prefix('+').unwrap_or(part)),
        };
        let field = resolve(object, name).ok_or_else(|| FieldError::new(name, "unknown_field"))?;
        if field.storage == Storage::List || field.field_type == FieldType::LongText {
            return Err(FieldError::new(name, "not_sortable"));
        }
        if keys.iter().any(|k: &SortKey| k.field.api_name == field.api_name) {
            continue;
        }
        keys.push(SortKey { field, descending });
    }
    if keys.len() > MAX_SORT_KEYS {
        return Err(FieldError::with("sort", "too_many_sort_keys", json!({ "max": MAX_SORT_KEYS })));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{FieldOptions, Origin};

    fn field(name: &str, t: FieldType, options: FieldOptions) -> FieldDef {
        FieldDef { options, ..FieldDef::plain("contact", name, t) }
    }

    fn object() -> ObjectDef {
        let fields = vec![
            field("last_name", FieldType::Text, FieldOptions::default()),
            field("age", FieldType::Integer, FieldOptions::default()),
            field("notes", FieldType::LongText, FieldOptions::default()),
            field("phones", FieldType::Phone, FieldOptions { multiple: true, ..Default::default() }),
            field("budget", FieldType::Currency, FieldOptions::default()),
        ];
        ObjectDef { origin: Origin::Builtin, ..ObjectDef::plain("contact", "last_name", fields) }
    }

    fn err(v: Json) -> &'static str {
        parse_filter(&object(), &v).err().map(|e| e.code).unwrap_or("ok")
    }

    #[test]
    fn parses_groups_and_conditions() {
        let f = parse_filter(
            &object(),
            &json!({"or": [
                {"field": "age", "op": "between", "value": ["۲۰", 30]},
                {"and": [{"field": "last_name", "op": "contains", "value": "كريمي"}, {"field": "phones", "op": "eq", "value": "09121234567"}]}
            ]}),
        )
        .expect("valid");
        let Filter::Or(children) = f else { panic!("expected or") };
        let Filter::Cond(c) = &children[0] else { panic!("expected condition") };
        assert_eq!(c.operand, Operand::Two(Value::Int(20), Value::Int(30)));
        let Filter::And(inner) = &children[1] else { panic!("expected and") };
        let Filter::Cond(c) = &inner[0] else { panic!("expected condition") };
        assert_eq!(c.operand, Operand::Pattern("کریمی".into()));
        let Filter::Cond(c) = &inner[1] else { panic!("expected condition") };
        assert_eq!(c.operand, Operand::One(Value::Text("+989121234567".into())));
    }

    #[test]
    fn refuses_bad_filters() {
        assert_eq!(err(json!({"field": "nope", "op": "eq", "value": 1})), "unknown_field");
        assert_eq!(err(json!({"field": "age", "op": "like", "value": 1})), "unknown_operator");
        assert_eq!(err(json!({"field": "age", "op": "contains", "value": "1"})), "operator_not_applicable");
        assert_eq!(err(json!({"field": "last_name", "op": "contains", "value": "ab"})), "pattern_too_short");
        assert_eq!(err(json!({"field": "last_name", "op": "contains", "value": "a b"})), "pattern_too_short");
        assert_eq!(err(json!({"field": "last_name", "op": "contains", "value": "abc"})), "ok");
        assert_eq!(err(json!({"field": "last_name", "op": "starts_with", "value": "a"})), "ok");
        assert_eq!(err(json!({"field": "phones", "op": "gt", "value": "1"})), "operator_not_applicable");
        assert_eq!(err(json!({"field": "age", "op": "eq", "value": "x"})), "invalid_integer");
        assert_eq!(err(json!({"field": "age", "op": "in", "value": []})), "filter_in_size");
        assert_eq!(err(json!({"field": "age", "op": "between", "value": [1]})), "invalid_type");
        assert_eq!(err(json!({"and": {"field": "age"}})), "filter_syntax");
        assert_eq!(err(json!([1, 2])), "filter_syntax");
        assert_eq!(err(json!({"field": "age", "op": "eq", "value": 1, "extra": 2})), "filter_syntax");
        let mut deep = json!({"field": "age", "op": "eq", "value": 1});
        for _ in 0..7 {
            deep = json!({ "and": [deep] });
        }
        assert_eq!(err(deep), "filter_too_deep");
        let many: Vec<Json> = (0..51).map(|i| json!({"field": "age", "value": i})).collect();
        assert_eq!(err(json!({ "and": many })), "filter_too_large");
        assert_eq!(err(json!({"field": "created_at", "op": "gte", "value": "2024-01-01T00:00:00Z"})), "ok");
        assert_eq!(err(json!({"field": "budget", "op": "gt", "value": "1000"})), "ok");
        assert_eq!(err(json!({"field": "last_name", "op": "eq", "value": "'; DROP TABLE x; --"})), "ok");
    }

    #[test]
    fn sorts() {
        let keys = parse_sort(&object(), "-age, last_name,-age").expect("valid");
        assert_eq!(keys.len(), 2);
        assert!(keys[0].descending);
        assert_eq!(keys[1].field.api_name, "last_name");
        assert_eq!(parse_sort(&object(), "notes").map_err(|e| e.code), Err("not_sortable"));
        assert_eq!(parse_sort(&object(), "zzz").map_err(|e| e.code), Err("unknown_field"));
        assert_eq!(parse_sort(&object(), "").map(|k| k.len()), Ok(0));
    }
}
