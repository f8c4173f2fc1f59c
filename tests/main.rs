//! Every integration test in one binary, so the harness (`support`: Dovecot,
//! the SMTP server, PostgreSQL, the browser) is built once.

mod support;

mod cli;
mod conversation;
mod crash;
mod imap_ingest;
mod intake_golden;
mod learn_mailboxes;
mod maildir;
mod outbound;
mod respond;
mod routing;
mod routing_targets;
mod security;
mod store;
mod web;
