//! Properties that hold for any valid input, checked on many seeded random inputs: the
//! likelihoods are finite, probabilities stay in [0, 1], expectations grow with the horizon and
//! shrink with silence, and lifetime value is never negative.

#[cfg(test)]
mod tests {
    use crate::bgnbd::{self, Params};
    use crate::gamma_gamma;
    use crate::simulate::Rng;
    use crate::summary::CustomerSummary;

    fn random_params(rng: &mut Rng) -> Params {
        Params {
            r: 0.05 + 5.0 * rng.uniform(),
            alpha: 0.1 + 50.0 * rng.uniform(),
            a: 0.05 + 5.0 * rng.uniform(),
            b: 0.05 + 10.0 * rng.uniform(),
        }
    }

    #[test]
    fn bgnbd_properties() {
        let mut rng = Rng::new(99);
        for _ in 0..5000 {
            let p = random_params(&mut rng);
            let t = 1000.0 * rng.uniform();
            let x = (rng.uniform() * 40.0).floor();
            let t_x = if x > 0.0 { t * rng.uniform() } else { 0.0 };
            let ll = bgnbd::customer_log_likelihood(&p, x, t_x, t);
            // Without repeat purchases the likelihood is a probability; with them it is a density
            // in t_x, which can exceed 1.
            assert!(ll.is_finite() && (x > 0.0 || ll <= 1e-9), "{p:?} {x} {t_x} {t}: {ll}");
            let alive = bgnbd::probability_alive(&p, x, t_x, t);
            assert!((0.0..=1.0).contains(&alive), "{alive}");
            if (p.a - 1.0).abs() > 0.05 {
                let near = bgnbd::expected_purchases(&p, 4.0, x, t_x, t);
                let far = bgnbd::expected_purchases(&p, 40.0, x, t_x, t);
                assert!(near >= -1e-9 && far >= near - 1e-9, "{p:?}: {near} {far}");
            }
            if x > 0.0 && t_x < t {
                // Having bought more recently never makes a customer less likely to be alive.
                let recent = bgnbd::probability_alive(&p, x, t, t);
                assert!(recent + 1e-12 >= alive);
            }
        }
    }

    #[test]
    fn lifetime_value_is_never_negative() {
        let mut rng = Rng::new(5);
        for _ in 0..500 {
            let p = random_params(&mut rng);
            if (p.a - 1.0).abs() < 0.05 {
                continue;
            }
            let spend = gamma_gamma::Params {
                p: 0.5 + 10.0 * rng.uniform(),
                q: 1.5 + 10.0 * rng.uniform(),
                gamma: 1.0 + 100.0 * rng.uniform(),
            };
            let x = (rng.uniform() * 10.0).floor();
            let t = 10.0 + 100.0 * rng.uniform();
            let c = CustomerSummary {
                customer: String::new(),
                frequency: x,
                recency: if x > 0.0 { t * rng.uniform() } else { 0.0 },
                age: t,
                monetary: 100.0 * rng.uniform(),
            };
            let v = gamma_gamma::clv(&p, &spend, &c, 12, 0.01);
            assert!(v.is_finite() && v >= -1e-6, "{v}");
        }
    }
}
