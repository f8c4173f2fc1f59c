//! The guard: tells people's mail from automatic mail (RFC 3834), so that
//! auto-replies, bounces, list mail and loops are stored but never answered.

use serde::Serialize;

pub use crate::domain::{AutoKind, AutoSign};

use crate::domain::EmailAddress;
use crate::inbound::intake::Normalised;

/// The guard's verdict on one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verdict {
    Person,
    Automatic { kind: AutoKind, reason: AutoSign },
}

impl Verdict {
    pub fn is_automatic(&self) -> bool {
        matches!(self, Self::Automatic { .. })
    }
}

const ROBOT_LOCAL_PARTS: &[&str] =
    &["mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply"];

/// Subject prefixes that auto-responders write, in English and Dutch (and the German
/// that many Dutch organisations receive). Only whole prefixes with their colon count.
const AUTO_REPLY_SUBJECTS: &[&str] = &[
    "Auto reply:",
    "Autoreply:",
    "Auto-reply:",
    "Automatic reply:",
    "Out of Office:",
    "Out of Office AutoReply:",
    "Automatisch antwoord:",
    "Afwezigheidsbericht:",
    "Afwezig:",
    "Abwesenheitsnotiz:",
    "Automatische Antwort:",
];

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Judges one message. `own` are the addresses loket sends from (the desk's).
pub fn assess(message: &Normalised, own: &[EmailAddress]) -> Verdict {
    let m = &message.markers;
    let auto = |kind, reason: AutoSign| Verdict::Automatic { kind, reason };
    if let Some(marker) = &m.loop_marker {
        return auto(AutoKind::Loop, AutoSign::LoopHeader(marker.clone()));
    }
    if own.iter().any(|a| a.same_as(&message.from.address)) {
        return auto(AutoKind::Loop, AutoSign::OwnAddress(message.from.address.clone()));
    }
    if let Some(report) = &m.report_type {
        return auto(AutoKind::Bounce, AutoSign::DeliveryReport(report.clone()));
    }
    if m.return_path.as_deref() == Some("") {
        return auto(AutoKind::Bounce, AutoSign::NullReturnPath);
    }
    let address = &message.from.address;
    let local = address.rsplit_once('@').map_or(address.as_str(), |(l, _)| l).to_ascii_lowercase();
    if ROBOT_LOCAL_PARTS.contains(&local.as_str()) {
        let kind =
            if local == "mailer-daemon" || local == "postmaster" { AutoKind::Bounce } else { AutoKind::AutoReply };
        return auto(kind, AutoSign::RobotSender(message.from.address.clone()));
    }
    if let Some(value) = &m.auto_submitted {
        let token = value.split(';').next().unwrap_or("").trim();
        if !token.eq_ignore_ascii_case("no") {
            return auto(AutoKind::AutoReply, AutoSign::AutoSubmitted(value.clone()));
        }
    }
    if m.x_autoreply {
        return auto(AutoKind::AutoReply, AutoSign::XAutoreply);
    }
    if m.x_autorespond {
        return auto(AutoKind::AutoReply, AutoSign::XAutorespond);
    }
    if let Some(value) = &m.x_auto_response_suppress {
        return auto(AutoKind::AutoReply, AutoSign::AutoResponseSuppress(value.clone()));
    }
    if let Some(action) = &m.vendor_autoreply {
        return auto(AutoKind::AutoReply, AutoSign::VacationReply(action.clone()));
    }
    if let Some(prefix) = AUTO_REPLY_SUBJECTS.iter().find(|p| starts_with_ignore_case(&message.subject, p)) {
        return auto(AutoKind::AutoReply, AutoSign::SubjectPrefix((*prefix).to_owned()));
    }
    if let Some(value) = &m.precedence {
        let lower = value.to_ascii_lowercase();
        if lower == "list" {
            return auto(AutoKind::List, AutoSign::Precedence("list".into()));
        }
        if ["bulk", "junk", "auto_reply"].contains(&lower.as_str()) {
            return auto(AutoKind::AutoReply, AutoSign::Precedence(lower));
        }
    }
    if let Some(list) = &m.list_id {
        return auto(AutoKind::List, AutoSign::ListId(list.clone()));
    }
    if m.list_unsubscribe {
        return auto(AutoKind::List, AutoSign::ListUnsubscribe);
    }
    Verdict::Person
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::intake::parse;

    fn verdict(headers: &str) -> Verdict {
        let raw = format!("From: Piet <piet@example.org>\r\nTo: hr@example.org\r\nSubject: x\r\n{headers}\r\nbody\r\n");
        let own = [EmailAddress::parse("servicedesk@example.org").unwrap()];
        assess(&parse(raw.as_bytes()).unwrap(), &own)
    }

    fn kind(headers: &str) -> Option<AutoKind> {
        match verdict(headers) {
            Verdict::Automatic { kind, .. } => Some(kind),
            Verdict::Person => None,
        }
    }

    #[test]
    fn a_plain_request_is_from_a_person() {
        assert_eq!(kind(""), None);
        assert_eq!(kind("Auto-Submitted: no\r\n"), None);
        assert_eq!(kind("Precedence: first-class\r\n"), None);
        let raw = b"From: p@example.org\r\nSubject: Out of office chairs are broken\r\n\r\nx\r\n";
        assert!(!assess(&parse(raw).unwrap(), &[]).is_automatic());
    }

    #[test]
    fn auto_reply_headers_are_recognised() {
        for header in [
            "Auto-Submitted: auto-replied\r\n",
            "Auto-Submitted: auto-generated; owner-email=x@y.z\r\n",
            "X-Autoreply: yes\r\n",
            "X-Autorespond: vacation\r\n",
            "X-Auto-Response-Suppress: All\r\n",
            "Precedence: bulk\r\n",
            "Precedence: junk\r\n",
            "Precedence: auto_reply\r\n",
            "X-Apple-Action: VACATION\r\n",
        ] {
            assert_eq!(kind(header), Some(AutoKind::AutoReply), "{header}");
        }
    }

    #[test]
    fn auto_reply_subjects_are_recognised_in_english_and_dutch() {
        for subject in
            ["Automatic reply: Rooster", "Automatisch antwoord: Verlof", "AUTO REPLY: x", "Afwezig: tot maandag"]
        {
            let raw = format!("From: p@example.org\r\nSubject: {subject}\r\n\r\nx\r\n");
            assert!(assess(&parse(raw.as_bytes()).unwrap(), &[]).is_automatic(), "{subject}");
        }
    }

    #[test]
    fn list_mail_is_recognised() {
        assert_eq!(kind("List-Id: <staff.example.org>\r\n"), Some(AutoKind::List));
        assert_eq!(kind("List-Unsubscribe: <mailto:x@y.z>\r\n"), Some(AutoKind::List));
        assert_eq!(kind("Precedence: list\r\n"), Some(AutoKind::List));
    }

    #[test]
    fn bounces_and_loops_are_recognised() {
        assert_eq!(kind("Return-Path: <>\r\n"), Some(AutoKind::Bounce));
        assert_eq!(
            kind("Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n"),
            Some(AutoKind::Bounce)
        );
        assert_eq!(kind("X-Loket-Loop: servicedesk@example.org\r\n"), Some(AutoKind::Loop));
    }

    #[test]
    fn robot_senders_and_own_addresses_are_recognised() {
        let own = [EmailAddress::parse("servicedesk@example.org").unwrap()];
        let raw = b"From: MAILER-DAEMON@mx.example.org\r\nSubject: failure\r\n\r\nx\r\n";
        assert!(matches!(assess(&parse(raw).unwrap(), &own), Verdict::Automatic { kind: AutoKind::Bounce, .. }));
        let raw = b"From: ServiceDesk@Example.org\r\nSubject: [SD-00001] x\r\n\r\nx\r\n";
        assert!(matches!(assess(&parse(raw).unwrap(), &own), Verdict::Automatic { kind: AutoKind::Loop, .. }));
    }
}
