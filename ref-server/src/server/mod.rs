//! The notification server as a program: its directory and configuration ([`config`]) and the
//! tokio shell around the sans-IO core ([`shell`]). The `ntf-server` binary is a thin CLI over
//! [`init`] and [`run`].

pub mod config;
pub mod shell;
pub mod subscriber;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use ref_transport::{ServerCredentials, SignAlgorithm, TlsServerConfig};
use tokio::net::TcpListener;

use crate::apns::{ApnsClient, ApnsConfig, ApnsEndpoint, ApnsSigningKey, CaSource, PushClients};
use crate::store::postgres::{PgConfig, PgStore};
use crate::store::sqlite::SqliteStore;
use config::{Config, StoreBackend};

/// ALPN offered by the notification server.
pub const ALPN_NTF: &[u8] = b"ntf/1";

/// `ntf-server init`: creates `dir` with credentials of the default algorithm (Ed448, as the
/// reference) and a configuration; returns the server address `ntf://<key hash>@host:port`.
///
/// # Errors
/// When `dir` already holds a server, or files cannot be written.
pub fn init(dir: &Path, host: &str, port: u16) -> anyhow::Result<String> {
    init_with(dir, host, port, SignAlgorithm::default())
}

/// `ntf-server init --sign-algorithm ALG`: [`init`] with `alg` keys for the CA and the TLS
/// certificate.
///
/// # Errors
/// As [`init`].
pub fn init_with(dir: &Path, host: &str, port: u16, alg: SignAlgorithm) -> anyhow::Result<String> {
    if dir.join(config::CONFIG_FILE).exists() {
        anyhow::bail!("{} already holds a server configuration; refusing to overwrite it", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (_ca, creds) = ServerCredentials::init_dir(dir, host, alg).with_context(|| format!("cannot create credentials in {}", dir.display()))?;
    Config::new(host, port).save(dir)?;
    Ok(format!("ntf://{}@{}:{}", creds.key_hash(), host, port))
}

/// Builds the push clients from the configuration: Apple's providers when a key is
/// configured (`[apns]` or `APNS_KEY_FILE`/`APNS_KEY_ID`), the test provider when `[apns_test]`
/// is set (signed with the Apple key, or an ephemeral key when there is none), and the null
/// provider always.
///
/// # Errors
/// A bad key file or CA file.
pub fn push_clients(dir: &Path, config: &Config) -> anyhow::Result<PushClients> {
    let key_file = std::env::var("APNS_KEY_FILE").unwrap_or_else(|_| config.apns.key_file.clone());
    let key_id = std::env::var("APNS_KEY_ID").unwrap_or_else(|_| config.apns.key_id.clone());
    let apns = ApnsConfig { topic: config.apns.topic.clone(), team_id: config.apns.team_id.clone(), key_id, ..ApnsConfig::default() };
    let key = if key_file.is_empty() {
        None
    } else {
        Some(ApnsSigningKey::from_pem_file(&key_file).map_err(|e| anyhow::anyhow!("APNS key {key_file}: {e}"))?)
    };
    let mut clients = PushClients::default();
    if let Some(key) = &key {
        clients.production = Some(ApnsClient::new(ApnsEndpoint::production(), apns.clone(), key.clone())?);
        clients.development = Some(ApnsClient::new(ApnsEndpoint::development(), apns.clone(), key.clone())?);
    }
    if let Some(t) = &config.apns_test {
        let key = match key {
            Some(k) => k,
            None => ApnsSigningKey::generate().map_err(|e| anyhow::anyhow!("test provider key: {e}"))?,
        };
        let ca = dir.join(&t.ca_file);
        let endpoint = ApnsEndpoint { host: t.host.clone(), port: t.port, ca: CaSource::File(ca) };
        clients.test = Some(ApnsClient::new(endpoint, apns, key)?);
    }
    Ok(clients)
}

/// `ntf-server start`: serves the server in `dir` until the returned server is shut down.
///
/// # Errors
/// A missing or broken directory, bad configuration, or a port that cannot be bound.
pub async fn run(dir: &Path) -> anyhow::Result<shell::RunningServer> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a server directory (run `ntf-server init --dir {}` first)", dir.display(), dir.display());
    }
    let config = Config::load(dir)?;
    let creds = ServerCredentials::load(dir).with_context(|| format!("cannot load the credentials in {}", dir.display()))?;
    let tls = TlsServerConfig::new(&creds, &[ALPN_NTF]).context("TLS setup")?;
    let push = push_clients(dir, &config)?;
    let addr = config.listen_addr();
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (port in use?)"))?;
    let shell_config = shell::ShellConfig { tls, versions: ntf_proto::version::SUPPORTED, push: Arc::new(push), subscriber: Some(subscriber::SubscriberConfig::default()) };
    let core = crate::ntf::Config::default();
    let server = match config.store.backend {
        StoreBackend::Sqlite => {
            let path = dir.join(&config.store.path);
            let store = SqliteStore::open(&path).map_err(|e| anyhow::anyhow!("store {}: {e:?}", path.display()))?;
            shell::start(listener, shell_config, core, store)?
        }
        StoreBackend::Postgres => {
            anyhow::ensure!(!config.store.url.is_empty(), "[store] backend = \"postgres\" needs url");
            let pg = PgConfig::new(config.store.url.clone()).with_schema(config.store.schema.clone());
            // the postgres client is synchronous: open it off the async runtime
            let store = tokio::task::spawn_blocking(move || PgStore::open(pg)).await?.map_err(|e| anyhow::anyhow!("PostgreSQL store: {e:?}"))?;
            shell::start(listener, shell_config, core, store)?
        }
        StoreBackend::Memory => shell::start(listener, shell_config, core, crate::ntf::MemStore::new())?,
    };
    Ok(server)
}
