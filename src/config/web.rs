//! `[web]`: the employees' listener, the operators' listener, what the HTTP
//! server allows one client, and how long tracking links live.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// The employees' status page.
    #[serde(default = "super::defaults::web_listen")]
    pub listen: SocketAddr,
    /// `/healthz`, `/readyz` and `/metrics`, for operators only.
    pub ops_listen: Option<SocketAddr>,
    /// The former name of `ops_listen`, still read when `ops_listen` is unset.
    pub metrics_listen: Option<SocketAddr>,
    /// A client must send a request's headers within this many seconds of
    /// connecting (or of the previous answer), or the connection is closed.
    #[serde(default = "default_header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// A request must be answered within this many seconds.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Open connections per listener, at most; further clients wait in the
    /// system's queue until one closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Request bodies larger than this are refused (413).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// A resolved ticket's tracking link stops working this many days after it
    /// was resolved (0: at once); reopening the ticket brings it back.
    #[serde(default = "default_link_days_after_resolved")]
    pub link_days_after_resolved: u32,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: super::defaults::web_listen(),
            ops_listen: None,
            metrics_listen: None,
            header_read_timeout_secs: default_header_read_timeout_secs(),
            request_timeout_secs: default_request_timeout_secs(),
            max_connections: default_max_connections(),
            max_body_bytes: default_max_body_bytes(),
            link_days_after_resolved: default_link_days_after_resolved(),
        }
    }
}

impl WebConfig {
    /// Where the operators' listener is: `ops_listen`, else the deprecated
    /// `metrics_listen`, else 127.0.0.1:9090.
    pub fn ops_address(&self) -> SocketAddr {
        self.ops_listen.or(self.metrics_listen).unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9090))
    }

    /// The config key that set [`Self::ops_address`], for errors.
    pub fn ops_key(&self) -> &'static str {
        if self.ops_listen.is_none() && self.metrics_listen.is_some() { "web.metrics_listen" } else { "web.ops_listen" }
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// How long after being resolved a ticket's link still works, in milliseconds.
    pub fn link_lifetime_ms(&self) -> i64 {
        i64::from(self.link_days_after_resolved) * 86_400_000
    }
}

fn default_header_read_timeout_secs() -> u64 {
    10
}
fn default_request_timeout_secs() -> u64 {
    30
}
fn default_max_connections() -> usize {
    512
}
fn default_max_body_bytes() -> usize {
    64 * 1024
}
fn default_link_days_after_resolved() -> u32 {
    90
}

/// Checks the `[web]` section.
pub(super) fn check(web: &WebConfig) -> Result<(), ConfigError> {
    if web.ops_listen.is_some() && web.metrics_listen.is_some() {
        return Err(ConfigError::invalid(
            "web.metrics_listen",
            "is the former name of web.ops_listen; set only web.ops_listen",
        ));
    }
    let ops = web.ops_address();
    if ops.port() != 0 && ops.port() == web.listen.port() && overlaps(ops.ip(), web.listen.ip()) {
        return Err(ConfigError::invalid(
            web.ops_key(),
            format!(
                "must differ from web.listen ({}): operators' pages never share the employees' listener",
                web.listen
            ),
        ));
    }
    for (key, value) in [
        ("web.header_read_timeout_secs", web.header_read_timeout_secs),
        ("web.request_timeout_secs", web.request_timeout_secs),
    ] {
        if value == 0 {
            return Err(ConfigError::invalid(key, "must be at least 1"));
        }
    }
    if web.max_connections == 0 {
        return Err(ConfigError::invalid("web.max_connections", "must be at least 1"));
    }
    Ok(())
}

/// Whether two listening addresses on the same port would take the same socket.
fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    a == b || a.is_unspecified() || b.is_unspecified()
}

/// Checks `desk.base_url`: `https://`, or `http://` to a loopback host only
/// (the link carries the ticket's token).
pub(super) fn check_base_url(base_url: &str) -> Result<(), ConfigError> {
    if base_url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = base_url.strip_prefix("http://") else {
        return Err(ConfigError::invalid("desk.base_url", "must start with https:// (or http:// to a loopback host)"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if super::values::is_loopback(host) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            "desk.base_url",
            format!(
                "http:// sends the links' tokens in clear text; it is allowed only to a loopback host, not `{host}`: use https://"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::load_str;

    fn config(base_url: &str, web: &str) -> Result<super::super::Config, String> {
        load_str(&format!(
            "[desk]\nname = \"D\"\naddress = \"d@example.org\"\nbase_url = \"{base_url}\"\n[web]\n{web}\n\
             [[departments]]\nid = \"it\"\nname = \"IT\"\nqueue_address = \"q@example.org\"\n"
        ))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_clear_text_base_url_is_accepted_only_for_a_loopback_host() {
        for url in ["http://127.0.0.1:8080", "http://localhost/desk", "http://[::1]:8080", "https://desk.example.org"] {
            assert!(config(url, "").is_ok(), "{url}");
        }
        for url in ["http://desk.example.org", "http://10.0.0.5:8080/", "http://127.0.0.1.evil.example", "ftp://x"] {
            let error = config(url, "").unwrap_err();
            assert!(error.contains("desk.base_url"), "{url}: {error}");
        }
    }

    #[test]
    fn the_operators_listener_defaults_to_loopback_and_takes_its_former_name() {
        let web = config("https://d.example.org", "").unwrap().web;
        assert_eq!(web.ops_address().to_string(), "127.0.0.1:9090");
        let web = config("https://d.example.org", "metrics_listen = \"127.0.0.1:9191\"").unwrap().web;
        assert_eq!(web.ops_address().to_string(), "127.0.0.1:9191");
        let both = config("https://d.example.org", "ops_listen = \"127.0.0.1:1\"\nmetrics_listen = \"127.0.0.1:2\"");
        assert!(both.unwrap_err().contains("web.metrics_listen"));
        let shared = config("https://d.example.org", "listen = \"0.0.0.0:8080\"\nops_listen = \"127.0.0.1:8080\"");
        assert!(shared.unwrap_err().contains("web.ops_listen"), "never on the employees' listener");
    }

    #[test]
    fn limits_of_zero_are_refused_with_their_keys() {
        for key in ["header_read_timeout_secs", "request_timeout_secs", "max_connections"] {
            let error = config("https://d.example.org", &format!("{key} = 0")).unwrap_err();
            assert!(error.contains(&format!("web.{key}")), "{error}");
        }
    }
}
