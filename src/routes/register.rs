use actix_web::{HttpResponse, web};

use super::Fields;
use super::dto::{RegisterData, RegisterRequest, RegisterResponse};
use crate::auth::{ClientInfo, Registration};
use crate::domain::{EmailAddress, Password, UserName};
use crate::error::{ApiResult, ErrorBody};
use crate::startup::AppState;

/// Parses the body into domain values, naming every invalid field.
fn parse(body: RegisterRequest) -> ApiResult<Registration> {
    let mut fields = Fields::default();
    let name = fields.parse("name", body.name, |n| UserName::parse(&n));
    let email = fields.parse("email", body.email, |e| EmailAddress::parse(&e));
    let password = fields.parse("password", body.password, Password::parse);
    let values = name.zip(email).zip(password);
    let ((name, email), password) = fields.finish(values)?;
    Ok(Registration {
        name,
        email,
        password,
    })
}

#[utoipa::path(
    post, path = "/api/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "User and default report setting created", body = RegisterResponse),
        (status = 400, description = "Validation failed or malformed body", body = ErrorBody),
        (status = 409, description = "Email already registered", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 429, description = "Too many requests from this IP", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Json<RegisterRequest>,
) -> ApiResult<HttpResponse> {
    let registration = parse(body.into_inner())?;
    let (user, _setting) = state.auth.register(&client, registration).await?;
    Ok(HttpResponse::Created().json(RegisterResponse {
        message: "User registered successfully".into(),
        data: RegisterData {
            user: (&user).into(),
        },
    }))
}
