//! Reaching a server address: the hosts of `smp://` / `ntf://` addresses in order.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use smp_proto::server::{ProtocolServer, Scheme, TransportHost};

/// The IP address of an IP host.
fn host_ip(h: &TransportHost) -> Option<IpAddr> {
    match h {
        TransportHost::Ipv4(a) => Some(IpAddr::from(*a)),
        TransportHost::Ipv6(a) => Some(IpAddr::from(*a)),
        _ => None,
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
    let port: u16 = if server.port().is_empty() {
        default_port
    } else {
        server.port().parse().map_err(|_| address_error(format!("bad port {}", server.port())))?
    };
    let mut last = address_error("no reachable host".into());
    for h in server.hosts() {
        let addrs: Vec<SocketAddr> = match (h, host_ip(h)) {
            (_, Some(ip)) => vec![SocketAddr::new(ip, port)],
            (TransportHost::Domain(d), None) => match tokio::net::lookup_host((d.as_str(), port)).await {
                Ok(a) => a.collect(),
                Err(e) => {
                    last = address_error(format!("{d}: {e}"));
                    continue;
                }
            },
            _ => continue,
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
