//! The model: multinomial naive Bayes (or, with `routing.model = "logistic"`,
//! logistic regression) over weighted text features, each example's scaled to
//! the same length so that a long mail counts as one request, with its
//! scores calibrated by a temperature fitted in cross-validation, so that a
//! confidence of 0.8 means about four in five are right. Small on purpose:
//! trained in milliseconds from a few thousand examples, readable (each
//! feature's weight per label can be shown), stored as JSON.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::domain::DepartmentId;

pub use super::sample::{Feature, Label, Names, Sample};
pub use crate::config::ModelKind;
pub use stored::Unreadable;

mod stored;

/// Laplace smoothing.
const ALPHA: f32 = 0.1;
/// At most this many features: those in the most examples. With three
/// departments the model then holds at most about 20 MiB, whatever the mail
/// it learnt from (every distinct word of a hostile mail is a feature).
pub const MAX_VOCABULARY: usize = 300_000;
const FOLDS: usize = 5;
const TEMPERATURES: &[f32] =
    &[0.25, 0.35, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0, 40.0];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    pub labels: Vec<Label>,
    vocabulary: HashMap<String, u32>,
    log_prior: Vec<f32>,
    /// `[label][feature]`
    log_likelihood: Vec<Vec<f32>>,
    pub temperature: f32,
    pub examples: usize,
    /// Naive Bayes keeps log-likelihoods in `log_likelihood`; logistic
    /// regression keeps its weights there and its biases in `log_prior`.
    #[serde(default)]
    pub kind: ModelKind,
}

/// A model, and the department each of its samples was read as in
/// cross-validation (none where there were too few samples to fold).
#[derive(Debug, Clone)]
pub struct Validated {
    pub model: Model,
    pub held_out: Vec<Option<DepartmentId>>,
}

/// A prediction: every label's calibrated probability, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub ranked: Vec<(usize, f64)>,
}

impl Model {
    /// Trains on `samples` and fits the temperature in cross-validation.
    pub fn train(samples: &[Sample]) -> Self {
        Self::train_as(ModelKind::NaiveBayes, samples)
    }

    /// Trains a model of `kind` on `samples` and fits the temperature in cross-validation.
    pub fn train_as(kind: ModelKind, samples: &[Sample]) -> Self {
        Self::train_validated(kind, samples).model
    }

    /// As [`Model::train_as`], with the department each sample was read as by
    /// the cross-validation model that did not see it.
    pub fn train_validated(kind: ModelKind, samples: &[Sample]) -> Validated {
        let all: Vec<&Sample> = samples.iter().collect();
        let mut model = Self::fit(kind, &all);
        let (temperature, held_out) = cross_validate(kind, samples);
        model.temperature = temperature;
        Validated { model, held_out }
    }

    /// Without calibration (temperature 1).
    fn fit(kind: ModelKind, samples: &[&Sample]) -> Self {
        let mut labels: Vec<Label> = samples.iter().map(|s| s.label.clone()).collect();
        labels.sort();
        labels.dedup();
        let vocabulary = vocabulary(samples);
        if kind == ModelKind::Logistic {
            let (bias, weights) = super::logistic::fit(samples, &labels, &vocabulary);
            return Self {
                labels,
                vocabulary,
                log_prior: bias,
                log_likelihood: weights,
                temperature: 1.0,
                examples: samples.len(),
                kind,
            };
        }
        let mut counts = vec![vec![0f32; vocabulary.len()]; labels.len()];
        let mut docs = vec![0f32; labels.len()];
        let norms: Vec<f32> = samples.iter().map(|s| s.length()).collect();
        let mean = norms.iter().sum::<f32>() / norms.len().max(1) as f32;
        for (sample, norm) in samples.iter().zip(&norms) {
            let Ok(l) = labels.binary_search(&sample.label) else { continue };
            docs[l] += sample.weight;
            let scale = if *norm > 0.0 { mean / norm } else { 1.0 };
            for (feature, weight) in &sample.features {
                if let Some(&f) = vocabulary.get(&**feature) {
                    counts[l][f as usize] += weight * scale * sample.weight;
                }
            }
        }
        let total: f32 = docs.iter().sum();
        let log_prior = docs.iter().map(|&d| ((d + 1.0) / (total + labels.len() as f32)).ln()).collect();
        let size = vocabulary.len() as f32;
        let log_likelihood = counts
            .iter()
            .map(|row| {
                let sum: f32 = row.iter().sum();
                row.iter().map(|&c| ((c + ALPHA) / (sum + ALPHA * size)).ln()).collect()
            })
            .collect();
        Self { labels, vocabulary, log_prior, log_likelihood, temperature: 1.0, examples: samples.len(), kind }
    }

    /// Each label's raw log score.
    fn log_scores(&self, features: &HashMap<String, f32>) -> Vec<f32> {
        self.log_scores_of(features.iter().map(|(f, w)| (f.as_str(), *w)))
    }

    /// Each label's raw log score, of features given as (name, weight).
    fn log_scores_of<'f>(&self, features: impl Iterator<Item = (&'f str, f32)> + Clone) -> Vec<f32> {
        let mut scores = self.log_prior.clone();
        let scale = match self.kind {
            ModelKind::NaiveBayes => 1.0,
            ModelKind::Logistic => super::logistic::scale(features.clone().filter(|(f, _)| self.knows(f))),
        };
        for (feature, weight) in features {
            if let Some(&f) = self.vocabulary.get(feature) {
                for (l, score) in scores.iter_mut().enumerate() {
                    *score += scale * weight * self.log_likelihood[l][f as usize];
                }
            }
        }
        scores
    }

    /// About how many bytes the model holds in memory: its vocabulary (each
    /// feature's text, its index and the hash table's share) and one number per
    /// label and feature.
    pub fn memory_bytes(&self) -> usize {
        let size = std::mem::size_of::<String>() + std::mem::size_of::<u32>() + std::mem::size_of::<u64>();
        let vocabulary: usize = self.vocabulary.keys().map(|k| k.capacity() + size).sum();
        let numbers = self.log_likelihood.iter().map(|row| row.capacity() + 1).sum::<usize>() * 4;
        vocabulary + numbers
    }

    /// Whether the model has seen `feature` in training.
    pub fn knows(&self, feature: &str) -> bool {
        self.vocabulary.contains_key(feature)
    }

    /// Calibrated probabilities, best first; empty when the model has no labels.
    pub fn predict(&self, features: &HashMap<String, f32>) -> Scores {
        let probabilities = super::logistic::softmax(&self.log_scores(features), self.temperature);
        let mut ranked: Vec<(usize, f64)> = probabilities.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        Scores { ranked }
    }

    /// The features that weigh most for label `a` over label `b`, strongest first.
    pub fn evidence<'f>(
        &self,
        features: &'f HashMap<String, f32>,
        a: usize,
        b: usize,
        most: usize,
    ) -> Vec<(&'f str, f32)> {
        let mut weighed: Vec<(&str, f32)> = features
            .iter()
            .filter_map(|(feature, weight)| {
                let f = *self.vocabulary.get(feature)? as usize;
                let lift = weight * (self.log_likelihood[a][f] - self.log_likelihood[b][f]);
                (lift > 0.0).then_some((feature.as_str(), lift))
            })
            .collect();
        weighed.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(y.0)));
        weighed.truncate(most);
        weighed
    }
}

/// Every feature of `samples`, numbered in the order they first occur; past
/// [`MAX_VOCABULARY`], those in the fewest examples are left out.
fn vocabulary(samples: &[&Sample]) -> HashMap<String, u32> {
    let mut seen: HashMap<&str, (usize, u32)> = HashMap::new();
    for sample in samples {
        for (feature, _) in &sample.features {
            let next = seen.len();
            seen.entry(&**feature).or_insert((next, 0)).1 += 1;
        }
    }
    let mut kept: Vec<(&str, usize, u32)> = seen.into_iter().map(|(f, (first, count))| (f, first, count)).collect();
    if kept.len() > MAX_VOCABULARY {
        kept.select_nth_unstable_by(MAX_VOCABULARY, |a, b| b.2.cmp(&a.2).then(a.1.cmp(&b.1)));
        kept.truncate(MAX_VOCABULARY);
    }
    kept.sort_unstable_by_key(|(_, first, _)| *first);
    kept.into_iter().zip(0u32..).map(|((feature, _, _), index)| (feature.to_owned(), index)).collect()
}

/// The temperature that minimises the log-loss of held-out folds, and the
/// department each sample was read as there.
fn cross_validate(kind: ModelKind, samples: &[Sample]) -> (f32, Vec<Option<DepartmentId>>) {
    let mut read = vec![None; samples.len()];
    if samples.len() < FOLDS * 4 {
        return (1.0, read);
    }
    let mut held_out: Vec<(Vec<f32>, Option<usize>)> = Vec::with_capacity(samples.len());
    // Folds by a scrambled index, so that examples stored in a regular order
    // (by category, say) do not all land in one fold.
    let fold_of = |i: usize| {
        let mut x = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((x ^ (x >> 31)) % FOLDS as u64) as usize
    };
    for fold in 0..FOLDS {
        let train: Vec<&Sample> =
            samples.iter().enumerate().filter(|(i, _)| fold_of(*i) != fold).map(|(_, s)| s).collect();
        let model = Model::fit(kind, &train);
        for (i, sample) in samples.iter().enumerate().filter(|(i, _)| fold_of(*i) == fold) {
            let truth = model.labels.binary_search(&sample.label).ok();
            let scores = model.log_scores_of(sample.features.iter().map(|(f, w)| (&**f, *w)));
            let best = scores.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(l, _)| l);
            read[i] = best.map(|l| model.labels[l].department.clone());
            held_out.push((scores, truth));
        }
    }
    let loss = |t: f32| -> f64 {
        held_out
            .iter()
            .map(|(scores, truth)| match truth {
                Some(l) => -super::logistic::softmax(scores, t)[*l].max(1e-12).ln(),
                None => 0.0,
            })
            .sum()
    };
    (TEMPERATURES.iter().copied().min_by(|a, b| loss(*a).total_cmp(&loss(*b))).unwrap_or(1.0), read)
}

#[cfg(test)]
mod tests;
