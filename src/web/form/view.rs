//! What the form's page shows, in Dutch or English, and the checks on what was
//! filled in. Pure: no request, no store.

use serde::Serialize;

use crate::domain::{EmailAddress, Language};
use crate::outbound::form::FormFields;

#[derive(Debug, Clone, Serialize)]
pub struct Labels {
    pub intro: &'static str,
    pub name: &'static str,
    pub address: &'static str,
    pub address_hint: &'static str,
    pub subject: &'static str,
    pub description: &'static str,
    pub attachment: &'static str,
    pub attachment_hint: String,
    pub submit: &'static str,
    pub other_language: &'static str,
}

/// What was typed, shown again when the form is refused.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Values {
    pub name: String,
    pub address: String,
    pub subject: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FormView {
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub desk: String,
    pub heading: &'static str,
    pub labels: Labels,
    pub show_form: bool,
    pub csrf: String,
    /// On the page of a confirmation link: the button that confirms, with the link's fields.
    pub confirm: Option<ConfirmButton>,
    pub values: Values,
    pub message: Option<String>,
    pub error: Option<String>,
}

/// The button on the page of a confirmation link: it posts the link's own
/// signed fields back, and only that post takes the request in.
#[derive(Debug, Clone, Serialize)]
pub struct ConfirmButton {
    pub r: String,
    pub e: i64,
    pub s: String,
    pub label: &'static str,
}

/// Why a filled-in form is refused; each says what to do in the page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No valid anti-forgery token for this browser (or an old one).
    Forged,
    Missing,
    BadAddress,
    OutsideDomain,
    TooLarge,
    TooMany,
}

impl Refusal {
    pub fn text(self, language: Language, max_mib: usize) -> String {
        let nl = language == Language::Nl;
        match self {
            Self::Forged if nl => "Het formulier is verlopen of niet hier ingevuld. Vul het opnieuw in.".into(),
            Self::Forged => "The form has expired or was not filled in here. Please fill it in again.".into(),
            Self::Missing if nl => "Vul je naam, je adres, een onderwerp en een beschrijving in.".into(),
            Self::Missing => "Fill in your name, your address, a subject and a description.".into(),
            Self::BadAddress if nl => "Dit is geen geldig e-mailadres.".into(),
            Self::BadAddress => "This is not a valid e-mail address.".into(),
            Self::OutsideDomain if nl => "Gebruik het e-mailadres van je werk.".into(),
            Self::OutsideDomain => "Please use your work e-mail address.".into(),
            Self::TooLarge if nl => format!("De bijlage is te groot: hoogstens {max_mib} MB."),
            Self::TooLarge => format!("The attachment is too large: {max_mib} MB at most."),
            Self::TooMany if nl => {
                "Er zijn in het afgelopen uur te veel verzoeken verstuurd. Probeer het later opnieuw.".into()
            }
            Self::TooMany => "Too many requests were sent in the last hour. Please try again later.".into(),
        }
    }
}

fn labels(language: Language, max_mib: usize) -> Labels {
    match language {
        Language::Nl => Labels {
            intro: "Stel je vraag aan de servicedesk: HR, IT en Facilitair. Je krijgt eerst een e-mail om je adres te bevestigen.",
            name: "Naam",
            address: "E-mailadres",
            address_hint: "Je werkadres: hierheen sturen we de bevestiging en de antwoorden.",
            subject: "Onderwerp",
            description: "Beschrijving",
            attachment: "Bijlage (niet verplicht)",
            attachment_hint: format!("Eén bestand, hoogstens {max_mib} MB."),
            submit: "Versturen",
            other_language: "English",
        },
        Language::En => Labels {
            intro: "Ask the service desk: HR, IT and Facility. First you get an e-mail to confirm your address.",
            name: "Name",
            address: "E-mail address",
            address_hint: "Your work address: the confirmation and the answers go there.",
            subject: "Subject",
            description: "Description",
            attachment: "Attachment (optional)",
            attachment_hint: format!("One file, {max_mib} MB at most."),
            submit: "Send",
            other_language: "Nederlands",
        },
    }
}

/// The page in `language`: the form (with `csrf`), or only a message.
pub fn page(language: Language, desk: &str, max_attachment_bytes: usize, csrf: String) -> FormView {
    let max_mib = max_attachment_bytes.div_ceil(1024 * 1024).max(1);
    FormView {
        lang: language.code(),
        other_lang: match language {
            Language::Nl => "en",
            Language::En => "nl",
        },
        desk: desk.to_owned(),
        heading: match language {
            Language::Nl => "Nieuw verzoek",
            Language::En => "New request",
        },
        labels: labels(language, max_mib),
        show_form: true,
        csrf,
        confirm: None,
        values: Values::default(),
        message: None,
        error: None,
    }
}

/// The page after the form was sent: what to do next.
pub fn sent(mut view: FormView, language: Language, address: &str, hours: u32) -> FormView {
    view.show_form = false;
    view.heading = match language {
        Language::Nl => "Bevestig je adres",
        Language::En => "Confirm your address",
    };
    view.message = Some(match language {
        Language::Nl => format!(
            "We stuurden een e-mail naar {address}. Open binnen {hours} uur de link daarin en bevestig: pas dan wordt je verzoek geregistreerd."
        ),
        Language::En => format!(
            "We sent an e-mail to {address}. Open the link in it within {hours} hours and confirm: only then is your request registered."
        ),
    });
    view
}

/// The page of a confirmation link: one button that confirms. Following the
/// link opens nothing, so a mail scanner fetching it does not act for the person.
pub fn confirm_page(mut view: FormView, language: Language, (r, e, s): (String, i64, String)) -> FormView {
    let nl = language == Language::Nl;
    view.show_form = false;
    view.heading = if nl { "Bevestig je verzoek" } else { "Confirm your request" };
    view.message = Some(if nl {
        "Klik op de knop om je verzoek te registreren.".into()
    } else {
        "Click the button to register your request.".into()
    });
    view.confirm = Some(ConfirmButton { r, e, s, label: if nl { "Bevestigen" } else { "Confirm" } });
    view
}

/// The page of a confirmation link whose request is already a ticket: the
/// status link is only in the mail, never handed out again here.
pub fn already_confirmed(mut view: FormView, language: Language) -> FormView {
    let nl = language == Language::Nl;
    view.show_form = false;
    view.heading = if nl { "Al bevestigd" } else { "Already confirmed" };
    view.message = Some(if nl {
        "Je verzoek is al geregistreerd. De link naar de voortgang staat in de e-mail die we je daarna stuurden.".into()
    } else {
        "Your request has already been registered. The link to its progress is in the e-mail we sent you then.".into()
    });
    view
}

/// The page for a confirmation link that is wrong or has expired.
pub fn link_refused(mut view: FormView, language: Language) -> FormView {
    view.show_form = false;
    view.heading = match language {
        Language::Nl => "Link niet geldig",
        Language::En => "Link not valid",
    };
    view.error = Some(match language {
        Language::Nl => "Deze bevestigingslink is niet geldig of verlopen. Vul het formulier opnieuw in.".into(),
        Language::En => "This confirmation link is not valid or has expired. Please fill in the form again.".into(),
    });
    view
}

/// The language asked for: `?lang=`, else the first of Dutch and English in
/// `Accept-Language`, else `fallback`.
pub fn language(query: Option<&str>, accept_language: Option<&str>, fallback: Language) -> Language {
    let pick = |code: &str| match code.trim().get(..2).map(str::to_ascii_lowercase).as_deref() {
        Some("nl") => Some(Language::Nl),
        Some("en") => Some(Language::En),
        _ => None,
    };
    if let Some(language) = query.and_then(pick) {
        return language;
    }
    let mut offered: Vec<(f32, Language)> = accept_language
        .unwrap_or_default()
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let language = pick(pieces.next()?)?;
            let weight =
                pieces.find_map(|p| p.trim().strip_prefix("q=")).map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (weight > 0.0).then_some((weight, language))
        })
        .collect();
    offered.sort_by(|a, b| b.0.total_cmp(&a.0));
    offered.first().map_or(fallback, |(_, language)| *language)
}

/// The form's fields, trimmed and checked; the address in lower case.
pub fn checked(mut fields: FormFields) -> Result<FormFields, Refusal> {
    fields.name = fields.name.trim().chars().take(200).collect();
    fields.subject = fields.subject.trim().chars().take(200).collect();
    fields.description = fields.description.trim().chars().take(20_000).collect();
    fields.address = fields.address.trim().to_ascii_lowercase();
    if [&fields.name, &fields.address, &fields.subject, &fields.description].iter().any(|f| f.is_empty()) {
        return Err(Refusal::Missing);
    }
    EmailAddress::parse(&fields.address).map_err(|_| Refusal::BadAddress)?;
    if fields.address.contains(['<', '>', ',', ';', ' ', '"']) {
        return Err(Refusal::BadAddress);
    }
    Ok(fields)
}

/// Values for checking the template at start-up.
pub fn sample() -> FormView {
    let mut view = page(Language::En, "Service Desk", 5 * 1024 * 1024, "1.ab".into());
    view.error = Some(Refusal::Missing.text(Language::En, 5));
    view.confirm = Some(ConfirmButton { r: "id".into(), e: 0, s: "sig".into(), label: "Confirm" });
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_comes_from_the_query_then_the_browser_then_the_desk() {
        assert_eq!(language(Some("nl"), Some("en-GB"), Language::En), Language::Nl);
        assert_eq!(language(None, Some("de-DE, nl-NL;q=0.8, en;q=0.5"), Language::En), Language::Nl);
        assert_eq!(language(None, Some("nl;q=0.2, en-US"), Language::Nl), Language::En);
        assert_eq!(language(Some("fr"), Some("fr, de"), Language::Nl), Language::Nl);
        assert_eq!(language(None, Some("nl;q=0"), Language::En), Language::En);
    }

    #[test]
    fn a_form_without_every_field_or_with_a_wrong_address_is_refused() {
        let fields = |address: &str, subject: &str| FormFields {
            name: " Anna ".into(),
            address: address.into(),
            subject: subject.into(),
            description: "Help".into(),
            attachment: None,
        };
        let ok = checked(fields(" Anna@Example.org ", "Laptop")).unwrap();
        assert_eq!((ok.name.as_str(), ok.address.as_str()), ("Anna", "anna@example.org"));
        assert_eq!(checked(fields("anna@example.org", "  ")).unwrap_err(), Refusal::Missing);
        assert_eq!(checked(fields("not an address", "Laptop")).unwrap_err(), Refusal::BadAddress);
        assert_eq!(checked(fields("a@example.org, b@example.org", "x")).unwrap_err(), Refusal::BadAddress);
    }
}
