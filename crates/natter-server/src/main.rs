//! The `natter` binary: `serve`, `migrate`, `token`. Thin: parses flags, loads the
//! configuration once, and calls into the library.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use natter_app::TokenIssuer;
use natter_proto::{AppRole, UserId};
use natter_server::config::{Config, LogFormat};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

/// Natter: a self-hostable messaging backend.
#[derive(Debug, Parser)]
#[command(name = "natter", version, about)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "NATTER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, global = true)]
    listen: Option<std::net::SocketAddr>,
    /// Data directory (SQLite database, demo secrets).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL: postgres://… or sqlite://PATH.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Event bus URL (in-process when absent).
    #[arg(long, global = true)]
    bus: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Demo mode: generate and keep a secret and a server key in the data directory
        /// and print ready-to-use tokens for a few demo users.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a user token signed with the configured HS256 secret.
    Token {
        /// The user id (sub).
        user_id: String,
        /// App role: user, agent, service_provider or admin.
        #[arg(long, default_value = "user")]
        role: String,
        /// Lifetime, e.g. 30m, 1h, 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Display name claim.
        #[arg(long)]
        name: Option<String>,
    },
}

fn parse_ttl(raw: &str) -> anyhow::Result<u64> {
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let number: u64 = number
        .parse()
        .with_context(|| format!("invalid ttl {raw:?}"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("invalid ttl unit in {raw:?}: use s, m, h or d"),
    };
    number
        .checked_mul(seconds)
        .filter(|s| *s > 0)
        .context("ttl must be positive and not overflow")
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

/// Reads a secret kept in the data directory, or creates it.
fn demo_secret(config: &Config, file: &str, prefix: &str) -> anyhow::Result<String> {
    let path = config.data_dir.join(file);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing.trim().to_owned());
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = format!(
        "{prefix}{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    std::fs::write(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}

fn print_demo_tokens(config: &Config, secret: &str, api_key: &str) -> anyhow::Result<()> {
    let issuer = TokenIssuer::hs256(secret.as_bytes());
    let base = format!("http://{}", config.listen);
    println!("Natter demo mode: {base}  (OpenAPI: {base}/openapi.json)");
    println!("Server API key: {api_key}");
    println!("Demo user tokens (valid 24 h):");
    let users = [
        ("alice", AppRole::User, "Alice"),
        ("bob", AppRole::User, "Bob"),
        ("carol", AppRole::ServiceProvider, "Carol"),
        ("dana", AppRole::Agent, "Dana"),
        ("admin", AppRole::Admin, "Admin"),
    ];
    for (id, role, name) in users {
        let user_id = UserId::parse(id).context("demo user id")?;
        let token = issuer.mint(&user_id, role, Some(name), unix_now(), 86_400)?;
        println!("  {id:<6} ({}): {token}", role.as_str());
    }
    println!("Try: curl -H \"Authorization: Bearer <alice's token>\" {base}/v1/users/me");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    if let Some(data_dir) = cli.data_dir {
        config.data_dir = data_dir;
    }
    if let Some(url) = cli.database_url {
        config.database_url = Some(url);
    }
    if let Some(bus) = cli.bus {
        config.bus = Some(bus);
    }
    match cli.command {
        Command::Token {
            user_id,
            role,
            ttl,
            name,
        } => {
            let secret = config.auth.jwt_secret.as_ref().context(
                "natter token needs an HS256 secret: set NATTER_JWT_SECRET or auth.jwt_secret",
            )?;
            let user_id = UserId::parse(&user_id).map_err(|err| anyhow::anyhow!("{err}"))?;
            let role = AppRole::parse(&role)
                .context("role must be user, agent, service_provider or admin")?;
            let token = TokenIssuer::hs256(secret.expose_secret().as_bytes()).mint(
                &user_id,
                role,
                name.as_deref(),
                unix_now(),
                parse_ttl(&ttl)?,
            )?;
            println!("{token}");
            Ok(())
        }
        Command::Migrate => {
            init_tracing(config.log_format);
            config.validate()?;
            let applied = natter_server::wiring::migrate(&config).await?;
            println!("applied {applied} migration(s)");
            Ok(())
        }
        Command::Serve { demo } => {
            init_tracing(config.log_format);
            if demo {
                if config.auth.jwt_secret.is_none() {
                    config.auth.jwt_secret = Some(SecretString::from(demo_secret(
                        &config,
                        "demo-jwt-secret",
                        "",
                    )?));
                }
                if config.auth.api_keys.is_empty() {
                    config.auth.api_keys = vec![SecretString::from(demo_secret(
                        &config,
                        "demo-api-key",
                        "nk_",
                    )?)];
                }
                let secret = config
                    .auth
                    .jwt_secret
                    .as_ref()
                    .map(|s| s.expose_secret().to_owned())
                    .unwrap_or_default();
                let api_key = config
                    .auth
                    .api_keys
                    .first()
                    .map(|k| k.expose_secret().to_owned())
                    .unwrap_or_default();
                print_demo_tokens(&config, &secret, &api_key)?;
            }
            config.validate()?;
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("binding {}", config.listen))?;
            natter_server::serve(config, listener, shutdown_signal()).await
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("90").ok(), Some(90));
        assert_eq!(parse_ttl("30m").ok(), Some(1800));
        assert_eq!(parse_ttl("1h").ok(), Some(3600));
        assert_eq!(parse_ttl("7d").ok(), Some(604_800));
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("").is_err());
    }
}
