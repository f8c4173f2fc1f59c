//! `loket oauth token NAME`: asks a client for a token, to test the client's
//! settings, and says what came back without printing the token.

use std::io::Write;

use anyhow::Result;
use clap::Subcommand;

use crate::config::Config;
use crate::oauth::Tokens;

#[derive(Debug, Subcommand)]
pub enum OAuthCommand {
    /// Obtain an access token from the named `[[oauth]]` client (the token is not shown).
    Token {
        /// The client's `name`.
        name: String,
        /// The account the token is for (a service account acts for it); default: the
        /// username of the first mailbox using the client.
        #[arg(long)]
        subject: Option<String>,
    },
}

/// The token source of the CLI: with the store when it can be opened, so that a
/// rotated refresh token is read and kept as the daemon would.
pub async fn tokens(config: &Config) -> Tokens {
    if config.oauth.is_empty() {
        return Tokens::new(config, None);
    }
    match crate::app::open_store(config).await {
        Ok(store) => Tokens::new(config, Some(store)),
        Err(error) => {
            tracing::warn!(%error, "the store cannot be opened; rotated refresh tokens will not be kept");
            Tokens::new(config, None)
        }
    }
}

pub async fn oauth(command: OAuthCommand, config: &Config) -> Result<()> {
    let OAuthCommand::Token { name, subject } = command;
    let subject = subject
        .or_else(|| {
            config.mailboxes.iter().find(|m| m.oauth.as_deref() == Some(name.as_str())).and_then(|m| m.username.clone())
        })
        .or_else(|| {
            config.smtp.as_ref().filter(|s| s.oauth.as_deref() == Some(name.as_str())).and_then(|s| s.username.clone())
        })
        .unwrap_or_default();
    let tokens = tokens(config).await;
    let token = tokens.token(&name, &subject).await?;
    let mut out = super::terminal::stdout();
    writeln!(out, "{name}: token obtained ({} characters) for `{subject}`", token.secret().len())?;
    Ok(())
}
