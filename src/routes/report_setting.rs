use actix_web::{HttpResponse, web};

use super::dto::{ReportSettingResponse, UpdateReportSettingRequest};
use super::{Fields, JsonObject};
use crate::auth::AuthUser;
use crate::domain::{Frequency, ParseError, ReportSettingPatch};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::startup::AppState;

#[utoipa::path(
    get, path = "/api/report/setting", tag = "report",
    responses(
        (status = 200, description = "The user's report setting", body = ReportSettingResponse),
        (status = 401, description = "No valid access token (cookie or Bearer)", body = ErrorBody),
        (status = 404, description = "The user has no report setting", body = ErrorBody),
        (status = 503, description = "Store unavailable; retry shortly", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn get(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let setting = state
        .auth
        .store()
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
        (status = 401, description = "No valid access token (cookie or Bearer)", body = ErrorBody),
        (status = 403, description = "An auth cookie came without an allowed Origin (CSRF rule)", body = ErrorBody),
        (status = 404, description = "The user has no report setting", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 503, description = "Store unavailable; retry shortly", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
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
        .auth
        .store()
        .update_report_setting(&user.user_id, patch, crate::domain::now())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(ReportSettingResponse {
        message: "Report setting updated successfully".into(),
        report_setting: (&setting).into(),
    }))
}
