//! Quote: the part of a reply its author wrote now, without the quoted history
//! that mail programs add below (or, with `>`, inside) it. Pure text in, text out.

/// Lines that start the quoted original in common mail programs, in English and Dutch.
fn starts_history(line: &str, next: &[&str]) -> bool {
    let trimmed = line.trim();
    let lower = trimmed.to_lowercase();
    if lower.starts_with("-----original message-----")
        || lower.starts_with("----- original message -----")
        || lower.starts_with("-----oorspronkelijk bericht-----")
        || lower.starts_with("----- oorspronkelijk bericht -----")
        || lower.starts_with("---------- forwarded message")
        || lower.starts_with("---------- doorgestuurd bericht")
        || (trimmed.len() >= 20 && trimmed.chars().all(|c| c == '_'))
    {
        return true;
    }
    // "On Mon, 3 Mar 2026 Anna <a@x> wrote:" and "Op 3 mrt. 2026 schreef Anna:",
    // possibly wrapped over two lines.
    let joined = match next.first() {
        Some(following) => format!("{lower} {}", following.trim().to_lowercase()),
        None => lower.clone(),
    };
    if (lower.starts_with("on ") && (lower.ends_with("wrote:") || joined.ends_with("wrote:")))
        || (lower.starts_with("op ") && lower.contains("schreef") && (lower.ends_with(':') || joined.ends_with(':')))
        || (lower.contains(" schreef ") && lower.ends_with(':'))
    {
        return true;
    }
    // An Outlook header block: "From:" / "Van:" followed by Sent/Date/To/Subject lines.
    let header = |l: &str, names: &[&str]| {
        let l = l.trim_start().to_lowercase();
        names.iter().any(|name| l.starts_with(name))
    };
    header(line, &["from:", "van:"])
        && next
            .iter()
            .take(4)
            .any(|l| header(l, &["sent:", "date:", "to:", "subject:", "verzonden:", "datum:", "aan:", "onderwerp:"]))
}

/// The new text of a reply: quoted lines (`>`) and everything from the first
/// attribution or original-message header on are left out; surrounding blank
/// lines are trimmed.
pub fn new_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if starts_history(line, &lines[i + 1..]) {
            break;
        }
        if line.trim_start().starts_with('>') {
            continue;
        }
        kept.push(line.trim_end());
    }
    while kept.last().is_some_and(|l| l.is_empty()) {
        kept.pop();
    }
    let start = kept.iter().position(|l| !l.is_empty()).unwrap_or(kept.len());
    kept[start..].join("\n")
}

/// Text on one line: line breaks and runs of spaces become single spaces.
pub fn one_paragraph(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::new_text;

    #[test]
    fn gmail_style_attribution_and_quotes_are_cut() {
        let text = "Thanks, that worked.\n\nOn Tue, 3 Mar 2026 at 10:00, Service Desk <desk@example.org>\nwrote:\n> Dear Anna,\n> registered";
        assert_eq!(new_text(text), "Thanks, that worked.");
    }

    #[test]
    fn dutch_attribution_is_cut() {
        let text = "Dank je, het werkt weer.\n\nOp di 3 mrt 2026 om 10:00 schreef Servicedesk <desk@example.org>:\n> Beste Anna,";
        assert_eq!(new_text(text), "Dank je, het werkt weer.");
    }

    #[test]
    fn outlook_header_blocks_are_cut_in_both_languages() {
        let en = "Done.\n\nFrom: Service Desk <desk@example.org>\nSent: Tuesday\nTo: Anna\nSubject: [SD-00001]\n\nold";
        assert_eq!(new_text(en), "Done.");
        let nl = "Klaar.\n\n-----Oorspronkelijk bericht-----\nVan: Servicedesk\nVerzonden: dinsdag\n\noud";
        assert_eq!(new_text(nl), "Klaar.");
        let underscores = "Yes.\n________________________________\nVan: Servicedesk\nAan: Anna\n";
        assert_eq!(new_text(underscores), "Yes.");
    }

    #[test]
    fn inline_answers_keep_the_new_lines_between_quotes() {
        let text = "> Which floor?\nThe third.\n> And the room?\nRoom 3.14.";
        assert_eq!(new_text(text), "The third.\nRoom 3.14.");
    }

    #[test]
    fn a_plain_message_is_unchanged_and_a_from_line_in_prose_is_kept() {
        let text = "\n\nMy phone is broken.\nFrom: the third floor, I think.\n\n";
        assert_eq!(new_text(text), "My phone is broken.\nFrom: the third floor, I think.");
        assert_eq!(new_text(""), "");
    }
}
