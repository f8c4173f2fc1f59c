//! Learn: the routing model from everything loket knows — the shipped examples,
//! the operator's (config and `routing.examples_file`), the departments'
//! corrections (`#route`) and, with `routing.learn_from_mailboxes`, the requests
//! the old mailboxes brought in — stored for the next start, and picked up by a
//! running daemon without a restart.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::routing::Settings;
use crate::routing::classify::choose::KindChoice;
use crate::routing::classify::data::{self, Example};
use crate::routing::classify::{Classifier, Model, Routing};
use crate::store::{Store, StoreError};
use crate::telemetry::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("routing.examples_file {path}: {reason}")]
    Examples { path: String, reason: String },
}

/// A trained model and what it learnt from.
#[derive(Debug)]
pub struct Training {
    pub model: Model,
    /// How the model's kind was chosen (`routing.model`).
    pub choice: KindChoice,
    pub shipped: usize,
    pub configured: usize,
    pub from_file: usize,
    /// How many of `routing.examples_file`'s examples each department got.
    pub from_file_by_department: BTreeMap<String, usize>,
    pub corrections: usize,
    /// How many requests from the old mailboxes each department got
    /// (`routing.learn_from_mailboxes`).
    pub from_mailboxes_by_department: BTreeMap<String, usize>,
    /// `routing.examples_file` had more rows than `routing.max_own_examples`.
    pub file_capped: bool,
    /// The old mailboxes held more requests than `routing.max_own_examples`.
    pub mailboxes_capped: bool,
}

impl Training {
    /// How many requests from the old mailboxes it learnt from.
    pub fn from_mailboxes(&self) -> usize {
        self.from_mailboxes_by_department.values().sum()
    }
}

/// The old mailboxes' requests as examples for their mailbox's department: the
/// backlog, and later mail that was resolved in its mailbox's department. A
/// request a department rerouted is a correction instead; one the model took
/// elsewhere, or still open, says nothing yet about where it belonged.
async fn mailbox_examples(settings: &Settings, store: &Store) -> Result<(Vec<Example>, bool), LearnError> {
    if !settings.routing.learn_from_mailboxes {
        return Ok((Vec::new(), false));
    }
    let newest = settings.routing.max_own_examples;
    // One more than is read tells whether there were more.
    let mut requests = store.mailbox_requests(newest.saturating_add(1)).await?;
    let capped = requests.len() > newest;
    requests.truncate(newest);
    let examples = requests
        .into_iter()
        .filter_map(|request| {
            let home = settings.directory.mailbox(request.mailbox.as_str())?.department.clone()?;
            let held = request.resolved && request.department == home.as_str();
            (request.backlog || held).then_some(Example {
                department: home,
                category: None,
                subject: request.subject,
                body: request.body,
                weight: data::FROM_MAILBOX,
            })
        })
        .collect();
    Ok((examples, capped))
}

fn per_department(examples: &[Example]) -> BTreeMap<String, usize> {
    examples.iter().fold(BTreeMap::new(), |mut counts, e| {
        *counts.entry(e.department.to_string()).or_default() += 1;
        counts
    })
}

/// The operator's labelled examples: CSV with `subject`, `body`, `label` (or
/// `department`), where a label is a department id or `department/category`;
/// they count [`data::FROM_FILE`], below the curated examples.
/// At most `routing.max_own_examples` rows are read; true when more were left.
fn examples_file(settings: &Settings) -> Result<(Vec<Example>, bool), LearnError> {
    let Some(path) = &settings.routing.examples_file else { return Ok((Vec::new(), false)) };
    let fail = |reason: String| LearnError::Examples { path: path.display().to_string(), reason };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let (rows, capped) =
        data::read_csv_rows(std::io::BufReader::new(file), &HashMap::new(), settings.routing.max_own_examples)
            .map_err(|e| fail(e.to_string()))?;
    Ok((rows.iter().filter_map(|row| row.example(data::FROM_FILE)).collect(), capped))
}

/// Trains a model now from every source.
pub async fn train(settings: &Settings, store: &Store) -> Result<Training, LearnError> {
    let (from_file, file_capped) = examples_file(settings)?;
    let corrections: Vec<Example> = store
        .corrections()
        .await?
        .into_iter()
        .map(|c| Example {
            department: c.department,
            category: None,
            subject: c.subject,
            body: c.body,
            weight: data::CURATED,
        })
        .collect();
    let (from_mailboxes, mailboxes_capped) = mailbox_examples(settings, store).await?;
    let mut extra = from_file.clone();
    extra.extend_from_slice(&corrections);
    extra.extend_from_slice(&from_mailboxes);
    let trained = data::train_chosen(settings, &extra);
    Ok(Training {
        model: trained.model,
        choice: trained.choice,
        shipped: if settings.routing.builtin_examples { data::shipped().len() } else { 0 },
        configured: data::from_config(&settings.directory).len(),
        from_file: from_file.len(),
        from_file_by_department: per_department(&from_file),
        corrections: corrections.len(),
        from_mailboxes_by_department: per_department(&from_mailboxes),
        file_capped,
        mailboxes_capped,
    })
}

/// True when the model knows exactly the configured departments.
fn fits(model: &Model, settings: &Settings) -> bool {
    let known: BTreeSet<&str> = model.labels.iter().map(|l| l.department.as_str()).collect();
    let configured: BTreeSet<&str> = settings.directory.departments.iter().map(|d| d.id.as_str()).collect();
    known == configured
}

/// The classifier with the newest stored model (and that model's id), or with a
/// model trained now when none is stored or the stored one no longer fits the
/// configured departments.
pub async fn classifier(settings: Arc<Settings>, store: &Store) -> Result<(Classifier, Option<String>), LearnError> {
    if let Some(stored) = store.latest_model().await? {
        match serde_json::from_str::<Model>(&stored.body) {
            Ok(model) if fits(&model, &settings) => {
                tracing::info!(id = %stored.id, examples = stored.examples, "routing model loaded");
                return Ok((Classifier::new(settings, Arc::new(model)), Some(stored.id)));
            }
            Ok(_) => {
                tracing::warn!(id = %stored.id, "the stored model knows other departments than the config; training anew")
            }
            Err(error) => tracing::error!(%error, id = %stored.id, "the stored model cannot be read; training anew"),
        }
    }
    let training = train(&settings, store).await?;
    tracing::info!(examples = training.model.examples, "routing model trained");
    Ok((Classifier::new(settings, Arc::new(training.model)), None))
}

/// Replaces the routing model whenever `loket train` stores a newer one.
pub async fn watch(
    settings: Arc<Settings>,
    store: Store,
    routing: Arc<Routing>,
    metrics: Metrics,
    mut current: Option<String>,
    shutdown: CancellationToken,
) {
    metrics.model(routing.get().model().examples);
    let every = Duration::from_secs(settings.routing.model_check_secs.max(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match store.latest_model_id().await {
            Ok(latest) if latest.is_some() && latest != current => match classifier(settings.clone(), &store).await {
                Ok((classifier, id)) => {
                    tracing::info!(id = ?id, examples = classifier.model().examples, "new routing model in use");
                    metrics.model(classifier.model().examples);
                    routing.replace(classifier);
                    current = latest;
                }
                Err(error) => tracing::warn!(%error, "the new routing model could not be loaded"),
            },
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot check for a new routing model"),
        }
    }
}
