//! Transports: SMTP (rustls, kept sessions, see [`super::smtp`]), or `.eml`
//! files in a folder for the no-server mode.

pub use crate::domain::PauseReason;
use std::path::PathBuf;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use lettre::{AsyncFileTransport, AsyncTransport, Tokio1Executor};

use super::smtp::{Encryption, Smtp};
use crate::config::{OAuthConfig, OutboxConfig, SmtpConfig, TlsMode};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("smtp: {0}")]
    Setup(String),
}

/// Why a mail did not go out, shaped for the decision that follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The server or the account takes no mail now: the queue pauses, no mail is charged.
    Server { reason: PauseReason, error: String },
    /// Worth another try later for this mail (a 4xx for its recipient or content, no answer).
    Transient(String),
    /// This mail will never be taken (its recipient or content refused with 5xx).
    Permanent(String),
}

#[derive(Clone)]
pub enum Transport {
    Smtp(Smtp),
    File { transport: AsyncFileTransport<Tokio1Executor>, dir: PathBuf },
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp(smtp) => write!(f, "Transport::Smtp({}:{})", smtp.host, smtp.port),
            Self::File { dir, .. } => write!(f, "Transport::File({})", dir.display()),
        }
    }
}

impl Transport {
    /// The transport the config asks for: files when `outbox.file_dir` is set, else
    /// SMTP when `[smtp]` is there, else none (mail waits in the outbox).
    pub fn from_config(
        outbox: &OutboxConfig,
        smtp_config: Option<&SmtpConfig>,
        oauth: &[OAuthConfig],
    ) -> Result<Option<Self>, TransportError> {
        if let Some(dir) = &outbox.file_dir {
            // Made readable by loket's user alone, so that no mail is readable by
            // others between its writing and its own permissions being narrowed.
            std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
                .create(dir)
                .map_err(|e| TransportError::Setup(format!("{}: {e}", dir.display())))?;
            return Ok(Some(Self::File { transport: AsyncFileTransport::new(dir), dir: dir.clone() }));
        }
        smtp_config.map(|smtp_config| smtp(smtp_config, oauth)).transpose()
    }

    /// Shares the daemon's token source (which keeps rotated refresh tokens in the store).
    pub fn share_tokens(&mut self, tokens: &crate::oauth::Tokens) {
        if let Self::Smtp(smtp) = self {
            smtp.share_tokens(tokens.clone());
        }
    }

    /// Sends one composed mail.
    pub async fn send(&self, sender: &str, recipient: &str, bytes: &[u8]) -> Result<(), SendError> {
        let envelope = Envelope::new(
            Some(sender.parse().map_err(|_| SendError::Permanent(format!("bad sender address {sender}")))?),
            vec![recipient.parse().map_err(|_| SendError::Permanent(format!("bad recipient address {recipient}")))?],
        )
        .map_err(|e| SendError::Permanent(e.to_string()))?;
        match self {
            Self::File { transport, dir } => {
                let id = transport.send_raw(&envelope, bytes).await.map_err(|e| SendError::Transient(e.to_string()))?;
                // The mail holds the tracking link: readable by loket's own user only.
                let file = dir.join(format!("{id}.eml"));
                if let Err(error) = std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                {
                    tracing::warn!(file = %file.display(), %error, "cannot make the mail file private");
                }
                Ok(())
            }
            Self::Smtp(smtp) => smtp.send(&envelope, bytes).await,
        }
    }
}

fn smtp(config: &SmtpConfig, oauth: &[OAuthConfig]) -> Result<Transport, TransportError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let setup = |e: String| TransportError::Setup(e);
    let port = config.port.unwrap_or(match config.tls {
        TlsMode::Implicit => 465,
        TlsMode::Starttls => 587,
        TlsMode::None => 25,
    });
    let encryption = match config.tls {
        TlsMode::None => Encryption::None,
        // Implicit TLS runs over loket's own socket (see `super::socket`), with the same roots.
        TlsMode::Implicit => Encryption::Implicit(crate::tls::connector(config.ca_file.as_deref()).map_err(setup)?),
        TlsMode::Starttls => {
            let mut tls = TlsParameters::builder(config.host.clone());
            if let Some(path) = &config.ca_file {
                let pem = std::fs::read(path).map_err(|e| setup(format!("cannot read {}: {e}", path.display())))?;
                tls = tls.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| setup(e.to_string()))?);
            }
            Encryption::Starttls(tls.build_rustls().map_err(|e| setup(e.to_string()))?)
        }
    };
    let smtp = Smtp::new(
        config.host.clone(),
        port,
        encryption,
        config.username.clone(),
        config.password.clone(),
        config.password_file.clone(),
        Duration::from_secs(config.timeout_secs),
    );
    Ok(Transport::Smtp(match (&config.oauth, config.auth.uses_oauth()) {
        (Some(client), true) => smtp.with_oauth(config.auth, client.clone(), crate::oauth::Tokens::new(oauth, None)),
        _ => smtp,
    }))
}
