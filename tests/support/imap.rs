//! A plain IMAP client for tests, to put mail into Dovecot and look at folders.

use futures::TryStreamExt;
use tokio::net::TcpStream;

use super::dovecot::PASSWORD;

pub type Session = async_imap::Session<TcpStream>;

pub async fn login(port: u16, user: &str) -> Session {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("connect to dovecot");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting").expect("greeting");
    client.login(user, PASSWORD).await.map_err(|(e, _)| e).expect("login")
}

pub async fn append(session: &mut Session, folder: &str, raw: &[u8]) {
    session.append(folder, None, None, raw).await.expect("append");
}

/// Appends every message in one session.
pub async fn append_all(port: u16, user: &str, folder: &str, messages: &[Vec<u8>]) {
    let mut session = login(port, user).await;
    if folder != "INBOX" {
        let _ = session.create(folder).await;
    }
    for raw in messages {
        append(&mut session, folder, raw).await;
    }
    session.logout().await.expect("logout");
}

/// Number of messages in a folder (0 when it does not exist).
pub async fn count(port: u16, user: &str, folder: &str) -> u32 {
    let mut session = login(port, user).await;
    let exists = session.examine(folder).await.map(|m| m.exists).unwrap_or(0);
    session.logout().await.expect("logout");
    exists
}

/// UIDVALIDITY of a folder.
pub async fn uidvalidity(port: u16, user: &str, folder: &str) -> u32 {
    let mut session = login(port, user).await;
    let value = session.examine(folder).await.expect("examine").uid_validity.expect("uidvalidity");
    session.logout().await.expect("logout");
    value
}

/// The flags of every message in a folder.
pub async fn flags(port: u16, user: &str, folder: &str) -> Vec<String> {
    let mut session = login(port, user).await;
    session.examine(folder).await.expect("examine");
    let fetches: Vec<_> = session.fetch("1:*", "FLAGS").await.expect("fetch").try_collect().await.expect("flags");
    let flags = fetches.iter().map(|f| f.flags().map(|fl| format!("{fl:?}")).collect::<Vec<_>>().join(" ")).collect();
    drop(fetches);
    session.logout().await.expect("logout");
    flags
}
