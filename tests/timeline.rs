//! The timeline as typed events: stored as data beside the English sentence, and
//! shown in the reader's language.

use std::path::Path;

use loket::domain::{DepartmentId, Event, Language, MailKind, MailboxName, timeline};
use loket::store::Store;

use crate::support::{loket, request};

/// A desk on SQLite in `dir` whose old IT mailbox (a Maildir) got Anna's request,
/// taken in as `SD-00001`; `extra` is added to the config.
async fn one_request(dir: &Path, extra: &str) -> Store {
    let maildir = dir.join("it");
    std::fs::create_dir_all(maildir.join("new")).unwrap();
    let extra = format!(
        "{extra}\n[[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nmaildir = \"{}\"\n",
        maildir.display()
    );
    let text = crate::support::config_text(&crate::support::sqlite_url(dir), 143, &[], &extra);
    std::fs::write(dir.join("loket.toml"), &text).unwrap();
    let mail = request("Anna <anna@example.org>", "it@example.org", "Laptop", "My laptop is broken.", "t1@test");
    std::fs::write(maildir.join("new/1.M1.host"), mail).unwrap();
    let (store, created) = crate::support::take_in_maildir(&text).await;
    assert_eq!(created, 1);
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_written_on_sqlite_reads_back_as_the_same_typed_event_and_an_old_row_shows_its_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let store = one_request(dir.path(), "").await;
    store.revoke_link("SD-00001", loket::clock::now_ms()).await.unwrap();
    // A row as loket wrote it before events were typed: a sentence and no data.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&crate::support::sqlite_url(dir.path())).await.unwrap();
    sqlx::query(
        "INSERT INTO events (id, ticket_id, at, kind, detail)
         SELECT 'old-1', id, created_at + 3600000, 'note', 'internal note from Bob: an old sentence' FROM tickets",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let ticket = store.ticket("SD-00001").await.unwrap();
    let data: Vec<Option<&Event>> = ticket.events.iter().map(|e| e.data.as_ref()).collect();
    let it = DepartmentId::parse("it").unwrap();
    let anna = || "anna@example.org".to_owned();
    assert_eq!(data[0], Some(&Event::Received { mailbox: MailboxName::parse("it-old").unwrap() }));
    assert!(matches!(data[1], Some(Event::Routed { department, .. }) if *department == it), "{data:?}");
    assert_eq!(data[2], Some(&Event::Queued { mail: MailKind::Ack, recipient: anna() }));
    assert_eq!(data[3], Some(&Event::Queued { mail: MailKind::Forward, recipient: "it-queue@example.org".into() }));
    assert!(data.contains(&Some(&Event::LinkRevoked)), "{data:?}");
    // The sentence stays beside the data, in English, for older readers.
    assert_eq!(ticket.events[0].detail, "received in mailbox it-old");
    let old = ticket.events.last().unwrap();
    assert_eq!((old.kind.as_str(), old.data.as_ref()), ("note", None));
    assert_eq!(
        timeline::shown(old.data.as_ref(), &old.detail, Language::Nl),
        "internal note from Bob: an old sentence"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_show_prints_the_timeline_in_dutch_when_asked_or_when_the_desk_speaks_dutch() {
    let dir = tempfile::tempdir().unwrap();
    one_request(dir.path(), "").await.close().await;
    let show = |extra: &[&str]| {
        let mut args = vec!["tickets", "show", "SD-00001", "--config", "loket.toml"];
        args.extend_from_slice(extra);
        loket(&args, dir.path())
    };
    let english = show(&[]);
    assert!(english.contains("received in mailbox it-old"), "{english}");
    assert!(english.contains("acknowledgement to anna@example.org queued"), "{english}");
    let dutch = show(&["--lang", "nl"]);
    assert!(dutch.contains("ontvangen in mailbox it-old"), "{dutch}");
    assert!(dutch.contains("ontvangstbevestiging aan anna@example.org klaargezet"), "{dutch}");
    assert!(!dutch.contains("received in mailbox"), "{dutch}");

    let dutch_desk = tempfile::tempdir().unwrap();
    one_request(dutch_desk.path(), "[ack]\ndefault_language = \"nl\"\n").await.close().await;
    let shown = loket(&["tickets", "show", "SD-00001", "--config", "loket.toml"], dutch_desk.path());
    assert!(shown.contains("ontvangen in mailbox it-old"), "{shown}");
    let asked = loket(&["tickets", "show", "SD-00001", "--config", "loket.toml", "--lang", "en"], dutch_desk.path());
    assert!(asked.contains("received in mailbox it-old"), "{asked}");
}
