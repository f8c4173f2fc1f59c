//! Why routing chose a department, as facts the timeline says in the reader's
//! language. Departments appear by the names people read.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Language;

/// Where the request was sent, and what decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteWhy {
    pub sent_to: SentTo,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum SentTo {
    /// An old department mailbox: the department's name and the mailbox.
    OldMailbox { department: String, mailbox: String },
    /// The desk's own inbox.
    DeskInbox { mailbox: String },
}

/// What the model read in the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    pub department: String,
    /// The confidence, in whole percent.
    pub percent: u8,
    /// The next department and its confidence in whole percent.
    pub runner_up: Option<(String, u8)>,
    /// The words that weighed most.
    pub words: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// An operator's rule matched (on a keyword, when it has keywords).
    Rule { name: String, keyword: Option<String> },
    /// No model to read the request.
    NoModel,
    /// The model was sure enough to take it out of the mailbox's department.
    Rerouted { reading: Reading },
    /// The model read another department, below the bar; `confidential` names
    /// the mailbox's department when its higher bar applied.
    Stood { reading: Reading, bar: u8, confidential: Option<String> },
    /// The model chose, for mail to the desk's own inbox.
    Chosen { reading: Reading },
    /// Not sure enough; `fallback` names the department that takes it when the
    /// mail came to the desk's own inbox.
    NotSure { reading: Reading, fallback: Option<String> },
}

/// A probability in whole percent, as people read it.
pub fn percent(p: f64) -> u8 {
    (p * 100.0).round().clamp(0.0, 100.0) as u8
}

impl Reading {
    fn say(&self, language: Language) -> String {
        let runner_up = self.runner_up.as_ref().map(|(d, p)| match language {
            Language::En => format!("; then {d} {p}%"),
            Language::Nl => format!("; daarna {d} {p}%"),
        });
        let words = (!self.words.is_empty()).then(|| match language {
            Language::En => format!("; words: {}", self.words.join(", ")),
            Language::Nl => format!("; woorden: {}", self.words.join(", ")),
        });
        let lead = match language {
            Language::En => "the text reads as",
            Language::Nl => "de tekst leest als",
        };
        format!(
            "{lead} {} ({}%{}{})",
            self.department,
            self.percent,
            runner_up.unwrap_or_default(),
            words.unwrap_or_default()
        )
    }
}

impl SentTo {
    fn say(&self, language: Language) -> String {
        match (self, language) {
            (Self::OldMailbox { department, mailbox }, Language::En) => {
                format!("it was sent to the old {department} mailbox ({mailbox})")
            }
            (Self::OldMailbox { department, mailbox }, Language::Nl) => {
                format!("het werd naar de oude mailbox van {department} gestuurd ({mailbox})")
            }
            (Self::DeskInbox { mailbox }, Language::En) => format!("it was sent to the desk's own inbox ({mailbox})"),
            (Self::DeskInbox { mailbox }, Language::Nl) => {
                format!("het werd naar de eigen inbox van de desk gestuurd ({mailbox})")
            }
        }
    }
}

impl RouteWhy {
    /// The reason as one sentence in `language`.
    pub fn say(&self, language: Language) -> String {
        let sent_to = self.sent_to.say(language);
        let nl = language == Language::Nl;
        match &self.outcome {
            Outcome::Rule { name, keyword } => {
                let on = keyword.as_ref().map(|k| if nl { format!(" op `{k}`") } else { format!(" on `{k}`") });
                let on = on.unwrap_or_default();
                if nl {
                    format!("regel `{name}` was van toepassing{on}; {sent_to}")
                } else {
                    format!("rule `{name}` matched{on}; {sent_to}")
                }
            }
            Outcome::NoModel => {
                if nl {
                    format!("{sent_to}; geen model om het te lezen")
                } else {
                    format!("{sent_to}; no model to read it")
                }
            }
            Outcome::Rerouted { reading } => {
                let read = reading.say(language);
                if nl {
                    format!("{read}; {sent_to}, dus het werd doorgestuurd")
                } else {
                    format!("{read}; {sent_to}, so it was rerouted")
                }
            }
            Outcome::Stood { reading, bar, confidential } => {
                let read = reading.say(language);
                let bar = format!("{bar}%");
                match (confidential, nl) {
                    (Some(home), false) => format!(
                        "{sent_to}; {read}, below the {bar} needed to take a request out of {home}, which is confidential, so the mailbox's department stands"
                    ),
                    (None, false) => {
                        format!(
                            "{sent_to}; {read}, below the {bar} needed to reroute, so the mailbox's department stands"
                        )
                    }
                    (Some(home), true) => format!(
                        "{sent_to}; {read}, onder de {bar} die nodig is om een verzoek bij {home} weg te halen, want dat is vertrouwelijk, dus de afdeling van de mailbox blijft"
                    ),
                    (None, true) => format!(
                        "{sent_to}; {read}, onder de {bar} die nodig is om door te sturen, dus de afdeling van de mailbox blijft"
                    ),
                }
            }
            Outcome::Chosen { reading } => format!("{}; {sent_to}", reading.say(language)),
            Outcome::NotSure { reading, fallback } => {
                let read = reading.say(language);
                match (fallback, nl) {
                    (None, false) => format!("{sent_to}; {read}, not sure enough to say more"),
                    (Some(d), false) => format!("{sent_to}; {read}, not sure enough, so {d} takes it"),
                    (None, true) => format!("{sent_to}; {read}, niet zeker genoeg om meer te zeggen"),
                    (Some(d), true) => format!("{sent_to}; {read}, niet zeker genoeg, dus {d} neemt het"),
                }
            }
        }
    }
}

impl fmt::Display for RouteWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.say(Language::En))
    }
}

#[cfg(test)]
mod tests {
    use super::{Outcome, Reading, RouteWhy, SentTo};
    use crate::domain::Language;

    fn reading() -> Reading {
        Reading {
            department: "IT".into(),
            percent: 92,
            runner_up: Some(("Facility".into(), 5)),
            words: vec!["laptop".into(), "scherm".into()],
        }
    }

    #[test]
    fn every_outcome_is_said_in_english_as_before_and_in_dutch() {
        let old = SentTo::OldMailbox { department: "Facility".into(), mailbox: "facility-old".into() };
        let desk = SentTo::DeskInbox { mailbox: "desk".into() };
        let cases = [
            (old.clone(), Outcome::Rule { name: "phones".into(), keyword: Some("phone".into()) }),
            (old.clone(), Outcome::NoModel),
            (old.clone(), Outcome::Rerouted { reading: reading() }),
            (old.clone(), Outcome::Stood { reading: reading(), bar: 95, confidential: Some("HR".into()) }),
            (old.clone(), Outcome::Stood { reading: reading(), bar: 80, confidential: None }),
            (desk.clone(), Outcome::Chosen { reading: reading() }),
            (old, Outcome::NotSure { reading: reading(), fallback: None }),
            (desk, Outcome::NotSure { reading: reading(), fallback: Some("IT".into()) }),
        ];
        for (sent_to, outcome) in cases {
            let why = RouteWhy { sent_to, outcome };
            let (en, nl) = (why.say(Language::En), why.say(Language::Nl));
            assert_eq!(en, why.to_string());
            assert!(!nl.contains("sent to") && !nl.contains("reads as") && en != nl, "{en} / {nl}");
        }
        let rerouted = RouteWhy {
            sent_to: SentTo::OldMailbox { department: "Facility".into(), mailbox: "facility-old".into() },
            outcome: Outcome::Rerouted { reading: reading() },
        };
        assert_eq!(
            rerouted.to_string(),
            "the text reads as IT (92%; then Facility 5%; words: laptop, scherm); it was sent to the old Facility mailbox (facility-old), so it was rerouted"
        );
    }
}
