//! Column values of the `ntf_server` tables, shared by the SQLite and PostgreSQL backends:
//! records to column values and back (see the encodings in the [module docs](super)).
//! Decoding never panics: a value that does not decode is a backend error.

use std::string::String;
use std::vec::Vec;

use ntf_proto::command::NtfEntityId;
use ntf_proto::push::{PnMessageData, NONCE_LEN};
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtfRegCode, NtfTknStatus};
use smp_proto::coding::Encode;
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey};
use smp_proto::server::{KeyHash, SmpServer, TransportHost};
use smp_proto::text::{base64url_decode, base64url_encode};

use crate::ntf::{NotifierKey, StoreError, StoreResult, SubscriptionRecord, TokenRecord};

/// A backend error for a column value that does not decode.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("corrupt {what} in the database"))
}

/// Bytes as a string of the same chars (Latin-1), as the reference's `decodeLatin1`.
pub(crate) fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

/// A Latin-1 string back to bytes; `None` for a char above U+00FF.
pub(crate) fn from_latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// An entity id column.
pub(crate) fn entity_id(b: Vec<u8>, what: &str) -> StoreResult<NtfEntityId> {
    NtfEntityId::new(b).ok_or_else(|| corrupt(what))
}

/// The text of a token status.
pub(crate) fn token_status_text(s: &NtfTknStatus) -> String {
    latin1(&s.to_bytes())
}

/// A token status column.
pub(crate) fn token_status(s: &str) -> StoreResult<NtfTknStatus> {
    from_latin1(s)
        .and_then(|b| NtfTknStatus::from_text(&b).ok())
        .ok_or_else(|| corrupt("token status"))
}

/// The text of a subscription status.
pub(crate) fn sub_status_text(s: &NtfSubStatus) -> String {
    latin1(&s.to_bytes())
}

/// A subscription status column.
pub(crate) fn sub_status(s: &str) -> StoreResult<NtfSubStatus> {
    from_latin1(s)
        .and_then(|b| NtfSubStatus::from_text(&b).ok())
        .ok_or_else(|| corrupt("subscription status"))
}

/// The columns of an SMP server (`smp_host`, `smp_port`, `smp_keyhash`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerRow {
    pub host: String,
    pub port: String,
    pub keyhash: Vec<u8>,
}

impl ServerRow {
    pub fn new(s: &SmpServer) -> Self {
        let mut host = Vec::new();
        for (i, h) in s.hosts().iter().enumerate() {
            if i > 0 {
                host.push(b',');
            }
            h.put_text(&mut host);
        }
        Self {
            host: latin1(&host),
            port: s.port().into(),
            keyhash: base64url_encode(s.key_hash().as_bytes()).into_bytes(),
        }
    }

    pub fn to_server(&self) -> StoreResult<SmpServer> {
        let err = || corrupt("SMP server");
        let host = from_latin1(&self.host).ok_or_else(err)?;
        let hosts = host
            .split(|&b| b == b',')
            .map(|h| TransportHost::parse(h).ok())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(err)?;
        let kh = base64url_decode(&self.keyhash)
            .ok()
            .and_then(KeyHash::new)
            .ok_or_else(err)?;
        SmpServer::new(hosts, self.port.clone(), kh).ok_or_else(err)
    }
}

/// The columns of a token, in the order of [`TOKEN_COLUMNS`].
#[derive(Clone, Debug)]
pub(crate) struct TokenRow {
    pub token_id: Vec<u8>,
    pub push_provider: String,
    pub push_provider_token: Vec<u8>,
    pub status: String,
    pub verify_key: Vec<u8>,
    pub dh_priv_key: Vec<u8>,
    pub dh_secret: Vec<u8>,
    pub reg_code: Vec<u8>,
    pub cron_interval: i64,
    pub cron_sent_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// The token columns, in the order of [`TokenRow`]'s fields.
pub(crate) const TOKEN_COLUMNS: &str = "token_id, push_provider, push_provider_token, status, \
     verify_key, dh_priv_key, dh_secret, reg_code, cron_interval, cron_sent_at, updated_at";

/// [`TOKEN_COLUMNS`] of the table alias `t`.
pub(crate) const T_TOKEN_COLUMNS: &str = "t.token_id, t.push_provider, t.push_provider_token, \
     t.status, t.verify_key, t.dh_priv_key, t.dh_secret, t.reg_code, t.cron_interval, \
     t.cron_sent_at, t.updated_at";

/// The `push_provider` and `push_provider_token` columns of a device token (the branch
/// `dev-wp`'s `deviceTokenFields`: provider text, raw APNS token or Web Push path and keys).
pub(crate) fn token_fields(t: &DeviceToken) -> (String, Vec<u8>) {
    let (provider, token) = t.store_fields();
    (String::from_utf8_lossy(&provider).into_owned(), token)
}

impl TokenRow {
    pub fn new(t: &TokenRecord) -> Self {
        let (push_provider, push_provider_token) = token_fields(&t.token);
        Self {
            token_id: t.id.as_bytes().to_vec(),
            push_provider,
            push_provider_token,
            status: token_status_text(&t.status),
            verify_key: t.verify_key.key().to_der(),
            dh_priv_key: PrivateKey::X25519(t.dh_private).to_der(),
            dh_secret: t.dh_secret.to_vec(),
            reg_code: t.reg_code.as_bytes().to_vec(),
            cron_interval: i64::from(t.cron_interval),
            cron_sent_at: t.cron_sent_at,
            updated_at: t.updated_at,
        }
    }

    pub fn into_record(self) -> StoreResult<TokenRecord> {
        let token =
            DeviceToken::from_store_fields(self.push_provider.as_bytes(), &self.push_provider_token)
                .map_err(|_| corrupt("device token"))?;
        let verify_key = PublicKey::from_der(&self.verify_key)
            .and_then(AuthPublicKey::new)
            .ok_or_else(|| corrupt("verify key"))?;
        let dh_private = match PrivateKey::from_der(&self.dh_priv_key) {
            Some(PrivateKey::X25519(k)) => k,
            _ => return Err(corrupt("DH private key")),
        };
        let dh_secret: [u8; 32] = self
            .dh_secret
            .as_slice()
            .try_into()
            .map_err(|_| corrupt("DH secret"))?;
        Ok(TokenRecord {
            id: entity_id(self.token_id, "token id")?,
            token,
            status: token_status(&self.status)?,
            verify_key,
            dh_private,
            dh_secret,
            reg_code: NtfRegCode::new(self.reg_code).ok_or_else(|| corrupt("registration code"))?,
            cron_interval: u16::try_from(self.cron_interval)
                .map_err(|_| corrupt("cron interval"))?,
            cron_sent_at: self.cron_sent_at,
            updated_at: self.updated_at,
        })
    }
}

/// The columns of a subscription without its server, in the order of [`SUB_COLUMNS`]
/// (`pub` for the [`Backend`](super::sql::Backend) hooks; the module is private).
#[derive(Clone, Debug)]
pub struct SubRow {
    pub subscription_id: Vec<u8>,
    pub token_id: Vec<u8>,
    pub smp_notifier_id: Vec<u8>,
    pub smp_notifier_key: Vec<u8>,
    pub status: String,
    pub ntf_service_assoc: bool,
    /// Ours, not the reference's: the notifier key's Ed25519 public key (NULL in rows written
    /// without it; then derived when read).
    pub smp_notifier_public_key: Option<Vec<u8>>,
}

/// The subscription columns of the table alias `s`, in the order of [`SubRow`]'s fields.
pub(crate) const SUB_COLUMNS: &str = "s.subscription_id, s.token_id, s.smp_notifier_id, \
     s.smp_notifier_key, s.status, s.ntf_service_assoc, s.smp_notifier_public_key";

/// The number of columns in [`SUB_COLUMNS`].
pub(crate) const SUB_COLUMN_COUNT: usize = 7;

/// The server columns of the table alias `p`, in the order of [`ServerRow`]'s fields.
pub(crate) const SERVER_COLUMNS: &str = "p.smp_host, p.smp_port, p.smp_keyhash";

impl SubRow {
    pub fn new(s: &SubscriptionRecord) -> Self {
        Self {
            subscription_id: s.id.as_bytes().to_vec(),
            token_id: s.token_id.as_bytes().to_vec(),
            smp_notifier_id: s.queue.notifier_id().to_vec(),
            smp_notifier_key: s.notifier_key.private().key().to_der(),
            status: sub_status_text(&s.status),
            ntf_service_assoc: s.service_assoc,
            smp_notifier_public_key: s.notifier_key.ed25519_public().map(|p| p.to_vec()),
        }
    }

    pub fn into_record(self, server: SmpServer) -> StoreResult<SubscriptionRecord> {
        Ok(SubscriptionRecord {
            id: entity_id(self.subscription_id, "subscription id")?,
            token_id: entity_id(self.token_id, "token id")?,
            queue: SmpQueueNtf::new(server, self.smp_notifier_id)
                .ok_or_else(|| corrupt("notifier id"))?,
            notifier_key: NotifierKey::from_stored(
                PrivateKey::from_der(&self.smp_notifier_key)
                    .and_then(AuthPrivateKey::new)
                    .ok_or_else(|| corrupt("notifier key"))?,
                self.smp_notifier_public_key.as_deref(),
            ),
            status: sub_status(&self.status)?,
            service_assoc: self.ntf_service_assoc,
        })
    }
}

/// A last notification from its columns and its subscription's queue.
pub(crate) fn last_notification(
    queue: SmpQueueNtf,
    sent_at: i64,
    nonce: &[u8],
    data: Vec<u8>,
) -> StoreResult<PnMessageData> {
    let nonce: [u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| corrupt("notification nonce"))?;
    PnMessageData::new(queue, sent_at, nonce, data).ok_or_else(|| corrupt("notification data"))
}

/// A queue from its server and notifier id columns.
pub(crate) fn queue(server: SmpServer, notifier_id: Vec<u8>) -> StoreResult<SmpQueueNtf> {
    SmpQueueNtf::new(server, notifier_id).ok_or_else(|| corrupt("notifier id"))
}
