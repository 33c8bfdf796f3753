//! Object and field metadata: what kinds of records exist and what each field holds.
//!
//! Metadata is data (stored by the store crate), not Rust structs per object, so every
//! capability (lists, filters, import, export, API, audit, workflows) works for every object,
//! custom ones included.

use serde::{Deserialize, Serialize};

/// Whether an object or field ships with Peyvand or was added by an admin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Builtin,
    Custom,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Builtin => "builtin",
            Origin::Custom => "custom",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "builtin" => Some(Origin::Builtin),
            "custom" => Some(Origin::Custom),
            _ => None,
        }
    }
}

/// The type of a field: decides validation, storage column(s), filter operators and widgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    LongText,
    Integer,
    Decimal,
    Currency,
    Date,
    Datetime,
    Boolean,
    Select,
    MultiSelect,
    Email,
    Phone,
    Url,
    Rating,
    Relation,
    NationalId,
    /// A reference to a user (the owner field); not offered for custom fields.
    User,
}

impl FieldType {
    pub const ALL: [FieldType; 17] = [
        FieldType::Text,
        FieldType::LongText,
        FieldType::Integer,
        FieldType::Decimal,
        FieldType::Currency,
        FieldType::Date,
        FieldType::Datetime,
        FieldType::Boolean,
        FieldType::Select,
        FieldType::MultiSelect,
        FieldType::Email,
        FieldType::Phone,
        FieldType::Url,
        FieldType::Rating,
        FieldType::Relation,
        FieldType::NationalId,
        FieldType::User,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::LongText => "long_text",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Currency => "currency",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Boolean => "boolean",
            FieldType::Select => "select",
            FieldType::MultiSelect => "multi_select",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Url => "url",
            FieldType::Rating => "rating",
            FieldType::Relation => "relation",
            FieldType::NationalId => "national_id",
            FieldType::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// How values of this type are kept in the database; see [`Storage`].
    pub fn storage(self, multiple: bool) -> Storage {
        match self {
            FieldType::MultiSelect => Storage::List,
            FieldType::Email | FieldType::Phone if multiple => Storage::List,
            FieldType::Integer | FieldType::Rating => Storage::Int,
            FieldType::Decimal => Storage::Scaled,
            FieldType::Currency => Storage::Money,
            FieldType::Boolean => Storage::Bool,
            FieldType::Date => Storage::Date,
            FieldType::Datetime => Storage::Datetime,
            _ => Storage::Text,
        }
    }

    /// Text-like types accept `contains` and `starts_with`.
    pub fn is_textual(self) -> bool {
        matches!(
            self,
            FieldType::Text
                | FieldType::LongText
                | FieldType::Email
                | FieldType::Phone
                | FieldType::Url
                | FieldType::NationalId
        )
    }
}

/// The physical representation of a field's values. Every backend maps each variant to one
/// portable column type (two columns for money), so one SQL code path serves SQLite and
/// PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// TEXT.
    Text,
    /// BIGINT.
    Int,
    /// BIGINT holding the value times 10^scale (exact decimals that sort and index as numbers).
    Scaled,
    /// A scaled BIGINT amount plus a TEXT currency code column.
    Money,
    /// BIGINT 0 or 1.
    Bool,
    /// TEXT `YYYY-MM-DD`.
    Date,
    /// TEXT `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC (fixed width, so text order is time order).
    Datetime,
    /// TEXT holding a JSON array of strings; members are also rows of `record_values`.
    List,
}

/// One choice of a select or multi-select field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectOption {
    pub value: String,
    #[serde(default)]
    pub label_fa: String,
    #[serde(default)]
    pub label_en: String,
    /// The value of the field's `depends_on` field this choice belongs under (a stage under its
    /// pipeline); none: it fits whatever that field holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// Type-specific settings of a field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FieldOptions {
    /// Choices of a select or multi-select field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<SelectOption>,
    /// A multi-select that accepts values outside `options` (free tags).
    #[serde(skip_serializing_if = "is_false")]
    pub allow_new: bool,
    /// Several values (e-mail and phone fields).
    #[serde(skip_serializing_if = "is_false")]
    pub multiple: bool,
    /// Digits after the decimal point of a decimal or currency field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<u8>,
    /// Currency code of a currency field when a value does not name one (default IRR).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Target object of a relation field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Highest value of a rating field (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// Longest text, in characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// A select field of the same object whose value decides which of this select's choices
    /// apply (those whose `parent` is that value, and those without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl FieldOptions {
    pub fn scale_or_default(&self, field_type: FieldType) -> u8 {
        self.scale.unwrap_or(match field_type {
            FieldType::Currency => 0,
            _ => 2,
        })
    }
}

/// A field of an object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    pub id: String,
    pub object: String,
    pub api_name: String,
    pub label_fa: String,
    pub label_en: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub origin: Origin,
    pub required: bool,
    pub unique: bool,
    pub indexed: bool,
    pub hidden: bool,
    /// Removed by an admin: invisible everywhere, values kept in the database for recovery.
    pub archived: bool,
    pub default_value: Option<serde_json::Value>,
    pub help_fa: String,
    pub help_en: String,
    pub options: FieldOptions,
    pub position: i64,
    /// The database column holding the values (the store's business; not shown in the API).
    #[serde(skip)]
    pub column: String,
}

impl FieldDef {
    /// A plain custom field of `object` named `api_name` (its id too, and `c_NAME` its column):
    /// not required, unique, indexed, hidden or archived, with no default, labels, help or
    /// options. What code that makes a definition starts from, as in
    /// `FieldDef { required: true, ..FieldDef::plain("deal", "amount", FieldType::Currency) }`.
    pub fn plain(object: &str, api_name: &str, field_type: FieldType) -> FieldDef {
        FieldDef {
            id: api_name.to_string(),
            object: object.to_string(),
            api_name: api_name.to_string(),
            label_fa: String::new(),
            label_en: String::new(),
            field_type,
            origin: Origin::Custom,
            required: false,
            unique: false,
            indexed: false,
            hidden: false,
            archived: false,
            default_value: None,
            help_fa: String::new(),
            help_en: String::new(),
            options: FieldOptions::default(),
            position: 0,
            column: format!("c_{api_name}"),
        }
    }

    pub fn storage(&self) -> Storage {
        self.field_type.storage(self.options.multiple)
    }
    pub fn label(&self, lang: &str) -> &str {
        if lang == "fa" && !self.label_fa.is_empty() { &self.label_fa } else { &self.label_en }
    }
    pub fn option_label<'a>(&'a self, value: &'a str, lang: &str) -> &'a str {
        self.options
            .options
            .iter()
            .find(|o| o.value == value)
            .map(|o| {
                if lang == "fa" && !o.label_fa.is_empty() {
                    o.label_fa.as_str()
                } else if o.label_en.is_empty() {
                    o.value.as_str()
                } else {
                    o.label_en.as_str()
                }
            })
            .unwrap_or(value)
    }
}

/// A kind of record: a standard one (company, contact) or a custom one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectDef {
    pub id: String,
    pub api_name: String,
    pub label_fa: String,
    pub label_en: String,
    pub plural_fa: String,
    pub plural_en: String,
    pub origin: Origin,
    /// The field whose value names a record in lists, links and search results.
    pub title_field: String,
    pub fields: Vec<FieldDef>,
    /// The database table (the store's business; not shown in the API).
    #[serde(skip)]
    pub table: String,
}

impl ObjectDef {
    /// A plain custom object named `api_name` (its id `o`, its table `r_NAME`) with `fields`, named
    /// by `title_field`, without labels. What code that makes a definition starts from, as
    /// `FieldDef::plain` is for fields.
    pub fn plain(api_name: &str, title_field: &str, fields: Vec<FieldDef>) -> ObjectDef {
        ObjectDef {
            id: "o".into(),
            api_name: api_name.to_string(),
            label_fa: String::new(),
            label_en: String::new(),
            plural_fa: String::new(),
            plural_en: String::new(),
            origin: Origin::Custom,
            title_field: title_field.to_string(),
            fields,
            table: format!("r_{api_name}"),
        }
    }

    /// A live (not archived) field by API name.
    pub fn field(&self, api_name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.api_name == api_name && !f.archived)
    }
    /// Fields that are neither archived nor hidden, in display order.
    pub fn visible_fields(&self) -> impl Iterator<Item = &FieldDef> {
        self.fields.iter().filter(|f| !f.archived && !f.hidden)
    }
    /// Fields that are not archived (hidden fields still hold data and stay in the API).
    pub fn live_fields(&self) -> impl Iterator<Item = &FieldDef> {
        self.fields.iter().filter(|f| !f.archived)
    }
    /// Whether the record's title is made of (among others) this field.
    pub fn is_title_field(&self, api_name: &str) -> bool {
        self.title_field.split(' ').any(|t| t == api_name)
    }
    pub fn label(&self, lang: &str) -> &str {
        if lang == "fa" { &self.label_fa } else { &self.label_en }
    }
    pub fn plural(&self, lang: &str) -> &str {
        if lang == "fa" { &self.plural_fa } else { &self.plural_en }
    }
}

/// Attributes every record has, outside the object's fields; they can be filtered and sorted.
pub const SYSTEM_ATTRIBUTES: [(&str, FieldType); 5] = [
    ("created_at", FieldType::Datetime),
    ("updated_at", FieldType::Datetime),
    ("created_by", FieldType::User),
    ("updated_by", FieldType::User),
    ("deleted_at", FieldType::Datetime),
];

/// Names that cannot be used for fields (system attributes and reserved words of the API).
pub const RESERVED_NAMES: [&str; 11] = [
    "id",
    "version",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "deleted_at",
    "object",
    "fields",
    "cursor",
    "search",
];

/// Checks an API name of an object or field: lower-case ASCII letters, digits and underscores,
/// starting with a letter, at most 40 characters.
pub fn valid_api_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 40
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && !name.contains("__")
        && !name.ends_with('_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_type_names_round_trip() {
        for t in FieldType::ALL {
            assert_eq!(FieldType::parse(t.as_str()), Some(t));
            let json = serde_json::to_string(&t).expect("serializes");
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert_eq!(FieldType::parse("nope"), None);
    }

    #[test]
    fn api_names() {
        assert!(valid_api_name("loyalty_tier2"));
        assert!(!valid_api_name("2tier"));
        assert!(!valid_api_name("Tier"));
        assert!(!valid_api_name("a__b"));
        assert!(!valid_api_name("x_"));
        assert!(!valid_api_name("a;drop table"));
        assert!(!valid_api_name(&"a".repeat(41)));
    }
}
