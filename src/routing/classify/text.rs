//! Text preparation for classification, in Dutch and English: the request's own
//! words (quoted history, signature and disclaimer left out), lower-cased,
//! stemmed, and cut into character n-grams so that Dutch compounds
//! ("telefoonaanvraag") still share features with their parts ("telefoon").

use std::collections::HashMap;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

use crate::domain::prefix;
use crate::inbound::language::Language;
use crate::inbound::quote;

/// Subject words count this much more than body words.
const SUBJECT_WEIGHT: f32 = 2.0;
/// Each character n-gram of a long word counts this much.
const GRAM_WEIGHT: f32 = 0.25;
const GRAM: usize = 4;
/// Two neighbouring words (stop words left out) also count as a pair, at this
/// weight: "access badge" is Facility's, "access rights" IT's.
const PAIR_WEIGHT: f32 = 0.5;
/// Words at least this long are also cut into n-grams.
const GRAM_MIN_WORD: usize = 7;
/// Longer "words" (encoded data, URLs, hostile input) count only with their first
/// characters, so the features of one word are bounded whatever the mail holds.
pub const MAX_WORD_CHARS: usize = 40;
/// The classifier reads at most this much of a subject and of a request's text:
/// the opening of a request says what it is about, and the work stays bounded.
pub const MAX_SUBJECT_CHARS: usize = 1_000;
pub const MAX_TEXT_CHARS: usize = 20_000;

/// Lines that close a mail: what follows is a signature.
const CLOSINGS: &[&str] = &[
    "met vriendelijke groet",
    "met vriendelijke groeten",
    "vriendelijke groet",
    "vriendelijke groeten",
    "hartelijke groet",
    "hartelijke groeten",
    "groet",
    "groeten",
    "groetjes",
    "gr",
    "mvg",
    "alvast bedankt",
    "bedankt alvast",
    "alvast dank",
    "bij voorbaat dank",
    "hartelijk dank",
    "dank je wel",
    "dank u wel",
    "dank je",
    "dank",
    "bedankt",
    "kind regards",
    "best regards",
    "warm regards",
    "regards",
    "best",
    "cheers",
    "thanks",
    "thank you",
    "many thanks",
    "thanks a lot",
    "thanks in advance",
    "sent from my iphone",
    "verzonden vanaf mijn iphone",
];

const STOP_EN: &[&str] = &[
    "the",
    "a",
    "an",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "for",
    "is",
    "it",
    "my",
    "me",
    "i",
    "we",
    "you",
    "your",
    "be",
    "can",
    "could",
    "would",
    "please",
    "with",
    "this",
    "that",
    "at",
    "as",
    "are",
    "was",
    "have",
    "has",
    "from",
    "not",
    "do",
    "does",
    "am",
    "so",
    "if",
    "there",
    "our",
    "us",
    "hi",
    "hello",
    "dear",
    "thanks",
    "thank",
    "will",
    "since",
    "but",
    "by",
    "any",
    "some",
    "what",
    "when",
    "how",
    "its",
    "just",
    "also",
    "about",
    "one",
    "get",
    // Words every kind of request uses: they say nothing about the department.
    "question",
    "questions",
    "issue",
    "problem",
    "request",
    "help",
    "need",
    "want",
    "like",
    "know",
    "let",
    "back",
    "call",
    "last",
    "week",
    "month",
    "today",
    "tomorrow",
    "yesterday",
    "something",
    "anything",
    "discussed",
    "regarding",
    "re",
    "fw",
    "fwd",
    "urgent",
    "asap",
    "kindly",
    "see",
    "attached",
    "ok",
    "okay",
    "still",
];
const STOP_NL: &[&str] = &[
    "de",
    "het",
    "een",
    "en",
    "of",
    "van",
    "te",
    "in",
    "op",
    "voor",
    "is",
    "ik",
    "mijn",
    "me",
    "mij",
    "we",
    "wij",
    "jullie",
    "je",
    "u",
    "uw",
    "kan",
    "kunnen",
    "zou",
    "graag",
    "met",
    "dit",
    "dat",
    "deze",
    "die",
    "aan",
    "als",
    "zijn",
    "was",
    "heb",
    "hebben",
    "heeft",
    "niet",
    "nog",
    "er",
    "ook",
    "maar",
    "bij",
    "om",
    "naar",
    "wat",
    "wie",
    "hoe",
    "wel",
    "dan",
    "al",
    "toch",
    "even",
    "hallo",
    "hoi",
    "beste",
    "goedemorgen",
    "goedemiddag",
    "dank",
    "bedankt",
    "groet",
    "sinds",
    "door",
    "uit",
    "over",
    "tot",
    "kunt",
    "wil",
    "wordt",
    "worden",
    "mag",
    "moet",
    // Words every kind of request uses: they say nothing about the department.
    "vraag",
    "vragen",
    "probleem",
    "verzoek",
    "hulp",
    "nodig",
    "willen",
    "weten",
    "iets",
    "vorige",
    "week",
    "maand",
    "vandaag",
    "morgen",
    "gisteren",
    "terugbellen",
    "bellen",
    "betreft",
    "antw",
    "dringend",
    "bijlage",
    "nog",
    "steeds",
    "zaken",
    "stand",
];

/// The request's own text: quoted history, the signature (from a closing line
/// near the end, or a `-- ` line) and disclaimer paragraphs left out.
pub fn request_text(body: &str) -> String {
    let new = quote::new_text(prefix(body, MAX_TEXT_CHARS));
    let lines: Vec<&str> = new.lines().collect();
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let bare = line.trim().trim_end_matches([',', '.', '!']).to_lowercase();
        let closing = CLOSINGS.contains(&bare.as_str()) && lines.len() - i <= 8;
        if line.trim_end() == "--" || closing {
            end = i;
            break;
        }
    }
    lines[..end]
        .join("\n")
        .split("\n\n")
        .filter(|paragraph| !is_disclaimer(paragraph))
        .collect::<Vec<_>>()
        .join("\n\n")
        .trim()
        .to_owned()
}

fn is_disclaimer(paragraph: &str) -> bool {
    let lower = paragraph.to_lowercase();
    lower.contains("disclaimer")
        || (lower.contains("this e-mail") || lower.contains("this email") || lower.contains("this message"))
            && (lower.contains("confidential") || lower.contains("intended"))
        || (lower.contains("dit e-mailbericht") || lower.contains("deze e-mail") || lower.contains("dit bericht"))
            && (lower.contains("vertrouwelijk") || lower.contains("uitsluitend bestemd"))
}

fn stemmer(language: Language) -> &'static Stemmer {
    static EN: OnceLock<Stemmer> = OnceLock::new();
    static NL: OnceLock<Stemmer> = OnceLock::new();
    match language {
        Language::En => EN.get_or_init(|| Stemmer::create(Algorithm::English)),
        Language::Nl => NL.get_or_init(|| Stemmer::create(Algorithm::Dutch)),
    }
}

/// Lower-cased words of two or more letters, without numbers and stop words;
/// a word longer than [`MAX_WORD_CHARS`] is cut to that length.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .map(|w| prefix(w, MAX_WORD_CHARS))
        .filter(|w| w.chars().nth(1).is_some() && !w.chars().all(|c| c.is_numeric()))
        .map(str::to_lowercase)
        .filter(|w| !STOP_EN.contains(&w.as_str()) && !STOP_NL.contains(&w.as_str()))
}

/// A request's features with their weights, and the word each came from first.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub weights: HashMap<String, f32>,
    pub words: HashMap<String, String>,
}

impl Features {
    /// A word's features: its stem, and for a long word its character n-grams.
    /// Returns the stem.
    fn add(&mut self, word: &str, language: Language, weight: f32) -> String {
        let stem = stemmer(language).stem(word).into_owned();
        self.put(format!("w:{stem}"), word, weight);
        let chars: Vec<char> = word.chars().collect();
        if chars.len() >= GRAM_MIN_WORD {
            for gram in chars.windows(GRAM) {
                self.put(format!("c:{}", gram.iter().collect::<String>()), word, weight * GRAM_WEIGHT);
            }
        }
        stem
    }

    /// Adds `weight` to `feature`, which `word` is the first to give.
    fn put(&mut self, feature: String, word: &str, weight: f32) {
        self.words.entry(feature.clone()).or_insert_with(|| word.to_owned());
        *self.weights.entry(feature).or_default() += weight;
    }
}

/// The features of a request (its subject and its own text): each word's stem
/// and character n-grams, and each pair of neighbouring words; subject words count double.
pub fn features(subject: &str, body: &str, language: Language) -> Features {
    let mut features = Features::default();
    for (text, weight) in [(prefix(subject, MAX_SUBJECT_CHARS), SUBJECT_WEIGHT), (prefix(body, MAX_TEXT_CHARS), 1.0)] {
        let mut previous: Option<String> = None;
        for word in words(text) {
            let stem = features.add(&word, language, weight);
            if let Some(previous) = previous.replace(stem.clone()) {
                features.put(format!("b:{previous}_{stem}"), &word, weight * PAIR_WEIGHT);
            }
        }
    }
    features
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbouring_words_make_a_pair_that_tells_an_access_badge_from_access_rights() {
        let badge = features("Access badge", "The reader stays red.", Language::En);
        let rights = features("Access rights", "I need access to the share.", Language::En);
        assert!(badge.weights.contains_key("b:access_badg"), "{:?}", badge.weights.keys());
        assert!(badge.weights.contains_key("b:reader_stay"), "{:?}", badge.weights.keys());
        assert!(rights.weights.contains_key("b:access_right"), "{:?}", rights.weights.keys());
        assert!(!rights.weights.keys().any(|k| k.starts_with("b:right_")), "subject and body are not paired");
    }

    #[test]
    fn a_closing_on_its_own_line_ends_the_request_in_both_languages() {
        for closing in ["Groetjes,", "Dank je wel!", "Bedankt", "Thanks a lot,"] {
            let body = format!("Hoi,\n\nMijn pas werkt niet.\n\n{closing}\nFenna\nReceptie");
            assert_eq!(request_text(&body), "Hoi,\n\nMijn pas werkt niet.", "{closing}");
        }
    }

    #[test]
    fn signatures_disclaimers_and_quotes_are_left_out() {
        let body = "Mijn telefoon doet het niet.\n\nMet vriendelijke groet,\nAnna\nInkoop\n\n> oude tekst";
        assert_eq!(request_text(body), "Mijn telefoon doet het niet.");
        let body = "Laptop broken.\n\nThis e-mail is confidential and intended for the addressee only.\n\nMore text";
        assert_eq!(request_text(body), "Laptop broken.\n\nMore text");
        assert_eq!(request_text("Printer jams.\n-- \nBob\nIT"), "Printer jams.");
        // "Thanks" early in a long mail is not a signature.
        let long = "Thanks\nfor\nthe\nhelp\nlast\nweek\nwith\nthe\nlaptop\nnow\nthe\nprinter";
        assert_eq!(request_text(long), long);
    }

    #[test]
    fn stems_join_word_forms_and_grams_join_compounds() {
        let a = features("", "telefoonaanvraag voor een nieuwe medewerker", Language::Nl);
        let b = features("", "mijn telefoon is kapot", Language::Nl);
        assert!(a.weights.contains_key("c:foon") && b.weights.contains_key("c:foon"));
        assert_eq!(a.words["c:foon"], "telefoonaanvraag");
        let en = features("Printers", "the printer keeps printing", Language::En);
        assert_eq!(en.weights["w:printer"], 3.0, "subject counts double: {:?}", en.weights);
        assert_eq!(en.words["w:printer"], "printers");
        assert!(!en.weights.contains_key("w:the"));
    }

    #[test]
    fn one_endless_word_gives_a_bounded_number_of_short_features() {
        let mut seed = 0x2545_f491_u32;
        let word: String = (0..120_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                char::from(b'a' + (seed % 26) as u8)
            })
            .collect();
        let features = features(&word, &word, Language::En);
        assert!(features.weights.len() <= MAX_WORD_CHARS + 1, "{} features", features.weights.len());
        assert!(features.words.values().all(|w| w.chars().count() <= MAX_WORD_CHARS));
    }

    #[test]
    fn a_huge_body_is_read_only_up_to_the_text_cap() {
        let body = "printer ".repeat(100_000);
        let own = request_text(&body);
        assert!(own.chars().count() <= MAX_TEXT_CHARS);
        assert_eq!(prefix("héllo", 2), "hé");
        assert_eq!(prefix("hi", 10), "hi");
    }
}
