//! A real SMTP server for the API tests: `tests/smtp/sink.mjs` (npm's
//! smtp-server and mailparser) started on a free loopback port, one per
//! test, writing each delivered message as a JSON file we read back. The
//! test command installs its packages (`npm ci` in tests/smtp); without
//! them these tests fail and say so.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Mailbox {
    dir: PathBuf,
    port: u16,
    _child: Child,
}

/// One delivered message, as the sink parsed it.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub auth_user: Option<String>,
    pub seq: u64,
}

impl Delivered {
    /// The first line of the text body that is a URL: the link.
    pub fn link(&self) -> String {
        self.text
            .lines()
            .find(|l| l.starts_with("http://") || l.starts_with("https://"))
            .unwrap_or_else(|| panic!("no link in {:?}", self.text))
            .to_owned()
    }

    /// The `token` query parameter of the link.
    pub fn token(&self) -> String {
        let link = self.link();
        let url = url::Url::parse(&link).expect("a URL");
        url.query_pairs()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no token in {link}"))
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Mailbox {
    /// Starts the sink; with `credentials`, it requires AUTH with them.
    pub async fn start_with(credentials: Option<(&str, &str)>) -> Self {
        let modules = repo().join("tests/smtp/node_modules/smtp-server");
        assert!(
            modules.is_dir(),
            "the SMTP sink's packages are missing ({}): run scripts/test.sh, or `npm ci` in tests/smtp",
            modules.display()
        );
        let dir = std::env::temp_dir().join(format!("tokengate-mail-{}", uuid::Uuid::new_v4()));
        let mut cmd = Command::new("node");
        cmd.arg(repo().join("tests/smtp/sink.mjs"))
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some((user, pass)) = credentials {
            cmd.args(["--user", user, "--pass", pass]);
        }
        let mut child = cmd
            .spawn()
            .expect("node runs (the SMTP sink needs Node.js)");
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP sink started within 20 s")
            .expect("read the sink's output")
            .expect("the sink printed its port");
        let port = serde_json::from_str::<Value>(&first).expect("{\"port\": n}")["port"]
            .as_u64()
            .expect("a port") as u16;
        Self {
            dir,
            port,
            _child: child,
        }
    }

    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// `SMTP_URL` for this server.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message delivered so far, in order.
    pub fn all(&self) -> Vec<Delivered> {
        read_dir(&self.dir)
    }

    /// Every message delivered so far to `address`.
    pub fn to(&self, address: &str) -> Vec<Delivered> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// Waits (at most 10 s) for the `n`th message (1-based) to `address`
    /// with `subject`.
    pub async fn nth(&self, n: usize, address: &str, subject: &str) -> Delivered {
        for _ in 0..200 {
            let found: Vec<_> = self
                .to(address)
                .into_iter()
                .filter(|m| m.subject == subject)
                .collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no message #{n} {subject:?} to {address} within 10 s; delivered: {:?}",
            self.all()
                .iter()
                .map(|m| (m.to.clone(), m.subject.clone()))
                .collect::<Vec<_>>()
        );
    }

    /// The first message to `address` with `subject`.
    pub async fn next(&self, address: &str, subject: &str) -> Delivered {
        self.nth(1, address, subject).await
    }

    /// Waits `quiet` and asserts nothing more reached `address`: the test
    /// of "no mail" (the sends happen in the background).
    pub async fn assert_count_after(&self, quiet: Duration, address: &str, count: usize) {
        tokio::time::sleep(quiet).await;
        let got = self.to(address);
        assert_eq!(
            got.len(),
            count,
            "messages to {address}: {:?}",
            got.iter().map(|m| &m.subject).collect::<Vec<_>>()
        );
    }
}

fn read_dir(dir: &Path) -> Vec<Delivered> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut messages: Vec<Delivered> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            let v: Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            Delivered {
                to: v["envelope"]["to"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_owned())
                    .collect(),
                subject: v["subject"].as_str().unwrap_or_default().to_owned(),
                text: v["text"].as_str().unwrap_or_default().to_owned(),
                html: v["html"].as_str().unwrap_or_default().to_owned(),
                auth_user: v["authUser"].as_str().map(str::to_owned),
                seq: v["seq"].as_u64().unwrap(),
            }
        })
        .collect();
    messages.sort_by_key(|m| m.seq);
    messages
}
