//! The log's writer: workers append their lines to a shared buffer and go
//! on; one thread writes the buffer out, a batch at a time.
//!
//! A worker never waits for the log and never makes a system call for it:
//! appending is a short lock and a copy, and only a line that finds the
//! writing thread asleep wakes it. That thread writes what has gathered,
//! then lets the next batch gather for a few milliseconds before it looks
//! again, so under load it wakes a few hundred times a second, not once per
//! line (`tracing-appender`'s worker, which this replaces, was woken by
//! nearly every line and flushed after each: two system calls per request
//! on a 2-core machine, issue 17). When the buffer is full, because the
//! reader of the log is slower than the service, lines are dropped, not
//! waited for, and counted (`tokengate_log_lines_dropped_total`).

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a batch gathers after a write before the next one is written.
const BATCH_WINDOW: Duration = Duration::from_millis(5);

/// Bytes of log waiting to be written, at most (about 15,000 lines).
pub const LOG_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// Cloned into every place that writes the log.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    dropped: AtomicU64,
    limit: usize,
}

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    /// The writing thread waits for a line (and must be woken).
    asleep: bool,
    closed: bool,
}

/// Dropping it writes what is still buffered and stops the thread.
pub struct FlushOnDrop {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The dropped-lines count of the service's writer, once there is one.
static SERVICE_WRITER: OnceLock<Arc<Shared>> = OnceLock::new();

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a plain buffer behind: go on.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Starts the writing thread over `out`, buffering at most `limit` bytes.
pub fn start<W: Write + Send + 'static>(mut out: W, limit: usize) -> (LogWriter, FlushOnDrop) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        wake: Condvar::new(),
        dropped: AtomicU64::new(0),
        limit,
    });
    let _ = SERVICE_WRITER.set(Arc::clone(&shared));
    let thread = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("tokengate-log".into())
            .spawn(move || {
                let mut batch = Vec::new();
                loop {
                    let mut state = shared.state();
                    while state.pending.is_empty() && !state.closed {
                        state.asleep = true;
                        state = shared
                            .wake
                            .wait(state)
                            .unwrap_or_else(|poisoned| poisoned.into_inner());
                    }
                    if state.pending.is_empty() {
                        return; // closed, and everything written
                    }
                    std::mem::swap(&mut state.pending, &mut batch);
                    let closed = state.closed;
                    drop(state);
                    // Nowhere to report a failed log write: the line is lost.
                    let _ = out.write_all(&batch).and_then(|()| out.flush());
                    batch.clear();
                    if !closed {
                        std::thread::sleep(BATCH_WINDOW);
                    }
                }
            })
            .expect("the log thread starts")
    };
    (
        LogWriter {
            shared: Arc::clone(&shared),
        },
        FlushOnDrop {
            shared,
            thread: Some(thread),
        },
    )
}

/// Lines the service's writer dropped because its buffer was full.
pub fn dropped_lines() -> u64 {
    SERVICE_WRITER
        .get()
        .map_or(0, |shared| shared.dropped.load(Ordering::Relaxed))
}

impl LogWriter {
    /// Lines this writer dropped.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// One `write` is one line (tracing writes a formatted event at once, and
/// so does the request line): it is taken whole or dropped whole.
impl Write for LogWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut state = self.shared.state();
        if state.closed || state.pending.len() + line.len() > self.shared.limit {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(line.len());
        }
        state.pending.extend_from_slice(line);
        let wake = std::mem::take(&mut state.asleep);
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.shared.state().closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::time::Instant;

    use super::*;
    use crate::telemetry::Collected;

    /// Writes one line in one call, as tracing and the request line do.
    fn line(writer: &LogWriter, text: &str) {
        writer
            .make_writer()
            .write_all(format!("{text}\n").as_bytes())
            .unwrap();
    }

    #[test]
    fn every_line_arrives_whole_and_in_order_from_many_threads() {
        let out = Collected::default();
        let (writer, flush) = start(out.clone(), LOG_BUFFER_BYTES);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        line(
                            &writer,
                            &format!("thread {t} line {i:05} {}", "x".repeat(i % 97)),
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(flush);
        let text = out.text();
        assert_eq!(text.lines().count(), 8_000);
        for t in 0..4 {
            let ours: Vec<usize> = text
                .lines()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .map(|l| l.split(' ').nth(3).unwrap().parse().unwrap())
                .collect();
            assert_eq!(ours, (0..2_000).collect::<Vec<_>>(), "thread {t}");
        }
        assert_eq!(writer.dropped(), 0);
    }

    #[test]
    fn a_line_written_when_all_is_quiet_is_written_without_more_lines() {
        let out = Collected::default();
        let (writer, _flush) = start(out.clone(), LOG_BUFFER_BYTES);
        // Liveness, not speed: the line gets out with nothing after it.
        let start = Instant::now();
        let written = |expected: &str| {
            while out.text() != expected {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "{:?}",
                    out.text()
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        line(&writer, "first");
        written("first\n");
        // And again after the thread went back to sleep.
        std::thread::sleep(BATCH_WINDOW * 4);
        line(&writer, "second");
        written("first\nsecond\n");
    }

    /// A reader that stalls until released.
    struct Stalled(Arc<Barrier>, Collected);

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.wait();
            self.1.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_reader_costs_whole_lines_never_a_wait_and_the_loss_is_counted() {
        let release = Arc::new(Barrier::new(2));
        let out = Collected::default();
        // Room for 10 lines of 8 bytes.
        let (writer, flush) = start(Stalled(Arc::clone(&release), out.clone()), 80);
        line(&writer, "line 00");
        // Wait until the thread took the first line and stalls on it.
        let started = Instant::now();
        while !writer.shared.state().pending.is_empty() {
            assert!(started.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(1));
        }
        for i in 1..100 {
            line(&writer, &format!("line {i:02}"));
        }
        // Nothing waited: the writes are done while the reader still stalls.
        let dropped = writer.dropped();
        // Release the reader (twice: the first line, then the rest).
        std::thread::spawn(move || {
            loop {
                release.wait();
            }
        });
        assert_eq!(dropped, 89, "10 lines fit in 80 bytes");
        drop(flush);
        let expected: String = (0..=10).map(|i| format!("line {i:02}\n")).collect();
        assert_eq!(out.text(), expected, "whole lines, the first ones kept");
    }
}
