use actix_web::{HttpResponse, web};

use super::dto::CurrentUserResponse;
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::startup::AppState;

#[utoipa::path(
    get, path = "/api/user/current-user", tag = "user",
    responses(
        (status = 200, description = "The logged-in user", body = CurrentUserResponse),
        (status = 401, description = "No valid access token (cookie or Bearer)", body = ErrorBody),
        (status = 503, description = "Store unavailable; retry shortly", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn current_user(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let found = state
        .auth
        .store()
        .find_user(&user.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated("user no longer exists"))?;
    Ok(HttpResponse::Ok().json(CurrentUserResponse {
        message: "Current user fetched successfully".into(),
        user: (&found).into(),
    }))
}
