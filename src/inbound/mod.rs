//! Inbound: what a raw message says, read without trusting it. Parsing (one
//! module over mail-parser), the guard (auto-replies, bounces, lists, loops),
//! threading (does it continue a ticket, and who wrote it), the request's own
//! text without quoted history, its language, and what the organisation's mail
//! server vouched for. Pure: bounded time and memory, no I/O.

pub mod guard;
pub mod intake;
pub mod language;
pub mod quote;
pub mod thread;
pub mod trust;
