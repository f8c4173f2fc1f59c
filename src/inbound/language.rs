//! The employee's language, Dutch or English, from the words of their message.

use whatlang::{Detector, Lang};

pub use crate::domain::Language;

/// How sure the detector must be before its answer beats the configured default.
const MIN_CONFIDENCE: f64 = 0.5;

/// How much of a request is read to tell its language.
const DETECT_BYTES: usize = 4000;

/// The longest start of `text` of at most `bytes` bytes that ends between characters.
fn cut(text: &str, bytes: usize) -> &str {
    let end = (0..=bytes.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    &text[..end]
}

/// The language of `subject` and `body`, or `fallback` when the text is too short or
/// too mixed to tell. Quoted lines (`>`) are someone else's words and do not count.
pub fn detect(subject: &str, body: &str, fallback: Language) -> Language {
    // The subject and the first own lines, never more than is read: a huge
    // subject or body is not copied whole.
    let mut text = String::with_capacity(DETECT_BYTES + 1);
    text.push_str(cut(subject, DETECT_BYTES));
    let own = body.lines().take_while(|line| !is_quote_header(line)).filter(|line| !line.trim_start().starts_with('>'));
    for line in own {
        if text.len() > DETECT_BYTES {
            break;
        }
        text.push('\n');
        text.push_str(cut(line, DETECT_BYTES + 1 - text.len()));
    }
    text.truncate(cut(&text, DETECT_BYTES).len());
    let detector = Detector::with_allowlist(vec![Lang::Eng, Lang::Nld]);
    match detector.detect(&text) {
        Some(info) if info.confidence() >= MIN_CONFIDENCE => match info.lang() {
            Lang::Nld => Language::Nl,
            _ => Language::En,
        },
        _ => fallback,
    }
}

/// The line a mail program writes above a quoted message.
fn is_quote_header(line: &str) -> bool {
    let line = line.trim();
    (line.starts_with("On ") && line.ends_with("wrote:"))
        || (line.starts_with("Op ") && line.ends_with("schreef:"))
        || line.starts_with("-----Original Message-----")
        || line.starts_with("-----Oorspronkelijk bericht-----")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dutch_and_english_requests_are_told_apart() {
        let nl = detect(
            "Laptop start niet",
            "Sinds vanochtend start mijn laptop niet meer op. Kunnen jullie kijken?",
            Language::En,
        );
        assert_eq!(nl, Language::Nl);
        let en = detect(
            "Laptop broken",
            "Since this morning my laptop does not start any more. Could you have a look?",
            Language::Nl,
        );
        assert_eq!(en, Language::En);
    }

    #[test]
    fn too_little_text_falls_back_to_the_default() {
        assert_eq!(detect("", "ok", Language::Nl), Language::Nl);
        assert_eq!(detect("?", "", Language::En), Language::En);
    }

    #[test]
    fn quoted_history_does_not_count() {
        let body = "Thanks, the printer works again now. You can close the request, thank you for the quick help.\n\nOp maandag schreef:\n> Beste collega, kun je de printer op de tweede verdieping\n> opnieuw starten? Hij doet het niet meer sinds gisteren.";
        assert_eq!(detect("Re: printer", body, Language::Nl), Language::En);
    }

    #[test]
    fn only_the_start_of_a_huge_request_is_read() {
        let body = "Mijn laptop start niet meer op en ik kan niet werken. ".repeat(200_000);
        assert_eq!(detect("Laptop", &body, Language::En), Language::Nl);
        let subject = "€".repeat(100_000);
        assert_eq!(detect(&subject, "", Language::Nl), Language::Nl, "a cut between bytes of a character is safe");
        assert_eq!(cut("aé", 2), "a");
    }
}
