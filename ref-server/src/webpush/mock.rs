//! A mock Web Push service for tests and the demo: HTTP/2 over TLS on `127.0.0.1` with a
//! certificate from a CA it makes (that of the mock APNS), which answers as configured and
//! decrypts what it receives with the subscribers' keys it was given, as a browser would.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use ntf_proto::webpush::{WebPushProvider, WebPushToken};
use openssl::ssl::{Ssl, SslAcceptor};
use ref_client::device::WebPushKeys;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio_openssl::SslStream;

use super::ece;

/// How the mock answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WpAnswer {
    /// This status (`201` is a push service's success).
    Status(u16),
    /// This status after a delay.
    After(Duration, u16),
    /// No answer: the stream stays open.
    Hang,
}

/// One request the mock received.
#[derive(Clone, Debug)]
pub struct WpPush {
    /// The request path.
    pub path: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The body decrypted with the subscriber's keys of `path`, when it has them.
    pub plaintext: Option<Result<Vec<u8>, ece::EceError>>,
    /// The HTTP version (`HTTP/2.0`).
    pub version: String,
}

impl WpPush {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A subscriber of the mock: its keys, as a browser's push subscription (the device
/// simulator's [`WebPushKeys`]).
pub type WpSubscriber = WebPushKeys;

#[derive(Default)]
struct State {
    default: Mutex<Option<WpAnswer>>,
    by_path: Mutex<HashMap<String, WpAnswer>>,
    subscribers: Mutex<HashMap<String, WpSubscriber>>,
    pushes: Mutex<VecDeque<WpPush>>,
    pushed: Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running mock push service; it stops when dropped.
pub struct MockWebPush {
    addr: SocketAddr,
    ca_pem: Vec<u8>,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for MockWebPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockWebPush").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl MockWebPush {
    /// Starts a mock on `127.0.0.1` at a free port answering `201`.
    ///
    /// # Errors
    /// Binding or making the certificates fails.
    pub async fn start() -> Result<Self, crate::apns::mock::MockError> {
        use crate::apns::mock::{acceptor, make_certs, MockError};
        let certs = make_certs(&["localhost", "127.0.0.1"], 2)?;
        let acc = acceptor(&certs)?;
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(MockError::Io)?;
        let addr = listener.local_addr().map_err(MockError::Io)?;
        let state = Arc::new(State::default());
        let (shutdown, mut stop) = watch::channel(false);
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        tokio::spawn(serve(tcp, acc.clone(), st.clone(), stop.clone()));
                    }
                    _ = stop.changed() => break,
                }
            }
        });
        Ok(Self { addr, ca_pem: certs.ca_pem, state, shutdown })
    }

    /// The address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The PEM of the CA of its certificate (for `localhost` and `127.0.0.1`).
    pub fn ca_pem(&self) -> &[u8] {
        &self.ca_pem
    }

    /// A new subscription on this mock: a token for the push resource `/push/<name>` with
    /// fresh keys, which the mock will use to decrypt pushes to it.
    pub fn subscribe(&self, name: &str) -> (WebPushToken, WpSubscriber) {
        let sub = WpSubscriber::generate();
        (self.register(name, &sub), sub)
    }

    /// The push service of this mock: `https://127.0.0.1:<port>`.
    pub fn provider(&self) -> WebPushProvider {
        WebPushProvider::new("127.0.0.1", self.addr.port().to_string()).unwrap_or_else(|| unreachable!("short host"))
    }

    /// A subscription with a device's own keys: the token for the push resource
    /// `/push/<name>`; the mock decrypts pushes to it with `keys` too (into
    /// [`WpPush::plaintext`]). `name` is at most 200 bytes.
    pub fn register(&self, name: &str, keys: &WebPushKeys) -> WebPushToken {
        let path = format!("/push/{name}");
        lock(&self.state.subscribers).insert(path.clone(), keys.clone());
        keys.token(self.provider(), path).unwrap_or_else(|| unreachable!("short path"))
    }

    /// Sets the answer for every path without its own.
    pub fn respond_all(&self, a: WpAnswer) {
        *lock(&self.state.default) = Some(a);
    }

    /// Sets the answer for `path`.
    pub fn respond_to(&self, path: &str, a: WpAnswer) {
        lock(&self.state.by_path).insert(path.to_owned(), a);
    }

    /// Waits for the oldest request not yet taken.
    pub async fn next_push(&self) -> WpPush {
        loop {
            let n = self.state.pushed.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if let Some(p) = lock(&self.state.pushes).pop_front() {
                return p;
            }
            n.await;
        }
    }

    /// The oldest request not yet taken, if any.
    pub fn try_next_push(&self) -> Option<WpPush> {
        lock(&self.state.pushes).pop_front()
    }
}

impl Drop for MockWebPush {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn serve(tcp: tokio::net::TcpStream, acc: SslAcceptor, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let Ok(ssl) = Ssl::new(acc.context()) else { return };
    let Ok(mut tls) = SslStream::new(ssl, tcp) else { return };
    if Pin::new(&mut tls).accept().await.is_err() {
        return;
    }
    let Ok(mut conn) = h2::server::Builder::new().max_concurrent_streams(1000).handshake::<_, Bytes>(tls).await else { return };
    loop {
        tokio::select! {
            req = conn.accept() => match req {
                Some(Ok((req, respond))) => { tokio::spawn(handle(req, respond, state.clone())); }
                _ => break,
            },
            _ = stop.changed() => break,
        }
    }
}

async fn handle(req: http::Request<RecvStream>, mut respond: SendResponse<Bytes>, state: Arc<State>) {
    let (parts, mut body) = req.into_parts();
    let mut buf = Vec::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
        buf.extend_from_slice(&chunk);
    }
    let path = parts.uri.path().to_owned();
    let headers = parts.headers.iter().map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
    let plaintext = lock(&state.subscribers).get(&path).map(|s| s.decrypt(&buf));
    let answer = lock(&state.by_path).get(&path).cloned().or_else(|| lock(&state.default).clone()).unwrap_or(WpAnswer::Status(201));
    lock(&state.pushes).push_back(WpPush { path, headers, body: buf, plaintext, version: format!("{:?}", parts.version) });
    state.pushed.notify_waiters();
    let status = match answer {
        WpAnswer::Status(s) => s,
        WpAnswer::After(d, s) => {
            tokio::time::sleep(d).await;
            s
        }
        WpAnswer::Hang => {
            std::future::pending::<()>().await;
            return;
        }
    };
    let Ok(resp) = http::Response::builder().status(status).body(()) else { return };
    let _ = respond.send_response(resp, true);
}
