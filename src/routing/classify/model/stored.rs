//! A model read back from the store: checked whole before it is used, so that
//! a damaged or foreign one is refused with its reason instead of failing on
//! the first request.

use super::Model;

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
    #[error("a weight of {0} is not one a trained model holds")]
    Weight(f32),
}

/// No trained model holds a weight this large: log-probabilities of smoothed
/// counts and regularised regression weights stay far below it, and sums of
/// such weights over a request's features cannot overflow.
const MAX_WEIGHT: f32 = 1e4;

impl Model {
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
        let weights = model.log_prior.iter().chain(model.log_likelihood.iter().flatten());
        if let Some(&weight) = weights.into_iter().find(|w| !w.is_finite() || w.abs() > MAX_WEIGHT) {
            return Err(Unreadable::Weight(weight));
        }
        Ok(model)
    }
}
