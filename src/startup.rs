//! Wiring only: builds the store, the state and the HTTP server from the
//! settings, binds the listener (port 0 in tests) and runs until stopped.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::HttpServer;
use actix_web::dev::{Server, ServerHandle};
use actix_web::web;
use anyhow::Context;

use crate::http::{self, HttpState};
use crate::settings::Settings;
use crate::state::AppState;
use crate::store::{self, SharedStore};

pub struct Application {
    port: u16,
    server: Server,
    purge: tokio::task::JoinHandle<()>,
    /// Keeps the EdDSA signing keys current (none under HS256).
    keys: Option<tokio::task::JoinHandle<()>>,
    store: SharedStore,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = store::connect(&settings.store)
            .await
            .context("the store could not be opened")?;
        Self::build_with_store(settings, store).await
    }

    /// Like `build`, with a store made by the caller (the store tests use it).
    pub async fn build_with_store(settings: Settings, store: SharedStore) -> anyhow::Result<Self> {
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener =
            TcpListener::bind(&address).with_context(|| format!("cannot listen on {address}"))?;
        let port = listener.local_addr()?.port();

        let settings = Arc::new(settings);
        let state = web::Data::new(
            AppState::new(Arc::clone(&settings), Arc::clone(&store))
                .context("the mail settings were refused")?,
        );
        let keys = crate::auth::keys::start(&settings, &store, state.auth.tokens())
            .await
            .context("the JWT signing keys could not be loaded")?;
        let http = web::Data::new(HttpState::new(&settings));
        let purge = tokio::spawn(purge_sessions(
            Arc::clone(&store),
            settings.store.session_purge_interval,
        ));

        let mut server = HttpServer::new(move || http::app(state.clone(), http.clone()))
            .listen(listener)?
            // actix stops gracefully on SIGTERM but abruptly on SIGINT; both
            // should let in-flight requests finish.
            .disable_signals()
            .shutdown_signal(stop_signal(settings.server.shutdown_timeout))
            .shutdown_timeout(settings.server.shutdown_timeout.as_secs());
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers);
        }
        tracing::info!(
            port,
            profile = settings.profile.as_str(),
            store = store.backend(),
            jwt_algorithm = settings.jwt.algorithm.as_str(),
            origins = ?settings.cors.frontend_origins,
            "tokengate listening"
        );
        Ok(Self {
            port,
            server: server.run(),
            purge,
            keys,
            store,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server gracefully from elsewhere (tests).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM (or `handle().stop()`): then stops
    /// accepting, lets in-flight requests finish within the shutdown timeout,
    /// and returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.purge.abort();
        if let Some(keys) = self.keys {
            keys.abort();
        }
        self.store.close().await;
        tracing::info!("tokengate stopped");
        result
    }
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C): the server then stops
/// accepting, lets in-flight requests finish within `timeout` and returns.
async fn stop_signal(timeout: std::time::Duration) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT; stop the process with SIGKILL");
        return std::future::pending().await;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(
        signal = name,
        timeout_s = timeout.as_secs(),
        "stop signal received: no new connections, finishing in-flight requests"
    );
}

/// Deletes expired and revoked sessions, and rate-limit counters whose
/// budget is full again, now and then, so the store does not grow without
/// bound.
async fn purge_sessions(store: SharedStore, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = crate::domain::now();
        match store.purge_rate_limits(now).await {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %crate::telemetry::error_chain(&e), "rate-limit purge failed")
            }
        }
        match store.purge_sessions(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged dead sessions"),
            Err(e) => {
                tracing::warn!(error = %crate::telemetry::error_chain(&e), "session purge failed")
            }
        }
    }
}
