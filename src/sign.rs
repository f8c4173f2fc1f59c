//! What loket signs and what it hands out: Message-IDs it can recognise later
//! (keyed with the desk's secret, so a forged one is refused) and tracking tokens
//! (derived from the ticket's reference and its link generation with the same
//! secret, so every mail to the employee can carry the link while the store keeps
//! no copy of it; raising a ticket's generation takes its old link back).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::TicketRef;

type HmacSha256 = Hmac<Sha256>;

/// Signs and verifies loket's own Message-IDs.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

const PREFIX: &str = "loket";
const SIGNATURE_HEX: usize = 20;
const TOKEN_HEX: usize = 48;

/// The link generation of a new ticket; `loket tickets revoke-link` raises it.
pub const FIRST_LINK: i64 = 0;

/// A Message-ID of loket's that verified: the ticket it belongs to and the kind of
/// mail it was (`ack`, `fwd`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub reference: TicketRef,
    pub kind: String,
}

/// Equality that takes the same time wherever the first difference is.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Signer {
    pub fn new(secret: &[u8]) -> Self {
        Self { key: secret.to_vec() }
    }

    fn mac(&self, payload: &str, length: usize) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(payload.as_bytes());
        let mut hex = hex::encode(mac.finalize().into_bytes());
        hex.truncate(length);
        hex
    }

    fn signature(&self, payload: &str) -> String {
        self.mac(payload, SIGNATURE_HEX)
    }

    /// The tracking token of a ticket's link in its `generation`: 192 bits of HMAC
    /// over the reference and the generation, so it cannot be guessed from the
    /// reference, needs no storing, and a new generation makes the old link fail.
    /// The first generation's payload is the reference alone, as before
    /// generations existed, so links already mailed keep working.
    pub fn tracking_token(&self, reference: &TicketRef, generation: i64) -> String {
        let payload = match generation {
            FIRST_LINK => format!("track\0{reference}"),
            later => format!("track\0{reference}\0{later}"),
        };
        self.mac(&payload, TOKEN_HEX)
    }

    /// True when `token` is the tracking token of `reference` in `generation`,
    /// compared in constant time.
    pub fn token_matches(&self, reference: &TicketRef, generation: i64, token: &str) -> bool {
        same_secret(&self.tracking_token(reference, generation), token)
    }

    /// A new Message-ID (without angle brackets) for a mail about `reference`:
    /// `loket.SD-00042.ack.3f9a…@desk.example.org`.
    pub fn message_id(&self, reference: &TicketRef, kind: &str, domain: &str) -> String {
        let nonce = hex::encode(rand::random::<[u8; 8]>());
        let payload = format!("{PREFIX}.{reference}.{kind}.{nonce}");
        format!("{payload}.{}@{domain}", self.signature(&payload))
    }

    /// The ticket and kind a Message-ID of loket's names, when its signature is right.
    pub fn verify(&self, message_id: &str) -> Option<Signed> {
        let id = message_id.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, _domain) = id.rsplit_once('@')?;
        let (payload, signature) = local.rsplit_once('.')?;
        let mut parts = payload.split('.');
        let (prefix, reference, kind) = (parts.next()?, parts.next()?, parts.next()?);
        if prefix != PREFIX || parts.count() != 1 {
            return None;
        }
        // Compared in constant time: the signature is a secret's output.
        if !same_secret(&self.signature(payload), signature) {
            return None;
        }
        Some(Signed { reference: TicketRef::parse(reference).ok()?, kind: kind.to_owned() })
    }
}

impl Signer {
    /// The web form's anti-forgery token for the browser whose cookie holds
    /// `nonce`, issued at `issued_ms`: `ISSUED.MAC`.
    pub fn form_token(&self, nonce: &str, issued_ms: i64) -> String {
        format!("{issued_ms}.{}", self.mac(&format!("form\0{nonce}\0{issued_ms}"), TOKEN_HEX))
    }

    /// When `token` is the form token of the cookie `nonce`: the time it was issued.
    pub fn form_token_issued(&self, nonce: &str, token: &str) -> Option<i64> {
        let (issued, _) = token.split_once('.')?;
        let issued_ms: i64 = issued.parse().ok()?;
        (!nonce.is_empty() && same_secret(&self.form_token(nonce, issued_ms), token)).then_some(issued_ms)
    }

    /// The signature of a web form request's confirmation link, over the
    /// request's id and the moment the link expires.
    pub fn confirm_signature(&self, id: &str, expires_ms: i64) -> String {
        self.mac(&format!("confirm\0{id}\0{expires_ms}"), TOKEN_HEX)
    }
}

/// A new signing secret: 256 random bits, hex.
pub fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_token_holds_only_for_its_own_cookie_and_secret() {
        let signer = Signer::new(b"secret");
        let token = signer.form_token("cookie-a", 1_000);
        assert_eq!(signer.form_token_issued("cookie-a", &token), Some(1_000));
        assert_eq!(signer.form_token_issued("cookie-b", &token), None);
        assert_eq!(Signer::new(b"other").form_token_issued("cookie-a", &token), None);
        assert_eq!(signer.form_token_issued("cookie-a", &token.replacen("1000", "9000", 1)), None);
        assert_eq!(signer.form_token_issued("", &signer.form_token("", 1_000)), None);
        assert_eq!(signer.form_token_issued("cookie-a", ""), None);
    }

    #[test]
    fn a_signed_message_id_verifies_and_names_its_ticket() {
        let signer = Signer::new(b"secret");
        let reference = TicketRef::new("SD", 42);
        let id = signer.message_id(&reference, "ack", "desk.example.org");
        assert!(id.starts_with("loket.SD-00042.ack."), "{id}");
        assert!(id.ends_with("@desk.example.org"));
        let signed = Signed { reference, kind: "ack".into() };
        assert_eq!(signer.verify(&id), Some(signed.clone()));
        assert_eq!(signer.verify(&format!("<{id}>")), Some(signed));
    }

    #[test]
    fn a_forged_or_altered_message_id_is_refused() {
        let signer = Signer::new(b"secret");
        let id = signer.message_id(&TicketRef::new("SD", 42), "ack", "d.example.org");
        assert_eq!(Signer::new(b"other").verify(&id), None);
        assert_eq!(signer.verify(&id.replace("SD-00042", "SD-00043")), None);
        assert_eq!(signer.verify("loket.SD-00042.ack.00.0000@d.example.org"), None);
        assert_eq!(signer.verify("someone@example.org"), None);
        assert_eq!(signer.verify(""), None);
    }

    #[test]
    fn a_kind_cannot_be_swapped_under_the_same_signature() {
        let signer = Signer::new(b"secret");
        let id = signer.message_id(&TicketRef::new("SD", 42), "fwd", "d.example.org");
        assert_eq!(signer.verify(&id.replacen(".fwd.", ".ack.", 1)), None);
    }

    #[test]
    fn tracking_tokens_differ_per_ticket_and_per_secret_and_verify_only_their_own() {
        let signer = Signer::new(b"secret");
        let (a, b) = (TicketRef::new("SD", 1), TicketRef::new("SD", 2));
        let token = signer.tracking_token(&a, FIRST_LINK);
        assert_eq!(token.len(), 48);
        assert!(token.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(token, signer.tracking_token(&b, FIRST_LINK));
        assert_ne!(token, Signer::new(b"other").tracking_token(&a, FIRST_LINK));
        assert!(signer.token_matches(&a, FIRST_LINK, &token));
        assert!(!signer.token_matches(&b, FIRST_LINK, &token));
        assert!(!signer.token_matches(&a, FIRST_LINK, &token[..47]));
        assert!(!signer.token_matches(&a, FIRST_LINK, ""));
    }

    #[test]
    fn a_new_link_generation_refuses_the_old_token_and_leaves_other_tickets_alone() {
        let signer = Signer::new(b"secret");
        let (a, b) = (TicketRef::new("SD", 1), TicketRef::new("SD", 2));
        let (old, new) = (signer.tracking_token(&a, FIRST_LINK), signer.tracking_token(&a, 1));
        assert_ne!(old, new);
        assert!(!signer.token_matches(&a, 1, &old), "the revoked link no longer opens the page");
        assert!(signer.token_matches(&a, 1, &new));
        assert!(signer.token_matches(&b, FIRST_LINK, &signer.tracking_token(&b, FIRST_LINK)));
        assert_eq!(old, signer.mac("track\0SD-00001", TOKEN_HEX), "links mailed before generations still work");
    }
}
