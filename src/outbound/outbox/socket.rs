//! The SMTP socket, opened by loket rather than by lettre so that Nagle's
//! algorithm is off. lettre writes a mail's content and its closing dot in two
//! writes; with Nagle on, the small second write waits until the server has
//! acknowledged the first, and a server with nothing to answer yet delays that
//! ACK (40 ms on Linux): about 40 ms lost on every mail.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{PauseReason, SendError};

/// Connects (within `timeout`), turns Nagle off, starts implicit TLS when a
/// connector is given, reads the greeting and says EHLO.
pub(super) async fn connect(
    host: &str,
    port: u16,
    timeout: Duration,
    hello: &ClientId,
    implicit: Option<&TlsConnector>,
) -> Result<AsyncSmtpConnection, SendError> {
    let failed = |reason: PauseReason, what: &str, error: &dyn std::fmt::Display| SendError::Server {
        reason,
        error: format!("{what} {host}:{port}: {error}"),
    };
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(error)) => return Err(failed(PauseReason::Connection, "cannot connect to", &error)),
        Err(_) => return Err(failed(PauseReason::Connection, "no connection within the time-out to", &"")),
    };
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "TCP_NODELAY could not be set on the SMTP socket");
    }
    let stream: Box<dyn AsyncTokioStream> = match implicit {
        None => Box::new(tcp),
        Some(connector) => {
            let name = ServerName::try_from(host.to_owned())
                .map_err(|error| failed(PauseReason::Tls, "no TLS name for", &error))?;
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|error| failed(PauseReason::Tls, "TLS handshake failed with", &error))?;
            Box::new(Tls(tls))
        }
    };
    AsyncSmtpConnection::connect_with_transport(stream, hello).await.map_err(opening)
}

/// An implicit-TLS socket as lettre takes one.
#[derive(Debug)]
struct Tls(TlsStream<TcpStream>);

impl AsyncTokioStream for Tls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for Tls {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tls {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// A failure while the session was being opened: the server's problem, always.
fn opening(error: SmtpError) -> SendError {
    SendError::Server { reason: reason(&error), error: error.to_string() }
}

/// Why a session could not be opened, or went wrong before the mail.
pub(super) fn reason(error: &SmtpError) -> PauseReason {
    if error.is_tls() {
        PauseReason::Tls
    } else if error.status().is_some() {
        PauseReason::Refused
    } else {
        PauseReason::Connection
    }
}
