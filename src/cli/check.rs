//! `loket check`: everything `run` needs, tried now, one line each: the store,
//! the templates, the listen addresses, every mailbox and the outgoing mail.
//! A wrong template or file is a config failure (exit 78); a server that cannot
//! be reached or refuses loket is an unavailable one (exit 69).

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use secrecy::ExposeSecret;

use super::exit::CheckFailed;
use crate::config::{Config, SmtpConfig, TlsMode};

/// How a failed line counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Config,
    Unavailable,
}

type Line = Result<String, (Kind, String)>;

pub async fn run(config: &Config) -> Result<()> {
    let mut out = super::terminal::stdout();
    writeln!(out, "config ok: {} departments, {} mailboxes", config.departments.len(), config.mailboxes.len())?;
    let mut lines: Vec<(String, Line)> = vec![
        ("store".into(), store(config).await),
        ("templates".into(), templates(config)),
        ("listen".into(), listen(config).await),
    ];
    let tokens = super::oauth::tokens(config).await;
    for mailbox in &config.mailboxes {
        let result = match &mailbox.maildir {
            Some(path) if path.join("new").is_dir() => Ok(format!("maildir {}", path.display())),
            Some(path) => Err((Kind::Unavailable, format!("maildir {} has no new/ folder", path.display()))),
            None => crate::source::imap::check(mailbox, &tokens).await.map_err(|e| (Kind::Unavailable, e.to_string())),
        };
        lines.push((mailbox.name.to_string(), result));
    }
    lines.push(("outgoing mail".into(), outgoing(config, &tokens).await));
    let (mut config_failures, mut unavailable) = (0, 0);
    for (name, line) in &lines {
        match line {
            Ok(text) => writeln!(out, "{name}: ok ({text})")?,
            Err((kind, reason)) => {
                match kind {
                    Kind::Config => config_failures += 1,
                    Kind::Unavailable => unavailable += 1,
                }
                writeln!(out, "{name}: FAILED: {reason}")?;
            }
        }
    }
    if config_failures > 0 {
        return Err(CheckFailed::Config(config_failures + unavailable).into());
    }
    if unavailable > 0 {
        return Err(CheckFailed::Unavailable(unavailable).into());
    }
    Ok(())
}

/// The store answers (a SQLite file that does not exist yet is made on the first run).
async fn store(config: &Config) -> Line {
    let url = config.store.url.expose();
    if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        let path = std::path::Path::new(path.split('?').next().unwrap_or(path));
        if !path.exists() {
            return Ok(format!("{} is made on the first run", path.display()));
        }
    }
    let store = crate::store::Store::connect_with(url, config.store.connect_options())
        .await
        .map_err(|e| (Kind::Unavailable, e.to_string()))?;
    let answers = store.ping().await;
    store.close().await;
    if answers {
        Ok(config.store.url.to_string())
    } else {
        Err((Kind::Unavailable, "the store does not answer".into()))
    }
}

fn templates(config: &Config) -> Line {
    crate::outbound::render::Renderer::load(config.templates.dir.as_deref())
        .and_then(|renderer| crate::web::check_pages(&renderer))
        .map(|()| match &config.templates.dir {
            Some(dir) => format!("shipped, with the ones in {}", dir.display()),
            None => "shipped".into(),
        })
        .map_err(|e| (Kind::Config, e.to_string()))
}

async fn listen(config: &Config) -> Line {
    let listeners = crate::web::bind(&config.web).await.map_err(|e| (Kind::Unavailable, e.to_string()))?;
    drop(listeners);
    Ok(format!("{}, operators' pages on {}", config.web.listen, config.web.ops_address()))
}

async fn outgoing(config: &Config, tokens: &crate::oauth::Tokens) -> Line {
    if let Some(dir) = &config.outbox.file_dir {
        return std::fs::create_dir_all(dir)
            .map(|()| format!("written as files to {}", dir.display()))
            .map_err(|e| (Kind::Config, format!("outbox.file_dir {}: {e}", dir.display())));
    }
    let Some(smtp) = &config.smtp else { return Ok("no [smtp]: mail waits in the outbox".into()) };
    let limit = Duration::from_secs(smtp.timeout_secs.max(1));
    match tokio::time::timeout(limit, probe(smtp, tokens, limit)).await {
        Ok(result) => result,
        Err(_) => Err((
            Kind::Unavailable,
            format!("smtp {}: no greeting or answer within {} s (smtp.timeout_secs)", smtp.host, limit.as_secs()),
        )),
    }
}

/// Connects, says EHLO, starts TLS and logs in, as the outbox will.
async fn probe(smtp: &SmtpConfig, tokens: &crate::oauth::Tokens, limit: Duration) -> Line {
    let unavailable = |step: &str, e: lettre::transport::smtp::Error| (Kind::Unavailable, format!("smtp {step}: {e}"));
    let port = smtp.port.unwrap_or(match smtp.tls {
        TlsMode::Implicit => 465,
        TlsMode::Starttls => 587,
        TlsMode::None => 25,
    });
    let tls = match smtp.tls {
        TlsMode::None => None,
        _ => Some(tls_parameters(smtp)?),
    };
    let implicit = if smtp.tls == TlsMode::Implicit { tls.clone() } else { None };
    let hello = ClientId::default();
    let mut session =
        AsyncSmtpConnection::connect_tokio1((smtp.host.as_str(), port), Some(limit), &hello, implicit, None)
            .await
            .map_err(|e| unavailable(&format!("{}:{port}", smtp.host), e))?;
    if let (TlsMode::Starttls, Some(tls)) = (smtp.tls, tls) {
        session.starttls(tls, &hello).await.map_err(|e| unavailable("STARTTLS", e))?;
    }
    let login = match (&smtp.username, &smtp.oauth) {
        (Some(user), Some(client)) if smtp.auth.uses_oauth() => {
            crate::outbound::outbox::oauth_sign_in(&mut session, smtp.auth, client, tokens, (user, &smtp.host, port))
                .await
                .map_err(|e| (Kind::Unavailable, format!("smtp {e}")))?;
            format!(", token from `{client}` obtained, signed in as {user} with {}", smtp.auth.mechanism())
        }
        (Some(user), _) => {
            let password = match &smtp.password_file {
                Some(path) => std::fs::read_to_string(path)
                    .map(|p| p.trim_end().to_owned())
                    .map_err(|e| (Kind::Config, format!("smtp.password_file {}: {e}", path.display())))?,
                None => smtp.password.as_ref().map(|p| p.expose_secret().to_owned()).unwrap_or_default(),
            };
            session
                .auth(DEFAULT_MECHANISMS, &Credentials::new(user.clone(), password))
                .await
                .map_err(|e| unavailable("AUTH", e))?;
            format!(", logged in as {user}")
        }
        (None, _) => String::new(),
    };
    let _ = session.quit().await;
    let tls = match smtp.tls {
        TlsMode::Implicit => "TLS",
        TlsMode::Starttls => "STARTTLS",
        TlsMode::None => "no TLS",
    };
    Ok(format!("smtp {}:{port}, {tls}{login}", smtp.host))
}

fn tls_parameters(smtp: &SmtpConfig) -> Result<TlsParameters, (Kind, String)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = |e: String| (Kind::Config, e);
    let mut tls = TlsParameters::builder(smtp.host.clone());
    if let Some(path) = &smtp.ca_file {
        let pem = std::fs::read(path).map_err(|e| config(format!("smtp.ca_file {}: {e}", path.display())))?;
        tls = tls.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| config(e.to_string()))?);
    }
    tls.build_rustls().map_err(|e| config(e.to_string()))
}
