//! What the model learns from: labelled examples as features, each feature's
//! name kept once.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::DepartmentId;

/// What one example or prediction is labelled with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub struct Label {
    pub department: DepartmentId,
    pub category: Option<String>,
}

/// A feature's name, shared by every sample that has it.
pub type Feature = Arc<str>;

/// One labelled example, as features: a list, each name shared through
/// [`Names`], so that thousands of examples hold each name once.
#[derive(Debug, Clone)]
pub struct Sample {
    pub label: Label,
    pub features: Vec<(Feature, f32)>,
    /// How much this example counts: 1 for curated examples, less for examples
    /// taken from another tool's tickets.
    pub weight: f32,
}

impl Sample {
    /// The length of its feature weights (their Euclidean norm).
    pub fn length(&self) -> f32 {
        length(self.features.iter().map(|(_, w)| *w))
    }
}

/// The length of a list of feature weights (their Euclidean norm): what a long
/// mail's weights are divided by, so that it counts as one request.
pub fn length(weights: impl Iterator<Item = f32>) -> f32 {
    weights.map(|w| w * w).sum::<f32>().sqrt()
}

/// The feature names of a training set, each kept once.
#[derive(Debug, Default)]
pub struct Names(HashSet<Feature>);

impl Names {
    /// The shared name `name`.
    pub fn get(&mut self, name: &str) -> Feature {
        if let Some(known) = self.0.get(name) {
            return known.clone();
        }
        let new: Feature = name.into();
        self.0.insert(new.clone());
        new
    }

    /// How many names are kept.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
