use actix_web::{HttpResponse, web};

use super::NoBody;
use super::dto::{MessageResponse, SessionDto, SessionsResponse};
use crate::auth::{AuthUser, ClientInfo};
use crate::error::{ApiResult, ErrorBody};
use crate::startup::AppState;

#[utoipa::path(
    get, path = "/api/auth/sessions", tag = "sessions",
    responses(
        (status = 200, description = "The user's live sessions, newest first", body = SessionsResponse),
        (status = 401, description = "No valid access token (cookie or Bearer)", body = ErrorBody),
        (status = 503, description = "Store unavailable; retry shortly", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let sessions = state.auth.sessions(&user).await?;
    Ok(HttpResponse::Ok().json(SessionsResponse {
        message: "Sessions fetched successfully".into(),
        sessions: sessions
            .iter()
            .map(|s| SessionDto::new(s, s.id == user.session_id))
            .collect(),
    }))
}

#[utoipa::path(
    delete, path = "/api/auth/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "The session id (`sid`)")),
    responses(
        (status = 200, description = "Session revoked", body = MessageResponse),
        (status = 400, description = "A body that is not valid JSON", body = ErrorBody),
        (status = 401, description = "No valid access token (cookie or Bearer)", body = ErrorBody),
        (status = 403, description = "An auth cookie came without an allowed Origin (CSRF rule)", body = ErrorBody),
        (status = 404, description = "No such live session of this user", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 415, description = "A non-empty body that is not application/json", body = ErrorBody),
        (status = 503, description = "Store unavailable; retry shortly", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn revoke(
    state: web::Data<AppState>,
    client: ClientInfo,
    user: AuthUser,
    id: web::Path<String>,
    _body: NoBody,
) -> ApiResult<HttpResponse> {
    state.auth.revoke_session(&client, &user, &id).await?;
    Ok(HttpResponse::Ok().json(MessageResponse::new("Session revoked")))
}
