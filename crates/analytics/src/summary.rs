//! From dated transactions to the per-customer statistics the models use, as Fader, Hardie &
//! Lee define them: purchases on the same day count as one; the first purchase starts the
//! customer's clock and is not a repeat purchase.

use std::collections::BTreeMap;

/// One purchase: who, which day (days since any fixed epoch), how much.
#[derive(Clone, Debug, PartialEq)]
pub struct Transaction {
    pub customer: String,
    pub day: i64,
    pub amount: f64,
}

/// A customer's history up to the end of the calibration period, in periods (days, weeks…).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CustomerSummary {
    pub customer: String,
    /// x: repeat purchases (distinct purchase days after the first).
    pub frequency: f64,
    /// t_x: time from the first to the last purchase.
    pub recency: f64,
    /// T: time from the first purchase to the end of the calibration period.
    pub age: f64,
    /// m̄: the average value of the repeat purchases (each day's total); 0 without repeats.
    pub monetary: f64,
}

/// Summarizes the transactions on or before `calibration_end`, in periods of `period_days`.
pub fn summarize(transactions: &[Transaction], calibration_end: i64, period_days: f64) -> Vec<CustomerSummary> {
    let mut days: BTreeMap<&str, BTreeMap<i64, f64>> = BTreeMap::new();
    for t in transactions.iter().filter(|t| t.day <= calibration_end) {
        *days.entry(t.customer.as_str()).or_default().entry(t.day).or_insert(0.0) += t.amount;
    }
    days.into_iter()
        .filter_map(|(customer, by_day)| {
            let first = *by_day.keys().next()?;
            let last = *by_day.keys().next_back()?;
            let repeats: Vec<f64> = by_day.values().skip(1).copied().collect();
            let x = repeats.len() as f64;
            Some(CustomerSummary {
                customer: customer.to_string(),
                frequency: x,
                recency: (last - first) as f64 / period_days,
                age: (calibration_end - first) as f64 / period_days,
                monetary: if repeats.is_empty() { 0.0 } else { repeats.iter().sum::<f64>() / x },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(c: &str, day: i64, amount: f64) -> Transaction {
        Transaction { customer: c.into(), day, amount }
    }

    #[test]
    fn same_day_purchases_collapse_and_the_first_is_not_a_repeat() {
        let s = summarize(
            &[t("a", 0, 10.0), t("a", 0, 5.0), t("a", 7, 20.0), t("a", 14, 40.0), t("a", 99, 1.0), t("b", 21, 8.0)],
            28,
            7.0,
        );
        assert_eq!(
            s[0],
            CustomerSummary { customer: "a".into(), frequency: 2.0, recency: 2.0, age: 4.0, monetary: 30.0 }
        );
        assert_eq!(
            s[1],
            CustomerSummary { customer: "b".into(), frequency: 0.0, recency: 0.0, age: 1.0, monetary: 0.0 }
        );
        assert!(
            summarize(&[t("c", 40, 1.0)], 28, 7.0).is_empty(),
            "purchases after the calibration period are not counted"
        );
    }
}
