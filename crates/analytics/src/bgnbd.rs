//! The BG/NBD model of repeat buying (Fader, Hardie & Lee 2005, "Counting your customers the
//! easy way: an alternative to the Pareto/NBD model", Marketing Science 24(2)).
//!
//! While alive, a customer buys at rate λ (a Poisson process), with λ ~ Gamma(r, α) across
//! customers; after each repeat purchase the customer drops out with probability p, with
//! p ~ Beta(a, b). For a customer with x repeat purchases, the last at t_x, observed for T:
//!
//! LL = ln Γ(r+x) − ln Γ(r) + r ln α + ln Γ(a+b) + ln Γ(b+x) − ln Γ(b) − ln Γ(a+b+x)
//!      + ln( (α+T)^−(r+x) + [x>0] · a/(b+x−1) · (α+t_x)^−(r+x) )
//!
//! (equation 6 of the paper), computed with log-sum-exp so it stays finite for large T.

use crate::optimize::nelder_mead;
use crate::summary::CustomerSummary;
use libm::lgamma;

/// The four parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Params {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// A fitted model: parameters and the log-likelihood of the data at them.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Fit {
    pub params: Params,
    pub log_likelihood: f64,
}

fn log_add(x: f64, y: f64) -> f64 {
    let m = x.max(y);
    if m == f64::NEG_INFINITY { m } else { m + ((x - m).exp() + (y - m).exp()).ln() }
}

/// The log-likelihood of one customer.
pub fn customer_log_likelihood(p: &Params, x: f64, t_x: f64, t: f64) -> f64 {
    let Params { r, alpha, a, b } = *p;
    let a1 = lgamma(r + x) - lgamma(r) + r * alpha.ln();
    let a2 = lgamma(a + b) + lgamma(b + x) - lgamma(b) - lgamma(a + b + x);
    let a3 = -(r + x) * (alpha + t).ln();
    if x > 0.0 {
        let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + t_x).ln();
        a1 + a2 + log_add(a3, a4)
    } else {
        a1 + a2 + a3
    }
}

/// The log-likelihood of many customers.
pub fn log_likelihood(p: &Params, data: &[CustomerSummary]) -> f64 {
    data.iter().map(|c| customer_log_likelihood(p, c.frequency, c.recency, c.age)).sum()
}

/// Customers with the same (x, t_x, T) contribute the same term, so a fit evaluates each
/// distinct history once, weighted by how many customers share it. With histories counted in
/// whole days or weeks, a million customers have far fewer distinct histories.
#[derive(Clone, Debug, Default)]
pub struct Histories {
    /// (x, t_x, T, number of customers).
    pub groups: Vec<(f64, f64, f64, f64)>,
}

impl Histories {
    pub fn new(data: &[CustomerSummary]) -> Histories {
        let mut counts: std::collections::HashMap<(u64, u64, u64), f64> = std::collections::HashMap::new();
        for c in data {
            *counts.entry((c.frequency.to_bits(), c.recency.to_bits(), c.age.to_bits())).or_default() += 1.0;
        }
        let mut groups: Vec<(f64, f64, f64, f64)> = counts
            .into_iter()
            .map(|((x, t_x, t), n)| (f64::from_bits(x), f64::from_bits(t_x), f64::from_bits(t), n))
            .collect();
        groups.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.total_cmp(&b.2)));
        Histories { groups }
    }

    /// The same sum as [`customer_log_likelihood`] over every group, bit for bit, with the terms
    /// that depend on x alone (its log-gammas) worked out once per x: the groups are sorted by
    /// x, and a fit evaluates this hundreds of times (its log-gammas were most of a fit's time).
    pub fn log_likelihood(&self, p: &Params) -> f64 {
        let Params { r, alpha, a, b } = *p;
        let mut sum = 0.0;
        let mut current = f64::NAN;
        let (mut head, mut a4_head) = (0.0, 0.0);
        for &(x, t_x, t, n) in &self.groups {
            if x.to_bits() != current.to_bits() {
                current = x;
                // As `customer_log_likelihood` groups them: a1 + a2, then the rest.
                let a1 = lgamma(r + x) - lgamma(r) + r * alpha.ln();
                let a2 = lgamma(a + b) + lgamma(b + x) - lgamma(b) - lgamma(a + b + x);
                head = a1 + a2;
                a4_head = a.ln() - (b + x - 1.0).ln();
            }
            let a3 = -(r + x) * (alpha + t).ln();
            let ll = if x > 0.0 { head + log_add(a3, a4_head - (r + x) * (alpha + t_x).ln()) } else { head + a3 };
            sum += n * ll;
        }
        sum
    }

    pub fn customers(&self) -> f64 {
        self.groups.iter().map(|g| g.3).sum()
    }
}

/// Fits the parameters by maximum likelihood (Nelder–Mead on their logarithms).
pub fn fit(data: &[CustomerSummary]) -> Fit {
    let histories = Histories::new(data);
    let mean_age = histories.groups.iter().map(|g| g.2 * g.3).sum::<f64>() / histories.customers().max(1.0);
    let params = |v: &[f64]| Params { r: v[0].exp(), alpha: v[1].exp(), a: v[2].exp(), b: v[3].exp() };
    let start = [0.0, mean_age.max(1.0).ln(), 0.0, 0.0];
    let mut best = nelder_mead(|v| -histories.log_likelihood(&params(v)), &start, 1.0, 1e-12, 20_000);
    // A restart from the best point escapes the simplex collapsing early.
    for _ in 0..2 {
        let again = nelder_mead(|v| -histories.log_likelihood(&params(v)), &best.x, 0.3, 1e-12, 20_000);
        if again.value < best.value - 1e-9 { best = again } else { break }
    }
    Fit { params: params(&best.x), log_likelihood: -best.value }
}

/// Gauss's hypergeometric function ₂F₁(a, b; c; z) for 0 ≤ z < 1, by its series.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..100_000 {
        let k = k as f64;
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term.abs() <= 1e-15 * sum.abs() {
            break;
        }
    }
    sum
}

/// The probability that a customer with this history is still alive at T (equation 11).
pub fn probability_alive(p: &Params, x: f64, t_x: f64, t: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    let Params { r, alpha, a, b } = *p;
    1.0 / (1.0 + (a / (b + x - 1.0)) * ((r + x) * ((alpha + t).ln() - (alpha + t_x).ln())).exp())
}

/// The expected number of purchases in the next `horizon` periods (T, T + horizon] of a
/// customer with this history (equation 10).
pub fn expected_purchases(p: &Params, horizon: f64, x: f64, t_x: f64, t: f64) -> f64 {
    let Params { r, alpha, a, b } = *p;
    let z = horizon / (alpha + t + horizon);
    let head = (a + b + x - 1.0) / (a - 1.0);
    let tail =
        1.0 - ((r + x) * ((alpha + t) / (alpha + t + horizon)).ln()).exp() * hyp2f1(r + x, b + x, a + b + x - 1.0, z);
    let denominator =
        if x > 0.0 { 1.0 + (a / (b + x - 1.0)) * ((r + x) * ((alpha + t) / (alpha + t_x)).ln()).exp() } else { 1.0 };
    head * tail / denominator
}

/// [`expected_purchases`] of many customers over the horizons 1 … `horizon`, bit for bit: the
/// part that depends on x and T alone (a hypergeometric series, most of its cost) is worked out
/// once per distinct (x, T) and kept, since a business's customers share them (histories in
/// whole days). A lifetime value sums 52 horizons a customer.
#[derive(Clone, Debug)]
pub struct Forecasts {
    p: Params,
    horizon: usize,
    tails: std::collections::HashMap<(u64, u64), Vec<f64>>,
}

impl Forecasts {
    pub fn new(p: &Params, horizon: usize) -> Forecasts {
        Forecasts { p: *p, horizon, tails: Default::default() }
    }

    /// The expected purchases in (T, T + k] for k = 1 … horizon, into `out` (cleared first).
    pub fn upto_each(&mut self, x: f64, t_x: f64, t: f64, out: &mut Vec<f64>) {
        let Params { r, alpha, a, b } = self.p;
        let horizon = self.horizon;
        let tails = self.tails.entry((x.to_bits(), t.to_bits())).or_insert_with(|| {
            (1..=horizon)
                .map(|k| {
                    let horizon = k as f64;
                    let z = horizon / (alpha + t + horizon);
                    1.0 - ((r + x) * ((alpha + t) / (alpha + t + horizon)).ln()).exp()
                        * hyp2f1(r + x, b + x, a + b + x - 1.0, z)
                })
                .collect()
        });
        let head = (a + b + x - 1.0) / (a - 1.0);
        let denominator = if x > 0.0 {
            1.0 + (a / (b + x - 1.0)) * ((r + x) * ((alpha + t) / (alpha + t_x)).ln()).exp()
        } else {
            1.0
        };
        out.clear();
        out.extend(tails.iter().map(|tail| head * tail / denominator));
    }
}

/// The expected number of purchases of a new customer in (0, t] (equation 9).
pub fn expected_purchases_new(p: &Params, t: f64) -> f64 {
    let Params { r, alpha, a, b } = *p;
    (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)).powf(r) * hyp2f1(r, b, a + b - 1.0, t / (alpha + t)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{Rng, bgnbd_customers};

    #[test]
    fn hypergeometric_matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z.
        for z in [0.1, 0.5, 0.9] {
            assert!((hyp2f1(1.0, 1.0, 2.0, z) - (-(1.0 - z).ln() / z)).abs() < 1e-10);
        }
    }

    #[test]
    fn no_repeat_purchase_and_large_ages_stay_finite() {
        let p = Params { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
        for (x, t_x, t) in [(0.0, 0.0, 1e6), (1.0, 0.5, 1e6), (50.0, 1e5, 1e6), (0.0, 0.0, 0.0)] {
            let ll = customer_log_likelihood(&p, x, t_x, t);
            assert!(ll.is_finite(), "{x} {t_x} {t}: {ll}");
            let e = expected_purchases(&p, 39.0, x, t_x, t);
            assert!(e.is_finite() && e >= 0.0, "{e}");
        }
        assert_eq!(probability_alive(&p, 0.0, 0.0, 50.0), 1.0);
        // A frequent buyer silent for long is less likely alive than one who just bought.
        assert!(probability_alive(&p, 10.0, 5.0, 50.0) < probability_alive(&p, 10.0, 49.0, 50.0));
    }

    #[test]
    fn the_expected_purchases_of_a_new_customer_match_a_simulation() {
        let p = Params { r: 0.5, alpha: 6.0, a: 1.8, b: 3.0 };
        let mut rng = Rng::new(11);
        let customers = bgnbd_customers(&mut rng, &p, 40_000, 20.0, 20.0);
        let mean = customers.iter().map(|c| c.frequency).sum::<f64>() / customers.len() as f64;
        let expected = expected_purchases_new(&p, 20.0);
        assert!((mean - expected).abs() / expected < 0.05, "simulated {mean}, formula {expected}");
    }

    #[test]
    fn one_customer_and_no_repeat_buyers_still_fit() {
        let c = |x: f64, t_x: f64, t: f64| CustomerSummary {
            customer: String::new(),
            frequency: x,
            recency: t_x,
            age: t,
            monetary: 0.0,
        };
        for data in [vec![c(3.0, 20.0, 30.0)], vec![c(0.0, 0.0, 30.0), c(0.0, 0.0, 12.0)]] {
            let f = fit(&data);
            assert!(f.log_likelihood.is_finite(), "{f:?}");
            assert!(f.params.r > 0.0 && f.params.alpha > 0.0 && f.params.a > 0.0 && f.params.b > 0.0);
            assert!(f.log_likelihood >= log_likelihood(&Params { r: 1.0, alpha: 1.0, a: 1.0, b: 1.0 }, &data) - 1e-9);
        }
    }

    #[test]
    fn grouped_histories_give_the_same_likelihood() {
        let p = Params { r: 0.3, alpha: 5.0, a: 0.8, b: 2.0 };
        let c = |x: f64, t_x: f64, t: f64| CustomerSummary {
            customer: String::new(),
            frequency: x,
            recency: t_x,
            age: t,
            monetary: 0.0,
        };
        let data = vec![c(0.0, 0.0, 10.0), c(2.0, 5.0, 10.0), c(0.0, 0.0, 10.0), c(2.0, 5.0, 10.0), c(1.0, 1.0, 3.0)];
        let h = Histories::new(&data);
        assert_eq!(h.groups.len(), 3);
        assert!((h.log_likelihood(&p) - log_likelihood(&p, &data)).abs() < 1e-9);
    }

    #[test]
    fn kept_forecasts_are_the_expected_purchases_bit_for_bit() {
        let p = Params { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
        let mut f = Forecasts::new(&p, 52);
        let mut out = Vec::new();
        // The same (x, T) twice: the second is read from what was kept.
        for (x, t_x, t) in [(0.0, 0.0, 30.0), (3.0, 20.0, 38.0), (3.0, 11.0, 38.0), (0.0, 0.0, 30.0), (12.0, 1.0, 2.0)]
        {
            f.upto_each(x, t_x, t, &mut out);
            assert_eq!(out.len(), 52);
            for (k, got) in out.iter().enumerate() {
                assert_eq!(
                    got.to_bits(),
                    expected_purchases(&p, (k + 1) as f64, x, t_x, t).to_bits(),
                    "{x} {t_x} {t} {k}"
                );
            }
        }
        assert_eq!(f.tails.len(), 3);
    }

    #[test]
    fn grouped_likelihood_is_each_groups_term_bit_for_bit() {
        let mut rng = Rng::new(5);
        let mut data = bgnbd_customers(&mut rng, &Params { r: 0.7, alpha: 5.0, a: 0.9, b: 2.5 }, 3000, 1.0, 80.0);
        // Histories in whole days, as the CRM's orders give them.
        for c in &mut data {
            c.recency = (c.recency * 7.0).round() / 7.0;
            c.age = (c.age * 7.0).round() / 7.0;
        }
        let h = Histories::new(&data);
        for p in [Params { r: 0.3, alpha: 5.0, a: 0.8, b: 2.0 }, Params { r: 2.1, alpha: 0.4, a: 3.0, b: 0.6 }] {
            let plain: f64 = h.groups.iter().map(|&(x, t_x, t, n)| n * customer_log_likelihood(&p, x, t_x, t)).sum();
            assert_eq!(h.log_likelihood(&p).to_bits(), plain.to_bits());
        }
    }

    #[test]
    fn fitting_recovers_known_parameters() {
        let truth = Params { r: 0.6, alpha: 4.0, a: 0.9, b: 3.0 };
        let mut rng = Rng::new(2026);
        let customers = bgnbd_customers(&mut rng, &truth, 6000, 30.0, 60.0);
        let fit = fit(&customers);
        let p = fit.params;
        let close = |got: f64, want: f64, tol: f64| (got - want).abs() / want < tol;
        assert!(close(p.r, truth.r, 0.15) && close(p.alpha, truth.alpha, 0.2), "{p:?}");
        assert!(close(p.a, truth.a, 0.35) && close(p.b, truth.b, 0.4), "{p:?}");
        assert!(
            fit.log_likelihood >= log_likelihood(&truth, &customers) - 1e-6,
            "the fit is at least as likely as the truth"
        );
    }
}
