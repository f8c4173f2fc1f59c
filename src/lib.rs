//! loket: one front desk for every department mailbox.
//!
//! The old HR, IT and Facility addresses keep working; loket reads them and
//! turns every message into a ticket in one store. The code is a pipeline,
//! one module per stage, each depending only on the stages before it:
//!
//! ```text
//! source (imap, maildir)        fetch raw bytes, remember what was read
//!   -> plan                     the pure middle:
//!        intake                   parse and normalise (mail-parser lives here only)
//!        guard                    auto-replies, bounces, lists, loops
//!        thread                   does it continue a ticket (signed reply, subject)?
//!        classify                 which department, and who decided
//!   -> store                    one transaction per message: raw bytes, message,
//!                               ticket (or the ticket it joins), timeline, mailbox
//!                               cursor, and the mails it causes (respond, outbound)
//!   -> source.commit            move or flag on the server, only after the commit
//!   outbox                      sends queued mail over SMTP or into files
//! ```
//!
//! Around it: `web` (status page, health, metrics), `config` (one typed file),
//! `cli` (the commands), `app` (wiring and shutdown), `telemetry` (logs).

#![forbid(unsafe_code)]

pub mod app;
pub mod classify;
pub mod cli;
pub mod clock;
pub mod config;
pub mod desk;
pub mod domain;
pub mod guard;
pub mod health;
pub mod intake;
pub mod language;
pub mod learn;
pub mod metrics;
pub mod notify;
pub mod oauth;
pub mod outbound;
pub mod outbox;
pub mod pipeline;
pub mod plan;
pub mod quote;
pub mod render;
pub mod shutdown;
pub mod sign;
pub mod source;
pub mod status;
pub mod store;
pub mod supervise;
pub mod telemetry;
pub mod thread;
pub mod trust;
pub mod web;
