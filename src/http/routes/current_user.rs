use actix_web::{HttpResponse, web};

use super::dto::CurrentUserResponse;
use super::responses::{StoreUnavailable, Unauthenticated};
use crate::auth::{ApiError, ApiResult};
use crate::domain::AuthUser;
use crate::state::AppState;

#[utoipa::path(
    get, path = "/api/user/current-user", tag = "user",
    responses(
        (status = 200, description = "The logged-in user", body = CurrentUserResponse),
        (status = 401, response = Unauthenticated),
        (status = 503, response = StoreUnavailable),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn current_user(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let found = state
        .store
        .find_user(&user.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated("user no longer exists"))?;
    Ok(HttpResponse::Ok().json(CurrentUserResponse {
        message: "Current user fetched successfully".into(),
        user: (&found).into(),
    }))
}
