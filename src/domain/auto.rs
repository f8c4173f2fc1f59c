//! What gave a mail away as automatic (RFC 3834 and the signs mail systems
//! use besides), as a fact the timeline can say in either language.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Language;

/// What kind of automatic mail a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoKind {
    AutoReply,
    Bounce,
    List,
    Loop,
}

impl AutoKind {
    pub const ALL: [Self; 4] = [Self::AutoReply, Self::Bounce, Self::List, Self::Loop];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AutoReply => "auto_reply",
            Self::Bounce => "bounce",
            Self::List => "list",
            Self::Loop => "loop",
        }
    }
}

spelt_once!(AutoKind, "a kind of automatic mail");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "sign", content = "value", rename_all = "snake_case")]
pub enum AutoSign {
    /// loket's own loop header, with its value.
    LoopHeader(String),
    /// It comes from the desk's own address.
    OwnAddress(String),
    /// A delivery report (`multipart/report`), with its report type.
    DeliveryReport(String),
    /// An empty return path (`<>`).
    NullReturnPath,
    /// From an address that only machines use (`mailer-daemon`, `noreply`, …).
    RobotSender(String),
    /// `Auto-Submitted`, with its value.
    AutoSubmitted(String),
    XAutoreply,
    XAutorespond,
    /// `X-Auto-Response-Suppress`, with its value.
    AutoResponseSuppress(String),
    /// A mail system's own mark of a vacation reply.
    VacationReply(String),
    /// The subject begins as auto-replies' subjects do.
    SubjectPrefix(String),
    /// `Precedence`, with its value.
    Precedence(String),
    /// `List-Id`, with its value.
    ListId(String),
    ListUnsubscribe,
}

impl AutoSign {
    /// The sign as a clause in `language`.
    pub fn say(&self, language: Language) -> String {
        match language {
            Language::En => self.to_string(),
            Language::Nl => match self {
                Self::LoopHeader(marker) => format!("ze draagt loket's eigen lusheader ({marker})"),
                Self::OwnAddress(address) => format!("ze komt van loket's eigen adres {address}"),
                Self::DeliveryReport(report) => {
                    format!("het is een afleverbericht (multipart/report; report-type={report})")
                }
                Self::NullReturnPath => "ze heeft een leeg retouradres (<>)".into(),
                Self::RobotSender(address) => format!("ze komt van de automatische afzender {address}"),
                Self::AutoSubmitted(value) => format!("Auto-Submitted: {value}"),
                Self::XAutoreply => "ze heeft een X-Autoreply-header".into(),
                Self::XAutorespond => "ze heeft een X-Autorespond-header".into(),
                Self::AutoResponseSuppress(value) => format!("X-Auto-Response-Suppress: {value}"),
                Self::VacationReply(action) => format!("het is een afwezigheidsbericht ({action})"),
                Self::SubjectPrefix(prefix) => format!("het onderwerp begint met \"{prefix}\""),
                Self::Precedence(value) => format!("Precedence: {value}"),
                Self::ListId(list) => format!("het is lijstmail (List-Id: {list})"),
                Self::ListUnsubscribe => "het is lijstmail (List-Unsubscribe)".into(),
            },
        }
    }
}

impl fmt::Display for AutoSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LoopHeader(marker) => write!(f, "it carries loket's own loop header ({marker})"),
            Self::OwnAddress(address) => write!(f, "it comes from loket's own address {address}"),
            Self::DeliveryReport(report) => {
                write!(f, "it is a delivery report (multipart/report; report-type={report})")
            }
            Self::NullReturnPath => f.write_str("it has a null return path (<>)"),
            Self::RobotSender(address) => write!(f, "it comes from the automatic sender {address}"),
            Self::AutoSubmitted(value) => write!(f, "Auto-Submitted: {value}"),
            Self::XAutoreply => f.write_str("it has an X-Autoreply header"),
            Self::XAutorespond => f.write_str("it has an X-Autorespond header"),
            Self::AutoResponseSuppress(value) => write!(f, "X-Auto-Response-Suppress: {value}"),
            Self::VacationReply(action) => write!(f, "it is a vacation reply ({action})"),
            Self::SubjectPrefix(prefix) => write!(f, "its subject starts with \"{prefix}\""),
            Self::Precedence(value) => write!(f, "Precedence: {value}"),
            Self::ListId(list) => write!(f, "it is list mail (List-Id: {list})"),
            Self::ListUnsubscribe => f.write_str("it is list mail (List-Unsubscribe)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AutoSign;
    use crate::domain::Language;

    #[test]
    fn every_sign_is_said_in_both_languages_and_a_header_keeps_its_own_name() {
        let signs = [
            AutoSign::LoopHeader("x".into()),
            AutoSign::OwnAddress("desk@example.org".into()),
            AutoSign::DeliveryReport("delivery-status".into()),
            AutoSign::NullReturnPath,
            AutoSign::RobotSender("noreply@example.org".into()),
            AutoSign::XAutoreply,
            AutoSign::XAutorespond,
            AutoSign::VacationReply("vacation".into()),
            AutoSign::SubjectPrefix("Out of office".into()),
            AutoSign::ListId("staff.example.org".into()),
            AutoSign::ListUnsubscribe,
        ];
        for sign in signs {
            let (en, nl) = (sign.say(Language::En), sign.say(Language::Nl));
            assert!(!en.is_empty() && !nl.is_empty() && en != nl, "{sign:?}: {en} / {nl}");
        }
        let header = AutoSign::AutoSubmitted("auto-replied".into());
        assert_eq!(header.say(Language::Nl), "Auto-Submitted: auto-replied");
    }
}
