//! Exact decimal numbers as a scaled integer: the value times 10^scale in an `i64`.
//!
//! Amounts are never floats. A scaled integer sorts and indexes as a plain number on every
//! backend; the range is ±9.2×10^18 / 10^scale (about 9.2×10^18 rials at scale 0).

use std::fmt;

/// An exact decimal: `units / 10^scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decimal {
    pub units: i64,
    pub scale: u8,
}

/// Why a text is not a decimal of the wanted scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecimalError {
    Invalid,
    TooManyDecimals,
    OutOfRange,
}

impl Decimal {
    /// Parses text such as `-1,234.50`, `۱٬۲۳۴٫۵` or `12` into a decimal with exactly `scale`
    /// fractional digits. Thousands separators (`,` `٬`) are ignored; `.` and `٫` mark the
    /// fraction. More fractional digits than `scale` (other than trailing zeros) is an error,
    /// never a silent rounding.
    pub fn parse(text: &str, scale: u8) -> Result<Decimal, DecimalError> {
        let text = text.trim();
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let mut int_digits = String::new();
        let mut frac_digits = String::new();
        let mut in_frac = false;
        for c in rest.chars() {
            if let Some(d) = crate::normalize::latin_digit(c) {
                if in_frac { frac_digits.push(d) } else { int_digits.push(d) }
            } else if (c == '.' || c == '\u{066B}') && !in_frac {
                in_frac = true;
            } else if (c == ',' || c == '\u{066C}') && !in_frac && !int_digits.is_empty() {
                continue;
            } else {
                return Err(DecimalError::Invalid);
            }
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(DecimalError::Invalid);
        }
        let trimmed_frac = frac_digits.trim_end_matches('0');
        if trimmed_frac.len() > scale as usize {
            return Err(DecimalError::TooManyDecimals);
        }
        let mut digits = if int_digits.is_empty() { "0".to_string() } else { int_digits };
        digits.push_str(trimmed_frac);
        for _ in trimmed_frac.len()..scale as usize {
            digits.push('0');
        }
        let magnitude: i128 = digits.parse().map_err(|_| DecimalError::OutOfRange)?;
        let signed = if negative { -magnitude } else { magnitude };
        let units = i64::try_from(signed).map_err(|_| DecimalError::OutOfRange)?;
        Ok(Decimal { units, scale })
    }

    /// The same value with another scale, if it fits exactly.
    pub fn rescale(self, scale: u8) -> Option<Decimal> {
        if scale >= self.scale {
            let factor = 10i64.checked_pow(u32::from(scale - self.scale))?;
            Some(Decimal { units: self.units.checked_mul(factor)?, scale })
        } else {
            let factor = 10i64.checked_pow(u32::from(self.scale - scale))?;
            (self.units % factor == 0).then_some(Decimal { units: self.units / factor, scale })
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.units < 0 { "-" } else { "" };
        let magnitude = self.units.unsigned_abs().to_string();
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{magnitude}");
        }
        let padded = format!("{magnitude:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let d = Decimal::parse("1,234.5", 2).expect("valid");
        assert_eq!(d, Decimal { units: 123450, scale: 2 });
        assert_eq!(d.to_string(), "1234.50");
        assert_eq!(Decimal::parse("۱٬۲۳۴٫۵", 2), Ok(d));
        assert_eq!(Decimal::parse("-0.05", 2).map(|d| d.to_string()), Ok("-0.05".to_string()));
        assert_eq!(Decimal::parse(".5", 1).map(|d| d.units), Ok(5));
        assert_eq!(Decimal::parse("12.300", 1).map(|d| d.units), Ok(123));
        assert_eq!(Decimal::parse("7", 0).map(|d| d.to_string()), Ok("7".to_string()));
    }

    #[test]
    fn refuses_bad_text() {
        assert_eq!(Decimal::parse("1.234", 2), Err(DecimalError::TooManyDecimals));
        assert_eq!(Decimal::parse("abc", 2), Err(DecimalError::Invalid));
        assert_eq!(Decimal::parse("", 2), Err(DecimalError::Invalid));
        assert_eq!(Decimal::parse("1.2.3", 2), Err(DecimalError::Invalid));
        assert_eq!(Decimal::parse("1e5", 2), Err(DecimalError::Invalid));
        assert_eq!(Decimal::parse("99999999999999999999", 0), Err(DecimalError::OutOfRange));
    }

    #[test]
    fn rescales_exactly() {
        let d = Decimal { units: 1250, scale: 2 };
        assert_eq!(d.rescale(3), Some(Decimal { units: 12500, scale: 3 }));
        assert_eq!(d.rescale(1), Some(Decimal { units: 125, scale: 1 }));
        assert_eq!(d.rescale(0), None);
    }
}
