//! The backends the suite runs on, and a fresh store per test.
//!
//! - `sqlite`: always; a new file under the temp dir per test, deleted after.
//! - `mongodb-replset`: when `TEST_MONGO_URI` is set (a replica set or mongos).
//! - `mongodb-standalone`: when `TEST_MONGO_STANDALONE_URI` is set.
//!
//! Each MongoDB test gets its own database, dropped afterwards. Put no
//! database name in the URIs' path the tests rely on: the suite picks its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mongodb::bson::{DateTime as BsonDateTime, doc};
use mongodb::options::ClientOptions;
use secrecy::SecretString;
use tokengate::domain::UserId;
use tokengate::settings::{Settings, StoreSettings};
use tokengate::store::mongo::{MongoStore, RegistrationMode};
use tokengate::store::{self, SharedStore};
use uuid::Uuid;

/// How long a MongoDB test waits for a server before failing.
const MONGO_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    MongoReplSet,
    MongoStandalone,
}

impl BackendKind {
    pub const ALL: [BackendKind; 3] = [
        BackendKind::Sqlite,
        BackendKind::MongoReplSet,
        BackendKind::MongoStandalone,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Sqlite => "sqlite",
            BackendKind::MongoReplSet => "mongodb-replset",
            BackendKind::MongoStandalone => "mongodb-standalone",
        }
    }

    /// The environment variable that turns the backend on.
    pub fn variable(self) -> Option<&'static str> {
        match self {
            BackendKind::Sqlite => None,
            BackendKind::MongoReplSet => Some("TEST_MONGO_URI"),
            BackendKind::MongoStandalone => Some("TEST_MONGO_STANDALONE_URI"),
        }
    }

    /// The registration mode the deployment behind the variable must have.
    fn expected_mode(self) -> Option<RegistrationMode> {
        match self {
            BackendKind::Sqlite => None,
            BackendKind::MongoReplSet => Some(RegistrationMode::Transaction),
            BackendKind::MongoStandalone => Some(RegistrationMode::Fallback),
        }
    }
}

#[derive(Clone)]
pub struct Backend {
    pub kind: BackendKind,
    uri: Option<String>,
}

/// A test's store and a way to reach the same data behind the store's back.
pub struct Ctx {
    pub store: SharedStore,
    pub kind: BackendKind,
    raw: Raw,
    /// The MongoDB URI, for tests that build stores of their own.
    uri: Option<String>,
}

#[derive(Clone)]
enum Raw {
    Sqlite(PathBuf),
    Mongo(mongodb::Database),
}

/// Removes what a test created once the test is over.
pub struct Teardown(Raw);

fn base_settings() -> Result<StoreSettings, String> {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    Settings::load_from(&config, &HashMap::new())
        .map(|s| s.store)
        .map_err(|e| format!("cannot load the test settings: {e}"))
}

fn mongo_settings(uri: &str) -> Result<StoreSettings, String> {
    let mut settings = base_settings()?;
    settings.mongo_uri = Some(SecretString::from(uri.to_owned()));
    settings.mongo_server_selection_timeout = MONGO_TIMEOUT;
    Ok(settings)
}

/// A MongoStore on `database`, once its background connector has finished
/// (`connect` returns before the server has answered).
async fn connect_ready(uri: &str, database: &str) -> Result<MongoStore, String> {
    connect_ready_with(mongo_settings(uri)?, database).await
}

async fn connect_ready_with(settings: StoreSettings, database: &str) -> Result<MongoStore, String> {
    let store = MongoStore::connect_to_database(&settings, database)
        .await
        .map_err(|e| error_chain(&e))?;
    store
        .wait_ready(MONGO_TIMEOUT * 2)
        .await
        .map_err(|e| error_chain(&e))?;
    Ok(store)
}

pub fn error_chain(e: &dyn std::error::Error) -> String {
    tokengate::telemetry::error_chain(e)
}

fn unique_database(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}

/// A plain driver handle on `database`, for planting and dropping data.
async fn raw_database(uri: &str, database: &str) -> Result<mongodb::Database, String> {
    let mut options = ClientOptions::parse(uri)
        .await
        .map_err(|e| format!("cannot parse the MongoDB URI: {}", e.kind))?;
    options.server_selection_timeout = Some(MONGO_TIMEOUT);
    let client = mongodb::Client::with_options(options)
        .map_err(|e| format!("cannot build a MongoDB client: {}", e.kind))?;
    Ok(client.database(database))
}

impl Backend {
    /// SQLite, plus each MongoDB whose variable is set.
    pub fn configured() -> Vec<Backend> {
        let mut backends = vec![Backend {
            kind: BackendKind::Sqlite,
            uri: None,
        }];
        for kind in [BackendKind::MongoReplSet, BackendKind::MongoStandalone] {
            let uri = kind
                .variable()
                .and_then(|var| std::env::var(var).ok())
                .filter(|v| !v.trim().is_empty());
            if let Some(uri) = uri {
                backends.push(Backend {
                    kind,
                    uri: Some(uri.trim().to_owned()),
                });
            }
        }
        backends
    }

    /// Checks once, before the tests, that the backend answers and is the
    /// kind of deployment its variable promises.
    pub async fn preflight(&self) -> Result<(), String> {
        let (Some(uri), Some(expected)) = (&self.uri, self.kind.expected_mode()) else {
            return Ok(());
        };
        let database = unique_database("tokengate_preflight");
        let store = connect_ready(uri, &database)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let mode = store.registration_mode();
        drop(store);
        Teardown(Raw::Mongo(raw_database(uri, &database).await?))
            .run()
            .await;
        if mode != Some(expected) {
            return Err(format!(
                "{} points to a deployment whose registration mode is {:?}, expected {:?} \
                 (TEST_MONGO_URI must be a replica set or mongos, TEST_MONGO_STANDALONE_URI a \
                 standalone server)",
                self.kind.variable().unwrap_or("?"),
                mode,
                expected
            ));
        }
        Ok(())
    }

    /// A fresh, empty store for one test.
    pub async fn setup(&self) -> Result<Ctx, String> {
        match (&self.uri, self.kind) {
            (None, _) | (_, BackendKind::Sqlite) => {
                let mut settings = base_settings()?;
                let path = std::env::temp_dir()
                    .join(format!("tokengate-store-test-{}.sqlite", Uuid::new_v4()));
                settings.sqlite_path = path.clone();
                settings.mongo_uri = None;
                let store = store::connect(&settings)
                    .await
                    .map_err(|e| format!("cannot open SQLite at {}: {e}", path.display()))?;
                Ok(Ctx {
                    store,
                    kind: self.kind,
                    raw: Raw::Sqlite(path),
                    uri: None,
                })
            }
            (Some(uri), kind) => {
                let database = unique_database("tokengate_test");
                let raw = raw_database(uri, &database).await?;
                let store = connect_ready(uri, &database)
                    .await
                    .map_err(|e| format!("cannot connect to {}: {e}", kind.name()))?;
                let store: SharedStore = Arc::new(store);
                Ok(Ctx {
                    store,
                    kind,
                    raw: Raw::Mongo(raw),
                    uri: Some(uri.clone()),
                })
            }
        }
    }
}

impl Ctx {
    pub fn teardown_handle(&self) -> Teardown {
        Teardown(self.raw.clone())
    }

    /// Inserts, behind the store's back, a report setting for `user_id`, so
    /// that the unique index on the setting's user id refuses the second
    /// write of registering that user.
    pub async fn plant_report_setting(&self, user_id: &UserId) {
        let id = Uuid::new_v4().to_string();
        match &self.raw {
            Raw::Mongo(db) => {
                let now = BsonDateTime::now();
                db.collection("reportSettings")
                    .insert_one(doc! {
                        "_id": id, "userId": user_id.as_str(), "frequency": "DAILY",
                        "isEnabled": false, "createdAt": now, "updatedAt": now,
                    })
                    .await
                    .expect("plant a report setting in MongoDB");
            }
            Raw::Sqlite(path) => {
                let path = path.clone();
                let user_id = user_id.as_str().to_owned();
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(&path)?;
                    // The setting's user does not exist yet: that is the point.
                    conn.execute_batch("PRAGMA foreign_keys = OFF;")?;
                    conn.execute(
                        "INSERT INTO report_settings (id, user_id, frequency, is_enabled, updated_at)
                         VALUES (?1, ?2, 'DAILY', 0, 0)",
                        rusqlite::params![id, user_id],
                    )
                })
                .await
                .expect("planting task")
                .expect("plant a report setting in SQLite");
            }
        }
    }

    /// Deletes `user_id`'s report setting behind the store's back: the state a
    /// registration cut short (or an operator) can leave.
    pub async fn delete_report_setting(&self, user_id: &UserId) {
        match &self.raw {
            Raw::Mongo(db) => {
                db.collection::<mongodb::bson::Document>("reportSettings")
                    .delete_many(doc! { "userId": user_id.as_str() })
                    .await
                    .expect("delete a report setting in MongoDB");
            }
            Raw::Sqlite(path) => {
                let path = path.clone();
                let user_id = user_id.as_str().to_owned();
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(&path)?;
                    conn.execute("DELETE FROM report_settings WHERE user_id = ?1", [user_id])
                })
                .await
                .expect("deleting task")
                .expect("delete a report setting in SQLite");
            }
        }
    }

    /// The raw MongoDB database of this test (None on SQLite).
    pub fn mongo(&self) -> Option<&mongodb::Database> {
        match &self.raw {
            Raw::Mongo(db) => Some(db),
            Raw::Sqlite(_) => None,
        }
    }

    /// A second MongoStore on this test's database, built from this
    /// backend's URI changed by `uri` and with `settings` adjusted, *not*
    /// waited for. None on SQLite.
    pub async fn another_mongo_store(
        &self,
        uri: impl FnOnce(&str) -> String,
        settings: impl FnOnce(&mut StoreSettings),
    ) -> Option<MongoStore> {
        let (Some(base), Raw::Mongo(db)) = (&self.uri, &self.raw) else {
            return None;
        };
        let mut s = mongo_settings(&uri(base)).expect("settings");
        settings(&mut s);
        Some(
            MongoStore::connect_to_database(&s, db.name())
                .await
                .expect("connect returns at once"),
        )
    }

    /// How many report settings exist for `user_id`, read behind the store's
    /// back.
    pub async fn count_report_settings(&self, user_id: &UserId) -> u64 {
        match &self.raw {
            Raw::Mongo(db) => db
                .collection::<mongodb::bson::Document>("reportSettings")
                .count_documents(doc! { "userId": user_id.as_str() })
                .await
                .expect("count report settings in MongoDB"),
            Raw::Sqlite(path) => {
                let path = path.clone();
                let user_id = user_id.as_str().to_owned();
                tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(&path)?;
                    conn.query_row(
                        "SELECT COUNT(*) FROM report_settings WHERE user_id = ?1",
                        [user_id],
                        |row| row.get::<_, i64>(0),
                    )
                })
                .await
                .expect("counting task")
                .map(|n| n.unsigned_abs())
                .expect("count report settings in SQLite")
            }
        }
    }
}

impl Teardown {
    pub async fn run(self) {
        match self.0 {
            Raw::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let file = PathBuf::from(file);
                    if let Err(e) = std::fs::remove_file(&file)
                        && e.kind() != std::io::ErrorKind::NotFound
                    {
                        eprintln!("warning: cannot remove {}: {e}", file.display());
                    }
                }
            }
            Raw::Mongo(db) => {
                if let Err(e) = db.drop().await {
                    eprintln!(
                        "warning: cannot drop the test database {}: {}",
                        db.name(),
                        e.kind
                    );
                }
            }
        }
    }
}
