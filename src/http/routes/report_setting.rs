use actix_web::{HttpResponse, web};

use super::dto::{ReportSettingResponse, UpdateReportSettingRequest};
use super::responses::{CsrfRefused, NotJson, StoreUnavailable, TooLarge, Unauthenticated};
use crate::auth::{ApiError, ApiResult};
use crate::domain::AuthUser;
use crate::domain::{Frequency, ParseError, ReportSettingPatch};
use crate::http::body::{Fields, JsonObject};
use crate::http::error::ErrorBody;
use crate::state::AppState;

#[utoipa::path(
    get, path = "/api/report/setting", tag = "report",
    responses(
        (status = 200, description = "The user's report setting", body = ReportSettingResponse),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "The user has no report setting", body = ErrorBody),
        (status = 503, response = StoreUnavailable),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn get(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let setting = state
        .store
        .report_setting(&user.user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(ReportSettingResponse {
        message: "Report setting fetched successfully".into(),
        report_setting: (&setting).into(),
    }))
}

#[utoipa::path(
    put, path = "/api/report/setting", tag = "report",
    description = "Updates the user's report setting; either field may be left out.",
    request_body = UpdateReportSettingRequest,
    responses(
        (status = 200, description = "The updated report setting", body = ReportSettingResponse),
        (status = 400, description = "Validation failed (`errors` names each field) or malformed body", body = ErrorBody),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfRefused),
        (status = 404, description = "The user has no report setting", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 503, response = StoreUnavailable),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonObject<UpdateReportSettingRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner().0;
    let mut fields = Fields::default();
    let frequency = fields.optional("frequency", body.frequency, |f| {
        Frequency::parse(&f)
            .ok_or_else(|| ParseError::new("Frequency must be DAILY, WEEKLY or MONTHLY"))
    });
    let patch = fields.finish(Some(ReportSettingPatch {
        frequency,
        is_enabled: body.is_enabled,
    }))?;
    let setting = state
        .store
        .update_report_setting(&user.user_id, patch, crate::domain::now())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(ReportSettingResponse {
        message: "Report setting updated successfully".into(),
        report_setting: (&setting).into(),
    }))
}
