//! The web form under attack: many forms sent at one moment for one address
//! queue no more confirmation mails than its limit allows (on SQLite and on
//! PostgreSQL), and clients posting large forms slowly hold only a few of the
//! reading slots, so their bodies cannot fill the memory.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::form::{form_served, fresh_form, send_form};
use crate::support::desk::{ANNA, Desk, message_id};

const LIMIT: usize = 3;

async fn forms_sent_at_once_for_one_address_queue_at_most_its_limit_of_confirmations(postgres: bool) {
    let limits = format!("\n[form]\nmax_per_address_per_hour = {LIMIT}\nmax_per_client_per_hour = 100\n");
    let desk = Desk::start_with(postgres, &limits).await;
    let base = desk.config.desk.base_url.clone();
    form_served(&base).await;
    let (cookie, token) = fresh_form(&base).await;

    // One page's cookie and token, sent 20 times at the same moment.
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (base, cookie, token) = (base.clone(), cookie.clone(), token.clone());
        sends.spawn(async move { send_form(&base, &cookie, Some(&token), ANNA).await.status });
    }
    let statuses = sends.join_all().await;
    let sent = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((sent, refused), (LIMIT, 20 - LIMIT), "{statuses:?}");

    desk.mail(ANNA, "form", LIMIT).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let confirmations = desk
        .sink
        .received()
        .iter()
        .filter(|m| m.rcpt_tos.iter().any(|r| r == ANNA) && message_id(m).contains(".form."))
        .count();
    assert_eq!(confirmations, LIMIT, "the address gets no more confirmation mails than its limit");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_forms_sent_at_once_for_one_address_queue_no_more_confirmations_than_its_limit_on_sqlite() {
    forms_sent_at_once_for_one_address_queue_at_most_its_limit_of_confirmations(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_forms_sent_at_once_for_one_address_queue_no_more_confirmations_than_its_limit_on_postgres() {
    forms_sent_at_once_for_one_address_queue_at_most_its_limit_of_confirmations(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_sending_large_forms_slowly_hold_only_the_form_reading_slots_and_others_go_on_after_them() {
    let desk = Desk::start(false).await;
    let base = desk.config.desk.base_url.clone();
    form_served(&base).await;
    let host = base.trim_start_matches("http://").to_owned();

    // Every slot taken by a client that announces 5 MB and sends nothing more.
    let mut slow = Vec::new();
    for _ in 0..loket::web::form::BODIES_AT_ONCE {
        let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
        let head = format!(
            "POST /new HTTP/1.1\r\nHost: x\r\nCookie: loket_form={}\r\n\
             Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000000\r\n\r\n--b\r\n",
            "0".repeat(32)
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A person's form waits for a slot instead of being read beside them.
    let (cookie, token) = fresh_form(&base).await;
    let person = tokio::spawn(async move { send_form(&base, &cookie, Some(&token), ANNA).await.status });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!person.is_finished(), "a further form is read only when a slot is free");

    drop(slow.pop());
    let status = tokio::time::timeout(Duration::from_secs(10), person).await.expect("answered once a slot is free");
    assert_eq!(status.unwrap(), 200);
    drop(slow);
    desk.stop().await;
}
