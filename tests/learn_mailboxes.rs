//! Learning from the old mailboxes (`routing.learn_from_mailboxes`): the backlog
//! they held when loket first connected, labelled by the mailbox it was sent to.

use std::sync::Arc;

use loket::config::Config;
use loket::inbound::language::Language;
use loket::pipeline::plan::{Incoming, Plan, Rules, plan_parsed};
use loket::routing::classify::{Arrival, Classifier, Model, Routing};

use crate::support::{loket, request};

fn learning(dir: &std::path::Path, store_url: &str, learn: bool) -> Arc<Config> {
    let mut extra = format!("[outbox]\nfile_dir = \"out\"\n[routing]\nlearn_from_mailboxes = {learn}\n");
    for (name, department) in [("it-old", Some("it")), ("hr-old", Some("hr")), ("desk", None)] {
        let department = department.map(|d| format!("department = \"{d}\"\n")).unwrap_or_default();
        extra.push_str(&format!(
            "[[mailboxes]]\nname = \"{name}\"\n{department}maildir = \"{}\"\n",
            dir.join(name).display()
        ));
    }
    let text = crate::support::config_text(store_url, 143, &[], &extra);
    Arc::new(loket::config::load_str(&text).unwrap())
}

/// Stores `raw` as mail taken in from `mailbox`, as backlog already read or as new mail.
async fn take_in(
    config: &Arc<Config>,
    store: &loket::store::Store,
    mailbox: &str,
    key: &str,
    raw: Vec<u8>,
    backlog: bool,
) {
    let signer = loket::app::signer(&config.desk, store).await.unwrap();
    let renderer = loket::outbound::render::Renderer::load(None).unwrap();
    let respond = loket::desk::Respond::new(loket::desk::Settings::from_config(config), renderer, signer.clone());
    let mailbox = loket::config::mailbox_named(&config.mailboxes, mailbox).unwrap();
    let incoming = Incoming {
        mailbox: mailbox.name.clone(),
        source_key: key.to_owned(),
        imap: None,
        size: raw.len() as u64,
        raw,
        truncated: false,
        backlog,
        received_at_ms: loket::clock::now_ms(),
        seen: backlog,
    };
    let rules = Rules::from_config(config, signer, Arc::new(Routing::from_config(config)));
    let plan: Plan = plan_parsed(&rules, mailbox, &incoming, loket::inbound::intake::parse(&incoming.raw));
    loket::pipeline::store_group(store, &[(&incoming, &plan)], "SD", &respond, loket::clock::now_ms()).await.unwrap();
}

fn ask(config: &Arc<Config>, model: Model) -> loket::routing::classify::Decision {
    let raw = "From: a@example.org\r\nSubject: Peoplesoft loonrun\r\n\r\nDe Peoplesoft loonrun mist de mutaties.\r\n";
    let message = loket::inbound::intake::parse(raw.as_bytes()).unwrap();
    let settings = Arc::new(loket::routing::Settings::from_config(config));
    Classifier::new(settings.clone(), Arc::new(model)).decide_at(&Arrival::desk(&settings), &message, Language::Nl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_mailboxes_backlog_teaches_the_model_the_organisations_own_words_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    backlog_teaches(dir.path(), &crate::support::sqlite_url(dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_mailboxes_backlog_teaches_the_model_the_organisations_own_words_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = crate::support::postgres::Postgres::start();
    backlog_teaches(dir.path(), &postgres.database("learn").await).await;
}

async fn backlog_teaches(dir: &std::path::Path, store_url: &str) {
    let config = learning(dir, store_url, true);
    let store = loket::app::open_store(&config.store).await.unwrap();
    // The HR mailbox's backlog speaks of the payroll system by its own name; the
    // IT mailbox's of laptops.
    for i in 0..12 {
        let hr = request(
            "Anna <anna@example.org>",
            "hr@example.org",
            &format!("Peoplesoft loonrun {i}"),
            &format!("De Peoplesoft loonrun van periode {i} mist de mutaties van de cao-indexering."),
            &format!("hr-{i}@t"),
        );
        take_in(&config, &store, "hr-old", &format!("hr-{i}"), hr, true).await;
        let it = request(
            "Bob <bob@example.org>",
            "it@example.org",
            &format!("Laptop {i}"),
            &format!("My laptop number {i} does not start."),
            &format!("it-{i}@t"),
        );
        take_in(&config, &store, "it-old", &format!("it-{i}"), it, true).await;
    }
    // Not learnt from: an out-of-office reply in the backlog, a new request whose
    // department nobody has confirmed yet, and mail to the desk's own inbox.
    let away = b"From: Sanne <sanne@example.org>\r\nTo: hr@example.org\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@t>\r\n\r\nPeoplesoft loonrun away.\r\n";
    take_in(&config, &store, "hr-old", "ooo", away.to_vec(), true).await;
    let open = request("Anna <anna@example.org>", "it@example.org", "Peoplesoft", "Peoplesoft loonrun.", "new@t");
    take_in(&config, &store, "it-old", "new", open, false).await;
    let desk = request("Anna <anna@example.org>", "desk@example.org", "Laptop", "Laptop kapot.", "desk@t");
    take_in(&config, &store, "desk", "desk", desk, true).await;
    assert_eq!(store.count_tickets().await.unwrap(), 27);

    let off = learning(dir, store_url, false);
    let without = loket::routing::learn::train(&loket::routing::Settings::from_config(&off), &store).await.unwrap();
    assert_eq!(without.from_mailboxes(), 0, "nothing is learnt from the mailboxes unless asked");
    let before = ask(&off, without.model);
    assert_ne!(before.department.as_str(), "hr", "{}", before.reason);

    let training = loket::routing::learn::train(&loket::routing::Settings::from_config(&config), &store).await.unwrap();
    assert_eq!(training.from_mailboxes_by_department.get("hr"), Some(&12));
    assert_eq!(training.from_mailboxes_by_department.get("it"), Some(&12));
    assert_eq!(training.from_mailboxes(), 24);
    assert!(!training.mailboxes_read.full);
    let after = ask(&config, training.model);
    assert_eq!(after.department.as_str(), "hr", "{}", after.reason);

    // Capped, the newest requests are the ones learnt from: the last pair taken in.
    let mut capped = (*config).clone();
    capped.routing.max_own_examples = 4;
    let training = loket::routing::learn::train(&loket::routing::Settings::from_config(&capped), &store).await.unwrap();
    assert!(training.mailboxes_read.full);
    // The newest mail (to the desk's inbox, and a request nobody has confirmed
    // yet) teaches nothing and does not take the place of the backlog.
    assert_eq!(training.from_mailboxes(), 4);
    // Exactly as many as may be read is not more.
    let all = store.mailbox_requests(&homes(), bounds(1_000)).await.unwrap().0.len();
    capped.routing.max_own_examples = all;
    let training = loket::routing::learn::train(&loket::routing::Settings::from_config(&capped), &store).await.unwrap();
    assert!(!training.mailboxes_read.full, "{all} requests, {all} may be read");
    let newest = store.mailbox_requests(&homes(), bounds(6)).await.unwrap().0;
    let subjects: Vec<&str> = newest.iter().map(|r| r.subject.as_str()).collect();
    assert!(subjects.contains(&"Peoplesoft loonrun 11") && subjects.contains(&"Laptop 11"), "{subjects:?}");
    assert!(!subjects.iter().any(|s| s.ends_with(" 0")), "{subjects:?}");

    // A request without a Message-ID, and ten follow-ups without one either: it
    // is one request to learn from, and the others still count.
    let eve = b"From: Eve <eve@example.org>\r\nTo: hr@example.org\r\nSubject: Vraag\r\n\r\nHoe zit het met mijn contract?\r\n";
    take_in(&config, &store, "hr-old", "eve", eve.to_vec(), true).await;
    let (reference, _) = store.ticket_of_source("hr-old", "eve").await.unwrap().unwrap();
    for i in 0..10 {
        let follow = format!(
            "From: Eve <eve@example.org>\r\nTo: hr@example.org\r\nSubject: Re: [{reference}] Vraag\r\n\r\nEn nog iets, {i}.\r\n"
        );
        take_in(&config, &store, "hr-old", &format!("eve-{i}"), follow.into_bytes(), true).await;
    }
    assert_eq!(store.count_tickets().await.unwrap(), 28, "the follow-ups joined Eve's ticket");
    let newest = store.mailbox_requests(&homes(), bounds(3)).await.unwrap().0;
    let subjects: Vec<&str> = newest.iter().map(|r| r.subject.as_str()).collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert_eq!(subjects.iter().filter(|s| s.contains("Vraag")).count(), 1, "{subjects:?}");
    assert!(subjects.contains(&"Vraag"), "the opening mail, not a follow-up: {subjects:?}");
    store.close().await;
}

fn homes() -> Vec<(loket::domain::MailboxName, loket::domain::DepartmentId)> {
    [("it-old", "it"), ("hr-old", "hr")]
        .into_iter()
        .map(|(m, d)| (loket::domain::MailboxName::parse(m).unwrap(), loket::domain::DepartmentId::parse(d).unwrap()))
        .collect()
}

fn bounds(requests: usize) -> loket::domain::TextBounds {
    loket::domain::TextBounds { requests, ..loket::domain::TextBounds::WHOLE }
}

/// Where the Endava tickets are (`../shared/eval/tickets` beside the project, or
/// `LOKET_EVAL_TICKETS`); they are not part of the project.
fn endava() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("LOKET_EVAL_TICKETS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval/tickets"));
    (dir.join("history.csv").exists() && dir.join("tickets.csv").exists()).then_some(dir)
}

/// `loket eval --json` on Endava's tickets, HR Support against the IT labels.
fn macro_f1(tickets: &std::path::Path, dir: &std::path::Path) -> f64 {
    let csv = tickets.join("tickets.csv");
    let mut args = vec!["eval", "--json", "--config", "loket.toml", "--csv", csv.to_str().unwrap()];
    for map in [
        "Hardware=it",
        "Access=it",
        "Storage=it",
        "Administrative rights=it",
        "Purchase=it",
        "HR Support=hr",
        "Miscellaneous=-",
        "Internal Project=-",
    ] {
        args.extend(["--map", map]);
    }
    let report: serde_json::Value = serde_json::from_str(&loket(&args, dir)).unwrap();
    // The shape scripts rely on: labels, and the confusion with a row per true label.
    let labels = report["report"]["labels"].as_array().unwrap();
    assert_eq!(report["report"]["confusion"].as_array().unwrap().len(), labels.len());
    assert!(report["decision_ms"]["p99"].as_f64().is_some(), "{report}");
    assert!(report["model_memory_mib"].as_f64().unwrap() < 64.0, "{report}");
    report["report"]["macro_f1"].as_f64().unwrap()
}

/// An organisation's old HR and IT mailboxes hold a few hundred requests already
/// read (other Endava tickets, HR Support in HR's mailbox and the rest in IT's);
/// loket takes them in as history through IMAP, `loket train` learns from them
/// and says how many each department gave, and the stored model routes Endava's
/// tickets better than the one trained on the shipped examples alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_of_real_imap_mailboxes_is_learnt_by_loket_train_and_routes_real_tickets_better() {
    let Some(tickets) = endava() else {
        eprintln!("skipped: the Endava tickets are not beside the project (set LOKET_EVAL_TICKETS)");
        return;
    };
    let dovecot = crate::support::dovecot::Dovecot::start(&["hr", "it"]);
    let dir = tempfile::tempdir().unwrap();
    let mailboxes = [
        crate::support::TestMailbox::new("hr-old", "hr", "hr"),
        crate::support::TestMailbox::new("it-old", "it", "it"),
    ];
    let text = crate::support::config_text(
        &crate::support::sqlite_url(dir.path()),
        dovecot.port,
        &mailboxes,
        "[routing]\nlearn_from_mailboxes = true\n",
    );
    std::fs::write(dir.path().join("loket.toml"), &text).unwrap();
    let config = Arc::new(loket::config::load_str(&text).unwrap());
    let before = macro_f1(&tickets, dir.path());

    // Every tenth of the 3,324 history tickets, each to the old mailbox its label says.
    let history = std::fs::read_to_string(tickets.join("history.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(history.as_bytes());
    let (mut hr, mut it) = (Vec::new(), Vec::new());
    for (i, record) in reader.records().enumerate().filter(|(i, _)| i % 10 == 0) {
        let record = record.unwrap();
        let (subject, body, label) = (&record[1], &record[2], &record[3]);
        let (list, to) = if label == "HR Support" { (&mut hr, "hr@example.org") } else { (&mut it, "it@example.org") };
        list.push(request("Anna <anna@example.org>", to, subject, body, &format!("h{i}@t")));
    }
    for (user, mails) in [("hr", &hr), ("it", &it)] {
        let mut session = crate::support::imap::login(dovecot.port, user).await;
        for raw in mails.iter() {
            session.append("INBOX", Some("(\\Seen)"), None, raw).await.unwrap();
        }
        session.logout().await.unwrap();
    }
    let total = (hr.len() + it.len()) as i64;
    assert!(total >= 300, "{total} requests");

    let shutdown = tokio_util::sync::CancellationToken::new();
    let daemon = tokio::spawn(loket::app::run(config.clone(), shutdown.clone()));
    let store = loket::app::open_store(&config.store).await.unwrap();
    crate::support::eventually("every backlog request taken in", std::time::Duration::from_secs(60), || async {
        store.count_tickets().await.unwrap() >= total
    })
    .await;
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
    store.close().await;

    let trained = loket(&["train", "--config", "loket.toml"], dir.path());
    let counts = format!("from the old mailboxes: hr {}, it {}", hr.len(), it.len());
    assert!(trained.contains(&counts), "{trained}");
    let after = macro_f1(&tickets, dir.path());
    println!("Endava, HR Support against the IT labels: macro-F1 {before:.3} before, {after:.3} after");
    assert!(after >= before + 0.05, "macro-F1 {before:.3} before, {after:.3} after learning from the mailboxes");
}

/// The same history as another desk tool's export (all 3,324 other Endava
/// tickets, HR Support as `hr` and the rest as `it`) through
/// `routing.examples_file`, on the out-of-the-box `routing.model = "auto"`:
/// `loket train` measures both kinds on that export, says which it keeps, and
/// the stored model reaches issue 10's target on the tickets it never saw.
#[test]
fn another_tools_export_of_the_whole_history_routes_real_tickets_to_the_target() {
    let Some(tickets) = endava() else {
        eprintln!("skipped: the Endava tickets are not beside the project (set LOKET_EVAL_TICKETS)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let history = std::fs::read_to_string(tickets.join("history.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(history.as_bytes());
    let mut export = csv::Writer::from_path(dir.path().join("export.csv")).unwrap();
    export.write_record(["subject", "body", "department"]).unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        let department = if &record[3] == "HR Support" { "hr" } else { "it" };
        export.write_record([&record[1], &record[2], department]).unwrap();
    }
    export.flush().unwrap();
    let text = crate::support::config_text(
        &crate::support::sqlite_url(dir.path()),
        143,
        &[],
        "[routing]\nexamples_file = \"export.csv\"\n",
    );
    std::fs::write(dir.path().join("loket.toml"), text).unwrap();

    let trained = loket(&["train", "--config", "loket.toml"], dir.path());
    assert!(trained.contains("3324 from routing.examples_file"), "{trained}");
    assert!(trained.contains("routing.model = \"auto\": on your 3324 own examples"), "{trained}");
    let after = macro_f1(&tickets, dir.path());
    println!("{trained}\nEndava, HR Support against the IT labels, after the export: macro-F1 {after:.3}");
    assert!(after >= 0.85, "macro-F1 {after:.3}");
}
