//! `loket classify`, `loket eval` and `loket train`: what routing would do with a
//! message and why, how well it does on labelled examples, and a new model.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use crate::config::{Config, ModelKind};
use crate::domain::TextBounds;
use crate::inbound::language;
use crate::routing::Settings;
use crate::routing::classify::choose::{KindChoice, MIN_OWN};
use crate::routing::classify::data::{self, Labelled};
use crate::routing::classify::{Arrival, Classifier, eval};

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// The message (a .eml file), or `-` for standard input.
    pub file: PathBuf,
    /// Decide as if it arrived in this configured mailbox (default: the desk's own address).
    #[arg(long)]
    pub mailbox: Option<String>,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// CSV with the columns `subject`, `body` and `label`.
    #[arg(long)]
    pub csv: PathBuf,
    /// `LABEL=DEPARTMENT` for labels that are not department ids; `LABEL=-` leaves
    /// those examples out. May be given more than once.
    #[arg(long = "map", value_name = "LABEL=DEPARTMENT")]
    pub map: Vec<String>,
    /// One JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// The classifier the daemon would use: the stored model when the store exists and
/// holds one that fits the config, else one trained now. Nothing is written.
async fn classifier(config: &Config, settings: &Arc<Settings>) -> Result<(Classifier, String)> {
    let url = &config.store.url;
    let exists = match url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        Some(path) => Path::new(path.split('?').next().unwrap_or(path)).exists(),
        None => true,
    };
    if exists && let Ok(store) = crate::store::Store::connect(url, 1).await {
        let loaded = crate::routing::learn::classifier(settings.clone(), &store).await;
        store.close().await;
        match loaded {
            Ok((classifier, Some(id))) => return Ok((classifier, format!("the stored model {id}"))),
            Ok((classifier, None)) => {
                let source = "a model trained now from the shipped and configured examples and the corrections";
                return Ok((classifier, source.into()));
            }
            Err(_) => {}
        }
    }
    let model = data::train(settings, &[]);
    Ok((
        Classifier::new(settings.clone(), Arc::new(model)),
        "a model trained now from the shipped and configured examples".into(),
    ))
}

pub async fn classify(args: ClassifyArgs, config: Arc<Config>) -> Result<()> {
    let mut out = super::terminal::stdout();
    let mut raw = Vec::new();
    if args.file.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut raw).context("reading standard input")?;
    } else {
        raw = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    }
    let message =
        crate::inbound::intake::parse(&raw).with_context(|| format!("{} cannot be parsed", args.file.display()))?;
    let settings = Arc::new(Settings::from_config(&config));
    let directory = &settings.directory;
    let arrival = match &args.mailbox {
        Some(name) => Arrival::of(directory.mailbox(name).with_context(|| {
            let names: Vec<String> = config.mailboxes.iter().map(|m| m.name.to_string()).collect();
            format!("no mailbox `{name}` in the config (configured: {})", names.join(", "))
        })?),
        None => Arrival::desk(&settings),
    };
    let default = config.ack.default_language;
    let language = language::detect(&message.subject, &message.text, default);
    let (classifier, source) = classifier(&config, &settings).await?;
    let decision = classifier.decide_at(&arrival, &message, language);
    if args.json {
        let mut value = serde_json::to_value(&decision)?;
        value["language"] = json!(language.code());
        value["mailbox"] = json!(arrival.mailbox);
        value["model"] = json!(source);
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    writeln!(out, "language:    {}", language.code())?;
    writeln!(
        out,
        "arrived in:  {} ({})",
        arrival.mailbox,
        arrival.department.as_ref().map_or("no department", |d| directory.department_name(d))
    )?;
    let category = decision.category.as_deref().map(|c| format!(", category {c}")).unwrap_or_default();
    writeln!(out, "department:  {}{category}", directory.department_name(&decision.department))?;
    writeln!(out, "decided by:  {}", decision.decided_by.as_str())?;
    if let (Some(read), Some(confidence)) = (&decision.model_department, decision.confidence) {
        writeln!(out, "model reads: {} {:.0}%", directory.department_name(read), confidence * 100.0)?;
    }
    if let Some(runner_up) = &decision.runner_up {
        writeln!(
            out,
            "runner-up:   {} {:.0}%",
            directory.department_name(&runner_up.department),
            runner_up.confidence * 100.0
        )?;
    }
    if let Some(rule) = &decision.rule {
        writeln!(out, "rule:        {rule}")?;
    } else if !decision.evidence.is_empty() {
        writeln!(out, "words:       {}", decision.evidence.join(", "))?;
    }
    writeln!(out, "reroute:     {}", if decision.reroute { "yes" } else { "no" })?;
    writeln!(out, "why:         {}", decision.reason)?;
    writeln!(out, "model:       {source}")?;
    Ok(())
}

/// The most labels `loket eval` compares: its confusion matrix has a row and a
/// column for each.
const MAX_EVAL_LABELS: usize = 1_000;

/// Parses `--map` values.
fn mapping(map: &[String]) -> Result<HashMap<String, String>> {
    map.iter()
        .map(|m| {
            let (label, department) =
                m.split_once('=').with_context(|| format!("--map `{m}`: expected LABEL=DEPARTMENT"))?;
            Ok((label.trim().to_owned(), department.trim().to_owned()))
        })
        .collect()
}

pub async fn evaluate(args: EvalArgs, config: Arc<Config>) -> Result<()> {
    let mut out = super::terminal::stdout();
    let file = std::fs::File::open(&args.csv).with_context(|| format!("reading {}", args.csv.display()))?;
    let map = mapping(&args.map)?;
    let (examples, _) = data::read_csv_rows(std::io::BufReader::new(file), &map, TextBounds::WHOLE)
        .with_context(|| args.csv.display().to_string())?;
    let examples: Vec<Labelled> = examples.into_iter().filter(|e| e.label != "-").collect();
    anyhow::ensure!(!examples.is_empty(), "{} holds no examples", args.csv.display());
    let labels: std::collections::HashSet<&str> = examples.iter().map(|e| e.label.as_str()).collect();
    anyhow::ensure!(
        labels.len() <= MAX_EVAL_LABELS,
        "{} holds {} different labels; loket eval compares at most {MAX_EVAL_LABELS}: map them to departments with \
         --map LABEL=DEPARTMENT (or LABEL=- to leave them out)",
        args.csv.display(),
        labels.len()
    );
    let settings = Arc::new(Settings::from_config(&config));
    let unknown = examples.iter().filter(|e| settings.directory.department_by_id(&e.label).is_none()).count();
    let (classifier, source) = classifier(&config, &settings).await?;
    let (predicted, took) = eval::predict_timed(&classifier, &examples);
    let (p50, p99) = (eval::quantile_ms(&took, 0.5), eval::quantile_ms(&took, 0.99));
    let model_mib = classifier.model().memory_bytes() as f64 / (1024.0 * 1024.0);
    let pairs: Vec<(String, String)> = predicted.iter().map(|(t, p, _)| (t.clone(), p.clone())).collect();
    let report = eval::report(&pairs);
    let threshold = config.routing.reroute_confidence;
    let sure: Vec<&(String, String, f64)> = predicted.iter().filter(|(_, _, c)| *c >= threshold).collect();
    let sure_right = sure.iter().filter(|(t, p, _)| t == p).count();
    if args.json {
        let value = json!({
            "model": source,
            "report": report,
            "unknown_labels": unknown,
            "decision_ms": { "p50": p50, "p99": p99 },
            "model_memory_mib": model_mib,
            "at_reroute_confidence": {
                "threshold": threshold,
                "decided": sure.len(),
                "accuracy": if sure.is_empty() { 0.0 } else { sure_right as f64 / sure.len() as f64 },
            },
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    writeln!(out, "{} examples, model: {source}", report.examples)?;
    if unknown > 0 {
        writeln!(out, "{unknown} examples have a label that is no configured department (use --map LABEL=DEPARTMENT)")?;
    }
    writeln!(out, "accuracy: {:.3}", report.accuracy)?;
    writeln!(out, "macro-F1: {:.3}\n", report.macro_f1)?;
    writeln!(out, "{:<16} {:>9} {:>9} {:>9} {:>8}", "department", "precision", "recall", "F1", "support")?;
    for row in &report.per_label {
        writeln!(
            out,
            "{:<16} {:>9.3} {:>9.3} {:>9.3} {:>8}",
            row.label, row.precision, row.recall, row.f1, row.support
        )?;
    }
    writeln!(out, "\nconfusion (rows: label, columns: predicted)")?;
    write!(out, "{:<16}", "")?;
    for label in &report.labels {
        write!(out, " {:>10}", truncate(label))?;
    }
    writeln!(out)?;
    for (label, row) in report.labels.iter().zip(&report.confusion) {
        write!(out, "{:<16}", truncate(label))?;
        for count in row {
            write!(out, " {count:>10}")?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "\nat routing.reroute_confidence {threshold:.2}: {} of {} examples decided ({:.0}%), {:.3} of them right",
        sure.len(),
        predicted.len(),
        100.0 * sure.len() as f64 / predicted.len().max(1) as f64,
        if sure.is_empty() { 0.0 } else { sure_right as f64 / sure.len() as f64 }
    )?;
    writeln!(out, "one decision: p50 {p50:.3} ms, p99 {p99:.3} ms; the model holds about {model_mib:.1} MiB")?;
    Ok(())
}

fn truncate(label: &str) -> String {
    label.chars().take(10).collect()
}

pub async fn train(config: Arc<Config>) -> Result<()> {
    let store = crate::app::open_store(&config.store).await?;
    let training = crate::routing::learn::train(&Settings::from_config(&config), &store).await?;
    let body = serde_json::to_string(&training.model).context("writing the model")?;
    let examples = i64::try_from(training.model.examples).unwrap_or(i64::MAX);
    let corrections = i64::try_from(training.corrections).unwrap_or(i64::MAX);
    let id = store.save_model(&body, examples, corrections, crate::clock::now_ms()).await?;
    store.close().await;
    let labels: Vec<String> = training
        .model
        .labels
        .iter()
        .map(|l| match &l.category {
            Some(c) => format!("{}/{c}", l.department),
            None => l.department.to_string(),
        })
        .collect();
    println!(
        "trained on {} examples: {} shipped, {} from the config, {} from routing.examples_file, {} corrections, {} from the old mailboxes",
        training.model.examples,
        training.shipped,
        training.configured,
        training.from_file,
        training.corrections,
        training.from_mailboxes()
    );
    let counts = |by: &std::collections::BTreeMap<String, usize>| -> String {
        by.iter().map(|(d, n)| format!("{d} {n}")).collect::<Vec<_>>().join(", ")
    };
    if !training.from_file_by_department.is_empty() {
        println!("from routing.examples_file: {}", counts(&training.from_file_by_department));
    }
    let cap = config.routing.max_own_examples;
    let within = format!(
        "routing.max_own_examples ({cap}), and {} million characters of the organisation's own requests in all",
        crate::routing::learn::OWN_TOTAL_CHARS / 1_000_000
    );
    let (corrections, file, mailboxes) = (&training.corrections_read, &training.file_read, &training.mailboxes_read);
    if corrections.full {
        println!("there are more corrections: the newest {} were read ({within})", corrections.requests);
    }
    if file.full {
        println!("routing.examples_file has more rows: its first {} were read ({within})", file.requests);
    }
    if mailboxes.full {
        println!("the old mailboxes hold more requests: the newest {} were read ({within})", mailboxes.requests);
    }
    if training.own_left_out > 0 {
        println!(
            "{} of your own examples were left out: those before them name {} different words and word pairs, \
             as many as training reads",
            training.own_left_out,
            data::MAX_FEATURE_NAMES
        );
    }
    if config.routing.learn_from_mailboxes {
        let by = &training.from_mailboxes_by_department;
        println!("from the old mailboxes: {}", if by.is_empty() { "none yet".to_owned() } else { counts(by) });
    }
    println!("labels: {}", labels.join(", "));
    println!("model: {}", model_line(training.model.kind, &training.choice));
    println!("calibration temperature: {}", training.model.temperature);
    println!("stored as model {id}; running instances pick it up within {} s", config.routing.model_check_secs);
    Ok(())
}

/// The model's kind and how it was chosen, as `loket train` says it.
fn model_line(kind: ModelKind, choice: &KindChoice) -> String {
    let name = match kind {
        ModelKind::NaiveBayes => "naive Bayes",
        ModelKind::Logistic => "logistic regression",
    };
    match choice {
        KindChoice::Configured => format!("{name} (routing.model)"),
        KindChoice::TooFewOwn { own } => format!(
            "{name} (routing.model = \"auto\": {own} of your own examples, fewer than the {MIN_OWN} needed to measure which reads them better)"
        ),
        KindChoice::Measured { own, naive_bayes, logistic } => format!(
            "{name} (routing.model = \"auto\": on your {own} own examples, each read by a model trained without it, macro-F1 {naive_bayes:.3} naive Bayes, {logistic:.3} logistic regression)"
        ),
    }
}
