//! Shutdown: the first SIGINT or SIGTERM asks every task to finish the work in
//! hand, which gets a deadline; a second one stops the process at once. Either
//! way nothing is lost: what was not committed is fetched again on the next
//! start, and a mail sent but not yet marked is sent once more.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Cancels the token on the first Ctrl-C or SIGTERM; exits the process at the second.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let mut signals = match Signals::new() {
            Ok(signals) => signals,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGINT and SIGTERM");
                return;
            }
        };
        signals.next().await;
        tracing::info!("stopping: finishing the work in hand; a second Ctrl-C or SIGTERM stops at once");
        token.cancel();
        signals.next().await;
        tracing::warn!("second signal: stopping at once, the work in hand is redone on the next start");
        std::process::exit(1);
    });
}

/// Waits for every task to end, at most `deadline`; then aborts the rest.
pub async fn finish(mut tasks: JoinSet<()>, deadline: Duration) {
    tracing::info!(deadline_secs = deadline.as_secs(), "shutting down: finishing the work in hand");
    let joined = tokio::time::timeout(deadline, async {
        while let Some(result) = tasks.join_next().await {
            if let Err(error) = result {
                tracing::error!(%error, "a task ended abnormally");
            }
        }
    })
    .await;
    if joined.is_err() {
        tracing::warn!(
            tasks = tasks.len(),
            "the work in hand did not finish within daemon.shutdown_timeout_secs; abandoning it"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// SIGINT and SIGTERM as one stream.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(unix)]
    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
