//! OAuth 2.0 clients (`[[oauth]]`) and how a mailbox or `[smtp]` signs in with one.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::{Config, ConfigError};

/// How loket signs in to a mail server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// LOGIN (IMAP) or AUTH PLAIN/LOGIN (SMTP) with the configured password.
    #[default]
    Password,
    /// SASL XOAUTH2 with a bearer token (Microsoft 365, Google).
    Xoauth2,
    /// SASL OAUTHBEARER (RFC 7628) with a bearer token.
    Oauthbearer,
}

impl AuthMethod {
    pub fn uses_oauth(self) -> bool {
        self != Self::Password
    }

    /// The SASL mechanism name.
    pub fn mechanism(self) -> &'static str {
        match self {
            Self::Password => "PLAIN",
            Self::Xoauth2 => "XOAUTH2",
            Self::Oauthbearer => "OAUTHBEARER",
        }
    }
}

/// How a client obtains its access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// The app's own access (Microsoft 365 app-only): one token for every mailbox.
    ClientCredentials,
    /// A delegated user's refresh token, kept in the store and saved again when it rotates.
    RefreshToken,
    /// A signed assertion (Google service account with domain-wide delegation); the
    /// mailbox's username is the subject.
    JwtBearer,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
            Self::JwtBearer => "jwt_bearer",
        }
    }
}

/// One named OAuth client; several mailboxes may share it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    pub name: String,
    pub grant: Grant,
    /// The provider's token endpoint. For `jwt_bearer` it defaults to the key file's `token_uri`.
    pub token_url: Option<String>,
    /// The device authorization endpoint (RFC 8628), for `loket oauth login`.
    pub device_authorization_url: Option<String>,
    /// Not needed for `jwt_bearer` (the key file names the service account).
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub client_secret_file: Option<PathBuf>,
    /// Environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// Space-separated scopes asked for.
    pub scope: Option<String>,
    /// `jwt_bearer`: the service account's JSON key file.
    pub key_file: Option<PathBuf>,
    /// `refresh_token`: the first refresh token; once the store holds one (a rotated one), the store's is used.
    pub refresh_token: Option<SecretString>,
    pub refresh_token_file: Option<PathBuf>,
    pub refresh_token_env: Option<String>,
    /// Seconds one token request may take.
    #[serde(default = "timeout_secs")]
    pub timeout_secs: u64,
}

fn timeout_secs() -> u64 {
    30
}

pub(super) fn check(config: &mut Config) -> Result<(), ConfigError> {
    let mut names = std::collections::HashSet::new();
    for (index, client) in config.oauth.iter_mut().enumerate() {
        let key = format!("oauth[{index}]");
        if client.name.trim().is_empty() || !names.insert(client.name.clone()) {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                format!("`{}` is empty or used twice", client.name),
            ));
        }
        check_client(&key, client)?;
    }
    let known: Vec<String> = config.oauth.iter().map(|c| c.name.clone()).collect();
    let check_use = |key: String, auth: AuthMethod, oauth: Option<&String>| -> Result<(), ConfigError> {
        match (auth.uses_oauth(), oauth) {
            (true, None) => {
                Err(ConfigError::invalid(format!("{key}.oauth"), "name the `[[oauth]]` client to sign in with"))
            }
            (false, Some(_)) => {
                Err(ConfigError::invalid(format!("{key}.auth"), "set `xoauth2` or `oauthbearer` to use `oauth`"))
            }
            (true, Some(name)) if !known.contains(name) => Err(ConfigError::invalid(
                format!("{key}.oauth"),
                format!("unknown client `{name}` (defined: {})", known.join(", ")),
            )),
            _ => Ok(()),
        }
    };
    for (index, mailbox) in config.mailboxes.iter().enumerate() {
        check_use(format!("mailboxes[{index}]"), mailbox.auth, mailbox.oauth.as_ref())?;
        if mailbox.maildir.is_some() && mailbox.auth.uses_oauth() {
            return Err(ConfigError::invalid(format!("mailboxes[{index}].auth"), "a Maildir needs no sign-in"));
        }
    }
    if let Some(smtp) = &config.smtp {
        check_use("smtp".into(), smtp.auth, smtp.oauth.as_ref())?;
        if smtp.auth.uses_oauth() && smtp.username.is_none() {
            return Err(ConfigError::invalid("smtp.username", "OAuth sign-in needs the account's address"));
        }
    }
    Ok(())
}

fn check_client(key: &str, client: &mut OAuthConfig) -> Result<(), ConfigError> {
    let field = |name: &str| format!("{key}.{name}");
    for (name, url) in
        [("token_url", &client.token_url), ("device_authorization_url", &client.device_authorization_url)]
    {
        if let Some(url) = url
            && !(url.starts_with("https://") || (url.starts_with("http://") && loopback_url(url)))
        {
            return Err(ConfigError::invalid(
                field(name),
                "must start with https:// (http:// only to a loopback host)",
            ));
        }
    }
    if client.timeout_secs == 0 {
        return Err(ConfigError::invalid(field("timeout_secs"), "must be at least 1"));
    }
    let secret = super::values::one_secret(
        &field("client_secret"),
        client.client_secret.take(),
        client.client_secret_file.as_deref(),
        client.client_secret_env.as_deref(),
    )?;
    client.client_secret = secret;
    let refresh = super::values::one_secret(
        &field("refresh_token"),
        client.refresh_token.take(),
        client.refresh_token_file.as_deref(),
        client.refresh_token_env.as_deref(),
    )?;
    client.refresh_token = refresh;
    match client.grant {
        Grant::ClientCredentials | Grant::RefreshToken => {
            if client.token_url.is_none() {
                return Err(ConfigError::invalid(field("token_url"), "is required for this grant"));
            }
            if client.client_id.as_deref().is_none_or(str::is_empty) {
                return Err(ConfigError::invalid(field("client_id"), "is required for this grant"));
            }
            if client.grant == Grant::ClientCredentials && client.client_secret.is_none() {
                return Err(ConfigError::invalid(
                    field("client_secret"),
                    "client_credentials needs `client_secret`, `client_secret_file` or `client_secret_env`",
                ));
            }
        }
        Grant::JwtBearer => {
            let Some(path) = &client.key_file else {
                return Err(ConfigError::invalid(field("key_file"), "jwt_bearer needs the service account's JSON key"));
            };
            let key = super::ServiceAccountKey::read(path)
                .map_err(|e| ConfigError::invalid(field("key_file"), e.to_string()))?;
            if client.token_url.is_none() {
                client.token_url = Some(key.token_uri);
            }
        }
    }
    Ok(())
}

fn loopback_url(url: &str) -> bool {
    let rest = url.trim_start_matches("http://");
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    super::values::is_loopback(host)
}

#[cfg(test)]
mod tests {
    use super::super::load_str;

    const BASE: &str = "[desk]\nname = \"D\"\naddress = \"d@example.org\"\nbase_url = \"https://d.example.org\"\n\n[[departments]]\nid = \"it\"\nname = \"IT\"\nqueue_address = \"q@example.org\"\n";
    const MAILBOX: &str = "[[mailboxes]]\nname = \"hr-old\"\nhost = \"imap.example.org\"\nusername = \"hr@example.org\"\nauth = \"xoauth2\"\n";

    fn error_of(extra: &str) -> String {
        load_str(&format!("{BASE}{extra}")).unwrap_err().to_string()
    }

    #[test]
    fn oauth_settings_are_checked_with_their_keys() {
        let client = "[[oauth]]\nname = \"m365\"\ngrant = \"client_credentials\"\ntoken_url = \"https://login.example.org/token\"\nclient_id = \"app\"\n";
        let error = error_of(&format!("{MAILBOX}{client}client_secret = \"s\"\n"));
        assert!(error.contains("mailboxes[0].oauth"), "{error}");
        let error = error_of(&format!("{MAILBOX}oauth = \"nope\"\n{client}client_secret = \"s\"\n"));
        assert!(error.contains("mailboxes[0].oauth") && error.contains("nope"), "{error}");
        let error = error_of(&format!("{MAILBOX}oauth = \"m365\"\n{client}"));
        assert!(error.contains("oauth[0].client_secret"), "{error}");
        let error = error_of(&format!("{client}client_secret = \"s\"\nclient_secret_env = \"X\"\n"));
        assert!(error.contains("oauth[0].client_secret"), "{error}");
        let error = error_of("[[oauth]]\nname = \"g\"\ngrant = \"jwt_bearer\"\n");
        assert!(error.contains("oauth[0].key_file"), "{error}");
        let error = error_of(
            "[[oauth]]\nname = \"g\"\ngrant = \"refresh_token\"\ntoken_url = \"http://idp.example.org/t\"\nclient_id = \"a\"\n",
        );
        assert!(error.contains("oauth[0].token_url"), "{error}");
        let error = error_of("[[oauth]]\nname = \"g\"\ngrant = \"password\"\n");
        assert!(error.contains("grant"), "{error}");

        let config =
            load_str(&format!("{BASE}{MAILBOX}oauth = \"m365\"\n{client}client_secret = \"s3cr3t-value\"\n")).unwrap();
        assert!(!format!("{config:?}").contains("s3cr3t-value"), "the secret never shows in Debug");
    }
}
