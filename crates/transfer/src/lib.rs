//! Data in and out: import of CSV and vCard files into any object (custom ones included) with column
//! mapping, per-row validation, de-duplication and an all-or-nothing option; export of any
//! object or filtered list to CSV in constant memory.
//!
//! **Invariant:** a row is written together with its `import_log` entry, so an import that stops
//! half-way (a killed process) can be run again to completion without duplicates or half-rows.

pub mod decode;
pub mod export;
pub mod generate;
pub mod import;
pub mod mapping;
pub mod vcard;
pub mod xlsx;

pub use export::{Export, csv_cell, export_csv, export_xlsx};
pub use import::{ImportOptions, ImportReport, OnDuplicate, Preview, RowError, import_csv, preview};

/// Why an import or export could not run at all (row problems are in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    NotCsv(String),
    #[error("unknown encoding {0}: use utf-8, utf-16le, utf-16be or windows-1256")]
    UnknownEncoding(String),
    #[error("column {column} (\"{name}\") appears twice in the header row")]
    DuplicateHeader { column: usize, name: String },
    #[error("the mapping names a field that {object} does not have: {field}")]
    UnknownField { object: String, field: String },
    #[error("the file has no header row")]
    Empty,
    #[error("row {row}: {message}")]
    Malformed { row: usize, message: String },
    #[error("deals and orders are generated for products: ask for some products too")]
    NeedsProducts,
    #[error(transparent)]
    Store(#[from] peyvand_store::Error),
}
