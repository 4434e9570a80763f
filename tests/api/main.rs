//! The API test suite: the real server over HTTP, one fresh SQLite file per
//! test.

mod abuse;
mod account;
mod bodies;
mod cors;
mod fuzz;
mod hardening;
mod helpers;
mod instances;
mod jwks;
mod login;
mod mailbox;
mod metrics;
mod openapi;
mod process;
mod protected;
mod refresh;
mod register;
mod routing;
mod sessions;
mod spa;
