//! The outermost middleware: request id, one log line per request, metrics,
//! and the headers every response carries.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

use crate::http::HttpState;
use crate::state::AppState;
use crate::telemetry::request_line::RequestLine;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Keeps a caller's request id when it is short and plain, else makes one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(new_request_id, str::to_owned)
}

/// A request id: this process's random 64-bit prefix and a counter, in
/// hex (`3f9a2c1b7d4e5f60-1a2b`). Unique per process and, by the prefix,
/// across instances; not a secret, so no randomness (and no system call)
/// per request.
fn new_request_id() -> String {
    use std::fmt::Write;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = *PREFIX.get_or_init(|| {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
    });
    let mut id = String::with_capacity(33);
    let _ = write!(
        id,
        "{prefix:016x}-{:x}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    id
}

/// Wraps every request: keeps or makes its request id, runs the rest of the
/// app inside a `request` span (so every event of the request carries the id),
/// writes one `request finished` line with method, route, status, latency and
/// request id, counts the request, and adds the common headers.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request = Observed {
        started: Instant::now(),
        id: request_id(&req),
        method: req.method().clone(),
        path: req.path().to_owned(),
        state: req.app_data::<web::Data<AppState>>().cloned(),
        http: req.app_data::<web::Data<HttpState>>().cloned(),
    };
    let span = tracing::info_span!(
        "request",
        request_id = request.id.as_str(),
        method = request.method.as_str(),
        path = request.path.as_str(),
    );
    let mut res = match next.call(req).instrument(span).await {
        Ok(res) => res,
        Err(e) => {
            // An error that escaped the inner layers: actix answers it; it
            // is still logged and counted. (The request cannot be kept
            // aside to answer it here: routing needs it unshared.)
            request.finish("unmatched", e.as_response_error().status_code());
            return Err(e);
        }
    };

    let route = request
        .http
        .as_ref()
        .map_or("unmatched", |h| h.routes.of(res.request()));
    request.finish(route, res.status());
    let (id, state) = (request.id, request.state);

    let headers = res.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let is_api = state
        .as_ref()
        .is_some_and(|s| route.starts_with(&s.settings.server.base_path) || route == "unmatched");
    if is_api && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// What the request line says about a request.
struct Observed {
    started: Instant,
    id: String,
    method: Method,
    path: String,
    state: Option<web::Data<AppState>>,
    http: Option<web::Data<HttpState>>,
}

impl Observed {
    /// The one log line of the request (outside its span, so the line
    /// carries its own fields, flat), and its metrics.
    fn finish(&self, route: &'static str, status: StatusCode) {
        let elapsed = self.started.elapsed();
        RequestLine {
            request_id: &self.id,
            method: self.method.as_str(),
            route,
            path: &self.path,
            status: status.as_u16(),
            latency: elapsed,
        }
        .write();
        if let Some(state) = &self.state {
            state
                .metrics
                .record_request(self.method.as_str(), route, status.as_u16(), elapsed);
        }
    }
}
