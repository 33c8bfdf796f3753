//! Churn risk from the BG/NBD probability of being alive and from recency.
//!
//! risk = 1 − P(alive). A customer is also *overdue* when the time since their last purchase
//! (T − t_x) exceeds twice their own average time between purchases (t_x / x). Bands: low below
//! 0.3, medium below 0.6, high otherwise; an overdue customer is at least medium.

use crate::bgnbd::{Params, probability_alive};
use crate::summary::CustomerSummary;

/// A customer's churn risk.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Risk {
    pub customer: String,
    pub risk: f64,
    pub overdue: bool,
    /// `low`, `medium` or `high`.
    pub band: &'static str,
}

pub fn churn_risk(params: &Params, c: &CustomerSummary) -> Risk {
    let risk = 1.0 - probability_alive(params, c.frequency, c.recency, c.age);
    let overdue = c.frequency > 0.0 && (c.age - c.recency) > 2.0 * (c.recency / c.frequency);
    let band = if risk >= 0.6 {
        "high"
    } else if risk >= 0.3 || overdue {
        "medium"
    } else {
        "low"
    };
    Risk { customer: c.customer.clone(), risk, overdue, band }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_after_regular_buying_raises_the_risk() {
        let p = Params { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
        let c = |x: f64, t_x: f64| CustomerSummary {
            customer: "c".into(),
            frequency: x,
            recency: t_x,
            age: 52.0,
            monetary: 0.0,
        };
        let active = churn_risk(&p, &c(10.0, 51.0));
        let silent = churn_risk(&p, &c(10.0, 10.0));
        assert!(active.risk < silent.risk);
        assert_eq!(active.band, "low");
        assert!(!active.overdue && silent.overdue);
        assert_eq!(silent.band, "high");
        assert_eq!(
            churn_risk(&p, &c(0.0, 0.0)).risk,
            0.0,
            "no repeat purchase yet: the model has no evidence of dropping out"
        );
    }
}
