//! Revenue forecasting by exponential smoothing (Holt 1957, Winters 1960; damped trend by
//! Gardner & McKenzie 1985), with the model chosen by the Akaike information criterion, against a
//! seasonal-naive baseline, with backtest accuracy and 95% prediction intervals.
//!
//! With level ℓ, trend b (damped by φ), seasonal s (period m), the one-step forecast is
//! ŷₜ = ℓₜ₋₁ + φbₜ₋₁ (+ sₜ₋ₘ, or × sₜ₋ₘ for multiplicative seasonality) and
//! ℓₜ = α·(deseasonalized yₜ) + (1−α)(ℓₜ₋₁ + φbₜ₋₁), bₜ = β(ℓₜ − ℓₜ₋₁) + (1−β)φbₜ₋₁,
//! sₜ = γ·(yₜ against ℓₜ₋₁ + φbₜ₋₁) + (1−γ)sₜ₋ₘ. Smoothing parameters minimize the sum of squared
//! one-step errors; AIC = n·ln(SSE/n) + 2k with k the parameters and initial states.
//! Intervals use the additive-error variance σ²(1 + Σⱼ₌₁ʰ⁻¹ cⱼ²), cⱼ = α(1 + βφⱼ) + γ·[m | j],
//! φⱼ = φ + … + φʲ (exact for additive models, an approximation for multiplicative ones).

use crate::optimize::nelder_mead;

/// Trend and seasonality of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    None,
    Additive,
    Damped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Season {
    None,
    Additive,
    Multiplicative,
}

/// A fitted exponential smoothing model.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Model {
    pub trend: Trend,
    pub season: Season,
    pub period: usize,
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub phi: f64,
    pub sse: f64,
    pub aic: f64,
    #[serde(skip)]
    level: f64,
    #[serde(skip)]
    slope: f64,
    #[serde(skip)]
    seasonals: Vec<f64>,
    #[serde(skip)]
    n: usize,
    /// Whether every value fitted was zero or more (revenue, counts): its forecasts and their
    /// intervals are then kept at or above zero, as the quantity cannot go below it.
    #[serde(skip)]
    non_negative: bool,
}

/// A forecast point with its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Point {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

struct Run {
    sse: f64,
    level: f64,
    slope: f64,
    seasonals: Vec<f64>,
}

/// Runs the recursions over `y`; returns the squared one-step errors and the final states.
#[allow(clippy::too_many_arguments)]
fn run(y: &[f64], trend: Trend, season: Season, m: usize, alpha: f64, beta: f64, gamma: f64, phi: f64) -> Run {
    let seasonal = season != Season::None;
    let first = if seasonal { m } else { 1 };
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let mut level = mean(&y[..first]);
    let mut slope = match (trend, seasonal) {
        (Trend::None, _) => 0.0,
        (_, true) if y.len() >= 2 * m => (mean(&y[m..2 * m]) - mean(&y[..m])) / m as f64,
        _ if y.len() >= 2 => y[1] - y[0],
        _ => 0.0,
    };
    let mut seasonals: Vec<f64> = match season {
        Season::None => Vec::new(),
        Season::Additive => y[..m].iter().map(|v| v - level).collect(),
        Season::Multiplicative => y[..m].iter().map(|v| v / level).collect(),
    };
    let damp = if trend == Trend::Damped { phi } else { 1.0 };
    let mut sse = 0.0;
    for (t, &obs) in y.iter().enumerate().skip(first) {
        let base = level + damp * slope;
        let s = if seasonal { seasonals[t % m] } else { 0.0 };
        let forecast = match season {
            Season::None => base,
            Season::Additive => base + s,
            Season::Multiplicative => base * s,
        };
        sse += (obs - forecast).powi(2);
        let deseasoned = match season {
            Season::None => obs,
            Season::Additive => obs - s,
            Season::Multiplicative => obs / s,
        };
        let new_level = alpha * deseasoned + (1.0 - alpha) * base;
        if trend != Trend::None {
            slope = beta * (new_level - level) + (1.0 - beta) * damp * slope;
        }
        if seasonal {
            seasonals[t % m] = match season {
                Season::Additive => gamma * (obs - base) + (1.0 - gamma) * s,
                _ => gamma * (obs / base) + (1.0 - gamma) * s,
            };
        }
        level = new_level;
    }
    Run { sse, level, slope, seasonals }
}

/// Fits one model shape to `y` (period `m` for seasonal ones); `None` if the data cannot
/// support it (too short, or not positive for multiplicative seasonality).
pub fn fit_model(y: &[f64], trend: Trend, season: Season, m: usize) -> Option<Model> {
    let seasonal = season != Season::None;
    if (seasonal && (m < 2 || y.len() < 2 * m))
        || y.len() < 3
        || (season == Season::Multiplicative && y.iter().any(|v| *v <= 0.0))
    {
        return None;
    }
    // Parameters on the logistic scale: α, β, γ in (0, 1), φ in (0.8, 0.98).
    let unpack = |v: &[f64]| {
        let alpha = logistic(v[0]);
        let beta = if trend == Trend::None { 0.0 } else { logistic(v[1]) * alpha };
        let gamma = if seasonal { logistic(v[2]) * (1.0 - alpha) } else { 0.0 };
        let phi = if trend == Trend::Damped { 0.8 + 0.18 * logistic(v[3]) } else { 1.0 };
        (alpha, beta, gamma, phi)
    };
    let objective = |v: &[f64]| {
        let (a, b, g, p) = unpack(v);
        run(y, trend, season, m, a, b, g, p).sse
    };
    let best = nelder_mead(objective, &[0.0, -1.0, -1.0, 1.0], 1.0, 1e-10, 4000);
    let (alpha, beta, gamma, phi) = unpack(&best.x);
    let r = run(y, trend, season, m, alpha, beta, gamma, phi);
    let fitted_points = y.len() - if seasonal { m } else { 1 };
    let parameters =
        1 + usize::from(trend != Trend::None) + usize::from(seasonal) + usize::from(trend == Trend::Damped);
    let states = 1 + usize::from(trend != Trend::None) + if seasonal { m - 1 } else { 0 };
    let n = fitted_points.max(1) as f64;
    let aic = n * (r.sse.max(1e-12) / n).ln() + 2.0 * (parameters + states) as f64;
    Some(Model {
        trend,
        season,
        period: m,
        alpha,
        beta,
        gamma,
        phi,
        sse: r.sse,
        aic,
        level: r.level,
        slope: r.slope,
        seasonals: r.seasonals,
        n: y.len(),
        non_negative: y.iter().all(|v| *v >= 0.0),
    })
}

/// Fits every model shape the data supports and keeps the one with the lowest AIC.
pub fn fit_best(y: &[f64], period: usize) -> Option<Model> {
    let mut best: Option<Model> = None;
    for trend in [Trend::None, Trend::Additive, Trend::Damped] {
        for season in [Season::None, Season::Additive, Season::Multiplicative] {
            if let Some(m) = fit_model(y, trend, season, period)
                && best.as_ref().is_none_or(|b| m.aic < b.aic)
            {
                best = Some(m);
            }
        }
    }
    best
}

impl Model {
    /// Forecasts `horizon` periods after the data, with 95% intervals.
    pub fn forecast(&self, horizon: usize) -> Vec<Point> {
        let m = self.period;
        let fitted = self.n - if self.season == Season::None { 1 } else { m };
        let sigma2 = self.sse / fitted.max(1) as f64;
        let damp = if self.trend == Trend::Damped { self.phi } else { 1.0 };
        let mut variance_sum = 0.0;
        let mut phi_sum = 0.0;
        (1..=horizon)
            .map(|h| {
                phi_sum += damp.powi(h as i32);
                let base = self.level + phi_sum * self.slope;
                let value = match self.season {
                    Season::None => base,
                    Season::Additive => base + self.seasonals[(self.n + h - 1) % m],
                    Season::Multiplicative => base * self.seasonals[(self.n + h - 1) % m],
                };
                let half = 1.96 * (sigma2 * (1.0 + variance_sum)).sqrt();
                // c_h for the next horizon's variance.
                let seasonal_hit = self.season != Season::None && h % m == 0;
                let c = self.alpha * (1.0 + self.beta / self.alpha.max(1e-12) * phi_sum)
                    + if seasonal_hit { self.gamma } else { 0.0 };
                variance_sum += c * c;
                let floor = if self.non_negative { 0.0 } else { f64::NEG_INFINITY };
                Point { value: value.max(floor), low: (value - half).max(floor), high: (value + half).max(floor) }
            })
            .collect()
    }
}

/// The seasonal-naive forecast: the value one season earlier (the last value if `period` is 1).
pub fn seasonal_naive(y: &[f64], period: usize, horizon: usize) -> Vec<f64> {
    let m = period.max(1).min(y.len().max(1));
    (0..horizon).map(|h| y[y.len() - m + (h % m)]).collect()
}

/// Mean absolute error and mean absolute percentage error (over non-zero actuals).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Accuracy {
    pub mae: f64,
    pub mape: Option<f64>,
}

pub fn accuracy(actual: &[f64], predicted: &[f64]) -> Accuracy {
    let n = actual.len().min(predicted.len()).max(1) as f64;
    let mae = actual.iter().zip(predicted).map(|(a, p)| (a - p).abs()).sum::<f64>() / n;
    let pct: Vec<f64> =
        actual.iter().zip(predicted).filter(|(a, _)| **a != 0.0).map(|(a, p)| ((a - p) / a).abs()).collect();
    Accuracy { mae, mape: (!pct.is_empty()).then(|| 100.0 * pct.iter().sum::<f64>() / pct.len() as f64) }
}

/// Holds out the last `holdout` points, fits the best model on the rest, and compares its
/// forecast and the seasonal-naive one with what happened.
pub fn backtest(y: &[f64], period: usize, holdout: usize) -> Option<(Accuracy, Accuracy)> {
    if holdout == 0 || holdout >= y.len() {
        return None;
    }
    let (train, test) = y.split_at(y.len() - holdout);
    let model = fit_best(train, period)?;
    let predicted: Vec<f64> = model.forecast(holdout).iter().map(|p| p.value).collect();
    Some((accuracy(test, &predicted), accuracy(test, &seasonal_naive(train, period, holdout))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seasonal_series(n: usize, m: usize, growth: f64, amplitude: f64, multiplicative: bool) -> Vec<f64> {
        (0..n)
            .map(|t| {
                let level = 100.0 + growth * t as f64;
                let wave = (2.0 * std::f64::consts::PI * (t % m) as f64 / m as f64).sin();
                // A small deterministic wobble so the fit is not exact.
                let noise = ((t * 7919) % 13) as f64 / 13.0 - 0.5;
                if multiplicative {
                    level * (1.0 + amplitude * wave) + noise
                } else {
                    level + amplitude * 10.0 * wave + noise
                }
            })
            .collect()
    }

    /// Issue 24, item 14: revenue falling fast, with wide intervals, never forecasts (or
    /// bounds) below zero; a series that went below zero keeps its intervals as they are.
    #[test]
    fn intervals_of_non_negative_series_stay_at_or_above_zero() {
        let falling: Vec<f64> =
            (0..20).map(|t| (200.0 - 12.0 * t as f64 + ((t * 37) % 11) as f64 * 9.0).max(0.0)).collect();
        let model = fit_model(&falling, Trend::Additive, Season::None, 1).expect("fit");
        let points = model.forecast(12);
        assert!(points.iter().all(|p| p.low >= 0.0 && p.value >= 0.0 && p.high >= p.value), "{points:?}");
        let unclamped = Model { non_negative: false, ..model };
        assert!(unclamped.forecast(12).iter().any(|p| p.low < 0.0), "the same model below zero unclamped");
        let signed: Vec<f64> = falling.iter().map(|v| v - 100.0).collect();
        let model = fit_model(&signed, Trend::Additive, Season::None, 1).expect("fit");
        assert!(model.forecast(12).iter().any(|p| p.low < 0.0), "a series that goes below zero may");
    }

    #[test]
    fn a_trend_is_extended() {
        let y: Vec<f64> = (0..30).map(|t| 50.0 + 3.0 * t as f64).collect();
        let m = fit_model(&y, Trend::Additive, Season::None, 1).expect("fit");
        let f = m.forecast(3);
        for (h, p) in f.iter().enumerate() {
            let want = 50.0 + 3.0 * (30 + h) as f64;
            assert!((p.value - want).abs() < 0.5, "h={h}: {} vs {want}", p.value);
        }
    }

    #[test]
    fn seasonality_is_found_and_beats_the_naive_baseline() {
        let y = seasonal_series(96, 12, 1.0, 2.0, false);
        let best = fit_best(&y, 12).expect("fit");
        assert_ne!(best.season, Season::None, "{best:?}");
        let (model, naive) = backtest(&y, 12, 12).expect("backtest");
        assert!(model.mae < naive.mae, "model {model:?} naive {naive:?}");
        let points = best.forecast(24);
        assert!(points.iter().all(|p| p.low <= p.value && p.value <= p.high));
        assert!(points[23].high - points[23].low >= points[0].high - points[0].low, "intervals widen with the horizon");
    }

    #[test]
    fn growing_swings_prefer_multiplicative_seasonality() {
        let y = seasonal_series(96, 12, 4.0, 0.3, true);
        let add = fit_model(&y, Trend::Additive, Season::Additive, 12).expect("additive");
        let mul = fit_model(&y, Trend::Additive, Season::Multiplicative, 12).expect("multiplicative");
        assert!(mul.aic < add.aic, "{} vs {}", mul.aic, add.aic);
    }

    #[test]
    fn flat_and_short_series() {
        let flat = vec![5.0; 20];
        let m = fit_best(&flat, 4).expect("fit");
        assert!(m.forecast(5).iter().all(|p| (p.value - 5.0).abs() < 1e-6 && p.value.is_finite()));
        assert!(fit_best(&[1.0, 2.0], 12).is_none());
        assert!(
            fit_model(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], Trend::None, Season::Multiplicative, 3).is_none(),
            "zero values cannot be multiplicative"
        );
        assert_eq!(seasonal_naive(&[1.0, 2.0, 3.0, 4.0], 2, 3), vec![3.0, 4.0, 3.0]);
        assert_eq!(accuracy(&[0.0, 10.0], &[1.0, 8.0]), Accuracy { mae: 1.5, mape: Some(20.0) });
    }
}
