//! The services a load run or a fault test needs, all on `127.0.0.1`: the mock APNS (and the
//! mock Web Push service), an SMP
//! relay (whose listener can be killed and restarted on the same state and port) and the
//! notification server over a chosen store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ref_transport::{ServerCredentials, TlsServerConfig};
use smp_proto::server::{SmpServer, TransportHost};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::apns::mock::{MockApns, MockConfig};
use crate::apns::{ApnsClient, ApnsConfig, ApnsSigningKey, PushClients};
use crate::ntf::Store;
use crate::server::shell::{self, RunningServer, ShellConfig};
use crate::server::subscriber::SubscriberConfig;
use crate::smp::core::RelayConfig;
use crate::smp::server::SmpRelayServer;
use crate::webpush::mock::MockWebPush;
use crate::webpush::{VapidKey, WebPushClient, WebPushConfig};

/// An in-process SMP relay that can be killed and restarted on the same queues and port.
///
/// Clients reach it through a loopback TCP forwarder at [`Relay::addr`], so that a kill ends
/// every open connection at once (aborting the relay's listener task alone would leave the
/// connections it spawned running).
pub struct Relay {
    /// The relay (queues and connections); clones share the state.
    pub server: SmpRelayServer,
    /// The address clients connect to.
    pub addr: SocketAddr,
    inner: SocketAddr,
    task: Option<JoinHandle<std::io::Result<()>>>,
    front: Option<JoinHandle<()>>,
}

/// Forwards every connection accepted on `listener` to `to`; aborting the task closes them.
fn forward(listener: TcpListener, to: SocketAddr) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut a, _)) = listener.accept().await {
            let _ = a.set_nodelay(true);
            conns.spawn(async move {
                if let Ok(mut b) = TcpStream::connect(to).await {
                    let _ = b.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                }
            });
            // reap finished connections so the set does not grow without bound
            while conns.try_join_next().is_some() {}
        }
    })
}

async fn rebind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let mut last = None;
    for _ in 0..100 {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(anyhow::anyhow!("cannot rebind {addr}: {last:?}"))
}

impl Relay {
    /// Starts a relay with fresh credentials on free loopback ports.
    ///
    /// # Errors
    /// Credentials, TLS or bind failures.
    pub async fn start() -> anyhow::Result<Self> {
        let (_, creds) = ServerCredentials::generate("127.0.0.1")?;
        let server = SmpRelayServer::new(&creds, RelayConfig::default())?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let inner = listener.local_addr()?;
        let task = Some(tokio::spawn(server.clone().run(listener)));
        let front_listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = front_listener.local_addr()?;
        let front = Some(forward(front_listener, inner));
        Ok(Self {
            server,
            addr,
            inner,
            task,
            front,
        })
    }

    /// The `smp://` address of the relay on loopback.
    pub fn smp_server(&self) -> SmpServer {
        loopback_smp(self.addr.port(), &self.server)
    }

    /// Kills the relay's network side: its listener task is aborted and every open connection
    /// is closed; queues and kept notifications stay (the relay then drops the subscriptions
    /// of the closed connections, as after a restart).
    pub async fn kill(&mut self) {
        for t in [self.front.take()].into_iter().flatten() {
            t.abort();
            let _ = t.await;
        }
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Starts a new listener task on the same state and ports.
    ///
    /// # Errors
    /// When a port cannot be bound again within about two seconds.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        let l = rebind(self.inner).await?;
        self.task = Some(tokio::spawn(self.server.clone().run(l)));
        let f = rebind(self.addr).await?;
        self.front = Some(forward(f, self.inner));
        Ok(())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if let Some(t) = self.front.take() {
            t.abort();
        }
    }
}

/// The `smp://<key hash>@127.0.0.1:<port>` address of `server`.
pub fn loopback_smp(port: u16, server: &SmpRelayServer) -> SmpServer {
    // a single IPv4 host and a numeric port always make a valid address
    SmpServer::new(
        vec![TransportHost::Ipv4([127, 0, 0, 1])],
        port.to_string(),
        server.key_hash(),
    )
    .unwrap_or_else(|| unreachable!("loopback address is valid"))
}

/// Push clients whose test provider is `mock`.
///
/// # Errors
/// Key generation or client setup failures.
pub fn mock_push(mock: &MockApns) -> anyhow::Result<PushClients> {
    let key = ApnsSigningKey::generate().map_err(|e| anyhow::anyhow!("signing key: {e}"))?;
    Ok(PushClients {
        test: Some(ApnsClient::new(
            mock.endpoint(),
            ApnsConfig::default(),
            key,
        )?),
        ..PushClients::default()
    })
}

/// A Web Push client for `mock` (its CA trusted, any host allowed) with push deadline
/// `timeout`.
///
/// # Errors
/// Client setup failures.
pub fn mock_web_push(mock: &MockWebPush, timeout: Duration) -> anyhow::Result<WebPushClient> {
    let mut c = WebPushConfig::new(VapidKey::generate());
    c.extra_ca_pem = Some(mock.ca_pem().to_vec());
    c.timeout = timeout;
    WebPushClient::new(c).map_err(|e| anyhow::anyhow!(e))
}

/// Starts the mock APNS.
///
/// # Errors
/// Bind or certificate failures.
pub async fn start_mock() -> anyhow::Result<MockApns> {
    Ok(MockApns::start(MockConfig::default()).await?)
}

/// Starts a notification server on a free loopback port (`addr`: a given one) pushing to
/// `mock`, with a subscriber that reconnects quickly (50 ms backoff up to 1 s).
///
/// # Errors
/// Bind, TLS or push client failures.
pub async fn start_ntf<S: Store + Send + 'static>(
    mock: &MockApns,
    store: S,
    addr: Option<SocketAddr>,
) -> anyhow::Result<RunningServer> {
    let (_ca, creds) = ServerCredentials::generate("127.0.0.1")?;
    start_ntf_with(mock, store, addr, &creds, false).await
}

/// [`start_ntf`] with the given credentials; with `service`, the subscriber connects to relays
/// as a notification service with them (`use_service_credentials = on`).
///
/// # Errors
/// As [`start_ntf`].
pub async fn start_ntf_with<S: Store + Send + 'static>(
    mock: &MockApns,
    store: S,
    addr: Option<SocketAddr>,
    creds: &ServerCredentials,
    service: bool,
) -> anyhow::Result<RunningServer> {
    let tls = TlsServerConfig::new(creds, &[crate::server::ALPN_NTF])?;
    let listener =
        TcpListener::bind(addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))).await?;
    let mut subscriber = SubscriberConfig {
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        ..SubscriberConfig::default()
    };
    if service {
        subscriber.client.service =
            Some(ref_transport::SmpServiceCredentials::new(smp_proto::handshake::ServiceRole::Notifier, creds)?);
    }
    start_ntf_push(mock_push(mock)?, store, listener, &tls, subscriber)
}

/// Starts a notification server on `listener` pushing with `push`; Web Push tokens are taken
/// when `push` has a Web Push client, with its policy (as `[WEBPUSH]` makes the server do).
///
/// # Errors
/// As [`start_ntf`].
pub fn start_ntf_push<S: Store + Send + 'static>(
    push: PushClients,
    store: S,
    listener: TcpListener,
    tls: &TlsServerConfig,
    subscriber: SubscriberConfig,
) -> anyhow::Result<RunningServer> {
    let core = crate::ntf::Config { web_push: push.web_push.as_ref().map(|c| c.config().policy.clone()), ..crate::ntf::Config::default() };
    let config = ShellConfig {
        tls: tls.clone(),
        versions: ntf_proto::version::SUPPORTED,
        push: Arc::new(push),
        subscriber: Some(subscriber),
        ops: Default::default(),
    };
    Ok(shell::start(listener, config, core, store)?)
}

/// [`start_ntf`] with a Web Push client for `web_push` as well (deadline `timeout`).
///
/// # Errors
/// As [`start_ntf`].
pub async fn start_ntf_web_push<S: Store + Send + 'static>(
    mock: &MockApns,
    web_push: &MockWebPush,
    timeout: Duration,
    store: S,
) -> anyhow::Result<RunningServer> {
    let (_ca, creds) = ServerCredentials::generate("127.0.0.1")?;
    let tls = TlsServerConfig::new(&creds, &[crate::server::ALPN_NTF])?;
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let subscriber = SubscriberConfig { min_backoff: Duration::from_millis(50), max_backoff: Duration::from_secs(1), ..SubscriberConfig::default() };
    let mut push = mock_push(mock)?;
    push.web_push = Some(mock_web_push(web_push, timeout)?);
    start_ntf_push(push, store, listener, &tls, subscriber)
}
