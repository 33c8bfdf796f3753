//! The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV:
//! using iso-value curves for customer base analysis", Journal of Marketing Research 42(4); and
//! Fader & Hardie, "The Gamma-Gamma model of monetary value", 2013).
//!
//! A customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, γ) across customers. For a
//! customer with x repeat transactions averaging m̄:
//!
//! LL = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln m̄ + px ln x − (px+q) ln(γ + x m̄)
//!
//! and the expected average value of their transactions is (γ + x m̄) p / (px + q − 1).

use crate::bgnbd;
use crate::optimize::nelder_mead;
use crate::summary::CustomerSummary;
use libm::lgamma;

/// The three parameters (γ written `gamma`).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Params {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

/// The log-likelihood of the customers with repeat purchases of positive value.
pub fn log_likelihood(params: &Params, data: &[CustomerSummary]) -> f64 {
    let Params { p, q, gamma } = *params;
    data.iter()
        .filter(|c| c.frequency > 0.0 && c.monetary > 0.0)
        .map(|c| {
            let (x, m) = (c.frequency, c.monetary);
            lgamma(p * x + q) - lgamma(p * x) - lgamma(q) + q * gamma.ln() + (p * x - 1.0) * m.ln() + p * x * x.ln()
                - (p * x + q) * (gamma + x * m).ln()
        })
        .sum()
}

/// The spenders of a fit with what their terms need that no parameter changes (ln m̄, ln x, x m̄),
/// and their x's distinct values: [`log_likelihood`]'s sum, bit for bit, with the log-gammas
/// worked out once per x and one logarithm a customer (a fit evaluates it hundreds of times).
struct Spenders {
    /// x, ln m̄, ln x, x m̄ and the index of x in `xs`, in the customers' order.
    rows: Vec<(f64, f64, f64, f64, usize)>,
    xs: Vec<f64>,
}

impl Spenders {
    fn new(spenders: &[&CustomerSummary]) -> Spenders {
        let mut xs: Vec<f64> = spenders.iter().map(|c| c.frequency).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup_by(|a, b| a.to_bits() == b.to_bits());
        let rows = spenders
            .iter()
            .map(|c| {
                let (x, m) = (c.frequency, c.monetary);
                let at = xs.binary_search_by(|v| v.total_cmp(&x)).unwrap_or(0);
                (x, m.ln(), x.ln(), x * m, at)
            })
            .collect();
        Spenders { rows, xs }
    }

    fn log_likelihood(&self, params: &Params) -> f64 {
        let Params { p, q, gamma } = *params;
        let heads: Vec<f64> =
            self.xs.iter().map(|&x| lgamma(p * x + q) - lgamma(p * x) - lgamma(q) + q * gamma.ln()).collect();
        self.rows
            .iter()
            .map(|&(x, ln_m, ln_x, xm, at)| {
                heads[at] + (p * x - 1.0) * ln_m + p * x * ln_x - (p * x + q) * (gamma + xm).ln()
            })
            .sum()
    }
}

/// Fits the parameters by maximum likelihood; `None` when no customer has a repeat purchase of
/// positive value (nothing to fit).
pub fn fit(data: &[CustomerSummary]) -> Option<(Params, f64)> {
    let spenders: Vec<&CustomerSummary> = data.iter().filter(|c| c.frequency > 0.0 && c.monetary > 0.0).collect();
    if spenders.is_empty() {
        return None;
    }
    let mean = spenders.iter().map(|c| c.monetary).sum::<f64>() / spenders.len() as f64;
    let spenders = Spenders::new(&spenders);
    let params = |v: &[f64]| Params { p: v[0].exp(), q: v[1].exp(), gamma: v[2].exp() };
    let start = [0.0, 1.0, mean.max(1e-9).ln()];
    let mut best = nelder_mead(|v| -spenders.log_likelihood(&params(v)), &start, 1.0, 1e-12, 20_000);
    for _ in 0..2 {
        let again = nelder_mead(|v| -spenders.log_likelihood(&params(v)), &best.x, 0.3, 1e-12, 20_000);
        if again.value < best.value - 1e-9 { best = again } else { break }
    }
    Some((params(&best.x), -best.value))
}

/// The expected average transaction value of a customer (the population mean pγ/(q−1) for a
/// customer without repeat purchases).
pub fn expected_average_value(params: &Params, frequency: f64, monetary: f64) -> f64 {
    let Params { p, q, gamma } = *params;
    if frequency > 0.0 && monetary > 0.0 {
        (gamma + frequency * monetary) * p / (p * frequency + q - 1.0)
    } else {
        p * gamma / (q - 1.0)
    }
}

/// Customer lifetime value over `horizon` periods, each period's expected purchases (BG/NBD)
/// times the expected value (Gamma-Gamma), discounted at `discount_rate` per period:
/// CLV = Σₖ (E[X(T, T+k)] − E[X(T, T+k−1)]) · E[M] / (1 + d)ᵏ for k = 1 … horizon.
pub fn clv(purchases: &bgnbd::Params, spend: &Params, c: &CustomerSummary, horizon: usize, discount_rate: f64) -> f64 {
    clv_of(&mut bgnbd::Forecasts::new(purchases, horizon), &mut Vec::new(), spend, c, discount_rate)
}

/// [`clv`] over the horizon of `forecasts`, which keeps what customers share: the same value,
/// bit for bit, at a fraction of the cost for many customers. `upto` is scratch space.
pub fn clv_of(
    forecasts: &mut bgnbd::Forecasts,
    upto: &mut Vec<f64>,
    spend: &Params,
    c: &CustomerSummary,
    discount_rate: f64,
) -> f64 {
    let value = expected_average_value(spend, c.frequency, c.monetary);
    forecasts.upto_each(c.frequency, c.recency, c.age, upto);
    let mut total = 0.0;
    let mut before = 0.0;
    for (k, upto) in upto.iter().enumerate() {
        total += (upto - before) * value / (1.0 + discount_rate).powi(k as i32 + 1);
        before = *upto;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::Rng;

    fn spenders(rng: &mut Rng, truth: &Params, n: usize) -> Vec<CustomerSummary> {
        (0..n)
            .map(|i| {
                let nu = rng.gamma(truth.q, truth.gamma);
                let x = 1 + (rng.uniform() * 8.0) as usize;
                let m = (0..x).map(|_| rng.gamma(truth.p, nu)).sum::<f64>() / x as f64;
                CustomerSummary { customer: i.to_string(), frequency: x as f64, recency: 1.0, age: 2.0, monetary: m }
            })
            .collect()
    }

    #[test]
    fn fitting_recovers_known_parameters() {
        let truth = Params { p: 6.0, q: 4.0, gamma: 15.0 };
        let mut rng = Rng::new(7);
        let data = spenders(&mut rng, &truth, 5000);
        let (fit, ll) = fit(&data).expect("fit");
        let close = |got: f64, want: f64| (got - want).abs() / want < 0.2;
        assert!(close(fit.p, truth.p) && close(fit.q, truth.q) && close(fit.gamma, truth.gamma), "{fit:?}");
        assert!(ll >= log_likelihood(&truth, &data) - 1e-6);
        // The population mean spend pγ/(q−1) is close to what was simulated.
        let simulated =
            data.iter().map(|c| c.monetary * c.frequency).sum::<f64>() / data.iter().map(|c| c.frequency).sum::<f64>();
        assert!((expected_average_value(&fit, 0.0, 0.0) - simulated).abs() / simulated < 0.1);
    }

    #[test]
    fn the_fits_likelihood_is_the_plain_sum_bit_for_bit() {
        let mut rng = Rng::new(3);
        let data = spenders(&mut rng, &Params { p: 6.0, q: 4.0, gamma: 15.0 }, 2000);
        let refs: Vec<&CustomerSummary> = data.iter().collect();
        let fast = Spenders::new(&refs);
        for params in [Params { p: 6.0, q: 4.0, gamma: 15.0 }, Params { p: 0.7, q: 9.5, gamma: 0.02 }] {
            assert_eq!(fast.log_likelihood(&params).to_bits(), log_likelihood(&params, &data).to_bits());
        }
    }

    #[test]
    fn zero_spend_and_no_repeat_purchases() {
        let data =
            vec![CustomerSummary { customer: "a".into(), frequency: 0.0, recency: 0.0, age: 5.0, monetary: 0.0 }];
        assert!(fit(&data).is_none());
        let p = Params { p: 6.0, q: 4.0, gamma: 15.0 };
        assert!((expected_average_value(&p, 0.0, 0.0) - 30.0).abs() < 1e-12);
        // More evidence pulls the estimate towards the customer's own average.
        let few = expected_average_value(&p, 1.0, 100.0);
        let many = expected_average_value(&p, 20.0, 100.0);
        assert!(few < many && many < 100.0);
    }

    #[test]
    fn lifetime_value_discounts_and_grows_with_the_horizon() {
        let purchases = bgnbd::Params { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
        let spend = Params { p: 6.25, q: 3.74, gamma: 15.44 };
        let c = CustomerSummary { customer: "a".into(), frequency: 4.0, recency: 30.0, age: 38.0, monetary: 40.0 };
        let short = clv(&purchases, &spend, &c, 13, 0.0);
        let long = clv(&purchases, &spend, &c, 52, 0.0);
        let discounted = clv(&purchases, &spend, &c, 52, 0.01);
        assert!(0.0 < short && short < long && discounted < long, "{short} {long} {discounted}");
        let undiscounted =
            bgnbd::expected_purchases(&purchases, 52.0, 4.0, 30.0, 38.0) * expected_average_value(&spend, 4.0, 40.0);
        assert!((long - undiscounted).abs() < 1e-9, "without discounting CLV is purchases times value");
    }
}
