//! How much of the organisation's own requests training reads, whatever their
//! senders wrote: at most so many requests, each subject and body cut at so
//! many characters, and so many characters of text in all.

/// The limits; [`TextBounds::take`] applies them one request at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextBounds {
    pub requests: usize,
    pub subject_chars: usize,
    pub body_chars: usize,
    pub total_chars: usize,
}

/// What has been taken so far under some [`TextBounds`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Taken {
    pub requests: usize,
    pub chars: usize,
    /// True once a request was refused: the source held more than was read.
    pub full: bool,
}

impl TextBounds {
    /// No limit: every request whole.
    pub const WHOLE: Self =
        Self { requests: usize::MAX, subject_chars: usize::MAX, body_chars: usize::MAX, total_chars: usize::MAX };

    /// The request cut to the bounds, or `None` (and `taken.full`) when the
    /// requests or the characters are spent.
    pub fn take(&self, taken: &mut Taken, mut subject: String, mut body: String) -> Option<(String, String)> {
        if taken.full || taken.requests >= self.requests || taken.chars >= self.total_chars {
            taken.full = true;
            return None;
        }
        let subject_chars = cut(&mut subject, self.subject_chars);
        let body_chars = cut(&mut body, self.body_chars);
        taken.requests += 1;
        taken.chars = taken.chars.saturating_add(subject_chars).saturating_add(body_chars);
        Some((subject, body))
    }
}

/// The start of `text`: at most `most` characters.
pub fn prefix(text: &str, most: usize) -> &str {
    text.char_indices().nth(most).map_or(text, |(end, _)| &text[..end])
}

/// Cuts `text` after `most` characters; how many it keeps.
fn cut(text: &mut String, most: usize) -> usize {
    text.truncate(prefix(text, most).len());
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_cut_to_their_characters_and_taken_until_the_total_is_spent() {
        let bounds = TextBounds { requests: 10, subject_chars: 3, body_chars: 5, total_chars: 12 };
        let mut taken = Taken::default();
        let first = bounds.take(&mut taken, "Printer".into(), "é".repeat(40));
        assert_eq!(first, Some(("Pri".to_owned(), "ééééé".to_owned())));
        assert_eq!(bounds.take(&mut taken, "ab".into(), "cd".into()), Some(("ab".into(), "cd".into())));
        assert_eq!(taken, Taken { requests: 2, chars: 12, full: false });
        assert_eq!(bounds.take(&mut taken, "x".into(), String::new()), None);
        assert!(taken.full);
    }

    #[test]
    fn no_more_requests_are_taken_than_the_bound() {
        let bounds = TextBounds { requests: 1, ..TextBounds::WHOLE };
        let mut taken = Taken::default();
        assert!(bounds.take(&mut taken, "a".into(), "b".into()).is_some());
        assert!(bounds.take(&mut taken, "c".into(), "d".into()).is_none());
        assert_eq!((taken.requests, taken.full), (1, true));
    }
}
