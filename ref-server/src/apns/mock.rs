//! A mock APNS server for tests: HTTP/2 over TLS on `127.0.0.1`, with a certificate from a CA
//! it generates. It records every request and answers as configured, per token or for all.
//!
//! Checks it makes before answering, as Apple: method `POST` (else `405 MethodNotAllowed`),
//! path `/3/device/<token>` (else `404 BadPath`), and, when it was given the verifying key, the
//! provider token (`403 MissingProviderToken`, `InvalidProviderToken` for a bad signature, key
//! id or team id, `ExpiredProviderToken` when issued more than an hour ago). A body that is
//! not JSON gets `400 bad_request_body`, as the reference's mock.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{AlpnError, Ssl, SslAcceptor, SslMethod};
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509Name, X509};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio_openssl::SslStream;

use super::jwt::{ApnsVerifyingKey, Jwt, JwtError};

/// Longest request body the mock reads; longer ones get `413 PayloadTooLarge`.
const MAX_BODY: usize = 64 * 1024;
/// Apple rejects provider tokens issued more than an hour ago.
const PROVIDER_TOKEN_MAX_AGE: i64 = 3600;

/// How the mock answers a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MockResponse {
    /// `200` with an `apns-id` header and no body.
    Ok,
    /// `200` after a delay.
    OkAfter(Duration),
    /// An error status with body `{"reason":"<reason>"}`.
    Error {
        /// HTTP status code.
        status: u16,
        /// The `reason` in the body.
        reason: String,
    },
    /// No answer: the stream stays open until the connection is closed.
    Hang,
}

impl MockResponse {
    /// An error answer.
    pub fn error(status: u16, reason: &str) -> Self {
        Self::Error {
            status,
            reason: reason.to_owned(),
        }
    }
}

/// The provider token check the mock makes, as Apple does with the team's registered key.
#[derive(Clone, Debug)]
pub struct MockAuth {
    /// The key that must have signed the token.
    pub key: ApnsVerifyingKey,
    /// The expected `kid`.
    pub key_id: String,
    /// The expected `iss`.
    pub team_id: String,
}

/// Settings of a mock server.
#[derive(Clone, Debug, Default)]
pub struct MockConfig {
    /// When set, every request's provider token is checked.
    pub auth: Option<MockAuth>,
}

/// One request the mock received.
#[derive(Clone, Debug)]
pub struct MockPush {
    /// Which accepted connection it came on, from 0.
    pub connection: u64,
    /// The HTTP method.
    pub method: String,
    /// The request path.
    pub path: String,
    /// The token text after `/3/device/` (empty when the path is not of that form).
    pub token: String,
    /// The request headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The body as JSON, when it parses.
    pub json: Option<serde_json::Value>,
    /// The provider token check: `None` when the mock checks none, else its verified
    /// contents or why it failed.
    pub jwt: Option<Result<Jwt, JwtError>>,
    /// What the mock answered (or is answering).
    pub response: MockResponse,
}

impl MockPush {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Answers {
    default: Option<MockResponse>,
    by_token: HashMap<String, MockResponse>,
}

struct State {
    auth: Option<MockAuth>,
    answers: Mutex<Answers>,
    pushes: Mutex<VecDeque<MockPush>>,
    pushed: Notify,
    connections: AtomicU64,
    open: AtomicUsize,
    closed: Notify,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Bumped to drop every open connection.
    close: watch::Sender<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running mock APNS server; it stops when dropped.
pub struct MockApns {
    addr: SocketAddr,
    ca_pem: Vec<u8>,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for MockApns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockApns")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Errors starting the mock.
#[derive(Debug)]
pub enum MockError {
    /// Binding the listener failed.
    Io(std::io::Error),
    /// Making the certificates or the TLS context failed.
    Tls(openssl::error::ErrorStack),
}

impl std::fmt::Display for MockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "mock APNS: {e}"),
            Self::Tls(e) => write!(f, "mock APNS TLS: {e}"),
        }
    }
}

impl std::error::Error for MockError {}

impl From<openssl::error::ErrorStack> for MockError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        Self::Tls(e)
    }
}

/// A CA and a server certificate signed by it.
pub(crate) struct Certs {
    pub(crate) ca_pem: Vec<u8>,
    cert: X509,
    key: PKey<Private>,
}

fn ec_key() -> Result<PKey<Private>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn cert_builder(
    cn: &str,
    key: &PKey<Private>,
    days: u32,
) -> Result<(openssl::x509::X509Builder, X509Name), openssl::error::ErrorStack> {
    let mut name = X509Name::builder()?;
    name.append_entry_by_nid(Nid::COMMONNAME, cn)?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_pubkey(key)?;
    let (from, to) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(days)?);
    b.set_not_before(&from)?;
    b.set_not_after(&to)?;
    Ok((b, name))
}

pub(crate) fn make_certs(names: &[&str], days: u32) -> Result<Certs, openssl::error::ErrorStack> {
    let ca_key = ec_key()?;
    let (mut ca, ca_name) = cert_builder("mock APNS CA", &ca_key, days)?;
    ca.set_issuer_name(&ca_name)?;
    ca.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    ca.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    ca.sign(&ca_key, MessageDigest::sha256())?;
    let ca = ca.build();

    let key = ec_key()?;
    let (mut leaf, _) = cert_builder(names.first().copied().unwrap_or("localhost"), &key, days)?;
    leaf.set_issuer_name(ca.subject_name())?;
    leaf.append_extension(BasicConstraints::new().build()?)?;
    let mut san = SubjectAlternativeName::new();
    for n in names {
        if n.parse::<std::net::IpAddr>().is_ok() {
            san.ip(n);
        } else {
            san.dns(n);
        }
    }
    let san = san.build(&leaf.x509v3_context(Some(&ca), None))?;
    leaf.append_extension(san)?;
    leaf.sign(&ca_key, MessageDigest::sha256())?;
    Ok(Certs {
        ca_pem: ca.to_pem()?,
        cert: leaf.build(),
        key,
    })
}

/// The mock's TLS identity as PEM: a CA, and the mock's certificate and key signed by it. Kept
/// between runs, it lets a server outside the process trust the mock once (its `[apns_test]`
/// CA file) and reach it at a fixed address.
#[derive(Clone)]
pub struct MockIdentity {
    /// The CA certificate (what the server's `[apns_test]` CA file holds).
    pub ca_pem: Vec<u8>,
    /// The mock's certificate.
    pub cert_pem: Vec<u8>,
    /// The mock's private key (PKCS#8).
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for MockIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MockIdentity(..)")
    }
}

impl MockIdentity {
    /// A fresh CA and a certificate for `names` (DNS names or IP addresses), valid for `days`.
    ///
    /// # Errors
    /// [`MockError::Tls`] when OpenSSL fails.
    pub fn generate(names: &[&str], days: u32) -> Result<Self, MockError> {
        let c = make_certs(names, days)?;
        Ok(Self {
            ca_pem: c.ca_pem,
            cert_pem: c.cert.to_pem()?,
            key_pem: c.key.private_key_to_pem_pkcs8()?,
        })
    }

    fn certs(&self) -> Result<Certs, MockError> {
        Ok(Certs {
            ca_pem: self.ca_pem.clone(),
            cert: X509::from_pem(&self.cert_pem)?,
            key: PKey::private_key_from_pem(&self.key_pem)?,
        })
    }
}

pub(crate) fn acceptor(certs: &Certs) -> Result<SslAcceptor, openssl::error::ErrorStack> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    b.set_private_key(&certs.key)?;
    b.set_certificate(&certs.cert)?;
    b.check_private_key()?;
    b.set_alpn_select_callback(|_, client| {
        openssl::ssl::select_next_proto(b"\x02h2", client).ok_or(AlpnError::ALERT_FATAL)
    });
    Ok(b.build())
}

impl MockApns {
    /// Starts a mock on `127.0.0.1` at a free port, answering `200` to every push.
    ///
    /// # Errors
    /// [`MockError`] when binding or making the certificates fails.
    pub async fn start(config: MockConfig) -> Result<Self, MockError> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0)), None).await
    }

    /// Starts a mock listening on `listen`, with the TLS identity given (else a fresh one for
    /// `localhost` and `127.0.0.1`, valid for 2 days).
    ///
    /// # Errors
    /// [`MockError`] when binding fails or the identity does not load.
    pub async fn start_on(
        config: MockConfig,
        listen: SocketAddr,
        identity: Option<&MockIdentity>,
    ) -> Result<Self, MockError> {
        let certs = match identity {
            Some(id) => id.certs()?,
            None => make_certs(&["localhost", "127.0.0.1"], 2)?,
        };
        let acceptor = acceptor(&certs)?;
        let listener = TcpListener::bind(listen).await.map_err(MockError::Io)?;
        let addr = listener.local_addr().map_err(MockError::Io)?;
        let (close, _) = watch::channel(0);
        let state = Arc::new(State {
            auth: config.auth,
            answers: Mutex::new(Answers::default()),
            pushes: Mutex::new(VecDeque::new()),
            pushed: Notify::new(),
            connections: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            closed: Notify::new(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            close,
        });
        let (shutdown, mut stop) = watch::channel(false);
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        let id = st.connections.fetch_add(1, Ordering::Relaxed);
                        st.open.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(serve_connection(tcp, acceptor.clone(), st.clone(), id, stop.clone()));
                    }
                    _ = stop.changed() => break,
                }
            }
        });
        Ok(Self {
            addr,
            ca_pem: certs.ca_pem,
            state,
            shutdown,
        })
    }

    /// The address it listens on (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The PEM of the CA that signed its certificate (valid for `localhost` and `127.0.0.1`).
    pub fn ca_pem(&self) -> &[u8] {
        &self.ca_pem
    }

    /// An endpoint for [`ApnsClient`](super::ApnsClient) that reaches this mock.
    pub fn endpoint(&self) -> super::ApnsEndpoint {
        super::ApnsEndpoint {
            host: self.addr.ip().to_string(),
            port: self.addr.port(),
            ca: super::CaSource::Pem(self.ca_pem.clone()),
        }
    }

    /// Sets the answer to pushes whose token has no answer of its own (initially `Ok`).
    pub fn respond_all(&self, response: MockResponse) {
        lock(&self.state.answers).default = Some(response);
    }

    /// Sets the answer to pushes to `token` (the token text in the path).
    pub fn respond_to(&self, token: &str, response: MockResponse) {
        lock(&self.state.answers)
            .by_token
            .insert(token.to_owned(), response);
    }

    /// Removes every answer set, back to `Ok` for all.
    pub fn reset_responses(&self) {
        *lock(&self.state.answers) = Answers::default();
    }

    /// Waits for the oldest request not yet taken.
    pub async fn next_push(&self) -> MockPush {
        self.next_matching(|_| true).await
    }

    /// Waits for the oldest request to `token` not yet taken (others stay queued).
    pub async fn next_push_for(&self, token: &str) -> MockPush {
        self.next_matching(|p| p.token == token).await
    }

    /// The oldest request not yet taken, if any.
    pub fn try_next_push(&self) -> Option<MockPush> {
        lock(&self.state.pushes).pop_front()
    }

    /// How many requests are queued, not yet taken.
    pub fn queued(&self) -> usize {
        lock(&self.state.pushes).len()
    }

    async fn next_matching(&self, f: impl Fn(&MockPush) -> bool) -> MockPush {
        loop {
            let notified = self.state.pushed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut q = lock(&self.state.pushes);
                if let Some(i) = q.iter().position(&f) {
                    if let Some(p) = q.remove(i) {
                        return p;
                    }
                }
            }
            notified.await;
        }
    }

    /// How many connections it accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::Relaxed)
    }

    /// The most requests it had in progress at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::Relaxed)
    }

    /// How many connections are open now.
    pub fn open_connections(&self) -> usize {
        self.state.open.load(Ordering::SeqCst)
    }

    /// Drops every open connection at once (TCP close, no GOAWAY); hanging requests end.
    pub fn close_connections(&self) {
        self.state.close.send_modify(|g| *g += 1);
    }

    /// Drops every open connection, as [`close_connections`](Self::close_connections), and
    /// waits until their sockets are closed.
    pub async fn close_connections_and_wait(&self) {
        self.close_connections();
        loop {
            let closed = self.state.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if self.state.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            closed.await;
        }
    }
}

impl Drop for MockApns {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.close_connections();
    }
}

/// Counts a connection as closed when dropped.
struct OpenGuard(Arc<State>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.closed.notify_waiters();
    }
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    acceptor: SslAcceptor,
    state: Arc<State>,
    id: u64,
    stop: watch::Receiver<bool>,
) {
    let _open = OpenGuard(state.clone());
    serve(tcp, acceptor, state, id, stop).await;
}

async fn serve(
    tcp: tokio::net::TcpStream,
    acceptor: SslAcceptor,
    state: Arc<State>,
    id: u64,
    mut stop: watch::Receiver<bool>,
) {
    let mut close = state.close.subscribe();
    let Ok(ssl) = Ssl::new(acceptor.context()) else {
        return;
    };
    let Ok(mut tls) = SslStream::new(ssl, tcp) else {
        return;
    };
    if Pin::new(&mut tls).accept().await.is_err() {
        return;
    }
    let Ok(mut conn) = h2::server::Builder::new()
        .max_concurrent_streams(1000)
        .handshake::<_, Bytes>(tls)
        .await
    else {
        return;
    };
    loop {
        tokio::select! {
            req = conn.accept() => match req {
                Some(Ok((req, respond))) => {
                    tokio::spawn(handle_request(req, respond, state.clone(), id));
                }
                _ => break,
            },
            _ = close.changed() => break,
            _ = stop.changed() => break,
        }
    }
    // dropping the connection closes the socket
}

async fn read_body(body: &mut RecvStream) -> Result<Vec<u8>, ()> {
    let mut buf = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|_| ())?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

fn check_auth(
    auth: &MockAuth,
    header: Option<&str>,
) -> (Result<Jwt, JwtError>, Option<&'static str>) {
    let Some(token) = header.and_then(|h| h.strip_prefix("bearer ")) else {
        return (
            Err(JwtError::Malformed("no bearer token")),
            Some("MissingProviderToken"),
        );
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    match auth.key.verify(token) {
        Err(e) => (Err(e), Some("InvalidProviderToken")),
        Ok(jwt) if jwt.kid != auth.key_id || jwt.iss != auth.team_id => {
            (Ok(jwt), Some("InvalidProviderToken"))
        }
        Ok(jwt) if now.saturating_sub(jwt.iat) > PROVIDER_TOKEN_MAX_AGE => {
            (Ok(jwt), Some("ExpiredProviderToken"))
        }
        Ok(jwt) => (Ok(jwt), None),
    }
}

async fn handle_request(
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    state: Arc<State>,
    connection: u64,
) {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let (parts, mut body) = req.into_parts();
    let body = read_body(&mut body).await;
    let path = parts.uri.path().to_owned();
    let token = path.strip_prefix("/3/device/").unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let auth_header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (jwt, auth_failure) = match &state.auth {
        Some(auth) => {
            let (r, f) = check_auth(auth, auth_header);
            (Some(r), f)
        }
        None => (None, None),
    };
    let json = body
        .as_ref()
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok());
    let response = if parts.method != http::Method::POST {
        MockResponse::error(405, "MethodNotAllowed")
    } else if !path.starts_with("/3/device/") {
        MockResponse::error(404, "BadPath")
    } else if let Some(reason) = auth_failure {
        MockResponse::error(403, reason)
    } else if body.is_err() {
        MockResponse::error(413, "PayloadTooLarge")
    } else if json.is_none() {
        MockResponse::error(400, "bad_request_body")
    } else {
        let answers = lock(&state.answers);
        answers
            .by_token
            .get(&token)
            .or(answers.default.as_ref())
            .cloned()
            .unwrap_or(MockResponse::Ok)
    };
    let push = MockPush {
        connection,
        method: parts.method.to_string(),
        path,
        token,
        headers,
        body: body.unwrap_or_default(),
        json,
        jwt,
        response: response.clone(),
    };
    // recorded before answering, so a client that got its answer finds the push queued
    lock(&state.pushes).push_back(push);
    state.pushed.notify_waiters();
    answer(&mut respond, response, &state).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
}

async fn answer(respond: &mut SendResponse<Bytes>, response: MockResponse, state: &State) {
    let ok = || {
        http::Response::builder()
            .status(200)
            .header("apns-id", format!("{:032x}", rand_id()))
            .body(())
    };
    match response {
        MockResponse::Ok => {
            if let Ok(r) = ok() {
                let _ = respond.send_response(r, true);
            }
        }
        MockResponse::OkAfter(d) => {
            tokio::time::sleep(d).await;
            if let Ok(r) = ok() {
                let _ = respond.send_response(r, true);
            }
        }
        MockResponse::Error { status, reason } => {
            let body = serde_json::json!({ "reason": reason }).to_string();
            let r = http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(());
            if let Ok(r) = r {
                if let Ok(mut s) = respond.send_response(r, false) {
                    let _ = s.send_data(Bytes::from(body), true);
                }
            }
        }
        MockResponse::Hang => {
            // hold the stream open until the connections are closed
            let mut close = state.close.subscribe();
            tokio::select! {
                _ = close.changed() => {}
                _ = std::future::poll_fn(|cx| respond.poll_reset(cx)) => {}
            }
        }
    }
}

fn rand_id() -> u128 {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    u128::from(COUNTER.fetch_add(1, Ordering::Relaxed))
}
