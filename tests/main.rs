//! Every integration test in one binary, so the harness (`support`: Dovecot,
//! the SMTP server, PostgreSQL, the browser) is built once.

mod support;

mod cli;
mod conversation;
mod crash;
mod faults;
mod form;
mod form_limits;
mod imap_ingest;
mod intake_golden;
mod learn_mailboxes;
mod maildir;
mod oauth;
mod ops;
mod outbound;
mod outbox;
mod respond;
mod routing;
mod routing_targets;
mod scaleout;
mod security;
mod store;
mod timeline;
mod web;
