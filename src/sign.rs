//! What loket signs and what it hands out: Message-IDs it can recognise later
//! (keyed with the desk's secret, so a forged one is refused) and tracking tokens
//! (random, shown once, stored only as a hash).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

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

impl Signer {
    pub fn new(secret: &[u8]) -> Self {
        Self { key: secret.to_vec() }
    }

    fn signature(&self, payload: &str) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(payload.as_bytes());
        let mut hex = hex::encode(mac.finalize().into_bytes());
        hex.truncate(SIGNATURE_HEX);
        hex
    }

    /// A new Message-ID (without angle brackets) for a mail about `reference`:
    /// `loket.SD-00042.ack.3f9a…@desk.example.org`.
    pub fn message_id(&self, reference: &TicketRef, kind: &str, domain: &str) -> String {
        let nonce = hex::encode(rand::random::<[u8; 8]>());
        let payload = format!("{PREFIX}.{reference}.{kind}.{nonce}");
        format!("{payload}.{}@{domain}", self.signature(&payload))
    }

    /// The ticket a Message-ID of loket's points at, when its signature is right.
    pub fn verify(&self, message_id: &str) -> Option<TicketRef> {
        let id = message_id.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, _domain) = id.rsplit_once('@')?;
        let (payload, signature) = local.rsplit_once('.')?;
        let mut parts = payload.split('.');
        let (prefix, reference) = (parts.next()?, parts.next()?);
        if prefix != PREFIX || parts.count() != 2 {
            return None;
        }
        let expected = self.signature(payload);
        // Compared in constant time: the signature is a secret's output.
        let same = expected.len() == signature.len()
            && expected.bytes().zip(signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        same.then(|| TicketRef::parse(reference).ok()).flatten()
    }
}

/// A new tracking token: 192 random bits, URL-safe.
pub fn tracking_token() -> String {
    hex::encode(rand::random::<[u8; 24]>())
}

/// What the store keeps of a tracking token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_message_id_verifies_and_names_its_ticket() {
        let signer = Signer::new(b"secret");
        let reference = TicketRef::new("SD", 42);
        let id = signer.message_id(&reference, "ack", "desk.example.org");
        assert!(id.starts_with("loket.SD-00042.ack."), "{id}");
        assert!(id.ends_with("@desk.example.org"));
        assert_eq!(signer.verify(&id), Some(reference.clone()));
        assert_eq!(signer.verify(&format!("<{id}>")), Some(reference));
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
    fn tracking_tokens_are_long_random_and_stored_as_hashes() {
        let (a, b) = (tracking_token(), tracking_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 48);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
