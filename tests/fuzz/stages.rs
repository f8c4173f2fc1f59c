//! The properties: what must hold for every input, however broken.

use loket::domain::{EmailAddress, MailboxName};
use loket::inbound::guard::{self, AutoKind, Verdict};
use loket::inbound::intake::{self, Normalised};
use loket::inbound::language::{self, Language};
use loket::inbound::quote;
use loket::inbound::thread::{self, Clue, Participants};
use loket::pipeline::plan::{self, Incoming, Plan};
use loket::routing::classify::text;
use proptest::prelude::*;

use super::mutate::{self, Mutation};
use super::{attachment_data, config, keep_if_panics, parse, proptest_config, routing, seeds, signed_id, signer};

/// Decoding (charsets, base64, quoted-printable, HTML to text) never makes text
/// longer than this many bytes per raw byte.
const GROWTH: usize = 4;

fn mutated(seed: usize, mutations: &[Mutation]) -> Vec<u8> {
    mutate::apply(seeds(), seed, mutations, signed_id())
}

fn own() -> Vec<EmailAddress> {
    vec![EmailAddress::parse("servicedesk@example.org").unwrap()]
}

/// Intake's promises: a clean reading no bigger than the input allows, the same twice.
fn check_intake(raw: &[u8]) -> Option<Normalised> {
    let parsed = parse(raw)?;
    assert_eq!(Some(&parsed), parse(raw).as_ref(), "parsing the same bytes twice differs");
    if raw.iter().all(u8::is_ascii_whitespace) {
        assert_eq!(parsed, Err(intake::IntakeError::Empty));
    }
    let message = parsed.ok()?;
    let bound = GROWTH * raw.len() + 64;
    assert_eq!(message.sha256, intake::sha256_hex(raw));
    assert!(message.subject.len() <= bound, "subject of {} bytes", message.subject.len());
    assert!(!message.subject.chars().any(char::is_control), "control character in {:?}", message.subject);
    assert!(message.text.len() <= bound, "text of {} bytes from {} raw", message.text.len(), raw.len());
    assert!(message.html.as_ref().is_none_or(|h| h.len() <= bound));
    assert!(message.attachments.len() <= raw.len());
    for mailbox in std::iter::once(&message.from).chain(&message.reply_to).chain(&message.to).chain(&message.cc) {
        assert!(mailbox.address.contains('@') || mailbox.address == "MAILER-DAEMON", "{mailbox:?}");
        assert!(!mailbox.address.chars().any(char::is_control), "{mailbox:?}");
        assert!(mailbox.name.as_ref().is_none_or(|n| !n.chars().any(char::is_control)), "{mailbox:?}");
    }
    assert!(message.message_id.as_ref().is_none_or(|id| !id.is_empty()));
    if let Some(relayed) = attachment_data(raw) {
        let relayed: usize = relayed.iter().map(|a| a.bytes.len()).sum();
        assert!(relayed <= bound, "{relayed} attachment bytes from {} raw", raw.len());
    }
    Some(message)
}

fn check_guard(message: &Normalised, raw: &[u8]) {
    let verdict = guard::assess(message, &own());
    if let Verdict::Automatic { kind, reason } = &verdict {
        let reason = reason.to_string();
        assert!(!reason.is_empty() && reason.len() <= GROWTH * raw.len() + 256, "reason of {} bytes", reason.len());
        if message.markers.loop_marker.is_some() {
            assert_eq!(*kind, AutoKind::Loop);
        }
    }
    if message.markers.loop_marker.is_some() || message.markers.return_path.as_deref() == Some("") {
        assert!(verdict.is_automatic(), "{verdict:?} for {:?}", message.markers);
    }
}

fn check_thread(message: &Normalised) {
    let signer = signer();
    let Some(hint) = thread::hint(message, &signer, "SD") else { return };
    match &hint.clue {
        Clue::Subject => assert_eq!(thread::subject_reference(&message.subject, "SD"), Some(hint.reference.clone())),
        Clue::Signed { .. } => assert!(
            message.in_reply_to.iter().chain(&message.references).any(|id| signer.verify(id).is_some()),
            "a signed clue without a signed id"
        ),
    }
    let members = vec![message.from.address.clone()];
    let staff = loket::inbound::trust::Staff { queue: "it-queue@example.org", members: &members };
    let participants = Participants { requester: vec![message.from.address.as_str()], staff: Some(staff) };
    let proof = thread::Proof { server_checks: false, dmarc: loket::inbound::trust::Dmarc::Unknown, doubt: None };
    assert!(thread::role(&hint, &message.from.address, &participants, proof).is_some());
    let answer = thread::parse_answer(&message.text);
    assert!(answer.text.len() <= message.text.len());
}

/// The whole pure middle: guard, language, routing and threading, as the daemon plans.
fn check_plan(raw: Vec<u8>, parsed: Result<Normalised, intake::IntakeError>) {
    let config = config();
    let rules = plan::Rules::from_config(&config, signer(), routing());
    let mailbox = &config.mailboxes[raw.len() % config.mailboxes.len()];
    let incoming = Incoming {
        mailbox: MailboxName::parse("fuzz").unwrap(),
        source_key: "1/1".into(),
        imap: None,
        size: raw.len() as u64,
        raw,
        truncated: false,
        backlog: false,
        received_at_ms: 0,
        seen: false,
    };
    if let Plan::Ticket { decision, .. } = plan::plan_parsed(&rules, mailbox, &incoming, parsed) {
        assert!(config.departments.iter().any(|d| d.id == decision.department), "{decision:?}");
        assert!(!decision.reason.is_empty() && decision.evidence.len() <= 3);
        let unit = |p: f64| (0.0..=1.0 + 1e-9).contains(&p);
        assert!(decision.confidence.is_none_or(unit), "{decision:?}");
        assert!(decision.runner_up.as_ref().is_none_or(|r| unit(r.confidence)), "{decision:?}");
    }
}

/// The classifier's text preparation and the text-only stages on any text.
fn check_text(subject: &str, body: &str) {
    let new = quote::new_text(body);
    assert!(new.len() <= body.len(), "quote stripping grew {} to {}", body.len(), new.len());
    assert!(quote::one_paragraph(body).len() <= body.len());
    assert!(intake::one_line(subject).len() <= subject.len());
    let own = text::request_text(body);
    assert!(own.len() <= body.len(), "request text grew {} to {}", body.len(), own.len());
    let language = language::detect(subject, &own, Language::Nl);
    let features = text::features(subject, &own, language);
    assert_eq!(features.weights.len(), features.words.len());
    let chars = subject.chars().count() + own.chars().count();
    assert!(features.weights.len() <= 3 * chars + 1, "{} features from {chars} characters", features.weights.len());
    assert!(features.weights.values().all(|w| w.is_finite() && *w > 0.0));
    // What the features keep is linear in the text: every word is cut to
    // MAX_WORD_CHARS before its n-grams are taken.
    let retained: usize = features.words.iter().map(|(k, v)| k.len() + v.len()).sum();
    let per_char = 8 * (text::MAX_WORD_CHARS + 8);
    assert!(retained <= per_char * (subject.len() + own.len()) + 4096, "{retained} bytes kept for {chars} characters");
    let answer = thread::parse_answer(body);
    assert!(answer.text.len() <= body.len());
    assert!(answer.commands.len() + answer.rejected.len() <= body.lines().count() + 1);
    let _ = thread::subject_reference(subject, "SD");
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn mutated_messages_are_read_or_refused_and_their_reading_stays_bounded(
        (seed, mutations) in mutate::case(seeds().len())
    ) {
        let raw = mutated(seed, &mutations);
        keep_if_panics("intake", &raw, || check_intake(&raw));
    }

    #[test]
    fn the_guard_and_threading_judge_every_mutated_message_without_failing(
        (seed, mutations) in mutate::case(seeds().len())
    ) {
        let raw = mutated(seed, &mutations);
        keep_if_panics("guard-thread", &raw, || {
            if let Some(Ok(message)) = parse(&raw) {
                check_guard(&message, &raw);
                check_thread(&message);
            }
        });
    }

    #[test]
    fn every_mutated_message_is_planned_with_a_configured_department(
        (seed, mutations) in mutate::case(seeds().len())
    ) {
        let raw = mutated(seed, &mutations);
        keep_if_panics("plan", &raw, || {
            if let Some(parsed) = parse(&raw) {
                check_plan(raw.clone(), parsed);
            }
        });
    }

    #[test]
    fn quote_stripping_language_and_features_hold_on_mutated_text(
        (seed, mutations) in mutate::case(seeds().len())
    ) {
        let raw = mutated(seed, &mutations);
        keep_if_panics("text", &raw, || {
            let text = String::from_utf8_lossy(&raw);
            let (subject, body) = text.split_once('\n').unwrap_or((&text, ""));
            check_text(subject, body);
            if let Some(Ok(message)) = parse(&raw) {
                check_text(&message.subject, &message.text);
            }
        });
    }
}

/// The seeds themselves, unmutated, and every input found before (in `found/`).
#[test]
fn every_seed_and_every_input_found_before_passes_every_stage() {
    for raw in seeds() {
        keep_if_panics("seed", raw, || {
            if let Some(message) = check_intake(raw) {
                check_guard(&message, raw);
                check_thread(&message);
            }
            let text = String::from_utf8_lossy(raw);
            check_text(&text, &text);
            if let Some(parsed) = parse(raw) {
                check_plan(raw.clone(), parsed);
            }
        });
    }
}
