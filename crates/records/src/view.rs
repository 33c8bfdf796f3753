//! Saved views: a named list or board of one object with its filter, sort and columns.

use serde::{Deserialize, Serialize};

/// How a view shows its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewKind {
    List,
    Board,
}

impl ViewKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ViewKind::List => "list",
            ViewKind::Board => "board",
        }
    }
    pub fn parse(s: &str) -> Option<ViewKind> {
        match s {
            "list" => Some(ViewKind::List),
            "board" => Some(ViewKind::Board),
            _ => None,
        }
    }
}

/// A saved view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewDef {
    pub id: String,
    pub object: String,
    pub name: String,
    pub owner_id: String,
    /// Everyone sees a shared view; only its owner sees a personal one.
    pub shared: bool,
    pub kind: ViewKind,
    /// A filter in the API's JSON syntax (checked when the view is saved and when it is used).
    pub filter: Option<serde_json::Value>,
    /// A sort such as `-created_at,last_name`.
    pub sort: String,
    /// Columns in order (field API names); empty means the object's default columns.
    pub columns: Vec<String>,
    /// The select field a board groups by.
    pub group_by: Option<String>,
}

/// A new view, or the new contents of one.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewView {
    pub object: String,
    pub name: String,
    #[serde(default)]
    pub shared: bool,
    #[serde(default = "default_kind")]
    pub kind: ViewKind,
    #[serde(default)]
    pub filter: Option<serde_json::Value>,
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub group_by: Option<String>,
}

fn default_kind() -> ViewKind {
    ViewKind::List
}
