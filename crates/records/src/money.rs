//! A priced line's money, exactly (issue 27: quotes and orders): quantity × unit price, a
//! discount (a percent or an amount), tax, and the total, all as scaled integers.
//!
//! **The rounding rule.** Each line is rounded once per figure, half away from zero, to the
//! currency's smallest unit (a whole rial; a cent): its gross, its discount, its tax. Its net is
//! gross − discount and its total net + tax, with no rounding left. A document's figures are
//! the sums of its lines' rounded figures, so the lines printed add up to the total printed, to
//! the rial.

use crate::FieldError;
use crate::decimal::Decimal;
use serde_json::json;

/// A line's discount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discount {
    None,
    /// A percent of the line's gross, 0 to 100 (scale 2: `12.5` %).
    Percent(Decimal),
    /// An amount in the line's currency, at most its gross.
    Amount(Decimal),
}

/// What a line is priced from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    /// More than zero (fractions allowed: 2.5 kg).
    pub quantity: Decimal,
    /// At least zero, in the currency's scale.
    pub unit_price: Decimal,
    pub discount: Discount,
    /// A percent, at least zero (scale 2: `10` for Iran's value-added tax).
    pub tax_percent: Decimal,
}

/// A line's (or a document's) figures, in the currency's scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Totals {
    pub gross: i64,
    pub discount: i64,
    pub net: i64,
    pub tax: i64,
    pub total: i64,
}

/// `value / 10^shift`, rounded half away from zero.
fn round_down_scale(value: i128, shift: u32) -> i128 {
    if shift == 0 {
        return value;
    }
    let divisor = 10i128.pow(shift);
    let (q, r) = (value / divisor, value % divisor);
    if r.abs() * 2 >= divisor { q + value.signum() } else { q }
}

/// `units` of `scale` at `to` (rounded half away from zero when `to` is smaller).
fn at_scale(units: i128, scale: u8, to: u8) -> i128 {
    if scale >= to { round_down_scale(units, u32::from(scale - to)) } else { units * 10i128.pow(u32::from(to - scale)) }
}

/// `percent` % of `d`, at its scale, rounded half away from zero (a column's weighted worth).
pub fn percent_of(d: Decimal, percent: i64) -> Decimal {
    let units = round_down_scale(i128::from(d.units) * i128::from(percent), 2);
    Decimal { units: i64::try_from(units).unwrap_or(if units < 0 { i64::MIN } else { i64::MAX }), scale: d.scale }
}

fn fits(field: &str, value: i128) -> Result<i64, FieldError> {
    i64::try_from(value).map_err(|_| FieldError::new(field, "out_of_range"))
}

/// Prices one line in a currency of `scale` fractional digits (rial: 0). Refuses, naming the
/// field: a quantity not above zero, a negative price or tax, a percent over 100, an amount
/// discount above the line's gross.
pub fn price_line(line: &Line, scale: u8) -> Result<Totals, FieldError> {
    if line.quantity.units <= 0 {
        return Err(FieldError::new("quantity", "not_positive"));
    }
    if line.unit_price.units < 0 {
        return Err(FieldError::new("unit_price", "negative"));
    }
    if line.tax_percent.units < 0 {
        return Err(FieldError::new("tax_percent", "negative"));
    }
    let product = i128::from(line.quantity.units) * i128::from(line.unit_price.units);
    let gross = at_scale(product, line.quantity.scale + line.unit_price.scale, scale);
    let discount = match line.discount {
        Discount::None => 0,
        Discount::Percent(p) => {
            let hundred = 100 * 10i128.pow(u32::from(p.scale));
            if p.units < 0 || i128::from(p.units) > hundred {
                return Err(FieldError::with("discount", "discount_over_100", json!({ "max": 100 })));
            }
            // gross × p / 100, rounded once.
            at_scale(gross * i128::from(p.units), p.scale + 2, 0)
        }
        Discount::Amount(a) => {
            let amount = at_scale(i128::from(a.units), a.scale, scale);
            if amount < 0 {
                return Err(FieldError::new("discount", "negative"));
            }
            if amount > gross {
                return Err(FieldError::new("discount", "discount_over_amount"));
            }
            amount
        }
    };
    let net = gross - discount;
    let tax = at_scale(net * i128::from(line.tax_percent.units), line.tax_percent.scale + 2, 0);
    Ok(Totals {
        gross: fits("unit_price", gross)?,
        discount: fits("discount", discount)?,
        net: fits("unit_price", net)?,
        tax: fits("tax_percent", tax)?,
        total: fits("unit_price", net + tax)?,
    })
}

/// A document's figures: the sums of its lines' (already rounded) figures.
pub fn sum(lines: &[Totals]) -> Result<Totals, FieldError> {
    let add = |f: fn(&Totals) -> i64| -> Result<i64, FieldError> {
        fits("lines", lines.iter().map(|t| i128::from(f(t))).sum())
    };
    Ok(Totals {
        gross: add(|t| t.gross)?,
        discount: add(|t| t.discount)?,
        net: add(|t| t.net)?,
        tax: add(|t| t.tax)?,
        total: add(|t| t.total)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str, scale: u8) -> Decimal {
        Decimal::parse(text, scale).expect("decimal")
    }

    #[test]
    fn a_percent_of_an_amount_is_rounded_once_half_away_from_zero() {
        assert_eq!(percent_of(d("1000", 0), 35), d("350", 0));
        assert_eq!(percent_of(d("15", 0), 10), d("2", 0), "1.5 rounds up");
        assert_eq!(percent_of(d("-15", 0), 10), d("-2", 0), "away from zero");
        assert_eq!(percent_of(d("14", 0), 10), d("1", 0));
        assert_eq!(percent_of(d("10.05", 2), 50), d("5.03", 2));
    }

    fn line(quantity: &str, price: &str, discount: Discount, tax: &str) -> Line {
        Line { quantity: d(quantity, 3), unit_price: d(price, 0), discount, tax_percent: d(tax, 2) }
    }

    #[test]
    fn an_invoice_adds_up_to_the_rial() {
        // 3 × 1,250,000 rials, 10 % off, 10 % value-added tax.
        let a = price_line(&line("3", "1250000", Discount::Percent(d("10", 2)), "10"), 0).expect("line");
        assert_eq!(a, Totals { gross: 3_750_000, discount: 375_000, net: 3_375_000, tax: 337_500, total: 3_712_500 });
        // 2.5 units × 999,999 rials: the gross rounds half away from zero (2,499,997.5 → 2,499,998).
        let b = price_line(&line("2.5", "999999", Discount::Amount(d("98", 0)), "9"), 0).expect("line");
        assert_eq!((b.gross, b.discount, b.net), (2_499_998, 98, 2_499_900));
        assert_eq!(b.tax, 224_991, "9 % of 2,499,900 is 224,991");
        // 1 × 333 rials, 12.5 % off: 41.625 rounds to 42.
        let c = price_line(&line("1", "333", Discount::Percent(d("12.5", 2)), "0"), 0).expect("line");
        assert_eq!((c.discount, c.total), (42, 291));
        let doc = sum(&[a, b, c]).expect("sum");
        assert_eq!(doc.total, a.total + b.total + c.total, "the lines printed add up to the total printed");
        assert_eq!(doc.net + doc.tax, doc.total);
    }

    #[test]
    fn cents_round_to_a_cent() {
        let l =
            Line { quantity: d("3", 0), unit_price: d("0.35", 2), discount: Discount::None, tax_percent: d("7.25", 2) };
        let t = price_line(&l, 2).expect("line");
        // 1.05, tax 0.076125 → 0.08.
        assert_eq!((t.gross, t.tax, t.total), (105, 8, 113));
    }

    #[test]
    fn bad_lines_are_refused_naming_the_field() {
        let code = |l: Line| price_line(&l, 0).map_err(|e| (e.field, e.code)).err();
        assert_eq!(code(line("0", "10", Discount::None, "0")), Some(("quantity".into(), "not_positive")));
        assert_eq!(code(line("-1", "10", Discount::None, "0")), Some(("quantity".into(), "not_positive")));
        assert_eq!(code(line("1", "-10", Discount::None, "0")), Some(("unit_price".into(), "negative")));
        assert_eq!(
            code(line("1", "10", Discount::Percent(d("100.01", 2)), "0")),
            Some(("discount".into(), "discount_over_100"))
        );
        assert_eq!(
            code(line("2", "10", Discount::Amount(d("21", 0)), "0")),
            Some(("discount".into(), "discount_over_amount"))
        );
        assert_eq!(code(line("1", "10", Discount::None, "-1")), Some(("tax_percent".into(), "negative")));
        let huge = Line {
            quantity: d("9000000", 3),
            unit_price: d("9000000000000", 0),
            discount: Discount::None,
            tax_percent: d("0", 2),
        };
        assert_eq!(price_line(&huge, 0).map_err(|e| e.code).err(), Some("out_of_range"));
        // A whole discount is allowed: a free line.
        assert_eq!(price_line(&line("1", "10", Discount::Percent(d("100", 2)), "9"), 0).expect("free").total, 0);
    }
}
