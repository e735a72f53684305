//! Test harness: [`TestServer`] runs the real Natter server (`natter_server::serve`) on
//! `127.0.0.1:0` with a fresh database and hands out `natter_client::Client`s.
//!
//! The backend comes from `NATTER_TEST_DB`: `sqlite` (default; a temp file per server) or
//! `postgres` (a fresh database per server on `NATTER_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, dropped when the server is dropped).
//! `TEST_LOG=1` prints the server's tracing output.

mod proxy;

use std::sync::Once;

use natter_client::Client;
use natter_proto::{AppRole, UserId};
use natter_server::config::{Config, SqliteDurability};
use rand::RngCore;
use secrecy::SecretString;
use tokio::sync::oneshot;

pub use proxy::TcpProxy;

/// The HS256 secret every test server uses.
pub const JWT_SECRET: &str = "natter-test-secret-natter-test-secret";
/// The server API key every test server accepts.
pub const API_KEY: &str = "nk_test_server_key_0001";

/// Which store the suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// From `NATTER_TEST_DB`.
    pub fn from_env() -> Self {
        match std::env::var("NATTER_TEST_DB").as_deref() {
            Ok("postgres") | Ok("postgresql") | Ok("pg") => Self::Postgres,
            _ => Self::Sqlite,
        }
    }
}

fn postgres_admin_url() -> String {
    std::env::var("NATTER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn init_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    "debug,sqlx=warn,hyper=info",
                ))
                .with_test_writer()
                .try_init();
        }
    });
}

/// A database created for one test and dropped with it.
struct TestDb {
    url: String,
    postgres_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    async fn create(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir for the test database");
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}", dir.path().join("natter.db").display()),
                postgres_name: None,
                _dir: dir,
            },
            Backend::Postgres => {
                let mut bytes = [0u8; 8];
                rand::thread_rng().fill_bytes(&mut bytes);
                let name = format!(
                    "natter_test_{}",
                    bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
                );
                let admin = postgres_admin_url();
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap_or_else(|err| {
                        panic!("NATTER_TEST_DB=postgres but {admin} does not answer: {err}")
                    });
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("creating the test database");
                let base = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(base, _)| base);
                Self {
                    url: format!("{base}/{name}"),
                    postgres_name: Some(name),
                    _dir: dir,
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs outside async context guarantees; use a private runtime on a thread.
        let admin = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut conn) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
                    {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                    }
                });
            }
        })
        .join();
    }
}

/// A running server with its own database.
pub struct TestServer {
    base_url: String,
    backend: Backend,
    database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    db: Option<std::sync::Arc<TestDb>>,
}

/// A user with a client authenticated by a token.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// The user's id.
    pub id: UserId,
    /// A client sending the user's token.
    pub client: Client,
}

impl std::ops::Deref for TestUser {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// The configuration a test server starts from.
pub fn test_config(database_url: &str) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        database_url: Some(database_url.to_owned()),
        ..Config::default()
    };
    config.auth.jwt_secret = Some(SecretString::from(JWT_SECRET));
    config.auth.api_keys = vec![SecretString::from(API_KEY)];
    config.sqlite.durability = SqliteDurability::Normal;
    // Tests send in bulk; the rate-limit tests turn the limits they test back on.
    config.rate_limits = natter_server::config::RateLimitsConfig::unlimited();
    config
}

impl TestServer {
    /// Starts a server on the backend chosen by `NATTER_TEST_DB`.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server after adjusting its configuration.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        let backend = Backend::from_env();
        let db = std::sync::Arc::new(TestDb::create(backend).await);
        Self::start(backend, db, configure).await
    }

    /// Starts a second server on the same database (a second node).
    pub async fn spawn_sibling(&self) -> Self {
        self.spawn_sibling_with(|_| {}).await
    }

    /// Starts a second server on the same database after adjusting its configuration.
    pub async fn spawn_sibling_with(&self, configure: impl FnOnce(&mut Config)) -> Self {
        let db = self.db.clone().expect("a running server has a database");
        Self::start(self.backend, db, configure).await
    }

    async fn start(
        backend: Backend,
        db: std::sync::Arc<TestDb>,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        init_logging();
        let mut config = test_config(&db.url);
        // Sibling nodes share the files, as nodes share a bucket.
        config.attachments.storage = Some(db._dir.path().join("files").display().to_string());
        configure(&mut config);
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("binding a test port");
        let address = listener.local_addr().expect("a bound address");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let database_url = db.url.clone();
        let task = tokio::spawn(natter_server::serve(config, listener, async move {
            let _ = stopped.await;
        }));
        let mut server = Self {
            base_url: format!("http://{address}"),
            backend,
            database_url,
            shutdown: Some(shutdown),
            task: Some(task),
            db: Some(db),
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let client = self.anonymous();
        for _ in 0..500 {
            if client.health().await.is_ok() {
                return;
            }
            if self.task.as_ref().is_some_and(|task| task.is_finished()) {
                let outcome = match self.task.take() {
                    Some(task) => task.await,
                    None => Ok(Ok(())),
                };
                panic!("the test server exited during startup: {outcome:?}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the test server did not become healthy");
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The backend under test.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database URL this server uses.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// A token for a user with a role, valid for an hour.
    pub fn token(&self, user_id: &str, role: AppRole) -> String {
        let user_id = UserId::parse(user_id).expect("a valid test user id");
        natter_app::TokenIssuer::hs256(JWT_SECRET.as_bytes())
            .mint(&user_id, role, None, unix_now(), 3600)
            .expect("minting a test token")
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.base_url)
    }

    /// A client with the server API key.
    pub fn server(&self) -> Client {
        Client::new(&self.base_url).with_api_key(API_KEY)
    }

    /// A user with role `user`.
    pub fn user(&self, id: &str) -> TestUser {
        self.user_with_role(id, AppRole::User)
    }

    /// A user with an app role.
    pub fn user_with_role(&self, id: &str, role: AppRole) -> TestUser {
        TestUser {
            id: UserId::parse(id).expect("a valid test user id"),
            client: Client::new(&self.base_url).with_token(&self.token(id, role)),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The NATS server the suite may use (`NATTER_TEST_NATS_URL`), if any.
pub fn nats_url() -> Option<String> {
    std::env::var("NATTER_TEST_NATS_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Parses a user id in tests.
pub fn uid(raw: &str) -> UserId {
    UserId::parse(raw).expect("a valid test user id")
}
