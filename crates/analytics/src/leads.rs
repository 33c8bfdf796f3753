//! Lead scoring: logistic regression trained on historical won and lost leads, by batch
//! gradient descent with L2 regularization on standardized numbers and one-hot categories;
//! each score comes with the factors that contributed most.
//!
//! P(won | features) = σ(β₀ + Σ βₖ zₖ), where zₖ is a standardized number or a 0/1 category
//! indicator; a factor's contribution to a score is βₖ zₖ (its push on the log-odds).

use std::collections::BTreeMap;

/// A feature value.
#[derive(Clone, Debug, PartialEq)]
pub enum Feature {
    Number(f64),
    Category(String),
}

/// A historical lead and its outcome.
#[derive(Clone, Debug)]
pub struct Example {
    pub features: BTreeMap<String, Feature>,
    pub won: bool,
}

/// A trained model.
#[derive(Clone, Debug)]
pub struct LeadModel {
    /// Names of the model's inputs: `name` for numbers, `name=value` for categories.
    pub inputs: Vec<String>,
    pub weights: Vec<f64>,
    pub intercept: f64,
    means: Vec<f64>,
    scales: Vec<f64>,
}

/// A scored lead: the probability of winning and the strongest factors, largest push first.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Score {
    pub probability: f64,
    pub factors: Vec<(String, f64)>,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl LeadModel {
    fn encode_raw(&self, features: &BTreeMap<String, Feature>) -> Vec<f64> {
        self.inputs
            .iter()
            .map(|input| match input.split_once('=') {
                Some((name, value)) => match features.get(name) {
                    Some(Feature::Category(v)) if v == value => 1.0,
                    _ => 0.0,
                },
                None => match features.get(input) {
                    Some(Feature::Number(x)) => *x,
                    _ => f64::NAN,
                },
            })
            .collect()
    }

    fn encode(&self, features: &BTreeMap<String, Feature>) -> Vec<f64> {
        self.encode_raw(features)
            .iter()
            .enumerate()
            // A missing number counts as the average.
            .map(|(k, &v)| if v.is_nan() { 0.0 } else { (v - self.means[k]) / self.scales[k] })
            .collect()
    }

    /// Trains on examples; `l2` is the regularization strength, `iterations` the gradient steps.
    pub fn train(examples: &[Example], l2: f64, iterations: usize) -> LeadModel {
        let mut inputs: Vec<String> = Vec::new();
        for e in examples {
            for (name, f) in &e.features {
                let input = match f {
                    Feature::Number(_) => name.clone(),
                    Feature::Category(v) => format!("{name}={v}"),
                };
                if !inputs.contains(&input) {
                    inputs.push(input);
                }
            }
        }
        inputs.sort();
        let k = inputs.len();
        let mut model =
            LeadModel { inputs, weights: vec![0.0; k], intercept: 0.0, means: vec![0.0; k], scales: vec![1.0; k] };
        let raw: Vec<Vec<f64>> = examples.iter().map(|e| model.encode_raw(&e.features)).collect();
        for j in 0..k {
            if model.inputs[j].contains('=') {
                continue;
            }
            let vals: Vec<f64> = raw.iter().map(|r| r[j]).filter(|v| !v.is_nan()).collect();
            let mean = vals.iter().sum::<f64>() / vals.len().max(1) as f64;
            let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len().max(1) as f64).sqrt();
            model.means[j] = mean;
            model.scales[j] = if sd > 0.0 { sd } else { 1.0 };
        }
        let xs: Vec<Vec<f64>> = examples.iter().map(|e| model.encode(&e.features)).collect();
        let n = examples.len().max(1) as f64;
        let rate = 0.5;
        for _ in 0..iterations {
            let mut grad = vec![0.0; k];
            let mut grad0 = 0.0;
            for (x, e) in xs.iter().zip(examples) {
                let p = sigmoid(model.intercept + x.iter().zip(&model.weights).map(|(a, b)| a * b).sum::<f64>());
                let err = p - if e.won { 1.0 } else { 0.0 };
                grad0 += err;
                for (g, xj) in grad.iter_mut().zip(x) {
                    *g += err * xj;
                }
            }
            model.intercept -= rate * grad0 / n;
            for (w, g) in model.weights.iter_mut().zip(&grad) {
                *w -= rate * (g / n + l2 * *w);
            }
        }
        model
    }

    /// Scores a lead and names the `top` factors that pushed it most (either way).
    pub fn score(&self, features: &BTreeMap<String, Feature>, top: usize) -> Score {
        let x = self.encode(features);
        let contributions: Vec<(String, f64)> =
            self.inputs.iter().zip(&x).zip(&self.weights).map(|((name, v), w)| (name.clone(), v * w)).collect();
        let probability = sigmoid(self.intercept + contributions.iter().map(|c| c.1).sum::<f64>());
        let mut factors: Vec<(String, f64)> = contributions.into_iter().filter(|c| c.1 != 0.0).collect();
        factors.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        factors.truncate(top);
        Score { probability, factors }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::Rng;

    fn lead(source: &str, budget: f64, won: bool) -> Example {
        let mut features = BTreeMap::new();
        features.insert("source".into(), Feature::Category(source.into()));
        features.insert("budget".into(), Feature::Number(budget));
        Example { features, won }
    }

    #[test]
    fn learns_what_wins_and_explains_it() {
        let mut rng = Rng::new(3);
        let sources = ["referral", "web", "event", "cold_call"];
        let examples: Vec<Example> = (0..3000)
            .map(|_| {
                let source = sources[(rng.uniform() * 4.0) as usize % 4];
                let budget = rng.uniform() * 100.0;
                let logit = -2.0 + if source == "referral" { 2.5 } else { 0.0 } + 0.03 * budget;
                lead(source, budget, rng.uniform() < sigmoid(logit))
            })
            .collect();
        let model = LeadModel::train(&examples, 1e-4, 400);
        let referral = model.score(&lead("referral", 50.0, false).features, 2);
        let cold = model.score(&lead("cold_call", 50.0, false).features, 2);
        assert!(referral.probability > cold.probability + 0.3, "{referral:?} {cold:?}");
        assert_eq!(referral.factors[0].0, "source=referral", "{referral:?}");
        let rich = model.score(&lead("web", 95.0, false).features, 3);
        let poor = model.score(&lead("web", 5.0, false).features, 3);
        assert!(rich.probability > poor.probability);
        // Ranking quality: the share of (won, lost) pairs scored in the right order (AUC).
        let scores: Vec<(f64, bool)> =
            examples.iter().map(|e| (model.score(&e.features, 0).probability, e.won)).collect();
        let won: Vec<f64> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
        let lost: Vec<f64> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
        let mut right = 0.0;
        for w in &won {
            for l in &lost {
                right += if w > l {
                    1.0
                } else if w == l {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let auc = right / (won.len() * lost.len()) as f64;
        assert!(auc > 0.75, "AUC {auc}");
    }

    #[test]
    fn missing_and_unseen_values_are_neutral() {
        let model = LeadModel::train(&[lead("web", 10.0, true), lead("event", 90.0, false)], 0.0, 50);
        let empty = model.score(&BTreeMap::new(), 3);
        assert!(empty.probability > 0.0 && empty.probability < 1.0);
        assert!(empty.factors.iter().all(|f| !f.0.contains('=')), "no category pushes an empty lead");
    }
}
