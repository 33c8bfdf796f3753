//! Validation of record input (create and update) against an object's fields.

use crate::meta::{FieldDef, ObjectDef, RESERVED_NAMES};
use crate::value::{FieldError, Value, parse_value};
use serde_json::{Map, Value as Json};

/// Validated changes to a record: each live field named in the input, with its new value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes<'a> {
    pub values: Vec<(&'a FieldDef, Value)>,
}

impl<'a> Changes<'a> {
    pub fn get(&self, api_name: &str) -> Option<&Value> {
        self.values.iter().find(|(f, _)| f.api_name == api_name).map(|(_, v)| v)
    }
}

/// Whether the input describes a new record (defaults apply, every required field must have a
/// value) or changes to an existing one (only the named fields change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
}

/// Validates the `fields` of a create or update request. Every problem is reported at once,
/// one [`FieldError`] per field, so a form can show them all beside their fields.
pub fn validate<'a>(
    object: &'a ObjectDef,
    input: &Map<String, Json>,
    mode: Mode,
) -> Result<Changes<'a>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut changes = Changes::default();
    for (name, json) in input {
        match object.field(name) {
            Some(field) => match parse_value(field, json) {
                Ok(value) => {
                    if field.required && value.is_null() {
                        errors.push(FieldError::new(name, "required"));
                    } else {
                        changes.values.push((field, value));
                    }
                }
                Err(e) => errors.push(e),
            },
            None if RESERVED_NAMES.contains(&name.as_str()) => errors.push(FieldError::new(name, "read_only")),
            None => errors.push(FieldError::new(name, "unknown_field")),
        }
    }
    if mode == Mode::Create {
        for field in object.live_fields() {
            if input.contains_key(&field.api_name) {
                continue;
            }
            let default = field.default_value.as_ref().map(|d| parse_value(field, d));
            match default {
                Some(Ok(value)) if !value.is_null() => changes.values.push((field, value)),
                Some(Err(e)) => errors.push(e),
                _ if field.required => errors.push(FieldError::new(&field.api_name, "required")),
                _ => {}
            }
        }
    }
    if errors.is_empty() { Ok(changes) } else { Err(errors) }
}

/// Checks the choices of fields that depend on another (`FieldOptions::depends_on`): each chosen
/// value's parent, where it has one, is what the other field holds after the write. `after`
/// gives a field's value once written (the new value, else the current one); only fields the
/// write changes, or whose parent it changes, are checked. A parent left empty is not checked.
pub fn check_dependent_choices(
    object: &ObjectDef,
    changed: &dyn Fn(&str) -> bool,
    after: &dyn Fn(&str) -> Json,
) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    for field in object.live_fields() {
        let Some(parent_name) = &field.options.depends_on else { continue };
        if !changed(&field.api_name) && !changed(parent_name) {
            continue;
        }
        let parent = after(parent_name);
        let Some(parent) = parent.as_str() else { continue };
        let chosen = match after(&field.api_name) {
            Json::String(s) => vec![s],
            Json::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            _ => continue,
        };
        for value in chosen {
            let under = field.options.options.iter().find(|o| o.value == value).and_then(|o| o.parent.as_deref());
            if under.is_some_and(|p| p != parent) {
                let params = serde_json::json!({ "value": value, "field": parent_name, "parent": parent });
                errors.push(FieldError::with(&field.api_name, "choice_not_under", params));
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::FieldType;
    use serde_json::json;

    fn field(name: &str, t: FieldType, required: bool, default_value: Option<Json>) -> FieldDef {
        FieldDef { required, default_value, ..FieldDef::plain("thing", name, t) }
    }

    fn object() -> ObjectDef {
        let mut archived = field("old", FieldType::Text, false, None);
        archived.archived = true;
        let fields = vec![
            field("name", FieldType::Text, true, None),
            field("count", FieldType::Integer, false, Some(json!(3))),
            field("when", FieldType::Date, false, None),
            archived,
        ];
        ObjectDef::plain("thing", "name", fields)
    }

    fn input(v: Json) -> Map<String, Json> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn create_applies_defaults_and_requires() {
        let o = object();
        let c = validate(&o, &input(json!({"name": "a"})), Mode::Create).expect("valid");
        assert_eq!(c.get("count"), Some(&Value::Int(3)));
        let errs = validate(&o, &input(json!({"count": 1})), Mode::Create).expect_err("name missing");
        assert_eq!(errs, vec![FieldError::new("name", "required")]);
    }

    #[test]
    fn every_error_is_reported() {
        let o = object();
        let errs = validate(
            &o,
            &input(json!({"name": "", "count": "x", "when": "2024-13-01", "nope": 1, "id": "x", "old": "y"})),
            Mode::Update,
        )
        .expect_err("invalid");
        let mut codes: Vec<(String, &str)> = errs.iter().map(|e| (e.field.clone(), e.code)).collect();
        codes.sort();
        assert_eq!(
            codes,
            vec![
                ("count".to_string(), "invalid_integer"),
                ("id".to_string(), "read_only"),
                ("name".to_string(), "required"),
                ("nope".to_string(), "unknown_field"),
                ("old".to_string(), "unknown_field"),
                ("when".to_string(), "invalid_date"),
            ]
        );
    }

    #[test]
    fn dependent_choices_follow_their_parent() {
        use crate::meta::{FieldOptions, SelectOption};
        let choice = |v: &str, parent: Option<&str>| SelectOption {
            value: v.into(),
            label_fa: v.into(),
            label_en: v.into(),
            parent: parent.map(str::to_string),
        };
        let mut pipeline = field("pipeline", FieldType::Select, false, None);
        pipeline.options =
            FieldOptions { options: vec![choice("retail", None), choice("dealers", None)], ..Default::default() };
        let mut stage = field("stage", FieldType::Select, false, None);
        stage.options = FieldOptions {
            options: vec![choice("new", Some("retail")), choice("signed", Some("dealers")), choice("lost", None)],
            depends_on: Some("pipeline".into()),
            ..Default::default()
        };
        let o = ObjectDef::plain("deal", "pipeline", vec![pipeline, stage]);
        let check = |pipeline: &str, stage: &str, changed: &str| {
            let values = json!({ "pipeline": pipeline, "stage": stage });
            check_dependent_choices(&o, &|f| f == changed, &|f| values[f].clone())
        };
        assert_eq!(check("retail", "new", "stage"), Ok(()));
        assert_eq!(check("dealers", "lost", "stage"), Ok(()), "a choice without a parent fits any");
        let errs = check("dealers", "new", "pipeline").expect_err("a retail stage in the dealers' pipeline");
        assert_eq!(errs.len(), 1);
        assert_eq!((errs[0].field.as_str(), errs[0].code), ("stage", "choice_not_under"));
        assert_eq!(errs[0].params["parent"], json!("dealers"));
        assert_eq!(check("dealers", "new", "name"), Ok(()), "neither field written: not checked");
    }

    #[test]
    fn update_touches_only_named_fields() {
        let o = object();
        let c = validate(&o, &input(json!({"when": null})), Mode::Update).expect("valid");
        assert_eq!(c.values.len(), 1);
        assert_eq!(c.get("when"), Some(&Value::Null));
    }
}
