//! Storage of tokens, subscriptions, SMP servers and last notifications, behind the [`Store`]
//! trait, with the in-memory [`MemStore`].
//!
//! The trait mirrors the reference's `Notifications/Server/Store/Postgres.hs`: every mutation
//! the server acknowledges to a client is exactly one trait call (`add_token`,
//! `update_token_status`, `set_token_active`, `replace_token`, `delete_token`,
//! `update_token_cron_interval`, `add_subscription`, `delete_subscription`), so a durable
//! backend can run each call as one transaction and commit it before the core returns the
//! response. Lookups take `&self`; the only write a lookup implies in the reference (the
//! `updated_at` day of a token, `updateTokenDate`) is a separate call, [`Store::touch_token`].
//!
//! Keys and relations, as in the reference schema (`ntf_server_schema.sql`):
//!
//! ```text
//! tokens             id; unique (device token, verify key)
//! subscriptions      id; unique (SMP server, notifier id); belongs to a token (deleted with it)
//! smp_servers        the distinct servers of the subscriptions
//! last_notifications unique (token, subscription); deleted with either
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::string::String;
use std::vec::Vec;

use ntf_proto::command::NtfEntityId;
use ntf_proto::push::PnMessageData;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::store_log::{SubRec, TokenRec};
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtfRegCode, NtfTknStatus};
use smp_proto::error_type::ErrorType;
use smp_proto::crypto::ed25519_public;
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, X25519PublicKey};
use smp_proto::server::SmpServer;

/// Seconds in a day: the resolution of [`TokenRecord::updated_at`] (the reference's
/// `SystemDate`, `RoundedSystemTime 86400`).
pub const DAY_SECONDS: i64 = 86_400;

/// The start of the day of `now` (Unix seconds), as the reference's `getSystemDate`.
pub const fn system_date(now: i64) -> i64 {
    now - now.rem_euclid(DAY_SECONDS)
}

/// A device token registration (the reference's `NtfTknRec`): the store log's
/// [`TokenRec`](ntf_proto::store_log::TokenRec) (the codec crate's type, whose fields these
/// are) and `cron_sent_at`, which the store log does not keep; [`TokenRecord::from_log`] and
/// `TokenRec::from` convert.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Token id (24 random bytes by default).
    pub id: NtfEntityId,
    /// The push provider and the device's token.
    pub token: DeviceToken,
    /// The token status.
    pub status: NtfTknStatus,
    /// The client's key that authorizes commands for this token.
    pub verify_key: AuthPublicKey,
    /// The server's X25519 private key for this token (its public key is sent in `IDTKN`).
    pub dh_private: [u8; 32],
    /// The X25519 shared secret with the client's DH key; encrypts push payloads.
    pub dh_secret: [u8; 32],
    /// The registration code sent in the verification push.
    pub reg_code: NtfRegCode,
    /// Periodic check-messages interval in minutes, 0 = disabled (`tknCronInterval`).
    pub cron_interval: u16,
    /// When the last periodic push was delivered, Unix seconds (`cron_sent_at`).
    pub cron_sent_at: Option<i64>,
    /// The day the token was last used, Unix seconds at 00:00 UTC (`tknUpdatedAt`).
    pub updated_at: Option<i64>,
}

impl TokenRecord {
    /// A store log token, with when its last periodic push was delivered.
    pub fn from_log(t: TokenRec, cron_sent_at: Option<i64>) -> Self {
        let TokenRec { id, token, status, verify_key, dh_private, dh_secret, reg_code, cron_interval, updated_at } = t;
        Self { id, token, status, verify_key, dh_private, dh_secret, reg_code, cron_interval, cron_sent_at, updated_at }
    }

    /// The server's X25519 public key for this token (`C.publicKey tknDhPrivKey`).
    pub fn dh_public(&self) -> X25519PublicKey {
        X25519PublicKey(smp_proto::crypto::x25519_public(&self.dh_private))
    }
}

/// The store log's form of a token: all but `cron_sent_at`.
impl From<TokenRecord> for TokenRec {
    fn from(t: TokenRecord) -> Self {
        let TokenRecord { id, token, status, verify_key, dh_private, dh_secret, reg_code, cron_interval, cron_sent_at: _, updated_at } = t;
        Self { id, token, status, verify_key, dh_private, dh_secret, reg_code, cron_interval, updated_at }
    }
}

impl fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRecord")
            .field("id", &self.id)
            .field("token", &self.token)
            .field("status", &self.status)
            .field("cron_interval", &self.cron_interval)
            .field("cron_sent_at", &self.cron_sent_at)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// A notification subscription: an SMP queue the server subscribes to for a token (the
/// reference's `NtfSubRec`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// Subscription id (24 random bytes by default).
    pub id: NtfEntityId,
    /// The token that receives the notifications.
    pub token_id: NtfEntityId,
    /// The SMP server and notifier id.
    pub queue: SmpQueueNtf,
    /// The key that authorizes `NSUB` on the SMP server.
    pub notifier_key: NotifierKey,
    /// The subscription status.
    pub status: NtfSubStatus,
    /// Whether the subscription is associated with the server's service certificate
    /// (`ntfServiceAssoc`).
    pub service_assoc: bool,
}

/// The store log's form of a subscription.
impl From<SubscriptionRecord> for SubRec {
    fn from(s: SubscriptionRecord) -> Self {
        let SubscriptionRecord { id, token_id, queue, notifier_key, status, service_assoc } = s;
        Self { id, queue, notifier_key: notifier_key.private, token_id, status, service_assoc }
    }
}

/// The private key that authorizes `NSUB` for a subscription, with its Ed25519 public key
/// (derived once, when the subscription is made, and stored with it) so that each `NSUB`
/// is signed without deriving it again: resubscribing after a restart then costs one
/// scalar multiplication a queue instead of two.
///
/// Equality is that of the private keys.
#[derive(Clone, Debug)]
pub struct NotifierKey {
    private: AuthPrivateKey,
    ed25519_public: Option<[u8; 32]>,
}

impl NotifierKey {
    /// The key, with its public key derived when it is an Ed25519 key.
    pub fn new(private: AuthPrivateKey) -> Self {
        let ed25519_public = match private.key() {
            PrivateKey::Ed25519(seed) => Some(ed25519_public(seed)),
            _ => None,
        };
        Self {
            private,
            ed25519_public,
        }
    }

    /// The key as stored: `public` is the stored Ed25519 public key (trusted: the store wrote
    /// what [`NotifierKey::new`] derived); derived again when absent or not 32 bytes.
    pub fn from_stored(private: AuthPrivateKey, public: Option<&[u8]>) -> Self {
        match (private.key(), public.and_then(|p| <[u8; 32]>::try_from(p).ok())) {
            (PrivateKey::Ed25519(_), Some(p)) => Self {
                private,
                ed25519_public: Some(p),
            },
            _ => Self::new(private),
        }
    }

    /// The private key.
    pub fn private(&self) -> &AuthPrivateKey {
        &self.private
    }

    /// The Ed25519 public key, for an Ed25519 key.
    pub fn ed25519_public(&self) -> Option<&[u8; 32]> {
        self.ed25519_public.as_ref()
    }
}

impl From<AuthPrivateKey> for NotifierKey {
    fn from(private: AuthPrivateKey) -> Self {
        Self::new(private)
    }
}

impl PartialEq for NotifierKey {
    fn eq(&self, other: &Self) -> bool {
        self.private == other.private
    }
}

impl Eq for NotifierKey {}

/// A relay's service association as stored: the service id the relay gave the server's
/// service certificate, and how many subscriptions are associated with it (the reference's
/// `(ServiceId, Int64)` of `getUsedSMPServers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerService {
    /// The service id (`ntf_service_id` of `smp_servers`).
    pub service_id: Vec<u8>,
    /// Subscriptions associated with the service (`ntf_service_assoc`) in a status that
    /// should be subscribed.
    pub count: u64,
}

/// A store failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The entity does not exist (any more): answered `AUTH`, as the reference's
    /// `assertUpdated` and `firstRow ... AUTH`.
    NotFound,
    /// A unique key is taken: answered `AUTH`, as the reference's `handleDuplicate`.
    Duplicate,
    /// A backend failure: answered `STORE <text>`.
    Backend(String),
}

impl StoreError {
    /// The protocol error sent to the client.
    pub fn to_error_type(&self) -> ErrorType {
        match self {
            Self::NotFound | Self::Duplicate => ErrorType::Auth,
            Self::Backend(text) => ErrorType::Store(text.clone()),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str("not found"),
            Self::Duplicate => f.write_str("duplicate"),
            Self::Backend(t) => write!(f, "store: {t}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Persistence for the notification server core.
///
/// Each method is one unit of work (one transaction in a durable backend). The core calls a
/// mutating method at most once per client command and sends the response only after it
/// returned `Ok`.
pub trait Store {
    /// The token with this id (`getNtfToken`).
    ///
    /// # Errors
    /// Backend failures.
    fn get_token(&self, id: &NtfEntityId) -> StoreResult<Option<TokenRecord>>;

    /// The token registered for this device token and verify key (`findNtfTokenRegistration`).
    ///
    /// # Errors
    /// Backend failures.
    fn find_token_registration(
        &self,
        token: &DeviceToken,
        verify_key: &AuthPublicKey,
    ) -> StoreResult<Option<TokenRecord>>;

    /// Sets the token's `updated_at` day (`updateTokenDate`).
    ///
    /// # Errors
    /// Backend failures; `NotFound` may be ignored by the caller.
    fn touch_token(&mut self, id: &NtfEntityId, day: i64) -> StoreResult<()>;

    /// Adds a new token (`addNtfToken`).
    ///
    /// # Errors
    /// `Duplicate` when the id or (device token, verify key) is taken.
    fn add_token(&mut self, token: TokenRecord) -> StoreResult<()>;

    /// Replaces the device token, status and registration code (`replaceNtfToken`).
    ///
    /// # Errors
    /// `NotFound`; `Duplicate` when (new device token, verify key) belongs to another token.
    fn replace_token(
        &mut self,
        id: &NtfEntityId,
        token: DeviceToken,
        status: NtfTknStatus,
        reg_code: NtfRegCode,
    ) -> StoreResult<()>;

    /// Sets the token status (`updateTknStatus`); no change when it already has it. Returns
    /// whether it changed (the reference's `updated > 0`).
    ///
    /// # Errors
    /// Backend failures (a missing token is not an error).
    fn update_token_status(&mut self, id: &NtfEntityId, status: NtfTknStatus) -> StoreResult<bool>;

    /// Sets the status CONFIRMED unless it is CONFIRMED or ACTIVE (`setTknStatusConfirmed`);
    /// returns whether it changed.
    ///
    /// # Errors
    /// Backend failures.
    fn set_token_confirmed(&mut self, id: &NtfEntityId) -> StoreResult<bool>;

    /// Sets the status ACTIVE and deletes every other token with the same device token, with
    /// their subscriptions and last notifications (`setTokenActive`). Returns what changed:
    /// whether the status did, the deleted tokens and the queues of their subscriptions.
    ///
    /// # Errors
    /// `NotFound` when the token is gone.
    fn set_token_active(&mut self, id: &NtfEntityId) -> StoreResult<TokenActivated>;

    /// Deletes the token with its subscriptions and last notifications (`deleteNtfToken`).
    /// Returns the queues of the deleted subscriptions.
    ///
    /// # Errors
    /// `NotFound`.
    fn delete_token(&mut self, id: &NtfEntityId) -> StoreResult<Vec<SmpQueueNtf>>;

    /// Sets the periodic notification interval in minutes (`updateTknCronInterval`).
    ///
    /// # Errors
    /// `NotFound`.
    fn update_token_cron_interval(&mut self, id: &NtfEntityId, minutes: u16) -> StoreResult<()>;

    /// Records a delivered periodic push (`updateTokenCronSentAt`).
    ///
    /// # Errors
    /// Backend failures.
    fn update_token_cron_sent_at(&mut self, id: &NtfEntityId, now: i64) -> StoreResult<()>;

    /// ACTIVE tokens with a non-zero interval whose last periodic push is before
    /// `now - interval * 60`; a token never pushed is included when `unsent_is_due`
    /// (`withPeriodicNtfTokens`).
    ///
    /// # Errors
    /// Backend failures.
    fn periodic_tokens(&self, now: i64, unsent_is_due: bool) -> StoreResult<Vec<TokenRecord>>;

    /// The subscription with this id and its token (`getNtfSubscription`).
    ///
    /// # Errors
    /// Backend failures.
    fn get_subscription(
        &self,
        id: &NtfEntityId,
    ) -> StoreResult<Option<(TokenRecord, SubscriptionRecord)>>;

    /// The subscription for this queue, of any token (the lookup in `findNtfSubscription`).
    ///
    /// # Errors
    /// Backend failures.
    fn subscription_by_queue(&self, queue: &SmpQueueNtf)
        -> StoreResult<Option<SubscriptionRecord>>;

    /// Adds a subscription (`addNtfSubscription`); `Ok(false)` when the queue already has one.
    ///
    /// # Errors
    /// `NotFound` when the token is gone; `Duplicate` for a taken id.
    fn add_subscription(&mut self, sub: SubscriptionRecord) -> StoreResult<bool>;

    /// Deletes a subscription and its last notification (`deleteNtfSubscription`).
    ///
    /// # Errors
    /// `NotFound`.
    fn delete_subscription(&mut self, id: &NtfEntityId) -> StoreResult<()>;

    /// Sets the statuses of subscriptions on one SMP server by notifier id, one queue's
    /// event or a batch of errors (`updateSubStatus`, `updateSrvSubStatus`,
    /// `batchUpdateSrvSubErrors`); unknown ids and subscriptions that already have the status
    /// are skipped. Returns the subscriptions that changed, as they are now (the reference's
    /// `RETURNING`, which its store log records).
    ///
    /// # Errors
    /// Backend failures.
    fn set_subscription_statuses(
        &mut self,
        server: &SmpServer,
        updates: &[(Vec<u8>, NtfSubStatus)],
    ) -> StoreResult<Vec<SubStatusChange>>;

    /// [`Store::set_subscription_statuses`] for a relay's answer to a whole batch (subscribed,
    /// disconnected: `batchUpdateSrvSubStatus` without a service id), which the reference
    /// does not record in its store log; returns only how many changed, so a backend can
    /// skip collecting them.
    ///
    /// # Errors
    /// Backend failures.
    fn batch_subscription_statuses(
        &mut self,
        server: &SmpServer,
        updates: &[(Vec<u8>, NtfSubStatus)],
    ) -> StoreResult<usize> {
        self.set_subscription_statuses(server, updates).map(|c| c.len())
    }

    /// The SMP servers that have subscriptions to (re)subscribe (`getUsedSMPServers`).
    ///
    /// # Errors
    /// Backend failures.
    fn used_smp_servers(&self) -> StoreResult<Vec<SmpServer>>;

    /// The subscriptions on `server` that should be subscribed
    /// ([`NtfSubStatus::should_subscribe`]), not associated with a service, after
    /// `after` in id order, at most `limit`; their status becomes PENDING
    /// (`getServerNtfSubscriptions`).
    ///
    /// # Errors
    /// Backend failures.
    fn take_server_subscriptions(
        &mut self,
        server: &SmpServer,
        after: Option<&NtfEntityId>,
        limit: usize,
    ) -> StoreResult<Vec<SubscriptionRecord>>;

    /// The relay's service id stored for `server` and the number of its subscriptions
    /// associated with it in the statuses that should be subscribed (the service part of
    /// `getUsedSMPServers`: the `SOKS` count the relay should answer to `NSUBS`). `None` when
    /// no service id is stored for the server.
    ///
    /// # Errors
    /// Backend failures.
    fn server_service(&self, server: &SmpServer) -> StoreResult<Option<ServerService>>;

    /// Subscribed as a service (`batchUpdateSrvSubStatus` with a service id): the server's
    /// service id becomes `service_id`, and the subscriptions with these notifier ids become
    /// `status` and associated with it. Returns how many changed.
    ///
    /// # Errors
    /// Backend failures.
    fn set_service_subscriptions(
        &mut self,
        server: &SmpServer,
        service_id: &[u8],
        notifier_ids: &[Vec<u8>],
        status: NtfSubStatus,
    ) -> StoreResult<usize>;

    /// Removes the service association of `server` (`removeServiceAssociation`): no service
    /// id, no subscription associated, and the associated ones that should be subscribed
    /// become INACTIVE (to be subscribed again one by one). Returns the subscriptions that
    /// changed, as they are now.
    ///
    /// # Errors
    /// Backend failures.
    fn remove_service_association(&mut self, server: &SmpServer) -> StoreResult<Vec<SubStatusChange>>;

    /// Keeps `ntf` as the latest notification of (token, subscription) and returns the `max`
    /// most recent notifications of the token, oldest first; older ones are dropped
    /// (`addTokenLastNtf`).
    ///
    /// # Errors
    /// `NotFound` when the token or subscription is gone.
    fn add_last_notification(
        &mut self,
        token_id: &NtfEntityId,
        subscription_id: &NtfEntityId,
        ntf: PnMessageData,
        max: usize,
    ) -> StoreResult<Vec<PnMessageData>>;

    /// The store totals of the metrics (`getEntityCounts`): tokens, subscriptions
    /// (approximate where the database keeps an estimate), last notifications.
    ///
    /// # Errors
    /// Backend failures.
    fn entity_counts(&self) -> StoreResult<EntityCounts>;
}

/// A subscription whose status or service association a store call changed, as it is after
/// the call (the reference's `RETURNING s.subscription_id, s.status, s.ntf_service_assoc`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubStatusChange {
    /// The subscription.
    pub id: NtfEntityId,
    /// Its status now.
    pub status: NtfSubStatus,
    /// Whether it is associated with the server's service now.
    pub service_assoc: bool,
}

/// What [`Store::set_token_active`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenActivated {
    /// The status became ACTIVE (it was not).
    pub status_changed: bool,
    /// The other tokens of the device token, deleted.
    pub deleted_tokens: Vec<NtfEntityId>,
    /// The queues of their subscriptions.
    pub queues: Vec<SmpQueueNtf>,
}

/// What [`Store::entity_counts`] returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntityCounts {
    /// `tokenCount`: stored tokens.
    pub tokens: u64,
    /// `approxSubCount`: stored subscriptions (PostgreSQL's estimate there).
    pub subscriptions: u64,
    /// `lastNtfCount`: stored last notifications.
    pub last_notifications: u64,
}

#[derive(Clone, Debug)]
struct LastNtf {
    subscription_id: NtfEntityId,
    seq: u64,
    data: PnMessageData,
}

impl LastNtf {
    fn key(&self) -> (i64, u64) {
        (self.data.ts, self.seq)
    }
}

/// The in-memory [`Store`] (the reference's `NtfSTMStore`, without a log).
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    tokens: HashMap<NtfEntityId, TokenRecord>,
    by_device: HashMap<DeviceToken, BTreeSet<NtfEntityId>>,
    subs: BTreeMap<NtfEntityId, SubscriptionRecord>,
    by_queue: HashMap<SmpQueueNtf, NtfEntityId>,
    token_subs: HashMap<NtfEntityId, BTreeSet<NtfEntityId>>,
    last_ntfs: HashMap<NtfEntityId, Vec<LastNtf>>,
    seq: u64,
    services: HashMap<SmpServer, Vec<u8>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of tokens.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// Number of subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// Number of stored last notifications.
    pub fn last_notification_count(&self) -> usize {
        self.last_ntfs.values().map(Vec::len).sum()
    }

    fn remove_sub(&mut self, id: &NtfEntityId) -> Option<SubscriptionRecord> {
        let sub = self.subs.remove(id)?;
        self.by_queue.remove(&sub.queue);
        if let Some(set) = self.token_subs.get_mut(&sub.token_id) {
            set.remove(id);
        }
        if let Some(list) = self.last_ntfs.get_mut(&sub.token_id) {
            list.retain(|n| &n.subscription_id != id);
        }
        Some(sub)
    }

    fn remove_token(&mut self, id: &NtfEntityId) -> Option<Vec<SmpQueueNtf>> {
        let tkn = self.tokens.remove(id)?;
        if let Some(set) = self.by_device.get_mut(&tkn.token) {
            set.remove(id);
            if set.is_empty() {
                self.by_device.remove(&tkn.token);
            }
        }
        self.last_ntfs.remove(id);
        let sub_ids = self.token_subs.remove(id).unwrap_or_default();
        Some(
            sub_ids
                .iter()
                .filter_map(|s| self.remove_sub(s).map(|s| s.queue))
                .collect(),
        )
    }

    fn registration_taken(
        &self,
        token: &DeviceToken,
        verify_key: &AuthPublicKey,
        except: Option<&NtfEntityId>,
    ) -> bool {
        self.by_device.get(token).is_some_and(|ids| {
            ids.iter().any(|i| {
                Some(i) != except
                    && self
                        .tokens
                        .get(i)
                        .is_some_and(|t| &t.verify_key == verify_key)
            })
        })
    }
}

impl Store for MemStore {
    fn get_token(&self, id: &NtfEntityId) -> StoreResult<Option<TokenRecord>> {
        Ok(self.tokens.get(id).cloned())
    }

    fn find_token_registration(
        &self,
        token: &DeviceToken,
        verify_key: &AuthPublicKey,
    ) -> StoreResult<Option<TokenRecord>> {
        Ok(self.by_device.get(token).and_then(|ids| {
            ids.iter()
                .filter_map(|i| self.tokens.get(i))
                .find(|t| &t.verify_key == verify_key)
                .cloned()
        }))
    }

    fn touch_token(&mut self, id: &NtfEntityId, day: i64) -> StoreResult<()> {
        match self.tokens.get_mut(id) {
            Some(t) => {
                t.updated_at = Some(day);
                Ok(())
            }
            None => Err(StoreError::NotFound),
        }
    }

    fn add_token(&mut self, token: TokenRecord) -> StoreResult<()> {
        if self.tokens.contains_key(&token.id)
            || self.registration_taken(&token.token, &token.verify_key, None)
        {
            return Err(StoreError::Duplicate);
        }
        self.by_device
            .entry(token.token.clone())
            .or_default()
            .insert(token.id.clone());
        self.tokens.insert(token.id.clone(), token);
        Ok(())
    }

    fn replace_token(
        &mut self,
        id: &NtfEntityId,
        token: DeviceToken,
        status: NtfTknStatus,
        reg_code: NtfRegCode,
    ) -> StoreResult<()> {
        let verify_key = self.tokens.get(id).ok_or(StoreError::NotFound)?.verify_key;
        if self.registration_taken(&token, &verify_key, Some(id)) {
            return Err(StoreError::Duplicate);
        }
        let t = self.tokens.get_mut(id).ok_or(StoreError::NotFound)?;
        let old = core::mem::replace(&mut t.token, token.clone());
        t.status = status;
        t.reg_code = reg_code;
        if let Some(set) = self.by_device.get_mut(&old) {
            set.remove(id);
            if set.is_empty() {
                self.by_device.remove(&old);
            }
        }
        self.by_device.entry(token).or_default().insert(id.clone());
        Ok(())
    }

    fn update_token_status(&mut self, id: &NtfEntityId, status: NtfTknStatus) -> StoreResult<bool> {
        Ok(match self.tokens.get_mut(id) {
            Some(t) if t.status != status => {
                t.status = status;
                true
            }
            _ => false,
        })
    }

    fn set_token_confirmed(&mut self, id: &NtfEntityId) -> StoreResult<bool> {
        Ok(match self.tokens.get_mut(id) {
            Some(t) if !matches!(t.status, NtfTknStatus::Confirmed | NtfTknStatus::Active) => {
                t.status = NtfTknStatus::Confirmed;
                true
            }
            _ => false,
        })
    }

    fn set_token_active(&mut self, id: &NtfEntityId) -> StoreResult<TokenActivated> {
        let t = self.tokens.get_mut(id).ok_or(StoreError::NotFound)?;
        let status_changed = t.status != NtfTknStatus::Active;
        t.status = NtfTknStatus::Active;
        let device = t.token.clone();
        let deleted_tokens: Vec<NtfEntityId> = self
            .by_device
            .get(&device)
            .map(|ids| ids.iter().filter(|i| *i != id).cloned().collect())
            .unwrap_or_default();
        let queues = deleted_tokens.iter().filter_map(|o| self.remove_token(o)).flatten().collect();
        Ok(TokenActivated { status_changed, deleted_tokens, queues })
    }

    fn delete_token(&mut self, id: &NtfEntityId) -> StoreResult<Vec<SmpQueueNtf>> {
        self.remove_token(id).ok_or(StoreError::NotFound)
    }

    fn update_token_cron_interval(&mut self, id: &NtfEntityId, minutes: u16) -> StoreResult<()> {
        let t = self.tokens.get_mut(id).ok_or(StoreError::NotFound)?;
        t.cron_interval = minutes;
        Ok(())
    }

    fn update_token_cron_sent_at(&mut self, id: &NtfEntityId, now: i64) -> StoreResult<()> {
        if let Some(t) = self.tokens.get_mut(id) {
            t.cron_sent_at = Some(now);
        }
        Ok(())
    }

    fn periodic_tokens(&self, now: i64, unsent_is_due: bool) -> StoreResult<Vec<TokenRecord>> {
        let mut v: Vec<TokenRecord> = self
            .tokens
            .values()
            .filter(|t| {
                t.status == NtfTknStatus::Active
                    && t.cron_interval != 0
                    && match t.cron_sent_at {
                        Some(sent) => sent.saturating_add(i64::from(t.cron_interval) * 60) < now,
                        None => unsent_is_due,
                    }
            })
            .cloned()
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(v)
    }

    fn get_subscription(
        &self,
        id: &NtfEntityId,
    ) -> StoreResult<Option<(TokenRecord, SubscriptionRecord)>> {
        Ok(self
            .subs
            .get(id)
            .and_then(|s| self.tokens.get(&s.token_id).map(|t| (t.clone(), s.clone()))))
    }

    fn subscription_by_queue(
        &self,
        queue: &SmpQueueNtf,
    ) -> StoreResult<Option<SubscriptionRecord>> {
        Ok(self
            .by_queue
            .get(queue)
            .and_then(|id| self.subs.get(id))
            .cloned())
    }

    fn add_subscription(&mut self, sub: SubscriptionRecord) -> StoreResult<bool> {
        if !self.tokens.contains_key(&sub.token_id) {
            return Err(StoreError::NotFound);
        }
        if self.subs.contains_key(&sub.id) {
            return Err(StoreError::Duplicate);
        }
        if self.by_queue.contains_key(&sub.queue) {
            return Ok(false);
        }
        self.by_queue.insert(sub.queue.clone(), sub.id.clone());
        self.token_subs
            .entry(sub.token_id.clone())
            .or_default()
            .insert(sub.id.clone());
        self.subs.insert(sub.id.clone(), sub);
        Ok(true)
    }

    fn delete_subscription(&mut self, id: &NtfEntityId) -> StoreResult<()> {
        self.remove_sub(id).map(|_| ()).ok_or(StoreError::NotFound)
    }

    fn set_subscription_statuses(
        &mut self,
        server: &SmpServer,
        updates: &[(Vec<u8>, NtfSubStatus)],
    ) -> StoreResult<Vec<SubStatusChange>> {
        let mut changed = Vec::new();
        for (nid, status) in updates {
            let Some(q) = SmpQueueNtf::new(server.clone(), nid.clone()) else {
                continue;
            };
            let Some(id) = self.by_queue.get(&q) else {
                continue;
            };
            if let Some(s) = self.subs.get_mut(id) {
                if &s.status != status {
                    s.status = status.clone();
                    changed.push(SubStatusChange { id: s.id.clone(), status: status.clone(), service_assoc: s.service_assoc });
                }
            }
        }
        Ok(changed)
    }

    fn used_smp_servers(&self) -> StoreResult<Vec<SmpServer>> {
        let mut v: Vec<SmpServer> = Vec::new();
        for s in self.subs.values() {
            if s.status.should_subscribe() && !v.contains(&s.queue.server) {
                v.push(s.queue.server.clone());
            }
        }
        Ok(v)
    }

    fn take_server_subscriptions(
        &mut self,
        server: &SmpServer,
        after: Option<&NtfEntityId>,
        limit: usize,
    ) -> StoreResult<Vec<SubscriptionRecord>> {
        let mut v = Vec::new();
        for s in self.subs.values_mut() {
            if v.len() >= limit {
                break;
            }
            if after.is_some_and(|a| &s.id <= a)
                || &s.queue.server != server
                || s.service_assoc
                || !s.status.should_subscribe()
            {
                continue;
            }
            s.status = NtfSubStatus::Pending;
            v.push(s.clone());
        }
        Ok(v)
    }

    fn server_service(&self, server: &SmpServer) -> StoreResult<Option<ServerService>> {
        Ok(self.services.get(server).map(|id| ServerService {
            service_id: id.clone(),
            count: self
                .subs
                .values()
                .filter(|s| {
                    &s.queue.server == server && s.service_assoc && s.status.should_subscribe()
                })
                .count() as u64,
        }))
    }

    fn set_service_subscriptions(
        &mut self,
        server: &SmpServer,
        service_id: &[u8],
        notifier_ids: &[Vec<u8>],
        status: NtfSubStatus,
    ) -> StoreResult<usize> {
        self.services.insert(server.clone(), service_id.to_vec());
        let mut n = 0;
        for nid in notifier_ids {
            let Some(q) = SmpQueueNtf::new(server.clone(), nid.clone()) else {
                continue;
            };
            let Some(s) = self.by_queue.get(&q).and_then(|id| self.subs.get_mut(id)) else {
                continue;
            };
            if s.status != status || !s.service_assoc {
                s.status = status.clone();
                s.service_assoc = true;
                n += 1;
            }
        }
        Ok(n)
    }

    fn remove_service_association(&mut self, server: &SmpServer) -> StoreResult<Vec<SubStatusChange>> {
        self.services.remove(server);
        let mut changed = Vec::new();
        for s in self.subs.values_mut() {
            if &s.queue.server == server && s.service_assoc {
                s.service_assoc = false;
                if s.status.should_subscribe() {
                    s.status = NtfSubStatus::Inactive;
                }
                changed.push(SubStatusChange { id: s.id.clone(), status: s.status.clone(), service_assoc: false });
            }
        }
        Ok(changed)
    }

    fn entity_counts(&self) -> StoreResult<EntityCounts> {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        Ok(EntityCounts {
            tokens: n(self.token_count()),
            subscriptions: n(self.subscription_count()),
            last_notifications: n(self.last_notification_count()),
        })
    }

    fn add_last_notification(
        &mut self,
        token_id: &NtfEntityId,
        subscription_id: &NtfEntityId,
        ntf: PnMessageData,
        max: usize,
    ) -> StoreResult<Vec<PnMessageData>> {
        if !self.tokens.contains_key(token_id) || !self.subs.contains_key(subscription_id) {
            return Err(StoreError::NotFound);
        }
        self.seq += 1;
        let seq = self.seq;
        let list = self.last_ntfs.entry(token_id.clone()).or_default();
        list.retain(|n| &n.subscription_id != subscription_id);
        list.push(LastNtf {
            subscription_id: subscription_id.clone(),
            seq,
            data: ntf,
        });
        list.sort_by_key(LastNtf::key);
        let drop = list.len().saturating_sub(max.max(1));
        list.drain(..drop);
        Ok(list.iter().map(|n| n.data.clone()).collect())
    }
}
