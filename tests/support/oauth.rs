//! A token endpoint and an introspection endpoint (RFC 7662) on loopback, for
//! the OAuth sign-in tests: clients (id, secret, the account their tokens are
//! for), the client-credentials and refresh-token grants (the refresh token
//! rotates on every use), tokens that expire after a set lifetime or are
//! revoked, and a count of the token requests per grant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

#[derive(Default)]
struct Inner {
    /// client id -> (secret, user)
    clients: HashMap<String, (String, String)>,
    /// token -> (issued, user)
    issued: HashMap<String, (Instant, String)>,
    lifetime: Duration,
    refresh: String,
    serial: u32,
    requests: HashMap<String, u32>,
}

#[derive(Clone)]
pub struct TokenServer {
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
}

impl TokenServer {
    /// Serves `clients` as (client id, secret, user); tokens live `lifetime`.
    pub async fn start(clients: &[(&str, &str, &str)], lifetime: Duration) -> Self {
        let inner = Inner {
            clients: clients.iter().map(|(id, s, u)| (id.to_string(), (s.to_string(), u.to_string()))).collect(),
            lifetime,
            refresh: "rt-0".into(),
            ..Inner::default()
        };
        let inner = Arc::new(Mutex::new(inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let app = axum::Router::new()
            .route("/token", post(token))
            .route("/introspect", post(introspect))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { port, inner }
    }

    pub fn token_url(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub fn introspection_url(&self) -> String {
        format!("http://127.0.0.1:{}/introspect", self.port)
    }

    /// Token requests with `grant` so far.
    pub fn requests(&self, grant: &str) -> u32 {
        self.inner.lock().unwrap().requests.get(grant).copied().unwrap_or(0)
    }

    /// Every token handed out so far stops being valid.
    pub fn revoke_all(&self) {
        self.inner.lock().unwrap().issued.clear();
    }

    /// The refresh token that the endpoint takes now.
    pub fn current_refresh_token(&self) -> String {
        self.inner.lock().unwrap().refresh.clone()
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

type Reply = (StatusCode, axum::Json<serde_json::Value>);

fn refuse(status: StatusCode, error: &str, description: &str) -> Reply {
    (status, axum::Json(serde_json::json!({"error": error, "error_description": description})))
}

async fn token(State(inner): State<Arc<Mutex<Inner>>>, body: String) -> Reply {
    let form = form(&body);
    let mut inner = inner.lock().unwrap();
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    *inner.requests.entry(grant.clone()).or_default() += 1;
    let id = form.get("client_id").cloned().unwrap_or_default();
    let Some((secret, user)) = inner.clients.get(&id).cloned() else {
        return refuse(StatusCode::BAD_REQUEST, "unauthorized_client", "unknown client id");
    };
    let mut rotated = None;
    match grant.as_str() {
        "client_credentials" => {
            if form.get("client_secret") != Some(&secret) {
                return refuse(StatusCode::UNAUTHORIZED, "invalid_client", "Invalid client secret provided.");
            }
        }
        "refresh_token" => {
            if form.get("refresh_token") != Some(&inner.refresh) {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The refresh token has expired or was revoked.",
                );
            }
            inner.serial += 1;
            inner.refresh = format!("rt-{}", inner.serial);
            rotated = Some(inner.refresh.clone());
        }
        _ => return refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type", "no such grant here"),
    }
    inner.serial += 1;
    let access = format!("at{}x{}", inner.serial, std::process::id());
    inner.issued.insert(access.clone(), (Instant::now(), user));
    let mut answer = serde_json::json!({
        "access_token": access, "token_type": "Bearer", "expires_in": inner.lifetime.as_secs(),
    });
    if let Some(refresh) = rotated {
        answer["refresh_token"] = refresh.into();
    }
    (StatusCode::OK, axum::Json(answer))
}

async fn introspect(State(inner): State<Arc<Mutex<Inner>>>, body: String) -> axum::Json<serde_json::Value> {
    let form = form(&body);
    let inner = inner.lock().unwrap();
    let token = form.get("token").cloned().unwrap_or_default();
    match inner.issued.get(&token) {
        Some((issued, user)) if issued.elapsed() < inner.lifetime => {
            axum::Json(serde_json::json!({"active": true, "username": user}))
        }
        _ => axum::Json(serde_json::json!({"active": false})),
    }
}
