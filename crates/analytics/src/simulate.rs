//! Data simulated from the models, with a fixed seed, for tests that recover known parameters.

use crate::bgnbd::Params;
use crate::summary::CustomerSummary;

/// SplitMix64: small, fast and seedable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    pub fn normal(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * self.uniform()).cos()
    }
    /// Gamma with this shape and rate (Marsaglia & Tsang 2000; shapes below 1 by boosting).
    pub fn gamma(&mut self, shape: f64, rate: f64) -> f64 {
        if shape < 1.0 {
            return self.gamma(shape + 1.0, rate) * self.uniform().powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v / rate;
            }
        }
    }
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a, 1.0);
        x / (x + self.gamma(b, 1.0))
    }
}

/// Customers drawn from the BG/NBD model, each observed for a time between `min_age` and `max_age`.
pub fn bgnbd_customers(rng: &mut Rng, p: &Params, n: usize, min_age: f64, max_age: f64) -> Vec<CustomerSummary> {
    (0..n)
        .map(|i| {
            let lambda = rng.gamma(p.r, p.alpha);
            let drop = rng.beta(p.a, p.b);
            let age = min_age + (max_age - min_age) * rng.uniform();
            let (mut t, mut x, mut t_x) = (0.0, 0.0, 0.0);
            loop {
                t += -rng.uniform().ln() / lambda;
                if t > age {
                    break;
                }
                x += 1.0;
                t_x = t;
                if rng.uniform() < drop {
                    break;
                }
            }
            CustomerSummary { customer: i.to_string(), frequency: x, recency: t_x, age, monetary: 0.0 }
        })
        .collect()
}
