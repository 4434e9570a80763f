use actix_web::{HttpResponse, web};

use crate::state::AppState;

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let store = &state.store;
    let up = store.ping().await.is_ok();
    state.metrics.set_store_up(store.backend(), up);
    state
        .metrics
        .set_registration_mode(store.backend(), store.registration_mode());
    state
        .metrics
        .sync_dropped_log_lines(crate::telemetry::writer::dropped_lines());
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}
