//! OAuth clients that fail: a revoked client beside working mailboxes, what
//! `loket check` says about a wrong secret, a wrong scope and a refused token,
//! and a token endpoint that fails in passing or does not answer.

use std::time::{Duration, Instant};

use super::{Daemon, client_credentials, loket, messages, store, wait_for_tickets};
use crate::support::dovecot::Dovecot;
use crate::support::oauth::TokenServer;
use crate::support::{TestMailbox, eventually, imap};

/// When a client's secret expires, its mailbox cannot sign in and says why in
/// the log, `/healthz` and a metric, while `/readyz` stays ready and the
/// password mailbox and the mailbox of another client go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_client_fails_clearly_while_the_other_mailboxes_go_on() {
    let server =
        TokenServer::start(&[("hr-app", "hr-secret", "hr"), ("it-app", "it-secret", "it")], Duration::from_secs(600))
            .await;
    let dovecot = Dovecot::with_oauth(&["hr", "it", "facility"], &server.introspection_url());
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes = [
        TestMailbox { extra: "auth = \"xoauth2\"\noauth = \"hr-idp\"", ..TestMailbox::new("hr-old", "hr", "hr") },
        TestMailbox { extra: "auth = \"xoauth2\"\noauth = \"it-idp\"", ..TestMailbox::new("it-old", "it", "it") },
        TestMailbox::new("facility-old", "facility", "facility"),
    ];
    // A mail server that takes mail: readiness here depends on the mailboxes alone.
    let sink = crate::support::smtp::SmtpSink::start();
    let clients = format!(
        "[smtp]\nhost = \"localhost\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\n\n{}{}",
        sink.port,
        sink.ca_file.display(),
        client_credentials("hr-idp", &server, "hr-app", "hr-secret"),
        client_credentials("it-idp", &server, "it-app", "it-secret")
    );
    let config = crate::support::config(&url, dovecot.port, &mailboxes, &clients);
    let ops = format!("http://{}", config.web.ops_address());
    for (user, address) in [("hr", "hr@example.org"), ("it", "it@example.org"), ("facility", "facility@example.org")] {
        imap::append_all(dovecot.port, user, "INBOX", &messages(user, address, 1)).await;
    }
    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    wait_for_tickets(&store, 3).await;
    assert_eq!(crate::support::http::get(&format!("{ops}/healthz")).await.body, "ok\n");

    server.revoke_client("hr-app");
    dovecot.kick("hr");
    for (user, address) in [("hr", "hr@example.org"), ("it", "it@example.org"), ("facility", "facility@example.org")] {
        imap::append_all(dovecot.port, user, "INBOX", &messages(&format!("{user}-late"), address, 1)).await;
    }
    wait_for_tickets(&store, 5).await;
    eventually("the failing client shown", Duration::from_secs(30), || async {
        crate::support::http::get(&format!("{ops}/healthz")).await.body.contains("hr-idp")
    })
    .await;
    let health = crate::support::http::get(&format!("{ops}/healthz")).await;
    let ready = crate::support::http::get(&format!("{ops}/readyz")).await;
    let metrics = crate::support::http::get(&format!("{ops}/metrics")).await;
    daemon.stop().await;

    assert_eq!(health.status, 200);
    assert!(
        health.body.starts_with("ok\n")
            && health.body.contains("oauth client `hr-idp` failing since")
            && health.body.contains("invalid_client")
            && health.body.contains("AADSTS7000222: The provided client secret keys for app are expired."),
        "{}",
        health.body
    );
    assert!(!health.body.contains("it-idp"), "{}", health.body);
    assert_eq!(ready.status, 200, "{}", ready.body);
    let body: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(body["degraded"], true);
    assert!(body["oauth"]["hr-idp"]["error"].as_str().unwrap().contains("invalid_client"), "{}", ready.body);
    assert_eq!(body["mailboxes"]["it-old"]["connected"], true);
    assert_eq!(body["mailboxes"]["facility-old"]["connected"], true);
    let failures = metrics
        .body
        .lines()
        .find(|l| l.starts_with("loket_oauth_token_failures_total{client=\"hr-idp\"}"))
        .unwrap_or_else(|| panic!("{}", metrics.body));
    assert!(failures.split(' ').nth(1).unwrap().parse::<f64>().unwrap() >= 1.0, "{failures}");
    assert!(!metrics.body.contains("client=\"it-idp\""), "the working client has no failures");
    for text in [&health.body, &ready.body, &metrics.body] {
        assert!(!text.contains("hr-secret") && !text.contains("it-secret"), "{text}");
    }
    assert_eq!(store.count_tickets().await.unwrap(), 5, "the hr mail waits on the server until the client is fixed");
}

/// `loket check` signs in to each mailbox and the outgoing server with a token
/// and says what failed in the provider's words: a wrong client secret, a scope
/// the provider does not grant, a token the mail server refuses. Exit 69.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loket_check_names_a_wrong_secret_a_wrong_scope_and_a_refused_token() {
    let server = TokenServer::start(
        &[("hr-app", "hr-secret", "hr"), ("it-app", "it-secret", "it"), ("other-app", "other-secret", "hr")],
        Duration::from_secs(600),
    )
    .await;
    server.grant_only_scope("https://outlook.office365.com/.default");
    let dovecot = Dovecot::with_oauth(&["hr", "it", "facility"], &server.introspection_url());
    let sink = crate::support::smtp::SmtpSink::with_oauth(&server.introspection_url());
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes = [
        TestMailbox { extra: "auth = \"xoauth2\"\noauth = \"hr-idp\"", ..TestMailbox::new("hr-old", "hr", "hr") },
        TestMailbox { extra: "auth = \"xoauth2\"\noauth = \"it-idp\"", ..TestMailbox::new("it-old", "it", "it") },
        TestMailbox {
            extra: "auth = \"oauthbearer\"\noauth = \"other-idp\"",
            ..TestMailbox::new("facility-old", "facility", "facility")
        },
    ];
    let smtp = format!(
        "[smtp]\nhost = \"localhost\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\ntimeout_secs = 10\nusername = \"hr\"\nauth = \"xoauth2\"\noauth = \"other-idp\"\n",
        sink.port,
        sink.ca_file.display()
    );
    let clients = format!(
        "{smtp}\n{}{}{}",
        client_credentials("hr-idp", &server, "hr-app", "not-the-secret"),
        client_credentials("it-idp", &server, "it-app", "it-secret")
            .replace("https://outlook.office365.com/.default", "https://graph.microsoft.com/Mail.Read"),
        client_credentials("other-idp", &server, "other-app", "other-secret"),
    );
    let text = crate::support::config_text(&url, dovecot.port, &mailboxes, &clients);
    std::fs::write(dir.path().join("loket.toml"), &text).unwrap();

    let output = loket(&["check", "--config", "loket.toml"], dir.path()).await;
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(69), "{printed}{}", String::from_utf8_lossy(&output.stderr));
    let line = |name: &str| {
        printed.lines().find(|l| l.starts_with(&format!("{name}: "))).unwrap_or_else(|| panic!("{printed}")).to_owned()
    };
    let hr = line("hr-old");
    assert!(
        hr.contains("FAILED")
            && hr.contains("oauth client `hr-idp`: the token endpoint refused (401): invalid_client: Invalid client secret provided."),
        "{hr}"
    );
    let it = line("it-old");
    assert!(
        it.contains("oauth client `it-idp`: the token endpoint refused (400): invalid_scope: AADSTS70011: The provided value for the input parameter 'scope' is not valid"),
        "{it}"
    );
    let facility = line("facility-old");
    assert!(facility.contains("FAILED: login refused for facility: the server refused the token"), "{facility}");
    let outgoing = line("outgoing mail");
    assert!(
        outgoing.contains("ok (") && outgoing.contains("token from `other-idp` obtained, signed in as hr with XOAUTH2"),
        "{outgoing}"
    );
    for secret in ["not-the-secret", "it-secret", "other-secret"] {
        assert!(!printed.contains(secret), "{printed}");
    }
}

/// A token endpoint that fails in passing (503) is asked again after a short,
/// growing wait and the token comes; a refused secret is not asked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_that_fails_in_passing_is_asked_again_and_a_refused_secret_is_not() {
    let server = TokenServer::start(&[("hr-app", "hr-secret", "hr")], Duration::from_secs(600)).await;
    let dir = tempfile::tempdir().unwrap();
    let clients = client_credentials("hr-idp", &server, "hr-app", "hr-secret")
        + &client_credentials("stale", &server, "hr-app", "old-secret");
    let config = crate::support::config(&crate::support::sqlite_url(dir.path()), 143, &[], &clients);
    let tokens = loket::oauth::Tokens::new(&config.oauth, None);

    server.fail_next(2);
    let started = Instant::now();
    tokens.token("hr-idp", "hr@example.org").await.expect("a token after two passing faults");
    assert_eq!(server.requests("client_credentials"), 3, "two 503s, then the token");
    assert!(started.elapsed() >= Duration::from_millis(1500), "it waited between the tries: {:?}", started.elapsed());

    let error = tokens.token("stale", "hr@example.org").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "oauth client `stale`: the token endpoint refused (401): invalid_client: Invalid client secret provided."
    );
    assert_eq!(server.requests("client_credentials"), 4, "a refused secret is asked once");
}

/// A token endpoint that does not answer is given up on after the client's
/// `timeout_secs` for each try, and the error says it could not be reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_that_does_not_answer_is_given_up_after_the_timeout() {
    let server = TokenServer::start(&[("hr-app", "hr-secret", "hr")], Duration::from_secs(600)).await;
    server.stall(Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let client = client_credentials("hr-idp", &server, "hr-app", "hr-secret") + "timeout_secs = 1\n";
    let config = crate::support::config(&crate::support::sqlite_url(dir.path()), 143, &[], &client);
    let tokens = loket::oauth::Tokens::new(&config.oauth, None);

    let started = Instant::now();
    let error = tokens.token("hr-idp", "hr@example.org").await.unwrap_err();
    let took = started.elapsed();
    assert!(
        error.to_string()
            == "oauth client `hr-idp`: the token endpoint could not be reached: no answer in time (`timeout_secs`)",
        "{error}"
    );
    assert!(error.is_transient(), "{error}");
    assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(15), "three tries of one second: {took:?}");
}

/// A token endpoint where nothing listens is reported as unreachable with the
/// cause, after the same tries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_where_nothing_listens_is_reported_with_the_cause() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let client = format!(
        "[[oauth]]\nname = \"hr-idp\"\ngrant = \"client_credentials\"\ntoken_url = \"http://127.0.0.1:{closed}/token\"\nclient_id = \"hr-app\"\nclient_secret = \"hr-secret\"\n"
    );
    let config = crate::support::config(&crate::support::sqlite_url(dir.path()), 143, &[], &client);
    let tokens = loket::oauth::Tokens::new(&config.oauth, None);

    let error = tokens.token("hr-idp", "hr@example.org").await.unwrap_err().to_string();
    assert!(error.starts_with("oauth client `hr-idp`: the token endpoint could not be reached: "), "{error}");
    assert!(error.contains("Connection refused"), "{error}");
}
