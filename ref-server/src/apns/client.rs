//! The APNS client: one HTTP/2 connection over OpenSSL TLS (ALPN `h2`) with concurrent
//! streams, reconnected on demand, and a cached provider token.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use h2::client::SendRequest;
use ntf_proto::token::{DeviceToken, NtInvalidReason, PushProvider};
use openssl::ssl::{SslConnector, SslMethod, SslVersion};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;
use rand_core::{CryptoRngCore, OsRng};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use super::jwt::ApnsSigningKey;
use super::payload::{
    apns_payload, PushNotification, HEADER_APNS_PRIORITY, HEADER_APNS_PUSH_TYPE, HEADER_APNS_TOPIC,
    PADDED_NTF_LENGTH,
};
use super::{ConnectionError, NullPushClient, PushError, PushFuture, PushProviderClient};

/// Apple's production host (`apns_prod`).
pub const APNS_PRODUCTION_HOST: &str = "api.push.apple.com";
/// Apple's development host (`apns_dev`).
pub const APNS_DEVELOPMENT_HOST: &str = "api.sandbox.push.apple.com";
/// Longest error answer body read (Apple's are a few dozen bytes).
const MAX_RESPONSE_BODY: usize = 16 * 1024;

/// Where the trusted root certificates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaSource {
    /// The system's default store (for Apple's hosts).
    System,
    /// A PEM file of CA certificates; only these are trusted.
    File(PathBuf),
    /// PEM CA certificates in memory; only these are trusted.
    Pem(Vec<u8>),
}

/// A provider host to connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApnsEndpoint {
    /// Host name (also the TLS server name and `:authority`) or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The roots that verify the host's certificate.
    pub ca: CaSource,
}

impl ApnsEndpoint {
    /// Apple's production endpoint (`api.push.apple.com:443`).
    pub fn production() -> Self {
        Self {
            host: APNS_PRODUCTION_HOST.into(),
            port: 443,
            ca: CaSource::System,
        }
    }

    /// Apple's development endpoint (`api.sandbox.push.apple.com:443`).
    pub fn development() -> Self {
        Self {
            host: APNS_DEVELOPMENT_HOST.into(),
            port: 443,
            ca: CaSource::System,
        }
    }
}

/// Settings shared by the APNS clients (the reference's `APNSPushClientConfig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApnsConfig {
    /// The app bundle id sent as `apns-topic` (`appName`).
    pub topic: String,
    /// The team id: the `iss` of the provider token (`appTeamId`).
    pub team_id: String,
    /// The key id: the `kid` of the provider token (from `APNS_KEY_ID`).
    pub key_id: String,
    /// How long a provider token is reused before a new one is signed (`tokenTTL`).
    pub token_ttl: Duration,
    /// The length encrypted payloads are padded to (`paddedNtfLength`).
    pub padded_len: usize,
    /// Limit on TCP connect plus TLS and HTTP/2 handshakes.
    pub connect_timeout: Duration,
    /// Limit on one request, from sending to the end of the answer.
    pub request_timeout: Duration,
}

impl Default for ApnsConfig {
    /// The reference's defaults: topic `chat.simplex.app`, team `5NN7GUYB6T`, tokens reused
    /// for 30 minutes, payloads padded to 3072 bytes; an empty key id.
    fn default() -> Self {
        Self {
            topic: "chat.simplex.app".into(),
            team_id: "5NN7GUYB6T".into(),
            key_id: String::new(),
            token_ttl: Duration::from_secs(1800),
            padded_len: PADDED_NTF_LENGTH,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Maps a provider answer to the push result (the reference's `result` in
/// `apnsPushProviderClient`).
///
/// | status | reason | result |
/// |---|---|---|
/// | 200 | any | `Ok` |
/// | 400 | `BadDeviceToken` | `TokenInvalid(BadToken)` |
/// | 400 | `DeviceTokenNotForTopic` | `TokenInvalid(TokenNotForTopic)` |
/// | 400 | `TopicDisallowed` | `Permanent` |
/// | 403 | `ExpiredProviderToken`, `InvalidProviderToken` | `Permanent` |
/// | 410 | `ExpiredToken` | `TokenInvalid(ExpiredToken)` |
/// | 410 | `Unregistered` | `TokenInvalid(Unregistered)` |
/// | 410 | other | `RetryLater("410 <reason>")` |
/// | 503 | any | `RetryLater("503")` |
/// | other | any | `Response { status, reason }` |
///
/// # Errors
/// The [`PushError`] of the table.
pub fn classify_response(status: u16, reason: &str) -> Result<(), PushError> {
    let other = || PushError::Response {
        status,
        reason: reason.to_owned(),
    };
    Err(match (status, reason) {
        (200, _) => return Ok(()),
        (400, "BadDeviceToken") => PushError::TokenInvalid(NtInvalidReason::BadToken),
        (400, "DeviceTokenNotForTopic") => {
            PushError::TokenInvalid(NtInvalidReason::TokenNotForTopic)
        }
        (400, "TopicDisallowed") => PushError::Permanent,
        (403, "ExpiredProviderToken" | "InvalidProviderToken") => PushError::Permanent,
        (410, "ExpiredToken") => PushError::TokenInvalid(NtInvalidReason::ExpiredToken),
        (410, "Unregistered") => PushError::TokenInvalid(NtInvalidReason::Unregistered),
        (410, r) => PushError::RetryLater(format!("410 {r}")),
        (503, _) => PushError::RetryLater("503".into()),
        _ => other(),
    })
}

/// The `reason` of an error answer body `{"reason": "..."}`; empty when the body is not such
/// an object (as the reference).
fn reason_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("reason")?.as_str().map(String::from))
        .unwrap_or_default()
}

fn tls_err(e: impl std::fmt::Display) -> ConnectionError {
    ConnectionError::Tls(e.to_string())
}

fn h2_err(e: h2::Error) -> ConnectionError {
    ConnectionError::Http2(e.to_string())
}

fn tls_connector(ca: &CaSource) -> Result<SslConnector, ConnectionError> {
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(tls_err)?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(tls_err)?;
    b.set_alpn_protos(b"\x02h2").map_err(tls_err)?;
    let pem = match ca {
        CaSource::System => None,
        CaSource::File(path) => {
            Some(std::fs::read(path).map_err(|e| tls_err(format!("{}: {e}", path.display())))?)
        }
        CaSource::Pem(pem) => Some(pem.clone()),
    };
    if let Some(pem) = pem {
        let certs = X509::stack_from_pem(&pem).map_err(tls_err)?;
        if certs.is_empty() {
            return Err(tls_err("no CA certificate in PEM"));
        }
        let mut store = X509StoreBuilder::new().map_err(tls_err)?;
        for c in certs {
            store.add_cert(c).map_err(tls_err)?;
        }
        b.set_verify_cert_store(store.build()).map_err(tls_err)?;
    }
    Ok(b.build())
}

/// One live HTTP/2 connection.
struct Conn {
    id: u64,
    send: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
}

/// How a request on a connection failed.
enum Exchange {
    /// Failed before the request was handed to the connection: safe to send elsewhere.
    NotSent(ConnectionError),
    /// Failed after: the provider may have the push.
    Failed(ConnectionError),
}

/// An APNS client for one endpoint (the reference's `APNSPushClient`): one HTTP/2
/// connection, opened on the first push, shared by concurrent pushes as separate streams, and
/// opened again after it fails, times out, or the provider asks to retry later.
pub struct ApnsClient {
    endpoint: ApnsEndpoint,
    config: ApnsConfig,
    key: ApnsSigningKey,
    tls: SslConnector,
    conn: tokio::sync::Mutex<Option<Conn>>,
    next_conn_id: AtomicU64,
    connects: AtomicU64,
    jwt: Mutex<Option<(i64, String)>>,
    rng: Mutex<Box<dyn CryptoRngCore + Send>>,
}

impl std::fmt::Debug for ApnsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsClient")
            .field("endpoint", &self.endpoint)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ApnsClient {
    /// A client for `endpoint`; connects on the first push. Nonces come from the OS RNG.
    ///
    /// # Errors
    /// [`ConnectionError::Tls`] when the CA file cannot be read or the TLS context fails.
    pub fn new(
        endpoint: ApnsEndpoint,
        config: ApnsConfig,
        key: ApnsSigningKey,
    ) -> Result<Self, ConnectionError> {
        Ok(Self {
            tls: tls_connector(&endpoint.ca)?,
            endpoint,
            config,
            key,
            conn: tokio::sync::Mutex::new(None),
            next_conn_id: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            jwt: Mutex::new(None),
            rng: Mutex::new(Box::new(OsRng)),
        })
    }

    /// Replaces the source of push nonces.
    pub fn with_rng(self, rng: impl CryptoRngCore + Send + 'static) -> Self {
        Self {
            rng: Mutex::new(Box::new(rng)),
            ..self
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &ApnsEndpoint {
        &self.endpoint
    }

    /// Whether a connection is open now (it may still fail on the next push).
    pub async fn is_connected(&self) -> bool {
        self.conn
            .lock()
            .await
            .as_ref()
            .is_some_and(|c| !c.closed.load(Ordering::Acquire))
    }

    /// How many connections were established so far.
    pub fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// Closes the connection; the next push opens a new one.
    pub async fn disconnect(&self) {
        self.conn.lock().await.take();
    }

    /// The provider token for now, signing a new one when the cached one is `token_ttl` old
    /// (or from the future).
    fn provider_token(&self) -> Result<String, ConnectionError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let ttl = i64::try_from(self.config.token_ttl.as_secs()).unwrap_or(i64::MAX);
        let mut cached = self.jwt.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((iat, token)) = cached.as_ref() {
            let age = now.saturating_sub(*iat);
            if (0..ttl).contains(&age) {
                return Ok(token.clone());
            }
        }
        let token = self
            .key
            .sign(&self.config.key_id, &self.config.team_id, now)
            .map_err(ConnectionError::Jwt)?;
        *cached = Some((now, token.clone()));
        Ok(token)
    }

    fn nonce(&self) -> [u8; 24] {
        let mut n = [0u8; 24];
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fill_bytes(&mut n);
        n
    }

    async fn open(&self) -> Result<Conn, ConnectionError> {
        let ep = &self.endpoint;
        let tcp = TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(|e| ConnectionError::Connect(e.to_string()))?;
        // latency matters more than throughput for small pushes
        let _ = tcp.set_nodelay(true);
        let ssl = self
            .tls
            .configure()
            .and_then(|c| c.into_ssl(&ep.host))
            .map_err(tls_err)?;
        let mut tls = SslStream::new(ssl, tcp).map_err(tls_err)?;
        Pin::new(&mut tls).connect().await.map_err(tls_err)?;
        if tls.ssl().selected_alpn_protocol() != Some(b"h2") {
            return Err(tls_err("the server did not select h2 by ALPN"));
        }
        let (send, connection) = h2::client::Builder::new()
            .handshake::<_, Bytes>(tls)
            .await
            .map_err(h2_err)?;
        let closed = Arc::new(AtomicBool::new(false));
        let flag = closed.clone();
        tokio::spawn(async move {
            // runs until the peer or the last handle closes the connection
            let _ = connection.await;
            flag.store(true, Ordering::Release);
        });
        self.connects.fetch_add(1, Ordering::Relaxed);
        Ok(Conn {
            id: self.next_conn_id.fetch_add(1, Ordering::Relaxed),
            send,
            closed,
        })
    }

    /// The open connection, or a new one; `true` when it was opened now.
    async fn connection(&self) -> Result<(SendRequest<Bytes>, u64, bool), ConnectionError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            if !c.closed.load(Ordering::Acquire) {
                return Ok((c.send.clone(), c.id, false));
            }
        }
        *guard = None;
        let c = tokio::time::timeout(self.config.connect_timeout, self.open())
            .await
            .map_err(|_| ConnectionError::Timeout)??;
        let r = (c.send.clone(), c.id, true);
        *guard = Some(c);
        Ok(r)
    }

    /// Forgets connection `id` if it is still the current one.
    async fn drop_connection(&self, id: u64) {
        let mut guard = self.conn.lock().await;
        if guard.as_ref().is_some_and(|c| c.id == id) {
            *guard = None;
        }
    }

    async fn exchange(
        send: SendRequest<Bytes>,
        request: http::Request<()>,
        body: Bytes,
    ) -> Result<(u16, Vec<u8>), Exchange> {
        let mut send = send
            .ready()
            .await
            .map_err(|e| Exchange::NotSent(h2_err(e)))?;
        let (response, mut stream) = send
            .send_request(request, false)
            .map_err(|e| Exchange::NotSent(h2_err(e)))?;
        let failed = |e| Exchange::Failed(h2_err(e));
        stream.send_data(body, true).map_err(failed)?;
        let response = response.await.map_err(|e| {
            if e.reason() == Some(h2::Reason::REFUSED_STREAM) {
                // RFC 9113 section 8.7: a refused stream was not processed
                Exchange::NotSent(h2_err(e))
            } else {
                failed(e)
            }
        })?;
        let status = response.status().as_u16();
        let mut recv = response.into_body();
        let mut buf = Vec::new();
        while let Some(chunk) = recv.data().await {
            let chunk = chunk.map_err(failed)?;
            let _ = recv.flow_control().release_capacity(chunk.len());
            let room = MAX_RESPONSE_BODY.saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if buf.len() >= MAX_RESPONSE_BODY {
                break;
            }
        }
        Ok((status, buf))
    }

    fn request(
        &self,
        token: &DeviceToken,
        push_type: super::PushType,
        jwt: &str,
    ) -> Result<http::Request<()>, PushError> {
        let ep = &self.endpoint;
        // a Web Push token is not for APNS (the branch's `PPInvalidPusher`)
        let Some(token) = token.apns_token() else {
            return Err(PushError::InvalidPusher);
        };
        // APNS tokens are hex text; anything that is not a plain path segment cannot be one
        let token_ok = token
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(b));
        if !token_ok {
            return Err(PushError::TokenInvalid(NtInvalidReason::BadToken));
        }
        let token = String::from_utf8_lossy(token);
        let mut b =
            http::Request::post(format!("https://{}:{}/3/device/{token}", ep.host, ep.port))
                .header(HEADER_APNS_TOPIC, &self.config.topic)
                .header(HEADER_APNS_PUSH_TYPE, push_type.as_str())
                .header(http::header::AUTHORIZATION, format!("bearer {jwt}"));
        if let Some(p) = push_type.priority() {
            b = b.header(HEADER_APNS_PRIORITY, p);
        }
        b.body(())
            .map_err(|e| PushError::Connection(ConnectionError::Http2(format!("bad request: {e}"))))
    }

    /// Sends one push and waits for the answer (the reference's `apnsPushProviderClient`).
    ///
    /// A request that fails before it reaches a reused connection is sent once more on a new
    /// connection; any other connection failure, a timeout or a retry-later answer closes the
    /// connection so that the next push opens a new one.
    ///
    /// # Errors
    /// See [`PushError`] and [`classify_response`]. A token that is not a plain path segment
    /// (APNS tokens are hex) is `TokenInvalid(BadToken)` without a request.
    pub async fn push(
        &self,
        token: &DeviceToken,
        dh_secret: &[u8; 32],
        notification: &PushNotification,
    ) -> Result<(), PushError> {
        let nonce = self.nonce();
        let payload = apns_payload(dh_secret, &nonce, self.config.padded_len, notification)
            .map_err(PushError::Crypto)?;
        let jwt = self.provider_token().map_err(PushError::Connection)?;
        let request = self.request(token, payload.push_type, &jwt)?;
        let body = Bytes::from(payload.body);
        let mut retried = false;
        loop {
            let (send, id, fresh) = self.connection().await.map_err(PushError::Connection)?;
            let exchange = Self::exchange(send, request.clone(), body.clone());
            let (status, answer) =
                match tokio::time::timeout(self.config.request_timeout, exchange).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(Exchange::NotSent(_))) if !fresh && !retried => {
                        self.drop_connection(id).await;
                        retried = true;
                        continue;
                    }
                    Ok(Err(Exchange::NotSent(e) | Exchange::Failed(e))) => {
                        self.drop_connection(id).await;
                        return Err(PushError::Connection(e));
                    }
                    Err(_) => {
                        self.drop_connection(id).await;
                        return Err(PushError::Connection(ConnectionError::Timeout));
                    }
                };
            let result = classify_response(status, &reason_of(&answer));
            if let Err(PushError::RetryLater(_)) = result {
                // the reference reconnects on 503, and its server pushes again on a new
                // client after any retry-later answer
                self.drop_connection(id).await;
            }
            return result;
        }
    }
}

impl PushProviderClient for ApnsClient {
    fn push<'a>(
        &'a self,
        token: &'a DeviceToken,
        dh_secret: &'a [u8; 32],
        notification: PushNotification,
    ) -> PushFuture<'a> {
        Box::pin(async move { ApnsClient::push(self, token, dh_secret, &notification).await })
    }
}

/// The push clients of a server, one per provider, chosen by the token's provider (the
/// reference's `apnsProviderHost` and `newPushClient`).
#[derive(Debug, Default)]
pub struct PushClients {
    /// The client for `apns_prod` tokens.
    pub production: Option<ApnsClient>,
    /// The client for `apns_dev` tokens.
    pub development: Option<ApnsClient>,
    /// The client for `apns_test` tokens.
    pub test: Option<ApnsClient>,
    /// The client for Web Push tokens.
    pub web_push: Option<crate::webpush::WebPushClient>,
}

impl PushClients {
    /// Clients for Apple's two hosts signed with `key`, and, when `test` is given, for the
    /// test provider at that endpoint (signed with the same key).
    ///
    /// # Errors
    /// [`ConnectionError::Tls`] when a TLS context cannot be built (e.g. the test CA file is
    /// missing).
    pub fn new(
        config: ApnsConfig,
        key: ApnsSigningKey,
        test: Option<ApnsEndpoint>,
    ) -> Result<Self, ConnectionError> {
        Ok(Self {
            production: Some(ApnsClient::new(
                ApnsEndpoint::production(),
                config.clone(),
                key.clone(),
            )?),
            development: Some(ApnsClient::new(
                ApnsEndpoint::development(),
                config.clone(),
                key.clone(),
            )?),
            test: test
                .map(|ep| ApnsClient::new(ep, config, key))
                .transpose()?,
            web_push: None,
        })
    }

    /// The client for `provider`; `None` for `apns_null` and for providers not configured.
    pub fn client(&self, provider: PushProvider) -> Option<&ApnsClient> {
        match provider {
            PushProvider::ApnsProd => self.production.as_ref(),
            PushProvider::ApnsDev => self.development.as_ref(),
            PushProvider::ApnsTest => self.test.as_ref(),
            PushProvider::ApnsNull => None,
        }
    }
}

impl PushProviderClient for PushClients {
    /// `apns_null` tokens are accepted and dropped; a provider without a client is
    /// `Connection(NotConfigured)`.
    fn push<'a>(
        &'a self,
        token: &'a DeviceToken,
        dh_secret: &'a [u8; 32],
        notification: PushNotification,
    ) -> PushFuture<'a> {
        let Some(provider) = token.apns_provider() else {
            return match &self.web_push {
                Some(c) => PushProviderClient::push(c, token, dh_secret, notification),
                None => Box::pin(async {
                    Err(PushError::Connection(ConnectionError::WebPushNotConfigured))
                }),
            };
        };
        match self.client(provider) {
            Some(c) => PushProviderClient::push(c, token, dh_secret, notification),
            None if provider == PushProvider::ApnsNull => {
                NullPushClient.push(token, dh_secret, notification)
            }
            None => Box::pin(async move {
                Err(PushError::Connection(ConnectionError::NotConfigured(
                    provider,
                )))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_every_reference_case() {
        use NtInvalidReason::*;
        let cases: &[(u16, &str, Result<(), PushError>)] = &[
            (200, "", Ok(())),
            (
                400,
                "BadDeviceToken",
                Err(PushError::TokenInvalid(BadToken)),
            ),
            (
                400,
                "DeviceTokenNotForTopic",
                Err(PushError::TokenInvalid(TokenNotForTopic)),
            ),
            (400, "TopicDisallowed", Err(PushError::Permanent)),
            (
                400,
                "BadTopic",
                Err(PushError::Response {
                    status: 400,
                    reason: "BadTopic".into(),
                }),
            ),
            (403, "ExpiredProviderToken", Err(PushError::Permanent)),
            (403, "InvalidProviderToken", Err(PushError::Permanent)),
            (
                403,
                "BadCertificate",
                Err(PushError::Response {
                    status: 403,
                    reason: "BadCertificate".into(),
                }),
            ),
            (
                410,
                "ExpiredToken",
                Err(PushError::TokenInvalid(ExpiredToken)),
            ),
            (
                410,
                "Unregistered",
                Err(PushError::TokenInvalid(Unregistered)),
            ),
            (410, "", Err(PushError::RetryLater("410 ".into()))),
            (410, "Other", Err(PushError::RetryLater("410 Other".into()))),
            (
                503,
                "ServiceUnavailable",
                Err(PushError::RetryLater("503".into())),
            ),
            (
                429,
                "TooManyRequests",
                Err(PushError::Response {
                    status: 429,
                    reason: "TooManyRequests".into(),
                }),
            ),
            (
                500,
                "",
                Err(PushError::Response {
                    status: 500,
                    reason: String::new(),
                }),
            ),
        ];
        for (status, reason, want) in cases {
            assert_eq!(
                &classify_response(*status, reason),
                want,
                "{status} {reason}"
            );
        }
    }

    #[test]
    fn reason_of_answer_bodies() {
        assert_eq!(
            reason_of(br#"{"reason":"BadDeviceToken"}"#),
            "BadDeviceToken"
        );
        assert_eq!(
            reason_of(br#"{"reason":"Unregistered","timestamp":1}"#),
            "Unregistered"
        );
        assert_eq!(reason_of(b""), "");
        assert_eq!(reason_of(br#"{"reason":1}"#), "");
        assert_eq!(reason_of(b"not json"), "");
    }

    #[test]
    fn ca_sources() {
        assert!(tls_connector(&CaSource::System).is_ok());
        assert!(matches!(
            tls_connector(&CaSource::Pem(b"no certs".to_vec())),
            Err(ConnectionError::Tls(_))
        ));
        assert!(matches!(
            tls_connector(&CaSource::File("/nonexistent/ca.pem".into())),
            Err(ConnectionError::Tls(_))
        ));
    }
}
