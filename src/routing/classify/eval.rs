//! Measuring routing on labelled examples: accuracy, macro-F1, per-department
//! precision and recall, and the confusion matrix.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::data::Labelled;
use super::{Arrival, Classifier, DecidedBy};
use crate::inbound::language;

#[derive(Debug, Clone, Serialize)]
pub struct PerLabel {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub examples: usize,
    pub accuracy: f64,
    /// The mean F1 over the labels that occur in the truth.
    pub macro_f1: f64,
    pub per_label: Vec<PerLabel>,
    /// Row and column names: every label seen in the truth or the predictions.
    pub labels: Vec<String>,
    /// `confusion[truth][predicted]`
    pub confusion: Vec<Vec<usize>>,
}

/// (label, predicted department, confidence) for each example, decided as if it
/// were mailed to the desk's own address: the rule's department when a rule
/// matches, else the model's, whatever its confidence.
pub fn predict(classifier: &Classifier, examples: &[Labelled]) -> Vec<(String, String, f64)> {
    predict_timed(classifier, examples).0
}

/// As [`predict`], with how long each decision took (the whole decision: text
/// preparation, language, rules and model; not the parsing of the test mail).
pub fn predict_timed(classifier: &Classifier, examples: &[Labelled]) -> (Vec<(String, String, f64)>, Vec<Duration>) {
    let default = classifier.settings().default_language;
    let arrival = Arrival::desk(classifier.settings());
    let mut took = Vec::with_capacity(examples.len());
    let predicted = examples
        .iter()
        .filter_map(|example| {
            let raw = format!(
                "From: example@loket.invalid\r\nSubject: {}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
                crate::inbound::intake::one_line(&example.subject),
                example.body
            );
            let message = crate::inbound::intake::parse(raw.as_bytes()).ok()?;
            let start = Instant::now();
            let language = language::detect(&message.subject, &message.text, default);
            let decision = classifier.decide_at(&arrival, &message, language);
            took.push(start.elapsed());
            let predicted = match decision.decided_by {
                DecidedBy::Rule => decision.department.to_string(),
                _ => decision.model_department.as_ref().unwrap_or(&decision.department).to_string(),
            };
            Some((example.label.clone(), predicted, decision.confidence.unwrap_or(1.0)))
        })
        .collect();
    (predicted, took)
}

/// The `q` quantile (0 to 1) of `times`, in milliseconds.
pub fn quantile_ms(times: &[Duration], q: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort();
    let Some(last) = sorted.len().checked_sub(1) else { return 0.0 };
    let at = ((last as f64) * q).ceil() as usize;
    sorted[at.min(last)].as_secs_f64() * 1_000.0
}

/// Compares (truth, predicted) pairs.
pub fn report(pairs: &[(String, String)]) -> Report {
    let mut labels: Vec<String> = pairs.iter().flat_map(|(t, p)| [t.clone(), p.clone()]).collect();
    labels.sort();
    labels.dedup();
    let index = |l: &str| labels.iter().position(|x| x == l).unwrap_or(0);
    let mut confusion = vec![vec![0usize; labels.len()]; labels.len()];
    for (truth, predicted) in pairs {
        confusion[index(truth)][index(predicted)] += 1;
    }
    let correct: usize = (0..labels.len()).map(|i| confusion[i][i]).sum();
    let per_label: Vec<PerLabel> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let support: usize = confusion[i].iter().sum();
            let predicted: usize = confusion.iter().map(|row| row[i]).sum();
            let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            let (precision, recall) = (ratio(confusion[i][i], predicted), ratio(confusion[i][i], support));
            let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
            PerLabel { label: label.clone(), precision, recall, f1, support }
        })
        .collect();
    let present: Vec<&PerLabel> = per_label.iter().filter(|p| p.support > 0).collect();
    let macro_f1 =
        if present.is_empty() { 0.0 } else { present.iter().map(|p| p.f1).sum::<f64>() / present.len() as f64 };
    Report {
        examples: pairs.len(),
        accuracy: if pairs.is_empty() { 0.0 } else { correct as f64 / pairs.len() as f64 },
        macro_f1,
        per_label,
        labels,
        confusion,
    }
}

#[cfg(test)]
mod tests {
    use super::report;

    #[test]
    fn accuracy_macro_f1_and_the_confusion_matrix_add_up() {
        let pair = |t: &str, p: &str| (t.to_owned(), p.to_owned());
        let r = report(&[pair("it", "it"), pair("it", "hr"), pair("hr", "hr"), pair("facility", "facility")]);
        assert_eq!(r.accuracy, 0.75);
        assert_eq!(r.labels, ["facility", "hr", "it"]);
        assert_eq!(r.confusion[2], [0, 1, 1]);
        let hr = &r.per_label[1];
        assert_eq!((hr.precision, hr.recall), (0.5, 1.0));
        let expected = (1.0 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0;
        assert!((r.macro_f1 - expected).abs() < 1e-9, "{}", r.macro_f1);
    }
}
