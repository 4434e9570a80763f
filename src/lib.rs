//! tokengate: cookie-based JWT authentication for browser single-page apps.

pub mod auth;
pub mod client_ip;
pub mod cors;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod middleware;
pub mod rate_limit;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod store;
pub mod telemetry;
