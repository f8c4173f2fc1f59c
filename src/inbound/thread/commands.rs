//! Department commands: lines at the top of a department's answer that act on the
//! ticket (`#resolve`, `#reopen`, `#route <department>`, `#note`).

use serde::Serialize;

use crate::domain::Refusal;
use crate::inbound::quote;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Resolve,
    Reopen,
    /// Reroute to the department with this id (checked against the config later).
    Route(String),
    /// Keep the answer internal: stored, not relayed.
    Note,
}

/// A department's answer, read: its commands, what is left to relay, and the
/// command lines that were not understood.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Answer {
    pub commands: Vec<Command>,
    /// The new text below the command lines, without quoted history.
    pub text: String,
    /// Each command line that was not understood, with why.
    pub rejected: Vec<Refusal>,
}

impl Answer {
    pub fn has(&self, command: &Command) -> bool {
        self.commands.contains(command)
    }
}

/// A command line is `#` and a word of letters at the start of a line, in the
/// leading lines of the answer; `#1 priority` is text, not a command.
fn command_word(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim().strip_prefix('#')?;
    let end = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
    (end > 0 && rest[end..].chars().next().is_none_or(char::is_whitespace)).then(|| (&rest[..end], rest[end..].trim()))
}

pub fn parse_answer(text: &str) -> Answer {
    let new = quote::new_text(text);
    let mut answer = Answer::default();
    let mut lines = new.lines().peekable();
    while let Some(line) = lines.peek() {
        if line.trim().is_empty() {
            lines.next();
            continue;
        }
        let Some((word, argument)) = command_word(line) else { break };
        let line = line.trim().to_owned();
        lines.next();
        match (word.to_ascii_lowercase().as_str(), argument) {
            ("resolve", "") => answer.commands.push(Command::Resolve),
            ("reopen", "") => answer.commands.push(Command::Reopen),
            ("note", "") => answer.commands.push(Command::Note),
            ("route", "") => answer.rejected.push(Refusal::RouteWithoutDepartment { line }),
            ("route", department) if !department.contains(char::is_whitespace) => {
                answer.commands.push(Command::Route(department.to_ascii_lowercase()))
            }
            ("resolve" | "reopen" | "note" | "route", _) => answer.rejected.push(Refusal::UnexpectedWords { line }),
            _ => answer.rejected.push(Refusal::UnknownCommand { line }),
        }
    }
    if answer.has(&Command::Resolve) && answer.has(&Command::Reopen) {
        answer.rejected.push(Refusal::ResolveAndReopen);
    }
    answer.text = lines.collect::<Vec<_>>().join("\n").trim().to_owned();
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_at_the_top_act_and_the_text_below_is_kept() {
        let answer = parse_answer("#resolve\n\nYour new phone is ready at the desk.\n\n> quoted original");
        assert_eq!(answer.commands, vec![Command::Resolve]);
        assert_eq!(answer.text, "Your new phone is ready at the desk.");
        assert!(answer.rejected.is_empty());
    }

    #[test]
    fn several_commands_and_a_route_with_its_department() {
        let answer = parse_answer("  #Route Facility\n#note\nBadge readers are theirs.");
        assert_eq!(answer.commands, vec![Command::Route("facility".into()), Command::Note]);
        assert_eq!(answer.text, "Badge readers are theirs.");
    }

    #[test]
    fn unknown_or_malformed_commands_are_rejected_with_a_reason() {
        let answer = parse_answer("#close\nDone.");
        assert_eq!(answer.rejected, [Refusal::UnknownCommand { line: "#close".into() }]);
        assert_eq!(answer.rejected[0].to_string(), "`#close`: unknown command");
        assert_eq!(parse_answer("#route\nx").rejected, [Refusal::RouteWithoutDepartment { line: "#route".into() }]);
        let extra = Refusal::UnexpectedWords { line: "#route it now".into() };
        assert_eq!(parse_answer("#route it now\nx").rejected, [extra]);
        assert_eq!(parse_answer("#resolve\n#reopen\n").rejected, [Refusal::ResolveAndReopen]);
    }

    #[test]
    fn hashes_in_prose_or_below_the_text_are_not_commands() {
        let answer = parse_answer("#1 priority is the printer.\n#resolve");
        assert!(answer.commands.is_empty() && answer.rejected.is_empty());
        assert_eq!(answer.text, "#1 priority is the printer.\n#resolve");
        let answer = parse_answer("Hello,\n#resolve");
        assert!(answer.commands.is_empty());
    }
}
