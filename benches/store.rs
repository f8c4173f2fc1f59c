//! Store throughput: one ingest transaction per message into SQLite (WAL), the
//! write path every source goes through.

use std::sync::atomic::{AtomicU32, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loket::desk::Silent;
use loket::domain::MailboxName;
use loket::pipeline::plan::{ImapPosition, Incoming, Rules, plan_parsed};
use loket::pipeline::store_group;
use loket::store::Store;

const CONFIG: &str = r#"
[desk]
name = "Service Desk"
address = "servicedesk@example.org"
base_url = "https://desk.example.org"

[[departments]]
id = "it"
name = "IT"
queue_address = "it-queue@example.org"

[[mailboxes]]
name = "it-old"
department = "it"
maildir = "/nonexistent"
"#;

fn store_ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = runtime.block_on(async {
        let store = Store::connect(&url, 2).await.expect("store");
        store.migrate().await.expect("migrate");
        store.open_cursor("it-old", 1, 1, None).await.expect("cursor");
        store
    });
    let config = loket::config::load_str(CONFIG).expect("config");
    let routing = std::sync::Arc::new(loket::routing::classify::Routing::from_config(&config));
    let rules = Rules::from_config(&config, loket::sign::Signer::new(b"bench"), routing);
    let mailbox = loket::config::mailbox_named(&config.mailboxes, "it-old").expect("mailbox");
    let next = AtomicU32::new(1);
    let body = "Mijn laptop start niet meer op, kunnen jullie kijken?\r\n".repeat(20);

    let make = |uid: u32| {
        let raw = format!(
            "From: Anna <anna@example.org>\r\nTo: it@example.org\r\nSubject: request {uid}\r\nMessage-ID: <{uid}@bench>\r\n\r\n{body}"
        )
        .into_bytes();
        Incoming {
            mailbox: MailboxName::parse("it-old").expect("name"),
            source_key: format!("1/{uid}"),
            imap: Some(ImapPosition { uidvalidity: 1, uid, advance_cursor: true, lease: None }),
            size: raw.len() as u64,
            raw,
            truncated: false,
            backlog: false,
            received_at_ms: 0,
            seen: false,
        }
    };

    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ingest one message per transaction (sqlite)", |b| {
        b.iter(|| {
            let incoming = make(next.fetch_add(1, Ordering::Relaxed));
            let plan = plan_parsed(&rules, mailbox, &incoming, loket::inbound::intake::parse(&incoming.raw));
            runtime.block_on(store_group(&store, &[(&incoming, &plan)], "SD", &Silent, 0)).expect("ingest")
        })
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("ingest 100 messages per group commit (sqlite)", |b| {
        b.iter(|| {
            let incoming: Vec<Incoming> = (0..100).map(|_| make(next.fetch_add(1, Ordering::Relaxed))).collect();
            let plans: Vec<_> = incoming
                .iter()
                .map(|i| plan_parsed(&rules, mailbox, i, loket::inbound::intake::parse(&i.raw)))
                .collect();
            let items: Vec<_> = incoming.iter().zip(plans.iter()).collect();
            runtime.block_on(store_group(&store, &items, "SD", &Silent, 0)).expect("ingest")
        })
    });
    group.finish();
}

criterion_group!(benches, store_ingest);
criterion_main!(benches);
