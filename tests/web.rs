//! The web server as operators and their monitoring see it: liveness, readiness
//! that follows the mailboxes, metrics on their own address, and the same
//! careful headers on every answer.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::http;
use tokio_util::sync::CancellationToken;

fn config(dir: &std::path::Path, listen: u16, metrics: Option<u16>) -> loket::config::Config {
    let metrics = metrics.map(|p| format!("metrics_listen = \"127.0.0.1:{p}\"\n")).unwrap_or_default();
    let text = format!(
        "[store]\nurl = \"{}\"\n[desk]\nname = \"D\"\naddress = \"d@example.org\"\nbase_url = \"http://127.0.0.1:{listen}\"\n\
         [web]\nlisten = \"127.0.0.1:{listen}\"\n{metrics}\
         [outbox]\nfile_dir = \"{}\"\n\
         [[departments]]\nid = \"it\"\nname = \"IT\"\nqueue_address = \"q@example.org\"\n\
         [[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nmaildir = \"{}\"\npoll_interval_secs = 1\n",
        support::sqlite_url(dir),
        dir.join("outbox").display(),
        dir.join("it").display()
    );
    loket::config::load_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_mailboxes_and_metrics_live_on_their_own_address() {
    support::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (support::free_port(), support::free_port());
    let config = config(dir.path(), port, Some(metrics_port));
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(loket::app::run(Arc::new(config), shutdown.clone()));
    let base = format!("http://127.0.0.1:{port}");

    // Up at once; not ready while the mailbox's Maildir does not exist.
    support::eventually("the web server", Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;
    let health = http::get(&format!("{base}/healthz")).await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    support::eventually("the mailbox's failure reported", Duration::from_secs(30), || async {
        http::get(&format!("{base}/readyz")).await.body.contains("No such file")
    })
    .await;
    let ready = http::get(&format!("{base}/readyz")).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    let body: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(body["store"], "ok");
    assert_eq!(body["mailboxes"]["it-old"]["connected"], false);

    // The Maildir appears: ready.
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.path().join("it").join(sub)).unwrap();
    }
    std::fs::write(
        dir.path().join("it/new/1.M1.host"),
        support::request("Anna <anna@example.org>", "it@example.org", "VPN", "The VPN drops every hour.", "v1@t"),
    )
    .unwrap();
    support::eventually("ready", Duration::from_secs(30), || async {
        http::get(&format!("{base}/readyz")).await.status == 200
    })
    .await;

    // Metrics: on their own address only, with what the mailbox did.
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    support::eventually("the ticket counted", Duration::from_secs(30), || async {
        http::get(&metrics_url).await.body.contains(r#"loket_tickets{department="it",status="new"} 1"#)
    })
    .await;
    let metrics = http::get(&metrics_url).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.headers["content-type"].starts_with("application/openmetrics-text"));
    for line in [
        r#"loket_messages_ingested_total{mailbox="it-old",outcome="created"} 1"#,
        r#"loket_mailbox_connected{mailbox="it-old"} 1"#,
        "loket_quarantine_messages 0",
        "# TYPE loket_ack_latency_seconds histogram",
    ] {
        assert!(metrics.body.contains(line), "{line} in\n{}", metrics.body);
    }
    assert_eq!(http::get(&format!("{base}/metrics")).await.status, 404, "not on the public address");

    // Anything else: the same 404, with the same headers as the status page.
    let other = http::get(&format!("{base}/admin")).await;
    assert_eq!(other.status, 404);
    assert_eq!(other.headers["cache-control"], "no-store");
    assert_eq!(other.headers["referrer-policy"], "no-referrer");
    assert!(other.headers["content-security-policy"].starts_with("default-src 'none'"));
    assert_eq!(other.body, http::get(&format!("{base}/t/SD-00001?k=nope")).await.body);

    shutdown.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_taken_port_stops_loket_with_the_key_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = config(dir.path(), taken.local_addr().unwrap().port(), None);
    let error = loket::app::run(Arc::new(config), CancellationToken::new()).await.unwrap_err().to_string();
    assert!(error.contains("web.listen") && error.contains("127.0.0.1"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_task_that_panics_shows_in_readiness_is_restarted_and_takes_in_mail_again() {
    support::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let mut config = config(dir.path(), port, None);
    // A name of its own: the fault switch is per task name, for the whole test binary.
    config.mailboxes[0].name = loket::domain::MailboxName::parse("panicky").unwrap();
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.path().join("it").join(sub)).unwrap();
    }
    let deliver = |name: &str, id: &str| {
        let mail = support::request("Anna <anna@example.org>", "it@example.org", "VPN", "It drops.", id);
        std::fs::write(dir.path().join("it/new").join(name), mail).unwrap();
    };
    deliver("1.M1.host", "before@t");
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(loket::app::run(Arc::new(config), shutdown.clone()));
    let base = format!("http://127.0.0.1:{port}");
    let tickets = |n: usize| {
        let url = format!("{base}/metrics");
        async move { http::get(&url).await.body.contains(&format!(r#"loket_tickets{{department="it",status="new"}} {n}"#)) }
    };
    support::eventually("the web server", Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;
    support::eventually("the first mail as a ticket", Duration::from_secs(30), || tickets(1)).await;
    support::eventually("ready", Duration::from_secs(30), || async {
        http::get(&format!("{base}/readyz")).await.status == 200
    })
    .await;

    loket::supervise::fault::panic_once("mailbox:panicky");
    support::eventually("the panic shown in readiness", Duration::from_secs(30), || async {
        let ready = http::get(&format!("{base}/readyz")).await;
        ready.status == 503 && ready.body.contains("the mailbox task panicked")
    })
    .await;

    deliver("2.M2.host", "after@t");
    support::eventually("the mail after the panic as a ticket", Duration::from_secs(30), || tickets(2)).await;
    support::eventually("ready again", Duration::from_secs(30), || async {
        http::get(&format!("{base}/readyz")).await.status == 200
    })
    .await;
    let ready: serde_json::Value = serde_json::from_str(&http::get(&format!("{base}/readyz")).await.body).unwrap();
    let task = &ready["tasks"]["mailbox:panicky"];
    assert_eq!((task["running"].as_bool(), task["restarts"].as_u64()), (Some(true), Some(1)), "{ready}");
    assert!(task["error"].as_str().unwrap().contains("panicked"), "{ready}");
    assert_eq!(ready["tasks"]["outbox"]["running"], true, "the outbox worker is part of readiness: {ready}");
    let metrics = http::get(&format!("{base}/metrics")).await.body;
    assert!(metrics.contains(r#"loket_task_restarts_total{task="mailbox:panicky"} 1"#), "{metrics}");

    shutdown.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_mailbox_of_three_leaves_loket_ready_and_says_it_is_degraded() {
    support::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let mut text = format!(
        "[store]\nurl = \"{}\"\n[desk]\nname = \"D\"\naddress = \"d@example.org\"\nbase_url = \"http://127.0.0.1:{port}\"\n\
         [web]\nlisten = \"127.0.0.1:{port}\"\n[outbox]\nfile_dir = \"{}\"\n\
         [[departments]]\nid = \"it\"\nname = \"IT\"\nqueue_address = \"q@example.org\"\n",
        support::sqlite_url(dir.path()),
        dir.path().join("outbox").display(),
    );
    for name in ["a", "b", "c"] {
        if name != "c" {
            for sub in ["new", "cur", "tmp"] {
                std::fs::create_dir_all(dir.path().join(name).join(sub)).unwrap();
            }
        }
        text.push_str(&format!(
            "[[mailboxes]]\nname = \"{name}\"\ndepartment = \"it\"\nmaildir = \"{}\"\npoll_interval_secs = 1\n",
            dir.path().join(name).display()
        ));
    }
    let config = loket::config::load_str(&text).unwrap();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(loket::app::run(Arc::new(config), shutdown.clone()));
    let url = format!("http://127.0.0.1:{port}/readyz");
    support::eventually("the web server", Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;
    support::eventually("mailbox c's failure reported", Duration::from_secs(30), || async {
        let ready = http::get(&url).await;
        ready.body.contains("No such file") && ready.body.contains(r#""a":{"connected":true"#)
    })
    .await;
    let ready = http::get(&url).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let body: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!((body["ready"].as_bool(), body["degraded"].as_bool()), (Some(true), Some(true)), "{body}");
    assert_eq!(body["mailboxes"]["c"]["connected"], false);
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
}
