//! A whole conversation through the desk, end to end over a real Dovecot, a real
//! SMTP server and loket's own HTTP server: the employee mails an old address,
//! the department answers through the desk inbox, the employee writes again, the
//! ticket is rerouted and resolved, and the status page follows every step.

use std::time::Duration;

use crate::support::desk::*;
use crate::support::{browser, eventually, http, request};
use loket::domain::{EventKind, Status};
use mail_parser::{MessageParser, MimeHeaders};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_conversation_from_request_to_resolved_through_the_desk() {
    conversation(Desk::start(false).await, "status-page.png").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_conversation_on_postgresql() {
    conversation(Desk::start(true).await, "status-page-postgres.png").await;
}

async fn conversation(desk: Desk, screenshot: &str) {
    // 1. The employee mails the old IT address and gets the ack with a link.
    let original = request(
        "Anna Smit <anna@example.org>",
        "it@example.org",
        "My desk phone is dead",
        "My desk phone shows no display since this morning. Could someone take a look?",
        "anna-1@example.org",
    );
    desk.deliver("it", original).await;
    let ack = desk.mail(ANNA, "ack", 1).await;
    let forward = desk.mail("it-queue@example.org", "fwd", 1).await;
    let link = link_in(&text(&ack));
    let answer = page_shows(&link, &["Received", "SD-00001", "My desk phone is dead", "Forwarded to IT"]).await;
    assert!(answer.body.contains(r#"id="status" class="status status-new""#), "{}", answer.body);

    // 2. IT answers through the desk inbox; the answer reaches the employee from the desk.
    let staff_reply = reply(
        "Bob Jansen <bob@example.org>",
        "servicedesk@example.org",
        "Re: [SD-00001] My desk phone is dead",
        "Hello Anna, we will bring you a new phone this afternoon.\n\nBob, IT\n\nOn Mon, 2 Nov 2026 Service Desk wrote:\n> Reference:   SD-00001\n> Routing: it was sent to the old IT mailbox",
        "bob-1@example.org",
        &message_id(&forward),
    );
    desk.deliver("desk", staff_reply).await;
    let relayed = desk.mail(ANNA, "ans", 1).await;
    assert_eq!(relayed.mail_from, "servicedesk@example.org");
    let body = text(&relayed);
    assert!(body.contains("we will bring you a new phone this afternoon"), "{body}");
    assert!(!body.contains("Routing:"), "the forward's internal header block is not relayed: {body}");
    assert!(header(&relayed, "Subject").contains("[SD-00001]"));
    assert!(header(&relayed, "From").contains("servicedesk@example.org"));
    assert_eq!(header(&relayed, "In-Reply-To"), "<anna-1@example.org>", "threaded under the employee's original");
    assert!(!header(&relayed, "From").contains("bob@"), "the employee sees the desk, not the department's staff");
    page_shows(&link, &["In progress", "Answered", "new phone this afternoon"]).await;

    // 3. The employee writes again, to the old Facility address this time: it
    //    joins the ticket (by the signed In-Reply-To) and goes to IT as an update.
    let follow_up = reply(
        "Anna Smit <anna@example.org>",
        "facility@example.org",
        "Re: [SD-00001] My desk phone is dead",
        "Thank you! I am in room 3.14 until five.\n\nOn Mon, Service Desk wrote:\n> we will bring you a new phone",
        "anna-2@example.org",
        &message_id(&relayed),
    );
    desk.deliver("facility", follow_up).await;
    let update = desk.mail("it-queue@example.org", "upd", 1).await;
    assert!(text(&update).contains("I am in room 3.14 until five"));
    assert_eq!(desk.store.count_tickets().await.unwrap(), 1, "the follow-up joined the ticket");
    page_shows(&link, &["You wrote again", "room 3.14"]).await;

    // 4. IT reroutes to Facility: Facility gets the ticket, the employee hears where it went.
    let route = reply(
        "Bob Jansen <bob@example.org>",
        "servicedesk@example.org",
        "Re: [SD-00001] My desk phone is dead",
        "#route facility\nThe phone is fine; the wall socket in 3.14 is broken.",
        "bob-2@example.org",
        &message_id(&update),
    );
    desk.deliver("desk", route).await;
    let handover = desk.mail("facility-queue@example.org", "fwd", 1).await;
    let handover_text = text(&handover);
    assert!(handover_text.contains("wall socket in 3.14 is broken"), "the note goes with the forward: {handover_text}");
    assert!(handover_text.contains("My desk phone shows no display"), "with the employee's request: {handover_text}");
    let moved = desk.mail(ANNA, "moved", 1).await;
    assert!(text(&moved).contains("Facility"), "{}", text(&moved));
    assert!(!text(&moved).contains("wall socket"), "the handover note stays internal");
    page_shows(&link, &["Passed on to Facility", "<dd id=\"department\">Facility</dd>"]).await;

    // 5. Facility resolves it with a last word and a report to the employee.
    let resolve = reply_with_attachment(
        "Carol <carol@example.org>",
        "Re: [SD-00001] My desk phone is dead",
        "#resolve\nThe socket is replaced; your phone works again.",
        "carol-1@example.org",
        &message_id(&handover),
    );
    desk.deliver("desk", resolve).await;
    let last = desk.mail(ANNA, "ans", 2).await;
    assert!(text(&last).contains("your phone works again"));
    let parsed = MessageParser::default().parse(&last.bytes).unwrap();
    let attached: Vec<(Option<&str>, &[u8])> =
        parsed.attachments().map(|a| (a.attachment_name(), a.contents())).collect();
    assert_eq!(
        attached,
        [(Some("socket-report.pdf"), b"%PDF-1.4\n%\xc3\xa4\xc3\xbc\xc3\xb6\xc3\x9f\n".as_slice())],
        "the report, not the logo"
    );
    let answer = page_shows(&link, &["Resolved", "your phone works again"]).await;
    assert!(answer.body.contains("status-resolved"));
    assert!(!answer.body.contains("wall socket"), "internal notes never reach the page");
    assert!(!answer.body.contains("bob@example.org") && !answer.body.contains("carol@"), "no staff addresses");

    // Every mail went exactly once: ack, answer, notice, answer to the employee.
    assert_eq!(desk.count(ANNA), 4);
    assert_eq!(desk.count("it-queue@example.org"), 2, "the forward and the update");
    assert_eq!(desk.count("facility-queue@example.org"), 1);

    // The page in a real browser, at a phone's width.
    let dom = browser::dom(&link);
    assert!(dom.contains("Resolved") && dom.contains("Passed on to Facility"), "{dom}");
    assert!(dom.contains(r#"<ol id="timeline""#));
    let shot = browser::screenshot(&link, screenshot);
    assert!(std::fs::metadata(&shot).unwrap().len() > 5_000, "a real screenshot at {}", shot.display());

    // Health and metrics on the operators' listener.
    let base = format!("http://{}", desk.config.web.ops_address());
    assert_eq!(http::get(&format!("{base}/healthz")).await.status, 200);
    let ready = http::get(&format!("{base}/readyz")).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let metrics = http::get(&format!("{base}/metrics")).await.body;
    assert!(metrics.contains(r#"loket_messages_ingested_total{mailbox="desk",outcome="joined"} 3"#), "{metrics}");
    assert!(metrics.contains(r#"loket_tickets{department="facility",status="resolved"} 1"#), "{metrics}");
    assert!(metrics.contains("loket_ack_latency_seconds_count 1"), "{metrics}");
    assert!(metrics.contains("loket_outbox_depth 0"), "{metrics}");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsiders_can_neither_write_on_nor_read_a_ticket_that_is_not_theirs() {
    let desk = Desk::start(false).await;
    desk.deliver(
        "it",
        request("Anna <anna@example.org>", "it@example.org", "Salary account", "Please check my VPN access.", "a-1@x"),
    )
    .await;
    let ack = desk.mail(ANNA, "ack", 1).await;
    let forward = desk.mail("it-queue@example.org", "fwd", 1).await;
    let link = link_in(&text(&ack));

    // A stranger with the reference in the subject: a ticket of their own.
    let stranger = request(
        "Mallory <mallory@example.net>",
        "servicedesk@example.org",
        "Re: [SD-00001] Salary account",
        "Please send the replies for this ticket to me.",
        "m-1@example.net",
    );
    desk.deliver("desk", stranger).await;
    // A Message-ID with a bad signature, answered by a stranger: also a ticket of their own.
    let forged = loket::sign::Signer::new(b"a guessed secret").message_id(
        &loket::domain::TicketRef::new("SD", 1),
        "fwd",
        "example.org",
    );
    let forged_reply = reply(
        "Mallory <mallory@example.net>",
        "servicedesk@example.org",
        "Re: ticket",
        "#resolve\nClosing this one.",
        "m-2@example.net",
        &forged,
    );
    desk.deliver("desk", forged_reply).await;
    eventually("three tickets", Duration::from_secs(60), || async { desk.store.count_tickets().await.unwrap() == 3 })
        .await;
    desk.mail("mallory@example.net", "ack", 2).await;
    let detail = desk.store.ticket("SD-00001").await.unwrap();
    assert_eq!(detail.summary.status, Status::New, "the forged #resolve did nothing");
    assert_eq!(detail.messages.len(), 1, "nothing joined SD-00001");
    assert_eq!(desk.count(ANNA), 1, "the employee got their ack and nothing else");

    // The employee, with the reference in the subject only, is a participant: it joins.
    let by_subject = request(
        "Anna <anna@example.org>",
        "servicedesk@example.org",
        "[SD-00001] one more thing",
        "It is urgent, I travel tomorrow.",
        "a-2@x",
    );
    desk.deliver("desk", by_subject).await;
    desk.mail("it-queue@example.org", "upd", 1).await;

    // Staff: an unknown command gets a short explanation and nothing else happens;
    // #note is kept internal.
    let unknown = reply(
        "Bob <bob@example.org>",
        "servicedesk@example.org",
        "Re: [SD-00001]",
        "#close\nDone.",
        "b-1@x",
        &message_id(&forward),
    );
    desk.deliver("desk", unknown).await;
    let notice = desk.mail("bob@example.org", "cmd", 1).await;
    let notice_text = text(&notice);
    assert!(notice_text.contains("`#close`: unknown command") && notice_text.contains("#route"), "{notice_text}");
    assert_eq!(header(&notice, "Auto-Submitted"), "auto-replied");
    let note = reply(
        "Bob <bob@example.org>",
        "servicedesk@example.org",
        "Re: [SD-00001]",
        "#note\nThis user asked for the same last week.",
        "b-2@x",
        &message_id(&forward),
    );
    desk.deliver("desk", note).await;
    eventually("the note stored", Duration::from_secs(60), || async {
        desk.store.ticket("SD-00001").await.unwrap().events.iter().any(|e| e.kind == EventKind::Note)
    })
    .await;
    assert_eq!(desk.count(ANNA), 1, "neither the unknown command nor the note reached the employee");
    assert_eq!(desk.store.ticket("SD-00001").await.unwrap().summary.status, Status::New);

    // Reading: a guessed token, a missing one, another ticket's token and an unknown
    // reference all get the same 404.
    let (path, token) = link.split_once("?k=").unwrap();
    let base = &desk.config.desk.base_url;
    let good = page(&link).await;
    assert_eq!(good.status, 200);
    assert!(!good.body.contains("same last week"), "the note is not on the page");
    let mallory_ack = desk.mail("mallory@example.net", "ack", 1).await;
    let mallory_link = link_in(&text(&mallory_ack));
    let (_, mallory_token) = mallory_link.split_once("?k=").unwrap();
    let wrong = [
        format!("{path}?k={}", "0".repeat(48)),
        format!("{path}?k={}", &token[..47]),
        path.to_owned(),
        format!("{path}?k={mallory_token}"),
        format!("{base}/t/SD-99999?k={token}"),
        format!("{base}/t/not-a-ref?k={token}"),
    ];
    let first = page(&wrong[0]).await;
    assert_eq!(first.status, 404);
    for url in &wrong {
        let answer = page(url).await;
        assert_eq!((answer.status, &answer.body), (404, &first.body), "{url}");
        assert!(!answer.body.contains("Salary") && !answer.body.contains("SD-00001"), "{url}");
    }
    // A valid link shows its own ticket and nothing of another.
    let mallory_page = page(&mallory_link).await;
    assert_eq!(mallory_page.status, 200);
    assert!(!mallory_page.body.contains("VPN") && !mallory_page.body.contains("urgent"));
    desk.stop().await;
}

/// Runs the `loket` binary on the desk's config.
fn loket(desk: &Desk, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(args)
        .arg("--config")
        .arg(&desk.config_file)
        .env("LOKET_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "loket {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_request_mailed_to_facility_reaches_it_and_a_correction_teaches_the_model() {
    let desk = Desk::start(false).await;
    // The phone request goes to the old Facility address.
    let phone = request(
        "Anna de Vries <anna@example.org>",
        "facility@example.org",
        "Mijn telefoon is kapot",
        "Mijn mobiele telefoon van de zaak gaat niet meer aan. Kan ik een vervangend toestel krijgen?",
        "phone-1@example.org",
    );
    desk.deliver("facility", phone).await;
    let forward = desk.mail("it-queue@example.org", "fwd", 1).await;
    let ack = desk.mail(ANNA, "ack", 1).await;
    assert_eq!(desk.count("facility-queue@example.org"), 0, "Facility never sees it");
    let ack_text = text(&ack);
    assert!(ack_text.contains("IT pakt het op"), "the ack names IT, in Dutch: {ack_text}");
    assert!(
        ack_text.contains("Je schreef naar het adres van Facility") && ack_text.contains("telefoon"),
        "and says why: {ack_text}"
    );
    let forward_text = text(&forward);
    assert!(forward_text.contains("Decided by:  model ("), "{forward_text}");
    let detail = desk.store.ticket("SD-00001").await.unwrap();
    assert_eq!((detail.summary.department.as_str(), detail.summary.decided_by.as_str()), ("it", "model"));
    let page = page_shows(&link_in(&ack_text), &["op basis van de inhoud"]).await;
    assert!(page.body.contains("<dd id=\"department\">IT</dd>"), "{}", page.body);

    // What loket would do with it, shown without touching anything.
    let eml = desk.config_file.with_file_name("phone.eml");
    std::fs::write(
        &eml,
        request(
            "a@example.org",
            "facility@example.org",
            "Telefoon kapot",
            "Mijn telefoon van de zaak is kapot, het scherm blijft zwart. Kunnen jullie mij helpen?",
            "p2@x",
        ),
    )
    .unwrap();
    let shown: serde_json::Value = serde_json::from_str(&loket(
        &desk,
        &["classify", eml.to_str().unwrap(), "--mailbox", "facility-old", "--json"],
    ))
    .unwrap();
    assert_eq!((shown["department"].as_str(), shown["reroute"].as_bool()), (Some("it"), Some(true)), "{shown}");
    assert_eq!(shown["language"], "nl");

    // IT says it belongs to Facility after all: the reroute is a correction, and
    // `loket train` learns from it; the running daemon takes the new model.
    let route = reply(
        "Bob <bob@example.org>",
        "servicedesk@example.org",
        "Re: [SD-00001] Mijn telefoon is kapot",
        "#route facility\nHet gaat om de telefooncel op de gang.",
        "bob-1@example.org",
        &message_id(&forward),
    );
    desk.deliver("desk", route).await;
    desk.mail("facility-queue@example.org", "fwd", 1).await;
    let (corrections, _) = desk.store.corrections(loket::domain::TextBounds::WHOLE).await.unwrap();
    assert_eq!(corrections.len(), 1);
    assert_eq!(
        (corrections[0].department.as_str(), corrections[0].subject.as_str()),
        ("facility", "Mijn telefoon is kapot")
    );
    let base = format!("http://{}", desk.config.web.ops_address());
    let before = metric(&http::get(&format!("{base}/metrics")).await.body, "loket_model_examples");
    let trained = loket(&desk, &["train"]);
    assert!(trained.contains(", 1 corrections"), "{trained}");
    eventually("the daemon uses the new model", Duration::from_secs(30), || async {
        metric(&http::get(&format!("{base}/metrics")).await.body, "loket_model_examples") == before + 1.0
    })
    .await;
    let shown = loket(&desk, &["classify", eml.to_str().unwrap()]);
    assert!(shown.contains("model:       the stored model"), "{shown}");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_sent_to_two_old_addresses_is_one_ticket() {
    let desk = Desk::start(false).await;
    let mail = |hop: &str| {
        let mut raw = format!("Received: from {hop}.example.org by mx.example.org\r\n").into_bytes();
        raw.extend(request(
            "Anna <anna@example.org>",
            "it@example.org, facility@example.org",
            "Printer on the second floor",
            "The printer on the second floor prints nothing and shows a paper jam. Who can fix it?",
            "both-1@example.org",
        ));
        raw
    };
    desk.deliver("it", mail("a")).await;
    desk.mail(ANNA, "ack", 1).await;
    desk.deliver("facility", mail("b")).await;
    eventually("the copy stored on the same ticket", Duration::from_secs(60), || async {
        desk.store.count_messages().await.unwrap() == 2
    })
    .await;
    assert_eq!(desk.store.count_tickets().await.unwrap(), 1);
    let detail = desk.store.ticket("SD-00001").await.unwrap();
    assert_eq!(detail.messages.len(), 2);
    let copy = loket::domain::Event::Copy { mailbox: loket::domain::MailboxName::parse("facility-old").unwrap() };
    assert!(detail.events.iter().any(|e| e.data.as_ref() == Some(&copy)), "{:?}", detail.events);
    // Give the outbox a moment: still one acknowledgement and one forward.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(desk.count(ANNA), 1);
    assert_eq!(desk.count("it-queue@example.org") + desk.count("facility-queue@example.org"), 1);
    desk.stop().await;
}
