//! loket: one front desk for every department mailbox.
//!
//! The old HR, IT and Facility addresses keep working; loket reads them and
//! turns every message into a ticket in one store. The tree is the path of a
//! mail, each stage depending only on the stages before it and on `domain`:
//!
//! ```text
//! source (imap, maildir)   fetch raw bytes above the stored cursor, bounded by bytes
//!   -> pipeline            plan each message in the bounded pool, then the ingest
//!                          step: look up, ask the desk, write, in one transaction
//!        inbound           parse (mail-parser lives here only), guard (auto-replies,
//!                          bounces, lists, loops), thread (which ticket, who wrote
//!                          it), quote, language, trust (what the mail server vouched for)
//!        routing           which department: rules, then the model (classify, learn)
//!        desk              the service desk's rules as pure decisions: who may speak,
//!                          which mails, which timeline entries, caps, loops, history
//!        store             persistence only: lookups and writes, SQLite or PostgreSQL
//!   -> source.commit       move or flag on the server, only after the commit is on disk
//!   outbound               compose and render mail; the outbox worker sends it
//! ```
//!
//! Around it: `web` (status page, web form, the operators' endpoints), `config`
//! (one typed file; the desk, routing and the pages take their own part of it,
//! the directory of desk, departments and mailboxes among them), `cli` (the
//! commands), `app`, `supervise` and `shutdown` (the daemon's tasks), `oauth`
//! (tokens for IMAP and SMTP), `sign` (loket's own signatures), `tls` and `backoff` (shared by
//! the sources and the outbox), `telemetry`
//! (health, metrics and logs, which every stage reports to and `web` serves),
//! `notify` (systemd).

#![forbid(unsafe_code)]

pub mod app;
pub mod backoff;
pub mod cli;
pub mod clock;
pub mod config;
pub mod desk;
pub mod domain;
pub mod inbound;
pub mod notify;
pub mod oauth;
pub mod outbound;
pub mod pipeline;
pub mod routing;
pub mod shutdown;
pub mod sign;
pub mod source;
pub mod store;
pub mod supervise;
pub mod telemetry;
pub mod tls;
pub mod web;
