//! The one config file, typed per concern, with environment overrides.
//!
//! Loading reads the file, lays `LOKET_*` variables over it (`LOKET_STORE__URL`
//! sets `store.url`), deserializes into these structs (unknown keys are errors),
//! then checks what types cannot: references between sections, files that must
//! exist, combinations that are unsafe. Every error names the key.

mod directory;
mod form;
mod load;
mod oauth;
mod paths;
mod pattern;
mod retention;
mod retire;
mod service_key;
mod store_url;
mod trust;
mod validate;
mod values;
mod web;

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::{DepartmentId, EmailAddress, Language, MailboxName};

pub use directory::{Directory, mailbox_named};
pub use form::{FORM_CHANNEL, FormConfig};
pub use load::{EXAMPLE, load, load_str};
pub use oauth::{AuthMethod, Grant, OAuthConfig};
pub use pattern::Pattern;
pub use retention::RetentionConfig;
pub use retire::{ReportConfig, RetireMode, Retirement};
pub use service_key::{KeyError, ServiceAccountKey};
pub use store_url::{StoreUrl, redacted};
pub use trust::{ConversationConfig, TrustConfig};
pub use web::WebConfig;

/// Why the config was refused. `key` is the dotted path of the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config: {0}")]
    Parse(String),
    #[error("config key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid { key: key.into(), problem: problem.into() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreConfig,
    pub desk: DeskConfig,
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    #[serde(default)]
    pub web: WebConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub ack: AckConfig,
    #[serde(default)]
    pub outbox: OutboxConfig,
    #[serde(default)]
    pub templates: TemplatesConfig,
    pub departments: Vec<DepartmentConfig>,
    #[serde(default)]
    pub routing: RoutingConfig,
    #[serde(default)]
    pub mailboxes: Vec<MailboxConfig>,
    #[serde(default)]
    pub trust: TrustConfig,
    #[serde(default)]
    pub conversation: ConversationConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub report: ReportConfig,
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// The web form at `/new`.
    #[serde(default)]
    pub form: FormConfig,
    /// OAuth clients that mailboxes and `[smtp]` sign in with.
    #[serde(default)]
    pub oauth: Vec<OAuthConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://…`; shown with its password replaced.
    pub url: StoreUrl,
    /// Connections in the pool (PostgreSQL; SQLite always writes through one).
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
    /// Seconds to wait for a connection from the pool (or a new one) before the call fails.
    #[serde(default = "defaults::acquire_timeout_secs")]
    pub acquire_timeout_secs: u64,
    /// PostgreSQL ends a statement that runs longer than this; 0 keeps the server's setting.
    #[serde(default = "defaults::statement_timeout_secs")]
    pub statement_timeout_secs: u64,
    /// Seconds a mailbox lease lasts: an instance that dies gives its mailboxes up
    /// to another after at most this long.
    #[serde(default = "defaults::mailbox_lease_secs")]
    pub mailbox_lease_secs: u64,
    /// Allow a PostgreSQL server on another host without TLS (`sslmode` require,
    /// verify-ca or verify-full).
    #[serde(default)]
    pub allow_plaintext: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://loket.db".into(),
            max_connections: defaults::max_connections(),
            acquire_timeout_secs: defaults::acquire_timeout_secs(),
            statement_timeout_secs: defaults::statement_timeout_secs(),
            mailbox_lease_secs: defaults::mailbox_lease_secs(),
            allow_plaintext: false,
        }
    }
}

impl StoreConfig {
    pub fn connect_options(&self) -> crate::store::ConnectOptions {
        use std::time::Duration;
        crate::store::ConnectOptions {
            max_connections: self.max_connections,
            acquire_timeout: Duration::from_secs(self.acquire_timeout_secs),
            statement_timeout: (self.statement_timeout_secs > 0)
                .then(|| Duration::from_secs(self.statement_timeout_secs)),
        }
    }
}

/// How `loket run` behaves as a process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Seconds the tasks get to finish the work in hand after the first SIGINT or
    /// SIGTERM; what is left then is abandoned (it is redone on the next start).
    #[serde(default = "defaults::shutdown_timeout_secs")]
    pub shutdown_timeout_secs: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self { shutdown_timeout_secs: defaults::shutdown_timeout_secs() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskConfig {
    pub name: String,
    pub address: EmailAddress,
    pub base_url: String,
    #[serde(default = "defaults::ticket_prefix")]
    pub ticket_prefix: String,
    /// The department that takes requests sent to the desk's own inbox.
    pub default_department: Option<DepartmentId>,
    /// Key for signing loket's Message-IDs and tracking links. Generated and kept in
    /// the store when neither it, `secret_file` nor `secret_env` is set.
    pub secret: Option<SecretString>,
    /// The organisation's own mail domains (default: the desk address's domain):
    /// Reply-To is believed within them, and caps hold automatic mail outside them.
    #[serde(default)]
    pub internal_domains: Vec<String>,
    /// A file holding the signing secret.
    pub secret_file: Option<PathBuf>,
    /// An environment variable holding the signing secret.
    pub secret_env: Option<String>,
}

/// Which kind of model a trained model is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Multinomial naive Bayes: best on the shipped examples alone.
    #[default]
    NaiveBayes,
    /// Logistic regression over the same features: best once the organisation's
    /// own history is trained on.
    Logistic,
}

/// Which model reads requests (`routing.model`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelChoice {
    /// The kind that reads the organisation's own examples best in
    /// cross-validation; naive Bayes while there are too few of them.
    #[default]
    Auto,
    NaiveBayes,
    Logistic,
}

impl ModelChoice {
    /// The kind the operator fixed, if they did.
    pub fn fixed(self) -> Option<ModelKind> {
        match self {
            Self::Auto => None,
            Self::NaiveBayes => Some(ModelKind::NaiveBayes),
            Self::Logistic => Some(ModelKind::Logistic),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    Implicit,
    Starttls,
    None,
}

impl DeskConfig {
    /// The organisation's own domains: `desk.internal_domains`, or the desk address's domain.
    pub fn domains(&self) -> crate::inbound::trust::Domains {
        if self.internal_domains.is_empty() {
            crate::inbound::trust::Domains::new([crate::inbound::trust::domain_of(self.address.as_str())])
        } else {
            crate::inbound::trust::Domains::new(&self.internal_domains)
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default = "defaults::tls")]
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    /// `password`, or `xoauth2` / `oauthbearer` with the `[[oauth]]` client named by `oauth`.
    #[serde(default)]
    pub auth: AuthMethod,
    pub oauth: Option<String>,
    #[serde(default = "defaults::smtp_timeout_secs")]
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Larger messages are quarantined (headers kept) and left in the mailbox.
    #[serde(default = "defaults::max_message_bytes")]
    pub max_message_bytes: u64,
    /// Parsing one message may take this long before it is quarantined.
    #[serde(default = "defaults::parse_timeout_ms")]
    pub parse_timeout_ms: u64,
    /// Messages fetched in one IMAP round trip.
    #[serde(default = "defaults::batch_size")]
    pub batch_size: u32,
    /// Bytes fetched in one IMAP round trip or read for one Maildir group, at most (one message may exceed it).
    #[serde(default = "defaults::batch_bytes")]
    pub batch_bytes: u64,
    /// A message that fails to be stored this many times (counted across
    /// restarts) is quarantined with the error, so its mailbox goes on.
    #[serde(default = "defaults::max_store_attempts")]
    pub max_store_attempts: u32,
    /// Backlog (mail already in a mailbox when loket first connects) is history
    /// when it was read there or is older than this many days: stored as a
    /// resolved ticket, with no acknowledgement and no forward.
    #[serde(default = "defaults::backlog_forward_days")]
    pub backlog_forward_days: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: defaults::max_message_bytes(),
            parse_timeout_ms: defaults::parse_timeout_ms(),
            batch_size: defaults::batch_size(),
            batch_bytes: defaults::batch_bytes(),
            max_store_attempts: defaults::max_store_attempts(),
            backlog_forward_days: defaults::backlog_forward_days(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckConfig {
    #[serde(default = "defaults::yes")]
    pub enabled: bool,
    #[serde(default = "defaults::language")]
    pub default_language: Language,
    #[serde(default)]
    pub backlog: bool,
    #[serde(default = "defaults::max_per_recipient_per_hour")]
    pub max_per_recipient_per_hour: u32,
    /// Acknowledgements to one domain outside the organisation in an hour.
    #[serde(default = "defaults::max_per_domain_per_hour")]
    pub max_per_domain_per_hour: u32,
    /// Acknowledgements to all addresses outside the organisation in an hour.
    #[serde(default = "defaults::max_outside_per_hour")]
    pub max_outside_per_hour: u32,
}

impl Default for AckConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            default_language: defaults::language(),
            backlog: false,
            max_per_recipient_per_hour: defaults::max_per_recipient_per_hour(),
            max_per_domain_per_hour: defaults::max_per_domain_per_hour(),
            max_outside_per_hour: defaults::max_outside_per_hour(),
        }
    }
}

/// Where outgoing mail goes, and how hard delivery is tried.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Write outgoing mail as `.eml` files into this folder instead of sending it by SMTP.
    pub file_dir: Option<PathBuf>,
    /// Seconds before the first retry; each further retry waits twice as long (an hour at most).
    #[serde(default = "defaults::retry_base_secs")]
    pub retry_base_secs: u64,
    /// Hours a mail that keeps failing for its own sake (4xx, no answer) is retried before it is given up.
    #[serde(default = "defaults::retry_for_hours")]
    pub retry_for_hours: u64,
    /// Days a given-up mail keeps its body, so that `loket outbox retry` can send it again.
    #[serde(default = "defaults::keep_failed_days")]
    pub keep_failed_days: u64,
    /// A forwarded original larger than this is linked to instead of attached.
    #[serde(default = "defaults::max_attachment_bytes")]
    pub max_attachment_bytes: u64,
    /// SMTP sessions used at once; mails are sent over all of them together.
    #[serde(default = "defaults::connections")]
    pub connections: u32,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            file_dir: None,
            retry_base_secs: defaults::retry_base_secs(),
            retry_for_hours: defaults::retry_for_hours(),
            keep_failed_days: defaults::keep_failed_days(),
            max_attachment_bytes: defaults::max_attachment_bytes(),
            connections: defaults::connections(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesConfig {
    /// A folder with the operator's own versions of any of the shipped templates.
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentConfig {
    pub id: DepartmentId,
    pub name: String,
    pub queue_address: EmailAddress,
    /// What the department handles, in a sentence or two: a training example too.
    #[serde(default)]
    pub description: Option<String>,
    /// Example requests (subject or body text) that belong here.
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub categories: Vec<CategoryConfig>,
    /// Who answers for the department besides its queue address: addresses and
    /// `@domain` entries. Their answers count only as replies to a mail loket
    /// sent to the department.
    #[serde(default)]
    pub staff: Vec<String>,
    /// Its requests hold personal data: the model takes a request out of this
    /// department's old mailbox only at `routing.confidential_confidence`.
    #[serde(default)]
    pub confidential: bool,
}

/// A kind of request within a department.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub examples: Vec<String>,
}

/// How new requests find their department.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Send a request that the rules or the model place elsewhere to that department,
    /// away from its old mailbox's department.
    #[serde(default = "defaults::yes")]
    pub reroute: bool,
    /// The model's confidence needed to set a department or category at all.
    #[serde(default = "defaults::min_confidence")]
    pub min_confidence: f64,
    /// The model's confidence needed to take a request away from its mailbox's department.
    #[serde(default = "defaults::reroute_confidence")]
    pub reroute_confidence: f64,
    /// The model's confidence needed to take a request out of the old mailbox of a
    /// `confidential` department; a rule may still move it.
    #[serde(default = "defaults::confidential_confidence")]
    pub confidential_confidence: f64,
    /// Train on the examples shipped with loket (`training/`).
    #[serde(default = "defaults::yes")]
    pub builtin_examples: bool,
    /// A CSV file of the operator's own labelled requests (`subject`, `body`, `label`
    /// or `department`), counted below the curated examples.
    #[serde(default)]
    pub examples_file: Option<PathBuf>,
    /// Learn from the old mailboxes: their backlog, and later mail whose department
    /// held, labelled by the mailbox's department, counted below the curated examples.
    #[serde(default)]
    pub learn_from_mailboxes: bool,
    /// At most this many examples are taken from `examples_file` (its first
    /// rows) and from the old mailboxes (their newest requests), each.
    #[serde(default = "defaults::max_own_examples")]
    pub max_own_examples: usize,
    /// Which model reads requests: `auto`, `naive_bayes` or `logistic`.
    #[serde(default)]
    pub model: ModelChoice,
    /// Seconds between checks for a model that `loket train` stored.
    #[serde(default = "defaults::model_check_secs")]
    pub model_check_secs: u64,
    /// Checked in order; the first that matches decides, before the model.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            reroute: true,
            min_confidence: defaults::min_confidence(),
            reroute_confidence: defaults::reroute_confidence(),
            confidential_confidence: defaults::confidential_confidence(),
            builtin_examples: true,
            examples_file: None,
            learn_from_mailboxes: false,
            max_own_examples: defaults::max_own_examples(),
            model: ModelChoice::Auto,
            model_check_secs: defaults::model_check_secs(),
            rules: Vec::new(),
        }
    }
}

/// One routing rule: every condition given must hold; regexes are case-insensitive.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    #[serde(default)]
    pub department: Option<DepartmentId>,
    #[serde(default)]
    pub category: Option<String>,
    /// Regex on the sender's address.
    #[serde(default)]
    pub from: Option<Pattern>,
    /// Regex on any To or Cc address, or the mailbox's old address.
    #[serde(default)]
    pub to: Option<Pattern>,
    #[serde(default)]
    pub subject: Option<Pattern>,
    #[serde(default)]
    pub body: Option<Pattern>,
    /// Any of these words or word parts in the subject or body (case-insensitive).
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// One watched mailbox: an IMAP folder (`host` set) or a local Maildir (`maildir` set).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxConfig {
    pub name: MailboxName,
    /// The old address this mailbox received, as shown to departments. Defaults to the
    /// username when that is an address.
    pub address: Option<String>,
    /// The department this old address belonged to; none for the desk's own inbox.
    pub department: Option<DepartmentId>,
    pub maildir: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
    #[serde(default = "defaults::tls")]
    pub tls: TlsMode,
    /// PEM file with extra trusted certificate authorities for this server.
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// `password`, or `xoauth2` / `oauthbearer` with the `[[oauth]]` client named by `oauth`.
    #[serde(default)]
    pub auth: AuthMethod,
    pub oauth: Option<String>,
    #[serde(default = "defaults::folder")]
    pub folder: String,
    pub processed_folder: Option<String>,
    /// Keyword or flag set after the commit when no processed folder is configured.
    pub processed_flag: Option<String>,
    #[serde(default = "defaults::yes")]
    pub idle: bool,
    #[serde(default = "defaults::poll_interval_secs")]
    pub poll_interval_secs: u64,
    #[serde(default = "defaults::idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    #[serde(default = "defaults::command_timeout_secs")]
    pub command_timeout_secs: u64,
    /// Adds a line to the acknowledgement: the desk's address reaches every
    /// department, and this old one will close.
    #[serde(default)]
    pub nudge: bool,
    /// The last day this old address is served as before (`YYYY-MM-DD`).
    pub retire_after: Option<String>,
    /// What its mail gets after `retire_after`: `notice` (the default) or `redirect`.
    pub retire_mode: Option<RetireMode>,
    /// `retire_after` and `retire_mode` as checked at load.
    #[serde(skip)]
    pub retirement: Option<Retirement>,
}

impl MailboxConfig {
    /// The old address as people knew it.
    pub fn public_address(&self) -> String {
        self.address
            .clone()
            .or_else(|| self.username.clone().filter(|u| u.contains('@')))
            .unwrap_or_else(|| self.name.to_string())
    }

    pub fn imap_port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::Implicit => 993,
            TlsMode::Starttls | TlsMode::None => 143,
        })
    }
}

/// The smallest valid config, for the config's own tests to add to.
#[cfg(test)]
const TEST_BASE: &str = r#"
[desk]
name = "Service Desk"
address = "servicedesk@example.org"
base_url = "https://desk.example.org/"

[[departments]]
id = "it"
name = "IT"
queue_address = "it-queue@example.org"
"#;

mod defaults {
    use super::TlsMode;
    use std::net::{Ipv4Addr, SocketAddr};

    pub fn max_connections() -> u32 {
        8
    }
    pub fn acquire_timeout_secs() -> u64 {
        30
    }
    pub fn mailbox_lease_secs() -> u64 {
        30
    }
    pub fn statement_timeout_secs() -> u64 {
        60
    }
    pub fn shutdown_timeout_secs() -> u64 {
        30
    }
    pub fn ticket_prefix() -> String {
        "SD".into()
    }
    pub fn tls() -> TlsMode {
        TlsMode::Implicit
    }
    pub fn smtp_timeout_secs() -> u64 {
        30
    }
    pub fn min_confidence() -> f64 {
        0.5
    }

    pub fn reroute_confidence() -> f64 {
        0.8
    }

    pub fn confidential_confidence() -> f64 {
        0.95
    }

    pub fn model_check_secs() -> u64 {
        30
    }

    pub fn max_own_examples() -> usize {
        20_000
    }

    pub fn web_listen() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 8080))
    }
    pub fn max_message_bytes() -> u64 {
        32 * 1024 * 1024
    }
    pub fn parse_timeout_ms() -> u64 {
        5_000
    }
    pub fn batch_size() -> u32 {
        200
    }
    pub fn batch_bytes() -> u64 {
        64 * 1024 * 1024
    }
    pub fn max_store_attempts() -> u32 {
        5
    }
    pub fn backlog_forward_days() -> u32 {
        14
    }
    pub fn yes() -> bool {
        true
    }
    pub fn language() -> super::Language {
        super::Language::En
    }
    pub fn retry_for_hours() -> u64 {
        5 * 24
    }
    pub fn keep_failed_days() -> u64 {
        14
    }
    pub fn max_attachment_bytes() -> u64 {
        20 * 1024 * 1024
    }
    pub fn connections() -> u32 {
        4
    }
    pub fn retry_base_secs() -> u64 {
        30
    }
    pub fn max_per_recipient_per_hour() -> u32 {
        10
    }
    pub fn max_per_domain_per_hour() -> u32 {
        30
    }
    pub fn max_outside_per_hour() -> u32 {
        100
    }
    pub fn folder() -> String {
        "INBOX".into()
    }
    pub fn poll_interval_secs() -> u64 {
        60
    }
    pub fn idle_timeout_secs() -> u64 {
        10 * 60
    }
    pub fn command_timeout_secs() -> u64 {
        60
    }
}
