//! A token endpoint and an introspection endpoint (RFC 7662) on loopback, for
//! the OAuth sign-in tests: clients (id, secret, the account their tokens are
//! for), the client-credentials and refresh-token grants (the refresh token
//! rotates on every use), a service account's signed assertion (RFC 7523), the
//! device-code flow (RFC 8628), tokens that expire after a set lifetime or are
//! revoked, and a count of the token requests per grant.

mod grants;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;

/// The code the device flow shows the user.
pub const DEVICE_USER_CODE: &str = "WDJB-MJHT";

#[derive(Default)]
struct Inner {
    token_url: String,
    /// client id -> (secret, user)
    clients: HashMap<String, (String, String)>,
    /// token -> (issued, user)
    issued: HashMap<String, (Instant, String)>,
    lifetime: Duration,
    /// The `expires_in` announced, when it differs from the real lifetime.
    announced: Option<Duration>,
    /// The only scope granted, when set.
    scope: Option<String>,
    refresh: String,
    serial: u32,
    requests: HashMap<String, u32>,
    /// Introspections of tokens that were not (or no longer) valid.
    refusals: u32,
    /// The service account whose assertions are taken: its address and public key (PEM).
    service_account: Option<(String, String)>,
    device: Option<grants::Device>,
    /// The user declines the device sign-in.
    decline_device: bool,
    /// Client ids whose secret has expired.
    revoked: Vec<String>,
    /// Token requests still to be answered `503 Service Unavailable`.
    outage: u32,
    /// How long the token endpoint waits before it answers.
    stall: Option<Duration>,
}

#[derive(Clone)]
pub struct TokenServer {
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
}

impl TokenServer {
    /// Serves `clients` as (client id, secret, user); tokens live `lifetime`.
    pub async fn start(clients: &[(&str, &str, &str)], lifetime: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let inner = Inner {
            token_url: format!("http://127.0.0.1:{port}/token"),
            clients: clients.iter().map(|(id, s, u)| (id.to_string(), (s.to_string(), u.to_string()))).collect(),
            lifetime,
            refresh: "rt-0".into(),
            ..Inner::default()
        };
        let inner = Arc::new(Mutex::new(inner));
        let app = axum::Router::new()
            .route("/token", post(grants::token))
            .route("/device", post(grants::device))
            .route("/introspect", post(introspect))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { port, inner }
    }

    pub fn token_url(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub fn device_url(&self) -> String {
        format!("http://127.0.0.1:{}/device", self.port)
    }

    pub fn introspection_url(&self) -> String {
        format!("http://127.0.0.1:{}/introspect", self.port)
    }

    /// Token requests with `grant` so far.
    pub fn requests(&self, grant: &str) -> u32 {
        self.inner.lock().unwrap().requests.get(grant).copied().unwrap_or(0)
    }

    /// Times a mail server was told a token is not valid.
    pub fn refusals(&self) -> u32 {
        self.inner.lock().unwrap().refusals
    }

    /// Every token handed out so far stops being valid.
    pub fn revoke_all(&self) {
        self.inner.lock().unwrap().issued.clear();
    }

    /// Client `id`'s secret expires: its tokens stop being valid and it gets no new ones.
    pub fn revoke_client(&self, id: &str) {
        let mut inner = self.inner.lock().unwrap();
        let Some((_, user)) = inner.clients.get(id).cloned() else { return };
        inner.issued.retain(|_, (_, owner)| *owner != user);
        inner.revoked.push(id.to_owned());
    }

    /// The refresh token that the endpoint takes now.
    pub fn current_refresh_token(&self) -> String {
        self.inner.lock().unwrap().refresh.clone()
    }

    /// Answers `expires_in` with `announced` while tokens still expire after the real lifetime.
    pub fn announce_lifetime(&self, announced: Duration) {
        self.inner.lock().unwrap().announced = Some(announced);
    }

    /// Grants only `scope`; a request for another is refused with `invalid_scope`.
    pub fn grant_only_scope(&self, scope: &str) {
        self.inner.lock().unwrap().scope = Some(scope.to_owned());
    }

    /// Takes assertions signed by the service account `email` whose public key is `public_pem`.
    pub fn accept_service_account(&self, email: &str, public_pem: &str) {
        self.inner.lock().unwrap().service_account = Some((email.to_owned(), public_pem.to_owned()));
    }

    /// The user declines the next device sign-in instead of approving it.
    pub fn decline_device_sign_in(&self) {
        self.inner.lock().unwrap().decline_device = true;
    }

    /// The next `requests` token requests are answered `503 Service Unavailable`.
    pub fn fail_next(&self, requests: u32) {
        self.inner.lock().unwrap().outage = requests;
    }

    /// The token endpoint answers only after `wait`.
    pub fn stall(&self, wait: Duration) {
        self.inner.lock().unwrap().stall = Some(wait);
    }

    /// Device-code polls that came sooner than the interval asked for.
    pub fn early_device_polls(&self) -> u32 {
        self.inner.lock().unwrap().device.as_ref().map_or(0, |d| d.early)
    }

    /// Device-code polls so far.
    pub fn device_polls(&self) -> u32 {
        self.inner.lock().unwrap().device.as_ref().map_or(0, |d| d.polls)
    }
}

fn form(body: &str) -> HashMap<String, String> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    body.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (decode(k), decode(v))).collect()
}

async fn introspect(State(inner): State<Arc<Mutex<Inner>>>, body: String) -> axum::Json<serde_json::Value> {
    let form = form(&body);
    let mut inner = inner.lock().unwrap();
    let token = form.get("token").cloned().unwrap_or_default();
    match inner.issued.get(&token) {
        Some((issued, user)) if issued.elapsed() < inner.lifetime => {
            axum::Json(serde_json::json!({"active": true, "username": user}))
        }
        _ => {
            inner.refusals += 1;
            axum::Json(serde_json::json!({"active": false}))
        }
    }
}
