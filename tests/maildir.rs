//! The Maildir source: new/ to cur/ after the commit, exactly once.

use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use loket::domain::MailKind;
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
        crate::support::sqlite_url(dir.path()),
        maildir.display()
    );
    let config = Arc::new(loket::config::load_str(&text).unwrap());
    let store = loket::app::open_store(&config.store).await.unwrap();
    let pipeline = loket::app::pipeline(config.clone(), store.clone()).await.unwrap();
    let mailbox = &config.mailboxes[0];

    let first = crate::support::request("Anna <anna@example.org>", "it@example.org", "VPN", "No VPN.", "v1@test");
    std::fs::write(maildir.join("new/1.M1.host"), &first).unwrap();
    // A name that is not UTF-8 is still read and moved.
    let odd = std::ffi::OsStr::from_bytes(b"2.M2.h\xffst");
    std::fs::write(
        maildir.join("new").join(odd),
        crate::support::request("b@example.org", "it@example.org", "Odd", "x", "v2@test"),
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
        crate::support::sqlite_url(dir.path()),
        maildir.display()
    );
    let config = Arc::new(loket::config::load_str(&text).unwrap());
    let store = loket::app::open_store(&config.store).await.unwrap();
    let pipeline = loket::app::pipeline(config.clone(), store.clone()).await.unwrap();
    for i in 0..3 {
        let raw = crate::support::request(
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
        acks += ticket.outbox.iter().filter(|o| o.kind == MailKind::Ack).count();
        assert_eq!(
            ticket.outbox.iter().filter(|o| o.kind == MailKind::Forward).count(),
            1,
            "every request is forwarded"
        );
    }
    assert_eq!(acks, 2);
    let third = store.ticket("SD-00003").await.unwrap();
    assert!(
        third.events.iter().any(|e| matches!(
            &e.data,
            Some(loket::domain::Event::Withheld { reason: loket::domain::Withheld::RecipientCap { .. } })
        )),
        "{:?}",
        third.events
    );
}

struct Desk {
    _dir: tempfile::TempDir,
    maildir: std::path::PathBuf,
    config: Arc<loket::config::Config>,
    store: Store,
    pipeline: loket::pipeline::Pipeline,
}

impl Desk {
    async fn open() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("it");
        std::fs::create_dir_all(maildir.join("new")).unwrap();
        std::fs::create_dir_all(maildir.join("cur")).unwrap();
        let text = format!(
            "[store]\nurl = \"{}\"\n[desk]\nname = \"D\"\naddress = \"d@example.org\"\nbase_url = \"https://d.example.org\"\n\
             [[departments]]\nid = \"it\"\nname = \"IT\"\nqueue_address = \"q@example.org\"\n\
             [[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nmaildir = \"{}\"\n",
            crate::support::sqlite_url(dir.path()),
            maildir.display()
        );
        let config = Arc::new(loket::config::load_str(&text).unwrap());
        let store = loket::app::open_store(&config.store).await.unwrap();
        let pipeline = loket::app::pipeline(config.clone(), store.clone()).await.unwrap();
        Self { _dir: dir, maildir, config, store, pipeline }
    }

    async fn poll(&self) -> loket::source::PollOutcome {
        loket::source::maildir::poll(&self.pipeline, &self.config.mailboxes[0], &CancellationToken::new())
            .await
            .unwrap()
    }

    fn names(&self, sub: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.maildir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn mail(subject: &str, id: &str) -> Vec<u8> {
    crate::support::request("Anna <anna@example.org>", "it@example.org", subject, "Please help.", id)
}

#[tokio::test]
async fn mail_another_client_moved_to_cur_is_taken_in_once_and_marked() {
    let desk = Desk::open().await;
    // A mail client opened the folder first: the mail sits in cur/, read or not.
    std::fs::write(desk.maildir.join("cur/5.M5.host:2,S"), mail("Seen by a client", "c1@test")).unwrap();
    std::fs::write(desk.maildir.join("cur/6.M6.host:2,"), mail("Moved by a client", "c2@test")).unwrap();
    std::fs::write(desk.maildir.join("new/7.M7.host"), mail("Still new", "c3@test")).unwrap();

    let outcome = desk.poll().await;
    assert_eq!((outcome.created, outcome.total()), (3, 3));
    assert_eq!(desk.names("cur"), ["5.M5.host:2,LS", "6.M6.host:2,L", "7.M7.host:2,LS"]);
    assert!(desk.names("new").is_empty());

    let again = desk.poll().await;
    assert_eq!(again.total(), 0, "marked mail is not read again");
    assert_eq!(desk.store.count_tickets().await.unwrap(), 3);
}

#[tokio::test]
async fn a_reused_file_name_neither_overwrites_nor_hides_the_earlier_message() {
    let desk = Desk::open().await;
    std::fs::write(desk.maildir.join("new/1.eml"), mail("First", "r1@test")).unwrap();
    assert_eq!(desk.poll().await.created, 1);
    std::fs::write(desk.maildir.join("new/1.eml"), mail("Second", "r2@test")).unwrap();
    assert_eq!(desk.poll().await.created, 1);
    // The very same file dropped in once more is recognised, and still kept.
    std::fs::write(desk.maildir.join("new/1.eml"), mail("Second", "r2@test")).unwrap();
    assert_eq!(desk.poll().await.duplicates, 1);

    assert_eq!(desk.store.count_tickets().await.unwrap(), 2);
    let cur = desk.names("cur");
    assert_eq!(cur.len(), 3, "{cur:?}");
    let subjects: Vec<String> = cur
        .iter()
        .map(|n| String::from_utf8_lossy(&std::fs::read(desk.maildir.join("cur").join(n)).unwrap()).into_owned())
        .collect();
    assert_eq!(subjects.iter().filter(|s| s.contains("Subject: First")).count(), 1);
    assert_eq!(subjects.iter().filter(|s| s.contains("Subject: Second")).count(), 2);
}

#[tokio::test]
async fn an_unreadable_file_is_quarantined_with_its_reason_and_the_others_go_on() {
    let desk = Desk::open().await;
    std::fs::write(desk.maildir.join("new/1.M1.host"), mail("Before", "u1@test")).unwrap();
    std::fs::write(desk.maildir.join("new/3.M3.host"), mail("After", "u3@test")).unwrap();
    let blocked = desk.maildir.join("new/2.M2.host");
    // Permissions do not stop root, so as root the file is a link to itself,
    // which no one can open either.
    if crate::support::is_root() {
        std::os::unix::fs::symlink(&blocked, &blocked).unwrap();
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&blocked, mail("Blocked", "u2@test")).unwrap();
        std::fs::set_permissions(&blocked, std::fs::Permissions::from_mode(0o000)).unwrap();
    }

    let outcome = desk.poll().await;
    assert_eq!((outcome.created, outcome.quarantined), (2, 1));
    let quarantine = desk.store.list_quarantine(10).await.unwrap();
    assert_eq!(quarantine.len(), 1);
    assert!(quarantine[0].reason.contains("2.M2.host cannot be read"), "{}", quarantine[0].reason);
    let warnings = &desk.pipeline.health.snapshot()["it-old"].warnings;
    assert!(warnings.values().any(|w| w.contains("2.M2.host cannot be read")), "{warnings:?}");
    // The file stays where it was; polling again records it no second time.
    assert_eq!(desk.names("new"), ["2.M2.host"]);
    desk.poll().await;
    assert_eq!(desk.store.list_quarantine(10).await.unwrap().len(), 1);

    // Once it can be read, it becomes a ticket like any other.
    std::fs::remove_file(&blocked).unwrap();
    std::fs::write(&blocked, mail("Blocked", "u2@test")).unwrap();
    assert_eq!(desk.poll().await.created, 1);
    assert_eq!(desk.store.count_tickets().await.unwrap(), 3);
    assert!(desk.names("new").is_empty());
}
