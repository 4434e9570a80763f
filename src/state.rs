//! What every handler can reach, built once at start-up and shared by all
//! workers. Below `http/`: it holds the service's parts, nothing of actix.

use std::sync::Arc;

use crate::auth::Auth;
use crate::mail::{MailError, Mailer};
use crate::settings::Settings;
use crate::store::SharedStore;
use crate::telemetry::metrics::Metrics;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: SharedStore,
    pub auth: Auth,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// Fails only on a mail setting lettre refuses (`SMTP_URL`, `MAIL_FROM`).
    pub fn new(settings: Arc<Settings>, store: SharedStore) -> Result<Self, MailError> {
        let metrics = Arc::new(Metrics::new());
        let mailer = Arc::new(Mailer::new(&settings, Arc::clone(&metrics))?);
        Ok(Self {
            auth: Auth::new(&settings, Arc::clone(&store), Arc::clone(&metrics), mailer),
            settings,
            store,
            metrics,
        })
    }
}
