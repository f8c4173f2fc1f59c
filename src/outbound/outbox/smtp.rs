//! One SMTP session at a time, driven step by step so that every failure is known
//! by where it happened: opening the session (connection, TLS, greeting, AUTH) and
//! the sender (MAIL FROM) are the server's or the operator's problem and pause the
//! queue; a recipient (RCPT) or the content (DATA) is this mail's problem.
//!
//! Sessions are kept between mails (as many as are used at once, see
//! `outbox.connections`) and tested with NOOP before reuse. A mail
//! whose exchange failed or ran out of time never hands its session back: after a
//! time-out the server may still be reading the body or about to answer, and the
//! next mail would read that answer as its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

use super::smtp_oauth::OAuthLogin;
use super::{PauseReason, SendError};
use crate::config::AuthMethod;
use crate::oauth::Tokens;

/// A kept session older than this is closed rather than tested.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Upload time allowed on top of `smtp.timeout_secs`: one second per this many bytes.
const BYTES_PER_SECOND: usize = 256 * 1024;

#[derive(Clone)]
pub enum Encryption {
    Implicit(TlsConnector),
    Starttls(TlsParameters),
    None,
}

/// How to reach and log in to the server.
#[derive(Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub encryption: Encryption,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// Read again for every new session, so that a rotated password is picked up.
    pub password_file: Option<PathBuf>,
    pub timeout: Duration,
    pub hello: ClientId,
    /// Signing in with a bearer token instead of the password.
    oauth: Option<OAuthLogin>,
    kept: Arc<Mutex<Vec<(AsyncSmtpConnection, Instant)>>>,
}

impl Smtp {
    pub fn new(
        host: String,
        port: u16,
        encryption: Encryption,
        username: Option<String>,
        password: Option<SecretString>,
        password_file: Option<PathBuf>,
        timeout: Duration,
    ) -> Self {
        Self {
            host,
            port,
            encryption,
            username,
            password,
            password_file,
            timeout,
            hello: ClientId::default(),
            oauth: None,
            kept: Arc::default(),
        }
    }

    /// Signs in with `method` and a token from the `[[oauth]]` client `client`.
    pub fn with_oauth(mut self, method: AuthMethod, client: String, tokens: Tokens) -> Self {
        self.oauth = Some(OAuthLogin { method, client, tokens });
        self
    }

    /// Takes tokens from `tokens` (shared with the mailboxes, and keeping rotated refresh tokens).
    pub fn share_tokens(&mut self, tokens: Tokens) {
        if let Some(oauth) = &mut self.oauth {
            oauth.tokens = tokens;
        }
    }

    pub async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
        let mut session = match self.kept_session().await {
            Some(session) => session,
            None => match tokio::time::timeout(self.timeout, self.open()).await {
                Ok(session) => session?,
                Err(_) => {
                    return Err(SendError::Server {
                        reason: PauseReason::Connection,
                        error: format!("the server did not open a session within {} s", self.timeout.as_secs()),
                    });
                }
            },
        };
        let limit = self.timeout + Duration::from_secs((bytes.len() / BYTES_PER_SECOND) as u64);
        match tokio::time::timeout(limit, transaction(&mut session, envelope, bytes)).await {
            Ok(Ok(())) => {
                self.kept.lock().await.push((session, Instant::now()));
                Ok(())
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(SendError::Transient(format!("no answer within {} s", limit.as_secs()))),
        }
    }

    /// The kept session, when it is recent and still answers.
    async fn kept_session(&self) -> Option<AsyncSmtpConnection> {
        // Sessions unused for too long (fewer mails at once than sessions) are closed.
        let (stale, recent) = {
            let mut kept = self.kept.lock().await;
            let stale: Vec<_> = kept.extract_if(.., |(_, since)| since.elapsed() > IDLE_LIMIT).collect();
            (stale, kept.pop())
        };
        for (mut session, _) in stale {
            let _ = tokio::time::timeout(Duration::from_secs(2), session.quit()).await;
        }
        let (mut session, _) = recent?;
        match tokio::time::timeout(Duration::from_secs(5), session.test_connected()).await {
            Ok(true) => Some(session),
            _ => None,
        }
    }

    /// Connects, says EHLO, starts TLS and logs in.
    async fn open(&self) -> Result<AsyncSmtpConnection, SendError> {
        let implicit = match &self.encryption {
            Encryption::Implicit(tls) => Some(tls.clone()),
            _ => None,
        };
        let mut session =
            super::socket::connect(&self.host, self.port, self.timeout, &self.hello, implicit.as_ref()).await?;
        if let Encryption::Starttls(tls) = &self.encryption {
            session.starttls(tls.clone(), &self.hello).await.map_err(|e| SendError::Server {
                reason: if e.status().is_some() { PauseReason::Refused } else { PauseReason::Tls },
                error: format!("STARTTLS: {e}"),
            })?;
        }
        if let (Some(user), Some(oauth)) = (&self.username, &self.oauth) {
            oauth.sign_in(&mut session, user, &self.host, self.port).await?;
        } else if let Some(user) = &self.username {
            let credentials = Credentials::new(user.clone(), self.password()?);
            session.auth(DEFAULT_MECHANISMS, &credentials).await.map_err(|e| SendError::Server {
                reason: if e.status().is_some() || e.is_client() {
                    PauseReason::Authentication
                } else {
                    super::socket::reason(&e)
                },
                error: format!("AUTH: {e}"),
            })?;
        }
        Ok(session)
    }

    fn password(&self) -> Result<String, SendError> {
        match &self.password_file {
            Some(path) => {
                std::fs::read_to_string(path).map(|p| p.trim_end().to_owned()).map_err(|e| SendError::Server {
                    reason: PauseReason::Authentication,
                    error: format!("smtp.password_file {}: {e}", path.display()),
                })
            }
            None => Ok(self.password.as_ref().map(|p| p.expose_secret().to_owned()).unwrap_or_default()),
        }
    }
}

/// MAIL, RCPT, DATA and the content, each refusal classified by its step.
async fn transaction(session: &mut AsyncSmtpConnection, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
    let mut options = Vec::new();
    let addresses = envelope.from().into_iter().chain(envelope.to());
    if addresses.map(|a| a.as_ref()).any(|a: &str| !a.is_ascii()) {
        if !session.server_info().supports_feature(Extension::SmtpUtfEight) {
            return Err(SendError::Permanent("the server does not take non-ASCII addresses (no SMTPUTF8)".into()));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !bytes.is_ascii() {
        if !session.server_info().supports_feature(Extension::EightBitMime) {
            return Err(SendError::Permanent("the server does not take 8-bit mail (no 8BITMIME)".into()));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    session.command(Mail::new(envelope.from().cloned(), options)).await.map_err(|e| at(Step::Sender, &e))?;
    for recipient in envelope.to() {
        session.command(Rcpt::new(recipient.clone(), vec![])).await.map_err(|e| at(Step::Recipient, &e))?;
    }
    session.command(Data).await.map_err(|e| at(Step::Content, &e))?;
    session.message(bytes).await.map_err(|e| at(Step::Content, &e))?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Sender,
    Recipient,
    Content,
}

/// A failure inside the mail transaction, by the step it happened at.
pub fn at(step: Step, error: &SmtpError) -> SendError {
    let text = error.to_string();
    let Some(code) = error.status() else {
        // The connection broke mid-mail; the next session will tell whether the server is gone.
        return SendError::Transient(text);
    };
    let code: u16 = code.to_string().parse().unwrap_or(0);
    classify(step, code, &text)
}

/// The decision, by step, reply code and text. A refusal at RCPT is about that
/// mail's recipient, whatever its words: an internal-only relay refusing an
/// outside address (`554 5.7.1 Relay access denied`) fails that mail, and the
/// queue goes on.
pub fn classify(step: Step, code: u16, text: &str) -> SendError {
    let lower = text.to_ascii_lowercase();
    // A login the server no longer takes, wherever it says so; 454 at RCPT is
    // also a relay refused for now, about that recipient.
    if matches!(code, 530 | 534 | 535 | 538) || (code == 454 && step != Step::Recipient) {
        return SendError::Server { reason: PauseReason::Authentication, error: text.to_owned() };
    }
    let about_sender = ["sender", "send as", "sendas", "send on behalf", "not permitted to send", "relay"]
        .iter()
        .any(|w| lower.contains(w));
    // What refuses the sender address itself, not this sender to this recipient.
    let refuses_sender_address = ["sender address rejected", "not owned by", "send as", "sendas", "send on behalf"]
        .iter()
        .any(|w| lower.contains(w));
    let policy = lower.contains("5.7.") || lower.contains("4.7.");
    // Some servers refuse the desk's address as sender only after the content
    // (Exchange's 5.7.60), or at RCPT (Postfix delays its sender checks to
    // there: "Sender address rejected"); a relay refused at RCPT is about that
    // recipient alone.
    if step == Step::Sender
        || (step == Step::Content && policy && about_sender)
        || (step == Step::Recipient && policy && refuses_sender_address)
    {
        return SendError::Server { reason: PauseReason::Sender, error: text.to_owned() };
    }
    if code >= 500 { SendError::Permanent(text.to_owned()) } else { SendError::Transient(text.to_owned()) }
}

#[cfg(test)]
mod tests {
    use super::{PauseReason, SendError, Step, classify};

    fn paused(result: SendError) -> Option<PauseReason> {
        match result {
            SendError::Server { reason, .. } => Some(reason),
            _ => None,
        }
    }

    #[test]
    fn login_and_sender_refusals_pause_the_queue_wherever_they_come() {
        let auth = "permanent error (530): 5.7.0 Authentication required";
        assert_eq!(paused(classify(Step::Sender, 530, auth)), Some(PauseReason::Authentication));
        assert_eq!(paused(classify(Step::Content, 535, "5.7.8 bad credentials")), Some(PauseReason::Authentication));
        let send_as = "permanent error (550): 5.7.60 SMTP; Client does not have permissions to send as this sender";
        assert_eq!(paused(classify(Step::Content, 550, send_as)), Some(PauseReason::Sender));
        let relay = "permanent error (554): 5.7.1 <x@example.com>: Relay access denied";
        assert_eq!(paused(classify(Step::Content, 554, relay)), Some(PauseReason::Sender));
        let required = "permanent error (530): 5.7.0 Authentication required";
        assert_eq!(paused(classify(Step::Recipient, 530, required)), Some(PauseReason::Authentication));
        assert_eq!(paused(classify(Step::Sender, 451, "4.3.0 try later")), Some(PauseReason::Sender));
        // Postfix's sender checks, delayed to RCPT (smtpd_delay_reject).
        let not_owned =
            "permanent error (553): 5.7.1 <servicedesk@example.org>: Sender address rejected: not owned by user loket";
        assert_eq!(paused(classify(Step::Recipient, 553, not_owned)), Some(PauseReason::Sender));
    }

    #[test]
    fn a_refused_recipient_or_content_concerns_that_mail_only() {
        let unknown = classify(Step::Recipient, 550, "permanent error (550): 5.1.1 no such user here");
        assert!(matches!(unknown, SendError::Permanent(_)), "{unknown:?}");
        let too_big = classify(Step::Content, 552, "permanent error (552): 5.3.4 message too big");
        assert!(matches!(too_big, SendError::Permanent(_)), "{too_big:?}");
        let greylisted = classify(Step::Recipient, 450, "transient error (450): 4.2.0 greylisted");
        assert!(matches!(greylisted, SendError::Transient(_)), "{greylisted:?}");
        let spam = classify(Step::Content, 554, "permanent error (554): 5.7.1 message content rejected");
        assert!(matches!(spam, SendError::Permanent(_)), "{spam:?}");
    }

    #[test]
    fn a_relay_refused_for_one_recipient_fails_that_mail_and_never_pauses_the_queue() {
        let relay = classify(Step::Recipient, 554, "permanent error (554): 5.7.1 <x@other.org>: Relay access denied");
        assert!(matches!(relay, SendError::Permanent(_)), "{relay:?}");
        let soft = classify(Step::Recipient, 454, "transient error (454): 4.7.1 <x@other.org>: Relay access denied");
        assert!(matches!(soft, SendError::Transient(_)), "{soft:?}");
        let sender =
            classify(Step::Recipient, 550, "permanent error (550): 5.7.1 sender not allowed to this recipient");
        assert!(matches!(sender, SendError::Permanent(_)), "{sender:?}");
    }
}
