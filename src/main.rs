use tokengate::{settings::Settings, startup::Application, telemetry};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().inspect_err(|e| eprintln!("tokengate: {e}"))?;
    telemetry::init(&settings.log, std::io::stdout);
    Application::build(settings)
        .await?
        .run_until_stopped()
        .await?;
    Ok(())
}
