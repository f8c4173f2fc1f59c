//! Token requests. The client-credentials grant (RFC 6749 section 4.4), the
//! refresh-token grant (section 6) and the device flow ([`super::device`]) are
//! the `oauth2` crate's, with the client id and secret in the form body
//! ([`AuthType::RequestBody`]), which every provider loket targets accepts.
//! The crate offers no grant for a service account's signed assertion
//! (RFC 7523): [`jwt_bearer`] signs it with `jsonwebtoken` ([`super::jwt`]) and
//! posts it through the same HTTP client ([`super::http`]), so it has the same
//! timeout and retries, and its answer is read into the same token type.

use std::fmt::Display;
use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::http::StatusCode;
use oauth2::http::header::{ACCEPT, CONTENT_TYPE};
use oauth2::url::form_urlencoded;
use oauth2::{
    AsyncHttpClient, AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, ErrorResponseType, RefreshToken,
    RequestTokenError, Scope, StandardErrorResponse, StandardRevocableToken, TokenUrl,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::OAuthError;
use super::http::{Http, Unreachable};
use crate::config::OAuthConfig;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A successful token answer. The crate's standard answer rejects an
/// `expires_in` sent as a string, as some providers do, and a missing
/// `token_type`; this one takes both. The crate's token types keep `Debug`
/// from showing the tokens.
#[derive(Debug, Deserialize, Serialize)]
pub(super) struct Answer {
    access_token: oauth2::AccessToken,
    #[serde(default = "bearer", deserialize_with = "oauth2::helpers::deserialize_untagged_enum_case_insensitive")]
    token_type: BasicTokenType,
    #[serde(default, deserialize_with = "seconds", skip_serializing_if = "Option::is_none")]
    expires_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<RefreshToken>,
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

/// `expires_in` as a number or, as some providers send it, a string.
fn seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

impl oauth2::TokenResponse for Answer {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &oauth2::AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        None
    }
}

/// A client of the `oauth2` crate with loket's token answer, its token endpoint
/// set, and the device authorization endpoint set or not (`Device`).
pub(super) type Client<Device = EndpointNotSet> = oauth2::Client<
    BasicErrorResponse,
    Answer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    Device,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The crate's client for `config`: its id, secret and token endpoint.
pub(super) fn client(config: &OAuthConfig) -> Result<Client, OAuthError> {
    let token_url = TokenUrl::new(config.token_url.clone().unwrap_or_default()).map_err(|e| OAuthError::Url {
        client: config.name.clone(),
        key: "token_url",
        reason: e.to_string(),
    })?;
    let client = oauth2::Client::new(ClientId::new(config.client_id.clone().unwrap_or_default()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(token_url);
    Ok(match &config.client_secret {
        Some(secret) => client.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned())),
        None => client,
    })
}

/// The configured scope, one space-separated string, as the crate's scope.
pub(super) fn scope(config: &OAuthConfig) -> Option<Scope> {
    config.scope.clone().map(Scope::new)
}

pub(super) async fn client_credentials(http: &reqwest::Client, config: &OAuthConfig) -> Result<Answer, OAuthError> {
    let client = client(config)?;
    let mut request = client.exchange_client_credentials();
    if let Some(scope) = scope(config) {
        request = request.add_scope(scope);
    }
    let http = Http::new(http, config);
    request.request_async(&http).await.map_err(|e| failure(config, http.status(), e))
}

pub(super) async fn refresh_token(
    http: &reqwest::Client,
    config: &OAuthConfig,
    refresh_token: &str,
) -> Result<Answer, OAuthError> {
    let client = client(config)?;
    let refresh_token = RefreshToken::new(refresh_token.to_owned());
    let mut request = client.exchange_refresh_token(&refresh_token);
    if let Some(scope) = scope(config) {
        request = request.add_scope(scope);
    }
    let http = Http::new(http, config);
    request.request_async(&http).await.map_err(|e| failure(config, http.status(), e))
}

/// The service account's assertion for `subject`, posted as RFC 7523 says.
pub(super) async fn jwt_bearer(
    http: &reqwest::Client,
    config: &OAuthConfig,
    subject: &str,
) -> Result<Answer, OAuthError> {
    let assertion = super::jwt::assertion(config, subject)?;
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", JWT_BEARER)
        .append_pair("assertion", &assertion)
        .finish();
    let url = config.token_url.clone().unwrap_or_default();
    let request = oauth2::http::Request::post(url)
        .header(ACCEPT, "application/json")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.into_bytes())
        .map_err(|e| OAuthError::Url { client: config.name.clone(), key: "token_url", reason: e.to_string() })?;
    let http = Http::new(http, config);
    let response = http
        .call(request)
        .await
        .map_err(|Unreachable(reason)| OAuthError::Unreachable { client: config.name.clone(), reason })?;
    let status = response.status();
    if status == StatusCode::OK {
        return serde_json::from_slice(response.body()).map_err(|_| not_oauth(config, status));
    }
    let error = match serde_json::from_slice::<BasicErrorResponse>(response.body()) {
        Ok(error) => RequestTokenError::ServerResponse(error),
        Err(_) => RequestTokenError::Other("no OAuth error in the answer".into()),
    };
    Err(failure(config, Some(status), error))
}

/// What went wrong, for the log, `/readyz` and `loket check`: the provider's
/// `error` and the first line of its `error_description` with the HTTP status,
/// or why the endpoint could not be reached. `status` is that of the last answer.
pub(super) fn failure<T: ErrorResponseType + Display + 'static>(
    config: &OAuthConfig,
    status: Option<StatusCode>,
    error: RequestTokenError<Unreachable, StandardErrorResponse<T>>,
) -> OAuthError {
    let client = config.name.clone();
    let code = status.map_or(0, |s| s.as_u16());
    match error {
        RequestTokenError::Request(Unreachable(reason)) => OAuthError::Unreachable { client, reason },
        RequestTokenError::ServerResponse(answer) => OAuthError::Refused {
            client,
            status: code,
            error: answer.error().to_string(),
            description: answer.error_description().map(|d| d.lines().next().unwrap_or_default().to_owned()),
        },
        RequestTokenError::Parse(..) | RequestTokenError::Other(_) if status.is_some_and(|s| s != StatusCode::OK) => {
            OAuthError::Refused {
                client,
                status: code,
                error: status.and_then(|s| s.canonical_reason()).unwrap_or("error").to_owned(),
                description: None,
            }
        }
        RequestTokenError::Parse(..) => not_oauth(config, status.unwrap_or(StatusCode::OK)),
        RequestTokenError::Other(reason) => OAuthError::BadAnswer { client, reason },
    }
}

fn not_oauth(config: &OAuthConfig, status: StatusCode) -> OAuthError {
    OAuthError::BadAnswer {
        client: config.name.clone(),
        reason: format!("HTTP {status} but not the JSON fields of OAuth 2.0"),
    }
}

#[cfg(test)]
mod tests {
    use oauth2::TokenResponse;

    use super::*;

    #[test]
    fn expires_in_is_read_as_a_number_or_a_string_and_the_tokens_never_show() {
        let number: Answer =
            serde_json::from_str(r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3599}"#).unwrap();
        assert_eq!(number.expires_in(), Some(Duration::from_secs(3599)));
        let text: Answer = serde_json::from_str(
            r#"{"access_token":"at-2","token_type":"bearer","expires_in":"3599","refresh_token":"rt-2"}"#,
        )
        .unwrap();
        assert_eq!(text.expires_in(), Some(Duration::from_secs(3599)));
        assert_eq!(text.refresh_token().map(RefreshToken::secret).map(String::as_str), Some("rt-2"));
        let bare: Answer = serde_json::from_str(r#"{"access_token":"at-3"}"#).unwrap();
        assert_eq!((bare.expires_in(), bare.token_type()), (None, &BasicTokenType::Bearer));
        let shown = format!("{number:?} {text:?}");
        assert!(!shown.contains("at-1") && !shown.contains("at-2") && !shown.contains("rt-2"), "{shown}");
    }

    #[test]
    fn a_refusal_names_the_status_the_error_and_the_first_line_of_its_description() {
        let config: OAuthConfig =
            serde_json::from_value(serde_json::json!({"name": "m365", "grant": "client_credentials"})).unwrap();
        let answer: BasicErrorResponse = serde_json::from_str(
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"}"#,
        )
        .unwrap();
        let error = failure(&config, Some(StatusCode::UNAUTHORIZED), RequestTokenError::ServerResponse(answer));
        assert_eq!(
            error.to_string(),
            "oauth client `m365`: the token endpoint refused (401): invalid_client: AADSTS7000215: Invalid client secret provided."
        );
        let error = failure::<oauth2::basic::BasicErrorResponseType>(
            &config,
            Some(StatusCode::BAD_GATEWAY),
            RequestTokenError::Other("server returned empty error response".into()),
        );
        assert_eq!(error.to_string(), "oauth client `m365`: the token endpoint refused (502): Bad Gateway");
    }
}
