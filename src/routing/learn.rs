//! Learn: the routing model from everything loket knows — the shipped examples,
//! the operator's (config and `routing.examples_file`), the departments'
//! corrections (`#route`) and, with `routing.learn_from_mailboxes`, the requests
//! the old mailboxes brought in — stored for the next start, and picked up by a
//! running daemon without a restart.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::{DepartmentId, MailboxName, Taken, TextBounds};
use crate::routing::Settings;
use crate::routing::classify::choose::KindChoice;
use crate::routing::classify::data::{self, Example};
use crate::routing::classify::text;
use crate::routing::classify::{Classifier, Model, Routing};
use crate::store::{Store, StoreError};
use crate::telemetry::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("routing.examples_file {path}: {reason}")]
    Examples { path: String, reason: String },
    #[error("reading the stored model stopped: {0}")]
    Reading(String),
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
    /// How many of the organisation's own examples were left out because those
    /// before them named [`data::MAX_FEATURE_NAMES`] features.
    pub own_left_out: usize,
    /// How much was read of each source of the organisation's own requests
    /// (see [`own_bounds`]), and whether it held more.
    pub corrections_read: Taken,
    pub file_read: Taken,
    pub mailboxes_read: Taken,
}

/// How much of a request of the organisation's own training reads: the opening
/// of its text, where what it is about is said, so that a few huge mails
/// cannot crowd out the others.
pub const OWN_BODY_CHARS: usize = 4_000;
/// How many characters of the organisation's own requests training reads in
/// all (corrections, `routing.examples_file` and the old mailboxes together):
/// about 20,000 requests of an ordinary length. It bounds training's time and
/// memory whatever the mail holds.
pub const OWN_TOTAL_CHARS: usize = 8_000_000;

/// How many bytes of `routing.examples_file` are read at most: some 30,000
/// exported tickets with their other columns.
pub const EXPORT_BYTES: u64 = 64 * 1024 * 1024;

/// The bounds of one source of own requests, with `spent` characters already
/// read from the sources before it.
fn own_bounds(settings: &Settings, spent: usize) -> TextBounds {
    TextBounds {
        requests: settings.routing.max_own_examples,
        subject_chars: text::MAX_SUBJECT_CHARS,
        body_chars: OWN_BODY_CHARS,
        total_chars: OWN_TOTAL_CHARS.saturating_sub(spent),
    }
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
async fn mailbox_examples(
    settings: &Settings,
    store: &Store,
    spent: usize,
) -> Result<(Vec<Example>, Taken), LearnError> {
    if !settings.routing.learn_from_mailboxes {
        return Ok((Vec::new(), Taken::default()));
    }
    let homes: Vec<(MailboxName, DepartmentId)> = settings
        .directory
        .mailboxes
        .iter()
        .filter_map(|mailbox| Some((mailbox.name.clone(), mailbox.department.clone()?)))
        .collect();
    let (requests, taken) = store.mailbox_requests(&homes, own_bounds(settings, spent)).await?;
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
    Ok((examples, taken))
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
/// Read within [`own_bounds`].
fn examples_file(settings: &Settings, spent: usize) -> Result<(Vec<Example>, Taken), LearnError> {
    let Some(path) = &settings.routing.examples_file else { return Ok((Vec::new(), Taken::default())) };
    let fail = |reason: String| LearnError::Examples { path: path.display().to_string(), reason };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    // A row is held whole while it is read, however large its fields: the
    // bytes read are bounded too.
    let mut limited = std::io::Read::take(file, EXPORT_BYTES);
    let (rows, mut taken) =
        data::read_csv_rows(std::io::BufReader::new(&mut limited), &HashMap::new(), own_bounds(settings, spent))
            .map_err(|e| fail(e.to_string()))?;
    taken.full |= limited.limit() == 0;
    Ok((rows.iter().filter_map(|row| row.example(data::FROM_FILE)).collect(), taken))
}

/// Trains a model now from every source.
pub async fn train(settings: &Settings, store: &Store) -> Result<Training, LearnError> {
    let (corrections, corrections_taken) = store.corrections(own_bounds(settings, 0)).await?;
    let (from_file, file_taken) = examples_file(settings, corrections_taken.chars)?;
    let corrections: Vec<Example> = corrections
        .into_iter()
        .map(|c| Example {
            department: c.department,
            category: None,
            subject: c.subject,
            body: c.body,
            weight: data::CURATED,
        })
        .collect();
    let spent = corrections_taken.chars.saturating_add(file_taken.chars);
    let (from_mailboxes, mailboxes_taken) = mailbox_examples(settings, store, spent).await?;
    let (from_file_count, from_file_by_department) = (from_file.len(), per_department(&from_file));
    let corrections_count = corrections.len();
    let from_mailboxes_by_department = per_department(&from_mailboxes);
    // In the order of what they are worth, as the character bound reads them:
    // the feature bound then leaves out the least worth first.
    let mut extra = corrections;
    extra.extend(from_file);
    extra.extend(from_mailboxes);
    // Seconds of arithmetic at most (the bounds above), run where it is called:
    // at start-up before anything is served, by `loket train`, and in the
    // daemon only when a stored model cannot be used. On a thread of its own
    // the allocator would keep that thread's memory apart from the workers'
    // (measured: 4 to 10 MiB more at the peak of a burst).
    let built = data::train_chosen(settings, &extra);
    Ok(Training {
        model: built.trained.model,
        choice: built.trained.choice,
        shipped: built.shipped,
        configured: built.configured,
        from_file: from_file_count,
        from_file_by_department,
        corrections: corrections_count,
        from_mailboxes_by_department,
        own_left_out: built.own_left_out,
        corrections_read: corrections_taken,
        file_read: file_taken,
        mailboxes_read: mailboxes_taken,
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
        let (id, examples) = (stored.id, stored.examples);
        let read = tokio::task::spawn_blocking(move || Model::from_json(&stored.body))
            .await
            .map_err(|e| LearnError::Reading(e.to_string()))?;
        match read {
            Ok(model) if fits(&model, &settings) => {
                tracing::info!(id = %id, examples, "routing model loaded");
                return Ok((Classifier::new(settings, Arc::new(model)), Some(id)));
            }
            Ok(_) => {
                tracing::warn!(id = %id, "the stored model knows other departments than the config; training anew")
            }
            Err(error) => tracing::error!(%error, id = %id, "the stored model cannot be read; training anew"),
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
