//! Transports: SMTP through lettre (pooled, rustls), or `.eml` files in a folder
//! for the no-server mode.

use std::path::PathBuf;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{Config, SmtpConfig, TlsMode};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("smtp: {0}")]
    Setup(String),
}

/// Why a mail did not go out, shaped for the retry decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth another try later (connection refused, 4xx, time-out).
    Transient(String),
    /// Will never work (5xx, a malformed address).
    Permanent(String),
}

#[derive(Clone)]
pub enum Transport {
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, timeout: Duration },
    File { transport: AsyncFileTransport<Tokio1Executor>, dir: PathBuf },
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp { .. } => f.write_str("Transport::Smtp"),
            Self::File { dir, .. } => write!(f, "Transport::File({})", dir.display()),
        }
    }
}

impl Transport {
    /// The transport the config asks for: files when `outbox.file_dir` is set, else
    /// SMTP when `[smtp]` is there, else none (mail waits in the outbox).
    pub fn from_config(config: &Config) -> Result<Option<Self>, TransportError> {
        if let Some(dir) = &config.outbox.file_dir {
            std::fs::create_dir_all(dir).map_err(|e| TransportError::Setup(format!("{}: {e}", dir.display())))?;
            return Ok(Some(Self::File { transport: AsyncFileTransport::new(dir), dir: dir.clone() }));
        }
        config.smtp.as_ref().map(smtp).transpose()
    }

    /// Sends one composed mail under the transport's timeout.
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
            Self::Smtp { transport, timeout } => {
                // lettre's own timeout covers connecting only; the whole exchange gets one here.
                match tokio::time::timeout(*timeout, transport.send_raw(&envelope, bytes)).await {
                    Err(_) => Err(SendError::Transient(format!("no answer within {} s", timeout.as_secs()))),
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                    Ok(Err(e)) => Err(SendError::Transient(e.to_string())),
                }
            }
        }
    }
}

fn smtp(config: &SmtpConfig) -> Result<Transport, TransportError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let setup = |e: String| TransportError::Setup(e);
    let port = config.port.unwrap_or(match config.tls {
        TlsMode::Implicit => 465,
        TlsMode::Starttls => 587,
        TlsMode::None => 25,
    });
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host).port(port);
    if config.tls != TlsMode::None {
        let mut tls = TlsParameters::builder(config.host.clone());
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| setup(format!("cannot read {}: {e}", path.display())))?;
            tls = tls.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| setup(e.to_string()))?);
        }
        let tls = tls.build_rustls().map_err(|e| setup(e.to_string()))?;
        builder = builder.tls(if config.tls == TlsMode::Implicit { Tls::Wrapper(tls) } else { Tls::Required(tls) });
    }
    if let Some(user) = &config.username {
        let password = config.password.as_ref().map(|p| p.expose_secret().to_owned()).unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    let timeout = Duration::from_secs(config.timeout_secs);
    let transport = builder.timeout(Some(timeout)).pool_config(PoolConfig::new().max_size(4)).build();
    Ok(Transport::Smtp { transport, timeout })
}
