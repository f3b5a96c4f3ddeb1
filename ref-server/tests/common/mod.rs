//! Shared by the integration tests: a TCP forwarder that can cut the network between the
//! notification server and a relay, and restore it; a relay over its SQLite store that a test
//! starts and stops as a process would.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ref_server::smp::{RelayConfig, SmpRelayServer, SqliteQueueStore};
use ref_transport::ServerCredentials;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Binds `addr`, retrying while the previous listener on it is being closed.
pub async fn bind(addr: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("cannot bind {addr}");
}

/// A TCP forwarder to a relay.
pub struct Cut {
    /// Where the forwarder listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

fn forward(listener: TcpListener, to: SocketAddr) -> JoinHandle<()> {
    tokio::spawn(async move {
        // dropping the set (when the task is aborted) closes every forwarded connection
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut a, _)) = listener.accept().await {
            conns.spawn(async move {
                if let Ok(mut b) = TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                }
            });
        }
    })
}

impl Cut {
    /// A forwarder to `to` on a free loopback port.
    pub async fn new(to: SocketAddr) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        Self { addr, task: forward(l, to) }
    }

    /// Drops every forwarded connection and refuses new ones until [`Cut::restore`].
    pub fn cut(&self) {
        self.task.abort();
    }

    /// Forwards again, on the same port, to `to`.
    pub async fn restore(&mut self, to: SocketAddr) {
        self.task = forward(bind(self.addr).await, to);
    }
}

/// A running relay (a test's SMP relay) over the SQLite store at `db`.
#[allow(dead_code)] // not every test file that shares this module starts a relay
pub struct Relay {
    pub server: SmpRelayServer,
    task: JoinHandle<std::io::Result<()>>,
}

#[allow(dead_code)]
impl Relay {
    pub async fn start(
        creds: &ServerCredentials,
        db: &Path,
        addr: SocketAddr,
    ) -> (Self, SocketAddr) {
        let store = SqliteQueueStore::open(db).unwrap();
        let server = SmpRelayServer::with_store(creds, RelayConfig::default(), store).unwrap();
        let l = bind(addr).await;
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(server.clone().run(l));
        (Self { server, task }, addr)
    }

    /// Stops the relay as a process exit would: the accept task is aborted, which ends every
    /// connection task and closes its socket; nothing of this relay is used again.
    pub async fn stop(self) {
        self.task.abort();
        assert!(self.task.await.unwrap_err().is_cancelled());
    }
}
