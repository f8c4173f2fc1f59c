//! The daemon in this process, as `loket run` starts it, on its own shutdown;
//! and the store it writes, opened beside it.

use std::sync::Arc;
use std::time::Duration;

use loket::config::Config;
use loket::store::Store;
use tokio_util::sync::CancellationToken;

use super::eventually;

pub struct Daemon {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), loket::app::AppError>>,
}

impl Daemon {
    pub fn start(config: &Config) -> Self {
        super::init_tracing();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(loket::app::run(Arc::new(config.clone()), shutdown.clone()));
        Self { shutdown, task }
    }

    /// Ends the daemon as a crash would: no task finishes its work or hands anything back.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// Asks the daemon to stop, as the first SIGINT does, and checks that it ends cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the daemon stops within 30 s")
            .expect("the daemon task ends cleanly")
            .expect("the daemon reports no error");
    }
}

/// The store at `url`, migrated.
pub async fn store(url: &str) -> Store {
    let store = Store::connect(url, 2).await.expect("store");
    store.migrate().await.expect("migrate");
    store
}

pub async fn wait_for_tickets(store: &Store, n: i64) {
    eventually(&format!("{n} tickets"), Duration::from_secs(60), || async {
        store.count_tickets().await.unwrap() >= n
    })
    .await;
}
