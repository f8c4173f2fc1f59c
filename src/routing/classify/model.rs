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

/// Why a stored model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    #[error("not a model: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{labels} labels, but {priors} priors and {rows} rows of weights")]
    Labels { labels: usize, priors: usize, rows: usize },
    #[error("a row of weights holds {numbers} numbers for {features} features")]
    Row { numbers: usize, features: usize },
    #[error("feature number {index} is past its {features} features")]
    Index { index: u32, features: usize },
    #[error("temperature {0} is not a positive number")]
    Temperature(f32),
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

    /// A model stored as JSON, checked whole before it is used: every label has
    /// its prior and its row, every row a number for every feature.
    pub fn from_json(json: &str) -> Result<Self, Unreadable> {
        let model: Self = serde_json::from_str(json)?;
        let (labels, features) = (model.labels.len(), model.vocabulary.len());
        if model.log_prior.len() != labels || model.log_likelihood.len() != labels {
            return Err(Unreadable::Labels { labels, priors: model.log_prior.len(), rows: model.log_likelihood.len() });
        }
        if let Some(row) = model.log_likelihood.iter().find(|row| row.len() != features) {
            return Err(Unreadable::Row { numbers: row.len(), features });
        }
        if let Some(&index) = model.vocabulary.values().find(|&&i| i as usize >= features) {
            return Err(Unreadable::Index { index, features });
        }
        if !(model.temperature.is_finite() && model.temperature > 0.0) {
            return Err(Unreadable::Temperature(model.temperature));
        }
        Ok(model)
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
        let norms: Vec<f32> =
            samples.iter().map(|s| s.features.iter().map(|(_, w)| w * w).sum::<f32>().sqrt()).collect();
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
mod tests {
    use super::*;

    fn sample(department: &str, words: &[&str]) -> Sample {
        Sample {
            label: Label { department: DepartmentId::parse(department).expect("a test department"), category: None },
            features: words.iter().map(|w| (Feature::from(format!("w:{w}")), 1.0)).collect(),
            weight: 1.0,
        }
    }

    fn samples() -> Vec<Sample> {
        let mut samples = Vec::new();
        for i in 0..20 {
            let extra = format!("x{i}");
            samples.push(sample("it", &["laptop", "screen", &extra]));
            samples.push(sample("it", &["phone", "voicemail", &extra]));
            samples.push(sample("hr", &["salary", "payslip", &extra]));
            samples.push(sample("hr", &["leave", "holiday", &extra]));
            samples.push(sample("facility", &["lamp", "desk", &extra]));
        }
        samples
    }

    #[test]
    fn clear_words_win_with_high_confidence_and_unknown_words_stay_unsure() {
        let model = Model::train(&samples());
        let features: HashMap<String, f32> = [("w:payslip".to_owned(), 1.0), ("w:salary".to_owned(), 1.0)].into();
        let scores = model.predict(&features);
        assert_eq!(model.labels[scores.ranked[0].0].department, "hr");
        assert!(scores.ranked[0].1 > 0.8, "{scores:?}");
        let sum: f64 = scores.ranked.iter().map(|r| r.1).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        let unknown: HashMap<String, f32> = [("w:zebra".to_owned(), 1.0)].into();
        let scores = model.predict(&unknown);
        assert!(scores.ranked[0].1 < 0.6, "only the priors speak: {scores:?}");
    }

    /// Requests of three telling words whose words name the right department
    /// nine times in ten.
    fn nine_in_ten() -> Vec<Sample> {
        let hr = ["payslip", "salary", "leave", "holiday", "pension"];
        let it = ["laptop", "screen", "printer", "vpn", "password"];
        let mut samples = Vec::new();
        for i in 0..400 {
            let (a, b) = if (i / 5) % 10 == 0 { ("it", "hr") } else { ("hr", "it") };
            let pick = |words: &[&'static str; 5]| [words[i % 5], words[(i + 1) % 5], words[(i + 2) % 5]];
            let (p, q) = (format!("p{i}"), format!("q{i}"));
            let [x, y, z] = pick(&hr);
            samples.push(sample(a, &[x, y, z, &p]));
            let [x, y, z] = pick(&it);
            samples.push(sample(b, &[x, y, z, &q]));
        }
        samples
    }

    #[test]
    fn words_that_are_right_nine_times_in_ten_give_about_ninety_percent() {
        for kind in [ModelKind::NaiveBayes, ModelKind::Logistic] {
            let model = Model::train_as(kind, &nine_in_ten());
            let features: HashMap<String, f32> =
                ["w:payslip", "w:salary", "w:leave"].iter().map(|w| ((*w).to_owned(), 1.0)).collect();
            let scores = model.predict(&features);
            assert_eq!(model.labels[scores.ranked[0].0].department, "hr");
            assert!((0.85..0.95).contains(&scores.ranked[0].1), "{kind:?}: {scores:?}");
        }
    }

    #[test]
    fn an_example_weighted_below_another_counts_for_less() {
        let mut samples = samples();
        for _ in 0..10 {
            samples.push(sample("it", &["headset"]));
            let mut weak = sample("facility", &["headset"]);
            weak.weight = 0.5;
            samples.push(weak);
        }
        let model = Model::train(&samples);
        let features: HashMap<String, f32> = [("w:headset".to_owned(), 1.0)].into();
        let scores = model.predict(&features);
        assert_eq!(model.labels[scores.ranked[0].0].department, "it", "{scores:?}");
        for sample in samples.iter_mut().filter(|s| s.label.department == "facility") {
            sample.weight = 2.0;
        }
        let model = Model::train(&samples);
        let scores = model.predict(&features);
        assert_eq!(model.labels[scores.ranked[0].0].department, "facility", "{scores:?}");
    }

    /// Ten short requests of each department, one of IT's a long mail that
    /// says "badge" two hundred times: it counts as one request, not as two hundred.
    #[test]
    fn one_long_example_does_not_outweigh_ten_short_ones() {
        let mut samples = Vec::new();
        for _ in 0..10 {
            samples.push(sample("facility", &["badge", "door"]));
        }
        for _ in 0..9 {
            samples.push(sample("it", &["printer", "screen"]));
        }
        let mut long = sample("it", &[]);
        long.features = vec![("w:badge".into(), 200.0), ("w:printer".into(), 20.0)];
        samples.push(long);
        let model = Model::train(&samples);
        let features: HashMap<String, f32> = [("w:badge".to_owned(), 1.0)].into();
        let scores = model.predict(&features);
        assert_eq!(model.labels[scores.ranked[0].0].department, "facility", "{scores:?}");
    }

    #[test]
    fn evidence_names_the_words_that_decided() {
        let model = Model::train(&samples());
        let features: HashMap<String, f32> =
            [("w:phone".to_owned(), 1.0), ("w:desk".to_owned(), 0.5), ("w:zebra".to_owned(), 1.0)].into();
        let scores = model.predict(&features);
        let (best, second) = (scores.ranked[0].0, scores.ranked[1].0);
        assert_eq!(model.labels[best].department, "it");
        let evidence = model.evidence(&features, best, second, 3);
        assert_eq!(evidence[0].0, "w:phone");
        assert!(evidence.iter().all(|(f, _)| *f != "w:zebra"));
    }

    #[test]
    fn a_stored_model_that_does_not_add_up_is_refused_with_its_reason() {
        let json = serde_json::to_string(&Model::train(&samples())).unwrap();
        assert!(Model::from_json(&json).is_ok());
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["log_likelihood"] = serde_json::json!([]);
        let error = Model::from_json(&value.to_string()).unwrap_err();
        assert!(error.to_string().contains("3 labels, but 3 priors and 0 rows"), "{error}");
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["labels"].as_array_mut().unwrap().truncate(1);
        assert!(matches!(Model::from_json(&value.to_string()), Err(Unreadable::Labels { .. })));
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["log_likelihood"][1].as_array_mut().unwrap().pop();
        assert!(matches!(Model::from_json(&value.to_string()), Err(Unreadable::Row { .. })));
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["vocabulary"]["w:laptop"] = serde_json::json!(4_000_000);
        assert!(matches!(Model::from_json(&value.to_string()), Err(Unreadable::Index { index: 4_000_000, .. })));
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["temperature"] = serde_json::json!(0.0);
        assert!(matches!(Model::from_json(&value.to_string()), Err(Unreadable::Temperature(_))));
        assert!(matches!(Model::from_json("[1, 2"), Err(Unreadable::Json(_))));
    }

    /// Every distinct word of a mail is a feature: past the bound, the features
    /// of the fewest examples are left out, so that random words cannot grow the model.
    #[test]
    fn the_vocabulary_keeps_the_features_of_the_most_examples_up_to_its_bound() {
        let mut samples = samples();
        let mut junk = sample("it", &[]);
        junk.features = (0..MAX_VOCABULARY + 10).map(|i| (Feature::from(format!("w:junk{i}")), 1.0)).collect();
        samples.push(junk);
        let model = Model::train(&samples);
        assert_eq!(model.vocabulary.len(), MAX_VOCABULARY);
        for word in ["w:laptop", "w:payslip", "w:lamp", "w:x7"] {
            assert!(model.knows(word), "{word} is in twenty examples and stays");
        }
        let features: HashMap<String, f32> = [("w:payslip".to_owned(), 1.0)].into();
        assert_eq!(model.labels[model.predict(&features).ranked[0].0].department, "hr");
    }

    #[test]
    fn the_model_survives_a_round_trip_through_json_and_an_empty_training_set() {
        let model = Model::train(&samples());
        let back: Model = serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
        let features: HashMap<String, f32> = [("w:lamp".to_owned(), 1.0)].into();
        assert_eq!(model.predict(&features), back.predict(&features));
        let empty = Model::train(&[]);
        assert!(empty.predict(&features).ranked.is_empty());
    }
}
