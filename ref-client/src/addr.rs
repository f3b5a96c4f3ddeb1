//! Reaching a server address: the hosts of `smp://` / `ntf://` addresses.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use smp_proto::server::{ProtocolServer, Scheme, TransportHost};

use crate::socks::NetworkConfig;
use crate::transport::Dial;

/// The IP address of an IP host.
fn host_ip(h: &TransportHost) -> Option<IpAddr> {
    match h {
        TransportHost::Ipv4(a) => Some(IpAddr::from(*a)),
        TransportHost::Ipv6(a) => Some(IpAddr::from(*a)),
        _ => None,
    }
}

/// The address's port, or `default_port` when it has none.
fn server_port<S: Scheme>(server: &ProtocolServer<S>, default_port: u16) -> Result<u16, String> {
    if server.port().is_empty() {
        return Ok(default_port);
    }
    server.port().parse().map_err(|_| format!("bad port {}", server.port()))
}

/// The socket addresses of a host: its IP, or a domain's (or onion name's) resolved ones.
async fn resolve(h: &TransportHost, port: u16) -> Result<Vec<SocketAddr>, String> {
    match (h, host_ip(h)) {
        (_, Some(ip)) => Ok(vec![SocketAddr::new(ip, port)]),
        (TransportHost::Domain(d) | TransportHost::Onion(d), None) => {
            match tokio::net::lookup_host((d.as_str(), port)).await {
                Ok(a) => Ok(a.collect()),
                Err(e) => Err(format!("{d}: {e}")),
            }
        }
        _ => Ok(Vec::new()),
    }
}

/// Tries `connect` on each address of `server`'s hosts in order (domains resolved, onion hosts
/// skipped) and returns the first success, or the last failure. `address_error` makes the
/// error for a bad port or a name that does not resolve.
///
/// # Errors
/// The last failure, or "no reachable host" when there was no address to try.
pub(crate) async fn connect_first<S: Scheme, T, E, Fut>(
    server: &ProtocolServer<S>,
    default_port: u16,
    address_error: impl Fn(String) -> E,
    mut connect: impl FnMut(SocketAddr) -> Fut,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let port = server_port(server, default_port).map_err(&address_error)?;
    let mut last = address_error("no reachable host".into());
    for h in server.hosts().iter().filter(|h| !matches!(h, TransportHost::Onion(_))) {
        let addrs = match resolve(h, port).await {
            Ok(a) => a,
            Err(e) => {
                last = address_error(e);
                continue;
            }
        };
        for addr in addrs {
            match connect(addr).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
    }
    Err(last)
}

/// Connects to the one host of `server` that `network` chooses (the reference's
/// `getProtocolClient` with `chooseTransportHost`): through the SOCKS5 proxy when `network`
/// uses it for that host (one attempt, the proxy resolves names), otherwise to each of the
/// host's addresses in order until one accepts (`connectTCPClient`).
///
/// # Errors
/// "no host for host_mode" (`PCEIncompatibleHost`), a bad port, a name that does not
/// resolve, or the last failure of `connect`.
pub(crate) async fn connect_chosen<S: Scheme, T, E, Fut>(
    server: &ProtocolServer<S>,
    default_port: u16,
    network: &NetworkConfig,
    address_error: impl Fn(String) -> E,
    mut connect: impl FnMut(Dial) -> Fut,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let port = server_port(server, default_port).map_err(&address_error)?;
    let host = network
        .choose_host(server.hosts())
        .ok_or_else(|| address_error("no host for host_mode (required_host_mode = on)".into()))?;
    if let Some(proxy) = network.proxy_for(host) {
        let name = host_ip(host).map_or_else(|| host.to_string(), |ip| ip.to_string());
        let dial = Dial::Socks { proxy: proxy.addr, host: name, port, credentials: network.credentials() };
        return connect(dial).await;
    }
    let mut last = address_error(format!("{host}: no address"));
    for addr in resolve(host, port).await.map_err(&address_error)? {
        match connect(Dial::Direct(addr)).await {
            Ok(c) => return Ok(c),
            Err(e) => last = e,
        }
    }
    Err(last)
}
