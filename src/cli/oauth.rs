//! `loket oauth token NAME`: asks a client for a token, to test the client's
//! settings, and says what came back without printing the token.
//! `loket oauth login --oauth NAME`: signs a delegated account in with the
//! device-code flow and keeps its refresh token in the store.

use std::io::Write;

use anyhow::{Context, Result};
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
    /// Sign a delegated account in with the device-code flow (the client's
    /// `device_authorization_url`): shows a page and a code to enter there, waits
    /// for the sign-in and keeps the refresh token in the store.
    Login {
        /// The `[[oauth]]` client's `name` (with `grant = "refresh_token"`).
        #[arg(long = "oauth", value_name = "NAME")]
        name: String,
    },
}

/// The token source of the CLI: with the store when it can be opened, so that a
/// rotated refresh token is read and kept as the daemon would.
pub async fn tokens(config: &Config) -> Tokens {
    if config.oauth.is_empty() {
        return Tokens::new(&config.oauth, None);
    }
    match crate::app::open_store(&config.store).await {
        Ok(store) => Tokens::new(&config.oauth, Some(store)),
        Err(error) => {
            tracing::warn!(%error, "the store cannot be opened; rotated refresh tokens will not be kept");
            Tokens::new(&config.oauth, None)
        }
    }
}

pub async fn oauth(command: OAuthCommand, config: &Config) -> Result<()> {
    match command {
        OAuthCommand::Token { name, subject } => token(config, name, subject).await,
        OAuthCommand::Login { name } => login(config, &name).await,
    }
}

async fn login(config: &Config, name: &str) -> Result<()> {
    let store = crate::app::open_store(&config.store).await.context("the store keeps the refresh token")?;
    let tokens = Tokens::new(&config.oauth, Some(store));
    tokens
        .device_login(name, |prompt| {
            let mut out = super::terminal::stdout();
            let page = prompt.verification_uri_complete.as_deref().unwrap_or(&prompt.verification_uri);
            let _ = writeln!(out, "To sign in, open {page} and enter the code {}", prompt.user_code);
            let _ = writeln!(
                out,
                "Waiting for the sign-in (the code is valid for {} minutes)…",
                prompt.expires_in.as_secs().div_ceil(60)
            );
            let _ = out.flush();
        })
        .await?;
    let mut out = super::terminal::stdout();
    writeln!(
        out,
        "{name}: signed in; the refresh token is kept in the store, and mailboxes with oauth = \"{name}\" use it"
    )?;
    Ok(())
}

async fn token(config: &Config, name: String, subject: Option<String>) -> Result<()> {
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
