//! `ntf-server`: the SimpleX notification server, with the reference's commands
//! (`ntfServerCLI`): `init`, `start`, `cert`, `delete`, `database`.
//!
//! ```text
//! ntf-server [--dir DIR] init [--ip IP] [-n FQDN] [-a ed448|ed25519] [--disable-store-log]
//!                             [-d DB_CONN] [--schema S] [--pool-size N]
//!                             [--host HOST] [--port PORT] [--db-backend sqlite|postgres|memory]
//! ntf-server [--dir DIR] start [--log-level LEVEL] [-m] [--confirm-migrations up|down]
//! ntf-server [--dir DIR] cert [-a ALG] [--cn FQDN]      new online TLS certificate
//! ntf-server [--dir DIR] delete [--yes]                 delete configuration and state
//! ntf-server [--dir DIR] database import|export [-d DB_CONN] [--schema S] [--skip-tokens IDS] [--yes]
//!                                                       store log <-> PostgreSQL (spec/store-log.md)
//! ```
//!
//! Without `--dir`, configuration and credentials are in `$NTF_SERVER_CFG_PATH`
//! (`/etc/opt/simplex-notifications`) and the state in `$NTF_SERVER_LOG_PATH`
//! (`/var/opt/simplex-notifications`), as the reference's. `SIGTERM` or `SIGINT` stops `start`:
//! it stops accepting, finishes the blocks being handled, closes the connections and exits 0.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ref_server::server::config::{Config, ServerPaths, StoreBackend};
use ref_server::server::{self, InitOptions};
use ref_transport::SignAlgorithm;

#[derive(Parser)]
#[command(name = "ntf-server", version, about = "SimpleX notification server (simplex-ntf-rs)")]
struct Cli {
    /// Configuration and state directory (instead of NTF_SERVER_CFG_PATH and NTF_SERVER_LOG_PATH).
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the configuration directory: CA and TLS credentials and ntf-server.ini. Prints the server address last.
    Init(InitArgs),
    /// Generate new online TLS server credentials (signed by the CA in the configuration directory).
    Cert {
        /// New signature algorithm (default: the current certificate's).
        #[arg(long, short = 'a')]
        sign_algorithm: Option<SignAlgorithm>,
        /// New Common Name (default: the current certificate's).
        #[arg(long)]
        cn: Option<String>,
    },
    /// Start the server; SIGTERM or SIGINT stops it.
    Start(StartArgs),
    /// Delete the configuration and state directories (asks for confirmation).
    Delete {
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Import/export the reference's store log (ntf-server-store.log, ntf-server-last-notifications.log) to/from PostgreSQL.
    Database(DatabaseArgs),
}

#[derive(Args)]
struct DatabaseArgs {
    #[command(subcommand)]
    cmd: DatabaseCmd,
    /// PostgreSQL connection string.
    #[arg(long = "database", short = 'd', global = true, default_value = server::config::DEFAULT_DB_CONNECTION)]
    database: String,
    /// PostgreSQL schema.
    #[arg(long, global = true, default_value = "ntf_server")]
    schema: String,
    /// Accepted for the reference's scripts (one connection is used).
    #[arg(long, global = true, default_value_t = 10)]
    pool_size: u32,
    /// Do not ask for confirmation (ours).
    #[arg(long, global = true)]
    yes: bool,
}

#[derive(Subcommand)]
enum DatabaseCmd {
    /// Import the store log and last notifications into a new PostgreSQL schema.
    Import {
        /// Token ids (base64url, comma-separated) to leave out when they are duplicate registrations.
        #[arg(long, value_parser = ref_server::store::log::command::parse_token_ids)]
        skip_tokens: Option<std::collections::BTreeSet<ntf_proto::command::NtfEntityId>>,
    },
    /// Export the PostgreSQL schema to the store log and last notifications.
    Export,
}

#[derive(Args)]
struct InitArgs {
    /// Server IP address: the certificate's Common Name when there is no FQDN.
    #[arg(long, default_value = "127.0.0.1")]
    ip: String,
    /// Server FQDN: the certificate's Common Name and the host in the address.
    #[arg(long, short = 'n')]
    fqdn: Option<String>,
    /// Host in the address (ours; default: the FQDN, else the IP).
    #[arg(long)]
    host: Option<String>,
    /// TCP port (ours; the reference writes 443).
    #[arg(long, default_value_t = 443)]
    port: u16,
    /// Signature algorithm of the CA and TLS keys: ed448 (default) or ed25519.
    #[arg(long, short = 'a', default_value_t = SignAlgorithm::default())]
    sign_algorithm: SignAlgorithm,
    /// `[STORE_LOG] enable = off` (our default: this server does not write the store log).
    #[arg(long, conflicts_with = "store_log")]
    disable_store_log: bool,
    /// `[STORE_LOG] enable = on` (the reference's default).
    #[arg(long, short = 'l')]
    store_log: bool,
    /// Store backend (ours): sqlite (default, no setup), postgres (the reference's), memory.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    db_backend: Backend,
    /// PostgreSQL connection string.
    #[arg(long = "database", short = 'd', default_value = server::config::DEFAULT_DB_CONNECTION)]
    database: String,
    /// PostgreSQL schema.
    #[arg(long, default_value = "ntf_server")]
    schema: String,
    /// PostgreSQL pool size.
    #[arg(long, default_value_t = 10)]
    pool_size: u32,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
    Memory,
}

#[derive(Args)]
struct StartArgs {
    /// Logging level: trace, debug, info, note, warn, error (RUST_LOG, when set, wins).
    #[arg(long, default_value = "info")]
    log_level: LogLevel,
    /// Do not serve: only open the store (applying migrations), print the server information and exit.
    #[arg(long, short = 'm')]
    maintenance: bool,
    /// Accepted for the reference's scripts: migrations are always applied (`up`).
    #[arg(long)]
    confirm_migrations: Option<String>,
    /// Accepted for the reference's scripts (no non-critical start warnings stop this server).
    #[arg(long)]
    skip_warnings: bool,
    /// Compact the store log before starting (needs `[STORE_LOG] enable = on`); the original is kept with the time appended.
    #[arg(long)]
    compact_log: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogLevel {
    Trace,
    Debug,
    Info,
    Note,
    Warn,
    Error,
}

impl LogLevel {
    fn filter(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            // the reference's `note` sits between info and warn; tracing has no such level
            Self::Info | Self::Note => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// How long `start` waits for the shutdown after a signal.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = ServerPaths::from_env(cli.dir.as_deref());
    let result = match cli.cmd {
        Cmd::Init(a) => {
            init_logging("info");
            init(&paths, a)
        }
        Cmd::Cert { sign_algorithm, cn } => {
            init_logging("info");
            cert(&paths, sign_algorithm, cn.as_deref())
        }
        Cmd::Start(a) => {
            init_logging(a.log_level.filter());
            start(&paths, &a).await
        }
        Cmd::Delete { yes } => delete(&paths, yes),
        // the synchronous PostgreSQL client runs its own runtime: off this one
        Cmd::Database(a) => tokio::task::spawn_blocking(move || database(&paths, a))
            .await
            .unwrap_or_else(|e| Err(anyhow::anyhow!("database: {e}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn init(paths: &ServerPaths, a: InitArgs) -> anyhow::Result<()> {
    let opts = InitOptions {
        ip: a.ip,
        fqdn: a.fqdn,
        host: a.host,
        port: a.port,
        sign_algorithm: a.sign_algorithm,
        store_log: a.store_log && !a.disable_store_log,
        backend: match a.db_backend {
            Backend::Sqlite => StoreBackend::Sqlite,
            Backend::Postgres => StoreBackend::Postgres,
            Backend::Memory => StoreBackend::Memory,
        },
        db_connection: a.database,
        db_schema: a.schema,
        db_pool_size: a.pool_size,
    };
    let address = server::init_paths(paths, &opts)?;
    let ini = paths.config_file();
    println!("Server initialized, you can modify configuration in {}.\nRun `ntf-server start` to start server.", ini.display());
    ca_key_warning(paths);
    println!("{}", server::version_line());
    let fingerprint = address.trim_start_matches("ntf://").split('@').next().unwrap_or_default();
    println!("Fingerprint: {fingerprint}");
    println!("Server address: {address}");
    Ok(())
}

fn ca_key_warning(paths: &ServerPaths) {
    println!(
        "----------\nKeep the CA private key offline and delete it from this machine: with it a new TLS \
         certificate can be issued for the same server identity if this one is compromised.\nCA private key: {}\n----------",
        paths.cfg.join("ca.key").display()
    );
}

fn cert(paths: &ServerPaths, alg: Option<SignAlgorithm>, cn: Option<&str>) -> anyhow::Result<()> {
    let ini = paths.config_file();
    anyhow::ensure!(ini.exists(), "server is not initialized ({} does not exist): run `ntf-server init`", ini.display());
    server::new_online_cert(&paths.cfg, alg, cn)?;
    println!("Generated new server credentials");
    ca_key_warning(paths);
    Ok(())
}

async fn start(paths: &ServerPaths, a: &StartArgs) -> anyhow::Result<()> {
    if let Some(c) = &a.confirm_migrations {
        anyhow::ensure!(c == "up" || c == "down", "--confirm-migrations: invalid migration confirmation {c:?}, pass 'up' or 'down'");
    }
    let config = Config::load(&paths.cfg)?;
    if a.compact_log {
        compact_log(paths, &config)?;
    }
    // the handlers are in place before anything is served: a SIGTERM that comes as soon as the
    // port is open still stops the server cleanly
    let signal = stop_signal()?;
    let server = server::run_config(paths, &config).await?;
    print!("{}", server::server_info(paths, &config, &server.key_hash));
    if let Some(i) = config.store.prometheus_interval {
        println!("Prometheus metrics saved every {i} seconds to {}", paths.log.join(server::config::METRICS_FILE).display());
    }
    if let Some(addr) = server.metrics_addr {
        println!("Prometheus metrics served at http://{addr}/metrics");
    }
    let _ = std::io::stdout().flush();
    if a.maintenance {
        println!("Server started in 'maintenance' mode, exiting");
        server.shutdown().await;
        return Ok(());
    }
    let signal = signal.await;
    tracing::info!(signal, "stopping");
    tokio::time::timeout(STOP_TIMEOUT, server.shutdown())
        .await
        .map_err(|_| anyhow::anyhow!("the server did not stop within {STOP_TIMEOUT:?}"))?;
    Ok(())
}

/// `--compact-log` (the reference's `compactDbStoreLog`).
fn compact_log(paths: &ServerPaths, config: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(config.store.store_log, "--compact-log used without `enable = on` in the [STORE_LOG] section of {}", paths.config_file().display());
    tracing::info!("compacting store log {}", paths.log.join(ntf_proto::store_log::STORE_LOG_FILE).display());
    let c = ref_server::store::log::compact::compact(&paths.log).map_err(|e| anyhow::anyhow!("--compact-log: {e}"))?;
    if c.restored {
        tracing::warn!("the last compaction was interrupted: its original restored, the log then there kept as .bak");
    }
    for b in &c.bad_lines {
        tracing::warn!("Error parsing log: line {}: {} - {}", b.line, b.error, b.text);
    }
    if let Some(o) = c.original {
        tracing::info!("original state preserved as {}", o.display());
    }
    Ok(())
}

/// Installs the SIGTERM (systemd, container runtimes) and SIGINT (Ctrl-C) handlers; the
/// future ends with the name of the first signal.
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        })
    }
}

/// `database import|export` (`ref_server::store::log::command`).
fn database(paths: &ServerPaths, a: DatabaseArgs) -> anyhow::Result<()> {
    use ref_server::store::log::command::{run, DatabaseCommand, DatabaseOptions};
    let cmd = match a.cmd {
        DatabaseCmd::Import { skip_tokens } => DatabaseCommand::Import { skip_tokens: skip_tokens.unwrap_or_default() },
        DatabaseCmd::Export => DatabaseCommand::Export,
    };
    let opts = DatabaseOptions {
        config_dir: paths.cfg.clone(),
        log_dir: paths.log.clone(),
        pg: ref_server::store::PgConfig::new(server::pg_url_with_default_host(&a.database)).with_schema(a.schema),
    };
    let mut out = std::io::stdout();
    let r = if a.yes {
        run(&cmd, &opts, &mut &b"Y\n"[..], &mut out)
    } else {
        run(&cmd, &opts, &mut std::io::stdin().lock(), &mut out)
    };
    let _ = out.flush();
    r.map_err(Into::into)
}

fn delete(paths: &ServerPaths, yes: bool) -> anyhow::Result<()> {
    if !yes {
        print!(
            "WARNING: this deletes the server identity (its CA and certificates) and all its state: \
             clients will no longer reach their tokens and subscriptions. It cannot be undone.\n\
             Directories: {} and {}\nContinue (Y/n): ",
            paths.cfg.display(),
            paths.log.display()
        );
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if line.trim_end_matches(['\r', '\n']) != "Y" {
            anyhow::bail!("Server NOT deleted");
        }
    }
    for d in [&paths.cfg, &paths.log] {
        if d.is_dir() {
            std::fs::remove_dir_all(d).map_err(|e| anyhow::anyhow!("cannot delete {}: {e}", d.display()))?;
        }
    }
    println!("Deleted configuration and log files");
    Ok(())
}
