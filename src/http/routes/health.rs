use std::time::Duration;

use actix_web::{HttpResponse, web};

use super::dto::MessageResponse;
use crate::state::AppState;

#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses((status = 200, description = "The process runs", body = MessageResponse)))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(MessageResponse::new("live"))
}

#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "The store answers", body = MessageResponse),
        (status = 503, description = "The store does not answer", body = MessageResponse),
    ))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let store = &state.store;
    // The drivers' own timeouts bound the ping; this one only caps a hang.
    let up = matches!(
        tokio::time::timeout(Duration::from_secs(5), store.ping()).await,
        Ok(Ok(()))
    );
    state.metrics.set_store_up(store.backend(), up);
    if up {
        HttpResponse::Ok().json(MessageResponse::new("ready"))
    } else {
        HttpResponse::ServiceUnavailable().json(MessageResponse::new("store unavailable"))
    }
}
