//! The attacker's steps against the desk, each through the real Dovecot, SMTP
//! server and daemon: speaking for a department, borrowing the desk to mail
//! outsiders, and looping two auto-responders through it.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::desk::*;
use crate::support::eventually;
use loket::domain::{EventKind, Status};

/// A request from `from`, with extra header lines.
fn request_with(from: &str, headers: &str, subject: &str, body: &str, id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\n{headers}To: it@example.org\r\nSubject: {subject}\r\nDate: Mon, 02 Nov 2026 09:00:00 +0100\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A reply as `reply` writes it, with `headers` on top (as a receiving server adds them).
fn reply_under(headers: &str, from: &str, body: &str, id: &str, in_reply_to: &str) -> Vec<u8> {
    let mail = reply(from, "servicedesk@example.org", "Re: [SD-00001] Laptop", body, id, in_reply_to);
    [headers.as_bytes(), &mail].concat()
}

async fn events(desk: &Desk, kind: EventKind) -> usize {
    desk.store.ticket("SD-00001").await.unwrap().events.iter().filter(|e| e.kind == kind).count()
}

async fn anna_asks_it(desk: &Desk) -> String {
    desk.deliver(
        "it",
        crate::support::request(
            "Anna <anna@example.org>",
            "it@example.org",
            "Laptop",
            "My laptop does not start.",
            "a-1@x",
        ),
    )
    .await;
    desk.mail(ANNA, "ack", 1).await;
    message_id(&desk.mail("it-queue@example.org", "fwd", 1).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_speak_for_a_department_but_its_staff_can() {
    let desk = Desk::start(false).await;
    let forward = anna_asks_it(&desk).await;

    // 1. The queue's address and the sequential reference in the subject, no reply to any mail.
    let phishing = crate::support::request(
        "Totally Not IT <it-queue@example.org>",
        "servicedesk@example.org",
        "Re: [SD-00001] Laptop",
        "#resolve\nYour password has expired. Reset it within 1 hour at https://evil.example/sso-login",
        "evil-1@example.net",
    );
    desk.deliver("desk", phishing).await;
    // 2. A real forward's Message-ID (leaked, or guessed from a quote), from outside the department.
    let stolen = reply(
        "Mallory <mallory@example.net>",
        "servicedesk@example.org",
        "Re: [SD-00001] Laptop",
        "#route hr\nPlease handle.",
        "evil-2@example.net",
        &forward,
    );
    desk.deliver("desk", stolen).await;
    eventually("both forgeries kept on the ticket", Duration::from_secs(60), || async {
        events(&desk, EventKind::Unverified).await == 2
    })
    .await;
    let detail = desk.store.ticket("SD-00001").await.unwrap();
    assert_eq!(detail.summary.status, Status::New, "no #resolve ran");
    assert_eq!(detail.summary.department, "it", "no #route ran");
    assert_eq!(desk.count(ANNA), 1, "the employee got the acknowledgement and no phishing");
    assert_eq!(desk.count("hr-queue@example.org"), 0, "nothing went to HR");

    // The department's own staff, answering the forward: relayed.
    let answer = reply(
        "Bob <bob@example.org>",
        "servicedesk@example.org",
        "Re: [SD-00001] Laptop",
        "I will bring you a spare laptop at ten.",
        "bob-1@example.org",
        &forward,
    );
    desk.deliver("desk", answer).await;
    let relayed = desk.mail(ANNA, "ans", 1).await;
    assert!(text(&relayed).contains("spare laptop"));
    assert!(!text(&relayed).contains("evil.example"));
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_organisations_mail_server_named_only_its_dmarc_verdict_counts() {
    let desk = Desk::start_with(false, "\n[trust]\nauthserv_id = \"mx.example.org\"\n").await;
    let forward = anna_asks_it(&desk).await;

    // The server says Bob's address was forged.
    let forged = reply_under(
        "Authentication-Results: mx.example.org; dmarc=fail (p=reject) header.from=example.org\r\n",
        "Bob <bob@example.org>",
        "Click https://evil.example to keep your laptop.",
        "f-1@x",
        &forward,
    );
    desk.deliver("desk", forged).await;
    // The attacker writes the header themselves, under another server's name.
    let claimed = reply_under(
        "Authentication-Results: evil.example; dmarc=pass header.from=example.org\r\n",
        "Bob <bob@example.org>",
        "Trust me, I passed.",
        "f-2@x",
        &forward,
    );
    desk.deliver("desk", claimed).await;
    eventually("both kept as unverified", Duration::from_secs(60), || async {
        events(&desk, EventKind::Unverified).await == 2
    })
    .await;
    assert_eq!(desk.count(ANNA), 1, "nothing relayed");

    let real = reply_under(
        "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org\r\n",
        "Bob <bob@example.org>",
        "The spare laptop is on your desk.",
        "b-1@x",
        &forward,
    );
    desk.deliver("desk", real).await;
    assert!(text(&desk.mail(ANNA, "ans", 1).await).contains("spare laptop is on your desk"));

    // An employee's address forged from outside: the department is warned, nobody is answered.
    desk.deliver(
        "it",
        request_with(
            "Carla <carla@example.org>",
            "Authentication-Results: mx.example.org; dmarc=fail header.from=example.org\r\n",
            "Laptop password",
            "My laptop password expired, please reset it and mail me the new one.",
            "spoof-1@example.net",
        ),
    )
    .await;
    let warned = desk.mail("it-queue@example.org", "fwd", 2).await;
    assert!(text(&warned).contains("WARNING") && text(&warned).contains("forged"), "{}", text(&warned));
    assert_eq!(desk.count("carla@example.org"), 0, "no acknowledgement to a forged sender");
    desk.stop().await;
}

/// Mails to `recipient` whose Message-ID has the kind `kind`, as far as sent.
fn sent(desk: &Desk, recipient: &str, kind: &str) -> usize {
    let kind = format!(".{kind}.");
    desk.sink
        .received()
        .iter()
        .filter(|m| m.rcpt_tos.iter().any(|r| r == recipient) && message_id(m).contains(&kind))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_the_mail_server_did_not_judge_joins_no_ticket_and_a_new_one_warns_the_department() {
    let desk = Desk::start_with(false, "\n[trust]\nauthserv_id = \"mx.example.org\"\n").await;
    let forward = anna_asks_it(&desk).await;
    let judged_evil = "Authentication-Results: mx.example.org; dmarc=pass header.from=evil.example\r\n";

    // The server judged the first From; loket would read the last, Anna's.
    let two_froms = reply_under(
        &format!("{judged_evil}From: m@evil.example\r\n"),
        "Anna <anna@example.org>",
        "Please pay the invoice to NL00EVIL0123456789 today.",
        "two-1@x",
        "unknown@example.net",
    );
    desk.deliver("desk", two_froms).await;
    // No From the server could judge; the leaked forward's Message-ID and the queue as Sender.
    let sender_only = reply_under(
        "Authentication-Results: mx.example.org; dmarc=none\r\nSender: IT <it-queue@example.org>\r\n",
        "undisclosed:;",
        "#resolve\nYour password expired, reset it at https://evil.example/sso",
        "sender-1@x",
        &forward,
    );
    desk.deliver("desk", sender_only).await;
    eventually("both kept as unverified", Duration::from_secs(60), || async {
        events(&desk, EventKind::Unverified).await == 2
    })
    .await;
    let detail = desk.store.ticket("SD-00001").await.unwrap();
    assert_eq!(detail.summary.status, Status::New, "no #resolve ran");
    assert_eq!(sent(&desk, "it-queue@example.org", "upd"), 0, "no update in Anna's name");
    assert_eq!(desk.count(ANNA), 1, "nothing relayed to Anna as the department's answer");

    // The same tricks as new requests: the department is warned, and told why.
    let new_two = request_with(
        "m@evil.example",
        &format!("{judged_evil}From: Anna <anna@example.org>\r\n"),
        "New bank account",
        "Please pay my salary to NL00EVIL0123456789 from now on.",
        "two-2@x",
    );
    desk.deliver("it", new_two).await;
    let warned = text(&desk.mail("it-queue@example.org", "fwd", 2).await);
    assert!(warned.starts_with("*** WARNING: loket cannot tell who sent this mail"), "{warned}");
    assert!(warned.contains("more than one sender (From)"), "{warned}");
    let new_sender = request_with(
        "undisclosed:;",
        "Sender: Anna <anna@example.org>\r\n",
        "New bank account",
        "Please pay my salary to NL00EVIL0123456789 from now on.",
        "sender-2@x",
    );
    desk.deliver("it", new_sender).await;
    let warned = text(&desk.mail("it-queue@example.org", "fwd", 3).await);
    assert!(warned.contains("WARNING") && warned.contains("no usable From"), "{warned}");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsiders_reply_to_cannot_give_the_request_an_employees_name() {
    let desk = Desk::start_with(false, "\n[trust]\nauthserv_id = \"mx.example.org\"\n").await;
    desk.deliver(
        "it",
        request_with(
            "m@evil.example",
            "Authentication-Results: mx.example.org; dmarc=pass header.from=evil.example\r\nReply-To: CEO <ceo@example.org>\r\n",
            "Laptop for the board",
            "Please hand the new laptop for the board to my driver at the reception.",
            "ceo-1@x",
        ),
    )
    .await;
    let forward = text(&desk.mail("it-queue@example.org", "fwd", 1).await);
    assert!(forward.lines().any(|line| line.trim_end() == "Requester:   m@evil.example"), "{forward}");
    assert!(forward.contains("WARNING") && forward.contains("ceo@example.org (Reply-To)"), "{forward}");
    desk.mail("m@evil.example", "ack", 1).await;
    assert_eq!(desk.count("ceo@example.org"), 0, "nothing went to the CEO");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_named_only_by_its_subject_reaches_the_department_with_a_warning() {
    let desk = Desk::start(false).await;
    let forward = anna_asks_it(&desk).await;
    let resolve = reply(
        "Bob <bob@example.org>",
        "servicedesk@example.org",
        "Re: [SD-00001] Laptop",
        "#resolve\nFixed.",
        "r-1@x",
        &forward,
    );
    desk.deliver("desk", resolve).await;
    desk.mail(ANNA, "ans", 1).await;
    // Anyone can write the reference and an employee's address.
    let claimed = crate::support::request(
        "Anna <anna@example.org>",
        "servicedesk@example.org",
        "Re: [SD-00001] Laptop",
        "Please pay the laptop repair to NL00EVIL0123456789.",
        "fake-1@example.net",
    );
    desk.deliver("desk", claimed).await;
    let update = text(&desk.mail("it-queue@example.org", "upd", 1).await);
    assert!(update.starts_with("*** WARNING: loket could not verify the sender of this update"), "{update}");
    assert!(update.contains("NL00EVIL0123456789"));
    let detail = desk.store.ticket("SD-00001").await.unwrap();
    assert_eq!(detail.summary.status, Status::InProgress, "it still reopens the ticket");
    // Anna's reply to the acknowledgement loket signed needs no warning.
    let ack = message_id(&desk.mail(ANNA, "ack", 1).await);
    let genuine =
        reply("Anna <anna@example.org>", "servicedesk@example.org", "Re: Laptop", "It broke again.", "a-2@x", &ack);
    desk.deliver("desk", genuine).await;
    let update = text(&desk.mail("it-queue@example.org", "upd", 2).await);
    assert!(update.starts_with("The employee wrote again") && !update.contains("WARNING"), "{update}");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_cannot_be_used_to_mail_outsiders() {
    let caps = "\n[ack]\nmax_per_recipient_per_hour = 2\nmax_per_domain_per_hour = 3\nmax_outside_per_hour = 4\n";
    let desk = Desk::start_with(false, caps).await;
    // A Reply-To outside the organisation, under an employee's From.
    desk.deliver(
        "it",
        request_with(
            "James <james@example.org>",
            "Reply-To: \"WIN 1000 EUR NOW\" <victim@elsewhere.example>\r\n",
            "Printer",
            "The printer jams.",
            "j-1@x",
        ),
    )
    .await;
    desk.mail("james@example.org", "ack", 1).await;
    assert_eq!(desk.count("victim@elsewhere.example"), 0, "the acknowledgement went to From");

    // One victim under several spellings, then her domain, then everyone outside.
    let senders = [
        "victim+1@elsewhere.example",
        "victim+2@elsewhere.example",
        "Victim@elsewhere.example",
        "a@elsewhere.example",
        "b@elsewhere.example",
        "c@other.example",
        "d@third.example",
    ];
    let mails: Vec<Vec<u8>> = senders
        .iter()
        .enumerate()
        .map(|(i, s)| crate::support::request(s, "it@example.org", "Win", "Claim your prize", &format!("spam-{i}@x")))
        .collect();
    crate::support::imap::append_all(desk.dovecot.port, "it", "INBOX", &mails).await;
    eventually("every forward sent", Duration::from_secs(60), || async {
        desk.sink.received().iter().filter(|m| message_id(m).contains(".fwd.")).count() == 1 + senders.len()
    })
    .await;
    let mut acks: Vec<String> = desk
        .sink
        .received()
        .iter()
        .filter(|m| message_id(m).contains(".ack.") && !m.rcpt_tos.iter().any(|r| r == "james@example.org"))
        .flat_map(|m| m.rcpt_tos.clone())
        .collect();
    acks.sort();
    assert_eq!(
        acks,
        ["a@elsewhere.example", "c@other.example", "victim+1@elsewhere.example", "victim+2@elsewhere.example"],
        "two per person, three per domain, four outside in all"
    );
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_auto_responders_that_ignore_rfc_3834_stop_after_a_handful_of_mails() {
    let desk = Desk::start(false).await;
    anna_asks_it(&desk).await;
    // The test plays both: Anna's out-of-office and the IT queue's "we received
    // your mail", neither marked as automatic, each answering every mail it gets.
    let mut answered = HashSet::new();
    let mut quiet_since = std::time::Instant::now();
    let started = std::time::Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(10) && started.elapsed() < Duration::from_secs(90) {
        let mut new = false;
        for mail in desk.sink.received() {
            let id = message_id(&mail);
            if !answered.insert(id.clone()) {
                continue;
            }
            new = true;
            let (from, body) = if mail.rcpt_tos.iter().any(|r| r == ANNA) {
                ("Anna <anna@example.org>", "I am out of the office until Monday.")
            } else {
                ("IT <it-queue@example.org>", "Thank you, we received your mail and answer within a day.")
            };
            let n = answered.len();
            desk.deliver("desk", reply(from, "servicedesk@example.org", "Re: auto", body, &format!("auto-{n}@x"), &id))
                .await;
        }
        if new {
            quiet_since = std::time::Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sent = desk.sink.received().len();
    assert!(sent <= 12, "the desk sent {sent} mails between two auto-responders");
    assert!(events(&desk, EventKind::Loop).await >= 1, "the loop is on the timeline");
    desk.stop().await;
}
