//! Excel workbooks: the first sheet of an XLSX file as import rows (after checking the archive
//! is not a decompression bomb), and exports written as XLSX in constant memory.

use crate::TransferError;
use calamine::{Data, Reader, Xlsx, open_workbook};
use std::path::Path;

/// Most bytes a workbook may unpack to.
pub const MAX_UNPACKED_BYTES: u64 = 512 * 1024 * 1024;
/// Most files inside a workbook.
pub const MAX_ENTRIES: usize = 10_000;
/// Largest expansion of one compressed part (real workbooks stay well under 100×).
pub const MAX_RATIO: u64 = 200;

/// Whether the bytes start a ZIP archive (XLSX files are ZIP archives).
pub fn looks_like_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

/// Refuses archives that are not workbooks or that would unpack to far more than they hold.
pub fn check_archive(path: &Path) -> Result<(), TransferError> {
    let not = |why: &str| TransferError::NotCsv(why.to_string());
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(path)?).map_err(|_| not("the ZIP archive is damaged"))?;
    if archive.len() > MAX_ENTRIES {
        return Err(not("the workbook has too many parts"));
    }
    let mut total = 0u64;
    let mut workbook = false;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|_| not("the ZIP archive is damaged"))?;
        total += entry.size();
        workbook |= entry.name().is_ok_and(|n| n == "xl/workbook.xml");
        if entry.size() > 1024 * 1024 && entry.size() / entry.compressed_size().max(1) > MAX_RATIO {
            return Err(not("the workbook would unpack to far more than it holds (a ZIP bomb?)"));
        }
    }
    if total > MAX_UNPACKED_BYTES {
        return Err(not("the workbook unpacks to more than 512 MB"));
    }
    if !workbook {
        return Err(not("this ZIP file is not an Excel workbook"));
    }
    Ok(())
}

/// Excel counts days from 1899-12-30 (with its 1900 leap-year quirk folded in).
fn excel_date(serial: f64) -> Option<String> {
    let epoch = time::Date::from_calendar_date(1899, time::Month::December, 30).ok()?;
    let date = epoch.checked_add(time::Duration::days(serial.floor() as i64))?;
    Some(peyvand_records::value::format_date(date))
}

/// A cell as text: whole numbers without a decimal point (phone numbers stored as numbers keep
/// their digits), dates as ISO dates.
pub fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => excel_date(d.as_f64()).unwrap_or_default(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// The rows of the first sheet, the first being the header.
pub fn sheet_rows(path: &Path) -> Result<Vec<Vec<String>>, TransferError> {
    check_archive(path)?;
    let mut workbook: Xlsx<_> =
        open_workbook(path).map_err(|e| TransferError::NotCsv(format!("the workbook cannot be read: {e}")))?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or(TransferError::Empty)?
        .map_err(|e| TransferError::NotCsv(format!("the first sheet cannot be read: {e}")))?;
    Ok(range.rows().map(|r| r.iter().map(cell_text).collect()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_as_people_typed_them() {
        assert_eq!(cell_text(&Data::Float(9121234567.0)), "9121234567");
        assert_eq!(cell_text(&Data::Float(12.5)), "12.5");
        assert_eq!(cell_text(&Data::Int(42)), "42");
        assert_eq!(cell_text(&Data::Empty), "");
        assert_eq!(excel_date(45371.0).as_deref(), Some("2024-03-20"));
    }

    #[test]
    fn archives_that_are_not_workbooks_are_refused() {
        let dir = std::env::temp_dir().join(format!("peyvand-xlsx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        // A ZIP that is not a workbook.
        let fake = dir.join("fake.xlsx");
        {
            let mut z = zip::ZipWriter::new(std::fs::File::create(&fake).expect("create"));
            z.start_file(
                "hello.txt",
                zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
            )
            .expect("entry");
            std::io::Write::write_all(&mut z, b"hi").expect("write");
            z.finish().expect("finish");
        }
        assert!(matches!(check_archive(&fake), Err(TransferError::NotCsv(m)) if m.contains("not an Excel workbook")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
