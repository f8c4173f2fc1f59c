//! One store suite, run on SQLite and on PostgreSQL.

use loket::config::Config;
use loket::desk::Silent;
use loket::domain::{AutoKind, EventKind, MailboxName};
use loket::pipeline::plan::{ImapPosition, Incoming, Plan, Rules, plan_parsed};
use loket::pipeline::{IngestOutcome, store_group};
use loket::store::Store;

fn config() -> Config {
    loket::config::load_str(
        r#"
[desk]
name = "Service Desk"
address = "servicedesk@example.org"
base_url = "https://desk.example.org"

[[departments]]
id = "it"
name = "IT"
queue_address = "it-queue@example.org"

[[departments]]
id = "hr"
name = "HR"
queue_address = "hr-queue@example.org"

[[mailboxes]]
name = "it-old"
department = "it"
maildir = "/nonexistent/it"

[[mailboxes]]
name = "hr-old"
department = "hr"
maildir = "/nonexistent/hr"
"#,
    )
    .unwrap()
}

fn incoming(mailbox: &str, uid: u32, raw: &[u8]) -> Incoming {
    Incoming {
        mailbox: MailboxName::parse(mailbox).unwrap(),
        source_key: format!("7/{uid}"),
        imap: Some(ImapPosition { uidvalidity: 7, uid, advance_cursor: true, lease: None }),
        raw: raw.to_vec(),
        truncated: false,
        backlog: false,
        size: raw.len() as u64,
        received_at_ms: 1_000,
        seen: false,
    }
}

fn plan(config: &Config, incoming: &Incoming) -> Plan {
    let mailbox = loket::config::mailbox_named(&config.mailboxes, incoming.mailbox.as_str()).unwrap();
    let routing = std::sync::Arc::new(loket::routing::classify::Routing::from_config(config));
    plan_parsed(
        &Rules::from_config(config, loket::sign::Signer::new(b"test"), routing),
        mailbox,
        incoming,
        loket::inbound::intake::parse(&incoming.raw),
    )
}

async fn ingest(store: &Store, config: &Config, incoming: &Incoming) -> IngestOutcome {
    store_group(store, &[(incoming, &plan(config, incoming))], "SD", &Silent, 1_000).await.unwrap().remove(0)
}

const WITH_ATTACHMENT: &[u8] = b"From: Tom <tom@example.org>\r\nTo: hr@example.org\r\nSubject: Contract\r\nMessage-ID: <c1@test>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSigned contract attached.\r\n--b\r\nContent-Type: application/pdf; name=contract.pdf\r\nContent-Disposition: attachment; filename=contract.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n";

async fn suite(store: Store) {
    let config = config();
    store.migrate().await.unwrap();
    store.migrate().await.expect("migrating twice is a no-op");

    // First connection: the backlog is what is in the folder now.
    let cursor = store.open_cursor("it-old", 7, 11, None).await.unwrap();
    assert!(cursor.fresh);
    assert_eq!((cursor.last_uid, cursor.backlog_uid), (0, 10));
    store.open_cursor("hr-old", 7, 1, None).await.unwrap();

    let first =
        crate::support::request("Anna <anna@example.org>", "it@example.org", "Laptop", "It is broken.", "a1@test");
    let created = ingest(&store, &config, &incoming("it-old", 1, &first)).await;
    assert_eq!(created, IngestOutcome::Created(loket::domain::TicketRef::new("SD", 1)));

    // The same UID again, and the same message from another mailbox: no-ops.
    assert_eq!(ingest(&store, &config, &incoming("it-old", 1, &first)).await, IngestOutcome::Duplicate);
    assert_eq!(ingest(&store, &config, &incoming("hr-old", 9, &first)).await, IngestOutcome::Duplicate);
    assert_eq!(store.count_tickets().await.unwrap(), 1);
    assert_eq!(store.count_messages().await.unwrap(), 1);

    // References count up; attachments and the timeline are kept.
    let second = ingest(&store, &config, &incoming("hr-old", 2, WITH_ATTACHMENT)).await;
    assert_eq!(second, IngestOutcome::Created(loket::domain::TicketRef::new("SD", 2)));
    let ticket = store.ticket("SD-00002").await.unwrap();
    assert_eq!(ticket.summary.department, "hr");
    assert_eq!(ticket.summary.mailbox, "hr-old");
    // The signed contract reads as HR too, so the model confirms the mailbox's department.
    assert_eq!(ticket.summary.decided_by, loket::domain::DecidedBy::Model);
    assert_eq!(ticket.messages.len(), 1);
    let attachment = &ticket.messages[0].attachments[0];
    assert_eq!(attachment.filename.as_deref(), Some("contract.pdf"));
    assert_eq!(attachment.content_type, "application/pdf");
    assert_eq!(attachment.size, 9);
    let kinds: Vec<&str> = ticket.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["received", "routed"]);
    let received = loket::domain::Event::Received { mailbox: MailboxName::parse("hr-old").unwrap() };
    assert_eq!(ticket.events[0].data, Some(received), "the event reads back as the typed value written");
    assert!(matches!(store.ticket("SD-00099").await, Err(loket::store::StoreError::NotFound(_))));

    // The cursor moved with each transaction, never backwards.
    assert_eq!(store.cursor("it-old").await.unwrap(), Some((7, 1)));
    assert_eq!(store.cursor("hr-old").await.unwrap(), Some((7, 9)));
    store.advance_cursor("hr-old", 7, 3, None).await.unwrap();
    assert_eq!(store.cursor("hr-old").await.unwrap(), Some((7, 9)));
    let again = store.open_cursor("hr-old", 7, 20, None).await.unwrap();
    assert!(!again.fresh);
    assert_eq!(again.last_uid, 9);
    // A new UIDVALIDITY starts over.
    let reset = store.open_cursor("hr-old", 8, 5, None).await.unwrap();
    assert!(reset.fresh);
    assert_eq!((reset.last_uid, reset.backlog_uid), (0, 4));

    // An auto-reply is stored on a ticket that says so.
    let ooo = b"From: Sanne <sanne@example.org>\r\nTo: it@example.org\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@test>\r\n\r\nAway.\r\n";
    ingest(&store, &config, &incoming("it-old", 3, ooo)).await;
    let ticket = store.ticket("SD-00003").await.unwrap();
    assert_eq!(ticket.summary.automatic, Some(AutoKind::AutoReply));
    assert!(ticket.events.iter().any(|e| e.kind == EventKind::Automatic && e.detail.contains("Auto-Submitted")));

    // Quarantine keeps the bytes once, with the reason.
    let garbage = incoming("it-old", 4, b"no headers here\r\n");
    assert!(matches!(plan(&config, &garbage), Plan::Quarantine { .. }));
    assert_eq!(ingest(&store, &config, &garbage).await, IngestOutcome::Quarantined);
    assert_eq!(ingest(&store, &config, &garbage).await, IngestOutcome::Quarantined);
    let rows = store.list_quarantine(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].reason.contains("cannot be parsed"), "{}", rows[0].reason);
    assert_eq!(store.quarantine_raw(&rows[0].id).await.unwrap(), b"no headers here\r\n");
    assert_eq!(store.cursor("it-old").await.unwrap(), Some((7, 4)));

    let listed = store.list_tickets(10).await.unwrap();
    assert_eq!(listed.iter().map(|t| t.reference.as_str()).collect::<Vec<_>>(), ["SD-00003", "SD-00002", "SD-00001"]);
    assert_eq!(listed[2].message_id.as_deref(), Some("a1@test"));

    // A group commit keeps source order and judges each message on its own,
    // duplicates inside the group included.
    let a = crate::support::request("Piet <piet@example.org>", "it@example.org", "Monitor", "Flickers.", "g1@test");
    let b = crate::support::request("Joke <joke@example.org>", "it@example.org", "Mouse", "Broken.", "g2@test");
    let group = [
        incoming("it-old", 10, &a),
        incoming("hr-old", 11, &a),
        incoming("it-old", 12, b"garbage without headers\r\n"),
        incoming("it-old", 13, &b),
    ];
    let plans: Vec<Plan> = group.iter().map(|i| plan(&config, i)).collect();
    let items: Vec<(&Incoming, &Plan)> = group.iter().zip(plans.iter()).collect();
    let outcomes = store_group(&store, &items, "SD", &Silent, 2_000).await.unwrap();
    use loket::domain::TicketRef;
    assert_eq!(
        outcomes,
        [
            IngestOutcome::Created(TicketRef::new("SD", 4)),
            IngestOutcome::Duplicate,
            IngestOutcome::Quarantined,
            IngestOutcome::Created(TicketRef::new("SD", 5)),
        ]
    );
    assert_eq!(store.ticket("SD-00005").await.unwrap().summary.subject, "Mouse");
    assert_eq!(store.cursor("it-old").await.unwrap(), Some((7, 13)));
    store.close().await;
}

#[tokio::test]
async fn the_store_suite_passes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&crate::support::sqlite_url(dir.path()), 4).await.unwrap();
    suite(store).await;
}

#[tokio::test]
async fn the_store_suite_passes_on_postgres() {
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("suite").await;
    let store = Store::connect(&url, 4).await.unwrap();
    suite(store).await;
}

/// An instance whose lease ran out while it was paused, and which another
/// instance took since, can neither renew it nor move the mailbox's cursor.
#[tokio::test]
async fn a_lease_taken_over_by_another_instance_fences_off_the_old_holders_cursor_writes() {
    use std::time::Duration;
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("leases").await;
    let store = Store::connect(&url, 4).await.unwrap();
    store.migrate().await.unwrap();
    let short = Duration::from_millis(300);
    let long = Duration::from_secs(30);

    let first = store.take_mailbox_lease("it-old", "first", short).await.unwrap().expect("a free mailbox is taken");
    assert_eq!(store.take_mailbox_lease("it-old", "second", long).await.unwrap(), None, "held by the first");
    store.open_cursor("it-old", 7, 1, Some(first)).await.unwrap();
    store.advance_cursor("it-old", 7, 3, Some(first)).await.unwrap();
    assert_eq!(store.cursor("it-old").await.unwrap(), Some((7, 3)));

    tokio::time::sleep(Duration::from_millis(600)).await;
    let second = store.take_mailbox_lease("it-old", "second", long).await.unwrap().expect("an expired lease is taken");
    assert!(second > first);
    assert!(!store.renew_mailbox_lease("it-old", "first", first, long).await.unwrap());
    let refused = store.advance_cursor("it-old", 7, 9, Some(first)).await;
    assert!(matches!(refused, Err(loket::store::StoreError::LeaseLost { .. })), "{refused:?}");
    assert!(store.open_cursor("it-old", 8, 1, Some(first)).await.is_err());
    assert_eq!(store.cursor("it-old").await.unwrap(), Some((7, 3)));

    // The first instance's release does not free the second's lease, and says it was lost.
    assert!(!store.release_mailbox_lease("it-old", "first", first).await.unwrap());
    assert_eq!(store.mailbox_lease("it-old").await.unwrap().unwrap().owner.as_deref(), Some("second"));
    store.advance_cursor("it-old", 7, 9, Some(second)).await.unwrap();
    assert_eq!(store.cursor("it-old").await.unwrap(), Some((7, 9)));
    assert!(store.release_mailbox_lease("it-old", "second", second).await.unwrap(), "the holder hands it back");
    let third = store.take_mailbox_lease("it-old", "first", long).await.unwrap().expect("a handed back lease is free");
    assert_eq!(third, second + 1);
}

/// A write that finds SQLite locked by another writer, or a PostgreSQL
/// statement cut off by its timeout, is the database being busy: worth trying
/// again, and no fault of what was being stored. A refused value is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_and_timed_out_databases_are_told_apart_from_refused_values() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let mut holder = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut holder).await.unwrap();
    let mut other = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("PRAGMA busy_timeout = 0").execute(&mut other).await.unwrap();
    let busy = sqlx::query("CREATE TABLE t (x INTEGER)").execute(&mut other).await.unwrap_err();
    assert!(loket::store::StoreError::from(busy).is_transient(), "SQLite locked by another writer");
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let refused = sqlx::query("INSERT INTO no_such_table VALUES (1)").execute(&mut other).await.unwrap_err();
    assert!(!loket::store::StoreError::from(refused).is_transient(), "a statement SQLite refuses");

    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("transient").await;
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("SET statement_timeout = 50").execute(&mut conn).await.unwrap();
    let timed_out = sqlx::query("SELECT pg_sleep(5)").execute(&mut conn).await.unwrap_err();
    assert!(loket::store::StoreError::from(timed_out).is_transient(), "a statement timeout");
    let refused = sqlx::query("SELECT 1 / 0").execute(&mut conn).await.unwrap_err();
    assert!(!loket::store::StoreError::from(refused).is_transient(), "division by zero");
}

/// A desk with a bug that one message meets: it panics on that message alone.
struct Panicky;

impl loket::desk::Responder for Panicky {
    fn respond(&self, opened: &loket::desk::Opened<'_>) -> loket::desk::Response {
        assert!(opened.message.subject != "boom", "a bug met by one message");
        loket::desk::Response::default()
    }
}

/// A panic while one message is stored ends neither the mailbox's work nor the
/// other messages: it counts as that message's failure, and after
/// `ingest.max_store_attempts` the message is quarantined with the panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_makes_storing_panic_is_quarantined_and_the_others_become_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&crate::support::sqlite_url(dir.path()), 2).await.unwrap();
    store.migrate().await.unwrap();
    let mut config = config();
    config.ingest.max_store_attempts = 2;
    let config = std::sync::Arc::new(config);
    let routing = std::sync::Arc::new(loket::routing::classify::Routing::from_config(&config));
    let pipeline = loket::pipeline::Pipeline::new(
        config.clone(),
        store.clone(),
        loket::sign::Signer::new(b"test"),
        routing,
        std::sync::Arc::new(Panicky),
    );
    let mailbox = loket::config::mailbox_named(&config.mailboxes, "it-old").unwrap();
    let mail = |uid: u32, subject: &str| {
        let raw = format!(
            "From: Anna <anna@example.org>\r\nTo: it@example.org\r\nSubject: {subject}\r\nMessage-ID: <{uid}@test>\r\n\r\nHelp.\r\n"
        );
        incoming("it-old", uid, raw.as_bytes())
    };
    let messages = [mail(1, "laptop"), mail(2, "boom"), mail(3, "printer")];
    let first = pipeline.ingest_all(mailbox, &messages).await;
    assert!(matches!(first, Err(loket::store::StoreError::Panicked(_))), "{first:?}");
    assert_eq!(store.count_tickets().await.unwrap(), 1, "the message before it is stored");
    let second = pipeline.ingest_all(mailbox, &messages[1..]).await.unwrap();
    assert_eq!(second.len(), 2);
    assert_eq!(store.count_tickets().await.unwrap(), 2, "the message after it is stored");
    let quarantined = store.list_quarantine(10).await.unwrap();
    assert_eq!(quarantined.len(), 1);
    assert!(quarantined[0].reason.contains("panicked"), "{}", quarantined[0].reason);
}

/// Retention over more tickets than one of its transactions takes: every long
/// resolved ticket is stripped and then anonymised, a dry run counts the same
/// as the purge removes, and a second purge finds nothing left.
async fn purge_in_batches(url: &str) {
    use loket::store::PurgeCutoffs;
    let store = Store::connect(url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let config = config();
    const TICKETS: i64 = 230;
    let routing = std::sync::Arc::new(loket::routing::classify::Routing::from_config(&config));
    let rules = Rules::from_config(&config, loket::sign::Signer::new(b"test"), routing);
    let mailbox = loket::config::mailbox_named(&config.mailboxes, "it-old").unwrap();
    let mails: Vec<Incoming> = (1..=TICKETS)
        .map(|uid| {
            let raw = format!(
                "From: Anna <anna{uid}@example.org>\r\nTo: it@example.org\r\nSubject: Request {uid}\r\nMessage-ID: <p{uid}@test>\r\n\r\nHelp.\r\n"
            );
            incoming("it-old", u32::try_from(uid).unwrap(), raw.as_bytes())
        })
        .collect();
    let plans: Vec<Plan> =
        mails.iter().map(|m| plan_parsed(&rules, mailbox, m, loket::inbound::intake::parse(&m.raw))).collect();
    let items: Vec<(&Incoming, &Plan)> = mails.iter().zip(&plans).collect();
    store_group(&store, &items, "SD", &Silent, 1_000).await.unwrap();
    assert_eq!(store.count_tickets().await.unwrap(), TICKETS);
    let raw = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query("UPDATE tickets SET status = 'resolved', updated_at = 1").execute(&raw).await.unwrap();
    let now = loket::clock::now_ms();
    let strip = PurgeCutoffs { raw: Some(now), ..PurgeCutoffs::default() };
    assert_eq!(store.purge(strip, true).await.unwrap().raw_messages, TICKETS, "a dry run counts");
    assert_eq!(store.purge(strip, false).await.unwrap().raw_messages, TICKETS);
    let kept: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE LENGTH(raw) > 0").fetch_one(&raw).await.unwrap();
    assert_eq!(kept, 0, "no raw mail is left");
    let anonymise = PurgeCutoffs { anonymise: Some(now), ..PurgeCutoffs::default() };
    assert_eq!(store.purge(anonymise, true).await.unwrap().anonymised_tickets, TICKETS, "a dry run counts");
    assert_eq!(store.purge(anonymise, false).await.unwrap().anonymised_tickets, TICKETS);
    let named: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tickets WHERE requester_address <> 'anonymised'")
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(named, 0, "no ticket keeps its requester");
    let everything = PurgeCutoffs { raw: Some(now), anonymise: Some(now), quarantine: Some(now) };
    assert!(store.purge(everything, false).await.unwrap().is_empty(), "nothing is left to purge");
    raw.close().await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_purges_more_tickets_than_one_transaction_takes_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    purge_in_batches(&crate::support::sqlite_url(dir.path())).await;
    let postgres = crate::support::postgres::Postgres::start();
    purge_in_batches(&postgres.database("retention").await).await;
}
