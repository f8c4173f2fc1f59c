//! OAuth sign-in over time and from the command line: the device-code login,
//! a Google service account's assertion, tokens that expire while mail flows,
//! a revoked client beside working mailboxes, and what `loket check` says.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loket::config::Config;
use loket::store::Store;
use tokio_util::sync::CancellationToken;

use crate::support::dovecot::Dovecot;
use crate::support::oauth::TokenServer;
use crate::support::{TestMailbox, eventually, imap, request};

struct Daemon {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), loket::app::AppError>>,
}

impl Daemon {
    fn start(config: &Config) -> Self {
        crate::support::init_tracing();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(loket::app::run(Arc::new(config.clone()), shutdown.clone()));
        Self { shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the daemon stops within 30 s")
            .expect("the daemon task ends cleanly")
            .expect("the daemon reports no error");
    }
}

async fn store(url: &str) -> Store {
    let store = Store::connect(url, 2).await.expect("store");
    store.migrate().await.expect("migrate");
    store
}

async fn wait_for_tickets(store: &Store, n: i64) {
    eventually(&format!("{n} tickets"), Duration::from_secs(60), || async {
        store.count_tickets().await.unwrap() >= n
    })
    .await;
}

fn messages(prefix: &str, to: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let subject = format!("{prefix} request {i}");
            request("Anna <anna@example.org>", to, &subject, "Please help.", &format!("{prefix}-{i}@test"))
        })
        .collect()
}

/// Runs the binary in `dir` off the test's runtime, which serves the token endpoint meanwhile.
async fn loket(args: &[&str], dir: &Path) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loket"))
            .args(&args)
            .current_dir(&dir)
            .env("LOKET_LOG", "warn")
            .env_remove("LOKET_CONFIG")
            .output()
            .expect("run loket")
    })
    .await
    .unwrap()
}

/// `loket oauth login` shows the page and the code, polls no faster than the
/// provider asks (also after it says to slow down), and keeps the refresh token;
/// a mailbox whose client has no refresh token of its own then signs in with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_login_signs_in_with_a_device_code_and_a_mailbox_then_uses_the_kept_refresh_token() {
    let server = TokenServer::start(&[("hr-app", "", "hr")], Duration::from_secs(600)).await;
    let dovecot = Dovecot::with_oauth(&["hr"], &server.introspection_url());
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let client = format!(
        "[[oauth]]\nname = \"hr-user\"\ngrant = \"refresh_token\"\ntoken_url = \"{}\"\ndevice_authorization_url = \"{}\"\nclient_id = \"hr-app\"\nscope = \"https://outlook.office365.com/IMAP.AccessAsUser.All offline_access\"\n",
        server.token_url(),
        server.device_url()
    );
    let mailbox =
        [TestMailbox { extra: "auth = \"xoauth2\"\noauth = \"hr-user\"", ..TestMailbox::new("hr-old", "hr", "hr") }];
    let text = crate::support::config_text(&url, dovecot.port, &mailbox, &client);
    std::fs::write(dir.path().join("loket.toml"), &text).unwrap();

    let started = Instant::now();
    let output = loket(&["oauth", "login", "--oauth", "hr-user", "--config", "loket.toml"], dir.path()).await;
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{printed}{}", String::from_utf8_lossy(&output.stderr));
    let page = format!("http://127.0.0.1:{}/devicelogin", server.port);
    assert!(
        printed.contains(&format!("open {page} and enter the code {}", crate::support::oauth::DEVICE_USER_CODE)),
        "{printed}"
    );
    assert!(printed.contains("hr-user: signed in; the refresh token is kept in the store"), "{printed}");
    assert_eq!(server.device_polls(), 3, "pending, slow down, approved");
    assert_eq!(server.early_device_polls(), 0, "never sooner than the interval asked for");
    assert!(started.elapsed() >= Duration::from_secs(7), "one second twice, then six after slow_down");
    let store = store(&url).await;
    assert_eq!(store.oauth_refresh_token("hr-user").await.unwrap(), Some(server.current_refresh_token()));

    let config = loket::config::load_str(&text).unwrap();
    imap::append_all(dovecot.port, "hr", "INBOX", &messages("hr", "hr@example.org", 2)).await;
    let daemon = Daemon::start(&config);
    wait_for_tickets(&store, 2).await;
    daemon.stop().await;
    assert_eq!(server.requests("refresh_token"), 1, "the kept refresh token was used");
    assert_eq!(store.oauth_refresh_token("hr-user").await.unwrap(), Some(server.current_refresh_token()));
}
