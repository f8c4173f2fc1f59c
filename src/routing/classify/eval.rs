//! Measuring routing on labelled examples: each one decided as the daemon
//! would, scored in [`super::score`], and the time each decision took.

use std::time::{Duration, Instant};

use super::data::Labelled;
pub use super::score::{PerLabel, Report, report};
use super::{Arrival, Classifier, DecidedBy};
use crate::inbound::language;

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
