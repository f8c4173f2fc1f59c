//! Trust: what a mail's headers prove, and what they only claim.
//!
//! loket believes its own signatures and the organisation's own mail server,
//! nothing else. The server speaks through `Authentication-Results` headers
//! (RFC 8601) that carry its authserv-id; a receiving server removes such headers
//! with its own id from incoming mail, so only those can be believed, and only
//! when the operator names that id. Pure: headers and addresses in, verdicts out.

use serde::Serialize;

pub use crate::domain::{domain_of, rate_key};

use crate::domain::Mailbox;
use crate::inbound::intake::Normalised;

/// The DMARC verdict of the organisation's own mail server on a mail's From.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dmarc {
    Pass,
    Fail,
    /// No verdict: no trusted server is configured, or it gave none (or another word).
    Unknown,
}

/// The first DMARC result in the `Authentication-Results` headers whose
/// authserv-id is `authserv_id`; headers with other ids are someone's claim and
/// are ignored. Headers are given as their raw values, topmost first.
pub fn dmarc(headers: &[String], authserv_id: Option<&str>) -> Dmarc {
    let Some(trusted) = authserv_id else { return Dmarc::Unknown };
    for value in headers {
        let mut parts = value.split(';');
        // The authserv-id may be followed by a version number.
        let id = parts.next().and_then(|p| p.split_whitespace().next()).unwrap_or("");
        if !id.eq_ignore_ascii_case(trusted) {
            continue;
        }
        for part in parts {
            let part = part.trim();
            let Some(method) = part.get(..6).filter(|m| m.eq_ignore_ascii_case("dmarc=")) else { continue };
            let result: String =
                part[method.len()..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>();
            return match result.to_ascii_lowercase().as_str() {
                "pass" => Dmarc::Pass,
                "fail" => Dmarc::Fail,
                _ => Dmarc::Unknown,
            };
        }
        // The trusted server's topmost header decides, even without a DMARC result.
        return Dmarc::Unknown;
    }
    Dmarc::Unknown
}

/// The organisation's own mail domains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Domains(Vec<String>);

impl Domains {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(domains: I) -> Self {
        Self(domains.into_iter().map(|d| d.as_ref().trim().trim_start_matches('@').to_ascii_lowercase()).collect())
    }

    /// True for an address in one of the domains or a subdomain of one.
    pub fn contains(&self, address: &str) -> bool {
        let domain = domain_of(address);
        !domain.is_empty()
            && self.0.iter().any(|d| domain == *d || domain.strip_suffix(d.as_str()).is_some_and(|s| s.ends_with('.')))
    }
}

/// Reply-To is believed only within From's own domain or the organisation's:
/// anything else would let a stranger have the desk mail an outside address
/// while the department sees an employee's name.
pub fn reply_to_trusted(from: &str, reply_to: &str, internal: &Domains) -> bool {
    let domain = domain_of(reply_to);
    !domain.is_empty() && (domain == domain_of(from) || internal.contains(reply_to))
}

/// A department's own people: its queue address and the staff addresses or
/// `@domain` entries the operator configured.
#[derive(Debug, Clone, Copy)]
pub struct Staff<'a> {
    pub queue: &'a str,
    pub members: &'a [String],
}

impl Staff<'_> {
    pub fn includes(&self, address: &str) -> bool {
        let address = address.trim();
        address.eq_ignore_ascii_case(self.queue)
            || self.members.iter().any(|m| match m.strip_prefix('@') {
                Some(domain) => domain_of(address) == domain.to_ascii_lowercase(),
                None => m.eq_ignore_ascii_case(address),
            })
    }
}

/// What the headers of a message prove about its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// The DMARC verdict of the organisation's own server (`trust.authserv_id`).
    pub dmarc: Dmarc,
    /// From is in the organisation's domains and its own server says DMARC failed.
    pub spoofed: bool,
    /// A Reply-To outside From's and the organisation's domains, set aside: mail
    /// to the employee goes to From.
    pub ignored_reply_to: Option<Mailbox>,
}

impl Trust {
    /// Judges the sender of `message` and sets an untrusted Reply-To aside.
    pub fn judge(message: &mut Normalised, authserv_id: Option<&str>, internal: &Domains) -> Self {
        let dmarc = dmarc(&message.markers.authentication_results, authserv_id);
        let spoofed = dmarc == Dmarc::Fail && internal.contains(&message.from.address);
        let ignored_reply_to =
            message.reply_to.take_if(|r| !reply_to_trusted(&message.from.address, &r.address, internal));
        Self { dmarc, spoofed, ignored_reply_to }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn only_the_configured_servers_dmarc_verdict_counts() {
        let h = headers(&[
            "mx.example.org; spf=pass smtp.mailfrom=example.org; dkim=pass header.d=example.org; dmarc=pass (p=reject) header.from=example.org",
        ]);
        assert_eq!(dmarc(&h, Some("mx.example.org")), Dmarc::Pass);
        assert_eq!(dmarc(&h, Some("MX.example.org")), Dmarc::Pass);
        assert_eq!(dmarc(&h, None), Dmarc::Unknown, "no trusted server configured");
        assert_eq!(dmarc(&h, Some("other.example.org")), Dmarc::Unknown);
        let forged = headers(&["evil.example; dmarc=pass", "mx.example.org 1; dmarc=fail header.from=example.org"]);
        assert_eq!(dmarc(&forged, Some("mx.example.org")), Dmarc::Fail, "a header with another id is ignored");
        assert_eq!(dmarc(&headers(&["mx.example.org; spf=pass"]), Some("mx.example.org")), Dmarc::Unknown);
        assert_eq!(dmarc(&headers(&["mx.example.org; dmarc=none"]), Some("mx.example.org")), Dmarc::Unknown);
    }

    #[test]
    fn reply_to_is_believed_within_the_senders_or_the_organisations_domains() {
        let internal = Domains::new(["example.org"]);
        assert!(reply_to_trusted("anna@example.org", "anna.private@example.org", &internal));
        assert!(reply_to_trusted("anna@partner.example", "desk@partner.example", &internal));
        assert!(reply_to_trusted("anna@partner.example", "anna@hr.example.org", &internal));
        assert!(!reply_to_trusted("anna@example.org", "victim@elsewhere.example", &internal));
        assert!(!reply_to_trusted("anna@example.org", "nobody", &internal));
        assert!(!internal.contains("x@notexample.org"));
    }

    #[test]
    fn caps_count_an_address_without_case_or_plus_tags() {
        assert_eq!(rate_key("Victim+1@Elsewhere.Example"), "victim@elsewhere.example");
        assert_eq!(rate_key("victim@elsewhere.example"), "victim@elsewhere.example");
    }

    #[test]
    fn staff_are_the_queue_and_the_configured_addresses_and_domains() {
        let members = vec!["bob@example.org".to_owned(), "@it.example.org".to_owned()];
        let staff = Staff { queue: "it-queue@example.org", members: &members };
        assert!(staff.includes("IT-Queue@example.org"));
        assert!(staff.includes("bob@example.org"));
        assert!(staff.includes("carol@IT.example.org"));
        assert!(!staff.includes("mallory@example.org"));
        assert!(!staff.includes("x@evil-it.example.org"));
    }
}
