//! The benchmark's reference server (`scripts/bench.sh`): the least an
//! actix-web service can do for a protected request. It verifies the HS256
//! `accessToken` cookie with the service's own `TokenService` (same settings,
//! same jsonwebtoken crypto provider, same checks) and answers a small JSON.
//! No store, no middleware, no logging: the practical ceiling the service's
//! `current-user` route is measured against. `GET /hello` answers a short
//! text and nothing else: the ceiling of the service's `/health/live`.
//!
//! It reads the same settings as the service (`config/` + environment), so
//! it listens on `HOST:PORT` and uses the same worker count and secrets.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tokengate::auth::tokens::TokenService;
use tokengate::http::cookies::ACCESS_COOKIE;
use tokengate::settings::Settings;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let settings = Settings::load().map_err(std::io::Error::other)?;
    let tokens = web::Data::new(TokenService::new(&settings.jwt));
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(tokens.clone())
            .route("/api/user/current-user", web::get().to(current_user))
            .route("/hello", web::get().to(hello))
            .route("/health/ready", web::get().to(HttpResponse::Ok))
    });
    if let Some(workers) = settings.server.workers {
        server = server.workers(workers);
    }
    server
        .bind((settings.server.host.as_str(), settings.server.port))?
        .run()
        .await
}

async fn hello() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("hello")
}

async fn current_user(tokens: web::Data<TokenService>, req: HttpRequest) -> HttpResponse {
    let verified = req
        .cookie(ACCESS_COOKIE)
        .and_then(|c| tokens.verify_access(c.value()).ok());
    match verified {
        Some(token) => HttpResponse::Ok().json(serde_json::json!({
            "message": "Current user fetched successfully",
            "user": { "_id": token.user_id.as_str() },
        })),
        None => HttpResponse::Unauthorized().json(serde_json::json!({
            "message": "Authentication required",
        })),
    }
}
