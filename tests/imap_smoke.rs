mod support;

use support::dovecot::Dovecot;

#[tokio::test]
async fn dovecot_accepts_mail_for_each_user() {
    let dovecot = Dovecot::start(&["it", "hr"]);
    support::imap::append_all(
        dovecot.port,
        "it",
        "INBOX",
        &[support::request("a@example.org", "it@example.org", "x", "y", "1@t")],
    )
    .await;
    assert_eq!(support::imap::count(dovecot.port, "it", "INBOX").await, 1);
    assert_eq!(support::imap::count(dovecot.port, "hr", "INBOX").await, 0);
}
