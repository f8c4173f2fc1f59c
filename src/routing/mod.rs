//! Routing: which department a request is for. The operator's rules first, then
//! a model trained on example requests, the organisation's corrections and its
//! own history; the old mailbox a request arrived in is only a hint.

pub mod classify;
pub mod learn;
mod settings;

pub use settings::Settings;
