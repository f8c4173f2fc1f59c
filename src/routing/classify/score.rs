//! Scoring predictions against the truth: accuracy, macro-F1, per-label
//! precision and recall, and the confusion matrix.

use serde::Serialize;

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

/// Compares (truth, predicted) pairs.
pub fn report(pairs: &[(String, String)]) -> Report {
    let mut labels: Vec<String> = pairs.iter().flat_map(|(t, p)| [t.clone(), p.clone()]).collect();
    labels.sort();
    labels.dedup();
    let positions: std::collections::HashMap<&str, usize> =
        labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let index = |l: &str| positions.get(l).copied().unwrap_or(0);
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
