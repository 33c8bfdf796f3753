//! Recommendations from co-purchases: item-to-item similarity over customers' baskets (cosine
//! or lift), and for a customer the items most similar to what they bought, excluding what they
//! already own.
//!
//! With c(i) the customers who bought i, c(i,j) those who bought both, and N all customers:
//! cosine(i,j) = c(i,j) / √(c(i)·c(j)); lift(i,j) = c(i,j)·N / (c(i)·c(j)).
//! A customer's score for j is the sum of sim(i, j) over the items i they own.

use std::collections::HashMap;

/// Which similarity to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Similarity {
    Cosine,
    Lift,
}

/// Item-to-item neighbors, the `top_k` most similar kept per item.
#[derive(Clone, Debug)]
pub struct Model {
    items: Vec<String>,
    index: HashMap<String, u32>,
    neighbors: Vec<Vec<(u32, f32)>>,
    /// Customers who bought each item.
    buyers: Vec<u32>,
}

impl Model {
    /// Builds the model from (customer, item) purchase lines; repeats count once.
    pub fn build<'a>(
        lines: impl IntoIterator<Item = (&'a str, &'a str)>,
        similarity: Similarity,
        top_k: usize,
        min_support: u32,
    ) -> Model {
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut items: Vec<String> = Vec::new();
        let mut baskets: HashMap<&str, Vec<u32>> = HashMap::new();
        for (customer, item) in lines {
            let id = *index.entry(item.to_string()).or_insert_with(|| {
                items.push(item.to_string());
                (items.len() - 1) as u32
            });
            baskets.entry(customer).or_default().push(id);
        }
        Model::from_baskets(items, baskets.into_values(), similarity, top_k, min_support)
    }

    /// Builds the model from each customer's basket of item numbers (indexes into `items`;
    /// repeats count once): for callers that read purchases grouped by customer and keep only
    /// numbers, not a million customers' names.
    pub fn from_baskets(
        items: Vec<String>,
        baskets: impl IntoIterator<Item = Vec<u32>>,
        similarity: Similarity,
        top_k: usize,
        min_support: u32,
    ) -> Model {
        let index: HashMap<String, u32> = items.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        let mut counts = vec![0u32; items.len()];
        let mut pairs: Vec<HashMap<u32, u32>> = vec![HashMap::new(); items.len()];
        let mut customers = 0usize;
        for mut basket in baskets {
            basket.sort_unstable();
            basket.dedup();
            if basket.is_empty() {
                continue;
            }
            customers += 1;
            for (k, &i) in basket.iter().enumerate() {
                counts[i as usize] += 1;
                for &j in &basket[k + 1..] {
                    *pairs[i as usize].entry(j).or_default() += 1;
                    *pairs[j as usize].entry(i).or_default() += 1;
                }
            }
        }
        let n = customers as f64;
        let neighbors = pairs
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                let mut scored: Vec<(u32, f32)> = row
                    .into_iter()
                    .filter(|&(_, both)| both >= min_support)
                    .map(|(j, both)| {
                        let (ci, cj) = (f64::from(counts[i]), f64::from(counts[j as usize]));
                        let s = match similarity {
                            Similarity::Cosine => f64::from(both) / (ci * cj).sqrt(),
                            Similarity::Lift => f64::from(both) * n / (ci * cj),
                        };
                        (j, s as f32)
                    })
                    .collect();
                scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                scored.truncate(top_k);
                scored
            })
            .collect();
        Model { items, index, neighbors, buyers: counts }
    }

    /// Every item with how many customers bought it.
    pub fn popularity(&self) -> impl Iterator<Item = (&str, u32)> {
        self.items.iter().map(String::as_str).zip(self.buyers.iter().copied())
    }

    /// Every kept neighbor pair: (item, neighbor, similarity), each item's best first.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str, f32)> {
        self.neighbors.iter().enumerate().flat_map(move |(i, row)| {
            row.iter().map(move |&(j, s)| (self.items[i].as_str(), self.items[j as usize].as_str(), s))
        })
    }

    /// The items most similar to `item`.
    pub fn similar(&self, item: &str, n: usize) -> Vec<(&str, f32)> {
        let Some(&i) = self.index.get(item) else { return Vec::new() };
        self.neighbors[i as usize].iter().take(n).map(|&(j, s)| (self.items[j as usize].as_str(), s)).collect()
    }

    /// The `n` best items for someone who owns `owned`, none of which they own already.
    pub fn recommend(&self, owned: &[&str], n: usize) -> Vec<(&str, f32)> {
        let mine: Vec<u32> = owned.iter().filter_map(|o| self.index.get(*o).copied()).collect();
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for &i in &mine {
            for &(j, s) in &self.neighbors[i as usize] {
                if !mine.contains(&j) {
                    *scores.entry(j).or_default() += s;
                }
            }
        }
        let mut ranked: Vec<(u32, f32)> = scores.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.into_iter().take(n).map(|(j, s)| (self.items[j as usize].as_str(), s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn co_purchases_drive_recommendations() {
        let lines = [
            ("a", "tea"),
            ("a", "sugar"),
            ("a", "cups"),
            ("b", "tea"),
            ("b", "sugar"),
            ("c", "tea"),
            ("c", "sugar"),
            ("c", "honey"),
            ("d", "coffee"),
            ("d", "milk"),
            ("e", "coffee"),
            ("e", "milk"),
            ("e", "sugar"),
            ("f", "tea"),
        ];
        let model = Model::build(lines.iter().copied(), Similarity::Cosine, 10, 1);
        assert_eq!(model.similar("tea", 1)[0].0, "sugar");
        let for_f = model.recommend(&["tea"], 2);
        assert_eq!(for_f[0].0, "sugar");
        assert!(for_f.iter().all(|(i, _)| *i != "tea"), "nothing already owned");
        let coffee = model.recommend(&["coffee"], 1);
        assert_eq!(coffee[0].0, "milk");
        // cosine(tea, sugar) = 3 / √(4·4).
        assert!((model.similar("tea", 1)[0].1 - 0.75).abs() < 1e-6);
        let lift = Model::build(lines.iter().copied(), Similarity::Lift, 10, 1);
        // lift(coffee, milk) = 2·6 / (2·2) = 3.
        assert!((lift.similar("coffee", 1)[0].1 - 3.0).abs() < 1e-6);
        assert!(model.recommend(&["unknown"], 3).is_empty());
        // The same purchases as numbered baskets make the same model.
        let items: Vec<String> = ["tea", "sugar", "cups", "honey", "coffee", "milk"].map(String::from).to_vec();
        let baskets = vec![vec![0, 1, 2], vec![0, 1], vec![0, 1, 3], vec![4, 5], vec![4, 5, 1], vec![0, 0]];
        let numbered = Model::from_baskets(items, baskets, Similarity::Cosine, 10, 1);
        let mut a: Vec<(&str, &str, f32)> = model.pairs().collect();
        let mut b: Vec<(&str, &str, f32)> = numbered.pairs().collect();
        a.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
        b.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
        assert_eq!(a, b);
        let popular: HashMap<&str, u32> = model.popularity().collect();
        assert_eq!((popular["sugar"], popular["tea"], popular["honey"]), (4, 4, 1));
        let pairs: Vec<(&str, &str, f32)> = model.pairs().collect();
        assert!(pairs.contains(&("tea", "sugar", 0.75)), "{pairs:?}");
        assert_eq!(pairs.len(), model.items.iter().map(|i| model.similar(i, 100).len()).sum::<usize>());
    }
}
