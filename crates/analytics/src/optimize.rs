//! Nelder–Mead minimization (the downhill simplex method, Nelder & Mead 1965), used on the
//! logarithms of positive parameters so that the search is unconstrained.

/// The point found, its value, and the evaluations it took.
#[derive(Clone, Debug)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    pub evaluations: usize,
}

/// Minimizes `f` from `start`, with initial steps `step` along each axis, until the simplex's
/// values agree within `tolerance` or `max_evaluations` is reached. Non-finite values count as
/// +∞, so the search steps away from them.
pub fn nelder_mead(
    f: impl Fn(&[f64]) -> f64,
    start: &[f64],
    step: f64,
    tolerance: f64,
    max_evaluations: usize,
) -> Minimum {
    let n = start.len();
    let eval = |x: &[f64]| {
        let v = f(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let mut simplex: Vec<Vec<f64>> = (0..=n)
        .map(|i| {
            let mut p = start.to_vec();
            if i > 0 {
                p[i - 1] += step;
            }
            p
        })
        .collect();
    let mut values: Vec<f64> = simplex.iter().map(|p| eval(p)).collect();
    let mut evaluations = n + 1;
    while evaluations < max_evaluations {
        let mut order: Vec<usize> = (0..=n).collect();
        order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
        simplex = order.iter().map(|&i| simplex[i].clone()).collect();
        values = order.iter().map(|&i| values[i]).collect();
        if (values[n] - values[0]).abs() <= tolerance * (1.0 + values[0].abs()) {
            break;
        }
        let centroid: Vec<f64> = (0..n).map(|d| simplex[..n].iter().map(|p| p[d]).sum::<f64>() / n as f64).collect();
        let towards =
            |t: f64| -> Vec<f64> { (0..n).map(|d| centroid[d] + t * (simplex[n][d] - centroid[d])).collect() };
        let reflected = towards(-1.0);
        let fr = eval(&reflected);
        evaluations += 1;
        if fr < values[0] {
            let expanded = towards(-2.0);
            let fe = eval(&expanded);
            evaluations += 1;
            if fe < fr {
                simplex[n] = expanded;
                values[n] = fe;
            } else {
                simplex[n] = reflected;
                values[n] = fr;
            }
        } else if fr < values[n - 1] {
            simplex[n] = reflected;
            values[n] = fr;
        } else {
            let contracted = if fr < values[n] { towards(-0.5) } else { towards(0.5) };
            let fc = eval(&contracted);
            evaluations += 1;
            if fc < values[n].min(fr) {
                simplex[n] = contracted;
                values[n] = fc;
            } else {
                // Shrink everything towards the best point.
                for i in 1..=n {
                    simplex[i] = (0..n).map(|d| simplex[0][d] + 0.5 * (simplex[i][d] - simplex[0][d])).collect();
                    values[i] = eval(&simplex[i]);
                }
                evaluations += n;
            }
        }
    }
    let best = (0..=n).min_by(|&i, &j| values[i].total_cmp(&values[j])).unwrap_or(0);
    Minimum { x: simplex[best].clone(), value: values[best], evaluations }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let rosenbrock = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let m = nelder_mead(rosenbrock, &[-1.2, 1.0], 0.5, 1e-14, 10_000);
        assert!((m.x[0] - 1.0).abs() < 1e-3 && (m.x[1] - 1.0).abs() < 1e-3, "{m:?}");
    }

    #[test]
    fn steps_away_from_undefined_values() {
        let f = |x: &[f64]| if x[0] < 0.0 { f64::NAN } else { (x[0] - 2.0).powi(2) };
        let m = nelder_mead(f, &[0.5], 1.0, 1e-12, 1000);
        assert!((m.x[0] - 2.0).abs() < 1e-4);
    }
}
