//! The outbox worker against a real SMTP server, over rows the store holds.

use std::collections::HashMap;
use std::time::Duration;

use loket::domain::OutboxState;
use loket::outbound::outbox::{Sending, Transport, Wake, drain, run};
use loket::store::{Store, Stored};
use loket::telemetry::{health::Health, metrics::Metrics};
use sqlx::Connection;

use crate::support::smtp::SmtpSink;

/// Puts a mail of `kind` for the ticket `t-1` straight into the outbox, as
/// another program (or a later loket) could have.
pub(crate) async fn put(db: &sqlx::AnyPool, id: &str, kind: &str, recipient: &str, now: i64) {
    sqlx::query(
        "INSERT INTO outbox (id, ticket_id, kind, recipient, sender, message_id, body, state, next_attempt_at, created_at)
         VALUES ($1, 't-1', $2, $3, 'servicedesk@example.org', $4, $5, 'pending', $6, $6)",
    )
    .bind(id)
    .bind(kind)
    .bind(recipient)
    .bind(format!("{id}@loket"))
    .bind(format!("Message-ID: <{id}@loket>\r\nSubject: VPN\r\n\r\nThanks.\r\n").into_bytes())
    .bind(now)
    .execute(db)
    .await
    .unwrap();
}

/// A migrated store at `url`, a pool of its own on it to queue mails with
/// [`put`], and the moment the ticket they are about was made.
pub(crate) async fn queue_store(url: &str) -> (Store, sqlx::AnyPool, i64) {
    let store = Store::connect(url, 2).await.unwrap();
    store.migrate().await.unwrap();
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(url).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    ticket(&db, now).await;
    (store, db, now)
}

/// The ticket `t-1` the mails [`put`] queues are about.
async fn ticket(db: &sqlx::AnyPool, now: i64) {
    sqlx::query(
        "INSERT INTO tickets (id, reference, requester_address, subject, department, status, decided_by,
            route_reason, origin_mailbox, created_at, updated_at)
         VALUES ('t-1', 'SD-00001', 'anna@example.org', 'VPN', 'it', 'new', 'mailbox', 'mailbox', 'it-old', $1, $1)",
    )
    .bind(now)
    .execute(db)
    .await
    .unwrap();
}

/// The store held by another writer longer than loket waits for it (its busy
/// timeout, 10 s), just after the first mail reached a slow server: the round
/// starts no other mail, marks those the server took once the store is back,
/// and hands back the rest for the next round, even though the claim ran out
/// meanwhile (no other worker took its mails). Past the claim's lease, when any
/// mail claimed but not marked would go out again, every mail has arrived once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_mark_a_mail_sent_mid_round_makes_no_mail_go_out_twice() {
    const MAILS: usize = 40;
    crate::support::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let sink = SmtpSink::start();
    sink.slow_down(Duration::from_millis(300));
    let config = crate::support::config(&url, crate::support::free_port(), &[], &sink.section());
    let (store, db, now) = queue_store(&url).await;
    for i in 0..MAILS {
        put(&db, &format!("m{i:02}"), "ack", &format!("employee{i}@example.org"), now).await;
    }

    let transport = Transport::from_config(&config.outbox, config.smtp.as_ref(), &config.oauth)
        .unwrap()
        .expect("an SMTP transport");
    let sending = Sending { claim_lease: Duration::from_secs(10), ..Sending::from_config(&config) };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(run(
        store.clone(),
        transport,
        sending,
        Metrics::default(),
        Health::new([]),
        Wake::default(),
        shutdown.clone(),
    ));

    crate::support::eventually("the first mail at the server", Duration::from_secs(30), || async {
        !sink.received().is_empty()
    })
    .await;
    let mut writer = sqlx::AnyConnection::connect(&url).await.unwrap();
    // Longer than the store's busy timeout, and than the claim's lease: the
    // claim runs out while the store is away.
    sqlx::query("BEGIN IMMEDIATE").execute(&mut writer).await.unwrap();
    tokio::time::sleep(Duration::from_secs(18)).await;
    sqlx::query("COMMIT").execute(&mut writer).await.unwrap();

    let received = || {
        let mut times: HashMap<String, usize> = HashMap::new();
        for mail in sink.received() {
            *times.entry(crate::support::desk::message_id(&mail)).or_default() += 1;
        }
        times
    };
    crate::support::eventually("every mail at the server", Duration::from_secs(60), || async {
        received().len() >= MAILS
    })
    .await;
    tokio::time::sleep(sending.claim_lease + Duration::from_secs(5)).await;
    shutdown.cancel();
    worker.await.unwrap();

    let times = received();
    assert_eq!(times.len(), MAILS, "every mail arrived: {times:?}");
    let extra: usize = times.values().map(|n| n - 1).sum();
    assert_eq!(extra, 0, "mails sent again: {times:?}");
    assert_eq!(store.outbox_depth().await.unwrap(), 0, "every mail is marked sent, none waits to go again");
    writer.close().await.unwrap();
    db.close().await;
}

/// One row whose kind no loket wrote must not hold up the queue: a claim that
/// failed on it as a whole would be claimed again and fail again, and nothing
/// would go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_of_a_kind_loket_cannot_read_is_given_up_with_why_and_the_other_mails_still_go_out() {
    let dir = tempfile::tempdir().unwrap();
    one_unreadable_mail_among_others(&crate::support::sqlite_url(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_too_a_mail_of_a_kind_loket_cannot_read_is_given_up_alone() {
    let postgres = crate::support::postgres::Postgres::start();
    one_unreadable_mail_among_others(&postgres.database("unreadable").await).await;
}

async fn one_unreadable_mail_among_others(url: &str) {
    crate::support::init_tracing();
    let sink = SmtpSink::start();
    let config = crate::support::config(url, crate::support::free_port(), &[], &sink.section());
    let (store, db, now) = queue_store(url).await;
    put(&db, "m1", "ack", "anna@example.org", now).await;
    put(&db, "m2", "bogus", "bram@example.org", now).await;
    put(&db, "m3", "forward", "it-queue@example.org", now).await;

    let transport = Transport::from_config(&config.outbox, config.smtp.as_ref(), &config.oauth)
        .unwrap()
        .expect("an SMTP transport");
    let sending = Sending::from_config(&config);
    let delivery = drain(&store, &transport, sending).await.unwrap();
    assert_eq!(delivery.sent, 2, "{delivery:?}");
    let mut recipients: Vec<String> = sink.received().into_iter().flat_map(|m| m.rcpt_tos).collect();
    recipients.sort();
    assert_eq!(recipients, ["anna@example.org", "it-queue@example.org"]);
    assert_eq!(store.outbox_depth().await.unwrap(), 0, "nothing is left to be claimed again");

    let (state, error): (String, Option<String>) =
        sqlx::query_as("SELECT state, last_error FROM outbox WHERE id = 'm2'").fetch_one(&db).await.unwrap();
    assert_eq!(state, "failed");
    let error = error.unwrap_or_default();
    assert!(error.contains("`bogus` is not a mail kind"), "{error}");

    // The operator's list shows the mail with the kind as stored, and its reason.
    let failed = store.outbox_queue(true, 10).await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].id, "m2");
    assert_eq!(failed[0].kind, Stored::Unreadable("bogus".to_owned()));
    assert_eq!(failed[0].kind.to_string(), "bogus?");
    assert_eq!(failed[0].state, OutboxState::Failed);
    assert!(failed[0].last_error.as_deref().is_some_and(|e| e.contains("`bogus`")), "{failed:?}");
    // A relay's answer kept as the last error is shown, not obeyed, on the operator's terminal.
    sqlx::query("UPDATE outbox SET last_error = $1 WHERE id = 'm2'")
        .bind("bogus: relay said \u{1b}]0;pwned\u{7}\u{1b}[2J")
        .execute(&db)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("loket.toml"), crate::support::config_text(url, 143, &[], "")).unwrap();
    for args in [&["outbox", "list"][..], &["tickets", "show", "SD-00001"]] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_loket"))
            .args(args)
            .args(["--config", "loket.toml"])
            .current_dir(dir.path())
            .env("LOKET_LOG", "warn")
            .env_remove("LOKET_CONFIG")
            .env_remove("LOKET_STORE__URL")
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(shown.contains("bogus?"), "{args:?} shows the kind as stored: {shown}");
        assert!(!shown.contains('\u{1b}') && !shown.contains('\u{7}'), "{args:?} printed an escape: {shown:?}");
    }

    // Another round claims nothing: the mail given up stays given up, and nothing is sent twice.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(drain(&store, &transport, sending).await.unwrap().total(), 0);
    assert_eq!(sink.received().len(), 2);
    db.close().await;
}

/// A queue of large forwards is not read into memory a whole claim at a time:
/// mails are claimed in turn while their bodies fit the byte bound, and a mail
/// larger than the bound still goes, alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_of_many_large_mails_takes_only_as_many_as_its_byte_bound_allows() {
    let dir = tempfile::tempdir().unwrap();
    claims_bounded_by_bytes(&crate::support::sqlite_url(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_too_a_claim_of_large_mails_is_bounded_by_bytes() {
    let postgres = crate::support::postgres::Postgres::start();
    claims_bounded_by_bytes(&postgres.database("claimbytes").await).await;
}

async fn claims_bounded_by_bytes(url: &str) {
    const MIB: usize = 1024 * 1024;
    let (store, db, now) = queue_store(url).await;
    let sized = |id: &str, size: usize| {
        let mut body = format!("Message-ID: <{id}@loket>\r\nSubject: Forward\r\n\r\n").into_bytes();
        body.resize(size, b'x');
        body
    };
    for (i, size) in [MIB, MIB, MIB, MIB, MIB, MIB, 5 * MIB, 1000].into_iter().enumerate() {
        let id = format!("m{i}");
        put(&db, &id, "forward", "it-queue@example.org", now).await;
        sqlx::query("UPDATE outbox SET body = $1 WHERE id = $2")
            .bind(sized(&id, size))
            .bind(&id)
            .execute(&db)
            .await
            .unwrap();
    }

    let bound = i64::try_from(3 * MIB + MIB / 2).unwrap();
    let mut rounds = Vec::new();
    loop {
        let mut claimed: Vec<String> = store
            .claim_due_within("w", 64, bound, Duration::from_secs(60))
            .await
            .unwrap()
            .into_iter()
            .map(|due| due.id)
            .collect();
        if claimed.is_empty() {
            break;
        }
        claimed.sort();
        rounds.push(claimed);
    }
    // Three of 1 MiB fit 3.5 MiB; the 5 MiB mail goes alone, and the small one after it waits its turn.
    assert_eq!(rounds, [vec!["m0", "m1", "m2"], vec!["m3", "m4", "m5"], vec!["m6"], vec!["m7"]]);
    db.close().await;
}
