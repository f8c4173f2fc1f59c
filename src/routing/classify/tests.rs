//! The careful side of routing: a request leaves its mailbox only on enough
//! wording, and a confidential department's mailbox keeps its requests unless
//! the model is very sure or a rule says otherwise.

use super::{DecidedBy, Routing};
use crate::config::Config;
use crate::domain::DepartmentId;
use crate::inbound::language::Language;

fn config(confidential: bool, rule: bool) -> Config {
    let mut text = String::from(
        "[store]\nurl = \"sqlite://unused.db\"\n[desk]\nname = \"Service Desk\"\naddress = \"servicedesk@example.org\"\n\
         base_url = \"http://127.0.0.1\"\n[routing]\nconfidential_confidence = 1.0\n",
    );
    if rule {
        text.push_str("[[routing.rules]]\nname = \"laptops\"\ndepartment = \"it\"\nkeywords = [\"laptop\"]\n");
    }
    for id in ["it", "hr", "facility"] {
        text.push_str(&format!(
            "\n[[departments]]\nid = \"{id}\"\nname = \"{}\"\nqueue_address = \"{id}-queue@example.org\"\nconfidential = {}\n",
            id.to_uppercase(),
            confidential && id == "hr"
        ));
    }
    for id in ["it", "hr"] {
        text.push_str(&format!(
            "\n[[mailboxes]]\nname = \"{id}-old\"\ndepartment = \"{id}\"\nmaildir = \"/nonexistent/{id}\"\n"
        ));
    }
    crate::config::load_str(&text).expect("test config")
}

fn decide(config: Config, mailbox: &str, subject: &str, body: &str) -> super::Decision {
    let routing = Routing::from_config(&config);
    let raw = format!("From: a@example.org\r\nSubject: {subject}\r\n\r\n{body}\r\n");
    let message = crate::inbound::intake::parse(raw.as_bytes()).expect("parses");
    let mailbox = crate::config::mailbox_named(&config.mailboxes, mailbox).expect("configured mailbox");
    routing.get().decide(mailbox, &message, Language::En)
}

const LAPTOP: (&str, &str) = (
    "Laptop screen broken",
    "The screen of my laptop is cracked. I need a repair or a new laptop with a docking station.",
);

#[test]
fn a_request_resting_on_one_telling_word_stays_with_its_mailbox_and_a_clear_one_is_rerouted() {
    let one = decide(config(false, false), "it-old", "Payslip", "");
    assert_eq!(one.model_department.as_ref().map(DepartmentId::as_str), Some("hr"), "{}", one.reason);
    assert_eq!(one.department.as_str(), "it", "{}", one.reason);
    assert!(!one.reroute);
    let clear = decide(config(false, false), "it-old", "Payslip wrong", "My payslip shows the wrong salary.");
    assert_eq!(clear.department.as_str(), "hr", "{}", clear.reason);
    assert!(clear.reroute);
}

#[test]
fn a_laptop_request_leaves_an_ordinary_hr_mailbox() {
    let decision = decide(config(false, false), "hr-old", LAPTOP.0, LAPTOP.1);
    assert_eq!(decision.department.as_str(), "it", "{}", decision.reason);
    assert!(decision.reroute);
}

#[test]
fn a_confidential_mailbox_keeps_a_request_the_model_is_not_sure_enough_to_take_out() {
    let decision = decide(config(true, false), "hr-old", LAPTOP.0, LAPTOP.1);
    assert_eq!(decision.department.as_str(), "hr", "{}", decision.reason);
    assert_eq!(decision.decided_by, DecidedBy::Mailbox);
    assert!(!decision.reroute);
    assert_eq!(decision.model_department.as_ref().map(DepartmentId::as_str), Some("it"));
    assert!(decision.reason.contains("confidential"), "{}", decision.reason);
}

#[test]
fn a_rule_still_takes_a_request_out_of_a_confidential_mailbox() {
    let decision = decide(config(true, true), "hr-old", LAPTOP.0, LAPTOP.1);
    assert_eq!(decision.department.as_str(), "it", "{}", decision.reason);
    assert_eq!(decision.decided_by, DecidedBy::Rule);
    assert!(decision.reroute);
}

#[test]
fn requests_still_reach_a_confidential_department_from_other_mailboxes() {
    let decision = decide(
        config(true, false),
        "it-old",
        "Payslip wrong",
        "My payslip for October shows the wrong salary and my overtime was not paid.",
    );
    assert_eq!(decision.department.as_str(), "hr", "{}", decision.reason);
    assert!(decision.reroute);
}
