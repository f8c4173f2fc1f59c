//! Trust: what a mail's headers prove, and what they only claim.
//!
//! loket believes its own signatures and the organisation's own mail server,
//! nothing else. The server speaks through `Authentication-Results` headers
//! (RFC 8601) that carry its authserv-id; a receiving server removes such headers
//! with its own id from incoming mail, so only those can be believed, and only
//! when the operator names that id. Pure: headers and addresses in, verdicts out.

use serde::Serialize;

pub use crate::domain::{domain_of, rate_key};

use crate::domain::{Doubt, Mailbox};
use crate::inbound::intake::{Normalised, SenderFrom};

/// The DMARC verdict of the organisation's own mail server on a mail's From.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dmarc {
    Pass,
    Fail,
    /// No verdict: no trusted server is configured, or it gave none (or another word).
    Unknown,
}

/// The DMARC verdict of the organisation's own server on one sender domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub dmarc: Dmarc,
    /// The server judged another domain (its `header.from`) and not this one.
    pub about_another_domain: bool,
}

/// The DMARC result for `sender_domain` in the topmost `Authentication-Results`
/// header whose authserv-id is `authserv_id`; headers with other ids are someone's
/// claim and are ignored. Headers are given as their raw values, topmost first.
///
/// A result counts only for the domain it names (`header.from`): a mail with two
/// From headers has one judged and the other read, so a pass naming another
/// domain, or none, is no pass for this sender. A fail naming no domain still
/// counts as a fail.
pub fn dmarc(headers: &[String], authserv_id: Option<&str>, sender_domain: &str) -> Verdict {
    let unknown = |about_another_domain| Verdict { dmarc: Dmarc::Unknown, about_another_domain };
    let Some(trusted) = authserv_id else { return unknown(false) };
    for value in headers {
        let value = without_comments(value);
        let mut parts = value.split(';');
        // The authserv-id may be followed by a version number.
        let id = parts.next().and_then(|p| p.split_whitespace().next()).unwrap_or("");
        if !id.eq_ignore_ascii_case(trusted) {
            continue;
        }
        let mut another = false;
        for part in parts {
            let part = part.trim();
            let Some(method) = part.get(..6).filter(|m| m.eq_ignore_ascii_case("dmarc=")) else { continue };
            let result: String =
                part[method.len()..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>();
            let dmarc = match result.to_ascii_lowercase().as_str() {
                "pass" => Dmarc::Pass,
                "fail" => Dmarc::Fail,
                _ => Dmarc::Unknown,
            };
            match header_from(part) {
                Some(domain) if !sender_domain.is_empty() && domain.eq_ignore_ascii_case(sender_domain) => {
                    return Verdict { dmarc, about_another_domain: false };
                }
                Some(_) => another = true,
                None if dmarc == Dmarc::Fail => return Verdict { dmarc, about_another_domain: false },
                None => {}
            }
        }
        // The trusted server's topmost header decides, even without a result for this domain.
        return unknown(another);
    }
    unknown(false)
}

/// The domain a DMARC result names in its `header.from` property.
fn header_from(result: &str) -> Option<&str> {
    result.split_whitespace().find_map(|token| {
        let (name, value) = token.split_once('=')?;
        name.eq_ignore_ascii_case("header.from").then(|| {
            let value = value.trim_matches('"');
            value.rsplit_once('@').map_or(value, |(_, domain)| domain)
        })
    })
}

/// A header value without its RFC 5322 comments (`(p=reject)`), which may hold
/// any text, semicolons among it.
fn without_comments(value: &str) -> String {
    let mut depth = 0usize;
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
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

/// Reply-To is believed only within From's own domain, or when From and Reply-To
/// are both in the organisation's domains: anything else would let a stranger
/// have the desk mail an outside address while the department sees an
/// employee's name, or give an outsider's request an employee's name.
pub fn reply_to_trusted(from: &str, reply_to: &str, internal: &Domains) -> bool {
    let domain = domain_of(reply_to);
    !domain.is_empty() && (domain == domain_of(from) || (internal.contains(from) && internal.contains(reply_to)))
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
    /// Why the sender loket reads may not be the one a mail server checked
    /// (several From, no usable From, a verdict about another domain). Such a
    /// mail joins no ticket as its requester or staff.
    pub doubt: Option<Doubt>,
    /// A Reply-To outside From's domain, unless both are the organisation's, set
    /// aside: mail to the employee goes to From.
    pub ignored_reply_to: Option<Mailbox>,
}

impl Trust {
    /// Judges the sender of `message` and sets an untrusted Reply-To aside.
    pub fn judge(message: &mut Normalised, authserv_id: Option<&str>, internal: &Domains) -> Self {
        let domain = domain_of(&message.from.address);
        let verdict = dmarc(&message.markers.authentication_results, authserv_id, &domain);
        let doubt = match message.sender {
            SenderFrom::OneOfSeveralFroms => Some(Doubt::SeveralSenders),
            SenderFrom::NoFrom => Some(Doubt::NoFrom),
            SenderFrom::From | SenderFrom::MailSystem => {
                verdict.about_another_domain.then_some(Doubt::VerdictAboutAnotherDomain)
            }
        };
        // A pass vouches for nobody when it is unclear whom it was about.
        let dmarc = if doubt.is_some() && verdict.dmarc == Dmarc::Pass { Dmarc::Unknown } else { verdict.dmarc };
        let spoofed = dmarc == Dmarc::Fail && internal.contains(&message.from.address);
        let ignored_reply_to =
            message.reply_to.take_if(|r| !reply_to_trusted(&message.from.address, &r.address, internal));
        Self { dmarc, spoofed, doubt, ignored_reply_to }
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
        let org = "example.org";
        assert_eq!(dmarc(&h, Some("mx.example.org"), org).dmarc, Dmarc::Pass);
        assert_eq!(dmarc(&h, Some("MX.example.org"), org).dmarc, Dmarc::Pass);
        assert_eq!(dmarc(&h, None, org).dmarc, Dmarc::Unknown, "no trusted server configured");
        assert_eq!(dmarc(&h, Some("other.example.org"), org).dmarc, Dmarc::Unknown);
        let forged = headers(&["evil.example; dmarc=pass", "mx.example.org 1; dmarc=fail header.from=example.org"]);
        assert_eq!(
            dmarc(&forged, Some("mx.example.org"), org).dmarc,
            Dmarc::Fail,
            "a header with another id is ignored"
        );
        let spf = headers(&["mx.example.org; spf=pass"]);
        assert_eq!(dmarc(&spf, Some("mx.example.org"), org).dmarc, Dmarc::Unknown);
        let none = headers(&["mx.example.org; dmarc=none header.from=example.org"]);
        assert_eq!(dmarc(&none, Some("mx.example.org"), org).dmarc, Dmarc::Unknown);
    }

    #[test]
    fn a_dmarc_verdict_counts_only_for_the_domain_it_names() {
        let mx = Some("mx.example.org");
        // The server judged the first From, loket reads the last.
        let evil = headers(&["mx.example.org; dmarc=pass header.from=evil.example"]);
        assert_eq!(dmarc(&evil, mx, "example.org"), Verdict { dmarc: Dmarc::Unknown, about_another_domain: true });
        assert_eq!(dmarc(&evil, mx, "Evil.Example"), Verdict { dmarc: Dmarc::Pass, about_another_domain: false });
        // A subdomain is another domain to DMARC.
        let sub = headers(&["mx.example.org; dmarc=pass header.from=hr.example.org"]);
        assert!(dmarc(&sub, mx, "example.org").about_another_domain);
        // No domain named: no pass for anyone, but a fail is a fail.
        let bare = headers(&["mx.example.org; dmarc=pass"]);
        assert_eq!(dmarc(&bare, mx, "example.org"), Verdict { dmarc: Dmarc::Unknown, about_another_domain: false });
        let failed = headers(&["mx.example.org; dmarc=fail"]);
        assert_eq!(dmarc(&failed, mx, "example.org").dmarc, Dmarc::Fail);
        // A comment cannot name the domain, nor cut the result short with a semicolon.
        let comment = headers(&["mx.example.org; dmarc=pass (header.from=example.org; x) header.from=evil.example"]);
        assert_eq!(dmarc(&comment, mx, "example.org").dmarc, Dmarc::Unknown);
        // Of several results, the one about the sender's domain counts.
        let two = headers(&["mx.example.org; dmarc=pass header.from=evil.example; dmarc=fail header.from=example.org"]);
        assert_eq!(dmarc(&two, mx, "example.org").dmarc, Dmarc::Fail);
    }

    fn judged(raw: &str, authserv_id: Option<&str>) -> (Trust, String) {
        let mut message = crate::inbound::intake::parse(raw.as_bytes()).unwrap();
        let trust = Trust::judge(&mut message, authserv_id, &Domains::new(["example.org"]));
        (trust, message.from.address)
    }

    #[test]
    fn a_sender_read_from_several_froms_or_without_a_from_is_in_doubt_and_not_vouched_for() {
        let mx = Some("mx.example.org");
        let two = "Authentication-Results: mx.example.org; dmarc=pass header.from=evil.example\r\nFrom: m@evil.example\r\nFrom: Anna <anna@example.org>\r\nSubject: Re: [SD-00042] x\r\n\r\nb\r\n";
        let (trust, from) = judged(two, mx);
        assert_eq!(from, "anna@example.org");
        assert_eq!((trust.dmarc, trust.doubt), (Dmarc::Unknown, Some(Doubt::SeveralSenders)));
        let sender = "Authentication-Results: mx.example.org; dmarc=pass header.from=example.org\r\nFrom: undisclosed:;\r\nSender: anna@example.org\r\nSubject: x\r\n\r\nb\r\n";
        let (trust, from) = judged(sender, mx);
        assert_eq!(from, "anna@example.org");
        assert_eq!((trust.dmarc, trust.doubt), (Dmarc::Unknown, Some(Doubt::NoFrom)));
        let other = "Authentication-Results: mx.example.org; dmarc=pass header.from=evil.example\r\nFrom: anna@example.org\r\nSubject: x\r\n\r\nb\r\n";
        assert_eq!(judged(other, mx).0.doubt, Some(Doubt::VerdictAboutAnotherDomain));
        assert_eq!(judged(other, None).0.doubt, None, "without a trusted server no verdict is read");
        let plain = "Authentication-Results: mx.example.org; dmarc=pass header.from=example.org\r\nFrom: anna@example.org\r\nSubject: x\r\n\r\nb\r\n";
        assert_eq!((judged(plain, mx).0.dmarc, judged(plain, mx).0.doubt), (Dmarc::Pass, None));
        let bounce = "Return-Path: <>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\nSubject: failure\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n";
        let (trust, from) = judged(bounce, mx);
        assert_eq!(
            (from.as_str(), trust.doubt),
            ("MAILER-DAEMON", None),
            "the mail system's own reports stay as they were"
        );
    }

    #[test]
    fn reply_to_is_believed_within_the_senders_domain_or_between_the_organisations_addresses() {
        let internal = Domains::new(["example.org"]);
        assert!(reply_to_trusted("anna@example.org", "anna.private@example.org", &internal));
        assert!(reply_to_trusted("anna@example.org", "anna@hr.example.org", &internal));
        assert!(reply_to_trusted("anna@partner.example", "desk@partner.example", &internal));
        // An outsider naming an employee would open the request in the employee's name.
        assert!(!reply_to_trusted("m@evil.example", "ceo@example.org", &internal));
        assert!(!reply_to_trusted("anna@partner.example", "anna@hr.example.org", &internal));
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
