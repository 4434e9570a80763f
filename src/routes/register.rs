use actix_web::{HttpResponse, web};

use super::dto::{RegisterData, RegisterRequest, RegisterResponse};
use super::{Fields, JsonObject};
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
    description = "Creates the user and its default report setting together, both or neither. Sets no cookie.",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "User and default report setting created", body = RegisterResponse),
        (status = 400, description = "Validation failed (`errors` names each field) or malformed body", body = ErrorBody),
        (status = 403, description = "An auth cookie came without an allowed Origin (CSRF rule)", body = ErrorBody),
        (status = 409, description = "Email already registered", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 429, description = "Too many requests from this IP", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Overloaded or store unavailable; retry shortly", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: JsonObject<RegisterRequest>,
) -> ApiResult<HttpResponse> {
    let registration = parse(body.into_inner().0)?;
    let (user, _setting) = state.auth.register(&client, registration).await?;
    Ok(HttpResponse::Created().json(RegisterResponse {
        message: "User registered successfully".into(),
        data: RegisterData {
            user: (&user).into(),
        },
    }))
}
