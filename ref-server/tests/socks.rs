//! Relays through a SOCKS5 proxy (`[SUBSCRIBER] socks_proxy`, `socks_mode`, `host_mode`,
//! `required_host_mode`): a SOCKS5 server in the test records what it is asked for (the
//! credentials, the target host and port) and forwards the connection to a local relay, so
//! that the SMP session through it completes. The rules are the reference's
//! `chooseTransportHost`, `transportClientConfig` and `clientSocksCredentials`.

use std::net::SocketAddr;
use std::path::Path;

use ref_client::smp::{SmpClient, SmpClientConfig, SmpClientError};
use ref_client::socks::{HostMode, NetworkConfig, SocksMode};
use ref_server::server::config::Config;
use ref_server::smp::{RelayConfig, SmpRelayServer};
use ref_transport::ServerCredentials;
use smp_proto::server::{SmpServer, TransportHost};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What a client asked the proxy for.
#[derive(Debug, PartialEq, Eq)]
struct Asked {
    /// username and password, when the client authenticated (RFC 1929)
    credentials: Option<(String, String)>,
    /// the target as sent: a name (ATYP 3) or an IP address in text
    host: String,
    port: u16,
}

/// A SOCKS5 server (RFC 1928, CONNECT only) that reports each request and connects every one
/// of them to `to`.
async fn socks_server(to: SocketAddr) -> (SocketAddr, mpsc::UnboundedReceiver<Asked>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Ok(asked) = socks_exchange(&mut c).await {
                    let _ = tx.send(asked);
                    let mut relay = TcpStream::connect(to).await.unwrap();
                    c.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut c, &mut relay).await;
                }
            });
        }
    });
    (addr, rx)
}

async fn socks_exchange(c: &mut TcpStream) -> std::io::Result<Asked> {
    let mut head = [0u8; 2];
    c.read_exact(&mut head).await?;
    assert_eq!(head[0], 5, "SOCKS version");
    let mut methods = vec![0u8; head[1] as usize];
    c.read_exact(&mut methods).await?;
    let credentials = if methods.contains(&2) {
        c.write_all(&[5, 2]).await?;
        let mut b = [0u8; 2];
        c.read_exact(&mut b).await?;
        let mut user = vec![0u8; b[1] as usize];
        c.read_exact(&mut user).await?;
        let mut plen = [0u8; 1];
        c.read_exact(&mut plen).await?;
        let mut pass = vec![0u8; plen[0] as usize];
        c.read_exact(&mut pass).await?;
        c.write_all(&[1, 0]).await?;
        Some((String::from_utf8(user).unwrap(), String::from_utf8(pass).unwrap()))
    } else {
        c.write_all(&[5, 0]).await?;
        None
    };
    let mut req = [0u8; 4];
    c.read_exact(&mut req).await?;
    assert_eq!(req[..3], [5, 1, 0], "CONNECT");
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            c.read_exact(&mut a).await?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        3 => {
            let mut n = [0u8; 1];
            c.read_exact(&mut n).await?;
            let mut name = vec![0u8; n[0] as usize];
            c.read_exact(&mut name).await?;
            String::from_utf8(name).unwrap()
        }
        t => panic!("address type {t}"),
    };
    let port = c.read_u16().await?;
    Ok(Asked { credentials, host, port })
}

struct Relay {
    addr: SocketAddr,
    server: SmpRelayServer,
}

async fn relay() -> Relay {
    let (_, creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let server = SmpRelayServer::new(&creds, RelayConfig::default()).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(server.clone().run(l));
    Relay { addr, server }
}

impl Relay {
    /// The relay's address with these hosts and port text.
    fn address(&self, hosts: &[&str], port: &str) -> SmpServer {
        let hosts = hosts.iter().map(|h| TransportHost::parse(h.as_bytes()).unwrap()).collect();
        SmpServer::new(hosts, port, self.server.key_hash()).unwrap()
    }
}

fn client(proxy: Option<String>, socks_mode: SocksMode, host_mode: HostMode, required: bool) -> SmpClientConfig {
    SmpClientConfig {
        network: NetworkConfig {
            socks_proxy: proxy.map(|p| p.parse().unwrap()),
            socks_mode,
            host_mode,
            required_host_mode: required,
            ..NetworkConfig::default()
        },
        ..SmpClientConfig::default()
    }
}

/// `host_mode = onion` with a proxy: the onion host, through the proxy, by name, at the
/// default port 5223, with the isolating username and an empty password.
#[tokio::test]
async fn onion_host_through_the_proxy_with_isolating_credentials() {
    let r = relay().await;
    let (proxy, mut asked) = socks_server(r.addr).await;
    let cfg = client(Some(proxy.to_string()), SocksMode::Onion, HostMode::Onion, false);
    let server = r.address(&["127.0.0.1", "abcdefghijklmnop.onion"], "");
    let c = SmpClient::connect(&server, &cfg).await.unwrap();
    c.ping().await.unwrap();
    let want = Asked {
        credentials: Some((cfg.network.isolation_username.clone(), String::new())),
        host: "abcdefghijklmnop.onion".into(),
        port: 5223,
    };
    assert_eq!(asked.try_recv().unwrap(), want);
    assert!(asked.try_recv().is_err(), "one connection");
}

/// `socks_mode = always`: a public host through the proxy too, a domain sent unresolved,
/// the address's port, the configured credentials.
#[tokio::test]
async fn always_sends_public_hosts_through_the_proxy() {
    let r = relay().await;
    let (proxy, mut asked) = socks_server(r.addr).await;
    let port = r.addr.port();
    let cfg = client(Some(format!("tor:secret@{proxy}")), SocksMode::Always, HostMode::Public, false);
    let server = r.address(&["abcdefghijklmnop.onion", "relay.invalid"], &port.to_string());
    SmpClient::connect(&server, &cfg).await.unwrap().ping().await.unwrap();
    let want = Asked { credentials: Some(("tor".into(), "secret".into())), host: "relay.invalid".into(), port };
    assert_eq!(asked.try_recv().unwrap(), want);
    // `@`: no credentials; an IP host is sent as an address
    let cfg = client(Some(format!("@{proxy}")), SocksMode::Always, HostMode::Public, false);
    SmpClient::connect(&r.address(&["127.0.0.1"], &port.to_string()), &cfg).await.unwrap();
    assert_eq!(asked.try_recv().unwrap(), Asked { credentials: None, host: "127.0.0.1".into(), port });
}

/// `socks_mode = onion` (the default) with a public host chosen: straight to the relay, the
/// proxy is not used; `required_host_mode` without an onion host fails before connecting.
#[tokio::test]
async fn onion_mode_connects_public_hosts_directly() {
    let r = relay().await;
    let (proxy, mut asked) = socks_server(r.addr).await;
    let port = r.addr.port().to_string();
    let server = r.address(&["abcdefghijklmnop.onion", "127.0.0.1"], &port);
    let cfg = client(Some(proxy.to_string()), SocksMode::Onion, HostMode::Public, false);
    SmpClient::connect(&server, &cfg).await.unwrap().ping().await.unwrap();
    assert!(asked.try_recv().is_err(), "the proxy was used");

    let cfg = client(Some(proxy.to_string()), SocksMode::Onion, HostMode::Onion, true);
    match SmpClient::connect(&r.address(&["127.0.0.1"], &port), &cfg).await {
        Err(SmpClientError::Address(e)) => assert!(e.contains("required_host_mode"), "{e}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert!(asked.try_recv().is_err(), "the proxy was used");
}

/// The `[SUBSCRIBER]` settings reach the subscriber's relay connections.
#[test]
fn subscriber_settings_reach_the_relay_client() {
    let ini = "[TRANSPORT]\nport = 443\n[SUBSCRIBER]\nsocks_proxy = u:p@127.0.0.1:9150\n\
               socks_mode = always\nhost_mode = onion\nrequired_host_mode = on\n";
    let config = Config::from_ini_text(ini, Path::new("ntf-server.ini")).unwrap();
    let (_, creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let sub = ref_server::server::subscriber_config(&creds, &config).unwrap();
    let n = &sub.client.network;
    assert_eq!(n.socks_proxy.as_ref().map(ToString::to_string).as_deref(), Some("u:p@127.0.0.1:9150"));
    assert_eq!((n.socks_mode, n.host_mode, n.required_host_mode), (SocksMode::Always, HostMode::Onion, true));
    assert_eq!(n.credentials(), Some(("u".into(), "p".into())));
}
