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
    ("ack.en.txt", include_str!("../templates/ack.en.txt.hbs")),
    ("ack.nl.txt", include_str!("../templates/ack.nl.txt.hbs")),
    ("ack.en.html", include_str!("../templates/ack.en.html.hbs")),
    ("ack.nl.html", include_str!("../templates/ack.nl.html.hbs")),
    ("forward.txt", include_str!("../templates/forward.txt.hbs")),
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

/// The values of an acknowledgement.
#[derive(Debug, Clone, Serialize)]
pub struct AckView {
    pub name: String,
    pub reference: String,
    pub department: String,
    pub link: String,
    pub desk: String,
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
    pub desk: String,
    pub text: String,
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
        for (name, shipped) in TEMPLATES {
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

    /// Renders every template once with sample values: strict mode turns a
    /// misspelt variable into an error here.
    fn try_all(&self) -> Result<(), RenderError> {
        let ack = AckView {
            name: "Anna".into(),
            reference: "SD-00001".into(),
            department: "IT".into(),
            link: "https://desk.example.org/t/SD-00001?k=x".into(),
            desk: "Service Desk".into(),
        };
        let forward = ForwardView {
            reference: "SD-00001".into(),
            requester: "Anna <anna@example.org>".into(),
            sent_to: "it@example.org".into(),
            department: "IT".into(),
            received: "2026-01-01 09:00".into(),
            link: ack.link.clone(),
            reason: "it was sent to the old IT mailbox".into(),
            desk: "Service Desk".into(),
            text: "My laptop is broken.".into(),
        };
        for (name, _) in TEMPLATES {
            if name.starts_with("ack.") {
                self.render(name, &ack)?;
            } else {
                self.render(name, &forward)?;
            }
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
