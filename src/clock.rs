//! Time as loket stores it: integer milliseconds since the Unix epoch.

use chrono::{DateTime, Local, NaiveDate, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A stored time as people read it, in the machine's time zone.
pub fn display(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

/// The day a stored time falls on in the machine's time zone.
pub fn local_day(ms: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or(NaiveDate::MIN, |t| t.with_timezone(&Local).date_naive())
}

/// A stored time in RFC 3339, for machine-readable output.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.to_rfc3339()).unwrap_or_default()
}
