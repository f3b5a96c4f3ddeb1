//! The sans-IO notification server core: client transmissions, push results, SMP events and
//! the periodic sweep in; responses and effects out.
//!
//! Mirrors the reference's `Notifications/Server.hs`: `receive`/`verifyNtfTransmission`
//! (decode, credentials, authorization), `client`/`processCommand` (the commands),
//! `runPushWorker` (push results), `ntfSubscriber` (SMP events and `NMSG`) and
//! `periodicNtfsThread` (check-messages pushes). No clocks, sockets or OS randomness: `now`
//! (Unix seconds) and the RNG are passed in.

use std::vec;
use std::vec::Vec;

use ntf_proto::command::{NewNtfSubscription, NewNtfToken, NtfCommand, NtfEntity, NtfEntityId};
use ntf_proto::credentials;
use ntf_proto::push::{PnMessageData, PnMessages, NONCE_LEN};
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::response::NtfResponse;
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{NtInvalidReason, NtfRegCode, NtfTknStatus};
use ntf_proto::version::Version;
use rand_core::{CryptoRng, RngCore};
use smp_proto::crypto::{dh, dummy_verify_authorization, verify_authorization, TransmissionAuth};
use smp_proto::error::DecodeErrorKind;
use smp_proto::error_type::{CommandError, ErrorType, TransportError};
use smp_proto::keys::PublicKey;
use smp_proto::server::SmpServer;
use smp_proto::transmission::{ForAuth, RawTransmission, TransmissionParams};

use super::preverify::Preverified;
use super::service::Services;
use super::store::{
    system_date, NotifierKey, Store, StoreError, StoreResult, SubscriptionRecord, TokenRecord,
};

/// Server settings (the relevant part of the reference's `NtfServerConfig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Length of new token and subscription ids (`subIdBytes`, 24; at most 255).
    pub entity_id_bytes: usize,
    /// Length of registration codes (`regCodeBytes`, 32; at most 255).
    pub reg_code_bytes: usize,
    /// Seconds between periodic sweeps (`periodicNtfsInterval`, 300).
    pub periodic_interval: i64,
    /// Most recent notifications carried by one push (`maxNtfs`, 6).
    pub max_ntfs: usize,
    /// Smallest non-zero `TCRN` interval in minutes; smaller ones get `ERR QUOTA` (20).
    pub min_cron_interval: u16,
    /// Whether a token that never had a periodic push is due for one. The reference's query
    /// (`cron_sent_at + cron_interval * 60 < now` on a NULL `cron_sent_at`) never selects
    /// such tokens, so it never starts periodic pushes; `true` (the default) starts them at
    /// the first sweep after `TCRN`. Set `false` for the reference's behaviour.
    pub unsent_periodic_is_due: bool,
    /// Subscriptions per `SmpSubscribe` batch when resubscribing (`subsBatchSize`, 900).
    pub subs_batch_size: usize,
    /// Which Web Push tokens `TNEW` and `TRPL` take; `None` (no Web Push configured): none.
    /// A refused token is `ERR CMD SYNTAX` (see [`crate::webpush::policy`]).
    pub web_push: Option<crate::webpush::WebPushPolicy>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            entity_id_bytes: 24,
            reg_code_bytes: 32,
            periodic_interval: 300,
            max_ntfs: 6,
            min_cron_interval: 20,
            unsent_periodic_is_due: true,
            subs_batch_size: 900,
            web_push: None,
        }
    }
}

/// The parameters of one client connection, fixed by the handshake (the server side of the
/// reference's `THandleParams`).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionParams {
    /// The negotiated NTF version.
    pub version: Version,
    /// The TLS channel binding (`tls-unique`).
    pub session_id: Vec<u8>,
    /// The server's X25519 session private key that verifies authenticators (`THAuthServer`
    /// `serverPrivKey`); `None` before NTF v2 (authenticators then always fail).
    pub server_private: Option<[u8; 32]>,
}

impl SessionParams {
    /// Parameters for a session.
    pub fn new(
        version: Version,
        session_id: impl Into<Vec<u8>>,
        server_private: Option<[u8; 32]>,
    ) -> Self {
        Self {
            version,
            session_id: session_id.into(),
            server_private,
        }
    }

    /// The transmission framing parameters of this session.
    pub fn transmission_params(&self) -> TransmissionParams<'_> {
        TransmissionParams::ntf(&self.session_id, self.version)
    }
}

impl core::fmt::Debug for SessionParams {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionParams")
            .field("version", &self.version)
            .field("session_id_len", &self.session_id.len())
            .field("server_private", &self.server_private.map(|_| ".."))
            .finish()
    }
}

/// A response transmission to send (unauthorized, as all server responses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The correlation id of the command (empty for `BLOCK` on an unparsable transmission).
    pub corr_id: Vec<u8>,
    /// The entity id: the command's, or empty for `IDTKN`/`IDSUB` and transport errors.
    pub entity_id: Vec<u8>,
    /// The response.
    pub response: NtfResponse,
}

impl Response {
    fn new(corr_id: &[u8], entity_id: &[u8], response: NtfResponse) -> Self {
        Self {
            corr_id: corr_id.to_vec(),
            entity_id: entity_id.to_vec(),
            response,
        }
    }

    /// Appends the transmission (`encodeTransmission`): empty authorization, then the
    /// session id when not implied, correlation id, entity id and the response at the
    /// session's version (`TKN INVALID` loses its reason below v3).
    ///
    /// ```text
    /// %x00 [short-bytes(session-id)] short-bytes(corr-id) short-bytes(entity-id) response
    /// ```
    pub fn encode(&self, params: &SessionParams, out: &mut Vec<u8>) {
        let body = self.response.to_bytes(params.version);
        ForAuth::new(
            &params.transmission_params(),
            &self.corr_id,
            &self.entity_id,
            &body,
        )
        .encode(false, None, None, out);
    }

    /// The transmission as a new vector (see [`Response::encode`]).
    pub fn to_bytes(&self, params: &SessionParams) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(params, &mut v);
        v
    }
}

/// What to push to a device (the reference's `PushNotification`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushNotification {
    /// The registration code to verify the token (`PNVerification`).
    Verification(NtfRegCode),
    /// The most recent message notifications, oldest first (`PNMessage`).
    Messages(PnMessages),
    /// A periodic background wake-up (`PNCheckMessages`).
    CheckMessages,
}

impl PushNotification {
    /// The kind, to report the delivery result with [`NtfServerCore::push_result`].
    pub fn kind(&self) -> PushKind {
        match self {
            Self::Verification(_) => PushKind::Verification,
            Self::Messages(_) => PushKind::Messages,
            Self::CheckMessages => PushKind::CheckMessages,
        }
    }
}

/// The kind of a [`PushNotification`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PushKind {
    /// A verification push.
    Verification,
    /// A message notification push.
    Messages,
    /// A periodic check-messages push.
    CheckMessages,
}

/// How a push ended at the provider (the reference's `deliverNotification` result).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PushOutcome {
    /// The provider accepted the push.
    Delivered,
    /// The provider rejected the device token (`PPTokenInvalid`).
    InvalidToken(NtInvalidReason),
    /// Any other failure (connection, retry-later after the retry, crypto, permanent).
    Failed,
}

/// Work for the shell after an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Send a push to the token's device (`pushNotification`). The record carries the device
    /// token and the DH secret that encrypts the payload.
    Push {
        /// The token (as stored when the push was decided).
        token: TokenRecord,
        /// What to push.
        notification: PushNotification,
    },
    /// Subscribe to the queue's notifications on its SMP server with `NSUB`
    /// (`subscribeNtfs`). Report [`SmpEvent::Pending`] when `NSUB` is sent.
    SmpSubscribe {
        /// The subscription.
        subscription_id: NtfEntityId,
        /// The SMP server and notifier id.
        queue: SmpQueueNtf,
        /// The key that authorizes `NSUB`.
        notifier_key: NotifierKey,
        /// The store has it PENDING already (taken from the store to be subscribed, as the
        /// reference's `getServerNtfSubscriptions` does): no [`SmpEvent::Pending`] for its
        /// first `NSUB` (a later one, after a lost connection, reports it).
        pending: bool,
    },
    /// Stop the queue's SMP subscription (`removeActiveSub`/`removePendingSub`).
    SmpUnsubscribe {
        /// The SMP server and notifier id.
        queue: SmpQueueNtf,
    },
    /// Subscribe every queue associated with the service on the server with one `NSUBS`
    /// (`subscribeServiceNtfs`), on each connection that is a service session; without one,
    /// report [`SmpEvent::ServiceUnavailable`], otherwise [`SmpEvent::ServiceSubscribed`].
    SmpSubscribeService {
        /// The SMP server.
        server: SmpServer,
        /// The service id stored for it.
        service_id: Vec<u8>,
        /// The associated subscriptions in the store (the `SOKS` count expected).
        count: u64,
    },
    /// Subscribe again, one by one, every subscription on the server that should be
    /// subscribed (after its service association was removed): page them out with
    /// [`NtfServerCore::resubscribe_page`] (`subscribeSrvSubs` without a service).
    SmpResubscribe {
        /// The SMP server.
        server: SmpServer,
    },
}

/// Why an SMP subscription failed (the reference's `queueSubErrorStatus`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SmpSubError {
    /// `ERR AUTH` -> `AUTH`.
    Auth,
    /// `ERR SERVICE` or service unavailable -> `SERVICE`.
    Service,
    /// Another protocol, response, transport or crypto error -> `ERR <text>`.
    Other(Vec<u8>),
    /// A time-out, network or IO error: the status stays.
    Transient,
}

impl SmpSubError {
    /// The status a subscription gets, `None` when it stays.
    pub fn status(&self) -> Option<NtfSubStatus> {
        match self {
            Self::Auth => Some(NtfSubStatus::Auth),
            Self::Service => Some(NtfSubStatus::Service),
            Self::Other(t) => Some(NtfSubStatus::Err(t.clone())),
            Self::Transient => None,
        }
    }
}

/// An event from the SMP side (the reference's `receiveSMP` and `receiveAgent`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmpEvent {
    /// `NMSG` for a queue.
    Message {
        /// The queue.
        queue: SmpQueueNtf,
        /// The nonce of the encrypted metadata.
        nonce: [u8; NONCE_LEN],
        /// The encrypted message metadata.
        enc_meta: Vec<u8>,
    },
    /// `END` from the current session of the queue's server -> `END`. The shell drops
    /// `END` from other sessions (`activeClientSession'`).
    End {
        /// The queue.
        queue: SmpQueueNtf,
    },
    /// `DELD` -> `DELETED`.
    Deleted {
        /// The queue.
        queue: SmpQueueNtf,
    },
    /// `NSUB` is being sent -> `PENDING` (`runSMPSubscriber`'s `updateSubStatus`).
    Pending {
        /// The SMP server.
        server: SmpServer,
        /// Notifier ids.
        notifier_ids: Vec<Vec<u8>>,
    },
    /// The server confirmed the subscriptions -> `ACTIVE` (`CASubscribed`).
    Subscribed {
        /// The SMP server.
        server: SmpServer,
        /// Notifier ids.
        notifier_ids: Vec<Vec<u8>>,
    },
    /// Subscriptions failed (`CASubError`).
    SubscriptionErrors {
        /// The SMP server.
        server: SmpServer,
        /// Notifier ids with their errors.
        errors: Vec<(Vec<u8>, SmpSubError)>,
    },
    /// The connection to the server was lost -> `INACTIVE` (`CADisconnected`).
    Disconnected {
        /// The SMP server.
        server: SmpServer,
        /// Notifier ids that were subscribed.
        notifier_ids: Vec<Vec<u8>>,
    },
    /// `NSUB` in a service session answered `SOK` with the service id: the subscriptions are
    /// ACTIVE and associated with the service (`CASubscribed` with a service id).
    ServiceAssociated {
        /// The SMP server.
        server: SmpServer,
        /// The service id of the session.
        service_id: Vec<u8>,
        /// Notifier ids.
        notifier_ids: Vec<Vec<u8>>,
    },
    /// `NSUBS` answered `SOKS count` (`CAServiceSubscribed`): when the stored service id and
    /// count of associated subscriptions agree, they are all ACTIVE (at once: see
    /// [`super::service`]); otherwise the association is removed and they are subscribed one
    /// by one ([`Effect::SmpResubscribe`]).
    ServiceSubscribed {
        /// The SMP server.
        server: SmpServer,
        /// The service id of the session.
        service_id: Vec<u8>,
        /// The count the relay answered.
        count: u64,
    },
    /// The service subscription cannot be made: the session is not a service session, has
    /// another service id, or `NSUBS` failed (`CAServiceUnavailable`): the association is
    /// removed and the subscriptions are subscribed one by one.
    ServiceUnavailable {
        /// The SMP server.
        server: SmpServer,
    },
    /// The service session was lost: the associated subscriptions are INACTIVE until the
    /// next `SOKS` (the reference only logs `CAServiceDisconnected`).
    ServiceDisconnected {
        /// The SMP server.
        server: SmpServer,
    },
    /// `ENDS count` from the current session: another session of the same service took the
    /// service subscription. Counted; no status changes (the reference has no handler for it).
    ServiceEnded {
        /// The SMP server.
        server: SmpServer,
        /// The count in `ENDS`.
        count: u64,
    },
}

/// The result of a client transmission: the response and the effects to run. Run the
/// effects after (or while) sending the response; the store already holds the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// The response transmission.
    pub response: Response,
    /// Pushes and SMP subscription changes.
    pub effects: Vec<Effect>,
}

impl Output {
    fn reply(corr_id: &[u8], entity_id: &[u8], response: NtfResponse) -> Self {
        Self {
            response: Response::new(corr_id, entity_id, response),
            effects: Vec::new(),
        }
    }

    fn error(corr_id: &[u8], entity_id: &[u8], e: ErrorType) -> Self {
        Self::reply(corr_id, entity_id, NtfResponse::Err(e))
    }

    fn with(mut self, effects: impl IntoIterator<Item = Effect>) -> Self {
        self.effects.extend(effects);
        self
    }
}

/// A verified request (the reference's `NtfRequest`).
enum Request {
    NewToken(NewNtfToken),
    Token(TokenRecord, NtfCommand),
    NewSub(TokenRecord, NewNtfSubscription),
    Sub(SubscriptionRecord, NtfCommand),
    Ping,
}

/// What an authorization is checked against (`verifyCmdAuthorization`'s arguments).
struct Authorization<'a> {
    auth: Option<&'a TransmissionAuth>,
    authorized: &'a [u8],
    corr_id: &'a [u8],
    server_private: Option<&'a [u8; 32]>,
    /// A verification made ahead of handling ([`super::preverify`]).
    pre: Option<&'a Preverified>,
}

impl Authorization<'_> {
    fn verify(&self, key: &PublicKey) -> bool {
        if let Some(p) = self.pre.filter(|p| p.key.as_ref() == Some(key)) {
            return p.ok;
        }
        verify_authorization(
            self.auth,
            key,
            self.authorized,
            self.corr_id,
            self.server_private,
        )
    }

    /// A failed lookup: `AUTH` after a dummy verification, so that a missing entity takes
    /// the time of a wrong authorization; other errors as they are (`err` in
    /// `verifyNtfTransmission`).
    fn fail(&self, e: ErrorType) -> ErrorType {
        // a preverification already did the work of one verification
        if e == ErrorType::Auth && self.pre.is_none() {
            let _ = core::hint::black_box(dummy_verify_authorization(
                self.auth,
                self.authorized,
                self.corr_id,
                self.server_private,
            ));
        }
        e
    }
}

fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn entity(id: &[u8]) -> NtfEntityId {
    // a transmission's entity id is short bytes, so it always fits
    NtfEntityId::new(id).unwrap_or_default()
}

fn unsubscribe(queues: Vec<SmpQueueNtf>) -> impl Iterator<Item = Effect> {
    queues
        .into_iter()
        .map(|queue| Effect::SmpUnsubscribe { queue })
}

/// The notification server core over a [`Store`] and an RNG.
///
/// Inputs: [`handle_transmission`](Self::handle_transmission) (client commands),
/// [`push_result`](Self::push_result), [`smp_event`](Self::smp_event),
/// [`tick`](Self::tick) and [`resubscribe`](Self::resubscribe). Outputs: responses and
/// [`Effect`]s.
#[derive(Clone)]
pub struct NtfServerCore<S, R> {
    config: Config,
    store: S,
    rng: R,
    next_sweep: i64,
    pub(super) services: Services,
}

impl<S: Store, R: RngCore + CryptoRng> NtfServerCore<S, R> {
    /// A core started at `now`; the first periodic sweep is due one interval later.
    pub fn new(config: Config, store: S, rng: R, now: i64) -> Self {
        let next_sweep = now.saturating_add(config.periodic_interval);
        Self {
            config,
            store,
            rng,
            next_sweep,
            services: Services::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store totals (`getEntityCounts`).
    ///
    /// # Errors
    /// Store failures.
    pub fn entity_counts(&self) -> StoreResult<crate::ntf::store::EntityCounts> {
        self.store.entity_counts()
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably (for administration and tests).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The store and the RNG.
    pub fn into_parts(self) -> (S, R) {
        (self.store, self.rng)
    }

    /// Handles one client transmission (one element of a batch) as received
    /// (`receive` + `verifyNtfTransmission` + `processCommand`).
    ///
    /// Rules, in order:
    /// - an unparsable transmission -> `ERR BLOCK` with empty correlation and entity ids;
    /// - a foreign session id -> `ERR SESSION`, an authorization of a bad length ->
    ///   `ERR BLOCK` (empty entity id) (`tDecodeServer`);
    /// - an unknown command tag -> `ERR CMD UNKNOWN`, other command decode errors ->
    ///   `ERR CMD SYNTAX`, bad credentials -> `CMD NO_AUTH`/`CMD HAS_AUTH`
    ///   ([`credentials::check_command`]), echoing the entity id;
    /// - then the authorization and the command (see [`NtfServerCore::handle_raw`]).
    pub fn handle_transmission(
        &mut self,
        now: i64,
        params: &SessionParams,
        bytes: &[u8],
    ) -> Output {
        let tp = params.transmission_params();
        match RawTransmission::decode(bytes, &tp) {
            Ok(raw) => self.handle_raw(now, params, &raw),
            Err(_) => Output::error(b"", b"", ErrorType::Block),
        }
    }

    /// Handles one parsed client transmission (see
    /// [`handle_transmission`](Self::handle_transmission) for the transport rules).
    ///
    /// Authorization (`verifyNtfTransmission`): `TNEW` is verified with the key it carries,
    /// then the registration (device token, verify key) is looked up; `PING` is not
    /// verified; other commands are verified with the key of their token (for `SNEW`, the
    /// token it names; for `SCHK`/`SDEL`, the subscription's token). An unknown entity, a
    /// token that does not allow subscription commands (`allowNtfSubCommands`: ACTIVE,
    /// INVALID, EXPIRED) for `SNEW`/`SCHK`/`SDEL`, and an `SNEW` queue owned by another token
    /// answer `AUTH` after a dummy verification (same work as a real one). A failed
    /// verification answers `AUTH`.
    ///
    /// Commands (`processCommand`):
    /// - new `TNEW`: a token with a fresh X25519 key pair, random id and registration code,
    ///   status REGISTERED -> `IDTKN id server-dh-key` and a verification push;
    /// - repeated `TNEW`: the client's DH key must give the stored secret (else `AUTH`); if
    ///   the status does not allow verification (`allowTokenVerification`: REGISTERED,
    ///   CONFIRMED, ACTIVE) it goes back to REGISTERED; the verification push again and the
    ///   same `IDTKN`;
    /// - `TVFY code`: allowed status and the right code -> ACTIVE, other tokens with the same
    ///   device token deleted (their SMP subscriptions stopped), `OK`; else `AUTH`;
    /// - `TCHK` -> `TKN status`; `TRPL device-token` -> new code, REGISTERED, verification
    ///   push to the new device token, `OK`; `TDEL` -> deleted with its subscriptions,
    ///   `OK`; `TCRN 0` disables, `TCRN 1..19` -> `ERR QUOTA`, else stored, `OK`;
    /// - new `SNEW`: status NEW -> `IDSUB id` and an SMP subscribe; repeated `SNEW` with the
    ///   same notifier key -> the existing id, another key -> `AUTH`;
    /// - `SCHK` -> `SUB status`; `SDEL` -> deleted and unsubscribed, `OK`; `PING` -> `PONG`.
    ///
    /// Store failures answer `ERR AUTH` (entity gone) or `ERR STORE <text>`.
    pub fn handle_raw(
        &mut self,
        now: i64,
        params: &SessionParams,
        raw: &RawTransmission<'_>,
    ) -> Output {
        self.handle_preverified(now, params, raw, None)
    }

    /// Handles a transmission as [`handle_raw`](Self::handle_raw) does, using `pre` (a
    /// verification made ahead, [`super::preverify`]) for the authorization when it was made
    /// with the key found now.
    pub fn handle_preverified(
        &mut self,
        now: i64,
        params: &SessionParams,
        raw: &RawTransmission<'_>,
        pre: Option<&Preverified>,
    ) -> Output {
        let tp = params.transmission_params();
        let corr = raw.corr_id;
        let auth = match raw.check(&tp) {
            Ok(a) => a,
            Err(TransportError::Session) => return Output::error(corr, b"", ErrorType::Session),
            Err(_) => return Output::error(corr, b"", ErrorType::Block),
        };
        let entity_id = raw.entity_id;
        let cmd = match NtfCommand::decode(raw.command, params.version) {
            Ok(c) => c,
            Err(e) => {
                let ce = if e.kind == DecodeErrorKind::UnknownTag {
                    CommandError::Unknown
                } else {
                    CommandError::Syntax
                };
                return Output::error(corr, entity_id, ErrorType::Cmd(ce));
            }
        };
        if let Err(e) = credentials::check_command(&cmd, auth.is_some(), entity_id) {
            return Output::error(corr, entity_id, e);
        }
        let authorized = raw.authorized();
        let a = Authorization {
            auth: auth.as_ref(),
            authorized: &authorized,
            corr_id: corr,
            server_private: params.server_private.as_ref(),
            pre,
        };
        match self.verify(now, &a, entity_id, cmd) {
            Ok(req) => self.process(now, corr, entity_id, req),
            Err(e) => Output::error(corr, entity_id, e),
        }
    }

    fn touch(&mut self, t: &TokenRecord, now: i64) {
        let day = system_date(now);
        if t.updated_at != Some(day) {
            // a failed date update does not fail the command
            let _ = self.store.touch_token(&t.id, day);
        }
    }

    /// `verifyNtfTransmission`.
    fn verify(
        &mut self,
        now: i64,
        a: &Authorization<'_>,
        entity_id: &[u8],
        cmd: NtfCommand,
    ) -> Result<Request, ErrorType> {
        if let NtfCommand::Tnew(NewNtfToken { token, .. }) | NtfCommand::Trpl(token) = &cmd {
            // the branch refuses a token it cannot parse before anything else
            if crate::webpush::policy::check_token(self.config.web_push.as_ref(), token).is_err() {
                return Err(ErrorType::Cmd(smp_proto::error_type::CommandError::Syntax));
            }
        }
        match cmd {
            NtfCommand::Tnew(new) => {
                if !a.verify(new.verify_key.key()) {
                    return Err(ErrorType::Auth);
                }
                match self
                    .store
                    .find_token_registration(&new.token, &new.verify_key)
                {
                    Ok(Some(t)) => {
                        self.touch(&t, now);
                        Ok(Request::Token(t, NtfCommand::Tnew(new)))
                    }
                    Ok(None) => Ok(Request::NewToken(new)),
                    Err(e) => Err(e.to_error_type()),
                }
            }
            NtfCommand::Ping => Ok(Request::Ping),
            NtfCommand::Snew(new) => {
                let (t, sub) = self
                    .find_subscription(now, &new)
                    .map_err(|e| a.fail(e.to_error_type()))?;
                if !a.verify(t.verify_key.key()) {
                    return Err(ErrorType::Auth);
                }
                Ok(match sub {
                    Some(s) => Request::Sub(s, NtfCommand::Snew(new)),
                    None => Request::NewSub(t, new),
                })
            }
            cmd if cmd.entity() == NtfEntity::Token => {
                let t = match self.store.get_token(&entity(entity_id)) {
                    Ok(Some(t)) => t,
                    Ok(None) => return Err(a.fail(ErrorType::Auth)),
                    Err(e) => return Err(a.fail(e.to_error_type())),
                };
                self.touch(&t, now);
                if !a.verify(t.verify_key.key()) {
                    return Err(ErrorType::Auth);
                }
                Ok(Request::Token(t, cmd))
            }
            cmd => {
                let (t, s) = match self.store.get_subscription(&entity(entity_id)) {
                    Ok(Some(ts)) => ts,
                    Ok(None) => return Err(a.fail(ErrorType::Auth)),
                    Err(e) => return Err(a.fail(e.to_error_type())),
                };
                self.touch(&t, now);
                if !t.status.allow_ntf_sub_commands() {
                    return Err(a.fail(ErrorType::Auth));
                }
                if !a.verify(t.verify_key.key()) {
                    return Err(ErrorType::Auth);
                }
                Ok(Request::Sub(s, cmd))
            }
        }
    }

    /// `findNtfSubscription`: the token named by `SNEW` (must allow subscription commands)
    /// and the queue's subscription (must belong to that token).
    fn find_subscription(
        &mut self,
        now: i64,
        new: &NewNtfSubscription,
    ) -> StoreResult<(TokenRecord, Option<SubscriptionRecord>)> {
        let t = self
            .store
            .get_token(&new.token_id)?
            .ok_or(StoreError::NotFound)?;
        if !t.status.allow_ntf_sub_commands() {
            return Err(StoreError::NotFound);
        }
        self.touch(&t, now);
        let sub = self.store.subscription_by_queue(&new.queue)?;
        if sub.as_ref().is_some_and(|s| s.token_id != t.id) {
            return Err(StoreError::NotFound);
        }
        Ok((t, sub))
    }

    fn random(&mut self, n: usize) -> Result<Vec<u8>, ErrorType> {
        let mut v = vec![0u8; n.min(255)];
        self.rng
            .try_fill_bytes(&mut v)
            .map_err(|_| ErrorType::Internal)?;
        Ok(v)
    }

    fn new_id(&mut self) -> Result<NtfEntityId, ErrorType> {
        let v = self.random(self.config.entity_id_bytes)?;
        NtfEntityId::new(v).ok_or(ErrorType::Internal)
    }

    fn new_reg_code(&mut self) -> Result<NtfRegCode, ErrorType> {
        let v = self.random(self.config.reg_code_bytes)?;
        NtfRegCode::new(v).ok_or(ErrorType::Internal)
    }

    /// `processCommand`.
    fn process(&mut self, now: i64, corr: &[u8], entity_id: &[u8], req: Request) -> Output {
        let r = match req {
            Request::Ping => Ok(Output::reply(corr, entity_id, NtfResponse::Pong)),
            Request::NewToken(new) => self.new_token(now, corr, new),
            Request::Token(t, cmd) => self.token_command(corr, entity_id, t, cmd),
            Request::NewSub(t, new) => self.new_subscription(corr, t, new),
            Request::Sub(s, cmd) => self.subscription_command(corr, entity_id, s, cmd),
        };
        r.unwrap_or_else(|e| Output::error(corr, entity_id, e))
    }

    fn new_token(&mut self, now: i64, corr: &[u8], new: NewNtfToken) -> Result<Output, ErrorType> {
        let mut dh_private = [0u8; 32];
        self.rng
            .try_fill_bytes(&mut dh_private)
            .map_err(|_| ErrorType::Internal)?;
        let dh_secret = dh(&new.dh_key.0, &dh_private);
        let id = self.new_id()?;
        let reg_code = self.new_reg_code()?;
        let rec = TokenRecord {
            id: id.clone(),
            token: new.token,
            status: NtfTknStatus::Registered,
            verify_key: new.verify_key,
            dh_private,
            dh_secret,
            reg_code: reg_code.clone(),
            cron_interval: 0,
            cron_sent_at: None,
            updated_at: Some(system_date(now)),
        };
        self.store
            .add_token(rec.clone())
            .map_err(|e| e.to_error_type())?;
        let dh_key = rec.dh_public();
        Ok(
            Output::reply(corr, b"", NtfResponse::IdTkn { id, dh_key }).with([Effect::Push {
                token: rec,
                notification: PushNotification::Verification(reg_code),
            }]),
        )
    }

    fn token_command(
        &mut self,
        corr: &[u8],
        entity_id: &[u8],
        mut t: TokenRecord,
        cmd: NtfCommand,
    ) -> Result<Output, ErrorType> {
        let ok = || Output::reply(corr, entity_id, NtfResponse::Ok);
        let store_err = |e: StoreError| e.to_error_type();
        match cmd {
            NtfCommand::Tnew(new) => {
                // the same DH secret avoids failed verifications when a push is delayed
                if !ct_eq(&dh(&new.dh_key.0, &t.dh_private), &t.dh_secret) {
                    return Err(ErrorType::Auth);
                }
                if !t.status.allow_token_verification() {
                    self.store
                        .update_token_status(&t.id, NtfTknStatus::Registered)
                        .map_err(store_err)?;
                    t.status = NtfTknStatus::Registered;
                }
                let resp = NtfResponse::IdTkn {
                    id: t.id.clone(),
                    dh_key: t.dh_public(),
                };
                let code = t.reg_code.clone();
                Ok(Output::reply(corr, entity_id, resp).with([Effect::Push {
                    token: t,
                    notification: PushNotification::Verification(code),
                }]))
            }
            NtfCommand::Tvfy(code) => {
                // repeatable, for a client whose connection dropped before the response
                if t.status.allow_token_verification() && t.reg_code == code {
                    let activated = self.store.set_token_active(&t.id).map_err(store_err)?;
                    Ok(ok().with(unsubscribe(activated.queues)))
                } else {
                    Err(ErrorType::Auth)
                }
            }
            NtfCommand::Tchk => Ok(Output::reply(corr, entity_id, NtfResponse::Tkn(t.status))),
            NtfCommand::Trpl(device_token) => {
                let code = self.new_reg_code()?;
                self.store
                    .replace_token(
                        &t.id,
                        device_token.clone(),
                        NtfTknStatus::Registered,
                        code.clone(),
                    )
                    .map_err(store_err)?;
                t.token = device_token;
                t.status = NtfTknStatus::Registered;
                t.reg_code = code.clone();
                Ok(ok().with([Effect::Push {
                    token: t,
                    notification: PushNotification::Verification(code),
                }]))
            }
            NtfCommand::Tdel => {
                let queues = self.store.delete_token(&t.id).map_err(store_err)?;
                Ok(ok().with(unsubscribe(queues)))
            }
            NtfCommand::Tcrn(minutes) => {
                if minutes != 0 && minutes < self.config.min_cron_interval {
                    return Err(ErrorType::Quota);
                }
                self.store
                    .update_token_cron_interval(&t.id, minutes)
                    .map_err(store_err)?;
                Ok(ok())
            }
            // subscription commands never reach here (see `verify`)
            NtfCommand::Snew(_) | NtfCommand::Schk | NtfCommand::Sdel | NtfCommand::Ping => {
                Err(ErrorType::Internal)
            }
        }
    }

    fn new_subscription(
        &mut self,
        corr: &[u8],
        t: TokenRecord,
        new: NewNtfSubscription,
    ) -> Result<Output, ErrorType> {
        let id = self.new_id()?;
        let rec = SubscriptionRecord {
            id: id.clone(),
            token_id: t.id,
            queue: new.queue,
            // the public key derived once here, stored, and used for every NSUB
            notifier_key: NotifierKey::new(new.notifier_key),
            status: NtfSubStatus::New,
            service_assoc: false,
        };
        let added = self
            .store
            .add_subscription(rec.clone())
            .map_err(|e| e.to_error_type())?;
        if !added {
            return Err(ErrorType::Auth);
        }
        Ok(
            Output::reply(corr, b"", NtfResponse::IdSub(id.clone())).with([Effect::SmpSubscribe {
                subscription_id: id,
                queue: rec.queue,
                notifier_key: rec.notifier_key,
                pending: false,
            }]),
        )
    }

    fn subscription_command(
        &mut self,
        corr: &[u8],
        entity_id: &[u8],
        s: SubscriptionRecord,
        cmd: NtfCommand,
    ) -> Result<Output, ErrorType> {
        match cmd {
            NtfCommand::Snew(new) => {
                if new.notifier_key == *s.notifier_key.private() {
                    Ok(Output::reply(corr, entity_id, NtfResponse::IdSub(s.id)))
                } else {
                    Err(ErrorType::Auth)
                }
            }
            NtfCommand::Schk => {
                let status = self.reported_status(&s);
                Ok(Output::reply(corr, entity_id, NtfResponse::Sub(status)))
            }
            NtfCommand::Sdel => {
                self.store
                    .delete_subscription(&s.id)
                    .map_err(|e| e.to_error_type())?;
                Ok(
                    Output::reply(corr, entity_id, NtfResponse::Ok)
                        .with(unsubscribe(vec![s.queue])),
                )
            }
            // token commands never reach here (see `verify`)
            _ => Err(ErrorType::Internal),
        }
    }

    /// Records how a push ended (`runPushWorker`, `deliverNotification`):
    /// a delivered verification push makes the token CONFIRMED unless it is CONFIRMED or
    /// ACTIVE (`setTknStatusConfirmed`); a delivered check-messages push records `now` as the
    /// last periodic push (`updateTokenCronSentAt`); a token the provider rejected becomes
    /// `INVALID,<reason>`, whatever the push; other failures change nothing.
    ///
    /// # Errors
    /// Store failures.
    pub fn push_result(
        &mut self,
        now: i64,
        token_id: &NtfEntityId,
        kind: PushKind,
        outcome: PushOutcome,
    ) -> StoreResult<()> {
        match (outcome, kind) {
            (PushOutcome::Delivered, PushKind::Verification) => {
                self.store.set_token_confirmed(token_id).map(|_| ())
            }
            (PushOutcome::Delivered, PushKind::CheckMessages) => {
                self.store.update_token_cron_sent_at(token_id, now)
            }
            (PushOutcome::Delivered, PushKind::Messages) | (PushOutcome::Failed, _) => Ok(()),
            (PushOutcome::InvalidToken(reason), _) => self
                .store
                .update_token_status(token_id, NtfTknStatus::Invalid(Some(reason)))
                .map(|_| ()),
        }
    }

    /// Handles an event from the SMP side (`ntfSubscriber`).
    ///
    /// `NMSG` (`addTokenLastNtf`): dropped when no subscription has the queue, its token is
    /// not ACTIVE, or the metadata is empty; otherwise kept as the latest notification of
    /// (token, subscription), stamped `now`, and one push carries the token's
    /// [`Config::max_ntfs`] most recent notifications, oldest first. Status events set the
    /// subscription statuses: `END` -> END, `DELD` -> DELETED, pending -> PENDING, subscribed
    /// -> ACTIVE, errors -> [`SmpSubError::status`], disconnected -> INACTIVE.
    ///
    /// # Errors
    /// Store failures.
    pub fn smp_event(&mut self, now: i64, event: SmpEvent) -> StoreResult<Vec<Effect>> {
        let set_all = |ids: Vec<Vec<u8>>, status: NtfSubStatus| -> Vec<(Vec<u8>, NtfSubStatus)> {
            ids.into_iter().map(|id| (id, status.clone())).collect()
        };
        // a relay's answer to a whole batch (`batchUpdateSrvSubStatus`) or one queue's event
        // and errors (`updateSubStatus`, `updateSrvSubStatus`, `batchUpdateSrvSubErrors`)
        let (server, updates, batch) = match event {
            SmpEvent::Message {
                queue,
                nonce,
                enc_meta,
            } => return self.message(now, queue, nonce, enc_meta),
            SmpEvent::End { queue } => {
                let u = vec![(queue.notifier_id().to_vec(), NtfSubStatus::End)];
                (queue.server, u, false)
            }
            SmpEvent::Deleted { queue } => {
                let u = vec![(queue.notifier_id().to_vec(), NtfSubStatus::Deleted)];
                (queue.server, u, false)
            }
            SmpEvent::Pending {
                server,
                notifier_ids,
            } => (server, set_all(notifier_ids, NtfSubStatus::Pending), false),
            SmpEvent::Subscribed {
                server,
                notifier_ids,
            } => (server, set_all(notifier_ids, NtfSubStatus::Active), true),
            SmpEvent::Disconnected {
                server,
                notifier_ids,
            } => (server, set_all(notifier_ids, NtfSubStatus::Inactive), true),
            SmpEvent::ServiceAssociated { .. }
            | SmpEvent::ServiceSubscribed { .. }
            | SmpEvent::ServiceUnavailable { .. }
            | SmpEvent::ServiceDisconnected { .. }
            | SmpEvent::ServiceEnded { .. } => return self.service_event(event),
            SmpEvent::SubscriptionErrors { server, errors } => {
                let u = errors
                    .into_iter()
                    .filter_map(|(id, e)| e.status().map(|s| (id, s)))
                    .collect();
                (server, u, false)
            }
        };
        if !updates.is_empty() {
            if batch {
                self.store.batch_subscription_statuses(&server, &updates)?;
            } else {
                self.store.set_subscription_statuses(&server, &updates)?;
            }
        }
        Ok(Vec::new())
    }

    fn message(
        &mut self,
        now: i64,
        queue: SmpQueueNtf,
        nonce: [u8; NONCE_LEN],
        enc_meta: Vec<u8>,
    ) -> StoreResult<Vec<Effect>> {
        let Some(sub) = self.store.subscription_by_queue(&queue)? else {
            // no push (the reference's `addTokenLastNtf` answers AUTH); ours: the subscriber
            // forgets the queue, so it is not subscribed again on a reconnect (its
            // subscription was deleted, e.g. by `SDEL`/`TDEL` through another instance
            // sharing the database, whose `SmpUnsubscribe` never reached this one)
            return Ok(vec![Effect::SmpUnsubscribe { queue }]);
        };
        let Some(tkn) = self.store.get_token(&sub.token_id)? else {
            return Ok(Vec::new());
        };
        if tkn.status != NtfTknStatus::Active {
            return Ok(Vec::new());
        }
        let Some(data) = PnMessageData::new(queue, now, nonce, enc_meta) else {
            return Ok(Vec::new());
        };
        let list =
            self.store
                .add_last_notification(&tkn.id, &sub.id, data, self.config.max_ntfs)?;
        Ok(match PnMessages::new(list) {
            Some(m) => vec![Effect::Push {
                token: tkn,
                notification: PushNotification::Messages(m),
            }],
            None => Vec::new(),
        })
    }

    /// When the next periodic sweep is due (Unix seconds); call [`tick`](Self::tick) then.
    pub fn next_tick(&self) -> i64 {
        self.next_sweep
    }

    /// Runs the periodic sweep when it is due (`periodicNtfsThread`): a check-messages push
    /// for every ACTIVE token with a non-zero interval whose last periodic push is more than
    /// the interval ago (see [`Config::unsent_periodic_is_due`]); the next sweep is one
    /// interval later. Before it is due, nothing happens.
    ///
    /// # Errors
    /// Store failures (the sweep is then retried at the next interval).
    pub fn tick(&mut self, now: i64) -> StoreResult<Vec<Effect>> {
        if now < self.next_sweep {
            return Ok(Vec::new());
        }
        self.next_sweep = now.saturating_add(self.config.periodic_interval.max(1));
        let tokens = self
            .store
            .periodic_tokens(now, self.config.unsent_periodic_is_due)?;
        Ok(tokens
            .into_iter()
            .map(|token| Effect::Push {
                token,
                notification: PushNotification::CheckMessages,
            })
            .collect())
    }

    /// Subscriptions to (re)subscribe on every SMP server, after a start or a lost
    /// service association (`resubscribe`, `subscribeSrvSubs`): those in NEW, PENDING,
    /// ACTIVE, INACTIVE or SERVICE, not associated with a service; they become PENDING. Then,
    /// for a server with a stored service id, its service subscription
    /// ([`Effect::SmpSubscribeService`], see [`super::service`]).
    /// All at once; a server streams them with [`resubscribe_servers`](Self::resubscribe_servers)
    /// and [`resubscribe_page`](Self::resubscribe_page) instead.
    ///
    /// # Errors
    /// Store failures.
    pub fn resubscribe(&mut self) -> StoreResult<Vec<Effect>> {
        let mut effects = Vec::new();
        for server in self.resubscribe_servers()? {
            let mut after: Option<NtfEntityId> = None;
            loop {
                let (page, next) = self.resubscribe_page(&server, after.as_ref())?;
                effects.extend(page);
                match next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            // after the pages: NSUBS follows the NSUBs taken before it
            effects.extend(self.resubscribe_service(&server)?);
        }
        Ok(effects)
    }

    /// The SMP servers with subscriptions to resubscribe (see [`resubscribe`](Self::resubscribe)).
    ///
    /// # Errors
    /// Store failures.
    pub fn resubscribe_servers(&self) -> StoreResult<Vec<SmpServer>> {
        self.store.used_smp_servers()
    }

    /// One page (`subs_batch_size`) of [`resubscribe`](Self::resubscribe) on `server`, after the
    /// subscription id `after`: the subscribe effects and the cursor of the next page (`None`
    /// after the last).
    ///
    /// # Errors
    /// Store failures.
    pub fn resubscribe_page(
        &mut self,
        server: &SmpServer,
        after: Option<&NtfEntityId>,
    ) -> StoreResult<(Vec<Effect>, Option<NtfEntityId>)> {
        let batch = self.config.subs_batch_size.max(1);
        let subs = self.store.take_server_subscriptions(server, after, batch)?;
        let next = if subs.len() < batch { None } else { subs.last().map(|s| s.id.clone()) };
        let effects = subs
            .into_iter()
            .map(|s| Effect::SmpSubscribe {
                subscription_id: s.id,
                queue: s.queue,
                notifier_key: s.notifier_key,
                pending: true,
            })
            .collect();
        Ok((effects, next))
    }
}
