//! What routing decided about a request, and who decided it.

use serde::Serialize;

use crate::domain::{DepartmentId, RouteWhy};

pub use crate::domain::DecidedBy;

/// A department the model also considered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunnerUp {
    pub department: DepartmentId,
    pub confidence: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub department: DepartmentId,
    pub category: Option<String>,
    pub decided_by: DecidedBy,
    /// The model's confidence in the department it read, when it read one.
    pub confidence: Option<f64>,
    /// The department the model read (it may differ from `department` when the
    /// mailbox's department stood).
    pub model_department: Option<DepartmentId>,
    pub runner_up: Option<RunnerUp>,
    /// The rule that decided.
    pub rule: Option<String>,
    /// The words of the request that weighed most for the model's department.
    pub evidence: Vec<String>,
    /// The department of the old mailbox it arrived in (none for the desk's inbox).
    pub mailbox_department: Option<DepartmentId>,
    /// True when it goes to another department than its mailbox's.
    pub reroute: bool,
    /// Why, as facts that can be said in either language.
    pub why: RouteWhy,
    /// The same as one English sentence (for the forward and the command line).
    pub reason: String,
}
