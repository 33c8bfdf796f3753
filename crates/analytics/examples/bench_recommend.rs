//! Benchmark: co-purchase recommendations for 100,000 customers over 10,000 products (build the
//! item-to-item model, then the top 10 for every customer), and report the time.
//! Run with `cargo run --release -p peyvand-analytics --example bench_recommend`.

use peyvand_analytics::recommend::{Model, Similarity};
use std::time::Instant;

fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn main() {
    let (customers, products) = (100_000usize, 10_000usize);
    let mut s = 5u64;
    let names: Vec<String> = (0..products).map(|p| format!("p{p}")).collect();
    let ids: Vec<String> = (0..customers).map(|c| format!("c{c}")).collect();
    // Each customer shops in two of 200 categories of 50 products, mostly the popular ones.
    let mut lines: Vec<(usize, usize)> = Vec::new();
    for c in 0..customers {
        let cats = [next(&mut s) as usize % 200, next(&mut s) as usize % 200];
        let basket = 3 + next(&mut s) as usize % 15;
        for _ in 0..basket {
            let cat = cats[next(&mut s) as usize % 2];
            let rank = ((next(&mut s) % 1000) as f64 / 1000.0).powi(2);
            lines.push((c, cat * 50 + (rank * 50.0) as usize));
        }
    }
    let started = Instant::now();
    let model =
        Model::build(lines.iter().map(|&(c, p)| (ids[c].as_str(), names[p].as_str())), Similarity::Cosine, 50, 2);
    let built = started.elapsed();
    let mut owned: Vec<Vec<&str>> = vec![Vec::new(); customers];
    for &(c, p) in &lines {
        owned[c].push(names[p].as_str());
    }
    let started = Instant::now();
    let mut total = 0usize;
    for o in &owned {
        total += model.recommend(o, 10).len();
    }
    let recommended = started.elapsed();
    println!(
        "{customers} customers, {products} products, {} purchase lines: model built in {:.2} s, top 10 for everyone in {:.2} s ({total} recommendations)",
        lines.len(),
        built.as_secs_f64(),
        recommended.as_secs_f64()
    );
}
