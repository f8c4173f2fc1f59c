//! The web form under attack: many forms sent at one moment for one address
//! queue no more confirmation mails than its limit allows (on SQLite and on
//! PostgreSQL).

use std::time::Duration;

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
