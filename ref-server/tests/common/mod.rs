//! Shared by the integration tests: a TCP forwarder that can cut the network between the
//! notification server and a relay, and restore it.

use std::net::SocketAddr;
use std::time::Duration;

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
