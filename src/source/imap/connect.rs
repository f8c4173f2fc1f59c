//! Opening an IMAP session: TCP, TLS (implicit or STARTTLS), greeting, login
//! (LOGIN with a password, or AUTHENTICATE XOAUTH2 / OAUTHBEARER with a token).
//! The socket sits behind read and write timeouts so that no command can hang
//! forever; they are longer than an IDLE wait, which has its own limit. TCP
//! keepalive probes the connection while loket waits in IDLE, so a server or a
//! NAT that dropped it silently is noticed within about two minutes instead of
//! at the end of the IDLE.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use async_imap::{Client, Session};
use secrecy::ExposeSecret;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_io_timeout::TimeoutStream;

use crate::config::{AuthMethod, MailboxConfig, TlsMode};
use crate::oauth::Tokens;
use crate::source::SourceError;
use crate::tls;

/// Any byte stream an IMAP session can run over.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Stream for T {}

pub type ImapSession = Session<Box<dyn Stream>>;

type Socket = Pin<Box<TimeoutStream<TcpStream>>>;

/// First probe after a minute of silence, then every 15 s; four unanswered
/// probes end the connection: two minutes in all.
const KEEPALIVE: socket2::TcpKeepalive = socket2::TcpKeepalive::new()
    .with_time(Duration::from_secs(60))
    .with_interval(Duration::from_secs(15))
    .with_retries(4);

pub async fn connect(mailbox: &MailboxConfig, tokens: &Tokens) -> Result<ImapSession, SourceError> {
    let host = mailbox.host.clone().unwrap_or_default();
    let port = mailbox.imap_port();
    let command_timeout = Duration::from_secs(mailbox.command_timeout_secs);
    let socket_timeout = Duration::from_secs(mailbox.idle_timeout_secs + mailbox.command_timeout_secs);

    let tcp = tokio::time::timeout(command_timeout, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| SourceError::Timeout("the connection"))?
        .map_err(|source| SourceError::Connect { host: host.clone(), port, source })?;
    let _ = tcp.set_nodelay(true);
    if let Err(error) = socket2::SockRef::from(&tcp).set_tcp_keepalive(&KEEPALIVE) {
        tracing::warn!(mailbox = %mailbox.name, %error, "TCP keepalive could not be set");
    }
    let mut timed = TimeoutStream::new(tcp);
    timed.set_read_timeout(Some(socket_timeout));
    timed.set_write_timeout(Some(command_timeout));
    let socket: Socket = Box::pin(timed);

    let stream: Box<dyn Stream> = match mailbox.tls {
        TlsMode::Implicit => start_tls(mailbox, &host, socket, command_timeout).await?,
        TlsMode::None => Box::new(socket),
        TlsMode::Starttls => {
            let mut client = Client::new(socket);
            read_greeting(&mut client, command_timeout).await?;
            tokio::time::timeout(command_timeout, client.run_command_and_check_ok("STARTTLS", None))
                .await
                .map_err(|_| SourceError::Timeout("STARTTLS"))??;
            start_tls(mailbox, &host, client.into_inner(), command_timeout).await?
        }
    };
    let mut client = Client::new(stream);
    // After STARTTLS the server sends no second greeting.
    if mailbox.tls != TlsMode::Starttls {
        read_greeting(&mut client, command_timeout).await?;
    }
    match mailbox.auth {
        AuthMethod::Password => login(client, mailbox, command_timeout).await,
        method => authenticate(client, mailbox, tokens, method, command_timeout).await,
    }
}

async fn start_tls(
    mailbox: &MailboxConfig,
    host: &str,
    socket: Socket,
    timeout: Duration,
) -> Result<Box<dyn Stream>, SourceError> {
    let tls_error = |reason: String| SourceError::Tls { host: host.to_owned(), reason };
    let connector = tls::connector(mailbox.ca_file.as_deref()).map_err(tls_error)?;
    let name = rustls_pki_types::ServerName::try_from(host.to_owned()).map_err(|e| tls_error(e.to_string()))?;
    let stream = tokio::time::timeout(timeout, connector.connect(name, socket))
        .await
        .map_err(|_| SourceError::Timeout("the TLS handshake"))?
        .map_err(|e| tls_error(e.to_string()))?;
    Ok(Box::new(stream))
}

async fn read_greeting<T: Stream>(client: &mut Client<T>, timeout: Duration) -> Result<(), SourceError> {
    match tokio::time::timeout(timeout, client.read_response()).await {
        Err(_) => Err(SourceError::Timeout("the greeting")),
        Ok(Err(e)) => Err(SourceError::Protocol(format!("reading the greeting: {e}"))),
        Ok(Ok(None)) => Err(SourceError::Protocol("the server closed the connection before greeting".into())),
        Ok(Ok(Some(_))) => Ok(()),
    }
}

async fn login(
    client: Client<Box<dyn Stream>>,
    mailbox: &MailboxConfig,
    timeout: Duration,
) -> Result<ImapSession, SourceError> {
    let user = mailbox.username.clone().unwrap_or_default();
    let password = mailbox.password.as_ref().map(|p| p.expose_secret().to_owned()).unwrap_or_default();
    match tokio::time::timeout(timeout, client.login(&user, &password)).await {
        Err(_) => Err(SourceError::Timeout("LOGIN")),
        Ok(Err((error, _))) => Err(SourceError::Login { user, reason: error.to_string() }),
        Ok(Ok(session)) => Ok(session),
    }
}

/// Signs in with a bearer token. A token the server refuses is dropped and a fresh
/// one is tried once on the same connection (the provider may have revoked it
/// early); a second refusal is the account's problem and ends the attempt.
async fn authenticate(
    mut client: Client<Box<dyn Stream>>,
    mailbox: &MailboxConfig,
    tokens: &Tokens,
    method: AuthMethod,
    timeout: Duration,
) -> Result<ImapSession, SourceError> {
    let user = mailbox.username.clone().unwrap_or_default();
    let oauth = mailbox.oauth.as_deref().unwrap_or_default();
    let host = mailbox.host.as_deref().unwrap_or_default();
    let refused = |reason: String| SourceError::Login { user: user.clone(), reason };
    for attempt in 0..2 {
        let token = tokens.token(oauth, &user).await.map_err(|e| refused(e.to_string()))?;
        let sasl = Sasl::new(method, crate::oauth::initial_response(method, &user, host, mailbox.imap_port(), &token));
        let detail = sasl.detail.clone();
        match tokio::time::timeout(timeout, client.authenticate(method.mechanism(), sasl)).await {
            Err(_) => return Err(SourceError::Timeout("AUTHENTICATE")),
            Ok(Ok(session)) => return Ok(session),
            Ok(Err((async_imap::error::Error::No(text), back))) => {
                let detail = detail.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                let reason = format!(
                    "the server refused the token: {text}{}",
                    detail.map(|d| format!(" ({d})")).unwrap_or_default()
                );
                if attempt == 1 {
                    return Err(refused(reason));
                }
                tracing::warn!(mailbox = %mailbox.name, %reason, "sign-in refused; trying once more with a new token");
                tokens.refused(oauth, &user, &token).await;
                client = back;
            }
            Ok(Err((error, _))) => return Err(refused(error.to_string())),
        }
    }
    Err(refused("the server refused the token".into()))
}

/// The SASL exchange: the initial response, then the end of the exchange after
/// the server's error challenge, whose text (a JSON status, no secret) is kept for the error.
struct Sasl {
    initial: Option<Vec<u8>>,
    method: AuthMethod,
    detail: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Sasl {
    fn new(method: AuthMethod, initial: Vec<u8>) -> Self {
        Self { initial: Some(initial), method, detail: Default::default() }
    }
}

impl async_imap::Authenticator for Sasl {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        if let Some(initial) = self.initial.take() {
            return initial;
        }
        let text: String = String::from_utf8_lossy(challenge).chars().filter(|c| !c.is_control()).take(200).collect();
        *self.detail.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(text);
        crate::oauth::after_error(self.method).to_vec()
    }
}
