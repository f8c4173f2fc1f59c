//! Training data: the examples shipped in `training/`, the operator's own (from
//! the config and a CSV file), and departments' corrections, turned into samples
//! for the model. Pure: text in, samples out.

use std::collections::HashMap;

use super::choose::{self, Trained};
use super::model::{Label, Model, Names, Sample};
use super::text;
use crate::config::Directory;
use crate::domain::{DepartmentId, Taken, TextBounds, prefix};
use crate::inbound::language::{self, Language};
use crate::routing::Settings;

/// (department, file name, text) of a file in `training/`.
macro_rules! shipped {
    ($department:literal, $file:literal) => {
        ($department, $file, include_str!(concat!("../../../training/", $file, ".tsv")))
    };
}

/// The files of examples that come with loket: the first requests written for
/// loket, the departments' service catalogues, the short ways people phrase
/// requests to a desk, whole mails, and terse tickets.
const SHIPPED: &[(&str, &str, &str)] = &[
    shipped!("it", "it"),
    shipped!("hr", "hr"),
    shipped!("facility", "facility"),
    shipped!("it", "it-catalogue"),
    shipped!("hr", "hr-catalogue"),
    shipped!("facility", "facility-catalogue"),
    shipped!("it", "it-phrasing"),
    shipped!("hr", "hr-phrasing"),
    shipped!("facility", "facility-phrasing"),
    shipped!("it", "it-mail"),
    shipped!("hr", "hr-mail"),
    shipped!("facility", "facility-mail"),
    shipped!("it", "it-terse"),
    shipped!("hr", "hr-terse"),
    shipped!("facility", "facility-terse"),
    shipped!("it", "it-more-terse"),
    shipped!("hr", "hr-more-terse"),
    shipped!("facility", "facility-more-terse"),
];

/// How much a curated example counts: the shipped ones, the config's, the
/// departments' `#route` corrections.
pub const CURATED: f32 = 1.0;
/// How much an example from `routing.examples_file` counts: another tool's
/// tickets, labelled by the mailbox or queue they were sent to, so noisier.
pub const FROM_FILE: f32 = 0.5;
/// How much a request from an old mailbox counts (`routing.learn_from_mailboxes`):
/// labelled by the mailbox it was sent to, as noisy as another tool's export.
pub const FROM_MAILBOX: f32 = 0.5;

/// One request to learn from, with the department it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub department: DepartmentId,
    pub category: Option<String>,
    pub subject: String,
    pub body: String,
    /// How much it counts in training ([`CURATED`], [`FROM_FILE`], [`FROM_MAILBOX`]).
    pub weight: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{0}")]
    Csv(#[from] csv::Error),
    #[error("the CSV has no `{0}` column (it needs subject, body and label or department)")]
    Column(&'static str),
}

impl Example {
    /// As a labelled request, to measure a model on: labelled with its department.
    pub fn labelled(&self) -> Labelled {
        Labelled { label: self.department.to_string(), subject: self.subject.clone(), body: self.body.clone() }
    }
}

/// One request from a CSV, with its label as written there: a department id,
/// `department/category`, or another tool's label (`HR Support`).
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    pub label: String,
    pub subject: String,
    pub body: String,
}

impl Labelled {
    /// As an example to learn from, when the label names a department
    /// (`hr` or `hr/payroll`); `None` for any other label.
    pub fn example(&self, weight: f32) -> Option<Example> {
        let (department, category) = match self.label.split_once('/') {
            Some((department, category)) => (department, Some(category.trim().to_owned())),
            None => (self.label.as_str(), None),
        };
        Some(Example {
            department: DepartmentId::parse(department.trim()).ok()?,
            category: category.filter(|c| !c.is_empty()),
            subject: self.subject.clone(),
            body: self.body.clone(),
            weight,
        })
    }
}

/// The examples shipped in `training/`: `language<TAB>category<TAB>subject<TAB>body`.
pub fn shipped() -> Vec<Example> {
    shipped_lines().into_iter().map(|line| line.example).collect()
}

/// A shipped example with the file it stands in (`training/FILE.tsv`) and its
/// language.
#[derive(Debug, Clone)]
pub struct ShippedLine {
    pub file: &'static str,
    pub language: Option<Language>,
    pub example: Example,
}

/// Every shipped example, with where it comes from.
pub fn shipped_lines() -> Vec<ShippedLine> {
    SHIPPED
        .iter()
        .filter_map(|(department, name, text)| Some((DepartmentId::parse(department).ok()?, *name, *text)))
        .flat_map(|(department, name, text)| {
            text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).filter_map(move |line| {
                let mut fields = line.split('\t');
                let (language, category, subject, body) =
                    (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
                Some(ShippedLine {
                    file: name,
                    language: Language::from_code(language),
                    example: Example {
                        department: department.clone(),
                        category: (!category.is_empty() && category != "-").then(|| category.to_owned()),
                        subject: subject.to_owned(),
                        body: body.replace("\\n", "\n"),
                        weight: CURATED,
                    },
                })
            })
        })
        .collect()
}

/// The descriptions and example phrases in the config, one example each.
pub fn from_config(directory: &Directory) -> Vec<Example> {
    let mut examples = Vec::new();
    for department in &directory.departments {
        let id = department.id.clone();
        let texts = department.description.iter().chain(department.examples.iter());
        examples.extend(texts.map(|t| Example {
            department: id.clone(),
            category: None,
            subject: String::new(),
            body: t.clone(),
            weight: CURATED,
        }));
        for category in &department.categories {
            let texts =
                category.description.iter().chain(category.examples.iter()).chain(std::iter::once(&category.name));
            examples.extend(texts.map(|t| Example {
                department: id.clone(),
                category: Some(category.id.clone()),
                subject: String::new(),
                body: t.clone(),
                weight: CURATED,
            }));
        }
    }
    examples
}

/// Reads labelled requests from CSV with the columns `subject`, `body` and `label`
/// (or `department`); `map` turns labels into department ids (a label without a
/// mapping is used as it is).
pub fn read_csv(text: &str, map: &HashMap<String, String>) -> Result<Vec<Labelled>, DataError> {
    Ok(read_csv_rows(text.as_bytes(), map, TextBounds::WHOLE)?.0)
}

/// The most characters of a label that are read: labels name departments,
/// categories or another tool's queues.
const MAX_LABEL_CHARS: usize = 200;

/// As [`read_csv`], from a reader and within `bounds`, streamed: rows past the
/// bounds are not read, and each row's subject and body are cut as it is read.
pub fn read_csv_rows(
    source: impl std::io::Read,
    map: &HashMap<String, String>,
    bounds: TextBounds,
) -> Result<(Vec<Labelled>, Taken), DataError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(source);
    let headers = reader.headers()?.clone();
    let find = |name: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let column = |name: &'static str| find(name).ok_or(DataError::Column(name));
    let (subject, body) = (column("subject")?, column("body")?);
    let label = find("label").or_else(|| find("department")).ok_or(DataError::Column("label"))?;
    let mut examples = Vec::new();
    let mut taken = Taken::default();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record)? {
        // Cut before copying: a field may be as large as the file.
        let field = |i: usize, most: usize| prefix(record.get(i).unwrap_or(""), most).to_owned();
        let (subject, body) = (field(subject, bounds.subject_chars), field(body, bounds.body_chars));
        let Some((subject, body)) = bounds.take(&mut taken, subject, body) else { break };
        let label = field(label, MAX_LABEL_CHARS);
        let label = map.get(&label).cloned().unwrap_or(label);
        examples.push(Labelled { label, subject, body });
    }
    Ok((examples, taken))
}

/// One in five shipped examples is held back from the test model, chosen by a
/// stable hash of its text, to measure the model on requests it never saw.
pub fn held_back(example: &Example) -> bool {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in example.subject.bytes().chain(example.body.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash.is_multiple_of(5)
}

/// The features of a request, in its own language.
pub fn features(subject: &str, body: &str, default: Language) -> text::Features {
    let own = text::request_text(body);
    let language = language::detect(subject, &own, default);
    text::features(subject, &own, language)
}

/// Samples for the configured departments: examples of other departments are
/// left out, and a category is kept only where the department has it configured.
pub fn samples(settings: &Settings, examples: &[Example]) -> Vec<Sample> {
    samples_named(settings, examples, &mut Names::default())
}

/// As [`samples`], each feature name kept once in `names`.
fn samples_named(settings: &Settings, examples: &[Example], names: &mut Names) -> Vec<Sample> {
    let default = settings.default_language;
    examples
        .iter()
        .filter_map(|example| {
            let department = settings.directory.department(&example.department)?;
            let category =
                example.category.clone().filter(|c| department.categories.iter().any(|configured| &configured.id == c));
            let features = features(&example.subject, &example.body, default).weights;
            Some(Sample {
                label: Label { department: example.department.clone(), category },
                features: features.into_iter().map(|(name, weight)| (names.get(&name), weight)).collect(),
                weight: example.weight,
            })
        })
        .collect()
}

/// The model for `config`: the shipped examples (unless `routing.builtin_examples`
/// is off), the config's own, and `extra` (the operator's file, corrections).
pub fn train(settings: &Settings, extra: &[Example]) -> Model {
    train_chosen(settings, extra).trained.model
}

/// A model trained by [`train_chosen`], with what it was trained on.
#[derive(Debug)]
pub struct Built {
    pub trained: Trained,
    /// The shipped examples read (none with `routing.builtin_examples` off).
    pub shipped: usize,
    /// The config's own examples read.
    pub configured: usize,
    /// The organisation's own examples left out by [`MAX_FEATURE_NAMES`].
    pub own_left_out: usize,
}

/// As [`train`], with how the model's kind was chosen (`extra` is the
/// organisation's own, which `routing.model = "auto"` measures each kind on)
/// and what it was trained on.
pub fn train_chosen(settings: &Settings, extra: &[Example]) -> Built {
    let mut examples = if settings.routing.builtin_examples { shipped() } else { Vec::new() };
    let shipped = examples.len();
    examples.extend(from_config(&settings.directory));
    let configured = examples.len() - shipped;
    let mut names = Names::default();
    let mut all = samples_named(settings, &examples, &mut names);
    let first_own = all.len();
    let (own, read) = samples_within(settings, extra, &mut names, MAX_FEATURE_NAMES);
    all.extend(own);
    let trained = choose::train(settings.routing.model, &all, first_own);
    Built { trained, shipped, configured, own_left_out: extra.len() - read }
}

/// At most this many different features (words, word pairs, parts of words)
/// are read from all examples together: the organisation's own examples past
/// it are left out. Real requests repeat their words (the shipped examples name
/// about 52,000 features, and 3,324 real tickets about 52,000 more); random
/// words do not, and this bounds training's memory whatever the old mailboxes hold.
pub const MAX_FEATURE_NAMES: usize = 600_000;

/// The samples of `examples` in order until `names` holds `most` names, and
/// how many examples were read.
fn samples_within(settings: &Settings, examples: &[Example], names: &mut Names, most: usize) -> (Vec<Sample>, usize) {
    let mut samples = Vec::new();
    let mut read = 0;
    for example in examples {
        if names.len() >= most {
            break;
        }
        samples.extend(samples_named(settings, std::slice::from_ref(example), names));
        read += 1;
    }
    (samples, read)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random words are all different: once the examples name as many features
    /// as may be read, the organisation's own examples past that are left out.
    #[test]
    fn own_examples_are_read_until_the_features_they_name_reach_the_bound() {
        let settings = Settings::from_config(&crate::config::load_str(crate::config::EXAMPLE).expect("config"));
        let junk = |i: usize| Example {
            department: DepartmentId::parse("it").expect("a department"),
            category: None,
            subject: String::new(),
            body: (0..50).map(|w| format!("zq{i}x{w}")).collect::<Vec<_>>().join(" "),
            weight: FROM_MAILBOX,
        };
        let examples: Vec<Example> = (0..10).map(junk).collect();
        let mut names = Names::default();
        let (samples, read) = samples_within(&settings, &examples, &mut names, 120);
        assert_eq!((samples.len(), read), (2, 2), "{} names", names.len());
        let (all, read) = samples_within(&settings, &examples, &mut Names::default(), usize::MAX);
        assert_eq!((all.len(), read), (10, 10));
    }

    /// Another tool's export may hold a ticket body of any size: each row is cut
    /// as it is read, and reading stops once the characters are spent.
    #[test]
    fn an_exports_huge_fields_are_cut_as_they_are_read_and_reading_stops_at_the_total() {
        let huge = "printer ".repeat(200_000);
        let mut csv = String::from("subject,body,label\n");
        for i in 0..5 {
            csv.push_str(&format!("\"{huge}\",\"{huge}\",it\nsmall {i},laptop,it\n"));
        }
        let bounds = TextBounds { requests: 100, subject_chars: 50, body_chars: 1_000, total_chars: 2_500 };
        let (rows, taken) = read_csv_rows(csv.as_bytes(), &HashMap::new(), bounds).unwrap();
        assert_eq!(rows[0].subject.chars().count(), 50);
        assert_eq!(rows[0].body.chars().count(), 1_000);
        assert_eq!(rows[1].subject, "small 0");
        assert_eq!(rows.len(), 5, "the third long row is read, then the total is spent");
        assert!(taken.full);
        let (all, taken) = read_csv_rows(csv.as_bytes(), &HashMap::new(), TextBounds::WHOLE).unwrap();
        assert_eq!((all.len(), all[0].body.len(), taken.full), (10, huge.len(), false));
    }
}
