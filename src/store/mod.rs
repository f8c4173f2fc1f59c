//! Store: the one ticket store, over SQLite (embedded default) or PostgreSQL.
//!
//! One SQL dialect serves both through sqlx's `Any` driver: integers, floats,
//! text and bytes only, times as milliseconds, ids as text, `$N` placeholders.
//! SQLite writes through a single connection (no "database is locked" between
//! our own writers) while reads use a pool; PostgreSQL uses one pool for both.

mod cursor;
mod failures;
mod ingest;
mod links;
mod models;
mod outbox;
mod query;
mod responder;
mod rows;

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use cursor::MailboxCursor;
pub use ingest::IngestOutcome;
pub use models::{Correction, StoredModel};
pub use outbox::{Due, OutboxRow};
pub use query::{AttachmentRow, EventRow, Gauges, MessageRow, QuarantineRow, TicketDetail, TicketSummary};
pub use responder::{Entry, Joining, Opened, Reply, Responder, Response, Silent, TicketState, Turn};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("no ticket {0}")]
    NotFound(String),
    #[error("the store holds a value loket cannot read: {0}")]
    Corrupt(String),
    #[error("the store url `{0}` is neither sqlite:// nor postgres://")]
    UnsupportedUrl(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Store {
    write: AnyPool,
    read: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects without touching the schema; call [`Store::migrate`] before use.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        if url.starts_with("sqlite:") {
            let url = sqlite_url(url);
            let write = sqlite_pool(&url, 1).await?;
            let read = sqlite_pool(&url, max_connections.max(2)).await?;
            Ok(Self { write, read, backend: Backend::Sqlite })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = AnyConnectOptions::from_str(url)?;
            let pool = AnyPoolOptions::new().max_connections(max_connections).connect_with(options).await?;
            Ok(Self { write: pool.clone(), read: pool, backend: Backend::Postgres })
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
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

async fn sqlite_pool(url: &str, max_connections: u32) -> Result<AnyPool, StoreError> {
    let options = AnyConnectOptions::from_str(url)?;
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL lets readers (the CLI, the status page) run beside the writer;
                // the busy timeout covers writers in other processes.
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok(pool)
}
