//! The one log line every request writes (`request finished`).
//!
//! Under the JSON format it is written straight to the log's writer,
//! formatted by hand into a buffer each worker thread reuses: the same
//! object `tracing`'s JSON formatter makes of the event (same keys, same
//! order, same timestamp shape), without that formatter's per-field
//! `serde_json::Value`s, its map and its timestamp arithmetic. That formatter
//! cost about a quarter of the throughput of a route that does nothing else
//! (BENCHMARKS.md). The log filter still decides (`RUST_LOG=warn` silences
//! it), and any other format or subscriber gets the ordinary event.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use tracing_subscriber::fmt::MakeWriter;

use super::json;

/// The log target of the request line.
pub const TARGET: &str = "tokengate::http";

/// What the line says about one request.
#[derive(Debug, Clone, Copy)]
pub struct RequestLine<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub route: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub latency: Duration,
}

type Sink = Box<dyn Fn(&[u8]) + Send + Sync>;

/// Where JSON lines go: the writer of the JSON subscriber this process
/// installed, if it installed one.
static JSON_SINK: OnceLock<Sink> = OnceLock::new();

/// Sends the hand-formatted lines to `writer` (called once the JSON
/// subscriber writing to the same writer is installed).
pub(super) fn write_json_to<W>(writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let _ = JSON_SINK.set(Box::new(move |line: &[u8]| {
        // As tracing's own writer does: a failed log write is not the
        // request's failure.
        let _ = writer.make_writer().write_all(line);
    }));
}

impl RequestLine<'_> {
    /// Writes the line, if the log filter lets `tokengate::http` info through.
    pub fn write(&self) {
        if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
            return;
        }
        let Some(sink) = JSON_SINK.get() else {
            return self.event();
        };
        thread_local! {
            static LINE: RefCell<String> = RefCell::new(String::with_capacity(512));
        }
        LINE.with_borrow_mut(|line| {
            line.clear();
            // Writing to a String cannot fail.
            let _ = self.format_json(line, SystemTime::now());
            sink(line.as_bytes());
        });
    }

    /// The line as an ordinary `tracing` event, for any other subscriber.
    fn event(&self) {
        tracing::info!(
            target: TARGET,
            request_id = self.request_id,
            method = self.method,
            route = self.route,
            path = self.path,
            status = self.status,
            latency_ms = self.latency_ms(),
            "request finished"
        );
    }

    /// Milliseconds with microsecond precision.
    fn latency_ms(&self) -> f64 {
        self.latency.as_micros() as f64 / 1000.0
    }

    /// The JSON object and its newline, as the JSON formatter writes it.
    fn format_json(&self, out: &mut String, now: SystemTime) -> fmt::Result {
        out.push_str("{\"timestamp\":\"");
        timestamp(out, now)?;
        out.push_str("\",\"level\":\"INFO\",\"message\":\"request finished\"");
        for (key, value) in [
            ("request_id", self.request_id),
            ("method", self.method),
            ("route", self.route),
            ("path", self.path),
        ] {
            out.push_str(",\"");
            out.push_str(key);
            out.push_str("\":");
            json::write_str(out, value)?;
        }
        out.push_str(",\"status\":");
        out.push_str(itoa::Buffer::new().format(self.status));
        out.push_str(",\"latency_ms\":");
        json::write_f64(out, self.latency_ms())?;
        out.push_str(",\"target\":\"");
        out.push_str(TARGET);
        out.push_str("\"}\n");
        Ok(())
    }
}

/// `2026-11-23T12:13:43.837674Z` (UTC, microseconds), the JSON formatter's
/// timestamp. The date and time of day are made once per second per thread.
fn timestamp(out: &mut String, now: SystemTime) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != secs {
            let at = i64::try_from(secs)
                .ok()
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            text.clear();
            write!(
                text,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            )?;
            *cached = secs;
        }
        out.push_str(text);
        Ok::<_, fmt::Error>(())
    })?;
    write!(out, ".{:06}Z", since_epoch.subsec_micros())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::telemetry::Collected;

    fn line<'a>(path: &'a str, request_id: &'a str) -> RequestLine<'a> {
        RequestLine {
            request_id,
            method: "POST",
            route: "/api/auth/login",
            path,
            status: 401,
            latency: Duration::from_micros(48_602),
        }
    }

    fn formatted(line: &RequestLine<'_>, now: SystemTime) -> String {
        let mut out = String::new();
        line.format_json(&mut out, now).unwrap();
        out
    }

    /// The line `tracing`'s JSON formatter, configured as the service
    /// configures it, writes for the same request.
    fn by_tracing(line: &RequestLine<'_>) -> String {
        let captured = Collected::default();
        let subscriber = tracing_subscriber::registry().with(super::super::json_lines(
            tracing_subscriber::fmt::layer()
                .with_writer(captured.clone())
                .with_target(true),
        ));
        tracing::subscriber::with_default(subscriber, || line.event());
        captured.text()
    }

    #[test]
    fn the_line_is_the_json_formatters_line_key_for_key() {
        let paths = [
            "/api/auth/login",
            // What an attacker puts in a path: quotes, backslashes, control
            // characters, non-ASCII, percent-encoding, a forged JSON field.
            "/api/\"x\",\"status\":200,\"y\":\"\\\u{0}\n\r\t\u{1b}[31m",
            "/api/%22%0A%E2%80%AE/caf\u{e9}/\u{202e}/\u{1F600}",
        ];
        for path in paths {
            let ours = formatted(&line(path, "req-1"), SystemTime::now());
            let theirs = by_tracing(&line(path, "req-1"));
            assert!(
                ours.ends_with('\n') && !ours.trim_end().contains('\n'),
                "{ours:?}"
            );
            // Byte for byte, but for the time itself.
            assert_eq!(
                without_timestamp(&ours),
                without_timestamp(&theirs),
                "path {path:?}"
            );
            let value: Value = serde_json::from_str(&ours).unwrap();
            assert_eq!(value["path"], path);
            assert_eq!(value["status"], 401);
            assert_eq!(value["latency_ms"], 48.602);
        }
    }

    /// The line with its timestamp's value cut out (its shape is checked
    /// below).
    fn without_timestamp(line: &str) -> String {
        let start = line.find("\"timestamp\":\"").expect("a timestamp") + 13;
        let end = start + line[start..].find('"').expect("its end");
        assert_eq!(end - start, "2026-11-23T12:13:43.837674Z".len(), "{line}");
        format!("{}{}", &line[..start], &line[end..])
    }

    #[test]
    fn timestamps_are_utc_with_microseconds_across_seconds_and_days() {
        let at = |secs: u64, micros: u64| {
            let now = SystemTime::UNIX_EPOCH + Duration::from_micros(secs * 1_000_000 + micros);
            let text = formatted(&line("/", "id"), now);
            let value: Value = serde_json::from_str(&text).unwrap();
            value["timestamp"].as_str().unwrap().to_owned()
        };
        // The same thread, second after second: the cached date moves on.
        assert_eq!(at(1_795_436_023, 837_674), "2026-11-23T12:13:43.837674Z");
        assert_eq!(at(1_795_436_023, 5), "2026-11-23T12:13:43.000005Z");
        assert_eq!(at(1_795_478_399, 999_999), "2026-11-23T23:59:59.999999Z");
        assert_eq!(at(1_795_478_400, 0), "2026-11-24T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        // Before the epoch (a clock set wrong) reads as the epoch, not a panic.
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(5);
        let text = formatted(&line("/", "id"), before);
        assert!(
            text.contains("\"timestamp\":\"1970-01-01T00:00:00.000000Z\""),
            "{text}"
        );
    }

    #[test]
    fn latency_keeps_microseconds() {
        let mut l = line("/", "id");
        for (micros, ms) in [
            (48_602, 48.602),
            (0, 0.0),
            (7, 0.007),
            (3_600_000_001, 3_600_000.001),
        ] {
            l.latency = Duration::from_micros(micros);
            let value: Value = serde_json::from_str(&formatted(&l, SystemTime::now())).unwrap();
            assert_eq!(value["latency_ms"].as_f64().unwrap(), ms);
        }
    }
}
