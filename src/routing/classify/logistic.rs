//! Logistic regression (multinomial, L2-regularised) over the same weighted
//! features as naive Bayes, trained by stochastic gradient descent on each
//! request's features scaled to unit length. Deterministic: the order of the
//! passes comes from a fixed seed.

use std::collections::HashMap;

use super::sample::{Label, Sample};

const EPOCHS: usize = 20;
const L2: f32 = 1e-4;
const LEARNING_RATE: f32 = 0.5;
const DECAY: f32 = 1e-4;

/// One example: its label, its scaled features by vocabulary index, its weight.
type Row = (usize, Vec<(usize, f32)>, f32);

/// What a request's feature weights are multiplied by: one over their length, so
/// that a long mail does not count more than a short one.
pub fn scale<'a>(weights: impl Iterator<Item = (&'a str, f32)>) -> f32 {
    let length = super::sample::length(weights.map(|(_, w)| w));
    if length > 0.0 { 1.0 / length } else { 1.0 }
}

/// The biases (one per label) and weights (`[label][feature]`) fitted to `samples`.
pub fn fit(samples: &[&Sample], labels: &[Label], vocabulary: &HashMap<String, u32>) -> (Vec<f32>, Vec<Vec<f32>>) {
    let rows: Vec<Row> = samples
        .iter()
        .filter_map(|sample| {
            let label = labels.binary_search(&sample.label).ok()?;
            let s = scale(sample.features.iter().map(|(f, w)| (&**f, *w)));
            let features =
                sample.features.iter().filter_map(|(f, w)| Some((*vocabulary.get(&**f)? as usize, w * s))).collect();
            Some((label, features, sample.weight))
        })
        .collect();
    let mut weights = vec![vec![0f32; vocabulary.len()]; labels.len()];
    let mut bias = vec![0f32; labels.len()];
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut step = 0f32;
    for _ in 0..EPOCHS {
        for i in (1..order.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        for &r in &order {
            let (truth, features, weight) = &rows[r];
            step += 1.0;
            let rate = LEARNING_RATE / (1.0 + DECAY * step);
            let scores: Vec<f32> = (0..labels.len())
                .map(|l| bias[l] + features.iter().map(|(f, x)| weights[l][*f] * x).sum::<f32>())
                .collect();
            let p = softmax(&scores, 1.0);
            for (l, row) in weights.iter_mut().enumerate() {
                let gradient = (p[l] as f32 - if l == *truth { 1.0 } else { 0.0 }) * weight;
                bias[l] -= rate * gradient;
                for (f, x) in features {
                    row[*f] -= rate * (gradient * x + L2 * row[*f]);
                }
            }
        }
    }
    (bias, weights)
}

/// The multinomial logistic function: probabilities from log scores, at a temperature.
pub fn softmax(scores: &[f32], temperature: f32) -> Vec<f64> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = scores.iter().map(|s| f64::from((s - max) / temperature).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| if sum > 0.0 { e / sum } else { 0.0 }).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::model::{Label, Model, ModelKind, Sample};
    use crate::domain::DepartmentId;

    fn sample(department: &str, words: &[&str], weight: f32) -> Sample {
        Sample {
            label: Label { department: DepartmentId::parse(department).expect("a test department"), category: None },
            features: words.iter().map(|w| (format!("w:{w}").into(), 1.0)).collect(),
            weight,
        }
    }

    #[test]
    fn logistic_regression_learns_the_telling_words_and_weighs_examples() {
        let mut samples = Vec::new();
        for i in 0..20 {
            let extra = format!("x{i}");
            samples.push(sample("it", &["laptop", "screen", &extra], 1.0));
            samples.push(sample("hr", &["salary", "payslip", &extra], 1.0));
            samples.push(sample("facility", &["lamp", "desk", &extra], 1.0));
            samples.push(sample("it", &["headset"], 1.0));
            samples.push(sample("facility", &["headset"], 0.5));
        }
        let model = Model::train_as(ModelKind::Logistic, &samples);
        let ask = |words: &[&str]| {
            let features: HashMap<String, f32> = words.iter().map(|w| (format!("w:{w}"), 1.0)).collect();
            let scores = model.predict(&features);
            (model.labels[scores.ranked[0].0].department.clone(), scores.ranked[0].1)
        };
        let (department, confidence) = ask(&["payslip", "salary"]);
        assert_eq!(department, "hr");
        assert!(confidence > 0.8, "{confidence}");
        assert_eq!(ask(&["headset"]).0, "it", "the example that counts more wins");
        let back: Model = serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
        assert_eq!(back.kind, ModelKind::Logistic);
        let features: HashMap<String, f32> = [("w:lamp".to_owned(), 1.0)].into();
        assert_eq!(model.predict(&features), back.predict(&features));
    }
}
