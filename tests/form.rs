//! The web form at /new, end to end: a person fills it in in a real browser, the
//! confirmation mail arrives at the SMTP server, its link shows a button that
//! opens the ticket once (acknowledgement and forward sent as for mail); what is
//! refused: a link that was altered or has expired, a form without its
//! anti-forgery token or its cookie, an address outside the organisation, and
//! one request too many; and what a link fetched by a mail scanner, or followed
//! again after the status link was revoked, gives away: nothing.

use std::time::Duration;

use loket::sign::Signer;

use crate::support::browser::Driver;
use crate::support::desk::{ANNA, Desk, message_id, text};
use crate::support::{eventually, http};

pub async fn form_served(base: &str) {
    eventually("the web form", Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.is_ok()
    })
    .await;
}

fn confirm_link(mail_text: &str) -> String {
    mail_text.split_whitespace().find(|w| w.contains("/new/confirm?")).expect("a confirmation link").to_owned()
}

/// Posts the link's fields as its page's button does.
async fn confirm(link: &str) -> http::Answer {
    let (page, query) = link.split_once('?').expect("a link with its fields");
    http::post(page, &[], "application/x-www-form-urlencoded", query.as_bytes()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_on_the_web_form_becomes_a_ticket_once_when_its_address_is_confirmed() {
    let desk = Desk::start(false).await;
    let base = desk.config.desk.base_url.clone();
    form_served(&base).await;
    let files = tempfile::tempdir().unwrap();
    let photo = files.path().join("scherm.png");
    std::fs::write(&photo, b"\x89PNG\r\n\x1a\nnot really a picture").unwrap();

    let url = format!("{base}/new?lang=nl");
    let (mut browser, sent) = tokio::task::spawn_blocking(move || {
        let mut browser = Driver::start();
        browser.open(&url);
        browser.fill("name", "Anna de Vries");
        browser.fill("address", ANNA);
        browser.fill("subject", "Laptop start niet");
        browser
            .fill("description", "Mijn laptop start niet meer sinds de update van gisteren. Het scherm blijft zwart.");
        browser.choose_file("attachment", &photo);
        browser.screenshot("form-phone.png");
        browser.click_and_wait("send");
        browser.screenshot("form-sent-phone.png");
        let sent = browser.html();
        (browser, sent)
    })
    .await
    .unwrap();
    assert!(sent.contains("Bevestig je adres") && sent.contains(ANNA), "{sent}");
    assert_eq!(desk.store.list_tickets(100).await.unwrap().len(), 0, "nothing opened yet");

    let confirmation = desk.mail(ANNA, "form", 1).await;
    let body = text(&confirmation);
    assert!(body.contains("Laptop start niet") && body.contains("24 uur"), "{body}");
    let link = confirm_link(&body);

    let (button, ticket_url, page) = tokio::task::spawn_blocking(move || {
        browser.open(&link);
        let button = browser.html();
        browser.screenshot("form-confirm-phone.png");
        browser.click_and_wait("confirm");
        browser.screenshot("form-ticket-phone.png");
        (button, browser.url(), browser.html())
    })
    .await
    .unwrap();
    assert!(button.contains("Bevestig je verzoek") && button.contains("Bevestigen"), "{button}");
    assert!(ticket_url.contains("/t/SD-"), "the link leads to the ticket's status page: {ticket_url}");
    assert!(page.contains("Laptop start niet"), "{page}");

    let ack = desk.mail(ANNA, "ack", 1).await;
    assert!(text(&ack).contains("SD-00001"), "{}", text(&ack));
    let forwarded = || {
        desk.sink
            .received()
            .into_iter()
            .find(|m| message_id(m).contains(".fwd."))
            .map(|m| (m.rcpt_tos.clone(), m.bytes))
    };
    eventually("the forward to the department", Duration::from_secs(60), || async { forwarded().is_some() }).await;
    let (queue, bytes) = forwarded().unwrap();
    assert_eq!(queue, ["it-queue@example.org"], "a laptop is IT's");
    let forward = String::from_utf8_lossy(&bytes);
    assert!(forward.contains("scherm.png"), "the attachment travels with the request");

    // The link again, as a person clicking twice: the same ticket, no second one.
    let again = http::get(&confirm_link(&body)).await;
    assert_eq!(again.status, 200);
    assert!(again.body.contains("Al bevestigd") && !again.body.contains("/t/SD-"), "{}", again.body);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(desk.store.list_tickets(100).await.unwrap().len(), 1);
    let acks = desk.sink.received().iter().filter(|m| message_id(m).contains(".ack.")).count();
    assert_eq!(acks, 1, "one acknowledgement");
    desk.stop().await;
}

/// The page's cookie and anti-forgery token.
pub async fn fresh_form(base: &str) -> (String, String) {
    let page = http::get(&format!("{base}/new?lang=en")).await;
    assert_eq!(page.status, 200);
    let cookie = page.headers.get("set-cookie").expect("a cookie").split(';').next().unwrap().to_owned();
    let token = page.body.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    (cookie, token)
}

pub async fn send_form(base: &str, cookie: &str, token: Option<&str>, address: &str) -> http::Answer {
    let boundary = "----loket-test";
    let mut fields =
        vec![("name", "Anna"), ("address", address), ("subject", "Chair"), ("description", "My chair broke.")];
    if let Some(token) = token {
        fields.push(("csrf", token));
    }
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let content_type = format!("multipart/form-data; boundary={boundary}");
    http::post(&format!("{base}/new?lang=en"), &[("Cookie", cookie)], &content_type, body.as_bytes()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_form_refuses_forged_forms_outside_addresses_too_many_requests_and_altered_or_expired_links() {
    let desk = Desk::start_with(false, "\n[form]\nmax_per_address_per_hour = 2\n").await;
    let base = desk.config.desk.base_url.clone();
    form_served(&base).await;
    let (cookie, token) = fresh_form(&base).await;

    let replayed = send_form(&base, &cookie, None, ANNA).await;
    assert_eq!(replayed.status, 403, "a form sent again without its token");
    assert!(replayed.body.contains("fill it in again"), "{}", replayed.body);
    let (other_cookie, _) = fresh_form(&base).await;
    assert_eq!(send_form(&base, &other_cookie, Some(&token), ANNA).await.status, 403, "another browser's token");

    let outside = send_form(&base, &cookie, Some(&token), "mallory@elsewhere.example.net").await;
    assert_eq!(outside.status, 422);
    assert!(outside.body.contains("work e-mail address"), "{}", outside.body);

    for _ in 0..2 {
        let sent = send_form(&base, &cookie, Some(&token), ANNA).await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        assert!(sent.body.contains("Confirm your address"));
    }
    let third = send_form(&base, &cookie, Some(&token), "Anna@Example.org").await;
    assert_eq!(third.status, 429, "a third request from one address within the hour");

    let link = confirm_link(&text(&desk.mail(ANNA, "form", 1).await));
    let signature = link.rsplit_once("s=").unwrap().1.to_owned();
    let flipped = if signature.ends_with('0') { "1" } else { "0" };
    let altered = format!("{}{flipped}", &link[..link.len() - 1]);
    assert_eq!(http::get(&altered).await.status, 404, "an altered link");
    let id = link.split("r=").nth(1).and_then(|r| r.split('&').next()).unwrap();
    let signer = Signer::new(desk.store.signing_secret(&loket::sign::new_secret()).await.unwrap().as_bytes());
    let past = loket::clock::now_ms() - 1_000;
    let expired = format!("{base}/new/confirm?r={id}&e={past}&s={}", signer.confirm_signature(id, past));
    let refused = http::get(&expired).await;
    assert_eq!(refused.status, 404, "an expired link");
    assert!(refused.body.contains("expired"), "{}", refused.body);
    assert_eq!(desk.store.list_tickets(100).await.unwrap().len(), 0, "nothing was opened");
    assert_eq!(http::get(&link).await.status, 200, "the link as mailed still works");
    assert_eq!(confirm(&link).await.status, 303);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scanner_fetching_the_confirmation_link_opens_nothing_and_the_button_opens_the_ticket_once() {
    let desk = Desk::start(false).await;
    let base = desk.config.desk.base_url.clone();
    form_served(&base).await;
    let (cookie, token) = fresh_form(&base).await;
    assert_eq!(send_form(&base, &cookie, Some(&token), ANNA).await.status, 200);
    let link = confirm_link(&text(&desk.mail(ANNA, "form", 1).await));

    // A mail scanner (or a preview) fetches the link, twice.
    for _ in 0..2 {
        let page = http::get(&link).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Confirm your request") && page.body.contains("id=\"confirm\""), "{}", page.body);
        assert!(page.body.contains("action=\"/new/confirm\"") && page.body.contains("method=\"post\""));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(desk.store.list_tickets(100).await.unwrap().len(), 0, "fetching the link opens nothing");

    // The person presses the button, and again.
    let opened = confirm(&link).await;
    assert_eq!(opened.status, 303);
    let status_page = opened.headers.get("location").cloned().unwrap_or_default();
    assert!(status_page.starts_with("/t/SD-00001?k="), "{status_page}");
    let again = confirm(&link).await;
    assert_eq!(again.status, 200);
    assert!(again.body.contains("Already confirmed") && !again.body.contains("/t/SD-"), "{}", again.body);
    assert_eq!(desk.store.list_tickets(100).await.unwrap().len(), 1, "one ticket");
    desk.mail(ANNA, "ack", 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let acks = desk.sink.received().iter().filter(|m| message_id(m).contains(".ack.")).count();
    assert_eq!(acks, 1, "one acknowledgement");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_confirmation_link_does_not_bring_back_a_revoked_status_link() {
    let desk = Desk::start(false).await;
    let base = desk.config.desk.base_url.clone();
    form_served(&base).await;
    let (cookie, token) = fresh_form(&base).await;
    assert_eq!(send_form(&base, &cookie, Some(&token), ANNA).await.status, 200);
    let link = confirm_link(&text(&desk.mail(ANNA, "form", 1).await));
    let opened = confirm(&link).await;
    assert_eq!(opened.status, 303);
    let first = opened.headers.get("location").cloned().unwrap_or_default();

    // The status link leaked; the operator takes it back; someone with the confirmation mail tries again.
    desk.store.revoke_link("SD-00001", loket::clock::now_ms()).await.unwrap();
    assert_eq!(http::get(&format!("{base}{first}")).await.status, 404, "the old status link is revoked");
    for answer in [http::get(&link).await, confirm(&link).await] {
        assert_eq!(answer.status, 200);
        assert!(!answer.headers.contains_key("location"));
        assert!(answer.body.contains("Already confirmed"), "{}", answer.body);
        assert!(!answer.body.contains("k=") && !answer.body.contains("/t/SD-"), "no status link: {}", answer.body);
    }
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_post_without_the_pages_cookie_is_refused_before_its_body_is_sent() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let desk = Desk::start(false).await;
    let base = desk.config.desk.base_url.clone();
    form_served(&base).await;
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    let head = "POST /new HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n\
                Content-Length: 5000000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0_u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer while the body is not sent");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    desk.stop().await;
}
