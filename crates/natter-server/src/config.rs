//! The one `Config` of a Natter server: built-in defaults, then `natter.toml`, then
//! `NATTER_*` environment variables, then command-line flags. Parsed once in `main` and
//! passed down by value; nothing reads configuration after startup.
//!
//! Environment: top-level keys as `NATTER_<KEY>` (`NATTER_LISTEN`, `NATTER_DATA_DIR`,
//! `NATTER_DATABASE_URL`, `NATTER_BUS`), section keys as `NATTER_<SECTION>__<KEY>`
//! (`NATTER_LIMITS__MAX_MESSAGE_CHARS`), and two secrets by their short names:
//! `NATTER_JWT_SECRET` and `NATTER_API_KEYS` (comma-separated).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Server configuration. Every field is documented in `natter.example.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Directory for the SQLite database, demo secrets and (later) files.
    pub data_dir: PathBuf,
    /// `postgres://…` selects PostgreSQL; `sqlite://PATH` or empty selects SQLite
    /// (default: `<data_dir>/natter.db`; its search index is the file beside it whose
    /// name ends in `.search.db`).
    pub database_url: Option<String>,
    /// Event bus: empty for in-process.
    pub bus: Option<String>,
    /// The NATS subject the nodes of this deployment share. Deployments (or test runs)
    /// sharing one NATS must each use their own, or they see each other's notices.
    pub bus_subject: String,
    /// Apply pending database migrations at startup.
    pub migrate_on_start: bool,
    /// Log output: `pretty` or `json`.
    pub log_format: LogFormat,
    /// Authentication.
    pub auth: AuthConfig,
    /// SQLite store tuning.
    pub sqlite: SqliteConfig,
    /// PostgreSQL store tuning.
    pub postgres: PostgresConfig,
    /// Request and content limits.
    pub limits: LimitsConfig,
    /// Message lifecycle: edit and delete windows, retention of deleted content.
    pub messages: MessagesConfig,
    /// Rate limits per user and action (`{ count, per_seconds }`; count 0 disables).
    pub rate_limits: RateLimitsConfig,
    /// Full-text search of messages.
    pub search: SearchConfig,
    /// PII masking of message content.
    pub pii: PiiConfig,
    /// Uploaded files.
    pub attachments: AttachmentsConfig,
}

/// The `[attachments]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentsConfig {
    /// Where files go: a local directory (default `<data_dir>/files`) or
    /// `s3://bucket/prefix` (credentials, region and endpoint from `AWS_*` variables).
    pub storage: Option<String>,
    /// Media types accepted; empty means all that Natter knows.
    pub allowed_types: Vec<String>,
    /// Largest image in bytes.
    pub max_image_bytes: u64,
    /// Largest document (PDF, DOCX, text, CSV) in bytes.
    pub max_file_bytes: u64,
    /// Largest audio or video file in bytes.
    pub max_media_bytes: u64,
    /// Largest image width × height decoded.
    pub max_image_pixels: u64,
    /// Seconds a signed download URL works.
    pub url_ttl_secs: u64,
    /// Prefix of signed download URLs, e.g. `https://chat.example.com`; empty: relative.
    pub public_url: String,
    /// ClamAV daemon: `tcp://host:port` or `unix:///path`; empty: no scanning (`skipped`).
    pub clamd: Option<String>,
    /// Seconds a scan may take before the file stays `pending`.
    pub scan_timeout_secs: u64,
    /// Serve files whose scan is pending (clamd was unreachable).
    pub serve_pending: bool,
    /// Seconds after which uploads never attached to a message are deleted.
    pub unattached_ttl_secs: u64,
    /// Seconds between cleanup runs (unattached uploads, files of deleted messages,
    /// pending scans).
    pub cleanup_interval_secs: u64,
}

impl Default for AttachmentsConfig {
    fn default() -> Self {
        let settings = natter_app::AttachmentSettings::default();
        Self {
            storage: None,
            allowed_types: Vec::new(),
            max_image_bytes: settings.max_image_bytes,
            max_file_bytes: settings.max_file_bytes,
            max_media_bytes: settings.max_media_bytes,
            max_image_pixels: settings.images.max_pixels,
            url_ttl_secs: settings.url_ttl.as_secs(),
            public_url: String::new(),
            clamd: None,
            scan_timeout_secs: 60,
            serve_pending: false,
            unattached_ttl_secs: settings.unattached_ttl.as_secs(),
            cleanup_interval_secs: 600,
        }
    }
}

impl AttachmentsConfig {
    /// The service settings; `deleted_retention_days` comes from `[messages]`.
    pub fn to_settings(&self, messages: &MessagesConfig) -> natter_app::AttachmentSettings {
        let defaults = natter_app::AttachmentSettings::default();
        natter_app::AttachmentSettings {
            allowed_types: if self.allowed_types.is_empty() {
                defaults.allowed_types
            } else {
                self.allowed_types.clone()
            },
            max_image_bytes: self.max_image_bytes,
            max_file_bytes: self.max_file_bytes,
            max_media_bytes: self.max_media_bytes,
            url_ttl: std::time::Duration::from_secs(self.url_ttl_secs),
            serve_pending: self.serve_pending,
            unattached_ttl: std::time::Duration::from_secs(self.unattached_ttl_secs),
            deleted_retention: std::time::Duration::from_secs(
                messages.deleted_retention_days * 86_400,
            ),
            public_url: self.public_url.clone(),
            images: natter_app::attachments::ImageLimits {
                max_pixels: self.max_image_pixels,
                ..defaults.images
            },
        }
    }

    /// The storage location for a data directory.
    pub fn storage_location(&self, data_dir: &Path) -> String {
        match &self.storage {
            Some(location) if !location.is_empty() => location.clone(),
            _ => data_dir.join("files").display().to_string(),
        }
    }
}

/// The `[messages]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessagesConfig {
    /// Seconds after sending during which the sender may edit.
    pub edit_window_secs: u64,
    /// Seconds after sending during which the sender may delete for everyone.
    pub delete_window_secs: u64,
    /// Days a deleted message's content is kept before it is purged.
    pub deleted_retention_days: u64,
    /// Seconds between purge runs.
    pub purge_interval_secs: u64,
    /// Most different emojis on one message.
    pub max_reactions_per_message: u32,
}

impl Default for MessagesConfig {
    fn default() -> Self {
        Self {
            edit_window_secs: 15 * 60,
            delete_window_secs: 60 * 60,
            deleted_retention_days: 30,
            purge_interval_secs: 3600,
            max_reactions_per_message: 50,
        }
    }
}

/// One rate: `count` per `per_seconds` (bursts up to `count`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    /// Actions per period; 0 disables the limit.
    pub count: u32,
    /// The period in seconds.
    pub per_seconds: u64,
}

impl RateConfig {
    const fn new(count: u32, per_seconds: u64) -> Self {
        Self { count, per_seconds }
    }
}

/// The `[rate_limits]` section. Requests with a server key are exempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// Sending messages.
    pub send_message: RateConfig,
    /// Adding reactions.
    pub react: RateConfig,
    /// Typing announcements over REST.
    pub typing: RateConfig,
    /// Creating conversations.
    pub create_conversation: RateConfig,
    /// Searching.
    pub search: RateConfig,
    /// Uploading files.
    pub upload: RateConfig,
    /// Creating invitations.
    pub invite: RateConfig,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        Self {
            send_message: RateConfig::new(30, 10),
            react: RateConfig::new(5, 60),
            typing: RateConfig::new(20, 10),
            create_conversation: RateConfig::new(20, 60),
            search: RateConfig::new(30, 60),
            upload: RateConfig::new(20, 60),
            invite: RateConfig::new(20, 60),
        }
    }
}

impl RateLimitsConfig {
    /// The limits as the services take them.
    pub fn to_rates(&self) -> natter_app::RateLimits {
        use natter_app::{Action, Rate};
        let rate = |r: RateConfig| Rate {
            count: r.count,
            per: std::time::Duration::from_secs(r.per_seconds.max(1)),
        };
        natter_app::RateLimits {
            rates: std::collections::HashMap::from([
                (Action::SendMessage, rate(self.send_message)),
                (Action::React, rate(self.react)),
                (Action::Typing, rate(self.typing)),
                (Action::CreateConversation, rate(self.create_conversation)),
                (Action::Search, rate(self.search)),
                (Action::Upload, rate(self.upload)),
                (Action::Invite, rate(self.invite)),
            ]),
        }
    }

    /// Every limit disabled (tests that send in bulk).
    pub fn unlimited() -> Self {
        let off = RateConfig::new(0, 1);
        Self {
            send_message: off,
            react: off,
            typing: off,
            create_conversation: off,
            search: off,
            upload: off,
            invite: off,
        }
    }
}

/// The `[search]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Most matching messages one search ranks (the newest ones); `total` never exceeds
    /// it. Bounds the work of a query that matches a large part of a user's history.
    pub max_matches: u32,
    /// Characters of content in a result's snippet (20–1000).
    pub snippet_chars: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        let defaults = natter_app::SearchSettings::default();
        Self {
            max_matches: defaults.max_matches,
            snippet_chars: defaults.snippet_chars,
        }
    }
}

impl SearchConfig {
    /// The settings as the search service takes them.
    pub fn to_settings(&self) -> natter_app::SearchSettings {
        natter_app::SearchSettings {
            max_matches: self.max_matches,
            snippet_chars: self.snippet_chars,
        }
    }
}

/// The `[pii]` section.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PiiConfig {
    /// `off`, `untrusted` (mask in conversations the server API has not marked
    /// `trusted`) or `always` (mask in every conversation).
    pub policy: PiiPolicyConfig,
    /// Hosts whose links (and emails) are never masked, e.g. the host app's own
    /// domain; subdomains included.
    pub allowed_domains: Vec<String>,
}

/// When PII is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PiiPolicyConfig {
    /// Never.
    Off,
    /// In conversations not marked trusted.
    #[default]
    Untrusted,
    /// Always, trusted or not.
    Always,
}

impl PiiConfig {
    /// The rules as the services take them.
    pub fn to_rules(&self) -> natter_app::pii::PiiRules {
        use natter_app::pii::{PiiPolicy, PiiRules};
        let policy = match self.policy {
            PiiPolicyConfig::Off => PiiPolicy::Off,
            PiiPolicyConfig::Untrusted => PiiPolicy::Untrusted,
            PiiPolicyConfig::Always => PiiPolicy::Always,
        };
        PiiRules::new(policy, self.allowed_domains.iter().cloned())
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The `[auth]` section.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 secret for user tokens (env `NATTER_JWT_SECRET`). At least 32 bytes.
    #[serde(serialize_with = "redact_option")]
    pub jwt_secret: Option<SecretString>,
    /// PEM public key file for RS256, ES256 or EdDSA user tokens (instead of a secret).
    pub jwt_public_key_file: Option<PathBuf>,
    /// Algorithm of `jwt_public_key_file`: `RS256`, `ES256` or `EdDSA`.
    pub jwt_algorithm: Option<String>,
    /// Server API keys (env `NATTER_API_KEYS`, comma-separated). 16+ characters, no dots.
    #[serde(serialize_with = "redact_list")]
    pub api_keys: Vec<SecretString>,
}

/// The `[sqlite]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// `full` (a commit survives power loss) or `normal` (survives a process crash).
    pub durability: SqliteDurability,
    /// Read connections in the pool.
    pub read_connections: usize,
}

/// SQLite commit durability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SqliteDurability {
    /// `synchronous=FULL`.
    #[default]
    Full,
    /// `synchronous=NORMAL`.
    Normal,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            durability: SqliteDurability::Full,
            read_connections: 4,
        }
    }
}

/// The `[postgres]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// Pool size.
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection before answering 503.
    pub acquire_timeout_secs: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout_secs: 5,
        }
    }
}

/// The `[limits]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Longest message in characters (1–10 000).
    pub max_message_chars: usize,
    /// Largest JSON request body in bytes.
    pub max_body_bytes: usize,
    /// Frames queued per realtime connection; a client that falls this far behind is
    /// closed with code 4001 (resync).
    pub realtime_queue: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_message_chars: 4000,
            max_body_bytes: 1024 * 1024,
            realtime_queue: 1024,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./natter-data"),
            database_url: None,
            bus: None,
            bus_subject: natter_bus::DEFAULT_SUBJECT.to_owned(),
            migrate_on_start: true,
            log_format: LogFormat::Pretty,
            auth: AuthConfig::default(),
            sqlite: SqliteConfig::default(),
            postgres: PostgresConfig::default(),
            limits: LimitsConfig::default(),
            messages: MessagesConfig::default(),
            rate_limits: RateLimitsConfig::default(),
            search: SearchConfig::default(),
            pii: PiiConfig::default(),
            attachments: AttachmentsConfig::default(),
        }
    }
}

fn redact_option<S: serde::Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_some("<redacted>"),
        None => serializer.serialize_none(),
    }
}

fn redact_list<S: serde::Serializer>(
    value: &[SecretString],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(value.iter().map(|_| "<redacted>"))
}

/// Which store a configuration selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// SQLite database file.
    Sqlite(PathBuf),
    /// PostgreSQL URL.
    Postgres(String),
}

impl Config {
    /// Loads defaults, then the TOML file (if given), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "config file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(
            Env::prefixed("NATTER_")
                .filter(|key| {
                    let key = key.as_str().to_ascii_lowercase();
                    !matches!(key.as_str(), "config" | "jwt_secret" | "api_keys")
                        && !key.starts_with("test_")
                })
                .split("__"),
        );
        let mut config: Config = figment.extract().context("reading configuration")?;
        if let Ok(secret) = std::env::var("NATTER_JWT_SECRET") {
            config.auth.jwt_secret = Some(SecretString::from(secret));
        }
        if let Ok(keys) = std::env::var("NATTER_API_KEYS") {
            config.auth.api_keys = keys
                .split(',')
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .map(|key| SecretString::from(key.to_owned()))
                .collect();
        }
        Ok(config)
    }

    /// Checks the whole configuration and reports every problem at once.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        for mime in &self.attachments.allowed_types {
            if natter_app::attachments::detect::known_type(mime).is_none() {
                problems.push(format!(
                    "attachments.allowed_types: {mime} is not one of the types Natter detects"
                ));
            }
        }
        if let Some(address) = self.attachments.clamd.as_deref().filter(|a| !a.is_empty()) {
            if natter_app::attachments::ClamdAddress::parse(address).is_none() {
                problems.push(
                    "attachments.clamd must be tcp://host:port, host:port or unix:///path"
                        .to_owned(),
                );
            }
        }
        if self.attachments.max_image_bytes == 0
            || self.attachments.max_file_bytes == 0
            || self.attachments.max_media_bytes == 0
        {
            problems.push("attachments: size limits must be above 0".to_owned());
        }
        if let Some(secret) = &self.auth.jwt_secret {
            if secret.expose_secret().len() < 32 {
                problems.push("auth.jwt_secret must be at least 32 bytes".to_owned());
            }
        }
        if self.auth.jwt_secret.is_some() && self.auth.jwt_public_key_file.is_some() {
            problems.push(
                "set either auth.jwt_secret or auth.jwt_public_key_file, not both".to_owned(),
            );
        }
        if self.auth.jwt_public_key_file.is_some()
            && !matches!(
                self.auth.jwt_algorithm.as_deref(),
                Some("RS256" | "ES256" | "EdDSA")
            )
        {
            problems.push(
                "auth.jwt_algorithm must be RS256, ES256 or EdDSA with a public key file"
                    .to_owned(),
            );
        }
        for key in &self.auth.api_keys {
            let key = key.expose_secret();
            if key.len() < 16
                || key.contains('.')
                || key.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                problems.push(
                    "auth.api_keys: each key needs 16+ characters without dots or whitespace"
                        .to_owned(),
                );
                break;
            }
        }
        if !(1..=10_000).contains(&self.limits.max_message_chars) {
            problems.push("limits.max_message_chars must be between 1 and 10000".to_owned());
        }
        if self.limits.max_body_bytes < 1024 {
            problems.push("limits.max_body_bytes must be at least 1024".to_owned());
        }
        if self.sqlite.read_connections == 0 {
            problems.push("sqlite.read_connections must be at least 1".to_owned());
        }
        if let Some(bus) = &self.bus {
            if !bus.is_empty() && !bus.starts_with("nats://") {
                problems.push(format!(
                    "bus {bus:?}: use nats://host:port, or leave it empty for in-process"
                ));
            }
        }
        if !valid_subject(&self.bus_subject) {
            problems.push(format!(
                "bus_subject {:?}: use dot-separated tokens of letters, digits, '-' and '_'",
                self.bus_subject
            ));
        }
        if self.search.max_matches == 0 {
            problems.push("search.max_matches must be at least 1".to_owned());
        }
        if !(20..=1000).contains(&self.search.snippet_chars) {
            problems.push("search.snippet_chars must be between 20 and 1000".to_owned());
        }
        for domain in &self.pii.allowed_domains {
            let valid = domain.trim_start_matches('.').split('.').count() >= 2
                && domain
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-'));
            if !valid {
                problems.push(format!(
                    "pii.allowed_domains: {domain:?} is not a host name like example.com"
                ));
            }
        }
        if self.limits.realtime_queue < 8 {
            problems.push("limits.realtime_queue must be at least 8".to_owned());
        }
        if let Some(url) = &self.database_url {
            let known = url.is_empty()
                || url.starts_with("sqlite://")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://");
            if !known {
                problems.push("database_url must start with sqlite:// or postgres://".to_owned());
            }
        }
        anyhow::ensure!(
            problems.is_empty(),
            "invalid configuration:\n  - {}",
            problems.join("\n  - ")
        );
        Ok(())
    }

    /// The store this configuration selects.
    pub fn store_choice(&self) -> StoreChoice {
        match self.database_url.as_deref() {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                StoreChoice::Postgres(url.to_owned())
            }
            Some(url) if url.starts_with("sqlite://") => {
                StoreChoice::Sqlite(PathBuf::from(&url["sqlite://".len()..]))
            }
            _ => StoreChoice::Sqlite(self.data_dir.join("natter.db")),
        }
    }
}

/// A literal NATS subject: non-empty tokens separated by dots, no wildcards or spaces.
fn valid_subject(subject: &str) -> bool {
    subject.len() <= 200
        && subject.split('.').all(|token| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../natter.example.toml");
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(&path))
            .extract()
            .expect("natter.example.toml parses");
        config.validate().expect("natter.example.toml is valid");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let result: Result<Config, _> = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string("lisen = \"0.0.0.0:1\""))
            .extract();
        assert!(result.is_err());
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut config = Config::default();
        config.auth.jwt_secret = Some(SecretString::from("short"));
        config.limits.max_message_chars = 0;
        let message = config.validate().expect_err("invalid").to_string();
        assert!(
            message.contains("jwt_secret") && message.contains("max_message_chars"),
            "{message}"
        );
    }

    #[test]
    fn bus_subjects_are_literal_nats_subjects() {
        for good in ["natter.notices", "acme-prod.natter", "t_1"] {
            assert!(valid_subject(good), "{good}");
        }
        for bad in [
            "", "natter.", ".natter", "a..b", "natter.*", "natter.>", "a b", "ü",
        ] {
            assert!(!valid_subject(bad), "{bad:?}");
        }
    }

    #[test]
    fn database_url_selects_the_store() {
        let mut config = Config::default();
        assert_eq!(
            config.store_choice(),
            StoreChoice::Sqlite(PathBuf::from("./natter-data/natter.db"))
        );
        config.database_url = Some("postgres://localhost/natter".into());
        assert_eq!(
            config.store_choice(),
            StoreChoice::Postgres("postgres://localhost/natter".into())
        );
        config.database_url = Some("sqlite:///tmp/x.db".into());
        assert_eq!(
            config.store_choice(),
            StoreChoice::Sqlite(PathBuf::from("/tmp/x.db"))
        );
    }
}
