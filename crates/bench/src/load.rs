//! Concurrent load: many clients, each sending one request after another for a while, and the
//! latency distribution and throughput of what they saw.

use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What one operation measured.
#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    pub requests: usize,
    pub errors: usize,
    /// Requests per second over the measured time.
    pub throughput: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The first failure, to tell what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// The `q` quantile (0..=1) of sorted latencies, by the nearest-rank method.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarizes latencies of `requests` made in `elapsed`.
pub fn stats(mut latencies: Vec<Duration>, errors: usize, elapsed: Duration, first_error: Option<String>) -> Stats {
    latencies.sort_unstable();
    let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
    Stats {
        requests: latencies.len() + errors,
        errors,
        throughput: latencies.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_ms: ms(quantile(&latencies, 0.50)),
        p95_ms: ms(quantile(&latencies, 0.95)),
        p99_ms: ms(quantile(&latencies, 0.99)),
        max_ms: ms(latencies.last().copied().unwrap_or_default()),
        first_error,
    }
}

/// Runs `clients` concurrent loops of `request(client, n)` for `duration` (after `warmup`, whose
/// requests are not counted). A request returns `Err(reason)` when its answer was wrong.
pub async fn run<F, Fut>(clients: usize, warmup: Duration, duration: Duration, request: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let measure_from = Instant::now() + warmup;
    let end = measure_from + duration;
    drive(clients, measure_from, Arc::new(move |sent: Instant| sent < end), request).await
}

/// Runs `clients` concurrent loops of `request(client, n)`, all measured, while `going` holds
/// (what else runs meanwhile, e.g. a long job, is what is measured against).
pub async fn run_while<F, Fut>(clients: usize, going: Arc<AtomicBool>, request: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let until = Arc::new(move |_: Instant| going.load(Ordering::SeqCst));
    drive(clients, Instant::now(), until, request).await
}

/// The loops of [`run`] and [`run_while`]: each client sends while `goes(now)`, and requests
/// sent before `measure_from` are not counted.
async fn drive<F, Fut>(
    clients: usize,
    measure_from: Instant,
    goes: Arc<dyn Fn(Instant) -> bool + Send + Sync>,
    request: F,
) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let request = Arc::new(request);
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let (request, goes) = (request.clone(), goes.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors, mut first_error) = (Vec::new(), 0, None);
            let mut n = 0u64;
            loop {
                let sent = Instant::now();
                if !goes(sent) {
                    break;
                }
                let outcome = request(client, n).await;
                n += 1;
                if sent < measure_from {
                    continue;
                }
                match outcome {
                    Ok(()) => latencies.push(sent.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let (mut all, mut errors, mut first_error) = (Vec::new(), 0, None);
    for task in tasks {
        if let Ok((latencies, e, first)) = task.await {
            all.extend(latencies);
            errors += e;
            if first_error.is_none() {
                first_error = first;
            }
        }
    }
    // The measured window ends when the last request sent in it comes back.
    let elapsed = Instant::now().saturating_duration_since(measure_from).max(Duration::from_millis(1));
    stats(all, errors, elapsed, first_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&ms, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&ms, 0.95), Duration::from_millis(95));
        assert_eq!(quantile(&ms, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&ms, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&ms[..1], 0.99), Duration::from_millis(1));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }

    #[tokio::test]
    async fn load_counts_requests_and_errors() {
        let s = run(4, Duration::from_millis(20), Duration::from_millis(200), |client, n| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if client == 0 && n % 2 == 1 { Err(format!("odd {n}")) } else { Ok(()) }
        })
        .await;
        assert!(s.errors > 0 && s.first_error.as_deref().is_some_and(|e| e.starts_with("odd")));
        // 4 clients at ~5 ms a request for 200 ms: roughly 160 requests, 3.5 of 4 of them good.
        assert!((80..=200).contains(&s.requests), "{s:?}");
        assert!(s.p50_ms >= 5.0 && s.p50_ms < 50.0, "{s:?}");
        assert!(s.throughput > 300.0 && s.throughput < 1000.0, "{s:?}");
    }
}
