//! Benchmark: fit BG/NBD to a million simulated customers whose histories are counted in whole
//! weeks (as `peyvand analytics clv --period week` does), and report the time.
//! Run with `cargo run --release -p peyvand-analytics --example bench_bgnbd [customers]`.

use peyvand_analytics::bgnbd::{Params, fit};
use peyvand_analytics::summary::CustomerSummary;
use std::time::Instant;

/// SplitMix64 uniform in (0, 1).
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let truth = Params { r: 0.25, alpha: 4.0, a: 0.8, b: 2.5 };
    let mut s = 7u64;
    // Gamma variates by Marsaglia–Tsang; a shape below 1 draws shape + 1 and scales by U^(1/shape).
    let gamma = |shape: f64, rate: f64, s: &mut u64| -> f64 {
        let boost = if shape < 1.0 { uniform(s).powf(1.0 / shape) } else { 1.0 };
        let k = if shape < 1.0 { shape + 1.0 } else { shape };
        let d = k - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = (-2.0 * uniform(s).ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform(s)).cos();
            let v = (1.0 + c * x).powi(3);
            if v > 0.0 && uniform(s).ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v / rate * boost;
            }
        }
    };
    let started = Instant::now();
    let customers: Vec<CustomerSummary> = (0..n)
        .map(|i| {
            let lambda = gamma(truth.r, truth.alpha, &mut s);
            let g1 = gamma(truth.a, 1.0, &mut s);
            let drop = g1 / (g1 + gamma(truth.b, 1.0, &mut s));
            let age = (26 + (uniform(&mut s) * 78.0) as usize) as f64;
            let (mut t, mut x, mut t_x) = (0.0, 0.0, 0.0);
            loop {
                t += -uniform(&mut s).ln() / lambda;
                if t > age {
                    break;
                }
                x += 1.0;
                t_x = t.floor();
                if uniform(&mut s) < drop {
                    break;
                }
            }
            CustomerSummary { customer: i.to_string(), frequency: x, recency: t_x, age, monetary: 0.0 }
        })
        .collect();
    let simulated = started.elapsed();
    let started = Instant::now();
    let result = fit(&customers);
    let fitted = started.elapsed();
    println!("customers: {n}; simulated in {:.2} s; fitted in {:.2} s", simulated.as_secs_f64(), fitted.as_secs_f64());
    println!("true:   {truth:?}");
    println!("fitted: {:?} (log-likelihood {:.1})", result.params, result.log_likelihood);
}
