//! The operator's routing rules, compiled once: the first rule whose every
//! condition holds decides, before the model.

use crate::config::{Pattern, RuleConfig};
use crate::domain::DepartmentId;
use crate::inbound::intake::Normalised;
use crate::routing::Settings;

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub department: DepartmentId,
    pub category: Option<String>,
    from: Option<Pattern>,
    to: Option<Pattern>,
    subject: Option<Pattern>,
    body: Option<Pattern>,
    keywords: Vec<String>,
}

/// What a rule found: which rule, and on what.
#[derive(Debug, Clone)]
pub struct Matched<'a> {
    pub rule: &'a Rule,
    /// The keyword that matched, when the rule has keywords.
    pub keyword: Option<&'a str>,
}

impl Rule {
    fn compile(settings: &Settings, rule: &RuleConfig) -> Option<Self> {
        let department = match (&rule.department, &rule.category) {
            (Some(department), _) => department.clone(),
            (None, Some(category)) => settings
                .directory
                .departments
                .iter()
                .find(|d| d.categories.iter().any(|c| &c.id == category))?
                .id
                .clone(),
            (None, None) => return None,
        };
        Some(Self {
            name: rule.name.clone(),
            department,
            category: rule.category.clone(),
            from: rule.from.clone(),
            to: rule.to.clone(),
            subject: rule.subject.clone(),
            body: rule.body.clone(),
            keywords: rule.keywords.iter().map(|k| k.to_lowercase()).filter(|k| !k.is_empty()).collect(),
        })
    }

    /// Whether every condition holds for `message`, which arrived at `mailbox_address`.
    fn matches<'a>(&'a self, message: &Normalised, mailbox_address: &str, text: &str) -> Option<Matched<'a>> {
        let hit = |re: &Option<Pattern>, value: &str| re.as_ref().is_none_or(|re| re.is_match(value));
        if !hit(&self.from, &message.from.address) || !hit(&self.subject, &message.subject) || !hit(&self.body, text) {
            return None;
        }
        if let Some(to) = &self.to {
            let mut addresses = message.to.iter().chain(message.cc.iter()).map(|m| m.address.as_str());
            if !to.is_match(mailbox_address) && !addresses.any(|a| to.is_match(a)) {
                return None;
            }
        }
        if self.keywords.is_empty() {
            return Some(Matched { rule: self, keyword: None });
        }
        let haystack = format!("{}\n{}", message.subject, text).to_lowercase();
        let keyword = self.keywords.iter().find(|k| haystack.contains(k.as_str()))?;
        Some(Matched { rule: self, keyword: Some(keyword) })
    }
}

/// All rules of the config, in order.
#[derive(Debug, Clone, Default)]
pub struct Rules(Vec<Rule>);

impl Rules {
    pub fn compile(settings: &Settings) -> Self {
        Self(settings.routing.rules.iter().filter_map(|r| Rule::compile(settings, r)).collect())
    }

    /// The first rule that matches.
    pub fn first<'a>(&'a self, message: &Normalised, mailbox_address: &str, text: &str) -> Option<Matched<'a>> {
        self.0.iter().find_map(|rule| rule.matches(message, mailbox_address, text))
    }
}
