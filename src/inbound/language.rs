//! The employee's language, Dutch or English, from the words of their message.

use whatlang::{Detector, Lang};

pub use crate::domain::Language;

/// How sure the detector must be before its answer beats the configured default.
const MIN_CONFIDENCE: f64 = 0.5;

/// The language of `subject` and `body`, or `fallback` when the text is too short or
/// too mixed to tell. Quoted lines (`>`) are someone else's words and do not count.
pub fn detect(subject: &str, body: &str, fallback: Language) -> Language {
    let own_words: String = body
        .lines()
        .take_while(|line| !is_quote_header(line))
        .filter(|line| !line.trim_start().starts_with('>'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut text = format!("{subject}\n{own_words}");
    if text.len() > 4000 {
        let cut = (0..=4000).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
    }
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
}
