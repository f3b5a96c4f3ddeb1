//! The notification server as a program: its directory and configuration ([`config`]) and the
//! tokio shell around the sans-IO core ([`shell`]). The `ntf-server` binary is a thin CLI over
//! [`init`] and [`run`].

pub mod config;
pub mod control;
pub mod in_order;
pub mod ini;
pub mod journal;
pub mod exporter;
pub mod lease;
pub mod metrics;
pub mod period;
pub mod shell;
pub mod stats_file;
pub mod stats_log;
pub mod subscriber;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use ref_transport::{ServerCredentials, SignAlgorithm, TlsServerConfig};
use tokio::net::TcpListener;

use crate::apns::{ApnsClient, ApnsConfig, ApnsEndpoint, ApnsSigningKey, CaSource, PushClients};
use crate::store::log::logged::LoggedStore;
use crate::store::log::writer::StoreLogWriter;
use crate::store::postgres::{PgConfig, PgStore};
use crate::store::sqlite::SqliteStore;
use config::{Config, ServerPaths, StoreBackend};
use std::fmt::Write as _;

/// ALPN offered by the notification server.
pub const ALPN_NTF: &[u8] = b"ntf/1";

/// What `ntf-server init` takes (the reference's `InitOptions`, and our `--host`/`--port`).
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// `--ip`: the Common Name when there is no FQDN; the host unless it is 127.0.0.1.
    pub ip: String,
    /// `--fqdn`: the Common Name and the host.
    pub fqdn: Option<String>,
    /// `--host` (ours): the host in the address, whatever the Common Name.
    pub host: Option<String>,
    /// `--port` (ours; the reference writes 443).
    pub port: u16,
    /// `--sign-algorithm`.
    pub sign_algorithm: SignAlgorithm,
    /// `[STORE_LOG] enable` (`--store-log`).
    pub store_log: bool,
    /// `--db-backend` (ours).
    pub backend: StoreBackend,
    /// `--database`, `--schema`, `--pool-size`.
    pub db_connection: String,
    /// `--schema`.
    pub db_schema: String,
    /// `--pool-size`.
    pub db_pool_size: u32,
}

impl Default for InitOptions {
    fn default() -> Self {
        let store = config::StoreSection::default();
        Self {
            ip: "127.0.0.1".into(),
            fqdn: None,
            host: None,
            port: 443,
            sign_algorithm: SignAlgorithm::default(),
            // off: the database is the store and the log only a copy of its changes (the
            // reference's `init` turns it on unless `--disable-store-log`)
            store_log: false,
            backend: StoreBackend::Sqlite,
            db_connection: store.url,
            db_schema: store.schema,
            db_pool_size: store.pool_size,
        }
    }
}

impl InitOptions {
    /// The host put in the configuration (`initializeServer`: the FQDN, else the IP unless it
    /// is 127.0.0.1, else `<hostnames>`; ours: `--host` first).
    pub fn config_host(&self) -> String {
        self.host.clone().or_else(|| self.fqdn.clone()).unwrap_or_else(|| {
            if self.ip == "127.0.0.1" {
                config::NO_HOST.into()
            } else {
                self.ip.clone()
            }
        })
    }
}

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
    let opts = InitOptions { ip: host.into(), host: Some(host.into()), port, sign_algorithm: alg, ..InitOptions::default() };
    init_paths(&ServerPaths::same(dir), &opts)
}

/// `ntf-server init` with all its options: writes the credentials and `ntf-server.ini` into
/// `paths.cfg` (creating both directories) and returns the server address.
///
/// # Errors
/// When a configuration or credentials are already there (nothing is written over), or files
/// cannot be written.
pub fn init_paths(paths: &ServerPaths, opts: &InitOptions) -> anyhow::Result<String> {
    let ini = paths.config_file();
    for existing in [ini.clone(), paths.cfg.join(config::LEGACY_CONFIG_FILE), paths.cfg.join("ca.crt"), paths.cfg.join("server.key")] {
        if existing.exists() {
            anyhow::bail!("server is already initialized ({} exists); refusing to overwrite it. Run `ntf-server start`.", existing.display());
        }
    }
    for d in [&paths.cfg, &paths.log] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let cn = opts.fqdn.clone().unwrap_or_else(|| opts.host.clone().unwrap_or_else(|| opts.ip.clone()));
    let (_ca, creds) = ServerCredentials::init_dir(&paths.cfg, &cn, opts.sign_algorithm)
        .with_context(|| format!("cannot create credentials in {}", paths.cfg.display()))?;
    let host = opts.config_host();
    let mut config = Config::new(&host, opts.port);
    config.store.backend = opts.backend;
    config.store.store_log = opts.store_log;
    config.store.url.clone_from(&opts.db_connection);
    config.store.schema.clone_from(&opts.db_schema);
    config.store.pool_size = opts.db_pool_size;
    config.save(&paths.cfg)?;
    Ok(server_address(&creds.key_hash(), &host, &config::Ports::one(opts.port)))
}

/// `ntf://<key hash>@host[:port]`, as the reference's `runServer` prints it: the `port` value
/// as it is, left out when it is `443`. With several ports that is the list (`host:443,5223`),
/// which is what the reference prints, though a client takes one port: give clients
/// `host:PORT` with one of them (or `host` alone for 443).
pub fn server_address(key_hash: &smp_proto::server::KeyHash, host: &str, ports: &config::Ports) -> String {
    if ports.as_slice() == [443] {
        format!("ntf://{key_hash}@{host}")
    } else {
        format!("ntf://{key_hash}@{host}:{ports}")
    }
}

/// The version line printed by `start` and `init` (the reference's `serverVersion`).
pub fn version_line() -> String {
    format!("SMP notifications server v{} (simplex-ntf-rs; protocol of simplexmq 6.5.5.0)", env!("CARGO_PKG_VERSION"))
}

/// The information block `start` prints (`printServiceInfo` and `printNtfServerConfig`).
pub fn server_info(paths: &ServerPaths, config: &Config, key_hash: &smp_proto::server::KeyHash) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", version_line());
    let _ = writeln!(o, "Fingerprint: {key_hash}");
    let _ = writeln!(o, "Server address: {}", server_address(key_hash, &config.server.host, &config.server.ports));
    let st = &config.store;
    match st.backend {
        StoreBackend::Postgres => {
            let _ = writeln!(o, "PostgreSQL database: {}, schema: {}", redact_password(&st.url), st.schema);
        }
        StoreBackend::Sqlite => {
            let _ = writeln!(o, "SQLite database: {}", paths.log.join(&st.path).display());
        }
        StoreBackend::Memory => {
            let _ = writeln!(o, "In-memory store: everything is lost on restart.");
        }
    }
    if st.store_log {
        let _ = writeln!(o, "Store log: {}", paths.log.join(config::STORE_LOG_FILE).display());
    } else {
        let _ = writeln!(o, "Store log disabled.");
    }
    // `printServerTransports`: a line for each port in the order given, then the warning when
    // none is 443 (the reference's names smp-server.ini and suggests `5223,443`)
    for port in config.server.ports.as_slice() {
        let _ = writeln!(o, "Serving NTF protocol on port {port} (TLS)...");
    }
    if !config.server.ports.contains(443) {
        let _ = writeln!(
            o,
            "\nWARNING: the clients will use port 443 by default soon.\nSet `port` in ntf-server.ini section [TRANSPORT] to `{},443`\n",
            config.server.ports
        );
    }
    o
}

/// A connection string for printing: the password, if any, replaced by `***`.
fn redact_password(url: &str) -> String {
    match url.parse::<postgres::Config>() {
        Ok(c) if c.get_password().is_some() => url.replacen(&*String::from_utf8_lossy(c.get_password().unwrap_or_default()), "***", 1),
        _ => url.to_string(),
    }
}

/// The connection string with libpq's default socket directory added when it names no host
/// (the reference's default `postgresql://ntf@/ntf_server_store` connects over the local
/// socket; the Rust client needs the directory spelled out).
pub fn pg_url_with_default_host(url: &str) -> String {
    match url.parse::<postgres::Config>() {
        Ok(c) if c.get_hosts().is_empty() => {
            let sep = if url.contains('?') { '&' } else { '?' };
            if url.contains("://") {
                format!("{url}{sep}host=/var/run/postgresql")
            } else {
                format!("{url} host=/var/run/postgresql")
            }
        }
        _ => url.to_string(),
    }
}

/// `checkSavedFingerprint`: the `fingerprint` file must hold the CA certificate's hash.
///
/// # Errors
/// A missing file or a different fingerprint.
pub fn check_saved_fingerprint(cfg: &Path, creds: &ServerCredentials) -> anyhow::Result<()> {
    let path = cfg.join("fingerprint");
    let saved = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let want = creds.key_hash().to_string();
    anyhow::ensure!(saved.lines().next().unwrap_or_default().trim() == want, "stored fingerprint is invalid: {} does not match ca.crt", path.display());
    Ok(())
}

/// `ntf-server cert`: a new online TLS key and certificate signed by the CA (`genOnline`):
/// the algorithm and the Common Name of the old certificate unless given.
///
/// # Errors
/// A missing CA key or certificate, or files that cannot be written.
pub fn new_online_cert(cfg: &Path, alg: Option<SignAlgorithm>, cn: Option<&str>) -> anyhow::Result<()> {
    use ref_transport::CaCredentials;
    let ca = CaCredentials::load(cfg).with_context(|| format!("cannot load the CA in {} (ca.crt, ca.key)", cfg.display()))?;
    let old = ServerCredentials::load(cfg).ok();
    let alg = alg.or_else(|| old.as_ref().map(ServerCredentials::sign_algorithm)).unwrap_or_default();
    let cn = match cn {
        Some(cn) => cn.to_string(),
        None => {
            let old = old.as_ref().ok_or_else(|| anyhow::anyhow!("no certificate found at {}: pass --cn", cfg.join("server.crt").display()))?;
            let entry = old.cert().subject_name().entries_by_nid(openssl::nid::Nid::COMMONNAME).next();
            entry
                .and_then(|e| e.data().to_string().ok())
                .ok_or_else(|| anyhow::anyhow!("certificate subject has no CN element: pass --cn"))?
        }
    };
    let creds = ca.issue_server(&cn, alg).context("new certificate")?;
    creds.save(cfg).with_context(|| format!("cannot write the certificate in {}", cfg.display()))?;
    Ok(())
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
    if let Some(w) = &config.webpush {
        clients.web_push = Some(web_push_client(dir, w)?);
    }
    Ok(clients)
}

/// The Web Push client of `[WEBPUSH]`; the VAPID key file is made (mode 0600) when missing.
///
/// # Errors
/// A key or CA file that cannot be read or made, a bad host pattern.
pub fn web_push_client(dir: &Path, w: &config::WebPushSection) -> anyhow::Result<crate::webpush::WebPushClient> {
    use crate::webpush::{HostPattern, VapidKey, WebPushClient, WebPushConfig, WebPushPolicy};
    let key_path = dir.join(&w.vapid_key_file);
    let vapid = if key_path.exists() {
        VapidKey::from_pem_file(&key_path).map_err(|e| anyhow::anyhow!("[WEBPUSH] vapid_key_file: {e}"))?
    } else {
        let k = VapidKey::generate();
        let pem = k.to_pem().map_err(|e| anyhow::anyhow!("VAPID key: {e}"))?;
        write_private(&key_path, pem.as_bytes())?;
        k
    };
    let mut c = WebPushConfig::new(vapid);
    c.policy = WebPushPolicy {
        allowed_hosts: w.allowed_hosts.iter().map(|h| HostPattern::parse(h).map_err(|e| anyhow::anyhow!("[WEBPUSH] allowed_hosts: {e}"))).collect::<anyhow::Result<_>>()?,
    };
    c.timeout = std::time::Duration::from_secs(w.timeout.max(1));
    if let Some(ca) = &w.ca_file {
        let p = dir.join(ca);
        c.extra_ca_pem = Some(std::fs::read(&p).with_context(|| format!("[WEBPUSH] ca_file {}", p.display()))?);
    }
    WebPushClient::new(c).map_err(|e| anyhow::anyhow!(e))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The SMP subscriber's settings: relays reached as `[SUBSCRIBER]` says (`socks_proxy`,
/// `socks_mode`, `host_mode`, `required_host_mode`; see [`ref_client::socks`]); with `use_service_credentials = on` it connects to relays as
/// a notification service presenting the server's own TLS credentials (`server.crt` with
/// `ca.crt`, key `server.key`), as the reference's `newNtfServerEnv` does with `ntfCredentials`,
/// so the service identity is the server identity.
///
/// # Errors
/// A certificate of the credentials that does not parse.
pub fn subscriber_config(creds: &ServerCredentials, config: &Config) -> anyhow::Result<subscriber::SubscriberConfig> {
    let mut sub = subscriber::SubscriberConfig::default();
    let s = &config.subscriber;
    sub.client.network = ref_client::socks::NetworkConfig {
        socks_proxy: s.socks_proxy.clone(),
        socks_mode: s.socks_mode,
        host_mode: s.host_mode,
        required_host_mode: s.required_host_mode,
        // the client agent's start (`clientSocksCredentials`)
        isolation_username: ref_client::socks::isolation_username(std::time::SystemTime::now()),
    };
    if config.subscriber.use_service_credentials {
        let service = ref_transport::SmpServiceCredentials::new(smp_proto::handshake::ServiceRole::Notifier, creds)
            .context("service credentials (use_service_credentials = on)")?;
        sub.client.service = Some(service);
    }
    Ok(sub)
}

/// `ntf-server start`: serves the server in `dir` (configuration and state in the same
/// directory) until the returned server is shut down.
///
/// # Errors
/// A missing or broken directory, bad configuration, or a port that cannot be bound.
pub async fn run(dir: &Path) -> anyhow::Result<shell::RunningServer> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a server directory (run `ntf-server init --dir {}` first)", dir.display(), dir.display());
    }
    let paths = ServerPaths::same(dir);
    let config = Config::load(dir)?;
    run_config(&paths, &config).await
}

/// Serves `config` with the credentials in `paths.cfg` and the state in `paths.log`.
///
/// # Errors
/// As [`run`]; an unreachable database.
pub async fn run_config(paths: &ServerPaths, config: &Config) -> anyhow::Result<shell::RunningServer> {
    let dir = &paths.cfg;
    let creds = ServerCredentials::load(dir).with_context(|| format!("cannot load the credentials in {}", dir.display()))?;
    check_saved_fingerprint(dir, &creds)?;
    let tls = TlsServerConfig::new(&creds, &[ALPN_NTF]).context("TLS setup")?;
    let push = push_clients(dir, config)?;
    let web_push = push.web_push.as_ref().map(|c| c.config().policy.clone());
    if let Some(c) = &push.web_push {
        tracing::info!("VAPID: {}", c.config().vapid.public_b64());
    }
    let metrics = Arc::new(metrics::NtfMetrics::new(config.subscriber.own_server_domains.clone()));
    if config.store.log_stats {
        restore_stats(&paths.log, &metrics)?;
    }
    let mut listeners = Vec::new();
    for addr in config.listen_addrs() {
        let l = TcpListener::bind(addr).await.with_context(|| format!("[TRANSPORT] port: cannot listen on {addr} (port in use?)"))?;
        listeners.push(l);
    }
    let shell_config = shell::ShellConfig {
        tls,
        versions: ntf_proto::version::SUPPORTED,
        push: Arc::new(push),
        subscriber: Some(subscriber_config(&creds, config)?),
        ops: shell::ShellOps {
            inactive_clients: config.inactive_clients.map(|c| std::time::Duration::from_secs(c.ttl)),
            metrics: Some(metrics.clone()),
            scale_out: None,
        },
    };
    let core = crate::ntf::Config { web_push, ..crate::ntf::Config::default() };
    let server = match config.store.backend {
        StoreBackend::Sqlite => {
            std::fs::create_dir_all(&paths.log).with_context(|| format!("cannot create {}", paths.log.display()))?;
            let path = paths.log.join(&config.store.path);
            // a directory with only the reference's store log: imported on the first start
            let imported = crate::store::log::sqlite::import_if_only_store_log(&paths.log, &path)
                .map_err(|e| anyhow::anyhow!("cannot import the store log into {}: {e}", path.display()))?;
            if let Some(i) = imported {
                for l in &i.skipped_lines {
                    tracing::warn!("store log line skipped: {l}");
                }
                let (t, s, n) = i.counts;
                tracing::info!("store log imported into {}: {t} tokens, {s} subscriptions, {n} last notifications; the original is {}", path.display(), i.original.display());
            }
            let store = SqliteStore::open(&path).map_err(|e| anyhow::anyhow!("store {}: {e:?}", path.display()))?;
            start_logged(listeners, shell_config, core, store, open_store_log(paths, config)?)?
        }
        StoreBackend::Postgres => {
            let url = pg_url_with_default_host(&config.store.url);
            let shown = redact_password(&config.store.url);
            let pg = PgConfig::new(url).with_schema(config.store.schema.clone());
            // the postgres client is synchronous: open it off the async runtime
            let open = |pg: PgConfig| async {
                tokio::task::spawn_blocking(move || PgStore::open(pg))
                    .await?
                    .map_err(|e| anyhow::anyhow!("PostgreSQL database {shown}: {}", one_line(&format!("{e:?}"))))
            };
            let store = open(pg.clone()).await?;
            let mut shell_config = shell_config;
            if let Some(x) = &config.scale_out {
                // the leases' own connection, so that renewals never wait behind the core
                let leases = open(pg).await?;
                shell_config.ops.scale_out = Some(lease::ScaleOut {
                    config: lease::LeaseConfig {
                        instance_id: x.instance_id.clone(),
                        ttl: std::time::Duration::from_secs(x.lease_ttl),
                        renew: std::time::Duration::from_secs(x.lease_renew),
                    },
                    store: Arc::new(leases),
                });
            }
            start_logged(listeners, shell_config, core, store, open_store_log(paths, config)?)?
        }
        StoreBackend::Memory => {
            start_logged(listeners, shell_config, core, crate::ntf::MemStore::new(), open_store_log(paths, config)?)?
        }
    };
    let mut server = server;
    if let Some(interval) = config.store.prometheus_interval {
        std::fs::create_dir_all(&paths.log).with_context(|| format!("cannot create {}", paths.log.display()))?;
        let file = paths.log.join(config::METRICS_FILE);
        server.spawn_until_shutdown(exporter::write_file_every(server.metrics().clone(), file, std::time::Duration::from_secs(interval)));
    }
    if let Some(addr) = config.store.prometheus_http {
        let listener = exporter::bind(addr).await.with_context(|| format!("[STORE_LOG] prometheus_port: cannot listen on {addr}"))?;
        server.metrics_addr = Some(listener.local_addr()?);
        server.spawn_until_shutdown(exporter::serve(server.metrics().clone(), listener));
    }
    if config.store.log_stats {
        std::fs::create_dir_all(&paths.log).with_context(|| format!("cannot create {}", paths.log.display()))?;
        let file = paths.log.join(stats_log::STATS_DAILY_FILE);
        server.spawn_until_shutdown(stats_log::run(server.metrics().clone(), file));
        let (path, m) = (paths.log.join(stats_file::STATS_FILE), metrics.clone());
        server.on_shutdown(Box::new(move || {
            // `saveServerStats`
            tracing::info!("saving server stats to file {}", path.display());
            if let Err(e) = std::fs::write(&path, stats_file::encode(&m)) {
                tracing::error!("cannot save server stats to {}: {e}", path.display());
            }
        }));
    }
    if let Some(port) = config.server.control_port {
        let listener = control::bind(port).await.with_context(|| format!("[TRANSPORT] control_port: cannot listen on 127.0.0.1:{port}"))?;
        server.control_addr = Some(listener.local_addr()?);
        let auth = control::ControlAuth { admin: config.auth.admin_password.clone(), user: config.auth.user_password.clone() };
        server.spawn_until_shutdown(control::serve(listener, auth, server.metrics().clone()));
    }
    Ok(server)
}

/// The store log of `[STORE_LOG] enable = on`, opened for appending (`newNtfDbStore`'s
/// `openWriteStoreLog True`).
///
/// # Errors
/// The file cannot be opened (the reference stops too).
fn open_store_log(paths: &ServerPaths, config: &Config) -> anyhow::Result<Option<StoreLogWriter>> {
    if !config.store.store_log {
        return Ok(None);
    }
    std::fs::create_dir_all(&paths.log).with_context(|| format!("cannot create {}", paths.log.display()))?;
    let path = paths.log.join(config::STORE_LOG_FILE);
    let log = StoreLogWriter::open_append(&path)
        .with_context(|| format!("[STORE_LOG] enable = on: cannot open the store log {}", path.display()))?;
    Ok(Some(log))
}

/// Starts the shell on `store`, wrapped in a [`LoggedStore`] when there is a store log.
///
/// # Errors
/// As [`shell::start_on`].
fn start_logged<S: crate::ntf::Store + Send + 'static>(
    listeners: Vec<TcpListener>,
    shell_config: shell::ShellConfig,
    core: crate::ntf::Config,
    store: S,
    log: Option<StoreLogWriter>,
) -> anyhow::Result<shell::RunningServer> {
    Ok(match log {
        Some(log) => shell::start_on(listeners, shell_config, core, LoggedStore::new(store, log))?,
        None => shell::start_on(listeners, shell_config, core, store)?,
    })
}

/// `restoreServerStats`: the counters of `ntf-server-stats.log`, when there is one, which is
/// then renamed `.bak`.
///
/// # Errors
/// A file that cannot be read or does not parse (the reference exits too).
fn restore_stats(log: &Path, metrics: &metrics::NtfMetrics) -> anyhow::Result<()> {
    let path = log.join(stats_file::STATS_FILE);
    if !path.exists() {
        return Ok(());
    }
    tracing::info!("restoring server stats from file {}", path.display());
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let saved = stats_file::decode(&text).map_err(|e| anyhow::anyhow!("error restoring server stats: {e} ({})", path.display()))?;
    metrics.restore(&saved);
    let bak = path.with_extension("log.bak");
    std::fs::rename(&path, &bak).with_context(|| format!("cannot rename {} to {}", path.display(), bak.display()))?;
    Ok(())
}

/// `s` on one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_connection_gets_the_local_socket_directory() {
        // `defaultNtfDBOpts`: no host, meaning libpq's local socket
        let url = pg_url_with_default_host(config::DEFAULT_DB_CONNECTION);
        assert_eq!(url, "postgresql://ntf@/ntf_server_store?host=/var/run/postgresql");
        let c: postgres::Config = url.parse().unwrap();
        assert_eq!(c.get_hosts().len(), 1);
        assert_eq!(c.get_user(), Some("ntf"));
        assert_eq!(pg_url_with_default_host("postgresql://u@h/db"), "postgresql://u@h/db");
        assert_eq!(pg_url_with_default_host("user=u dbname=d"), "user=u dbname=d host=/var/run/postgresql");
        assert_eq!(redact_password("postgresql://u:s3cret@h/db"), "postgresql://u:***@h/db");
    }
}

