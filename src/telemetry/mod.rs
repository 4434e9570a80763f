//! Logging: readable lines locally, JSON in production; `RUST_LOG` (or the
//! `log.filter` setting) chooses what is written.
//!
//! The service writes its log off the request path ([`off_thread`]): a
//! worker's log line goes into a bounded queue that one writer thread drains
//! into a buffered stdout, a few large writes per batch instead of a write
//! (and a lock on stdout) per line. When the queue is full the line is
//! dropped, not waited for, and counted (`tokengate_log_lines_dropped_total`):
//! a slow log reader costs lines, never requests.

pub mod metrics;

use std::io::{BufWriter, Write};
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
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

/// Log lines the queue holds at most (about 300 bytes each).
pub const LOG_QUEUE_LINES: usize = 65_536;

/// The dropped-lines count of the off-thread writer, once there is one.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// A writer that hands lines to a thread of its own, which writes them to
/// `out` through a 64 KiB buffer, flushed whenever the queue runs empty.
/// Keep the guard until the end: dropping it writes what is queued.
pub fn off_thread<W: Write + Send + 'static>(out: W, queue: usize) -> (NonBlocking, WorkerGuard) {
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(queue)
        .lossy(true)
        .thread_name("tokengate-log")
        .finish(BufWriter::with_capacity(64 * 1024, out));
    // The first one (the service's) is the one the metric reports.
    let _ = DROPPED.set(writer.error_counter());
    (writer, guard)
}

/// Lines the off-thread writer dropped because its queue was full.
pub fn dropped_log_lines() -> u64 {
    DROPPED.get().map_or(0, |c| c.dropped_lines() as u64)
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Barrier};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// A writer that blocks until released, like a log reader that stalls.
    struct Stalled(Arc<Barrier>);

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.wait();
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_reader_costs_lines_never_a_wait_and_the_loss_is_counted() {
        let release = Arc::new(Barrier::new(2));
        // A 1-byte buffer: the first line's write reaches the stalled writer.
        let (writer, guard) = NonBlockingBuilder::default()
            .buffered_lines_limit(4)
            .lossy(true)
            .finish(BufWriter::with_capacity(1, Stalled(Arc::clone(&release))));
        let counter = writer.error_counter();
        let started = std::time::Instant::now();
        for i in 0..100 {
            writeln!(writer.make_writer(), "line {i}").unwrap();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the writers never waited for the stalled reader"
        );
        assert!(counter.dropped_lines() >= 90, "{}", counter.dropped_lines());
        // Let the writer go so the guard's flush can finish.
        std::thread::spawn(move || {
            loop {
                release.wait();
            }
        });
        drop(guard);
    }
}
