//! The service manager's notification protocol (`sd_notify`): loket tells systemd
//! when it is ready (`READY=1`), that it is alive (`WATCHDOG=1`, at half the
//! interval systemd asks for) and that it is stopping (`STOPPING=1`).
//!
//! The protocol is one datagram per message to the Unix socket named in
//! `NOTIFY_SOCKET` (a path, or an abstract name starting with `@`); outside
//! systemd the variable is unset and every call does nothing.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Sends `state` (for example `READY=1`) to the service manager, when there is one.
/// A failure is logged and otherwise ignored: notifications are advice.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    if let Err(error) = send(&path, state) {
        tracing::warn!(%error, state, "cannot notify the service manager");
    }
}

fn send(path: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path);
    match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &address)?;
        }
        None => {
            socket.send_to(state.as_bytes(), path)?;
        }
    }
    Ok(())
}

/// The watchdog interval systemd asks for (`WATCHDOG_USEC`, for this process
/// when `WATCHDOG_PID` names one), if any.
pub fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.trim() != std::process::id().to_string()
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Sends `WATCHDOG=1` at half the interval systemd asks for, until shutdown. It
/// runs on the daemon's runtime, so a runtime that stops making progress stops
/// the pings and systemd restarts loket.
pub async fn watchdog(shutdown: CancellationToken) {
    let Some(interval) = watchdog_interval() else { return };
    let mut tick = tokio::time::interval(interval / 2);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => notify("WATCHDOG=1"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_arrives_as_one_datagram_on_the_named_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        send(path.as_os_str(), "READY=1").unwrap();
        let mut buffer = [0u8; 64];
        let n = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"READY=1");
    }
}
