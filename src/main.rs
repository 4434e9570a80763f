use tokengate::{settings::Settings, startup::Application, telemetry};

/// `tokengate` serves; `tokengate keys list|rotate` manages the JWT signing
/// keys in the store (see `tokengate::auth::keys::command`).
#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().inspect_err(|e| eprintln!("tokengate: {e}"))?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some((first, rest)) = args.split_first() {
        if first != "keys" {
            anyhow::bail!("unknown command {first:?}; usage: tokengate [keys list|rotate]");
        }
        // Logs go to stderr so stdout is the command's answer alone.
        telemetry::init(&settings.log, std::io::stderr);
        return tokengate::auth::keys::command(&settings, rest).await;
    }
    // The request log leaves through its own thread; the guard writes what
    // is still queued when the service stops.
    let (log, _flush_on_exit) =
        telemetry::writer::start(std::io::stdout(), telemetry::writer::LOG_BUFFER_BYTES);
    telemetry::init(&settings.log, log);
    Application::build(settings)
        .await?
        .run_until_stopped()
        .await?;
    Ok(())
}
