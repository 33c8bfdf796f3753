//! Character encodings of imported files: detected (byte-order marks, then valid UTF-8, else
//! Windows-1256, common in Persian Excel exports) or chosen, and decoded as a stream.

use crate::TransferError;
use encoding_rs::{Decoder, Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1256};
use std::io::{BufReader, Read};

/// Finds the encoding from the first bytes and whether the whole file is valid UTF-8.
pub fn detect(head: &[u8], valid_utf8: bool) -> &'static Encoding {
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) || valid_utf8 {
        UTF_8
    } else if head.starts_with(&[0xFF, 0xFE]) {
        UTF_16LE
    } else if head.starts_with(&[0xFE, 0xFF]) {
        UTF_16BE
    } else {
        WINDOWS_1256
    }
}

/// An encoding by name (`utf-8`, `utf-16le`, `windows-1256`, `cp1256`, …).
pub fn by_name(name: &str) -> Result<&'static Encoding, TransferError> {
    let label = if name.eq_ignore_ascii_case("cp1256") { "windows-1256" } else { name };
    Encoding::for_label(label.as_bytes()).ok_or_else(|| TransferError::UnknownEncoding(name.to_string()))
}

/// Refuses files that are plainly not text: a spreadsheet or archive renamed `.csv`, or binary.
pub fn check_text(head: &[u8]) -> Result<(), TransferError> {
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(TransferError::NotCsv("this is an old Excel (XLS) file, not CSV: save it as CSV".into()));
    }
    let utf16 = head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]);
    if !utf16 && head.contains(&0) {
        return Err(TransferError::NotCsv("the file contains binary data, not text".into()));
    }
    Ok(())
}

/// A reader that turns bytes in any encoding into UTF-8, a buffer at a time (constant memory).
pub struct Utf8Reader<R: Read> {
    inner: BufReader<R>,
    decoder: Decoder,
    input: Vec<u8>,
    output: String,
    offset: usize,
    done: bool,
}

impl<R: Read> Utf8Reader<R> {
    pub fn new(inner: R, encoding: &'static Encoding) -> Self {
        Utf8Reader {
            inner: BufReader::with_capacity(64 * 1024, inner),
            // The byte-order mark, if any, is dropped.
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; 64 * 1024],
            output: String::with_capacity(128 * 1024),
            offset: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for Utf8Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.offset >= self.output.len() {
            if self.done {
                return Ok(0);
            }
            self.output.clear();
            self.offset = 0;
            let n = self.inner.read(&mut self.input)?;
            let last = n == 0;
            let needed = self.decoder.max_utf8_buffer_length(n).unwrap_or(n * 3 + 16);
            self.output.reserve(needed);
            let (_, _, _) = self.decoder.decode_to_string(&self.input[..n], &mut self.output, last);
            self.done = last;
        }
        let bytes = &self.output.as_bytes()[self.offset..];
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        self.offset += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], encoding: &'static Encoding) -> String {
        let mut out = String::new();
        Utf8Reader::new(bytes, encoding).read_to_string(&mut out).expect("decode");
        out
    }

    #[test]
    fn detects_and_decodes() {
        // Windows-1256 has the Arabic Yeh (ي), not the Persian one, as Persian Excel files do.
        let text = "نام,ايميل\nعلي,a@x.ir\n";
        let (win, _, unmappable) = WINDOWS_1256.encode(text);
        assert!(!unmappable);
        assert_eq!(detect(&win, std::str::from_utf8(&win).is_ok()), WINDOWS_1256);
        assert_eq!(decode_all(&win, WINDOWS_1256), text);
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(detect(&bom, true), UTF_8);
        assert_eq!(decode_all(&bom, UTF_8), text);
        let mut utf16: Vec<u8> = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(detect(&utf16, false), UTF_16LE);
        assert_eq!(decode_all(&utf16, UTF_16LE), text);
        assert!(by_name("cp1256").is_ok());
        assert!(by_name("klingon").is_err());
    }

    #[test]
    fn refuses_what_is_not_text() {
        assert!(check_text(b"a,b\x00c").is_err());
        assert!(check_text(b"a,b\nc,d").is_ok());
    }
}
