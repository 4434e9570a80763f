//! tokengate: cookie-based JWT authentication for browser single-page apps.
//!
//! The layers, each depending only on those below it:
//! `http` (actix) → `auth` (the rules) and `domain` (values) → `store`
//! and `mail`;
//! `state` holds the shared parts, `startup` wires them; `settings` and
//! `telemetry` sit at the bottom and anyone may use them.

pub mod auth;
pub mod domain;
pub mod http;
pub mod mail;
pub mod settings;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
