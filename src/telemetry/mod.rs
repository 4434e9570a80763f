//! Logging: readable lines locally, JSON in production; `RUST_LOG` (or the
//! `log.filter` setting) chooses what is written.
//!
//! The service writes its log off the request path ([`writer`]): a worker's
//! line goes into a bounded buffer that one thread writes to stdout in
//! batches. When the buffer is full the line is dropped, not waited for, and
//! counted (`tokengate_log_lines_dropped_total`): a slow log reader costs
//! lines, never requests.

pub mod json;
pub mod metrics;
pub mod request_line;
pub mod writer;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{DefaultFields, Format, Json};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry};

use crate::settings::{LogFormat, LogSettings};

/// Installs the global subscriber writing to `writer`. Returns false if one
/// was already installed (tests start many apps in one process).
///
/// A filter of targets and levels only (`info`, `warn,tokengate=debug`, all
/// the documented forms) is applied as a [`Targets`] filter; one with span or
/// field directives (`[request{path=/x}]=debug`) needs an [`EnvFilter`],
/// which takes a lock at every entry into and exit from a span, that is, at
/// every poll of a request.
pub fn init<W>(settings: &LogSettings, writer: W) -> bool
where
    W: for<'a> MakeWriter<'a> + Clone + Send + Sync + 'static,
{
    match settings.filter.parse::<Targets>() {
        Ok(targets) => install(targets, settings.format, writer),
        Err(_) => {
            let filter =
                EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
            install(filter, settings.format, writer)
        }
    }
}

fn install<F, W>(filter: F, format: LogFormat, writer: W) -> bool
where
    F: Layer<Registry> + Send + Sync + 'static,
    W: for<'a> MakeWriter<'a> + Clone + Send + Sync + 'static,
{
    let subscriber = tracing_subscriber::registry().with(filter);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer.clone())
        .with_target(true);
    match format {
        LogFormat::Json => {
            let installed = subscriber.with(json_lines(layer)).try_init().is_ok();
            if installed {
                // The request line goes to the same writer, in the same shape.
                request_line::write_json_to(writer);
            }
            installed
        }
        LogFormat::Pretty => subscriber.with(layer.compact()).try_init().is_ok(),
    }
}

/// The JSON log: one object per line, the event's fields at the top level;
/// events inside a request list the request span (with its request id) and
/// any inner ones under `spans`.
fn json_lines<S, W>(
    layer: tracing_subscriber::fmt::Layer<S, DefaultFields, Format, W>,
) -> tracing_subscriber::fmt::Layer<S, json::SpanFields, Format<Json>, W>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    layer
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .fmt_fields(json::SpanFields)
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

/// A writer that keeps what is written to it, for the tests of the log.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Collected(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl Collected {
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[cfg(test)]
impl std::io::Write for Collected {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
impl<'a> MakeWriter<'a> for Collected {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}
