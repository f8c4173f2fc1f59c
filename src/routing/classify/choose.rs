//! Which kind of model reads requests: the one `routing.model` names, or with
//! `auto` the one that reads the organisation's own examples best in
//! cross-validation (naive Bayes while there are too few of them to tell).

use super::model::{Model, ModelKind, Sample};
use super::score;
use crate::config::ModelChoice;

/// Below this many of the organisation's own examples, `auto` keeps naive Bayes:
/// it is the better reader of the shipped examples alone, and too few examples
/// cannot tell the two apart.
pub const MIN_OWN: usize = 100;

/// How the kind of a trained model was chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum KindChoice {
    /// `routing.model` names it.
    Configured,
    /// `auto`, with fewer than [`MIN_OWN`] of the organisation's own examples.
    TooFewOwn { own: usize },
    /// `auto`: each kind's macro-F1 over the organisation's own examples, each
    /// read by a model trained without it.
    Measured { own: usize, naive_bayes: f64, logistic: f64 },
}

/// A trained model and how its kind was chosen.
#[derive(Debug, Clone)]
pub struct Trained {
    pub model: Model,
    pub choice: KindChoice,
}

/// Trains on `samples`, of which those from index `first_own` on are the
/// organisation's own (its examples file, its old mailboxes, its departments'
/// corrections).
pub fn train(choice: ModelChoice, samples: &[Sample], first_own: usize) -> Trained {
    if let Some(kind) = choice.fixed() {
        return Trained { model: Model::train_as(kind, samples), choice: KindChoice::Configured };
    }
    let count = samples.len().saturating_sub(first_own);
    if count < MIN_OWN {
        return Trained {
            model: Model::train_as(ModelKind::NaiveBayes, samples),
            choice: KindChoice::TooFewOwn { own: count },
        };
    }
    let score = |kind: ModelKind| {
        let validated = Model::train_validated(kind, samples);
        let pairs: Vec<(String, String)> = samples[first_own..]
            .iter()
            .zip(&validated.held_out[first_own..])
            .map(|(sample, read)| {
                let read = read.as_ref().map_or_else(String::new, ToString::to_string);
                (sample.label.department.to_string(), read)
            })
            .collect();
        (validated.model, score::report(&pairs).macro_f1)
    };
    let (bayes, naive_bayes) = score(ModelKind::NaiveBayes);
    let (logistic_model, logistic) = score(ModelKind::Logistic);
    let choice = KindChoice::Measured { own: count, naive_bayes, logistic };
    let model = if logistic > naive_bayes { logistic_model } else { bayes };
    Trained { model, choice }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DepartmentId;
    use crate::routing::classify::model::Label;

    fn sample(department: &str, words: &[String]) -> Sample {
        Sample {
            label: Label { department: DepartmentId::parse(department).expect("a test department"), category: None },
            features: words.iter().map(|w| (format!("w:{w}").into(), 1.0)).collect(),
            weight: 1.0,
        }
    }

    /// `count` requests of each of two departments, with a word of their own and
    /// one of a few shared words.
    fn samples(count: usize) -> Vec<Sample> {
        (0..count)
            .flat_map(|i| {
                let shared = format!("shared{}", i % 7);
                [
                    sample("it", &["laptop".into(), shared.clone(), format!("x{i}")]),
                    sample("hr", &["payslip".into(), shared, format!("y{i}")]),
                ]
            })
            .collect()
    }

    #[test]
    fn a_kind_the_operator_names_is_the_kind_trained() {
        let all = samples(60);
        let trained = train(ModelChoice::Logistic, &all, 40);
        assert_eq!(trained.model.kind, ModelKind::Logistic);
        assert_eq!(trained.choice, KindChoice::Configured);
    }

    #[test]
    fn auto_keeps_naive_bayes_while_the_organisations_own_examples_are_too_few_to_tell() {
        let all = samples(60);
        let trained = train(ModelChoice::Auto, &all, all.len() - 50);
        assert_eq!(trained.model.kind, ModelKind::NaiveBayes);
        assert_eq!(trained.choice, KindChoice::TooFewOwn { own: 50 });
    }

    #[test]
    fn auto_measures_both_kinds_on_the_organisations_own_examples_and_keeps_the_better() {
        let all = samples(150);
        let trained = train(ModelChoice::Auto, &all, 100);
        let KindChoice::Measured { own, naive_bayes, logistic } = trained.choice else {
            panic!("not measured: {:?}", trained.choice);
        };
        assert_eq!(own, 200);
        assert!(naive_bayes > 0.9 && logistic > 0.9, "both read these well: {naive_bayes} {logistic}");
        let better = if logistic > naive_bayes { ModelKind::Logistic } else { ModelKind::NaiveBayes };
        assert_eq!(trained.model.kind, better);
    }
}
