//! Every mail's words, in one place: a plain-text body and an HTML body
//! with the same content. The only values put into them are links built
//! here from `FRONTEND_URL` and a token of the URL-safe alphabet, lifetimes,
//! and (in the change notice) an email address, which the HTML escapes.

use std::time::Duration;

use url::Url;

use super::{Mail, MailKind};
use crate::domain::{AccountTokenSecret, EmailAddress, TokenPurpose};

/// Renders the mails of the account flows.
#[derive(Debug, Clone)]
pub struct Templates {
    frontend: Url,
    reset_ttl: Duration,
    verification_ttl: Duration,
}

impl Templates {
    pub fn new(frontend: Url, reset_ttl: Duration, verification_ttl: Duration) -> Self {
        Self {
            frontend,
            reset_ttl,
            verification_ttl,
        }
    }

    /// How long a link of `purpose` works (what its mail says).
    pub fn lifetime(&self, purpose: TokenPurpose) -> Duration {
        match purpose {
            TokenPurpose::PasswordReset => self.reset_ttl,
            TokenPurpose::EmailVerification | TokenPurpose::EmailChange => self.verification_ttl,
        }
    }

    /// `{FRONTEND_URL}/{page}?token=…`
    fn link(&self, page: &str, token: &AccountTokenSecret) -> String {
        let mut url = self.frontend.clone();
        let path = format!("{}/{page}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.query_pairs_mut().append_pair("token", token.expose());
        url.into()
    }

    pub fn email_verification(&self, to: &EmailAddress, token: &AccountTokenSecret) -> Mail {
        let link = self.link("verify-email", token);
        let within = human(self.verification_ttl);
        mail(
            MailKind::EmailVerification,
            to,
            "Verify your email address",
            &[
                "Please confirm that this is your email address by opening the link below.",
                &format!("The link works once, within {within}."),
            ],
            Some(&link),
            &["If you did not create an account, you can ignore this message."],
        )
    }

    pub fn password_reset(&self, to: &EmailAddress, token: &AccountTokenSecret) -> Mail {
        let link = self.link("reset-password", token);
        let within = human(self.reset_ttl);
        mail(
            MailKind::PasswordReset,
            to,
            "Reset your password",
            &[
                "Someone, hopefully you, asked to reset the password of your account.",
                &format!(
                    "Open the link below to choose a new one. It works once, within {within}."
                ),
            ],
            Some(&link),
            &["If you did not ask for this, ignore this message: your password stays as it is."],
        )
    }

    pub fn password_changed(&self, to: &EmailAddress) -> Mail {
        let site = self.frontend.as_str().to_owned();
        mail(
            MailKind::PasswordChanged,
            to,
            "Your password was changed",
            &[
                "The password of your account was just changed, and your other sessions were signed out.",
            ],
            None,
            &[&format!(
                "If this was not you, use \"Forgot password?\" at {site} right away to choose a new password."
            )],
        )
    }

    pub fn email_change(&self, to: &EmailAddress, token: &AccountTokenSecret) -> Mail {
        let link = self.link("verify-email", token);
        let within = human(self.verification_ttl);
        mail(
            MailKind::EmailChange,
            to,
            "Confirm your new email address",
            &[
                "Open the link below to make this the email address of your account.",
                &format!("The link works once, within {within}."),
            ],
            Some(&link),
            &["If you did not ask for this, you can ignore this message."],
        )
    }

    pub fn email_change_notice(&self, to: &EmailAddress, new_address: &EmailAddress) -> Mail {
        mail(
            MailKind::EmailChangeNotice,
            to,
            "Your email address is being changed",
            &[
                &format!(
                    "Someone signed in to your account asked to change its email address to {}.",
                    new_address.as_str()
                ),
                "The change happens only when the link sent to that address is opened.",
            ],
            None,
            &["If this was not you, change your password right away."],
        )
    }
}

fn mail(
    kind: MailKind,
    to: &EmailAddress,
    subject: &'static str,
    before: &[&str],
    link: Option<&str>,
    after: &[&str],
) -> Mail {
    let mut text = String::new();
    let mut html = String::from("<!doctype html><html><body>");
    for p in before {
        text.push_str(p);
        text.push('\n');
        html.push_str(&format!("<p>{}</p>", escape(p)));
    }
    if let Some(link) = link {
        // The link alone on its line: mail clients make it clickable.
        text.push('\n');
        text.push_str(link);
        text.push_str("\n\n");
        let link = escape(link);
        html.push_str(&format!("<p><a href=\"{link}\">{link}</a></p>"));
    } else {
        text.push('\n');
    }
    for p in after {
        text.push_str(p);
        text.push('\n');
        html.push_str(&format!("<p>{}</p>", escape(p)));
    }
    html.push_str("</body></html>");
    Mail {
        kind,
        to: to.clone(),
        subject,
        text,
        html,
        link: link.map(str::to_owned),
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// "30 minutes", "24 hours", "3 days".
fn human(d: Duration) -> String {
    let minutes = d.as_secs().div_ceil(60);
    let (n, unit) = if minutes < 120 {
        (minutes, "minute")
    } else if minutes < 48 * 60 {
        (minutes.div_ceil(60), "hour")
    } else {
        (minutes.div_ceil(24 * 60), "day")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates(base: &str) -> Templates {
        Templates::new(
            Url::parse(base).unwrap(),
            Duration::from_secs(30 * 60),
            Duration::from_secs(24 * 3600),
        )
    }

    #[test]
    fn links_keep_the_frontend_path_and_carry_the_token_alone() {
        let token = AccountTokenSecret::generate().unwrap();
        let to = EmailAddress::parse("ada@example.com").unwrap();
        for (base, expected) in [
            (
                "http://localhost:5173",
                "http://localhost:5173/reset-password?token=",
            ),
            (
                "https://app.example.com/spa/",
                "https://app.example.com/spa/reset-password?token=",
            ),
            (
                "https://app.example.com/spa",
                "https://app.example.com/spa/reset-password?token=",
            ),
        ] {
            let mail = templates(base).password_reset(&to, &token);
            let link = mail.link.clone().unwrap();
            assert_eq!(link, format!("{expected}{}", token.expose()));
            assert!(
                mail.text.lines().any(|l| l == link),
                "the link on its own line"
            );
            assert!(mail.html.contains(&format!("href=\"{link}\"")));
            assert!(mail.text.contains("30 minutes"));
        }
    }

    #[test]
    fn an_address_in_html_is_escaped() {
        // A valid address may hold quotes and ampersands in its local part.
        let new = EmailAddress::from_trusted("\"<b>x</b>&\"@example.com".into());
        let mail = templates("https://app.example.com")
            .email_change_notice(&EmailAddress::parse("ada@example.com").unwrap(), &new);
        assert!(!mail.html.contains("<b>x</b>"), "{}", mail.html);
        assert!(mail.html.contains("&lt;b&gt;x&lt;/b&gt;&amp;"));
        assert!(mail.text.contains(new.as_str()));
        assert_eq!(mail.link, None);
    }

    #[test]
    fn lifetimes_read_like_people_write_them() {
        for (secs, text) in [
            (60, "1 minute"),
            (30 * 60, "30 minutes"),
            (119 * 60, "119 minutes"),
            (2 * 3600, "2 hours"),
            (24 * 3600, "24 hours"),
            (3 * 86_400, "3 days"),
        ] {
            assert_eq!(human(Duration::from_secs(secs)), text);
        }
    }
}
