//! The weighted pipeline forecast: each open deal's amount times the probability of winning
//! from its stage, where that probability is the share of closed deals that reached the stage
//! and were won (historical stage conversion), or a configured one.

use std::collections::HashMap;

/// A closed deal: the stages it reached and whether it was won.
#[derive(Clone, Debug)]
pub struct ClosedDeal {
    pub stages: Vec<String>,
    pub won: bool,
}

/// P(won | reached stage) for every stage seen in closed deals.
pub fn stage_conversion(history: &[ClosedDeal]) -> HashMap<String, f64> {
    let mut reached: HashMap<&str, (f64, f64)> = HashMap::new();
    for d in history {
        let mut seen: Vec<&str> = d.stages.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for s in seen {
            let e = reached.entry(s).or_default();
            e.0 += 1.0;
            if d.won {
                e.1 += 1.0;
            }
        }
    }
    reached.into_iter().map(|(s, (n, won))| (s.to_string(), won / n)).collect()
}

/// Σ amount × P(won | stage) over open deals; a stage without a probability counts as 0.
pub fn weighted_forecast(open: &[(f64, String)], probability: &HashMap<String, f64>) -> f64 {
    open.iter().map(|(amount, stage)| amount * probability.get(stage).copied().unwrap_or(0.0)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(stages: &[&str], won: bool) -> ClosedDeal {
        ClosedDeal { stages: stages.iter().map(|s| s.to_string()).collect(), won }
    }

    #[test]
    fn conversion_rates_weight_open_deals() {
        let history = vec![
            deal(&["lead", "qualified", "proposal"], true),
            deal(&["lead", "qualified", "proposal"], false),
            deal(&["lead", "qualified"], false),
            deal(&["lead"], false),
        ];
        let p = stage_conversion(&history);
        assert_eq!(p["lead"], 0.25);
        assert!((p["qualified"] - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(p["proposal"], 0.5);
        let open = vec![(1000.0, "proposal".to_string()), (400.0, "lead".to_string()), (50.0, "unknown".to_string())];
        assert!((weighted_forecast(&open, &p) - 600.0).abs() < 1e-9);
    }
}
