//! Customer analytics as pure, deterministic functions over plain data, so the product can
//! score customers in a job and an analyst can run the same models on an export.
//!
//! - [`rfm`]: recency, frequency and monetary quintile scores and named segments.
//! - [`summary`]: (frequency, recency, T, average spend) from dated transactions, as the
//!   BG/NBD and Gamma-Gamma papers define them.
//! - [`bgnbd`]: the BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy
//!   way"): fit, probability alive, expected purchases.
//! - [`gamma_gamma`]: the Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV") and
//!   customer lifetime value.
//! - [`forecast`]: exponential smoothing (simple, Holt, damped, Holt-Winters additive and
//!   multiplicative) chosen by AIC, a seasonal-naive baseline, backtests and intervals.
//! - [`churn`]: churn risk from P(alive) and recency.
//! - [`leads`]: lead scoring by logistic regression, with each score's top factors.
//! - [`recommend`]: item-to-item co-purchase recommendations (cosine or lift).
//! - [`pipeline`]: the weighted pipeline forecast from historical stage conversion.
//!
//! **Invariant:** this crate has no I/O; every function is a function of its arguments.

pub mod bgnbd;
pub mod churn;
pub mod forecast;
pub mod gamma_gamma;
pub mod leads;
pub mod optimize;
pub mod pipeline;
mod properties;
pub mod recommend;
pub mod rfm;
pub mod summary;

#[cfg(test)]
pub(crate) mod simulate;
