use actix_web::{HttpResponse, web};

use super::dto::{MessageResponse, SessionDto, SessionsResponse};
use super::responses::{
    BadJson, CsrfRefused, NonEmptyNotJson, StoreUnavailable, TooLarge, Unauthenticated,
};
use crate::auth::ApiResult;
use crate::domain::{AuthUser, ClientInfo};
use crate::http::body::NoBody;
use crate::http::error::ErrorBody;
use crate::state::AppState;

#[utoipa::path(
    get, path = "/api/auth/sessions", tag = "sessions",
    responses(
        (status = 200, description = "The user's live sessions, newest first", body = SessionsResponse),
        (status = 401, response = Unauthenticated),
        (status = 503, response = StoreUnavailable),
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
        (status = 400, response = BadJson),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfRefused),
        (status = 404, description = "No such live session of this user", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 415, response = NonEmptyNotJson),
        (status = 503, response = StoreUnavailable),
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
