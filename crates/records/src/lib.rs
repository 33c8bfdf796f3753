//! The record engine: object and field metadata, typed values and their validation, filters and
//! sorts, and Persian text normalization.
//!
//! **Invariant:** this crate never imports sqlx or axum; it is pure and synchronous, so every
//! rule here is unit-tested without a database or a server.

pub mod access;
pub mod aggregate;
pub mod decimal;
pub mod filter;
pub mod jalali;
pub mod meta;
pub mod money;
pub mod normalize;
pub mod validate;
pub mod value;
pub mod view;

pub use decimal::Decimal;
pub use filter::{Filter, Op, SortKey};
pub use meta::{FieldDef, FieldOptions, FieldType, ObjectDef, Origin, Storage};
pub use validate::{Changes, Mode, validate};
pub use value::{FieldError, Value};
