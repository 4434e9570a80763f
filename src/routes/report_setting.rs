use actix_web::{HttpResponse, web};

use super::Fields;
use super::dto::{ReportSettingResponse, UpdateReportSettingRequest};
use crate::auth::AuthUser;
use crate::domain::{Frequency, ParseError, ReportSettingPatch};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::startup::AppState;

#[utoipa::path(
    get, path = "/api/report/setting", tag = "report",
    responses(
        (status = 200, body = ReportSettingResponse),
        (status = 401, body = ErrorBody),
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
    request_body = UpdateReportSettingRequest,
    responses(
        (status = 200, body = ReportSettingResponse),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Cookie present but the Origin is not allowed", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<UpdateReportSettingRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
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
