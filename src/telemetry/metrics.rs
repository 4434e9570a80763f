//! Prometheus metrics: HTTP requests by route and status with latency
//! histograms, auth events, and the store's health.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Security-relevant events; each is counted and written to the audit log
/// under its snake_case name (`login_failed`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum AuthEvent {
    Registered,
    LoginSucceeded,
    LoginFailed,
    LoginRateLimited,
    LoginShed,
    RateLimited,
    Refreshed,
    RefreshGraceReplayed,
    RefreshRefused,
    ReuseDetected,
    Logout,
    LogoutAll,
    SessionRevoked,
    CsrfRefused,
    PasswordChanged,
    PasswordResetRequested,
    PasswordReset,
    EmailVerificationSent,
    EmailVerified,
    EmailChangeRequested,
    EmailChanged,
    AccountDeleted,
}

impl AuthEvent {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl EncodeLabelValue for AuthEvent {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        use std::fmt::Write;
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EventLabels {
    event: AuthEvent,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LatencyLabels {
    method: &'static str,
    route: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MailLabels {
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    events: Family<EventLabels, Counter>,
    mail: Family<MailLabels, Counter>,
    store_up: Family<BackendLabels, Gauge>,
    log_lines_dropped: Counter,
    registration_mode: Family<ModeLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tokengate");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "auth_events",
            "Authentication events (logins, refreshes, reuse detections, revocations...)",
            events.clone(),
        );
        let mail = Family::<MailLabels, Counter>::default();
        registry.register(
            "mail_sent",
            "Mails of the account flows by kind and outcome (sent, logged by the console transport, failed, timed_out)",
            mail.clone(),
        );
        let store_up = Family::<BackendLabels, Gauge>::default();
        registry.register(
            "store_up",
            "1 when the store answered its last ping",
            store_up.clone(),
        );
        let log_lines_dropped = Counter::default();
        registry.register(
            "log_lines_dropped",
            "Log lines dropped because the log writer fell behind (its queue was full)",
            log_lines_dropped.clone(),
        );
        let registration_mode = Family::<ModeLabels, Gauge>::default();
        registry.register(
            "store_registration_mode",
            "1 for how registration writes the user and its setting now (transaction, fallback, or undecided while the store connects)",
            registration_mode.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            events,
            mail,
            store_up,
            log_lines_dropped,
            registration_mode,
        }
    }

    /// Counts a request. Every label comes from a fixed set, whatever the
    /// client sends: the method is one of the standard ones or `other`, the
    /// route a pattern of the route table or `unmatched`, the status one the
    /// server chose. So no request can add series without bound.
    ///
    /// `route` is a label interned once per route (no allocation per
    /// request).
    pub fn record_request(
        &self,
        method: &str,
        route: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        let method = method_label(method);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels { method, route })
            .observe(elapsed.as_secs_f64());
    }

    pub fn count(&self, event: AuthEvent) {
        self.events.get_or_create(&EventLabels { event }).inc();
    }

    /// Counts a mail; both labels come from fixed enums (`mail::MailKind`,
    /// `mail::MailOutcome`).
    pub fn count_mail(&self, kind: &'static str, outcome: &'static str) {
        self.mail.get_or_create(&MailLabels { kind, outcome }).inc();
    }

    pub fn event_count(&self, event: AuthEvent) -> u64 {
        self.events.get_or_create(&EventLabels { event }).get()
    }

    /// Brings the dropped-lines counter up to `total` (the log writer's own
    /// count, which only grows), before a scrape.
    pub fn sync_dropped_log_lines(&self, total: u64) {
        static SYNC: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = SYNC.lock();
        let shown = self.log_lines_dropped.get();
        if total > shown {
            self.log_lines_dropped.inc_by(total - shown);
        }
    }

    pub fn set_store_up(&self, backend: &str, up: bool) {
        self.store_up
            .get_or_create(&BackendLabels {
                backend: backend.to_owned(),
            })
            .set(i64::from(up));
    }

    /// The Prometheus text exposition of everything registered.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ModeLabels {
    backend: String,
    mode: &'static str,
}

impl Metrics {
    /// Sets `tokengate_store_registration_mode`: 1 for the store's current
    /// mode (`None`: `undecided`), 0 for the others, so a switch to the
    /// fallback shows as a step.
    pub fn set_registration_mode(&self, backend: &str, mode: Option<&'static str>) {
        let current = mode.unwrap_or("undecided");
        for mode in ["transaction", "fallback", "undecided"] {
            self.registration_mode
                .get_or_create(&ModeLabels {
                    backend: backend.to_owned(),
                    mode,
                })
                .set(i64::from(mode == current));
        }
    }
}

/// The method as a label: the standard methods by name, anything a client
/// invents as `other`.
fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    STANDARD
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        let m = Metrics::new();
        for i in 0..50 {
            m.record_request(&format!("BREW{i}"), "unmatched", 405, Duration::ZERO);
        }
        m.record_request("get", "unmatched", 405, Duration::ZERO);
        let text = m.render();
        assert!(!text.contains("BREW"), "{text}");
        assert!(
            text.contains(
                r#"tokengate_http_requests_total{method="other",route="unmatched",status="405"} 51"#
            ),
            "{text}"
        );
    }

    #[test]
    fn event_names_are_snake_case() {
        use strum::IntoEnumIterator;
        assert_eq!(AuthEvent::LoginFailed.as_str(), "login_failed");
        assert_eq!(
            AuthEvent::RefreshGraceReplayed.as_str(),
            "refresh_grace_replayed"
        );
        for event in AuthEvent::iter() {
            let name = event.as_str();
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
        }
    }

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::new();
        m.count(AuthEvent::LoginFailed);
        m.count(AuthEvent::LoginFailed);
        m.record_request(
            "GET",
            "/api/user/current-user",
            200,
            Duration::from_millis(3),
        );
        m.set_store_up("sqlite", true);
        let text = m.render();
        assert!(
            text.contains(r#"tokengate_auth_events_total{event="login_failed"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"tokengate_http_requests_total{method="GET",route="/api/user/current-user",status="200"} 1"#), "{text}");
        assert!(
            text.contains("tokengate_http_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains(r#"tokengate_store_up{backend="sqlite"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn the_registration_mode_is_one_gauge_per_mode() {
        let m = Metrics::new();
        m.set_registration_mode("mongodb", None);
        m.set_registration_mode("mongodb", Some("fallback"));
        let text = m.render();
        for (mode, value) in [("fallback", 1), ("transaction", 0), ("undecided", 0)] {
            let line = format!(
                r#"tokengate_store_registration_mode{{backend="mongodb",mode="{mode}"}} {value}"#
            );
            assert!(text.contains(&line), "{line} in {text}");
        }
    }
}
