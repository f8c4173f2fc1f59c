//! No request is passed over: not when the server hands out UIDs again, not
//! when it holds a message back for a while, not when a person read it first.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures::TryStreamExt;

use super::messages;
use crate::support::daemon::{Daemon, store, wait_for_tickets};
use crate::support::dovecot::Dovecot;
use crate::support::{TestMailbox, eventually, http, imap};

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().expect("cp");
    assert!(status.success(), "cp -a {} {}", from.display(), to.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_mail_under_uids_the_server_hands_out_again_after_a_restore_becomes_tickets() {
    let mut dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let config = crate::support::config(&url, dovecot.port, &[TestMailbox::new("it-old", "it", "it")], "");
    // The backup: the Maildir, with its dovecot-uidlist, before any request came.
    let validity = imap::uidvalidity(dovecot.port, "it", "INBOX").await;
    let backup = tempfile::tempdir().unwrap();
    copy_dir(&dovecot.maildir("it"), backup.path());

    imap::append_all(dovecot.port, "it", "INBOX", &messages("before", "it@example.org", 2)).await;
    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    wait_for_tickets(&store, 2).await;

    // Restored from the backup while loket runs: the same UIDVALIDITY, UIDs from 1 again.
    let maildir = dovecot.maildir("it");
    dovecot.restart_after(|_| {
        std::fs::remove_dir_all(&maildir).unwrap();
        copy_dir(&backup.path().join("Maildir"), &maildir);
    });
    let ready_url = format!("http://{}/readyz", config.web.ops_address());
    eventually("loket to notice the reused UIDs", Duration::from_secs(30), || async {
        http::get(&ready_url).await.body.contains("uids_reused")
    })
    .await;
    imap::append_all(dovecot.port, "it", "INBOX", &messages("after", "it@example.org", 2)).await;
    assert_eq!(imap::uidvalidity(dovecot.port, "it", "INBOX").await, validity, "the test needs the same UIDVALIDITY");
    let mut session = imap::login(dovecot.port, "it").await;
    session.examine("INBOX").await.unwrap();
    let uids = session.uid_search("ALL").await.unwrap();
    session.logout().await.unwrap();
    assert_eq!(uids, [1, 2].into_iter().collect(), "the new mail has the UIDs of the mail before");

    wait_for_tickets(&store, 4).await;
    // Polls that find only stored mail again store nothing more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    daemon.stop().await;
    assert_eq!(store.count_tickets().await.unwrap(), 4);
    assert_eq!(store.count_messages().await.unwrap(), 4);
    let subjects: Vec<String> = store.list_tickets(10).await.unwrap().into_iter().map(|t| t.subject).collect();
    for subject in ["before request 0", "before request 1", "after request 0", "after request 1"] {
        assert!(subjects.iter().any(|s| s == subject), "{subject} in {subjects:?}");
    }
}

/// The file of the message with `subject` in a Maildir.
fn message_file(maildir: &Path, subject: &str) -> PathBuf {
    ["new", "cur"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(maildir.join(sub)).unwrap())
        .map(|entry| entry.unwrap().path())
        .find(|path| std::fs::read_to_string(path).is_ok_and(|text| text.contains(subject)))
        .unwrap_or_else(|| panic!("no file holds {subject}"))
}

/// Sets the mode of a Maildir file wherever Dovecot keeps it now: it moves
/// files from `new/` to `cur/`, adding flags to the name after the `:`.
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let name = path.file_name().unwrap().to_string_lossy();
    let base = name.split(':').next().unwrap().to_owned();
    let maildir = path.parent().unwrap().parent().unwrap();
    let now = ["new", "cur"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(maildir.join(sub)).unwrap())
        .map(|entry| entry.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().split(':').next() == Some(base.as_str()))
        .unwrap_or_else(|| panic!("{base} is no longer in {}", maildir.display()));
    std::fs::set_permissions(now, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_server_cannot_read_for_half_a_minute_becomes_a_ticket_once_it_can() {
    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let config = crate::support::config(&url, dovecot.port, &[TestMailbox::new("it-old", "it", "it")], "");
    imap::append_all(dovecot.port, "it", "INBOX", &messages("first", "it@example.org", 1)).await;
    imap::append_all(dovecot.port, "it", "INBOX", &messages("held", "it@example.org", 1)).await;
    imap::append_all(dovecot.port, "it", "INBOX", &messages("last", "it@example.org", 1)).await;
    let held = message_file(&dovecot.maildir("it"), "held request 0");
    chmod(&held, 0o000);

    let started = std::time::Instant::now();
    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    // The mail before and after the unreadable message goes on.
    wait_for_tickets(&store, 2).await;
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(started.elapsed())).await;
    assert_eq!(store.count_tickets().await.unwrap(), 2);
    assert!(store.list_quarantine(10).await.unwrap().is_empty(), "not given up after half a minute");

    chmod(&held, 0o644);
    wait_for_tickets(&store, 3).await;
    // Later polls find it stored and store nothing more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    daemon.stop().await;
    assert_eq!(store.count_tickets().await.unwrap(), 3);
    assert_eq!(store.count_messages().await.unwrap(), 3);
    assert!(store.list_quarantine(10).await.unwrap().is_empty());
    let (_, last_uid) = store.cursor("it-old").await.unwrap().unwrap();
    assert_eq!(last_uid, 3, "the cursor passes the held-back message and the one after it");
    let subjects: Vec<String> = store.list_tickets(10).await.unwrap().into_iter().map(|t| t.subject).collect();
    assert!(subjects.iter().any(|s| s == "held request 0"), "{subjects:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_seen_as_the_processed_flag_mail_a_person_read_first_still_becomes_a_ticket() {
    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes = [TestMailbox { extra: "processed_flag = \"\\\\Seen\"", ..TestMailbox::new("it-old", "it", "it") }];
    let config = crate::support::config(&url, dovecot.port, &mailboxes, "");
    assert_eq!(config.mailboxes[0].processed_flag.as_deref(), Some("\\Seen"));
    // loket has read the mailbox before; then it is down for a while.
    let daemon = Daemon::start(&config);
    let store = store(&url).await;
    eventually("the first read of the mailbox", Duration::from_secs(30), || async {
        store.cursor("it-old").await.unwrap().is_some()
    })
    .await;
    daemon.stop().await;

    // Two requests arrive meanwhile, and a department member opens one of them.
    imap::append_all(dovecot.port, "it", "INBOX", &messages("while-down", "it@example.org", 2)).await;
    let mut session = imap::login(dovecot.port, "it").await;
    session.select("INBOX").await.unwrap();
    let stored: Vec<_> = session.uid_store("1", "+FLAGS (\\Seen)").await.unwrap().try_collect().await.unwrap();
    drop(stored);
    session.logout().await.unwrap();
    assert_eq!(imap::flags(dovecot.port, "it", "INBOX").await.iter().filter(|f| f.contains("Seen")).count(), 1);

    let daemon = Daemon::start(&config);
    wait_for_tickets(&store, 2).await;
    eventually("both messages flagged as processed", Duration::from_secs(20), || async {
        imap::flags(dovecot.port, "it", "INBOX").await.iter().all(|f| f.contains("Seen"))
    })
    .await;
    daemon.stop().await;
    assert_eq!(store.count_tickets().await.unwrap(), 2);
}
