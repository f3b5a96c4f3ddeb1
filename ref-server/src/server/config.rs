//! The server's directories and its configuration file, `ntf-server.ini`, in the reference's
//! layout (`ntfServerCLI` in `Notifications/Server/Main.hs`): the same sections, keys, values
//! and defaults, so that a directory made by the reference's `ntf-server init` starts as it is.
//!
//! ```text
//! CFG/ntf-server.ini    configuration (below)
//! CFG/ca.crt ca.key     offline CA certificate and key (identity = SHA-256 of ca.crt DER)
//! CFG/server.crt .key   online TLS certificate and key, signed by the CA
//! CFG/fingerprint       the key hash, base64url
//! LOG/ntf-store.db      SQLite store (our `db_backend = sqlite`)
//! LOG/ntf-server-metrics.txt   Prometheus metrics, every `prometheus_interval` seconds
//! LOG/ntf-server-stats.daily.log  daily statistics CSV (`log_stats = on`)
//! ```
//!
//! CFG and LOG are the reference's `NTF_SERVER_CFG_PATH` (default
//! `/etc/opt/simplex-notifications`) and `NTF_SERVER_LOG_PATH` (default
//! `/var/opt/simplex-notifications`); `--dir DIR` makes both DIR.
//!
//! Settings the reference reads (defaults in brackets):
//!
//! ```ini
//! [STORE_LOG]
//! enable = off                  # on: also keep LOG/ntf-server-store.log (see below)
//! db_connection = postgresql://ntf@/ntf_server_store
//! db_schema = ntf_server
//! db_pool_size = 10
//! db_deleted_ttl = 1814400      # read as given (the reference's code reads the number as is)
//! log_stats = off               # on: a CSV line a day in LOG/ntf-server-stats.daily.log
//!                               # (`server/stats_log.rs`), and the counters saved to
//!                               # LOG/ntf-server-stats.log at the stop, restored at the start
//! prometheus_interval = 60      # [none: no metrics file] seconds between metrics file writes
//! [AUTH]
//! control_port_admin_password = # [none] `auth` with it on the control port: admin role
//! control_port_user_password =  # [none] user role (stats, server-info without relay names)
//! [TRANSPORT]
//! host = <hostnames>            # only printed in the server address
//! port = 443                    # required, as in the reference; several: `443,5223`, each
//!                               # served the same way (TLS, the same ALPN and identity);
//!                               # a port at most once, 0 to 65535 (0: a free port, for tests)
//! log_tls_errors = off
//! websockets = off              # `off`, or ports that are all in `port` (for which the
//!                               # reference serves no websockets either): none are served
//! control_port = 5227           # [none] on 127.0.0.1 only: auth, stats, stats-rts,
//!                               # server-info, help, quit (see `server/control.rs`)
//! [SUBSCRIBER]
//! socks_proxy = 127.0.0.1:9050  # [none] SOCKS5 proxy for relays: [user:password@ or @]
//!                               # [IP address][:port] (127.0.0.1, 9050); without credentials
//!                               # a username per start isolates the circuits, `@`: none
//! socks_mode = onion            # onion: the proxy for .onion hosts only; always: for all
//! host_mode = public            # public: the first public host of a relay; onion: the first
//!                               # .onion host when socks_proxy is set
//! required_host_mode = off      # on: no such host fails the connection (else the first host)
//! own_server_domains =          # space-separated suffixes counted as own relays
//! use_service_credentials = off
//! [INACTIVE_CLIENTS]
//! disconnect = off
//! ttl = 43200                   # required when disconnect = on
//! check_interval = 3600         # required when disconnect = on
//! ```
//!
//! Our additions (absent in a reference file, each with the default that keeps the reference's
//! behaviour):
//!
//! ```ini
//! [STORE_LOG]
//! db_backend = postgres         # postgres (the reference's), sqlite, memory
//! db_file = ntf-store.db        # sqlite file, relative to LOG
//! prometheus_port = 9100        # [none] serve the metrics over HTTP at /metrics (PORT on
//!                               # 127.0.0.1, or IP:PORT)
//! [TRANSPORT]
//! listen = 0.0.0.0              # bind address
//! [APNS]                        # key also from APNS_KEY_FILE / APNS_KEY_ID (they win)
//! topic = chat.simplex.app
//! team_id = 5NN7GUYB6T
//! key_id =
//! key_file =
//! [APNS_TEST]                   # the AT provider, e.g. a mock APNS
//! host = 127.0.0.1
//! port = 8443
//! ca_file = mock-ca.pem         # relative to CFG
//! ```
//!
//! An unknown section or key, or a value that does not parse, is an error naming the file, the
//! section, the key and the line. The defaults live in the `Default` impls here and nowhere
//! else. A directory made by an older version of ours (`ntf-server.toml`, no `.ini`) is still
//! read, as the same structure in TOML.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ini::{Entry, Ini};

mod ports;
pub use ports::Ports;

/// The configuration file name in the configuration directory.
pub const CONFIG_FILE: &str = "ntf-server.ini";
/// The configuration file of our earlier versions, read when there is no [`CONFIG_FILE`].
pub const LEGACY_CONFIG_FILE: &str = "ntf-server.toml";
/// The reference's default configuration directory.
pub const DEFAULT_CFG_PATH: &str = "/etc/opt/simplex-notifications";
/// The reference's default log (state) directory.
pub const DEFAULT_LOG_PATH: &str = "/var/opt/simplex-notifications";
/// The metrics file in the log directory (`prometheusMetricsFile`).
pub const METRICS_FILE: &str = "ntf-server-metrics.txt";
/// The store log in the log directory (`storeLogFilePath`).
pub const STORE_LOG_FILE: &str = "ntf-server-store.log";
/// The reference's default PostgreSQL connection (`defaultNtfDBOpts`).
pub const DEFAULT_DB_CONNECTION: &str = "postgresql://ntf@/ntf_server_store";

/// The configuration and state directories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerPaths {
    /// Configuration and credentials (`NTF_SERVER_CFG_PATH`).
    pub cfg: PathBuf,
    /// Store, logs and metrics (`NTF_SERVER_LOG_PATH`).
    pub log: PathBuf,
}

impl ServerPaths {
    /// Both in `dir`.
    pub fn same(dir: &Path) -> Self {
        Self { cfg: dir.to_path_buf(), log: dir.to_path_buf() }
    }

    /// `--dir` when given, else the reference's environment variables and defaults
    /// (`getEnvPath`: an empty variable counts as unset).
    pub fn from_env(dir: Option<&Path>) -> Self {
        if let Some(dir) = dir {
            return Self::same(dir);
        }
        let env = |name: &str, default: &str| {
            std::env::var_os(name).filter(|v| !v.is_empty()).map_or_else(|| PathBuf::from(default), PathBuf::from)
        };
        Self { cfg: env("NTF_SERVER_CFG_PATH", DEFAULT_CFG_PATH), log: env("NTF_SERVER_LOG_PATH", DEFAULT_LOG_PATH) }
    }

    /// The configuration file.
    pub fn config_file(&self) -> PathBuf {
        self.cfg.join(CONFIG_FILE)
    }
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[TRANSPORT]`: listening and address.
    pub server: ServerSection,
    /// `[STORE_LOG]`: storage and statistics.
    #[serde(default)]
    pub store: StoreSection,
    /// `[AUTH]`: control port passwords.
    #[serde(default)]
    pub auth: AuthSection,
    /// `[SUBSCRIBER]`: how relays are reached.
    #[serde(default)]
    pub subscriber: SubscriberSection,
    /// `[INACTIVE_CLIENTS]`: `None` when `disconnect = off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_clients: Option<InactiveClients>,
    /// `[APNS]`: Apple push providers.
    #[serde(default)]
    pub apns: ApnsSection,
    /// `[APNS_TEST]`: the test push provider (`AT`), when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apns_test: Option<ApnsTestSection>,
    /// `[SCALE_OUT]` (ours): one of several instances on one PostgreSQL database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_out: Option<ScaleOutSection>,
    /// `[WEBPUSH]` (ours; the branch `dev-wp` always has Web Push): Web Push tokens are taken
    /// only when this section is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webpush: Option<WebPushSection>,
}

/// `[SCALE_OUT]` (ours): this instance's id and lease settings (see `server::lease`); needs
/// `db_backend = postgres`. Absent: a single instance, as before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleOutSection {
    /// `instance_id`: unique among the instances sharing the database.
    pub instance_id: String,
    /// `lease_ttl`: seconds a lease holds in the database (default 4).
    pub lease_ttl: u64,
    /// `lease_renew`: seconds between renewals and polls of new subscriptions (default 1; at
    /// most a quarter of `lease_ttl`).
    pub lease_renew: u64,
}

/// `[TRANSPORT]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Host name or address put in the printed server address (`<hostnames>` when absent).
    pub host: String,
    /// The TCP ports (`port`: one, or several separated by commas), each served the same way.
    #[serde(rename = "port")]
    pub ports: Ports,
    /// Address to bind (ours).
    #[serde(default = "default_listen")]
    pub listen: IpAddr,
    /// Log TLS handshake errors (`log_tls_errors`).
    #[serde(default)]
    pub log_tls_errors: bool,
    /// The control port (`control_port`), on loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_port: Option<u16>,
}

fn default_listen() -> IpAddr {
    IpAddr::from([0, 0, 0, 0])
}

/// `[STORE_LOG]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Which backend (`db_backend`, ours).
    #[serde(default)]
    pub backend: StoreBackend,
    /// The SQLite file, relative to the log directory (`db_file`, ours).
    #[serde(default = "default_db_path")]
    pub path: PathBuf,
    /// The PostgreSQL connection string (`db_connection`).
    #[serde(default = "default_db_connection")]
    pub url: String,
    /// The PostgreSQL schema (`db_schema`).
    #[serde(default = "default_schema")]
    pub schema: String,
    /// `db_pool_size` (read and checked; our PostgreSQL store keeps one connection).
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// `enable`: append the reference's store log (`ntf-server-store.log` in the state
    /// directory) while the server runs, a record for each change the store made, next to
    /// whatever store `db_backend` names; opened for appending at start, compacted only by
    /// `start --compact-log`. A write that fails is logged and the command still succeeds
    /// (see `spec/store-log.md`). Also what `database import` requires.
    #[serde(default)]
    pub store_log: bool,
    /// `db_deleted_ttl`, as the reference's code reads it.
    #[serde(default = "default_deleted_ttl")]
    pub deleted_ttl: i64,
    /// `log_stats`: daily statistics file.
    #[serde(default)]
    pub log_stats: bool,
    /// `prometheus_interval`: seconds between writes of the metrics file; `None`: no file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_interval: Option<u64>,
    /// `prometheus_port` (ours): serve the metrics over HTTP at `/metrics` on this address
    /// (`PORT` alone: on 127.0.0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_http: Option<SocketAddr>,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            backend: StoreBackend::default(),
            path: default_db_path(),
            url: default_db_connection(),
            schema: default_schema(),
            pool_size: default_pool_size(),
            store_log: false,
            deleted_ttl: default_deleted_ttl(),
            log_stats: false,
            prometheus_interval: None,
            prometheus_http: None,
        }
    }
}

fn default_db_path() -> PathBuf {
    PathBuf::from("ntf-store.db")
}

fn default_db_connection() -> String {
    DEFAULT_DB_CONNECTION.into()
}

fn default_schema() -> String {
    crate::store::postgres::DEFAULT_SCHEMA.into()
}

fn default_pool_size() -> u32 {
    10
}

/// `86400 * defaultDeletedTTL` (21 days), the reference's default.
fn default_deleted_ttl() -> i64 {
    86400 * 21
}

/// Storage backends (`db_backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// SQLite in the log directory: durable, no setup (what our `init` writes).
    Sqlite,
    /// PostgreSQL with the reference's `ntf_server` schema (the reference's only store, so
    /// the default for a file without `db_backend`).
    #[default]
    Postgres,
    /// In memory: everything is lost on restart.
    Memory,
}

impl StoreBackend {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::Memory => "memory",
        }
    }
}

/// `[AUTH]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// `control_port_admin_password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_password: Option<String>,
    /// `control_port_user_password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_password: Option<String>,
}

pub use ref_client::socks::{HostMode, SocksMode, SocksProxy};

/// `[SUBSCRIBER]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberSection {
    /// `socks_proxy`: the SOCKS5 proxy and its credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socks_proxy: Option<SocksProxy>,
    /// `socks_mode`.
    #[serde(default)]
    pub socks_mode: SocksMode,
    /// `host_mode`.
    #[serde(default)]
    pub host_mode: HostMode,
    /// `required_host_mode`: no fallback to the other kind of host.
    #[serde(default)]
    pub required_host_mode: bool,
    /// `own_server_domains`: suffixes of the relays counted as own in the metrics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub own_server_domains: Vec<String>,
    /// `use_service_credentials`: service subscriptions with the server certificate.
    #[serde(default)]
    pub use_service_credentials: bool,
}

/// `[INACTIVE_CLIENTS]` with `disconnect = on` (`ExpirationConfig`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InactiveClients {
    /// Seconds without traffic after which a client is disconnected (`ttl`).
    pub ttl: u64,
    /// Seconds between checks (`check_interval`).
    pub check_interval: u64,
}

impl Default for InactiveClients {
    /// `defaultInactiveClientExpiration`: 12 hours, checked every hour.
    fn default() -> Self {
        Self { ttl: 43200, check_interval: 3600 }
    }
}

/// `[APNS]` (ours; the reference has these built in, the key from the environment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsSection {
    /// The app bundle id (`apns-topic`).
    pub topic: String,
    /// The Apple team id (JWT `iss`).
    pub team_id: String,
    /// The key id (JWT `kid`); `APNS_KEY_ID` overrides it.
    #[serde(default)]
    pub key_id: String,
    /// The .p8 key file; `APNS_KEY_FILE` overrides it. Empty: Apple providers are disabled.
    #[serde(default)]
    pub key_file: String,
}

impl Default for ApnsSection {
    /// `defaultAPNSPushClientConfig`'s `appName` and `appTeamId`.
    fn default() -> Self {
        Self { topic: "chat.simplex.app".into(), team_id: "5NN7GUYB6T".into(), key_id: String::new(), key_file: String::new() }
    }
}

/// `[APNS_TEST]` (ours).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsTestSection {
    /// Host of the test provider.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// PEM file of the CA that signs its certificate (relative to the configuration directory).
    pub ca_file: PathBuf,
}

/// `[WEBPUSH]` (ours): the Web Push provider of the branch `dev-wp`.
///
/// ```ini
/// [WEBPUSH]
/// # ES256 key for VAPID, PEM (SEC 1 or PKCS #8); made at the first start when missing
/// vapid_key_file = vapid.privkey
/// # push hosts allowed, space-separated: "*" (any, as the branch), "*.domain", or a host
/// allowed_hosts = *
/// # optional: an extra CA to trust for push services (e.g. a mock), PEM
/// # ca_file = push-ca.pem
/// # seconds a push may take, waiting for a slot included
/// timeout = 10
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebPushSection {
    /// The VAPID key file (relative to the configuration directory).
    pub vapid_key_file: PathBuf,
    /// Allowed push host patterns.
    pub allowed_hosts: Vec<String>,
    /// An extra CA file (relative to the configuration directory).
    pub ca_file: Option<PathBuf>,
    /// Seconds a push may take.
    pub timeout: u64,
}

impl Default for WebPushSection {
    fn default() -> Self {
        Self { vapid_key_file: "vapid.privkey".into(), allowed_hosts: vec!["*".into()], ca_file: None, timeout: 10 }
    }
}

/// The host printed when `[TRANSPORT] host` is absent (as the reference).
pub const NO_HOST: &str = "<hostnames>";

impl Config {
    /// A new configuration for `host:port`, as our `init` writes it (SQLite store).
    pub fn new(host: &str, port: u16) -> Self {
        Self {
            server: ServerSection { host: host.into(), ports: Ports::one(port), listen: default_listen(), log_tls_errors: false, control_port: None },
            store: StoreSection { backend: StoreBackend::Sqlite, ..StoreSection::default() },
            auth: AuthSection::default(),
            subscriber: SubscriberSection::default(),
            inactive_clients: None,
            apns: ApnsSection::default(),
            apns_test: None,
            scale_out: None,
            webpush: None,
        }
    }

    /// The socket addresses to bind, one for each port, in the order of `port`.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.server.ports.as_slice().iter().map(|p| SocketAddr::new(self.server.listen, *p)).collect()
    }

    /// Reads `DIR/ntf-server.ini` (or an older `DIR/ntf-server.toml`).
    ///
    /// # Errors
    /// A message naming the file for a missing or unreadable file, and the section, key and
    /// line for a bad setting.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let legacy = dir.join(LEGACY_CONFIG_FILE);
        if !path.exists() && legacy.exists() {
            let text = std::fs::read_to_string(&legacy).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", legacy.display()))?;
            return toml::from_str(&text).map_err(|e| anyhow::anyhow!("bad configuration in {}: {e}", legacy.display()));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!("server is not initialized: cannot read {}: {e} (run `ntf-server init` first)", path.display())
        })?;
        Self::from_ini_text(&text, &path)
    }

    /// Parses the text of an INI file; `path` names it in errors.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn from_ini_text(text: &str, path: &Path) -> anyhow::Result<Self> {
        let ini = Ini::parse(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        FromIni { ini: &ini, path }.config().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Writes `DIR/ntf-server.ini`.
    ///
    /// # Errors
    /// IO errors, naming the file.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(CONFIG_FILE);
        std::fs::write(&path, self.to_ini()).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
    }

    /// The INI text: the reference's sections and keys in its order, then ours.
    pub fn to_ini(&self) -> String {
        let d = StoreSection::default();
        let (s, st, sub) = (&self.server, &self.store, &self.subscriber);
        let mut o = String::new();
        let opt = |o: &mut String, key: &str, v: Option<String>, example: &str| match v {
            Some(v) => {
                let _ = writeln!(o, "{key} = {v}");
            }
            None => {
                let _ = writeln!(o, "# {key} = {example}");
            }
        };
        let on = |b: bool| if b { "on" } else { "off" };
        let _ = writeln!(o, "[STORE_LOG]\n# Append every change to the store log (ntf-server-store.log) as well as the database.\nenable = {}\n", on(st.store_log));
        let _ = writeln!(o, "# Store: postgres (the reference's), sqlite (file db_file in the log directory) or memory.");
        let _ = writeln!(o, "db_backend = {}", st.backend.name());
        let _ = writeln!(o, "db_file = {}\n", st.path.display());
        let _ = writeln!(o, "# PostgreSQL connection.");
        opt(&mut o, "db_connection", (st.url != d.url).then(|| st.url.clone()), &d.url);
        opt(&mut o, "db_schema", (st.schema != d.schema).then(|| st.schema.clone()), &d.schema);
        opt(&mut o, "db_pool_size", (st.pool_size != d.pool_size).then(|| st.pool_size.to_string()), &d.pool_size.to_string());
        let _ = writeln!(o, "\n# Deleted entities are kept this long.");
        opt(&mut o, "db_deleted_ttl", (st.deleted_ttl != d.deleted_ttl).then(|| st.deleted_ttl.to_string()), "21");
        let _ = writeln!(o, "\nlog_stats = {}\n\n# Seconds between writes of the Prometheus metrics file.", on(st.log_stats));
        opt(&mut o, "prometheus_interval", st.prometheus_interval.map(|v| v.to_string()), "60");
        let _ = writeln!(o, "# Serve the metrics over HTTP at /metrics: PORT (on 127.0.0.1) or IP:PORT.");
        opt(&mut o, "prometheus_port", st.prometheus_http.map(|v| v.to_string()), "9100");
        let _ = writeln!(o, "\n[AUTH]");
        opt(&mut o, "control_port_admin_password", self.auth.admin_password.clone(), "");
        opt(&mut o, "control_port_user_password", self.auth.user_password.clone(), "");
        let _ = writeln!(o, "\n[TRANSPORT]\n# The host is only printed in the server address.");
        let _ = writeln!(o, "host = {}\nport = {}\nlog_tls_errors = {}\n", s.host, s.ports, on(s.log_tls_errors));
        let _ = writeln!(o, "# Websockets are not served.\nwebsockets = off\n");
        opt(&mut o, "control_port", s.control_port.map(|v| v.to_string()), "5227");
        let _ = writeln!(o, "# Address to bind.");
        opt(&mut o, "listen", (s.listen != default_listen()).then(|| s.listen.to_string()), "0.0.0.0");
        let _ = writeln!(o, "\n[SUBSCRIBER]\n# host_mode: public or onion; socks_mode: onion or always.");
        opt(&mut o, "host_mode", (sub.host_mode == HostMode::Onion).then(|| "onion".into()), "public");
        opt(&mut o, "required_host_mode", sub.required_host_mode.then(|| "on".into()), "off");
        opt(&mut o, "socks_proxy", sub.socks_proxy.as_ref().map(ToString::to_string), "127.0.0.1:9050");
        opt(&mut o, "socks_mode", (sub.socks_mode == SocksMode::Always).then(|| "always".into()), "onion");
        opt(&mut o, "own_server_domains", (!sub.own_server_domains.is_empty()).then(|| sub.own_server_domains.join(" ")), "");
        opt(&mut o, "use_service_credentials", sub.use_service_credentials.then(|| "on".into()), "off");
        let ic = self.inactive_clients.unwrap_or_default();
        let _ = writeln!(o, "\n[INACTIVE_CLIENTS]\ndisconnect = {}", on(self.inactive_clients.is_some()));
        let prefix = if self.inactive_clients.is_some() { "" } else { "# " };
        let _ = writeln!(o, "{prefix}ttl = {}\n{prefix}check_interval = {}", ic.ttl, ic.check_interval);
        let a = &self.apns;
        let _ = writeln!(o, "\n[APNS]\n# APNS_KEY_FILE and APNS_KEY_ID, when set, win over key_file and key_id.");
        let _ = writeln!(o, "topic = {}\nteam_id = {}\nkey_id = {}\nkey_file = {}", a.topic, a.team_id, a.key_id, a.key_file);
        if let Some(t) = &self.apns_test {
            let _ = writeln!(o, "\n[APNS_TEST]\nhost = {}\nport = {}\nca_file = {}", t.host, t.port, t.ca_file.display());
        }
        if let Some(w) = &self.webpush {
            let _ = writeln!(o, "\n[WEBPUSH]\nvapid_key_file = {}\nallowed_hosts = {}", w.vapid_key_file.display(), w.allowed_hosts.join(" "));
            opt(&mut o, "ca_file", w.ca_file.as_ref().map(|p| p.display().to_string()), "push-ca.pem");
            let _ = writeln!(o, "timeout = {}", w.timeout);
        }
        if let Some(x) = &self.scale_out {
            let _ = writeln!(o, "\n[SCALE_OUT]\ninstance_id = {}\nlease_ttl = {}\nlease_renew = {}", x.instance_id, x.lease_ttl, x.lease_renew);
        }
        o
    }
}

/// The known sections and keys; anything else is an error.
const KNOWN: &[(&str, &[&str])] = &[
    (
        "STORE_LOG",
        &[
            "enable",
            "db_connection",
            "db_schema",
            "db_pool_size",
            "db_deleted_ttl",
            "log_stats",
            "prometheus_interval",
            "db_backend",
            "db_file",
            "prometheus_port",
        ],
    ),
    ("AUTH", &["control_port_admin_password", "control_port_user_password"]),
    ("TRANSPORT", &["host", "port", "log_tls_errors", "websockets", "control_port", "listen"]),
    (
        "SUBSCRIBER",
        &["socks_proxy", "socks_mode", "host_mode", "required_host_mode", "own_server_domains", "use_service_credentials"],
    ),
    ("INACTIVE_CLIENTS", &["disconnect", "ttl", "check_interval"]),
    ("APNS", &["topic", "team_id", "key_id", "key_file"]),
    ("APNS_TEST", &["host", "port", "ca_file"]),
    ("SCALE_OUT", &["instance_id", "lease_ttl", "lease_renew"]),
    ("WEBPUSH", &["vapid_key_file", "allowed_hosts", "ca_file", "timeout"]),
];

struct FromIni<'a> {
    ini: &'a Ini,
    path: &'a Path,
}

fn bad(section: &str, e: &Entry, what: &str) -> anyhow::Error {
    anyhow::anyhow!("[{section}] {} (line {}): {what}, found {:?}", e.key, e.line, e.value)
}

impl FromIni<'_> {
    fn config(&self) -> anyhow::Result<Config> {
        let _ = self.path;
        for s in &self.ini.sections {
            let Some((_, keys)) = KNOWN.iter().find(|(name, _)| *name == s.name) else {
                let names: Vec<_> = KNOWN.iter().map(|(n, _)| *n).collect();
                anyhow::bail!("[{}] (line {}): unknown section (known: {})", s.name, s.line, names.join(", "));
            };
            if let Some(e) = s.entries.iter().find(|e| !keys.contains(&e.key.as_str())) {
                anyhow::bail!("[{}] {} (line {}): unknown setting (known: {})", s.name, e.key, e.line, keys.join(", "));
            }
        }
        let d = StoreSection::default();
        let store = StoreSection {
            backend: self.parse("STORE_LOG", "db_backend", "postgres, sqlite or memory", |v| match v {
                "postgres" => Some(StoreBackend::Postgres),
                "sqlite" => Some(StoreBackend::Sqlite),
                "memory" => Some(StoreBackend::Memory),
                _ => None,
            })?
            .unwrap_or_default(),
            path: self.text("STORE_LOG", "db_file").map_or(d.path, PathBuf::from),
            url: self.text("STORE_LOG", "db_connection").map_or(d.url, str::to_string),
            schema: self.parse("STORE_LOG", "db_schema", "a schema name (letters, digits, _)", |v| {
                (!v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')).then(|| v.to_string())
            })?
            .unwrap_or(d.schema),
            pool_size: self.number("STORE_LOG", "db_pool_size")?.unwrap_or(d.pool_size),
            store_log: self.on_off("STORE_LOG", "enable")?.unwrap_or(false),
            deleted_ttl: self.number("STORE_LOG", "db_deleted_ttl")?.unwrap_or(d.deleted_ttl),
            log_stats: self.on_off("STORE_LOG", "log_stats")?.unwrap_or(false),
            prometheus_interval: self.positive("STORE_LOG", "prometheus_interval")?,
            prometheus_http: self.parse("STORE_LOG", "prometheus_port", "PORT or IP:PORT", |v| {
                v.parse::<u16>().map(|p| SocketAddr::from(([127, 0, 0, 1], p))).ok().or_else(|| v.parse().ok())
            })?,
        };
        let auth = AuthSection {
            admin_password: self.password("control_port_admin_password")?,
            user_password: self.password("control_port_user_password")?,
        };
        let port_entry = self.ini.entry("TRANSPORT", "port").ok_or_else(|| anyhow::anyhow!("[TRANSPORT] port: required setting is missing"))?;
        let ports = Ports::parse(&port_entry.value)
            .map_err(|why| bad("TRANSPORT", port_entry, &format!("expected a TCP port or ports separated by commas: {why}")))?;
        self.websockets(&ports)?;
        let server = ServerSection {
            host: self.text("TRANSPORT", "host").filter(|h| !h.is_empty()).unwrap_or(NO_HOST).to_string(),
            ports,
            listen: self.parse("TRANSPORT", "listen", "an IP address", |v| v.parse().ok())?.unwrap_or_else(default_listen),
            log_tls_errors: self.on_off("TRANSPORT", "log_tls_errors")?.unwrap_or(false),
            control_port: self.number("TRANSPORT", "control_port")?,
        };
        let subscriber = SubscriberSection {
            socks_proxy: self.parse("SUBSCRIBER", "socks_proxy", "[user:password@][IP address][:port] of a SOCKS5 proxy", |v| v.parse::<SocksProxy>().ok())?,
            socks_mode: self.parse("SUBSCRIBER", "socks_mode", "onion or always", |v| match v {
                "onion" => Some(SocksMode::Onion),
                "always" => Some(SocksMode::Always),
                _ => None,
            })?
            .unwrap_or_default(),
            host_mode: self.parse("SUBSCRIBER", "host_mode", "public or onion", |v| match v {
                "public" => Some(HostMode::Public),
                "onion" => Some(HostMode::Onion),
                _ => None,
            })?
            .unwrap_or_default(),
            required_host_mode: self.on_off("SUBSCRIBER", "required_host_mode")?.unwrap_or(false),
            own_server_domains: self.text("SUBSCRIBER", "own_server_domains").map_or_else(Vec::new, |v| v.split_whitespace().map(str::to_string).collect()),
            use_service_credentials: self.on_off("SUBSCRIBER", "use_service_credentials")?.unwrap_or(false),
        };
        let inactive_clients = if self.on_off("INACTIVE_CLIENTS", "disconnect")?.unwrap_or(false) {
            let required = |key: &str| -> anyhow::Result<u64> {
                self.positive("INACTIVE_CLIENTS", key)?
                    .ok_or_else(|| anyhow::anyhow!("[INACTIVE_CLIENTS] {key}: required when disconnect = on"))
            };
            Some(InactiveClients { ttl: required("ttl")?, check_interval: required("check_interval")? })
        } else {
            None
        };
        let da = ApnsSection::default();
        let apns = ApnsSection {
            topic: self.text("APNS", "topic").map_or(da.topic, str::to_string),
            team_id: self.text("APNS", "team_id").map_or(da.team_id, str::to_string),
            key_id: self.text("APNS", "key_id").map_or(da.key_id, str::to_string),
            key_file: self.text("APNS", "key_file").map_or(da.key_file, str::to_string),
        };
        let apns_test = match self.ini.section("APNS_TEST") {
            None => None,
            Some(_) => {
                let need = |key: &str| {
                    self.text("APNS_TEST", key).ok_or_else(|| anyhow::anyhow!("[APNS_TEST] {key}: required setting is missing"))
                };
                need("port")?;
                Some(ApnsTestSection {
                    host: need("host")?.to_string(),
                    port: self.number("APNS_TEST", "port")?.unwrap_or(0),
                    ca_file: need("ca_file")?.into(),
                })
            }
        };
        let webpush = self.webpush()?;
        let scale_out = self.scale_out(&store)?;
        Ok(Config { server, store, auth, subscriber, inactive_clients, apns, apns_test, scale_out, webpush })
    }

    /// `[TRANSPORT] websockets`: `iniTransports` serves websockets on port 80 for `on`, and for
    /// a list of ports on those that are not TLS ports (`ports ws \\ smpPorts`). We serve no
    /// websockets, so only the values for which the reference serves none either are taken:
    /// `off`, or ports that are all TLS ports.
    fn websockets(&self, tls: &Ports) -> anyhow::Result<()> {
        let Some(e) = self.ini.entry("TRANSPORT", "websockets") else { return Ok(()) };
        if e.value == "off" {
            return Ok(());
        }
        let why = match Ports::parse(&e.value) {
            _ if e.value == "on" => "`on` serves them on port 80".to_string(),
            Ok(ws) => match ws.as_slice().iter().find(|p| !tls.contains(**p)) {
                None => return Ok(()),
                Some(p) => format!("port {p} is not one of `port`"),
            },
            Err(why) => why,
        };
        Err(bad("TRANSPORT", e, &format!("`off` or ports among `port` (websockets are not served; {why})")))
    }

    /// `[WEBPUSH]`: absent -> no Web Push; every key has a default.
    fn webpush(&self) -> anyhow::Result<Option<WebPushSection>> {
        if self.ini.section("WEBPUSH").is_none() {
            return Ok(None);
        }
        let d = WebPushSection::default();
        let file = |key: &str| self.parse("WEBPUSH", key, "a file name", |v| (!v.is_empty()).then(|| PathBuf::from(v)));
        let allowed_hosts = self.parse("WEBPUSH", "allowed_hosts", "push host patterns: \"*\", \"*.domain\" or host names, space-separated", |v| {
            let hosts: Vec<String> = v.split_whitespace().map(str::to_string).collect();
            (!hosts.is_empty() && hosts.iter().all(|h| crate::webpush::HostPattern::parse(h).is_ok())).then_some(hosts)
        })?;
        Ok(Some(WebPushSection {
            vapid_key_file: file("vapid_key_file")?.unwrap_or(d.vapid_key_file),
            allowed_hosts: allowed_hosts.unwrap_or(d.allowed_hosts),
            ca_file: file("ca_file")?,
            timeout: self.positive("WEBPUSH", "timeout")?.unwrap_or(d.timeout),
        }))
    }

    fn scale_out(&self, store: &StoreSection) -> anyhow::Result<Option<ScaleOutSection>> {
        if self.ini.section("SCALE_OUT").is_none() {
            return Ok(None);
        }
        let instance_id = self
            .text("SCALE_OUT", "instance_id")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| anyhow::anyhow!("[SCALE_OUT] instance_id: required setting is missing"))?
            .to_string();
        anyhow::ensure!(store.backend == StoreBackend::Postgres, "[SCALE_OUT] needs [STORE_LOG] db_backend = postgres");
        let lease_ttl = self.positive("SCALE_OUT", "lease_ttl")?.unwrap_or(4);
        let lease_renew = self.positive("SCALE_OUT", "lease_renew")?.unwrap_or(1);
        // a lease not renewed is let go by its holder within a quarter of lease_ttl of its
        // local deadline (3/4 lease_ttl), so at most one renewal late is still in time
        anyhow::ensure!(
            lease_renew.saturating_mul(4) <= lease_ttl,
            "[SCALE_OUT] lease_renew ({lease_renew}) must be at most a quarter of lease_ttl ({lease_ttl})"
        );
        Ok(Some(ScaleOutSection { instance_id, lease_ttl, lease_renew }))
    }

    fn text(&self, section: &str, key: &str) -> Option<&str> {
        self.ini.entry(section, key).map(|e| e.value.as_str())
    }

    fn parse<T>(&self, section: &str, key: &str, what: &str, f: impl Fn(&str) -> Option<T>) -> anyhow::Result<Option<T>> {
        match self.ini.entry(section, key) {
            None => Ok(None),
            Some(e) => f(&e.value).map(Some).ok_or_else(|| bad(section, e, &format!("expected {what}"))),
        }
    }

    /// `iniOnOff`: exactly `on` or `off`.
    fn on_off(&self, section: &str, key: &str) -> anyhow::Result<Option<bool>> {
        self.parse(section, key, "on or off", |v| match v {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        })
    }

    fn number<T: std::str::FromStr>(&self, section: &str, key: &str) -> anyhow::Result<Option<T>> {
        self.parse(section, key, &format!("a number ({})", std::any::type_name::<T>()), |v| v.parse().ok())
    }

    fn positive(&self, section: &str, key: &str) -> anyhow::Result<Option<u64>> {
        self.parse(section, key, "a positive number of seconds", |v| v.parse().ok().filter(|n| *n > 0))
    }

    /// `BasicAuth`: printable ASCII without spaces and `@`; an empty value counts as unset.
    fn password(&self, key: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .parse("AUTH", key, "a password of printable ASCII without spaces or '@'", |v| {
                v.bytes().all(|b| b.is_ascii_graphic() && b != b'@').then(|| v.to_string())
            })?
            .filter(|p| !p.is_empty()))
    }
}

#[cfg(test)]
mod tests;
