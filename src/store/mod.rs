//! Store: the one ticket store, over SQLite (embedded default) or PostgreSQL.
//!
//! One SQL dialect serves both through sqlx's `Any` driver: integers, floats,
//! text and bytes only, times as milliseconds, ids as text, `$N` placeholders.
//! SQLite writes through a single connection (no "database is locked" between
//! our own writers) while reads use a pool; PostgreSQL uses one pool for both.
//!
//! A commit is on disk before the caller moves the message out of the mailbox:
//! SQLite syncs every commit (`synchronous = FULL`), PostgreSQL keeps its durable
//! default. No call waits forever: taking a connection from the pool has a
//! timeout, PostgreSQL ends a statement after `statement_timeout` and probes
//! idle client connections with TCP keepalive, SQLite waits at most
//! `busy_timeout` for another process's lock.

mod backup;
mod cursor;
mod decode;
mod events;
mod failures;
mod files;
mod filter;
mod form;
mod ingest;
mod instances;
mod lease;
mod links;
mod lookup;
mod models;
mod oauth;
mod outbox;
mod outbox_claim;
mod outbox_queue;
mod outbox_sent;
mod person_mail;
mod privacy;
mod quarantine;
mod query;
mod report;
mod retention;
mod rows;
mod single;
mod spelling;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use backup::{Backup, BackupError};
pub use cursor::{FolderHolds, MailboxCursor};
pub use decode::Stored;
pub use filter::TicketFilter;
pub use form::{FormLimits, FormQueued, FormRequest};
pub use ingest::{BouncedMail, IngestTx, NewAttachment, NewMessage, NewTicket, Quarantined, TicketChange, new_id};
pub use instances::{InstanceStatus, MailboxStatus, Share};
pub use lease::LeaseHolder;
pub use lookup::{AckCounts, Copies, CopyKey, KeyedTable};
pub use models::{Correction, MailboxRequest, StoredModel};
pub use outbox::{Due, OUTBOX_CHANNEL, OutboxRow};
pub use outbox_claim::CLAIM_BYTES;
pub use outbox_queue::{QueuedMail, Requeue};
pub use outbox_sent::Sent;
pub use person_mail::PersonMail;
pub use privacy::PersonData;
pub use quarantine::QuarantineEntry;
pub use query::{AttachmentRow, EventRow, Gauges, MessageRow, QuarantineRow, TicketCount, TicketDetail, TicketSummary};
pub use report::{DayCount, QuietFacts, ReportWindow, SenderCount};
pub use retention::{PurgeCutoffs, Purged};
pub use single::InstanceLock;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("mailbox {mailbox}: lease {lease} was taken over by another instance")]
    LeaseLost { mailbox: String, lease: i64 },
    #[error("no ticket {0}")]
    NotFound(String),
    #[error("the store holds a value loket cannot read: {0}")]
    Corrupt(String),
    #[error("a timeline event could not be written: {0}")]
    Event(#[from] serde_json::Error),
    /// Only the scheme is kept: the rest of a URL may hold a password.
    #[error("the store url's scheme `{0}` is neither sqlite:// nor postgres://")]
    UnsupportedUrl(String),
    #[error(
        "another loket instance runs on the SQLite file {database}; SQLite serves one instance \
         (several instances share one PostgreSQL)"
    )]
    InUse { database: std::path::PathBuf },
    #[error("cannot lock {path}: {source}")]
    Lock { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot make the store file {path} readable by loket alone: {source}")]
    Private { path: std::path::PathBuf, source: std::io::Error },
    /// Deciding or writing what a message means failed on a bug; the
    /// transaction was rolled back.
    #[error("storing it panicked: {0}")]
    Panicked(String),
}

/// A column that does not decode into its type holds a value loket cannot
/// read: that is the store's content, not the database, at fault.
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::ColumnDecode { index, source } => Self::Corrupt(format!("{source} (column {index})")),
            other => Self::Database(other),
        }
    }
}

impl StoreError {
    /// The database could not be reached (down, starting up, or not answering
    /// in time), as opposed to refusing what loket asked: worth waiting for.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Database(error) | Self::Migrate(sqlx::migrate::MigrateError::Execute(error)) => match error {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
                // Class 08 is a connection exception; 57P03, "the database system is
                // starting up"; 57P01, the server shutting down.
                sqlx::Error::Database(db) => {
                    db.code().is_some_and(|code| code.starts_with("08") || code == "57P03" || code == "57P01")
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// The database could not do it now but may in a moment: unreachable, busy
    /// or locked by another writer, a statement timeout, a deadlock or
    /// serialisation failure, out of connections. Such a failure is not the
    /// fault of what was being stored.
    pub fn is_transient(&self) -> bool {
        if self.is_unreachable() {
            return true;
        }
        let Self::Database(sqlx::Error::Database(db)) = self else { return false };
        let Some(code) = db.code() else { return false };
        if code.len() == 5 {
            // PostgreSQL's SQLSTATE: 57014 statement timeout or cancel, 40P01
            // deadlock, 40001 serialisation failure, 55P03 lock not available,
            // class 53 insufficient resources.
            return ["57014", "40P01", "40001", "55P03"].contains(&code.as_ref()) || code.starts_with("53");
        }
        // SQLite's extended result code: its low byte is SQLITE_BUSY (5) or SQLITE_LOCKED (6).
        code.parse::<i32>().is_ok_and(|code| matches!(code & 0xff, 5 | 6))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How connections are made and how long any call may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    pub max_connections: u32,
    /// Longest wait for a connection from the pool (and for a new one to open).
    pub acquire_timeout: Duration,
    /// PostgreSQL ends any statement that runs longer; `None` keeps the server's setting.
    pub statement_timeout: Option<Duration>,
}

impl ConnectOptions {
    pub fn new(max_connections: u32) -> Self {
        Self {
            max_connections,
            acquire_timeout: Duration::from_secs(30),
            statement_timeout: Some(Duration::from_secs(60)),
        }
    }
}

/// The server's TCP keepalive on our connections: a client that vanished
/// (its host crashed, a NAT dropped it) is noticed after about two minutes,
/// and its locks and open transaction are released.
const POSTGRES_KEEPALIVE: [&str; 3] =
    ["SET tcp_keepalives_idle = 60", "SET tcp_keepalives_interval = 15", "SET tcp_keepalives_count = 4"];

#[derive(Debug, Clone)]
pub struct Store {
    write: AnyPool,
    read: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects without touching the schema; call [`Store::migrate`] before use.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(url, ConnectOptions::new(max_connections)).await
    }

    /// [`Store::connect`] with the timeouts given.
    pub async fn connect_with(url: &str, options: ConnectOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        if url.starts_with("sqlite:") {
            let url = sqlite_url(url);
            let file = files::sqlite_path(&url);
            if let Some(file) = &file {
                files::before_open(file)?;
            }
            let write = sqlite_pool(&url, 1, options.acquire_timeout).await?;
            let read = sqlite_pool(&url, options.max_connections.max(2), options.acquire_timeout).await?;
            if let Some(file) = &file {
                files::after_open(file)?;
            }
            Ok(Self { write, read, backend: Backend::Sqlite })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = postgres_pool(url, options).await?;
            Ok(Self { write: pool.clone(), read: pool, backend: Backend::Postgres })
        } else {
            let scheme = url.split_once("://").map_or("(none)", |(scheme, _)| scheme);
            Err(StoreError::UnsupportedUrl(scheme.to_owned()))
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the migrations this build carries; a no-op when they are applied.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.write).await?,
            Backend::Sqlite => {
                // PostgreSQL serialises migrators with an advisory lock; SQLite has
                // none, so two processes starting on a new file (the daemon and a
                // `loket tickets` beside it) may both try. The loser finds the
                // winner's work applied when it tries again.
                let mut attempt = 0;
                while let Err(error) = SQLITE_MIGRATIONS.run(&self.write).await {
                    attempt += 1;
                    if attempt >= 5 {
                        return Err(error.into());
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                }
            }
        }
        Ok(())
    }

    /// True when the store answers a query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.read).await.is_ok()
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// `sqlite://loket.db` creates the file on first use and its directory too.
fn sqlite_url(url: &str) -> String {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        let _ = std::fs::create_dir_all(parent);
    }
    if url.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") }
}

async fn postgres_pool(url: &str, options: ConnectOptions) -> Result<AnyPool, StoreError> {
    let connect = AnyConnectOptions::from_str(url)?;
    let statement_timeout = options.statement_timeout.map(|t| t.as_millis());
    let pool = AnyPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if let Some(ms) = statement_timeout {
                    conn.execute(sqlx::AssertSqlSafe(format!("SET statement_timeout = {ms}"))).await?;
                }
                for setting in POSTGRES_KEEPALIVE {
                    conn.execute(setting).await?;
                }
                Ok(())
            })
        })
        .connect_with(connect)
        .await?;
    Ok(pool)
}

async fn sqlite_pool(url: &str, max_connections: u32, acquire_timeout: Duration) -> Result<AnyPool, StoreError> {
    let options = AnyConnectOptions::from_str(url)?;
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL lets readers (the CLI, the status page) run beside the writer;
                // the busy timeout covers writers in other processes. FULL syncs the
                // WAL on every commit: the sources move a message out of the mailbox
                // right after its commit, so a commit that a power cut could undo
                // would lose the message.
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = FULL").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                // What is deleted or overwritten is overwritten with zeros in the
                // file, so retention and `loket forget` leave no text behind
                // without rewriting the whole file.
                conn.execute("PRAGMA secure_delete = ON").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok(pool)
}
