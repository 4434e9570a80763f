//! JSON written by hand for the two hot paths of the log: the request line
//! (`request_line`) and the fields of spans ([`SpanFields`]). Both produce
//! what `tracing-subscriber`'s JSON formatter would, byte for byte for
//! strings (the same escapes as `serde_json`), without its per-field
//! `serde_json::Value`s and map.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// Writes `s` as a JSON string, quotes included, escaping as `serde_json`
/// does: `"`, `\`, and the control characters below U+0020 (short forms
/// where JSON has one, `\u00XX` otherwise). Everything else, non-ASCII
/// included, is written as it is.
pub fn write_str(out: &mut impl Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.write_str(&s[start..i])?;
        if escape.is_empty() {
            write!(out, "\\u{b:04x}")?;
        } else {
            out.write_str(escape)?;
        }
        start = i + 1;
    }
    out.write_str(&s[start..])?;
    out.write_char('"')
}

/// Writes `value` as `serde_json` does: the shortest form that reads back
/// as the same number; `null` for NaN and the infinities, which JSON lacks.
pub fn write_f64(out: &mut impl Write, value: f64) -> fmt::Result {
    match serde_json::Number::from_f64(value) {
        Some(n) => write!(out, "{n}"),
        None => out.write_str("null"),
    }
}

/// The fields of a span as one JSON object (`{"request_id":"...","method":"GET"}`),
/// in the order they were declared, written straight into the span's
/// buffer. The JSON event formatter reads it back for the `spans` list of
/// the events inside the span.
pub struct SpanFields;

impl<'writer> FormatFields<'writer> for SpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        writer.write_char('{')?;
        let mut object = Object {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut object);
        object.result?;
        writer.write_char('}')
    }

    /// Fields recorded later go inside the same object.
    fn add_fields(
        &self,
        current: &'writer mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        if !current.fields.ends_with('}') {
            return self.format_fields(current.as_writer(), fields);
        }
        current.fields.pop();
        let first = current.fields.ends_with('{');
        let mut object = Object {
            out: &mut current.fields,
            first,
            result: Ok(()),
        };
        fields.record(&mut object);
        let result = object.result;
        current.fields.push('}');
        result
    }
}

/// Writes `"name":value` pairs, comma-separated.
struct Object<'a, W: Write> {
    out: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<W: Write> Object<'_, W> {
    fn pair(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if !std::mem::take(&mut self.first) {
                self.out.write_char(',')?;
            }
            write_str(self.out, field.name())?;
            self.out.write_char(':')?;
            value(self.out)
        })();
    }
}

impl<W: Write> Visit for Object<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.pair(field, |out| write_str(out, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.pair(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.pair(field, |out| write!(out, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.pair(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.pair(field, |out| write_f64(out, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.pair(field, |out| write_str(out, &format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut every_control: String = (0u8..0x20).map(char::from).collect();
        every_control.push_str("\u{7f}\"\\/caf\u{e9}\u{202e}\u{1F600}");
        for s in [
            "",
            "plain",
            "a \"quoted\" \\ path",
            "/api/%22%0A%E2%80%AE",
            "\u{0}\n\r\t\u{1b}[31m",
            every_control.as_str(),
        ] {
            let mut ours = String::new();
            write_str(&mut ours, s).unwrap();
            assert_eq!(ours, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        for v in [0.0, 48.602, 0.007, 1e21, -3.5, f64::MAX, f64::MIN_POSITIVE] {
            let mut ours = String::new();
            write_f64(&mut ours, v).unwrap();
            assert_eq!(ours, serde_json::to_string(&v).unwrap());
        }
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut ours = String::new();
            write_f64(&mut ours, v).unwrap();
            assert_eq!(ours, "null");
        }
    }

    /// Renders what a span with these fields stores.
    fn span_fields(make: impl FnOnce() -> tracing::Span) -> Vec<String> {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::registry::LookupSpan;

        /// Copies the span's formatted fields out when the span closes.
        struct Keep(Arc<Mutex<Vec<String>>>);
        impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Keep {
            fn on_close(
                &self,
                id: tracing::span::Id,
                ctx: tracing_subscriber::layer::Context<'_, S>,
            ) {
                let span = ctx.span(&id).unwrap();
                let ext = span.extensions();
                let fields = ext
                    .get::<tracing_subscriber::fmt::FormattedFields<SpanFields>>()
                    .unwrap();
                self.0.lock().unwrap().push(fields.fields.clone());
            }
        }
        let kept = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry()
            .with(Keep(Arc::clone(&kept)))
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .fmt_fields(SpanFields)
                    .with_writer(std::io::sink),
            );
        tracing::subscriber::with_default(subscriber, || drop(make()));
        kept.lock().unwrap().clone()
    }

    #[test]
    fn span_fields_are_one_json_object_even_when_recorded_later() {
        let kept = span_fields(|| {
            let span = tracing::info_span!(
                "request",
                request_id = "r-1",
                path = "/a\"b",
                n = 7u64,
                neg = -2i64,
                ok = true,
                ratio = 0.5,
                shown = ?Some("x"),
                later = tracing::field::Empty,
            );
            span.record("later", "now");
            span
        });
        assert_eq!(kept.len(), 1);
        let value: serde_json::Value = serde_json::from_str(&kept[0]).expect(&kept[0]);
        assert_eq!(
            value,
            serde_json::json!({
                "request_id": "r-1", "path": "/a\"b", "n": 7, "neg": -2, "ok": true,
                "ratio": 0.5, "shown": "Some(\"x\")", "later": "now",
            })
        );
        // In the order declared, recorded ones last.
        assert!(
            kept[0].starts_with("{\"request_id\":\"r-1\",\"path\""),
            "{}",
            kept[0]
        );
        // No fields at all, then one recorded.
        let kept = span_fields(|| {
            let span = tracing::info_span!("empty", later = tracing::field::Empty);
            span.record("later", 1u64);
            span
        });
        assert_eq!(kept, vec!["{\"later\":1}".to_owned()]);
        let kept = span_fields(|| tracing::info_span!("none"));
        assert_eq!(kept, vec!["{}".to_owned()]);
    }
}
