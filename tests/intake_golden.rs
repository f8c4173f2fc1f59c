//! Golden tests for intake and the guard over real-world messages.
//!
//! Each `tests/fixtures/mime/NAME.eml` stands beside `NAME.json`, the expected
//! normalised view. A mismatch writes `NAME.json.failed` beside it to compare;
//! `LOKET_BLESS=1` rewrites the expected files after a deliberate change.
//! Every fixture is also read with its line endings switched (LF and CRLF) and
//! must normalise the same.
//!
//! The fuzzing harness (`fuzz/`) lives in this binary too: mutated fixtures fed
//! to every pure stage.

#[path = "fuzz/mod.rs"]
mod fuzz;

use std::path::{Path, PathBuf};

use loket::domain::EmailAddress;
use loket::inbound::guard::{self, Verdict};
use loket::inbound::intake::{self, Normalised};
use serde_json::{Value, json};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mime");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    assert!(files.len() >= 60, "the fixtures folder holds only {} messages", files.len());
    files
}

fn own() -> Vec<EmailAddress> {
    vec![EmailAddress::parse("servicedesk@example.org").unwrap()]
}

fn excerpt(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    text.trim().chars().take(160).collect()
}

/// What a person checking intake looks at; line-ending noise is folded.
fn view(raw: &[u8]) -> Value {
    match intake::parse(raw) {
        Err(error) => json!({ "error": error.to_string() }),
        Ok(message) => normalised_view(&message),
    }
}

fn normalised_view(m: &Normalised) -> Value {
    let verdict = match guard::assess(m, &own()) {
        Verdict::Person => json!("person"),
        Verdict::Automatic { kind, reason } => json!({ "kind": kind, "reason": reason }),
    };
    json!({
        "message_id": m.message_id,
        "in_reply_to": m.in_reply_to,
        "references": m.references,
        "from": m.from,
        "reply_to": m.reply_to,
        "to": m.to.len(),
        "cc": m.cc.len(),
        "subject": m.subject,
        "date_ms": m.date_ms,
        "text": excerpt(&m.text),
        "html": m.html.is_some(),
        "attachments": m.attachments,
        "markers": m.markers,
        "verdict": verdict,
    })
}

fn switch_line_endings(raw: &[u8]) -> Option<Vec<u8>> {
    let has_crlf = raw.windows(2).any(|w| w == b"\r\n");
    let has_lone_lf = raw.iter().enumerate().any(|(i, &b)| b == b'\n' && (i == 0 || raw[i - 1] != b'\r'));
    match (has_crlf, has_lone_lf) {
        (true, false) => {
            Some(String::from_utf8_lossy(raw).replace("\r\n", "\n").into_bytes()).filter(|_| raw.is_ascii())
        }
        (false, true) => {
            Some(String::from_utf8_lossy(raw).replace('\n', "\r\n").into_bytes()).filter(|_| raw.is_ascii())
        }
        // Mixed or CR-only endings are the point of those fixtures: left as they are.
        _ => None,
    }
}

/// Messages that mail-parser 0.11 reads differently with LF and with CRLF line
/// endings (an empty header value followed by a bare LF loses the Subject).
const LINE_ENDING_QUIRKS: &[&str] = &["mikel__error_emails__missing_content_disposition.eml"];

/// Part sizes count line-end bytes, so they differ between LF and CRLF.
fn without_sizes(mut view: Value) -> Value {
    if let Some(list) = view.get_mut("attachments").and_then(Value::as_array_mut) {
        for attachment in list {
            attachment["size"] = Value::Null;
        }
    }
    view
}

#[test]
fn every_fixture_normalises_as_recorded() {
    let bless = std::env::var_os("LOKET_BLESS").is_some();
    let mut failures = Vec::new();
    for path in fixtures() {
        let raw = std::fs::read(&path).unwrap();
        let actual = view(&raw);
        let expected_path = path.with_extension("json");
        let pretty = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        if bless {
            std::fs::write(&expected_path, &pretty).unwrap();
            continue;
        }
        let expected: Value = match std::fs::read_to_string(&expected_path) {
            Ok(text) => serde_json::from_str(&text).unwrap(),
            Err(_) => Value::Null,
        };
        let failed_path = path.with_extension("json.failed");
        if expected != actual {
            std::fs::write(&failed_path, &pretty).unwrap();
            failures.push(path.file_name().unwrap().to_string_lossy().into_owned());
            continue;
        } else {
            let _ = std::fs::remove_file(&failed_path);
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(switched) = switch_line_endings(&raw)
            && without_sizes(view(&switched)) != without_sizes(actual)
            && !LINE_ENDING_QUIRKS.contains(&name.as_str())
        {
            failures.push(format!("{name} with its line endings switched"));
        }
    }
    assert!(failures.is_empty(), "golden mismatches (see *.json.failed): {failures:?}");
}

/// The manifest says what each message is; the guard must agree on every
/// bounce and auto-reply, and must never call a person's message automatic.
#[test]
fn the_guard_recognises_every_bounce_and_auto_reply_in_the_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mime");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in manifest.lines().skip(1) {
        let mut fields = line.split('\t');
        let (file, kind) = (fields.next().unwrap(), fields.next().unwrap());
        let raw = std::fs::read(dir.join(file)).unwrap();
        let Ok(message) = intake::parse(&raw) else { continue };
        let verdict = guard::assess(&message, &own());
        let ok = match kind {
            "bounce" | "autoreply" => verdict.is_automatic(),
            "normal" => {
                !verdict.is_automatic() || message.markers.list_id.is_some() || message.markers.precedence.is_some()
            }
            _ => true,
        };
        if !ok {
            wrong.push(format!("{file} ({kind}): {verdict:?}"));
        }
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} fixtures checked");
    assert!(wrong.is_empty(), "the guard misjudged:\n{}", wrong.join("\n"));
}

/// Hostile input: every fixture cut short at many places and with bytes
/// overwritten still reads as a message or as a clear error, never a panic.
#[test]
fn truncated_and_corrupted_messages_never_panic() {
    let mut tried = 0;
    for path in fixtures() {
        let raw = std::fs::read(&path).unwrap();
        let step = (raw.len() / 40).max(1);
        for cut in (0..raw.len()).step_by(step) {
            let mut damaged = raw[..cut].to_vec();
            let _ = intake::parse(&damaged);
            if let Some(byte) = damaged.get_mut(cut / 2) {
                *byte = [0x00, b'\r', b'=', 0xff][cut % 4];
            }
            if let Ok(message) = intake::parse(&damaged) {
                let _ = guard::assess(&message, &own());
            }
            tried += 1;
        }
    }
    assert!(tried > 2000, "only {tried} damaged messages tried");
}
