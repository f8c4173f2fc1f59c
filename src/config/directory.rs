//! The organisation as loket knows it: the desk, its departments and the old
//! mailboxes. The desk, routing, the report and the status page look people and
//! places up here; none of them needs the rest of the config.

use super::{Config, DepartmentConfig, DeskConfig, MailboxConfig};
use crate::domain::DepartmentId;
use crate::inbound::trust::Staff;

/// The configured mailbox called `name`.
pub fn mailbox_named<'a>(mailboxes: &'a [MailboxConfig], name: &str) -> Option<&'a MailboxConfig> {
    mailboxes.iter().find(|m| m.name.as_str() == name)
}

#[derive(Debug, Clone)]
pub struct Directory {
    pub desk: DeskConfig,
    pub departments: Vec<DepartmentConfig>,
    pub mailboxes: Vec<MailboxConfig>,
}

impl Directory {
    pub fn of(config: &Config) -> Self {
        Self { desk: config.desk.clone(), departments: config.departments.clone(), mailboxes: config.mailboxes.clone() }
    }

    pub fn department(&self, id: &DepartmentId) -> Option<&DepartmentConfig> {
        self.departments.iter().find(|d| &d.id == id)
    }

    /// The department whose id is `id` as stored (a plain string).
    pub fn department_by_id(&self, id: &str) -> Option<&DepartmentConfig> {
        self.departments.iter().find(|d| d.id.as_str() == id)
    }

    /// The name people read for a department; its id when it is not configured.
    pub fn department_name<'a>(&'a self, id: &'a DepartmentId) -> &'a str {
        self.department(id).map_or(id.as_str(), |d| d.name.as_str())
    }

    /// Where a request goes when nothing else decides: `desk.default_department`,
    /// or the first department (a valid config has at least one).
    pub fn default_department(&self) -> &DepartmentId {
        self.desk.default_department.as_ref().unwrap_or(&self.departments[0].id)
    }

    pub fn mailbox(&self, name: &str) -> Option<&MailboxConfig> {
        mailbox_named(&self.mailboxes, name)
    }

    /// The public address of a configured mailbox, or its name when it has none.
    pub fn mailbox_address(&self, name: &str) -> String {
        self.mailbox(name).map_or_else(|| name.to_owned(), MailboxConfig::public_address)
    }

    /// The people who may answer for a department: its queue and its configured staff.
    pub fn staff(&self, department: &DepartmentId) -> Option<Staff<'_>> {
        self.department(department).map(|d| Staff { queue: d.queue_address.as_str(), members: d.staff.as_slice() })
    }
}
