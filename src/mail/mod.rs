//! Mail: the messages of the account flows, and how they leave.
//!
//! Two transports: SMTP (lettre on tokio with rustls) to the server of
//! `SMTP_URL`, or the console, which logs each mail's recipient, subject and
//! link and sends nothing (development, or production by name). Sending
//! never holds a request up: [`Mailer::dispatch`] hands the mail to a task
//! that gives up after `MAIL_SEND_TIMEOUT`, logs a failure (never the
//! link) and counts every outcome in `tokengate_mail_sent_total{kind,outcome}`.

mod templates;

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use tracing::Instrument;

use crate::domain::EmailAddress;
use crate::settings::{MailTransport, Settings};
use crate::telemetry::metrics::Metrics;

pub use templates::Templates;

/// What a mail is about: the `kind` label of the mail metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum MailKind {
    EmailVerification,
    PasswordReset,
    PasswordChanged,
    EmailChange,
    EmailChangeNotice,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How sending a mail ended: the `outcome` label of the mail metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum MailOutcome {
    /// The SMTP server accepted it.
    Sent,
    /// Written to the log by the console transport.
    Logged,
    /// The server refused it or could not be reached.
    Failed,
    /// Not done within `MAIL_SEND_TIMEOUT`.
    TimedOut,
}

impl MailOutcome {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One mail, rendered.
#[derive(Debug, Clone)]
pub struct Mail {
    pub kind: MailKind,
    pub to: EmailAddress,
    pub subject: &'static str,
    pub text: String,
    pub html: String,
    /// The link it carries, if any: only the console transport shows it.
    pub link: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("SMTP_URL is not a URL lettre accepts: {0}")]
    SmtpUrl(String),
    #[error("MAIL_FROM is not a mailbox like `Name <address>`: {0}")]
    From(String),
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Console,
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

impl Mailer {
    pub fn new(settings: &Settings, metrics: Arc<Metrics>) -> Result<Self, MailError> {
        let mail = &settings.mail;
        let from: Mailbox = mail
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::From(e.to_string()))?;
        let transport = match (mail.effective_transport(), &mail.smtp_url) {
            (MailTransport::Smtp, Some(url)) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    // lettre's message may quote the URL: never show it.
                    .map_err(|_| {
                        MailError::SmtpUrl("check the scheme, host, port and tls parameter".into())
                    })?
                    .timeout(Some(mail.send_timeout))
                    .build(),
            ),
            _ => Transport::Console,
        };
        Ok(Self {
            transport,
            from,
            timeout: mail.send_timeout,
            metrics,
        })
    }

    /// Sends `mail` in the background: the caller never waits for the mail
    /// server. The outcome is logged and counted.
    pub fn dispatch(self: &Arc<Self>, mail: Mail) {
        let mailer = Arc::clone(self);
        tokio::spawn(
            async move {
                mailer.send(&mail).await;
            }
            .instrument(tracing::Span::current()),
        );
    }

    /// Sends `mail` now, within the timeout; returns how it ended.
    pub async fn send(&self, mail: &Mail) -> MailOutcome {
        let outcome = match &self.transport {
            Transport::Console => {
                tracing::info!(
                    target: "mail",
                    kind = mail.kind.as_str(),
                    to = mail.to.as_str(),
                    subject = mail.subject,
                    link = mail.link.as_deref(),
                    "mail (console transport: logged, not sent)"
                );
                MailOutcome::Logged
            }
            Transport::Smtp(smtp) => self.send_smtp(smtp, mail).await,
        };
        self.metrics
            .count_mail(mail.kind.as_str(), outcome.as_str());
        outcome
    }

    async fn send_smtp(
        &self,
        smtp: &AsyncSmtpTransport<Tokio1Executor>,
        mail: &Mail,
    ) -> MailOutcome {
        let to = match mail.to.as_str().parse::<lettre::Address>() {
            Ok(address) => Mailbox::new(None, address),
            Err(e) => {
                tracing::warn!(kind = mail.kind.as_str(), error = %e, "mail not sent: the recipient is not an address lettre accepts");
                return MailOutcome::Failed;
            }
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ));
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(kind = mail.kind.as_str(), error = %e, "mail not built");
                return MailOutcome::Failed;
            }
        };
        match tokio::time::timeout(self.timeout, smtp.send(message)).await {
            Ok(Ok(_)) => {
                tracing::info!(kind = mail.kind.as_str(), "mail sent");
                MailOutcome::Sent
            }
            Ok(Err(e)) => {
                tracing::warn!(kind = mail.kind.as_str(), error = %crate::telemetry::error_chain(&e), "mail not sent");
                MailOutcome::Failed
            }
            Err(_) => {
                tracing::warn!(kind = mail.kind.as_str(), timeout = ?self.timeout, "mail not sent in time; given up");
                MailOutcome::TimedOut
            }
        }
    }
}
