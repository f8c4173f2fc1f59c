//! IMAP sequence sets for lists of UIDs.

/// Formats ascending UIDs as a compact set: `[1, 2, 3, 7, 9, 10]` becomes `1:3,7,9:10`.
pub fn format(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.saturating_add(1) {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_of_uids_become_ranges() {
        assert_eq!(super::format(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(super::format(&[5]), "5");
        assert_eq!(super::format(&[]), "");
    }
}
