//! The token endpoint's grants and the device authorization endpoint.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;

use super::{DEVICE_USER_CODE, Inner, form};

/// The first interval asked for between polls.
const DEVICE_INTERVAL: Duration = Duration::from_secs(1);

/// The device-code flow in progress: the second poll is told to slow down, the
/// third finds the code approved, as if the user had signed in meanwhile.
pub(super) struct Device {
    code: String,
    user: String,
    interval: Duration,
    last_poll: Option<Instant>,
    pub polls: u32,
    pub early: u32,
}

type Reply = (StatusCode, axum::Json<serde_json::Value>);

fn refuse(status: StatusCode, error: &str, description: &str) -> Reply {
    (status, axum::Json(serde_json::json!({"error": error, "error_description": description})))
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub(super) async fn device(State(inner): State<Arc<Mutex<Inner>>>, body: String) -> Reply {
    let form = form(&body);
    let mut inner = inner.lock().unwrap();
    let id = form.get("client_id").cloned().unwrap_or_default();
    let Some((_, user)) = inner.clients.get(&id).cloned() else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_client", "unknown client id");
    };
    if let Some(refused) = scope_refused(&inner, &form) {
        return refused;
    }
    inner.serial += 1;
    let code = format!("dc-{}", inner.serial);
    inner.device =
        Some(Device { code: code.clone(), user, interval: DEVICE_INTERVAL, last_poll: None, polls: 0, early: 0 });
    let verification = inner.token_url.replace("/token", "/devicelogin");
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({
            "device_code": code, "user_code": DEVICE_USER_CODE, "verification_uri": verification,
            "expires_in": 120, "interval": DEVICE_INTERVAL.as_secs(),
        })),
    )
}

fn scope_refused(inner: &Inner, form: &std::collections::HashMap<String, String>) -> Option<Reply> {
    let wanted = inner.scope.as_ref()?;
    let asked = form.get("scope").cloned().unwrap_or_default();
    (asked.split(' ').any(|s| s != wanted && s != "offline_access")).then(|| {
        refuse(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("AADSTS70011: The provided value for the input parameter 'scope' is not valid: {asked}"),
        )
    })
}

pub(super) async fn token(State(inner): State<Arc<Mutex<Inner>>>, body: String) -> Reply {
    let stall = inner.lock().unwrap().stall;
    if let Some(wait) = stall {
        tokio::time::sleep(wait).await;
    }
    let form = form(&body);
    let mut inner = inner.lock().unwrap();
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    *inner.requests.entry(grant.clone()).or_default() += 1;
    if inner.outage > 0 {
        inner.outage -= 1;
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "Try again later.");
    }
    if grant == JWT_BEARER {
        return match assertion_subject(&inner, form.get("assertion").map(String::as_str).unwrap_or_default()) {
            Ok(user) => issue(&mut inner, user, None),
            Err(description) => refuse(StatusCode::BAD_REQUEST, "invalid_grant", &description),
        };
    }
    let id = form.get("client_id").cloned().unwrap_or_default();
    let Some((secret, user)) = inner.clients.get(&id).cloned() else {
        return refuse(StatusCode::BAD_REQUEST, "unauthorized_client", "unknown client id");
    };
    if let Some(refused) = scope_refused(&inner, &form) {
        return refused;
    }
    if inner.revoked.contains(&id) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000222: The provided client secret keys for app are expired.",
        );
    }
    match grant.as_str() {
        "client_credentials" => {
            if form.get("client_secret") != Some(&secret) {
                return refuse(StatusCode::UNAUTHORIZED, "invalid_client", "Invalid client secret provided.");
            }
            issue(&mut inner, user, None)
        }
        "refresh_token" => {
            if form.get("refresh_token") != Some(&inner.refresh) {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The refresh token has expired or was revoked.",
                );
            }
            let rotated = rotate(&mut inner);
            issue(&mut inner, user, Some(rotated))
        }
        DEVICE_CODE => poll(&mut inner, form.get("device_code").map(String::as_str).unwrap_or_default()),
        _ => refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type", "no such grant here"),
    }
}

fn rotate(inner: &mut Inner) -> String {
    inner.serial += 1;
    inner.refresh = format!("rt-{}", inner.serial);
    inner.refresh.clone()
}

fn poll(inner: &mut Inner, code: &str) -> Reply {
    let decline = inner.decline_device;
    let Some(device) = inner.device.as_mut().filter(|d| d.code == code) else {
        return refuse(StatusCode::BAD_REQUEST, "expired_token", "The device code is unknown or expired.");
    };
    device.polls += 1;
    let now = Instant::now();
    // A little slack for the scheduler; a client that ignores the interval polls far sooner.
    if device.last_poll.is_some_and(|last| now.duration_since(last) + Duration::from_millis(150) < device.interval) {
        device.early += 1;
    }
    device.last_poll = Some(now);
    if decline {
        return refuse(StatusCode::BAD_REQUEST, "access_denied", "The user declined the sign-in.");
    }
    match device.polls {
        1 => refuse(StatusCode::BAD_REQUEST, "authorization_pending", "The user has not yet signed in."),
        2 => {
            device.interval += Duration::from_secs(5);
            refuse(StatusCode::BAD_REQUEST, "slow_down", "Poll less often.")
        }
        _ => {
            let user = device.user.clone();
            let refresh = rotate(inner);
            issue(inner, user, Some(refresh))
        }
    }
}

/// The assertion's subject, when its signature, issuer, audience and scope hold.
fn assertion_subject(inner: &Inner, assertion: &str) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Claims {
        sub: String,
        scope: String,
    }
    let (email, public) = inner.service_account.clone().ok_or("no service account here")?;
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[&inner.token_url]);
    validation.set_issuer(&[&email]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims =
        jsonwebtoken::decode::<Claims>(assertion, &key, &validation).map_err(|e| format!("Invalid JWT: {e}"))?.claims;
    if claims.scope != "https://mail.google.com/" {
        return Err(format!("Invalid scope: {}", claims.scope));
    }
    if !inner.clients.values().any(|(_, user)| *user == claims.sub) {
        return Err(format!("Invalid email or User ID: {}", claims.sub));
    }
    Ok(claims.sub)
}

fn issue(inner: &mut Inner, user: String, refresh: Option<String>) -> Reply {
    inner.serial += 1;
    let access = format!("at{}x{}", inner.serial, std::process::id());
    inner.issued.insert(access.clone(), (Instant::now(), user));
    let announced = inner.announced.unwrap_or(inner.lifetime);
    let mut answer = serde_json::json!({
        "access_token": access, "token_type": "Bearer", "expires_in": announced.as_secs(),
    });
    if let Some(refresh) = refresh {
        answer["refresh_token"] = refresh.into();
    }
    (StatusCode::OK, axum::Json(answer))
}
