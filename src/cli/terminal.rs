//! Everything the command line prints is inert: text from mail (subjects, names,
//! bodies, server answers) may hold escape sequences that set the window title,
//! clear the screen or fake output, and bidirectional overrides that reorder
//! what is shown (a subject that seems to end in `.pdf`, columns swapped), so
//! control characters are shown, not obeyed.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

/// `text` with every control character except newline and tab replaced: C0 and DEL
/// by their visible symbols (ESC becomes `␛`), C1 and the bidirectional marks,
/// embeddings, overrides and isolates by `�`.
pub fn inert(text: &str) -> Cow<'_, str> {
    if !text.chars().any(obeyed) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                c if !obeyed(c) => c,
                '\u{7f}' => '\u{2421}',
                c if c < ' ' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
                _ => '\u{fffd}',
            })
            .collect(),
    )
}

/// A character a terminal would act on instead of showing.
fn obeyed(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A writer that passes everything written through [`inert`]. `writeln!` hands it
/// whole formatted lines; a plain `write` is taken as text on its own.
pub struct Inert<W: Write>(pub W);

impl<W: Write> Write for Inert<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(inert(&String::from_utf8_lossy(buf)).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }

    fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> io::Result<()> {
        let text = fmt::format(args);
        self.0.write_all(inert(&text).as_bytes())
    }
}

/// Standard output, inert.
pub fn stdout() -> Inert<io::StdoutLock<'static>> {
    Inert(io::stdout().lock())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_and_layout_is_kept() {
        let hostile = "title\x1b]0;PWNED\x07 clear\x1b[2J red\x1b[31m\r\nnext\tcol \u{9b}31m del\x7f";
        let shown = inert(hostile);
        assert!(!shown.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "{shown:?}");
        assert_eq!(shown, "title␛]0;PWNED␇ clear␛[2J red␛[31m␍\nnext\tcol �31m del␡");
        assert!(matches!(inert("Dear Anna,\n\tthanks — ü"), Cow::Borrowed(_)));
    }

    #[test]
    fn bidirectional_overrides_cannot_reorder_what_is_shown() {
        let subject = "invoice \u{202e}fdp.exe\u{202c} and \u{2067}isolated\u{2069}";
        assert_eq!(inert(subject), "invoice �fdp.exe� and �isolated�");
        assert!(matches!(inert("שלום and مرحبا"), Cow::Borrowed(_)), "right-to-left text itself stays");
    }

    #[test]
    fn the_writer_passes_formatted_lines_through_inert() {
        let mut out = Inert(Vec::new());
        let subject = "hi\x1b[2J";
        writeln!(out, "subject: {subject}").unwrap();
        out.write_all(b"raw\x1b\n").unwrap();
        assert_eq!(String::from_utf8(out.0).unwrap(), "subject: hi␛[2J\nraw␛\n");
    }
}
