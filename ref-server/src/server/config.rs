//! The server directory and its configuration file.
//!
//! ```text
//! DIR/ntf-server.toml   configuration (below)
//! DIR/ca.crt ca.key     offline CA certificate and key (identity = SHA-256 of ca.crt DER)
//! DIR/server.crt .key   online TLS certificate and key, signed by the CA
//! DIR/fingerprint       the key hash, base64url
//! ```
//!
//! ```toml
//! [server]
//! host = "127.0.0.1"          # host in the printed address ntf://<key hash>@host:port
//! port = 443
//! listen = "0.0.0.0"          # bind address
//!
//! [store]
//! backend = "sqlite"          # "sqlite" (DIR/ntf-store.db), "postgres" (url, schema), "memory"
//! # path = "ntf-store.db"     # sqlite file, relative to DIR
//! # url = "postgresql://postgres@127.0.0.1:5432/ntf"   # postgres
//! # schema = "ntf_server"
//!
//! [apns]                      # Apple providers (AP, AD); key also from APNS_KEY_FILE / APNS_KEY_ID
//! topic = "chat.simplex.app"
//! team_id = "5NN7GUYB6T"
//! key_id = ""
//! key_file = ""
//!
//! [apns_test]                 # optional: the AT provider, e.g. a mock APNS
//! host = "127.0.0.1"
//! port = 8443
//! ca_file = "mock-ca.pem"
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The configuration file name in the server directory.
pub const CONFIG_FILE: &str = "ntf-server.toml";

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listening and address.
    pub server: ServerSection,
    /// Storage backend.
    #[serde(default)]
    pub store: StoreSection,
    /// Apple push providers.
    #[serde(default)]
    pub apns: ApnsSection,
    /// The test push provider (`AT`), when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apns_test: Option<ApnsTestSection>,
}

/// `[server]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Host name or address put in the server address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Address to bind.
    #[serde(default = "default_listen")]
    pub listen: IpAddr,
}

fn default_listen() -> IpAddr {
    IpAddr::from([0, 0, 0, 0])
}

/// `[store]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Which backend.
    #[serde(default)]
    pub backend: StoreBackend,
    /// The SQLite file, relative to the server directory.
    #[serde(default = "default_db_path")]
    pub path: PathBuf,
    /// The PostgreSQL connection string (`postgres` backend).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// The PostgreSQL schema (`postgres` backend; the reference's `ntf_server`).
    #[serde(default = "default_schema")]
    pub schema: String,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self { backend: StoreBackend::default(), path: default_db_path(), url: String::new(), schema: default_schema() }
    }
}

fn default_db_path() -> PathBuf {
    PathBuf::from("ntf-store.db")
}

fn default_schema() -> String {
    crate::store::postgres::DEFAULT_SCHEMA.into()
}

/// Storage backends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// SQLite in the server directory: durable, no setup (the default).
    #[default]
    Sqlite,
    /// PostgreSQL with the reference's `ntf_server` schema.
    Postgres,
    /// In memory: everything is lost on restart.
    Memory,
}

/// `[apns]`.
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
    fn default() -> Self {
        Self { topic: "chat.simplex.app".into(), team_id: "5NN7GUYB6T".into(), key_id: String::new(), key_file: String::new() }
    }
}

/// `[apns_test]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsTestSection {
    /// Host of the test provider.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// PEM file of the CA that signs its certificate (relative to the server directory).
    pub ca_file: PathBuf,
}

impl Config {
    /// A new configuration for `host:port`.
    pub fn new(host: &str, port: u16) -> Self {
        Self {
            server: ServerSection { host: host.into(), port, listen: default_listen() },
            store: StoreSection::default(),
            apns: ApnsSection::default(),
            apns_test: None,
        }
    }

    /// The socket address to bind.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.server.listen, self.server.port)
    }

    /// Reads `DIR/ntf-server.toml`.
    ///
    /// # Errors
    /// A message naming the file for a missing or unreadable file or a bad setting.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e} (run `ntf-server init --dir {}` first)", path.display(), dir.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("bad configuration in {}: {e}", path.display()))
    }

    /// Writes `DIR/ntf-server.toml`.
    ///
    /// # Errors
    /// IO errors, naming the file.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(CONFIG_FILE);
        let text = toml::to_string_pretty(self)?;
        std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::new("ntf.example.com", 5443);
        c.apns_test = Some(ApnsTestSection { host: "127.0.0.1".into(), port: 9, ca_file: "ca.pem".into() });
        c.save(dir.path()).unwrap();
        assert_eq!(Config::load(dir.path()).unwrap(), c);
        std::fs::write(dir.path().join(CONFIG_FILE), "[server]\nhost='h'\nport=1\nbogus=2\n").unwrap();
        let e = Config::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("bad configuration") && e.contains("bogus"), "{e}");
        let e = Config::load(&dir.path().join("missing")).unwrap_err().to_string();
        assert!(e.contains("ntf-server init"), "{e}");
    }
}
