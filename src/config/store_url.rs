//! The store URL, which may carry the database password: shown everywhere (errors,
//! `Debug`, `loket check`, logs) with the password replaced.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;

/// `sqlite://PATH` or `postgres://user:password@host/db?…`. `Display` and `Debug`
/// hide the password; [`StoreUrl::expose`] gives the URL to connect with.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct StoreUrl(String);

impl StoreUrl {
    /// The whole URL, password included: for connecting, never for showing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for StoreUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl From<&str> for StoreUrl {
    fn from(url: &str) -> Self {
        Self(url.to_owned())
    }
}

impl std::ops::Deref for StoreUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<&str> for StoreUrl {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redacted(&self.0))
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({:?})", redacted(&self.0))
    }
}

const HIDDEN: &str = "***";

/// `url` with the password after `user:` and any `password=` parameter replaced.
pub fn redacted(url: &str) -> Cow<'_, str> {
    let mut out = url.to_owned();
    // The user part ends at the last `@` before the query, so that a password with
    // an unescaped `/` or `@` in it is hidden whole. SQLite URLs hold no user.
    if let Some(scheme_end) = url.find("://")
        && !url.starts_with("sqlite")
    {
        let start = scheme_end + 3;
        let query = url[start..].find('?').map_or(url.len(), |i| start + i);
        if let Some(at) = url[start..query].rfind('@')
            && let Some(colon) = url[start..start + at].find(':')
        {
            out.replace_range(start + colon + 1..start + at, HIDDEN);
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}={HIDDEN}"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    if out == url { Cow::Borrowed(url) } else { Cow::Owned(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_store_urls_are_replaced_wherever_they_are_shown() {
        let url = StoreUrl::from("postgres://loket:Pg-Secret-123@db.example.org:5432/loket?sslmode=verify-full");
        for shown in [url.to_string(), format!("{url:?}")] {
            assert!(!shown.contains("Pg-Secret-123"), "{shown}");
            assert!(shown.contains("postgres://loket:***@db.example.org:5432/loket?sslmode=verify-full"), "{shown}");
        }
        assert_eq!(
            redacted("postgres://u:p%40ss@h/db?password=x&sslmode=require"),
            "postgres://u:***@h/db?password=***&sslmode=require"
        );
        assert_eq!(
            redacted("postgres:///loket?host=/run/postgresql&password=hunter2"),
            "postgres:///loket?host=/run/postgresql&password=***"
        );
        assert_eq!(redacted("postgres://loket@h/db"), "postgres://loket@h/db");
        assert_eq!(redacted("postgres://u:a/b@c@h/db"), "postgres://u:***@h/db");
        assert_eq!(redacted("sqlite://loket.db?mode=rwc"), "sqlite://loket.db?mode=rwc");
        assert_eq!(url.expose(), "postgres://loket:Pg-Secret-123@db.example.org:5432/loket?sslmode=verify-full");
    }
}
