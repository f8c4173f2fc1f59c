//! Classify: which department handles a request, and who decided.
//!
//! Pure: a message and its mailbox in, a decision out. The decision is made
//! here and nowhere else, and its reason is stored on the ticket.

use serde::Serialize;

use crate::config::{Config, MailboxConfig};
use crate::domain::DepartmentId;
use crate::intake::Normalised;

/// Who or what chose the department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// The old mailbox's own department.
    Mailbox,
    /// The desk's inbox has no department of its own; the desk's default took it.
    DeskDefault,
}

impl DecidedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mailbox => "mailbox",
            Self::DeskDefault => "desk_default",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub department: DepartmentId,
    pub category: Option<String>,
    pub decided_by: DecidedBy,
    pub confidence: Option<f64>,
    /// One sentence a person can read.
    pub reason: String,
}

/// Decides the department of a new request that arrived in `mailbox`.
pub fn decide(config: &Config, mailbox: &MailboxConfig, _message: &Normalised) -> Decision {
    match &mailbox.department {
        Some(department) => Decision {
            department: department.clone(),
            category: None,
            decided_by: DecidedBy::Mailbox,
            confidence: None,
            reason: format!(
                "it was sent to the old {} mailbox ({})",
                department_name(config, department),
                mailbox.name
            ),
        },
        None => {
            let department = config.desk.default_department.clone().unwrap_or_else(|| config.departments[0].id.clone());
            Decision {
                reason: format!(
                    "it was sent to the desk's own inbox ({}); {} takes requests that name no department",
                    mailbox.name,
                    department_name(config, &department)
                ),
                department,
                category: None,
                decided_by: DecidedBy::DeskDefault,
                confidence: None,
            }
        }
    }
}

fn department_name<'a>(config: &'a Config, id: &'a DepartmentId) -> &'a str {
    config.department(id).map_or(id.as_str(), |d| d.name.as_str())
}
