use actix_web::{HttpResponse, web};

use super::dto::{RegisterData, RegisterRequest, RegisterResponse};
use super::responses::{CsrfRefused, IpRateLimited, NotJson, TooLarge};
use crate::auth::ApiResult;
use crate::auth::Registration;
use crate::domain::ClientInfo;
use crate::domain::{EmailAddress, Password, UserName};
use crate::http::body::{Fields, JsonObject};
use crate::http::error::ErrorBody;
use crate::state::AppState;

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
        (status = 403, response = CsrfRefused),
        (status = 409, description = "Email already registered", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 429, response = IpRateLimited),
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
