//! OAuth sign-in over time and from the command line: the device-code login,
//! a Google service account's assertion and tokens that expire while mail
//! flows; `failures` has the clients that fail.

mod failures;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, store, wait_for_tickets};
use crate::support::dovecot::Dovecot;
use crate::support::oauth::TokenServer;
use crate::support::{TestMailbox, imap, request};

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
fn client_credentials(name: &str, server: &TokenServer, id: &str, secret: &str) -> String {
    format!(
        "[[oauth]]\nname = \"{name}\"\ngrant = \"client_credentials\"\ntoken_url = \"{}\"\nclient_id = \"{id}\"\nclient_secret = \"{secret}\"\nscope = \"https://outlook.office365.com/.default\"\n",
        server.token_url()
    )
}

/// A key pair made by openssl: the private key (PKCS#8 PEM) and the public key.
fn key_pair(dir: &Path, name: &str) -> (String, String) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    let run = |args: &[&str]| {
        let status = Command::new("openssl").args(args).stderr(std::process::Stdio::null()).status().expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private.to_str().unwrap()]);
    run(&["pkey", "-in", private.to_str().unwrap(), "-pubout", "-out", public.to_str().unwrap()]);
    (std::fs::read_to_string(private).unwrap(), std::fs::read_to_string(public).unwrap())
}

/// A service account's JSON key file, as Google hands it out, with `private` as its key.
fn service_account_key(dir: &Path, name: &str, private: &str, token_url: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.json"));
    let key = serde_json::json!({
        "type": "service_account", "project_id": "desk", "private_key_id": "k1", "private_key": private,
        "client_email": "loket@desk.iam.gserviceaccount.com", "client_id": "1234", "token_uri": token_url,
    });
    std::fs::write(&path, key.to_string()).unwrap();
    path
}

fn jwt_client(name: &str, key_file: &Path, scope: &str) -> String {
    format!(
        "[[oauth]]\nname = \"{name}\"\ngrant = \"jwt_bearer\"\nkey_file = \"{}\"\nscope = \"{scope}\"\n",
        key_file.display()
    )
}

/// A Google service account signs an assertion per mailbox (the mailbox as
/// subject); the provider checks its signature, issuer, audience and scope,
/// and each mailbox reads its mail with its own token. A key that is not the
/// service account's is refused with the provider's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_signs_in_to_each_mailbox_as_that_mailbox() {
    let server =
        TokenServer::start(&[("google-hr", "", "hr"), ("google-it", "", "it")], Duration::from_secs(600)).await;
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(dir.path(), "account");
    server.accept_service_account("loket@desk.iam.gserviceaccount.com", &public);
    let key_file = service_account_key(dir.path(), "account", &private, &server.token_url());
    let dovecot = Dovecot::with_oauth(&["hr", "it"], &server.introspection_url());
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes = [
        TestMailbox { extra: "auth = \"xoauth2\"\noauth = \"google\"", ..TestMailbox::new("hr-old", "hr", "hr") },
        TestMailbox { extra: "auth = \"xoauth2\"\noauth = \"google\"", ..TestMailbox::new("it-old", "it", "it") },
    ];
    let config = crate::support::config(
        &url,
        dovecot.port,
        &mailboxes,
        &jwt_client("google", &key_file, "https://mail.google.com/"),
    );
    imap::append_all(dovecot.port, "hr", "INBOX", &messages("hr", "hr@example.org", 2)).await;
    imap::append_all(dovecot.port, "it", "INBOX", &messages("it", "it@example.org", 2)).await;
    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    wait_for_tickets(&store, 4).await;
    daemon.stop().await;
    assert_eq!(
        server.requests("urn:ietf:params:oauth:grant-type:jwt-bearer"),
        2,
        "one assertion per mailbox: the token of one is not the other's"
    );
    assert_eq!(server.refusals(), 0);

    let (stranger, _) = key_pair(dir.path(), "stranger");
    let wrong_key = service_account_key(dir.path(), "stranger", &stranger, &server.token_url());
    let wrong = crate::support::config(
        &url,
        dovecot.port,
        &mailboxes,
        &jwt_client("google", &wrong_key, "https://mail.google.com/"),
    );
    let error = loket::source::imap::check(&wrong.mailboxes[0], &loket::oauth::Tokens::new(&wrong.oauth, None))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("google") && error.contains("invalid_grant") && error.contains("Invalid JWT"), "{error}");
    assert!(!error.contains("PRIVATE KEY"), "{error}");
}

/// Tokens live four seconds: the IDLE session goes on past its token's expiry
/// and mail keeps becoming tickets; when the server ends the session (as
/// Exchange Online does when the token expires) loket signs in again with a
/// fresh token it fetched ahead, so the server never sees an expired one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_expires_during_idle_is_replaced_and_mail_keeps_becoming_tickets() {
    let lifetime = Duration::from_secs(4);
    let server = TokenServer::start(&[("hr-app", "hr-secret", "hr")], lifetime).await;
    let dovecot = Dovecot::with_oauth(&["hr"], &server.introspection_url());
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailbox =
        [TestMailbox { extra: "auth = \"xoauth2\"\noauth = \"hr-idp\"", ..TestMailbox::new("hr-old", "hr", "hr") }];
    let config = crate::support::config(
        &url,
        dovecot.port,
        &mailbox,
        &client_credentials("hr-idp", &server, "hr-app", "hr-secret"),
    );
    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    imap::append_all(dovecot.port, "hr", "INBOX", &messages("first", "hr@example.org", 1)).await;
    wait_for_tickets(&store, 1).await;

    tokio::time::sleep(lifetime + Duration::from_secs(1)).await;
    imap::append_all(dovecot.port, "hr", "INBOX", &messages("expired", "hr@example.org", 1)).await;
    wait_for_tickets(&store, 2).await;
    for round in 0..2 {
        dovecot.kick("hr");
        imap::append_all(dovecot.port, "hr", "INBOX", &messages(&format!("after-{round}"), "hr@example.org", 1)).await;
        wait_for_tickets(&store, 3 + round).await;
        tokio::time::sleep(lifetime + Duration::from_secs(1)).await;
    }
    daemon.stop().await;
    assert_eq!(store.count_tickets().await.unwrap(), 4);
    assert!(server.requests("client_credentials") >= 3, "a new token for each new session");
    assert_eq!(server.refusals(), 0, "no expired token was offered");
}

/// A device sign-in the user declines ends with that said and nothing kept; a
/// client that cannot do a device sign-in says which setting is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_device_sign_in_says_so_and_keeps_nothing() {
    let server = TokenServer::start(&[("hr-app", "", "hr")], Duration::from_secs(600)).await;
    server.decline_device_sign_in();
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let clients = format!(
        "[[oauth]]\nname = \"hr-user\"\ngrant = \"refresh_token\"\ntoken_url = \"{0}\"\ndevice_authorization_url = \"{1}\"\nclient_id = \"hr-app\"\n\n[[oauth]]\nname = \"no-device\"\ngrant = \"refresh_token\"\ntoken_url = \"{0}\"\nclient_id = \"hr-app\"\n",
        server.token_url(),
        server.device_url()
    );
    let config = crate::support::config(&url, 143, &[], &clients);
    let store = store(&url).await;
    let tokens = loket::oauth::Tokens::new(&config.oauth, Some(store.clone()));
    let mut shown = None;
    let error = tokens.device_login("hr-user", |prompt| shown = Some(prompt.user_code.clone())).await.unwrap_err();
    assert_eq!(shown.as_deref(), Some(crate::support::oauth::DEVICE_USER_CODE));
    assert_eq!(error.to_string(), "oauth client `hr-user`: the sign-in was declined");
    assert_eq!(store.oauth_refresh_token("hr-user").await.unwrap(), None);

    let error = tokens.device_login("no-device", |_| panic!("no code without an endpoint")).await.unwrap_err();
    assert!(error.to_string().contains("device_authorization_url"), "{error}");
}
