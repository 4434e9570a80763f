//! Logging: readable lines locally, JSON in production; `RUST_LOG` (or the
//! `log.filter` setting) chooses what is written.

pub mod metrics;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::settings::{LogFormat, LogSettings};

/// Installs the global subscriber writing to `writer`. Returns false if one
/// was already installed (tests start many apps in one process).
pub fn init<W>(settings: &LogSettings, writer: W) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(true);
    match settings.format {
        // One object per line, the event's fields at the top level; events
        // inside a request list the request span (with its request id) and
        // any inner ones under `spans`.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init()
            .is_ok(),
        LogFormat::Pretty => builder.compact().try_init().is_ok(),
    }
}

/// `error: cause: cause's cause ...`, for the log line of a failure.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
