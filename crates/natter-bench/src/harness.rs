//! What every scenario needs: a server to talk to (started here or given by URL), users who
//! act through the server API key, and group conversations.
//!
//! It measures nothing by itself: the scenarios in `fanout.rs`, `send.rs` and `history.rs`
//! decide what to time, and `harness/stats.rs` summarises the samples. A spawned server is
//! a child process (`natter serve`) on a free port with a fresh data directory; it is
//! killed and its directory removed when the [`Target`] is dropped (a directory given
//! with `--data-dir` is kept). A PostgreSQL database given with `--database-url` is left
//! as it is: every run prefixes its user ids with a fresh run id, so runs do not collide
//! (except data meant to be reused, see [`Target::fixed_user`]).
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use natter_client::Client;
use natter_proto::{AddParticipants, ConversationId, ConversationType, CreateConversation, UserId};
use rand::distributions::Alphanumeric;
use rand::Rng;

mod stats;

pub use stats::{per_second, CpuMeter, CpuUsage, Latencies, LatencySummary};

/// How long a spawned server may take to answer `/readyz` with `ok`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// `POST /v1/conversations` and `…/participants` take at most this many users at once.
const MAX_PARTICIPANTS_PER_REQUEST: usize = 100;

/// Where the server is: flags shared by every scenario.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Base URL of a running server, e.g. http://127.0.0.1:8080 (with --api-key).
    #[arg(long, global = true, conflicts_with = "spawn")]
    pub url: Option<String>,
    /// Server API key of the server at --url.
    #[arg(
        long,
        global = true,
        env = "NATTER_BENCH_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,
    /// Start this `natter` binary (`natter serve`) on a free port with a temporary data
    /// directory, and kill it at the end.
    #[arg(long, global = true)]
    pub spawn: Option<PathBuf>,
    /// SQLite durability of the spawned server: `full` or `normal`
    /// (`NATTER_SQLITE__DURABILITY`; the server's default when absent).
    #[arg(long, global = true, value_parser = ["full", "normal"])]
    pub durability: Option<String>,
    /// Database URL of the spawned server (`NATTER_DATABASE_URL`), e.g. postgres://…;
    /// SQLite in the temporary data directory when absent.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Data directory of the spawned server (`NATTER_DATA_DIR`), kept after the run, so a
    /// later run can reuse what this one wrote (`search --reuse`); a temporary directory,
    /// removed at the end, when absent.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

/// The server under load, and the means to act as any user on it.
pub struct Target {
    base_url: String,
    api_key: String,
    /// One client whose connection pool every user's client shares.
    pool: Client,
    run_id: String,
    server: Option<SpawnedServer>,
    store: &'static str,
}

/// A user of the benchmark: its id and a client acting as it.
#[derive(Debug, Clone)]
pub struct BenchUser {
    /// The user's id, `<run id>-<name>`.
    pub id: UserId,
    /// Authenticated with the server key, acting as this user (`X-Natter-User`).
    pub client: Client,
}

impl Target {
    /// Connects to `--url` or starts the `--spawn` binary, and waits until it is ready.
    pub async fn open(args: &TargetArgs) -> anyhow::Result<Target> {
        let run_id = format!("bench-{}", random_text(6).to_ascii_lowercase());
        if args.spawn.is_none()
            && (args.durability.is_some() || args.database_url.is_some() || args.data_dir.is_some())
        {
            bail!(
                "--durability, --database-url and --data-dir configure a spawned server: \
                 add --spawn"
            );
        }
        let store = match (&args.spawn, &args.database_url) {
            (None, _) => "unknown",
            (Some(_), Some(url)) if url.starts_with("postgres") => "postgres",
            (Some(_), _) => "sqlite",
        };
        let (base_url, api_key, server) = match (&args.url, &args.spawn) {
            (Some(url), None) => {
                let api_key = args
                    .api_key
                    .clone()
                    .context("--url needs --api-key (or NATTER_BENCH_API_KEY)")?;
                (url.trim_end_matches('/').to_owned(), api_key, None)
            }
            (None, Some(binary)) => {
                let api_key = random_text(32);
                let (base_url, server) = SpawnedServer::start(binary, &api_key, args, &run_id)?;
                (base_url, api_key, Some(server))
            }
            _ => bail!("give either --url and --api-key, or --spawn PATH_TO_NATTER"),
        };
        let mut target = Target {
            pool: Client::new(&base_url).with_api_key(&api_key),
            base_url,
            api_key,
            run_id,
            server,
            store,
        };
        target.wait_until_ready().await?;
        Ok(target)
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A user named `<run id>-<name>`; the server creates it on its first request.
    pub fn user(&self, name: &str) -> anyhow::Result<BenchUser> {
        let raw = format!("{}-{name}", self.run_id);
        let id = UserId::parse(&raw).with_context(|| format!("building user id {raw:?}"))?;
        Ok(BenchUser {
            client: self.pool.clone().acting_as(&id),
            id,
        })
    }

    /// A user with exactly this id, without the run id: for data that outlives a run.
    pub fn fixed_user(&self, raw: &str) -> anyhow::Result<BenchUser> {
        let id = UserId::parse(raw).with_context(|| format!("building user id {raw:?}"))?;
        Ok(BenchUser {
            client: self.pool.clone().acting_as(&id),
            id,
        })
    }

    /// A client acting as the server itself (server API key, no `X-Natter-User`).
    pub fn server_client(&self) -> Client {
        self.pool.clone()
    }

    /// The run id, `bench-<6 random characters>`: a prefix that keeps runs apart.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The spawned server's store, `sqlite` or `postgres`; `unknown` with `--url`.
    pub fn store(&self) -> &'static str {
        self.store
    }

    /// `count` users named `<prefix>0`, `<prefix>1`, ….
    pub fn users(&self, prefix: &str, count: usize) -> anyhow::Result<Vec<BenchUser>> {
        (0..count)
            .map(|index| self.user(&format!("{prefix}{index}")))
            .collect()
    }

    /// Starts measuring the CPU time of the server (when spawned) and of this process.
    pub fn cpu_meter(&self) -> CpuMeter {
        CpuMeter::start(self.server_pid())
    }

    /// The process id of the server, when it was spawned here.
    pub fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(|server| server.child.id())
    }

    /// The resident memory of the spawned server now, in KB (`VmRSS`).
    pub fn server_rss_kb(&self) -> Option<u64> {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.server_pid()?)).ok()?;
        proc_field_kb(&status, "VmRSS:")
    }

    /// The spawned server's private memory now, in KB (`RssAnon`: heap, stacks, the bus
    /// ring; not the code pages, which are shared and can be read back from the binary).
    pub fn server_anon_rss_kb(&self) -> Option<u64> {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.server_pid()?)).ok()?;
        proc_field_kb(&status, "RssAnon:")
    }

    /// The spawned server's peak resident memory so far, in KB (`VmHWM`).
    pub fn server_peak_rss_kb(&self) -> Option<u64> {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.server_pid()?)).ok()?;
        proc_field_kb(&status, "VmHWM:")
    }

    async fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let anonymous = Client::new(&self.base_url);
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last_problem = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(server) = &mut self.server {
                server.ensure_running()?;
            }
            match anonymous.ready().await {
                Ok(health) if health.status == "ok" => return Ok(()),
                Ok(health) => last_problem = format!("status {}", health.status),
                Err(err) => last_problem = err.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "{}/readyz did not answer ok within {READY_TIMEOUT:?}: {last_problem}",
            self.base_url
        )
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The API key stays out of debug output.
        f.debug_struct("Target")
            .field("base_url", &self.base_url)
            .field("api_key", &format_args!("<{} chars>", self.api_key.len()))
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

/// A `natter serve` child process and its data directory.
struct SpawnedServer {
    child: Child,
    data_dir: PathBuf,
    /// Whether the data directory is removed when the server is (not when given).
    temporary: bool,
}

impl SpawnedServer {
    /// Starts the binary on a free port; returns the base URL and the running server.
    fn start(
        binary: &PathBuf,
        api_key: &str,
        args: &TargetArgs,
        run_id: &str,
    ) -> anyhow::Result<(String, SpawnedServer)> {
        // Binding port 0 and letting it go leaves a short window in which another process
        // could take the port; the readiness check would then fail loudly, not silently.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .context("finding a free port")?
            .port();
        let temporary = args.data_dir.is_none();
        let data_dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("natter-{run_id}")));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let log_path = data_dir.join("server.log");
        // Appended to: a kept data directory keeps the logs of every run on it.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let log_for_stderr = log.try_clone().context("duplicating the log file handle")?;

        // The code pages a server maps depend on how the binary's page cache was filled: a
        // file just written (cp, the linker) maps up to 1.4 MB more than the same file read
        // from disk. Start every server as after a reboot, so RSS figures compare.
        if let Err(err) =
            std::fs::File::open(binary).and_then(|file| natter_sys::drop_cached_pages(&file))
        {
            eprintln!(
                "warning: could not drop the page cache of {}: {err}",
                binary.display()
            );
        }
        let mut command = Command::new(binary);
        command.arg("serve");
        // Only the settings given here reach the server, not a NATTER_* of the caller's shell.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("NATTER_") {
                command.env_remove(name);
            }
        }
        command
            .env("NATTER_API_KEYS", api_key)
            .env("NATTER_JWT_SECRET", random_text(40))
            .env("NATTER_LISTEN", format!("127.0.0.1:{port}"))
            .env("NATTER_DATA_DIR", &data_dir);
        if let Some(durability) = &args.durability {
            command.env("NATTER_SQLITE__DURABILITY", durability);
        }
        if let Some(database_url) = &args.database_url {
            command.env("NATTER_DATABASE_URL", database_url);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn()
            .with_context(|| format!("starting {} serve", binary.display()))?;
        Ok((
            format!("http://127.0.0.1:{port}"),
            SpawnedServer {
                child,
                data_dir,
                temporary,
            },
        ))
    }

    /// Fails with the end of the server's log when the process has exited.
    fn ensure_running(&mut self) -> anyhow::Result<()> {
        let status = match self
            .child
            .try_wait()
            .context("checking the spawned server")?
        {
            None => return Ok(()),
            Some(status) => status,
        };
        let log = std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("the spawned server exited ({status}):\n{}", tail.join("\n"))
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        // SIGKILL: a temporary directory is thrown away, so a graceful stop buys nothing;
        // a kept one holds only committed transactions, which survive a kill.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// Creates a group owned by `owner` with `members`, adding past the first 100 in batches.
pub async fn create_group(
    owner: &BenchUser,
    title: &str,
    members: &[UserId],
) -> anyhow::Result<ConversationId> {
    let mut batches = members.chunks(MAX_PARTICIPANTS_PER_REQUEST);
    let first = batches.next().unwrap_or_default();
    let conversation = owner
        .client
        .create_conversation(&CreateConversation {
            kind: ConversationType::Group,
            participant_ids: first.to_vec(),
            title: Some(title.to_owned()),
            description: None,
            avatar_url: None,
            context: None,
        })
        .await
        .with_context(|| format!("creating group {title:?}"))?
        .value;
    for batch in batches {
        owner
            .client
            .add_participants(
                conversation.id,
                &AddParticipants {
                    user_ids: batch.to_vec(),
                    role: None,
                },
            )
            .await
            .with_context(|| format!("adding participants to {title:?}"))?;
    }
    Ok(conversation.id)
}

/// The number of kilobytes on the `name` line of a `/proc/<pid>/status` text.
fn proc_field_kb(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// The soft limit on open files (`ulimit -n`) of process `pid` (or `self`).
pub fn open_files_limit(pid: &str) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Random ASCII letters and digits (API keys, secrets, run ids).
fn random_text(length: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}

/// Nanoseconds since the Unix epoch: the clock that send timestamps inside message content
/// use, so that another task (or process on this machine) can compute the latency.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A finite number above zero (rates, durations).
pub fn is_positive(value: f64) -> bool {
    value.is_finite() && value > 0.0
}

/// Waits (up to 60 s) until the server's search index has caught up with its writes;
/// returns the backlog when called and how long the wait took. `None` when the server
/// has no `natter_search_index_backlog` in `/metrics` (the baseline server).
pub async fn search_index_caught_up(target: &Target) -> Option<(u64, Duration)> {
    let started = Instant::now();
    let at_start = search_index_backlog(target).await?;
    let mut backlog = at_start;
    while backlog > 0 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        backlog = search_index_backlog(target).await?;
    }
    let waited = if at_start == 0 {
        Duration::ZERO
    } else {
        started.elapsed()
    };
    Some((at_start, waited))
}

/// `natter_search_index_backlog` from the server's `/metrics`, if it has one.
async fn search_index_backlog(target: &Target) -> Option<u64> {
    let metrics = target
        .server_client()
        .raw(natter_client::Method::GET, "/metrics", None)
        .await
        .ok()?;
    if metrics.status != 200 {
        return None;
    }
    metrics.text().lines().find_map(|line| {
        line.strip_prefix("natter_search_index_backlog ")?
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_from_a_status_text() {
        let status = "Name:\tnatter\nVmPeak:\t  99 kB\nVmRSS:\t   23312 kB\nThreads:\t4\n";
        assert_eq!(proc_field_kb(status, "VmRSS:"), Some(23312));
        assert_eq!(proc_field_kb(status, "VmSwap:"), None);
    }

    #[test]
    fn open_files_limit_of_this_process_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(open_files_limit("self").is_some());
        }
    }
}
