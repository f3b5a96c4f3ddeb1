//! `smp-server`: a thin reference SMP relay (queues, messages, notifier subscriptions), for
//! running the notification path end to end.
//!
//! ```text
//! smp-server init  --dir DIR [--host HOST] [--port PORT] [--sign-algorithm ed448|ed25519]
//!                                                           create credentials and smp-server.toml; print the address
//! smp-server start --dir DIR                                serve until interrupted
//! ```
//!
//! Queues, messages and undelivered notifications are kept in `DIR/smp-store.db` (SQLite,
//! every change committed before the relay answers), so a restarted relay serves the same
//! queues; `store = "memory"` keeps them in memory only.
//!
//! `smp-server.toml`:
//!
//! ```text
//! host = "127.0.0.1"   # the host in the printed address
//! port = 5223          # the TCP port to listen on (all interfaces of `listen`)
//! listen = "0.0.0.0"   # optional, the address to bind
//! store = "sqlite"     # optional: "sqlite" (DIR/smp-store.db, the default) or "memory"
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use ref_server::smp::sqlite_store::DB_FILE;
use ref_server::smp::{RelayConfig, SmpRelayServer, SqliteQueueStore};
use ref_transport::{ServerCredentials, SignAlgorithm};
use serde::{Deserialize, Serialize};

const CONFIG_FILE: &str = "smp-server.toml";

#[derive(Parser)]
#[command(
    name = "smp-server",
    version,
    about = "Thin SimpleX SMP relay (reference implementation)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a relay directory: CA and TLS credentials and smp-server.toml. Prints the relay address last.
    Init {
        /// Relay directory (created; must not hold a relay already).
        #[arg(long)]
        dir: PathBuf,
        /// Host name or IP address clients connect to.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// TCP port.
        #[arg(long, default_value_t = 5223)]
        port: u16,
        /// Signature algorithm of the CA and TLS keys: ed448 (the reference's default) or ed25519.
        #[arg(long, short = 'a', default_value_t = SignAlgorithm::default())]
        sign_algorithm: SignAlgorithm,
    },
    /// Serve the relay in DIR until interrupted.
    Start {
        /// Relay directory made by `init`.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// The relay's configuration file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    host: String,
    port: u16,
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default)]
    store: StoreKind,
}

/// Where the relay keeps its queues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StoreKind {
    /// `DIR/smp-store.db`.
    #[default]
    Sqlite,
    /// In memory: lost when the relay stops.
    Memory,
}

fn default_listen() -> String {
    "0.0.0.0".into()
}

fn address(key_hash: &impl std::fmt::Display, host: &str, port: u16) -> String {
    format!("smp://{key_hash}@{host}:{port}")
}

fn init(dir: &Path, host: &str, port: u16, alg: SignAlgorithm) -> anyhow::Result<String> {
    let cfg_path = dir.join(CONFIG_FILE);
    if cfg_path.exists() {
        bail!(
            "{} exists: {} is already a relay directory",
            cfg_path.display(),
            dir.display()
        );
    }
    if host.is_empty() || host.contains(['@', ',', '/', ' ']) {
        bail!("bad host {host:?}");
    }
    let (_, creds) = ServerCredentials::init_dir(dir, host, alg)
        .with_context(|| format!("creating credentials in {}", dir.display()))?;
    let config = Config {
        host: host.into(),
        port,
        listen: default_listen(),
        store: StoreKind::Sqlite,
    };
    std::fs::write(&cfg_path, toml::to_string(&config)?)
        .with_context(|| format!("writing {}", cfg_path.display()))?;
    Ok(address(&creds.key_hash(), host, port))
}

async fn start(dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!(
            "{} is not a directory (run `smp-server init --dir {}` first)",
            dir.display(),
            dir.display()
        );
    }
    let cfg_path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&cfg_path).with_context(|| {
        format!(
            "reading {} (run `smp-server init` first)",
            cfg_path.display()
        )
    })?;
    let config: Config =
        toml::from_str(&text).with_context(|| format!("bad config {}", cfg_path.display()))?;
    let creds = ServerCredentials::load(dir)
        .with_context(|| format!("loading credentials from {}", dir.display()))?;
    let server = match config.store {
        StoreKind::Sqlite => {
            let db = dir.join(DB_FILE);
            let store = SqliteQueueStore::open(&db)
                .with_context(|| format!("opening the queue store {}", db.display()))?;
            tracing::info!(
                path = %db.display(),
                queues = ref_server::smp::QueueStore::queue_count(&store),
                "queue store loaded"
            );
            SmpRelayServer::with_store(&creds, RelayConfig::default(), store)
        }
        StoreKind::Memory => SmpRelayServer::new(&creds, RelayConfig::default()),
    }
    .context("TLS configuration")?;
    let bind = format!("{}:{}", config.listen, config.port);
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    tracing::info!(address = %address(&server.key_hash(), &config.host, config.port), %bind, "SMP relay listening");
    eprintln!(
        "serving {}",
        address(&server.key_hash(), &config.host, config.port)
    );
    tokio::select! {
        r = server.run(listener) => r.context("accept failed")?,
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted, stopping"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().cmd {
        Cmd::Init {
            dir,
            host,
            port,
            sign_algorithm,
        } => init(&dir, &host, port, sign_algorithm).map(|addr| println!("{addr}")),
        Cmd::Start { dir } => start(&dir).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
