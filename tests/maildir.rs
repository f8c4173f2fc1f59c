//! The Maildir source: new/ to cur/ after the commit, exactly once.

mod support;

use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use loket::store::Store;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn maildir_messages_become_tickets_once_and_move_to_cur() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("it");
    std::fs::create_dir_all(maildir.join("new")).unwrap();
    let text = format!(
        "[store]\nurl = \"{}\"\n[desk]\nname = \"D\"\naddress = \"d@example.org\"\nbase_url = \"https://d.example.org\"\n\
         [[departments]]\nid = \"it\"\nname = \"IT\"\nqueue_address = \"q@example.org\"\n\
         [[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nmaildir = \"{}\"\n",
        support::sqlite_url(dir.path()),
        maildir.display()
    );
    let config = Arc::new(loket::config::load_str(&text).unwrap());
    let store = loket::app::open_store(&config).await.unwrap();
    let pipeline = loket::app::pipeline(config.clone(), store.clone()).await.unwrap();
    let mailbox = &config.mailboxes[0];

    let first = support::request("Anna <anna@example.org>", "it@example.org", "VPN", "No VPN.", "v1@test");
    std::fs::write(maildir.join("new/1.M1.host"), &first).unwrap();
    // A name that is not UTF-8 is still read and moved.
    let odd = std::ffi::OsStr::from_bytes(b"2.M2.h\xffst");
    std::fs::write(
        maildir.join("new").join(odd),
        support::request("b@example.org", "it@example.org", "Odd", "x", "v2@test"),
    )
    .unwrap();
    std::fs::write(maildir.join("new/3.M3.host"), b"no headers at all\n").unwrap();

    let never = CancellationToken::new();
    let outcome = loket::source::maildir::poll(&pipeline, mailbox, &never).await.unwrap();
    assert_eq!((outcome.created, outcome.quarantined), (2, 1));
    assert_eq!(std::fs::read_dir(maildir.join("new")).unwrap().count(), 0);
    let cur: Vec<String> = std::fs::read_dir(maildir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cur.len(), 3);
    assert!(cur.iter().all(|name| name.ends_with(":2,LS")), "{cur:?}");

    // The same message delivered again is recognised.
    std::fs::write(maildir.join("new/4.M4.host"), &first).unwrap();
    let outcome = loket::source::maildir::poll(&pipeline, mailbox, &never).await.unwrap();
    assert_eq!((outcome.created, outcome.duplicates), (0, 1));
    assert_eq!(store.count_tickets().await.unwrap(), 2);
    let reopened = Store::connect(&config.store.url, 1).await.unwrap();
    assert_eq!(reopened.list_quarantine(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn automatic_mails_to_one_address_stop_at_the_hourly_cap() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("hr");
    std::fs::create_dir_all(maildir.join("new")).unwrap();
    let text = format!(
        "[store]\nurl = \"{}\"\n[desk]\nname = \"D\"\naddress = \"d@example.org\"\nbase_url = \"https://d.example.org\"\n\
         [ack]\nmax_per_recipient_per_hour = 2\n\
         [[departments]]\nid = \"hr\"\nname = \"HR\"\nqueue_address = \"q@example.org\"\n\
         [[mailboxes]]\nname = \"hr-old\"\ndepartment = \"hr\"\nmaildir = \"{}\"\n",
        support::sqlite_url(dir.path()),
        maildir.display()
    );
    let config = Arc::new(loket::config::load_str(&text).unwrap());
    let store = loket::app::open_store(&config).await.unwrap();
    let pipeline = loket::app::pipeline(config.clone(), store.clone()).await.unwrap();
    for i in 0..3 {
        let raw = support::request(
            "Kees <KEES@example.org>",
            "hr@example.org",
            &format!("Vraag {i}"),
            "Een vraag over verlof.",
            &format!("k{i}@test"),
        );
        std::fs::write(maildir.join(format!("new/{i}.M{i}.host")), raw).unwrap();
    }
    loket::source::maildir::poll(&pipeline, &config.mailboxes[0], &CancellationToken::new()).await.unwrap();

    let mut acks = 0;
    for reference in ["SD-00001", "SD-00002", "SD-00003"] {
        let ticket = store.ticket(reference).await.unwrap();
        acks += ticket.outbox.iter().filter(|o| o.kind == "ack").count();
        assert_eq!(ticket.outbox.iter().filter(|o| o.kind == "forward").count(), 1, "every request is forwarded");
    }
    assert_eq!(acks, 2);
    let third = store.ticket("SD-00003").await.unwrap();
    assert!(third.events.iter().any(|e| e.kind == "withheld" && e.detail.contains("ack.max_per_recipient_per_hour")));
}
