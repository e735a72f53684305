//! Picks and opens the concrete store for a configuration and builds the [`App`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use natter_app::attachments::{Clamd, ClamdAddress, Files};
use natter_app::{
    App, AppParts, AttachmentSetup, Authenticator, JwtKey, Limits, Store, SystemClock, TextSetup,
};
use natter_bus::{Bus, LocalBus, NatsBus};
use natter_store::SearchStore;
use natter_store_postgres::{PostgresOptions, PostgresStore};
use natter_store_sqlite::{Durability, SqliteOptions, SqliteStore};
use secrecy::ExposeSecret;

use crate::config::{Config, SqliteDurability, StoreChoice};

/// Opens the configured store (applying migrations unless disabled).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_stores(config).await?.0)
}

/// Opens the configured store and returns it twice: as the [`Store`] and as the
/// [`SearchStore`] over the same database.
pub async fn open_stores(
    config: &Config,
) -> anyhow::Result<(Arc<dyn Store>, Arc<dyn SearchStore>)> {
    Ok(match config.store_choice() {
        StoreChoice::Sqlite(path) => {
            let mut options = SqliteOptions::new(&path);
            options.durability = match config.sqlite.durability {
                SqliteDurability::Full => Durability::Full,
                SqliteDurability::Normal => Durability::Normal,
            };
            options.read_connections = config.sqlite.read_connections;
            options.migrate = config.migrate_on_start;
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(options))
                .await
                .context("opening the SQLite store")?
                .with_context(|| format!("opening SQLite database {}", path.display()))?;
            (Arc::new(store.clone()), Arc::new(store))
        }
        StoreChoice::Postgres(url) => {
            let mut options = PostgresOptions::new(url);
            options.max_connections = config.postgres.max_connections;
            options.acquire_timeout = Duration::from_secs(config.postgres.acquire_timeout_secs);
            options.migrate = config.migrate_on_start;
            let store = PostgresStore::connect(options)
                .await
                .context("connecting to PostgreSQL")?;
            (Arc::new(store.clone()), Arc::new(store))
        }
    })
}

/// Applies pending migrations of the configured store; returns how many ran.
pub async fn migrate(config: &Config) -> anyhow::Result<usize> {
    match config.store_choice() {
        StoreChoice::Sqlite(path) => {
            let mut options = SqliteOptions::new(path);
            options.migrate = true;
            Ok(
                tokio::task::spawn_blocking(move || natter_store_sqlite::migrate(&options))
                    .await??,
            )
        }
        StoreChoice::Postgres(url) => Ok(natter_store_postgres::migrate(&url).await?),
    }
}

/// The authenticator for the `[auth]` section.
pub fn authenticator(config: &Config) -> anyhow::Result<Authenticator> {
    let jwt = match (&config.auth.jwt_secret, &config.auth.jwt_public_key_file) {
        (Some(secret), _) => Some(JwtKey::Hs256(secret.expose_secret().as_bytes().to_vec())),
        (None, Some(file)) => {
            let pem = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            Some(match config.auth.jwt_algorithm.as_deref() {
                Some("RS256") => JwtKey::Rs256Pem(pem),
                Some("ES256") => JwtKey::Es256Pem(pem),
                Some("EdDSA") => JwtKey::EdDsaPem(pem),
                other => anyhow::bail!("unsupported auth.jwt_algorithm {other:?}"),
            })
        }
        (None, None) => None,
    };
    let keys: Vec<String> = config
        .auth
        .api_keys
        .iter()
        .map(|key| key.expose_secret().to_owned())
        .collect();
    Authenticator::new(jwt, &keys).context("loading the JWT key")
}

/// Opens the configured bus: NATS for `nats://…`, in-process otherwise.
pub async fn open_bus(config: &Config, node: &str) -> anyhow::Result<Arc<dyn Bus>> {
    Ok(match config.bus.as_deref() {
        Some(url) if url.starts_with("nats://") => Arc::new(
            NatsBus::connect(url, node, &config.bus_subject)
                .await
                .context("connecting to NATS")?,
        ),
        _ => Arc::new(LocalBus::new()),
    })
}

/// A random id for this process on the bus.
pub fn node_id() -> String {
    format!("node-{:016x}", rand::random::<u64>())
}

/// Builds the application over the configured store and bus.
pub async fn build_app(config: &Config) -> anyhow::Result<App> {
    config.validate()?;
    let (store, search_store) = open_stores(config).await?;
    let node = node_id();
    let bus = open_bus(config, &node).await?;
    let limits = Limits {
        max_message_chars: config.limits.max_message_chars,
        session_queue: config.limits.realtime_queue,
        edit_window: Duration::from_secs(config.messages.edit_window_secs),
        delete_window: Duration::from_secs(config.messages.delete_window_secs),
        max_reactions_per_message: config.messages.max_reactions_per_message,
        rates: config.rate_limits.to_rates(),
    };
    Ok(App::new(AppParts {
        store,
        bus,
        auth: authenticator(config)?,
        limits,
        clock: Arc::new(SystemClock),
        node,
        text: TextSetup {
            search_store,
            search: config.search.to_settings(),
            pii: config.pii.to_rules(),
        },
        attachments: attachment_setup(config)?,
    }))
}

/// The object store, scanner and settings of `[attachments]`.
pub fn attachment_setup(config: &Config) -> anyhow::Result<AttachmentSetup> {
    let location = config.attachments.storage_location(&config.data_dir);
    let files =
        Files::open(&location).with_context(|| format!("opening attachment storage {location}"))?;
    let scanner = match config
        .attachments
        .clamd
        .as_deref()
        .filter(|a| !a.is_empty())
    {
        Some(raw) => {
            let address = ClamdAddress::parse(raw)
                .with_context(|| format!("attachments.clamd {raw:?} is not an address"))?;
            let timeout = Duration::from_secs(config.attachments.scan_timeout_secs.max(1));
            Some(Arc::new(Clamd::new(address, timeout)) as Arc<dyn natter_app::attachments::Scanner>)
        }
        None => None,
    };
    Ok(AttachmentSetup {
        files,
        scanner,
        settings: config.attachments.to_settings(&config.messages),
    })
}
