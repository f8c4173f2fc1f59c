//! Ingest against a real Dovecot: the old mailboxes flow into one store, exactly once.

mod passed_over;

use std::collections::HashSet;
use std::time::Duration;

use crate::support::daemon::{Daemon, store, wait_for_tickets};
use crate::support::dovecot::{self, Dovecot};
use crate::support::{TestMailbox, eventually, http, imap, request};
use loket::domain::{EventKind, Status};

pub(crate) fn messages(prefix: &str, to: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            request(
                "Anna <anna@example.org>",
                to,
                &format!("{prefix} request {i}"),
                "Please help.",
                &format!("{prefix}-{i}@test"),
            )
        })
        .collect()
}

/// Thirty requests in three old mailboxes become thirty tickets, each with its
/// mailbox's department; the mail moves to Processed; a second run adds nothing.
async fn three_mailboxes_become_tickets(store_url: &str) {
    let dovecot = Dovecot::start(&["it", "hr", "facility"]);
    let processed = "processed_folder = \"Processed\"";
    let mailboxes = [
        TestMailbox { extra: processed, ..TestMailbox::new("it-old", "it", "it") },
        TestMailbox { extra: processed, ..TestMailbox::new("hr-old", "hr", "hr") },
        TestMailbox { extra: processed, ..TestMailbox::new("facility-old", "facility", "facility") },
    ];
    let config = crate::support::config(store_url, dovecot.port, &mailboxes, "");
    for (user, address) in [("it", "it@example.org"), ("hr", "hr@example.org"), ("facility", "facility@example.org")] {
        imap::append_all(dovecot.port, user, "INBOX", &messages(user, address, 10)).await;
    }

    let daemon = Daemon::start(&config);
    let store = store(store_url).await;
    wait_for_tickets(&store, 30).await;
    eventually("the mail to be moved", Duration::from_secs(20), || async {
        imap::count(dovecot.port, "it", "INBOX").await
            + imap::count(dovecot.port, "hr", "INBOX").await
            + imap::count(dovecot.port, "facility", "INBOX").await
            == 0
    })
    .await;
    daemon.stop().await;

    let tickets = store.list_tickets(100).await.unwrap();
    assert_eq!(tickets.len(), 30);
    for ticket in &tickets {
        let user = ticket.subject.split(' ').next().unwrap();
        let expected_department = user;
        assert_eq!(ticket.department, expected_department, "{}", ticket.subject);
        assert_eq!(ticket.mailbox.as_str(), format!("{user}-old"));
        assert_eq!(ticket.status, Status::New);
        assert_eq!(ticket.requester, "anna@example.org");
        assert!(ticket.message_id.as_deref().unwrap().starts_with(user));
    }
    for user in ["it", "hr", "facility"] {
        assert_eq!(imap::count(dovecot.port, user, "Processed").await, 10, "{user}");
    }
    // Fetching never marks mail as read.
    assert!(imap::flags(dovecot.port, "it", "Processed").await.iter().all(|f| !f.contains("Seen")));

    // A second run over the same mailboxes adds nothing but the one new message.
    let daemon = Daemon::start(&config);
    imap::append_all(dovecot.port, "hr", "INBOX", &messages("hr-late", "hr@example.org", 1)).await;
    wait_for_tickets(&store, 31).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    daemon.stop().await;
    assert_eq!(store.count_tickets().await.unwrap(), 31);
    assert_eq!(store.count_messages().await.unwrap(), 31);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_mailboxes_become_tickets_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    three_mailboxes_become_tickets(&crate::support::sqlite_url(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_mailboxes_become_tickets_on_postgres() {
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("ingest").await;
    three_mailboxes_become_tickets(&url).await;
}

/// Deletes IT's folder `Requests` and makes it again with `messages` in it, so
/// that it has a new UIDVALIDITY (Dovecot's are seconds); returns that.
async fn recreate_requests(port: u16, messages: &[Vec<u8>]) -> u32 {
    let old_validity = imap::uidvalidity(port, "it", "Requests").await;
    let mut session = imap::login(port, "it").await;
    session.delete("Requests").await.unwrap();
    session.logout().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    imap::append_all(port, "it", "Requests", messages).await;
    let new_validity = imap::uidvalidity(port, "it", "Requests").await;
    assert_ne!(old_validity, new_validity, "the test needs a new UIDVALIDITY");
    new_validity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_uidvalidity_duplicates_nothing() {
    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes = [TestMailbox { folder: "Requests", ..TestMailbox::new("it-old", "it", "it") }];
    let config = crate::support::config(&url, dovecot.port, &mailboxes, "");
    let first = messages("it", "it@example.org", 3);
    imap::append_all(dovecot.port, "it", "Requests", &first).await;
    let store = store(&url).await;

    let daemon = Daemon::start(&config);
    wait_for_tickets(&store, 3).await;
    daemon.stop().await;

    // The folder is recreated: same messages, new UIDs under a new UIDVALIDITY.
    let mut again = first.clone();
    again.extend(messages("it-new", "it@example.org", 1));
    let new_validity = recreate_requests(dovecot.port, &again).await;

    let daemon = Daemon::start(&config);
    eventually("the cursor to reach UID 4 under the new UIDVALIDITY", Duration::from_secs(30), || async {
        store.cursor("it-old").await.unwrap() == Some((i64::from(new_validity), 4))
    })
    .await;
    daemon.stop().await;
    assert_eq!(store.count_tickets().await.unwrap(), 4);
    assert_eq!(store.count_messages().await.unwrap(), 4);
}

/// A folder loket empties (mail taken in is moved to the processed folder)
/// holds only mail not yet taken in: when its UIDVALIDITY changes, what is in
/// it arrived since, and is answered and forwarded as new, not kept as backlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_changed_uidvalidity_mail_in_a_folder_loket_empties_is_answered_as_new() {
    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes = [TestMailbox {
        folder: "Requests",
        extra: "processed_folder = \"Processed\"",
        ..TestMailbox::new("it-old", "it", "it")
    }];
    let config = crate::support::config(&url, dovecot.port, &mailboxes, "");
    imap::append_all(dovecot.port, "it", "Requests", &messages("first", "it@example.org", 1)).await;
    let store = store(&url).await;
    let daemon = Daemon::start(&config);
    wait_for_tickets(&store, 1).await;
    eventually("the folder emptied", Duration::from_secs(30), || async {
        imap::count(dovecot.port, "it", "Requests").await == 0
    })
    .await;
    daemon.stop().await;

    // The folder is recreated while loket is away, and a request arrives in it.
    recreate_requests(dovecot.port, &messages("arrived", "it@example.org", 1)).await;

    let daemon = Daemon::start(&config);
    wait_for_tickets(&store, 2).await;
    daemon.stop().await;
    let tickets = store.list_tickets(10).await.unwrap();
    let arrived = tickets.iter().find(|t| t.subject == "arrived request 0").expect("the new request is a ticket");
    let detail = store.ticket(arrived.reference.as_str()).await.unwrap();
    let mut sent: Vec<String> = detail.outbox.iter().map(|o| o.kind.to_string()).collect();
    sent.sort();
    assert_eq!(sent, ["ack", "forward"], "answered and forwarded as new");
    assert!(detail.events.iter().all(|e| e.kind != EventKind::History), "{:?}", detail.events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_unparseable_mail_is_quarantined_and_the_next_message_still_becomes_a_ticket() {
    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes =
        [TestMailbox { extra: "processed_folder = \"Processed\"", ..TestMailbox::new("it-old", "it", "it") }];
    let config = crate::support::config(&url, dovecot.port, &mailboxes, "[ingest]\nmax_message_bytes = 4096\n");
    let big_body = "A line of a very long message.\r\n".repeat(600);
    let big = request("Bob <bob@example.org>", "it@example.org", "Huge scan", &big_body, "big@test");
    let garbage = b"this is not an e-mail at all\r\nno headers, no sender\r\n".to_vec();
    let normal =
        request("Carla <carla@example.org>", "it@example.org", "Printer jam", "The printer jams.", "normal@test");
    imap::append_all(dovecot.port, "it", "INBOX", &[big, garbage, normal]).await;

    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    wait_for_tickets(&store, 1).await;
    eventually("two quarantined messages", Duration::from_secs(20), || async {
        store.list_quarantine(10).await.unwrap().len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    daemon.stop().await;

    let tickets = store.list_tickets(10).await.unwrap();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].subject, "Printer jam");
    let quarantine = store.list_quarantine(10).await.unwrap();
    let reasons: Vec<&str> = quarantine.iter().map(|q| q.reason.as_str()).collect();
    assert!(reasons.iter().any(|r| r.contains("over the limit of 4096")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("cannot be parsed")), "{reasons:?}");
    // The raw bytes are kept: the whole garbage message, the header of the big one.
    for row in &quarantine {
        let raw = store.quarantine_raw(&row.id).await.unwrap();
        if row.reason.contains("cannot be parsed") {
            assert!(String::from_utf8_lossy(&raw).contains("this is not an e-mail"));
        } else {
            assert!(String::from_utf8_lossy(&raw).contains("Subject: Huge scan"));
            assert!(raw.len() < 4096);
        }
    }
    // The oversized message stays in the mailbox; the other two were moved.
    assert_eq!(imap::count(dovecot.port, "it", "INBOX").await, 1);
    assert_eq!(imap::count(dovecot.port, "it", "Processed").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_with_a_wrong_password_leaves_the_others_working() {
    // Dovecot knows no user "hr": its login fails.
    let dovecot = Dovecot::start(&["it", "facility"]);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes = [
        TestMailbox::new("it-old", "it", "it"),
        TestMailbox::new("hr-old", "hr", "hr"),
        TestMailbox::new("facility-old", "facility", "facility"),
    ];
    let config = crate::support::config(&url, dovecot.port, &mailboxes, "");
    imap::append_all(dovecot.port, "it", "INBOX", &messages("it", "it@example.org", 2)).await;
    imap::append_all(dovecot.port, "facility", "INBOX", &messages("facility", "facility@example.org", 2)).await;

    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    wait_for_tickets(&store, 4).await;
    daemon.stop().await;
    let departments: HashSet<String> =
        store.list_tickets(10).await.unwrap().into_iter().map(|t| t.department.to_string()).collect();
    assert_eq!(departments, HashSet::from(["it".to_owned(), "facility".to_owned()]));
    assert_eq!(store.cursor("hr-old").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_idle_a_new_message_becomes_a_ticket_within_seconds() {
    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    // A long poll interval: only IDLE can bring the message in quickly.
    let mailboxes = [TestMailbox { extra: "poll_interval_secs = 3600", ..TestMailbox::new("it-old", "it", "it") }];
    let text = crate::support::config_text(&url, dovecot.port, &mailboxes, "").replace("poll_interval_secs = 1\n", "");
    let config = loket::config::load_str(&text).unwrap();
    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    eventually("the first connection", Duration::from_secs(20), || async {
        store.cursor("it-old").await.unwrap().is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    imap::append_all(dovecot.port, "it", "INBOX", &messages("it", "it@example.org", 1)).await;
    eventually("the ticket", Duration::from_secs(10), || async { store.count_tickets().await.unwrap() == 1 }).await;
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_and_starttls_work_with_a_trusted_ca_and_fail_without() {
    let dovecot = Dovecot::start(&["it"]);
    let base = |tls: &str, port: u16, ca: bool| {
        let ca_line = if ca { format!("ca_file = \"{}\"\n", dovecot.ca_file.display()) } else { String::new() };
        format!(
            "[desk]\nname = \"D\"\naddress = \"d@example.org\"\nbase_url = \"https://d.example.org\"\n\
             [[departments]]\nid = \"it\"\nname = \"IT\"\nqueue_address = \"q@example.org\"\n\
             [[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nhost = \"localhost\"\nport = {port}\ntls = \"{tls}\"\n\
             username = \"it\"\npassword = \"{}\"\ncommand_timeout_secs = 10\n{ca_line}",
            crate::support::dovecot::PASSWORD
        )
    };
    for (tls, port) in [("implicit", dovecot.tls_port), ("starttls", dovecot.port)] {
        let config = loket::config::load_str(&base(tls, port, true)).unwrap();
        let line = loket::source::imap::check(&config.mailboxes[0], &loket::oauth::Tokens::new(&config.oauth, None))
            .await
            .unwrap_or_else(|e| panic!("{tls}: {e}"));
        assert!(line.contains("IDLE supported"), "{line}");

        let untrusted = loket::config::load_str(&base(tls, port, false)).unwrap();
        let error =
            loket::source::imap::check(&untrusted.mailboxes[0], &loket::oauth::Tokens::new(&untrusted.oauth, None))
                .await
                .unwrap_err();
        assert!(error.to_string().contains("TLS"), "{tls}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_server_restarts_the_mailbox_reconnects_and_goes_on() {
    let mut dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let config = crate::support::config(&url, dovecot.port, &[TestMailbox::new("it-old", "it", "it")], "");
    imap::append_all(dovecot.port, "it", "INBOX", &messages("before", "it@example.org", 1)).await;
    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    wait_for_tickets(&store, 1).await;

    dovecot.restart();
    imap::append_all(dovecot.port, "it", "INBOX", &messages("after", "it@example.org", 1)).await;
    wait_for_tickets(&store, 2).await;
    daemon.stop().await;
    assert_eq!(store.count_tickets().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_times_out_with_a_clear_error() {
    // Accepts connections and says nothing.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let text = crate::support::config_text("sqlite://unused.db", port, &[TestMailbox::new("it-old", "it", "it")], "")
        .replace("command_timeout_secs = 10", "command_timeout_secs = 1");
    let config = loket::config::load_str(&text).unwrap();
    let started = std::time::Instant::now();
    let error = loket::source::imap::check(&config.mailboxes[0], &loket::oauth::Tokens::new(&config.oauth, None))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("did not answer the greeting in time"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
    holder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_move_or_uidplus_copies_each_message_to_processed_exactly_once() {
    let options = dovecot::Options { capability: Some(dovecot::WITHOUT_MOVE_AND_UIDPLUS) };
    let dovecot = Dovecot::start_with(&["it"], options);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes =
        [TestMailbox { extra: "processed_folder = \"Processed\"", ..TestMailbox::new("it-old", "it", "it") }];
    let config = crate::support::config(&url, dovecot.port, &mailboxes, "");
    imap::append_all(dovecot.port, "it", "INBOX", &messages("first", "it@example.org", 5)).await;

    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    wait_for_tickets(&store, 5).await;
    imap::append_all(dovecot.port, "it", "INBOX", &messages("later", "it@example.org", 2)).await;
    wait_for_tickets(&store, 7).await;
    // Several more polls (one a second) with nothing new.
    tokio::time::sleep(Duration::from_secs(4)).await;
    daemon.stop().await;
    // A restart reads from the stored cursor and copies nothing again.
    let daemon = Daemon::start(&config);
    tokio::time::sleep(Duration::from_secs(4)).await;
    daemon.stop().await;

    assert_eq!(store.count_tickets().await.unwrap(), 7);
    assert_eq!(store.count_messages().await.unwrap(), 7);
    assert_eq!(imap::count(dovecot.port, "it", "Processed").await, 7);
    // The originals wait, marked deleted, for the next expunge by any client.
    let left = imap::flags(dovecot.port, "it", "INBOX").await;
    assert_eq!(left.len(), 7);
    assert!(left.iter().all(|f| f.contains("Deleted")), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processed_folder_that_cannot_be_created_is_reported_and_new_mail_still_becomes_tickets() {
    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    // Dovecot refuses '/' in a folder name under its '.' hierarchy separator.
    let mailboxes =
        [TestMailbox { extra: "processed_folder = \"Archive/Processed\"", ..TestMailbox::new("it-old", "it", "it") }];
    // A mail server that takes mail: readiness here depends on the mailbox alone.
    let sink = crate::support::smtp::SmtpSink::start();
    let config = crate::support::config(&url, dovecot.port, &mailboxes, &sink.section());
    imap::append_all(dovecot.port, "it", "INBOX", &messages("first", "it@example.org", 2)).await;

    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    wait_for_tickets(&store, 2).await;
    imap::append_all(dovecot.port, "it", "INBOX", &messages("later", "it@example.org", 1)).await;
    wait_for_tickets(&store, 3).await;
    let base = format!("http://{}", config.web.ops_address());
    let ready = http::get(&format!("{base}/readyz")).await;
    let metrics = http::get(&format!("{base}/metrics")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    daemon.stop().await;

    assert_eq!(ready.status, 200, "{}", ready.body);
    let body: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    let warning = body["mailboxes"]["it-old"]["warnings"]["processed_folder"].as_str().unwrap_or_default();
    assert!(warning.contains("Archive/Processed") && warning.contains("cannot be created"), "{}", ready.body);
    assert!(
        metrics.body.contains(r#"loket_mailbox_warning{mailbox="it-old",problem="processed_folder"} 1"#),
        "{}",
        metrics.body
    );
    assert_eq!(store.count_tickets().await.unwrap(), 3);
    assert_eq!(store.count_messages().await.unwrap(), 3);
    // The mail stays where it was, taken in once.
    assert_eq!(imap::count(dovecot.port, "it", "INBOX").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flag_mode_flagged_mail_is_not_fetched_again_after_a_restart() {
    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes = [TestMailbox { extra: "processed_flag = \"$Loket\"", ..TestMailbox::new("it-old", "it", "it") }];
    let config = crate::support::config(&url, dovecot.port, &mailboxes, "");
    imap::append_all(dovecot.port, "it", "INBOX", &messages("it", "it@example.org", 3)).await;
    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    wait_for_tickets(&store, 3).await;
    eventually("every message flagged", Duration::from_secs(20), || async {
        imap::flags(dovecot.port, "it", "INBOX").await.iter().all(|f| f.contains("$Loket"))
    })
    .await;
    daemon.stop().await;

    // Forget the cursor, as after a changed UIDVALIDITY: the search alone must skip the flagged mail.
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE mailboxes SET last_uid = 0").execute(&raw).await.unwrap();
    imap::append_all(dovecot.port, "it", "INBOX", &messages("new", "it@example.org", 1)).await;
    let daemon = Daemon::start(&config);
    wait_for_tickets(&store, 4).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let metrics = http::get(&format!("http://{}/metrics", config.web.ops_address())).await;
    daemon.stop().await;
    assert_eq!(store.count_messages().await.unwrap(), 4);
    assert!(metrics.body.contains(r#"outcome="created"} 1"#), "{}", metrics.body);
    assert!(!metrics.body.contains(r#"outcome="duplicate""#), "flagged mail was fetched again: {}", metrics.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_mail_below_the_cursor_after_the_server_reused_uids_still_becomes_a_ticket() {
    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let config = crate::support::config(&url, dovecot.port, &[TestMailbox::new("it-old", "it", "it")], "");
    imap::append_all(dovecot.port, "it", "INBOX", &messages("before", "it@example.org", 2)).await;
    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    wait_for_tickets(&store, 2).await;
    daemon.stop().await;

    // As after a restore from backup: the server's UIDs start below what was read.
    let raw = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE mailboxes SET last_uid = 100").execute(&raw).await.unwrap();
    imap::append_all(dovecot.port, "it", "INBOX", &messages("after", "it@example.org", 1)).await;
    let daemon = Daemon::start(&config);
    wait_for_tickets(&store, 3).await;
    let ready = http::get(&format!("http://{}/readyz", config.web.ops_address())).await;
    daemon.stop().await;
    assert_eq!(store.count_tickets().await.unwrap(), 3);
    assert!(ready.body.contains("uids_reused") && ready.body.contains("reuses UIDs"), "{}", ready.body);
}

fn oauth_client(
    name: &str,
    server: &crate::support::oauth::TokenServer,
    id: &str,
    secret: &str,
    extra: &str,
) -> String {
    format!(
        "[[oauth]]\nname = \"{name}\"\ngrant = \"client_credentials\"\ntoken_url = \"{}\"\nclient_id = \"{id}\"\nclient_secret = \"{secret}\"\nscope = \"https://outlook.office365.com/.default\"\n{extra}\n",
        server.token_url()
    )
}

/// One mailbox signs in with XOAUTH2, another with OAUTHBEARER, a third with its
/// password; their mail becomes tickets. When the provider revokes the tokens and
/// the server drops every session, each OAuth mailbox asks for one new token and
/// goes on: no storm of token requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailboxes_sign_in_with_oauth_tokens_and_a_revoked_token_is_replaced_once() {
    let server = crate::support::oauth::TokenServer::start(
        &[("hr-app", "hr-secret", "hr"), ("it-app", "it-secret", "it")],
        Duration::from_secs(600),
    )
    .await;
    let dovecot = Dovecot::with_oauth(&["it", "hr", "facility"], &server.introspection_url());
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes = [
        TestMailbox { extra: "auth = \"xoauth2\"\noauth = \"hr-idp\"", ..TestMailbox::new("hr-old", "hr", "hr") },
        TestMailbox { extra: "auth = \"oauthbearer\"\noauth = \"it-idp\"", ..TestMailbox::new("it-old", "it", "it") },
        TestMailbox::new("facility-old", "facility", "facility"),
    ];
    let clients = format!(
        "{}{}",
        oauth_client("hr-idp", &server, "hr-app", "hr-secret", ""),
        oauth_client("it-idp", &server, "it-app", "it-secret", "")
    );
    let config = crate::support::config(&url, dovecot.port, &mailboxes, &clients);
    let tokens = loket::oauth::Tokens::new(&config.oauth, None);
    let line = loket::source::imap::check(&config.mailboxes[0], &tokens).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(line.contains("token from `hr-idp` obtained, signed in with XOAUTH2"), "{line}");
    let line = loket::source::imap::check(&config.mailboxes[1], &tokens).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(line.contains("signed in with OAUTHBEARER"), "{line}");
    let before = server.requests("client_credentials");
    assert_eq!(before, 2, "one token per client, reused by the second sign-in");

    for (user, address) in [("it", "it@example.org"), ("hr", "hr@example.org"), ("facility", "facility@example.org")] {
        imap::append_all(dovecot.port, user, "INBOX", &messages(user, address, 2)).await;
    }
    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    wait_for_tickets(&store, 6).await;
    assert_eq!(server.requests("client_credentials"), before + 2, "the daemon fetched one token per client");

    server.revoke_all();
    dovecot.kick("hr");
    dovecot.kick("it");
    for (user, address) in [("it", "it@example.org"), ("hr", "hr@example.org")] {
        imap::append_all(dovecot.port, user, "INBOX", &messages(&format!("{user}-late"), address, 1)).await;
    }
    wait_for_tickets(&store, 8).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    daemon.stop().await;
    assert_eq!(
        server.requests("client_credentials"),
        before + 4,
        "each client asked once more after its token was refused"
    );
    assert_eq!(store.count_tickets().await.unwrap(), 8);
}

/// A client with a wrong secret fails with the provider's error named; a rotated
/// refresh token is saved in the store and used after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_named_and_a_rotated_refresh_token_is_kept_across_a_restart() {
    let server =
        crate::support::oauth::TokenServer::start(&[("hr-app", "hr-secret", "hr")], Duration::from_secs(600)).await;
    let dovecot = Dovecot::with_oauth(&["hr"], &server.introspection_url());
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailbox =
        [TestMailbox { extra: "auth = \"xoauth2\"\noauth = \"hr-idp\"", ..TestMailbox::new("hr-old", "hr", "hr") }];

    let wrong =
        crate::support::config(&url, dovecot.port, &mailbox, &oauth_client("hr-idp", &server, "hr-app", "nope", ""));
    let error = loket::source::imap::check(&wrong.mailboxes[0], &loket::oauth::Tokens::new(&wrong.oauth, None))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("hr-idp") && error.contains("invalid_client") && error.contains("Invalid client secret"),
        "{error}"
    );
    assert!(!error.contains("nope"), "the secret is not shown: {error}");

    let refresh = format!(
        "[[oauth]]\nname = \"hr-idp\"\ngrant = \"refresh_token\"\ntoken_url = \"{}\"\nclient_id = \"hr-app\"\nrefresh_token = \"rt-0\"\n",
        server.token_url()
    );
    let config = crate::support::config(&url, dovecot.port, &mailbox, &refresh);
    imap::append_all(dovecot.port, "hr", "INBOX", &messages("hr", "hr@example.org", 1)).await;
    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    wait_for_tickets(&store, 1).await;
    daemon.stop().await;
    let rotated = server.current_refresh_token();
    assert_ne!(rotated, "rt-0");
    assert_eq!(store.oauth_refresh_token("hr-idp").await.unwrap().as_deref(), Some(rotated.as_str()));

    // The configured rt-0 is no longer valid: only the saved one lets loket back in.
    imap::append_all(dovecot.port, "hr", "INBOX", &messages("hr-again", "hr@example.org", 1)).await;
    let daemon = Daemon::start(&config);
    wait_for_tickets(&store, 2).await;
    daemon.stop().await;
    assert_eq!(server.requests("refresh_token"), 2);
    assert_eq!(store.oauth_refresh_token("hr-idp").await.unwrap(), Some(server.current_refresh_token()));
}

/// A first connection to a mailbox full of old mail: what was already read, or
/// is older than `ingest.backlog_forward_days`, is history (a resolved ticket,
/// nothing sent); unread recent mail is forwarded as new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_that_was_read_or_is_old_is_kept_as_history_and_recent_unread_mail_is_forwarded() {
    let dovecot = Dovecot::start(&["hr"]);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let config = crate::support::config(&url, dovecot.port, &[TestMailbox::new("hr-old", "hr", "hr")], "");
    let recent = request("Anna <anna@example.org>", "hr@example.org", "recent", "My contract ends.", "recent@t");
    let read = request("Anna <anna@example.org>", "hr@example.org", "read", "My leave request.", "read@t");
    let old = String::from_utf8(request("Anna <anna@example.org>", "hr@example.org", "old", "Payslip.", "old@t"))
        .unwrap()
        .lines()
        .map(|l| if l.starts_with("Date:") { "Date: Mon, 02 Nov 2020 09:00:00 +0100\r" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes();
    let mut session = imap::login(dovecot.port, "hr").await;
    session.append("INBOX", None, None, &recent).await.unwrap();
    session.append("INBOX", Some("(\\Seen)"), None, &read).await.unwrap();
    session.append("INBOX", None, None, &old).await.unwrap();
    session.logout().await.unwrap();

    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    wait_for_tickets(&store, 3).await;
    daemon.stop().await;
    for ticket in store.list_tickets(10).await.unwrap() {
        let detail = store.ticket(ticket.reference.as_str()).await.unwrap();
        let history = detail.events.iter().find(|e| e.kind == EventKind::History);
        match ticket.subject.as_str() {
            "recent" => {
                assert_eq!(ticket.status, Status::New);
                assert!(history.is_none());
                assert_eq!(detail.outbox.iter().map(|o| o.kind.to_string()).collect::<Vec<_>>(), ["forward"]);
            }
            "read" | "old" => {
                assert_eq!(ticket.status, Status::Resolved, "{}", ticket.subject);
                let why = history.and_then(|h| h.data.clone()).expect("the timeline says it is history");
                let loket::domain::Event::History { why } = why else { panic!("{why:?}") };
                assert_eq!(matches!(why, loket::domain::History::Seen), ticket.subject == "read", "{why:?}");
                assert!(detail.outbox.is_empty(), "nothing sent for {}", ticket.subject);
            }
            other => panic!("unexpected ticket {other}"),
        }
    }
}

/// Two instances on one PostgreSQL share a mailbox: only the one holding its
/// lease reads it, every request becomes one ticket, and when that instance
/// stops the other takes the mailbox over within seconds and reads new mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_read_a_mailbox_one_at_a_time_and_the_second_takes_over_when_the_first_stops() {
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("leases").await;
    let dovecot = Dovecot::start(&["it"]);
    let mailboxes = [TestMailbox::new("it-old", "it", "it")];
    // A mail server that takes mail: readiness here depends on the mailboxes alone.
    let sink = crate::support::smtp::SmtpSink::start();
    let config = || {
        let text = crate::support::config_text(&url, dovecot.port, &mailboxes, &sink.section())
            .replace("[store]\n", "[store]\nmailbox_lease_secs = 3\n");
        loket::config::load_str(&text).unwrap()
    };
    imap::append_all(dovecot.port, "it", "INBOX", &messages("it", "it@example.org", 300)).await;
    let store = store(&url).await;

    let first = Daemon::start(&config());
    eventually("the first instance to hold the lease", Duration::from_secs(20), || async {
        store.mailbox_lease("it-old").await.unwrap().is_some_and(|l| l.owner.is_some())
    })
    .await;
    let holder = store.mailbox_lease("it-old").await.unwrap().unwrap();
    let second_config = config();
    let second = Daemon::start(&second_config);
    wait_for_tickets(&store, 300).await;
    // The instance that stands by is ready to take over, not failing.
    let ready = format!("http://{}/readyz", second_config.web.ops_address());
    eventually("the standby instance to say so", Duration::from_secs(10), || async {
        let answer = http::get(&ready).await;
        answer.status == 200 && answer.body.contains(r#""standby":true"#)
    })
    .await;
    // Over several lease lengths the lease is renewed, never taken again.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(store.count_tickets().await.unwrap(), 300);
    assert_eq!(store.count_messages().await.unwrap(), 300);
    let still = store.mailbox_lease("it-old").await.unwrap().unwrap();
    assert_eq!((still.owner, still.epoch), (holder.owner.clone(), holder.epoch));

    let stopped = std::time::Instant::now();
    first.stop().await;
    eventually("the second instance to take the lease", Duration::from_secs(10), || async {
        let lease = store.mailbox_lease("it-old").await.unwrap().unwrap();
        lease.owner.is_some() && lease.owner != holder.owner && lease.epoch == holder.epoch + 1
    })
    .await;
    assert!(stopped.elapsed() < Duration::from_secs(8), "taken over after {:?}", stopped.elapsed());
    imap::append_all(dovecot.port, "it", "INBOX", &messages("it-late", "it@example.org", 1)).await;
    wait_for_tickets(&store, 301).await;
    second.stop().await;
    assert_eq!(store.count_tickets().await.unwrap(), 301);
    let released = store.mailbox_lease("it-old").await.unwrap().unwrap();
    assert_eq!(released.owner, None, "a clean stop hands the lease back");
}

/// An instance that dies keeps its mailbox lease until it runs out; then the
/// other instance takes the mailbox over and reads the mail that came meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailbox_of_an_instance_that_dies_is_taken_over_within_about_a_lease() {
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("leases").await;
    let dovecot = Dovecot::start(&["it"]);
    let mailboxes = [TestMailbox::new("it-old", "it", "it")];
    // A mail server that takes mail: readiness here depends on the mailboxes alone.
    let sink = crate::support::smtp::SmtpSink::start();
    let config = || {
        let text = crate::support::config_text(&url, dovecot.port, &mailboxes, &sink.section())
            .replace("[store]\n", "[store]\nmailbox_lease_secs = 3\n");
        loket::config::load_str(&text).unwrap()
    };
    let store = store(&url).await;
    let first = Daemon::start(&config());
    eventually("the first instance to hold the lease", Duration::from_secs(20), || async {
        store.mailbox_lease("it-old").await.unwrap().is_some_and(|l| l.owner.is_some())
    })
    .await;
    let holder = store.mailbox_lease("it-old").await.unwrap().unwrap();
    let second = Daemon::start(&config());
    tokio::time::sleep(Duration::from_secs(2)).await;

    let died = std::time::Instant::now();
    first.kill().await;
    imap::append_all(dovecot.port, "it", "INBOX", &messages("it", "it@example.org", 5)).await;
    eventually("the second instance to take the lease", Duration::from_secs(15), || async {
        let lease = store.mailbox_lease("it-old").await.unwrap().unwrap();
        lease.owner.is_some() && lease.owner != holder.owner
    })
    .await;
    let taken = died.elapsed();
    // Not before the dead instance's lease ran out, and within about a lease after.
    assert!(taken >= Duration::from_secs(1) && taken < Duration::from_secs(8), "taken over after {taken:?}");
    wait_for_tickets(&store, 5).await;
    second.stop().await;
    assert_eq!(store.count_tickets().await.unwrap(), 5);
}
