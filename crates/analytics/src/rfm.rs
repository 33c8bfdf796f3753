//! RFM: recency, frequency and monetary scores from 1 to 5 (5 best) by quintile of rank, and
//! named segments from rules on the scores.
//!
//! A customer's score on a measure is ⌊5·k/n⌋ + 1, where k is the number of customers strictly
//! worse on it and n the number of customers, so ties share a score. Recency is better when
//! smaller (days since the last purchase); frequency and monetary when larger.

use std::ops::RangeInclusive;

/// A customer's measures.
#[derive(Clone, Debug, PartialEq)]
pub struct Measures {
    pub customer: String,
    pub recency_days: f64,
    pub frequency: f64,
    pub monetary: f64,
}

/// A customer's scores and segment.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Scored {
    pub customer: String,
    pub r: u8,
    pub f: u8,
    pub m: u8,
    pub segment: String,
}

/// A segment: a name and the R and F scores it covers; the first rule that matches wins.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub segment: String,
    pub r: RangeInclusive<u8>,
    pub f: RangeInclusive<u8>,
}

fn rule(segment: &str, r: RangeInclusive<u8>, f: RangeInclusive<u8>) -> Rule {
    Rule { segment: segment.into(), r, f }
}

/// The default segments; together they cover every (R, F) pair.
pub fn default_rules() -> Vec<Rule> {
    vec![
        rule("champions", 5..=5, 4..=5),
        rule("loyal", 3..=5, 3..=5),
        rule("new", 5..=5, 1..=1),
        rule("potential", 4..=5, 1..=3),
        rule("cant_lose", 1..=2, 5..=5),
        rule("at_risk", 1..=2, 3..=4),
        rule("hibernating", 2..=3, 1..=2),
        rule("lost", 1..=1, 1..=2),
    ]
}

/// Quintile scores of `values`; `higher_is_better` says which way.
pub fn quintile_scores(values: &[f64], higher_is_better: bool) -> Vec<u8> {
    let n = values.len();
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    values
        .iter()
        .map(|v| {
            // Customers strictly worse than this one.
            let worse = if higher_is_better {
                sorted.partition_point(|x| x < v)
            } else {
                n - sorted.partition_point(|x| x <= v)
            };
            (worse * 5 / n.max(1) + 1).min(5) as u8
        })
        .collect()
}

/// Scores and segments customers with `rules` (see [`default_rules`]).
pub fn score(customers: &[Measures], rules: &[Rule]) -> Vec<Scored> {
    let r = quintile_scores(&customers.iter().map(|c| c.recency_days).collect::<Vec<_>>(), false);
    let f = quintile_scores(&customers.iter().map(|c| c.frequency).collect::<Vec<_>>(), true);
    let m = quintile_scores(&customers.iter().map(|c| c.monetary).collect::<Vec<_>>(), true);
    customers
        .iter()
        .enumerate()
        .map(|(i, c)| Scored {
            customer: c.customer.clone(),
            r: r[i],
            f: f[i],
            m: m[i],
            segment: rules
                .iter()
                .find(|x| x.r.contains(&r[i]) && x.f.contains(&f[i]))
                .map(|x| x.segment.clone())
                .unwrap_or_else(|| "other".into()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quintiles_by_rank_with_shared_ties() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quintile_scores(&values, true), vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert_eq!(quintile_scores(&values, false), vec![5, 5, 4, 4, 3, 3, 2, 2, 1, 1]);
        assert_eq!(quintile_scores(&[3.0, 3.0, 3.0], true), vec![1, 1, 1], "all tied: one score");
        assert_eq!(quintile_scores(&[7.0], true), vec![1]);
        assert!(quintile_scores(&[], true).is_empty());
    }

    #[test]
    fn default_rules_cover_every_pair() {
        let rules = default_rules();
        for r in 1..=5u8 {
            for f in 1..=5u8 {
                assert!(rules.iter().any(|x| x.r.contains(&r) && x.f.contains(&f)), "R{r} F{f}");
            }
        }
    }

    #[test]
    fn recent_frequent_big_spenders_are_champions() {
        let customers: Vec<Measures> = (0..10)
            .map(|i| Measures {
                customer: i.to_string(),
                recency_days: f64::from(i * 30),
                frequency: f64::from(10 - i),
                monetary: f64::from(100 * (10 - i)),
            })
            .collect();
        let scored = score(&customers, &default_rules());
        assert_eq!((scored[0].r, scored[0].f, scored[0].m), (5, 5, 5));
        assert_eq!(scored[0].segment, "champions");
        assert_eq!(scored[9].segment, "lost");
    }
}
