//! From dated transactions to the per-customer statistics the models use, as Fader, Hardie &
//! Lee define them: purchases on the same day count as one; the first purchase starts the
//! customer's clock and is not a repeat purchase.

use std::collections::HashMap;

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

/// Summarizes the transactions on or before `calibration_end`, in periods of `period_days`,
/// customers in the order of their names. A day's total adds its amounts in the order given.
pub fn summarize(transactions: &[Transaction], calibration_end: i64, period_days: f64) -> Vec<CustomerSummary> {
    // Each customer's purchases gathered by a hash of the name (a tree of names was most of a
    // fit's summary at 2,000,000 purchases), the customers then sorted once.
    let mut by_customer: HashMap<&str, Vec<(i64, f64)>> = HashMap::new();
    for t in transactions.iter().filter(|t| t.day <= calibration_end) {
        by_customer.entry(t.customer.as_str()).or_default().push((t.day, t.amount));
    }
    let mut customers: Vec<(&str, Vec<(i64, f64)>)> = by_customer.into_iter().collect();
    customers.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut days: Vec<(i64, f64)> = Vec::new();
    customers
        .into_iter()
        .filter_map(|(customer, mut purchases)| {
            // A stable sort: a day's amounts keep their order, and add up as they came.
            purchases.sort_by_key(|p| p.0);
            days.clear();
            for (day, amount) in purchases {
                match days.last_mut() {
                    Some(last) if last.0 == day => last.1 += amount,
                    _ => days.push((day, 0.0 + amount)),
                }
            }
            let first = days.first()?.0;
            let last = days.last()?.0;
            let repeats: Vec<f64> = days.iter().skip(1).map(|d| d.1).collect();
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

    /// The summary as first written (trees of names and days), to compare with bit for bit.
    fn by_trees(transactions: &[Transaction], calibration_end: i64, period_days: f64) -> Vec<CustomerSummary> {
        use std::collections::BTreeMap;
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

    #[test]
    fn the_summary_is_the_trees_one_bit_for_bit() {
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Amounts with cents (sums that depend on their order), several a day, in no order.
        let tx: Vec<Transaction> = (0..20_000)
            .map(|_| {
                let customer = format!("c{}", next() % 3_000);
                t(&customer, (next() % 400) as i64, (next() % 100_000) as f64 / 100.0 + 0.01)
            })
            .collect();
        let (fast, trees) = (summarize(&tx, 350, 7.0), by_trees(&tx, 350, 7.0));
        assert_eq!(fast.len(), trees.len());
        for (a, b) in fast.iter().zip(&trees) {
            assert_eq!(a.customer, b.customer);
            for (x, y) in [(a.frequency, b.frequency), (a.recency, b.recency), (a.age, b.age), (a.monetary, b.monetary)]
            {
                assert_eq!(x.to_bits(), y.to_bits(), "{a:?} {b:?}");
            }
        }
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
