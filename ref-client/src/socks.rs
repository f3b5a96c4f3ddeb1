//! Which host of a relay address is used, and when a SOCKS5 proxy carries the connection (the
//! reference's `NetworkConfig` fields `socksProxy`, `socksMode`, `hostMode` and
//! `requiredHostMode`; `chooseTransportHost`, `transportClientConfig`,
//! `clientSocksCredentials` and `connectSocksClient` in `Simplex.Messaging.Client` and
//! `Simplex.Messaging.Transport.Client`).
//!
//! ```text
//! socks-proxy = [socks-auth] [ip-address] [":" port]   ; default 127.0.0.1, port 9050
//! socks-auth  = username ":" password "@"              ; these credentials
//!             / "@"                                    ; no credentials
//!             / ""                                     ; isolate: the username below (default)
//! isolate-username = base64(sha256("1:" ++ show(session start time)))   ; password empty
//! ```
//!
//! The host: `host_mode = public` takes the first host that is not `.onion`; `onion` takes
//! the first `.onion` host when a proxy is set (the first public one otherwise). When there
//! is no such host, the first host of the address is used, or, with `required_host_mode`,
//! the connection fails. The proxy: `socks_mode = always` uses it for every host, `onion`
//! only for `.onion` hosts. Through the proxy the host is sent as it is written (a domain or
//! onion name is resolved by the proxy); the port is the address's, or 5223.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::SystemTime;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use smp_proto::server::TransportHost;

/// The credentials sent to the proxy (`SocksAuth`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SocksAuth {
    /// A username per session start, so that the proxy (Tor's `IsolateSOCKSAuth`) gives each
    /// run its own circuits (`SocksIsolateByAuth`, the default).
    #[default]
    Isolate,
    /// No credentials (`SocksAuthNull`, written `@`).
    Null,
    /// Fixed credentials (`SocksAuthUsername`, written `user:password@`).
    Username {
        /// The username.
        username: String,
        /// The password.
        password: String,
    },
}

/// `socks_proxy`: a SOCKS5 proxy and the credentials for it (`SocksProxyWithAuth`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocksProxy {
    /// The proxy's address.
    pub addr: SocketAddr,
    /// The credentials.
    pub auth: SocksAuth,
}

/// An IPv4 or IPv6 address (default 127.0.0.1), an optional `:port` (default 9050). We also
/// take `localhost`, which the reference refuses.
fn parse_addr(v: &str) -> Option<SocketAddr> {
    if let Ok(a) = v.parse::<SocketAddr>() {
        return Some(a);
    }
    let (host, port) = match v.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => (h, p.parse().ok()?),
        _ => (v, 9050),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = match host {
        "" | "localhost" => IpAddr::from([127, 0, 0, 1]),
        h => h.parse().ok()?,
    };
    Some(SocketAddr::new(ip, port))
}

impl FromStr for SocksProxy {
    type Err = ();

    /// The reference's `strP`: `user:password@` is tried first, then `@`, then no credentials.
    fn from_str(v: &str) -> Result<Self, ()> {
        let with_user = v.split_once(':').and_then(|(user, rest)| {
            let (pass, addr) = rest.split_once('@')?;
            Some((SocksAuth::Username { username: user.into(), password: pass.into() }, addr))
        });
        let (auth, addr) = match with_user {
            Some(x) => x,
            None => match v.strip_prefix('@') {
                Some(addr) => (SocksAuth::Null, addr),
                None => (SocksAuth::Isolate, v),
            },
        };
        Ok(Self { addr: parse_addr(addr).ok_or(())?, auth })
    }
}

impl fmt::Display for SocksProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.auth {
            SocksAuth::Isolate => {}
            SocksAuth::Null => f.write_str("@")?,
            SocksAuth::Username { username, password } => write!(f, "{username}:{password}@")?,
        }
        write!(f, "{}", self.addr)
    }
}

impl Serialize for SocksProxy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SocksProxy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = String::deserialize(d)?;
        v.parse().map_err(|()| serde::de::Error::custom(format!("bad SOCKS proxy {v:?}")))
    }
}

/// `socks_mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocksMode {
    /// The proxy for every host (`SMAlways`).
    Always,
    /// The proxy only for `.onion` hosts (`SMOnion`, the NTF server's default).
    #[default]
    Onion,
}

/// `host_mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostMode {
    /// The first public host (`HMPublic`, the NTF server's default).
    #[default]
    Public,
    /// The first `.onion` host when a proxy is set (`HMOnionViaSocks`).
    Onion,
}

/// How relays are reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// `socks_proxy`.
    pub socks_proxy: Option<SocksProxy>,
    /// `socks_mode`.
    pub socks_mode: SocksMode,
    /// `host_mode`.
    pub host_mode: HostMode,
    /// `required_host_mode`: fail rather than use the first host.
    pub required_host_mode: bool,
    /// The isolating username ([`isolation_username`] of when the client agent started).
    pub isolation_username: String,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            socks_proxy: None,
            socks_mode: SocksMode::default(),
            host_mode: HostMode::default(),
            required_host_mode: false,
            isolation_username: isolation_username(SystemTime::now()),
        }
    }
}

fn is_onion(h: &TransportHost) -> bool {
    matches!(h, TransportHost::Onion(_))
}

impl NetworkConfig {
    /// The host to connect to (`chooseTransportHost`); `None` when `required_host_mode` finds
    /// no host of the wanted kind (`PCEIncompatibleHost`) or there are no hosts.
    pub fn choose_host<'a>(&self, hosts: &'a [TransportHost]) -> Option<&'a TransportHost> {
        let onion = self.host_mode == HostMode::Onion && self.socks_proxy.is_some();
        let wanted = hosts.iter().find(|h| is_onion(h) == onion);
        if self.required_host_mode {
            wanted
        } else {
            wanted.or(hosts.first())
        }
    }

    /// The proxy for a connection to `host` (`transportClientConfig`'s `useSocksProxy`).
    pub fn proxy_for(&self, host: &TransportHost) -> Option<&SocksProxy> {
        self.socks_proxy
            .as_ref()
            .filter(|_| self.socks_mode == SocksMode::Always || is_onion(host))
    }

    /// The username and password sent to the proxy (`clientSocksCredentials`).
    pub fn credentials(&self) -> Option<(String, String)> {
        match &self.socks_proxy.as_ref()?.auth {
            SocksAuth::Isolate => Some((self.isolation_username.clone(), String::new())),
            SocksAuth::Null => None,
            SocksAuth::Username { username, password } => {
                Some((username.clone(), password.clone()))
            }
        }
    }
}

/// Haskell's `show` of a `UTCTime`: `2026-12-06 22:21:44.123456789 UTC`, the fraction
/// without trailing zeros (none when whole seconds).
pub fn show_utc_time(t: SystemTime) -> String {
    let iso = humantime::format_rfc3339_nanos(t).to_string();
    let iso = iso.trim_end_matches('Z').replacen('T', " ", 1);
    let iso = match iso.split_once('.') {
        Some((s, frac)) => match frac.trim_end_matches('0') {
            "" => s.to_string(),
            f => format!("{s}.{f}"),
        },
        None => iso,
    };
    format!("{iso} UTC")
}

/// The isolating username of a client agent started at `started` (`clientSocksCredentials`
/// with the NTF server's transport sessions: user 1, `TSMSession`): the standard base64 of
/// SHA-256 of `1:` and the start time as [`show_utc_time`] writes it.
pub fn isolation_username(started: SystemTime) -> String {
    let digest = Sha256::digest(format!("1:{}", show_utc_time(started)).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

#[cfg(test)]
mod tests;
