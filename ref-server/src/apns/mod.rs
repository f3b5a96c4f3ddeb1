//! Push providers: the APNS HTTP/2 client, the null provider, a dispatcher by provider, and a
//! mock APNS server for tests.
//!
//! A push goes to the provider of the token ([`PushProvider`](ntf_proto::token::PushProvider)):
//!
//! | provider | where the push goes |
//! |---|---|
//! | `AP` (`apns_prod`) | `api.push.apple.com:443`, system root CAs |
//! | `AD` (`apns_dev`) | `api.sandbox.push.apple.com:443`, system root CAs |
//! | `AT` (`apns_test`) | a configured host, port and CA (the [`mock`] stands in for Apple) |
//! | `AN` (`apns_null`) | nowhere: accepted and dropped |
//!
//! The APNS request: HTTP/2 `POST /3/device/<token text>` with headers `apns-topic`,
//! `apns-push-type` (`background` / `alert`), `authorization: bearer <ES256 JWT>` and
//! `apns-priority: 5` for background pushes; bodies in [`payload`]. Error answers map to
//! [`PushError`] by [`classify_response`].

mod client;
pub mod jwt;
pub mod mock;
pub mod payload;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use ntf_proto::token::{DeviceToken, NtInvalidReason, PushProvider};
use smp_proto::crypto::CryptoError;

pub use client::{classify_response, ApnsClient, ApnsConfig, ApnsEndpoint, CaSource, PushClients};
pub use jwt::{ApnsSigningKey, ApnsVerifyingKey, Jwt, JwtError};
pub use payload::{PushNotification, PushType};

/// A failed push (the reference's `PushProviderError`).
///
/// What the server does with each, as the reference: `Connection` and `RetryLater` -> drop the
/// provider connection and push once more; `TokenInvalid` -> mark the token
/// `INVALID,<reason>`; the rest are logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushError {
    /// Connecting to the provider or the HTTP/2 exchange failed (`PPConnection`).
    Connection(ConnectionError),
    /// The payload could not be encrypted: it does not fit the padded length (`PPCryptoError`).
    Crypto(CryptoError),
    /// The provider answered with an error not covered by the other cases
    /// (`PPResponseError`): the HTTP status and the `reason` of the JSON body (empty when
    /// there was none).
    Response {
        /// HTTP status code.
        status: u16,
        /// The `reason` field of the answer.
        reason: String,
    },
    /// The provider says the device token is no longer usable (`PPTokenInvalid`).
    TokenInvalid(NtInvalidReason),
    /// The provider asked to retry later: `410` with another reason, or `503`
    /// (`PPRetryLater`); the text is `"410 <reason>"` or `"503"`.
    RetryLater(String),
    /// Retrying cannot help: the topic is disallowed or the provider token was rejected
    /// (`PPPermanentError`).
    Permanent,
    /// The token is for another kind of provider (a Web Push token given to APNS or the
    /// reverse: the branch `dev-wp`'s `PPInvalidPusher`).
    InvalidPusher,
    /// Web Push: the endpoint is not a URL a push can go to, or its host is not allowed by
    /// the configuration (`PPWPInvalidUrl`).
    WebPushInvalidUrl,
    /// Web Push: the push service answered `410 Gone` (`PPWPRemovedEndpoint`).
    WebPushRemovedEndpoint,
    /// Web Push: the push service answered `413 Payload Too Large` (`PPWPRequestTooLong`).
    WebPushRequestTooLong,
    /// Web Push: the request failed otherwise (`PPWPOtherError`): connection, TLS, timeout.
    WebPushOther(String),
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connection(e) => write!(f, "push provider connection error: {e}"),
            Self::Crypto(e) => write!(f, "push payload crypto error: {e}"),
            Self::Response { status, reason } => {
                write!(f, "push provider error response: {status} {reason}")
            }
            Self::TokenInvalid(r) => write!(f, "device token invalid: {r}"),
            Self::RetryLater(r) => write!(f, "push provider asks to retry later: {r}"),
            Self::Permanent => f.write_str("permanent push provider error"),
            Self::InvalidPusher => f.write_str("token is for another push provider"),
            Self::WebPushInvalidUrl => f.write_str("web push endpoint not allowed or invalid"),
            Self::WebPushRemovedEndpoint => f.write_str("web push endpoint removed (410)"),
            Self::WebPushRequestTooLong => f.write_str("web push request too long (413)"),
            Self::WebPushOther(e) => write!(f, "web push request failed: {e}"),
        }
    }
}

impl std::error::Error for PushError {}

/// Why a push could not be exchanged with the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionError {
    /// No client is configured for the token's provider (e.g. `AT` without a test endpoint,
    /// or Apple without a signing key).
    NotConfigured(PushProvider),
    /// The TCP connection (or name resolution) failed.
    Connect(String),
    /// TLS setup, handshake or certificate verification failed, or the peer did not agree to
    /// HTTP/2 by ALPN.
    Tls(String),
    /// The HTTP/2 connection or stream failed.
    Http2(String),
    /// Connecting or the request took too long.
    Timeout,
    /// The provider token could not be signed.
    Jwt(JwtError),
    /// A Web Push token, and the server has no Web Push configuration.
    WebPushNotConfigured,
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotConfigured(p) => write!(f, "no push client configured for {p}"),
            Self::Connect(e) => write!(f, "connect: {e}"),
            Self::Tls(e) => write!(f, "TLS: {e}"),
            Self::Http2(e) => write!(f, "HTTP/2: {e}"),
            Self::Timeout => f.write_str("timeout"),
            Self::Jwt(e) => write!(f, "provider token: {e}"),
            Self::WebPushNotConfigured => f.write_str("no web push client configured"),
        }
    }
}

impl std::error::Error for ConnectionError {}

/// The future a [`PushProviderClient`] returns.
pub type PushFuture<'a> = Pin<Box<dyn Future<Output = Result<(), PushError>> + Send + 'a>>;

/// Something that delivers push notifications to devices (the reference's
/// `PushProviderClient`). Object safe: the server holds an `Arc<dyn PushProviderClient>`.
pub trait PushProviderClient: Send + Sync {
    /// Delivers `notification` to the device of `token`, encrypted with the token's DH secret
    /// `dh_secret` (X25519 of the server's token key and the client's key from `TNEW`).
    ///
    /// # Errors
    /// A [`PushError`] saying what failed and so what the caller should do.
    fn push<'a>(
        &'a self,
        token: &'a DeviceToken,
        dh_secret: &'a [u8; 32],
        notification: PushNotification,
    ) -> PushFuture<'a>;
}

/// The `apns_null` provider: accepts every push and sends nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullPushClient;

impl PushProviderClient for NullPushClient {
    fn push<'a>(
        &'a self,
        _token: &'a DeviceToken,
        _dh_secret: &'a [u8; 32],
        _notification: PushNotification,
    ) -> PushFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}
