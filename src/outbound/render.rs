//! Render: the mails loket writes, from handlebars templates.
//!
//! The shipped templates in `templates/` are built in; an operator may put their
//! own versions of any of them in a folder (`[templates] dir`). Every template is
//! compiled and tried on sample values at start-up, so a template error stops
//! loket before the first mail, never at it. HTML templates escape every value;
//! text templates do not.

use std::path::Path;

use handlebars::Handlebars;
use serde::Serialize;

/// (name, shipped text) of every template loket uses.
const TEMPLATES: &[(&str, &str)] = &[
    ("ack.en.txt", include_str!("../../templates/ack.en.txt.hbs")),
    ("ack.nl.txt", include_str!("../../templates/ack.nl.txt.hbs")),
    ("ack.en.html", include_str!("../../templates/ack.en.html.hbs")),
    ("ack.nl.html", include_str!("../../templates/ack.nl.html.hbs")),
    ("closed.en.txt", include_str!("../../templates/closed.en.txt.hbs")),
    ("closed.nl.txt", include_str!("../../templates/closed.nl.txt.hbs")),
    ("closed.en.html", include_str!("../../templates/closed.en.html.hbs")),
    ("closed.nl.html", include_str!("../../templates/closed.nl.html.hbs")),
    ("forward.txt", include_str!("../../templates/forward.txt.hbs")),
    ("update.txt", include_str!("../../templates/update.txt.hbs")),
    ("notice.txt", include_str!("../../templates/notice.txt.hbs")),
    ("relay.en.txt", include_str!("../../templates/relay.en.txt.hbs")),
    ("relay.nl.txt", include_str!("../../templates/relay.nl.txt.hbs")),
    ("relay.en.html", include_str!("../../templates/relay.en.html.hbs")),
    ("relay.nl.html", include_str!("../../templates/relay.nl.html.hbs")),
    ("moved.en.txt", include_str!("../../templates/moved.en.txt.hbs")),
    ("moved.nl.txt", include_str!("../../templates/moved.nl.txt.hbs")),
    ("moved.en.html", include_str!("../../templates/moved.en.html.hbs")),
    ("moved.nl.html", include_str!("../../templates/moved.nl.html.hbs")),
    ("status.html", include_str!("../../templates/status.html.hbs")),
];

/// The web form's page and confirmation mails, kept apart from the mails of tickets.
const FORM_TEMPLATES: &[(&str, &str)] = &[
    ("form.html", include_str!("../../templates/form.html.hbs")),
    ("form-confirm.en.txt", include_str!("../../templates/form-confirm.en.txt.hbs")),
    ("form-confirm.nl.txt", include_str!("../../templates/form-confirm.nl.txt.hbs")),
];

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {name}: {reason}")]
    Template { name: String, reason: String },
    #[error("cannot read template {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("no template named {0}")]
    Unknown(String),
}

/// The warning the forward and update templates are checked to show.
const SAMPLE_WARNING: &str = "loket cannot tell who sent this mail";

/// The values of an acknowledgement.
#[derive(Debug, Clone, Serialize)]
pub struct AckView {
    pub name: String,
    pub reference: String,
    pub department: String,
    pub link: String,
    pub desk: String,
    /// Why another department than the one written to handles it, when it was rerouted.
    pub why: Option<String>,
    /// The desk's own address, which reaches every department.
    pub desk_address: String,
    /// The old address the employee wrote to.
    pub old_address: String,
    /// True when the acknowledgement points the employee to the desk's address.
    pub nudge: bool,
    /// The last day the old address is served, when it has one (with `nudge`).
    pub closes_after: Option<String>,
    /// The day after which the old address closed, once it has.
    pub closed_after: Option<String>,
}

/// The values of a mail to the employee in the ticket's thread (an answer relayed,
/// or the notice that another department took over; `text` is empty then).
#[derive(Debug, Clone, Serialize)]
pub struct RelayView {
    pub name: String,
    pub reference: String,
    pub department: String,
    pub link: String,
    pub desk: String,
    pub text: String,
}

/// The values of the reply to a department member whose commands were not understood.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeView {
    pub reference: String,
    pub problems: Vec<String>,
    pub departments: String,
    pub desk: String,
}

/// The values of the confirmation mail.
#[derive(Debug, Clone, Serialize)]
pub struct ConfirmView {
    pub name: String,
    pub subject: String,
    pub link: String,
    pub hours: u32,
    pub desk: String,
}

impl ConfirmView {
    pub fn sample() -> Self {
        Self {
            name: "Anna".into(),
            subject: "My laptop".into(),
            link: "https://desk.example.org/new/confirm?r=x&e=1&s=y".into(),
            hours: 24,
            desk: "Service Desk".into(),
        }
    }
}

/// The values of a department forward's header block.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardView {
    pub reference: String,
    pub requester: String,
    pub sent_to: String,
    pub department: String,
    pub received: String,
    pub link: String,
    pub reason: String,
    pub decided: String,
    pub desk: String,
    pub text: String,
    /// Why not to trust the sender, shown first.
    pub warning: Option<String>,
}

#[derive(Debug)]
pub struct Renderer {
    text: Handlebars<'static>,
    html: Handlebars<'static>,
}

impl Renderer {
    /// The shipped templates, each replaced by `DIR/NAME.hbs` where that file exists.
    pub fn load(dir: Option<&Path>) -> Result<Self, RenderError> {
        let mut text = Handlebars::new();
        text.register_escape_fn(handlebars::no_escape);
        text.set_strict_mode(true);
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        for (name, shipped) in TEMPLATES.iter().chain(FORM_TEMPLATES) {
            let source = match dir.map(|d| d.join(format!("{name}.hbs"))) {
                Some(path) if path.exists() => std::fs::read_to_string(&path)
                    .map_err(|source| RenderError::Read { path: path.display().to_string(), source })?,
                _ => (*shipped).to_owned(),
            };
            let registry = if name.ends_with(".html") { &mut html } else { &mut text };
            registry
                .register_template_string(name, source)
                .map_err(|e| RenderError::Template { name: (*name).to_owned(), reason: e.to_string() })?;
        }
        let renderer = Self { text, html };
        renderer.try_all()?;
        Ok(renderer)
    }

    pub fn render(&self, name: &str, values: &impl Serialize) -> Result<String, RenderError> {
        let registry = if name.ends_with(".html") { &self.html } else { &self.text };
        if !registry.has_template(name) {
            return Err(RenderError::Unknown(name.to_owned()));
        }
        registry
            .render(name, values)
            .map_err(|e| RenderError::Template { name: name.to_owned(), reason: e.to_string() })
    }

    /// Renders every mail template once with sample values: strict mode turns a
    /// misspelt variable into an error here. The web's pages (`status.html`,
    /// `form.html`) are tried by the web with its own samples (`web::check_pages`).
    fn try_all(&self) -> Result<(), RenderError> {
        let ack = AckView {
            name: "Anna".into(),
            reference: "SD-00001".into(),
            department: "IT".into(),
            link: "https://desk.example.org/t/SD-00001?k=x".into(),
            desk: "Service Desk".into(),
            why: Some("You wrote to the Facility address, but it is about phones, so IT handles it.".into()),
            desk_address: "servicedesk@example.org".into(),
            old_address: "it@example.org".into(),
            nudge: true,
            closes_after: Some("31 December 2026".into()),
            closed_after: Some("31 December 2026".into()),
        };
        let forward = ForwardView {
            reference: "SD-00001".into(),
            requester: "Anna <anna@example.org>".into(),
            sent_to: "it@example.org".into(),
            department: "IT".into(),
            received: "2026-01-01 09:00".into(),
            link: ack.link.clone(),
            reason: "it was sent to the old IT mailbox".into(),
            decided: "model (92%)".into(),
            desk: "Service Desk".into(),
            text: "My laptop is broken.".into(),
            warning: Some(SAMPLE_WARNING.into()),
        };
        let relay = RelayView {
            name: ack.name.clone(),
            reference: ack.reference.clone(),
            department: ack.department.clone(),
            link: ack.link.clone(),
            desk: ack.desk.clone(),
            text: "Your new phone is ready.".into(),
        };
        let notice = NoticeView {
            reference: ack.reference.clone(),
            problems: vec!["`#close`: unknown command".into()],
            departments: "it, hr, facility".into(),
            desk: ack.desk.clone(),
        };
        for (name, _) in TEMPLATES.iter().chain(FORM_TEMPLATES) {
            match name.split('.').next() {
                Some("form" | "status") => String::new(),
                Some("form-confirm") => self.render(name, &ConfirmView::sample())?,
                Some("ack" | "closed") => self.render(name, &ack)?,
                Some("relay" | "moved") => self.render(name, &relay)?,
                Some("notice") => self.render(name, &notice)?,
                stem => {
                    let text = self.render(name, &forward)?;
                    if matches!(stem, Some("forward" | "update")) && !text.contains(SAMPLE_WARNING) {
                        return Err(RenderError::Template {
                            name: (*name).to_owned(),
                            reason: "it does not show {{warning}}, so the department would not learn that loket \
                                     cannot verify who sent a mail (see the shipped template)"
                                .into(),
                        });
                    }
                    text
                }
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack() -> AckView {
        AckView {
            name: "<script>alert(1)</script> Anna".into(),
            reference: "SD-00042".into(),
            department: "IT".into(),
            link: "https://desk.example.org/t/SD-00042?k=abc&x=1".into(),
            desk: "Service Desk".into(),
            why: None,
            desk_address: "servicedesk@example.org".into(),
            old_address: "it@example.org".into(),
            nudge: false,
            closes_after: None,
            closed_after: None,
        }
    }

    #[test]
    fn the_shipped_templates_render_in_both_languages() {
        let renderer = Renderer::load(None).unwrap();
        let en = renderer.render("ack.en.txt", &ack()).unwrap();
        assert!(en.contains("registered as SD-00042"), "{en}");
        assert!(en.contains("https://desk.example.org/t/SD-00042?k=abc&x=1"));
        let nl = renderer.render("ack.nl.txt", &ack()).unwrap();
        assert!(nl.contains("geregistreerd als SD-00042"), "{nl}");
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let renderer = Renderer::load(None).unwrap();
        let html = renderer.render("ack.en.html", &ack()).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("k&#x3D;abc&amp;x&#x3D;1"), "{html}");
        let text = renderer.render("ack.en.txt", &ack()).unwrap();
        assert!(text.contains("<script>alert(1)</script> Anna"));
    }

    #[test]
    fn an_operators_template_replaces_the_shipped_one_and_errors_show_at_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ack.en.txt.hbs"), "Hello {{name}}, {{reference}}.").unwrap();
        let renderer = Renderer::load(Some(dir.path())).unwrap();
        assert_eq!(renderer.render("ack.en.txt", &ack()).unwrap(), "Hello <script>alert(1)</script> Anna, SD-00042.");

        std::fs::write(dir.path().join("ack.nl.txt.hbs"), "Hallo {{naam}}").unwrap();
        let error = Renderer::load(Some(dir.path())).unwrap_err().to_string();
        assert!(error.contains("ack.nl.txt"), "{error}");
        std::fs::write(dir.path().join("ack.nl.txt.hbs"), "Hallo {{#if name}").unwrap();
        let error = Renderer::load(Some(dir.path())).unwrap_err().to_string();
        assert!(error.contains("ack.nl.txt"), "{error}");
    }
}
