//! The relay's queue, message and kept-notification storage: the [`QueueStore`] trait and the
//! in-memory [`MemQueueStore`] (the reference's `STMQueueStore` with `STMMsgStore` and
//! `NtfStore`); the durable one is [`SqliteQueueStore`](super::sqlite_store::SqliteQueueStore).
//!
//! A queue is found by its recipient id, sender id, notifier id or link id; every operation
//! after the lookup takes the recipient id. Errors are the protocol's: `AUTH` for a queue that
//! is not there, `DUPLICATE_` for an id already in use.

use std::collections::{HashMap, HashSet, VecDeque};

use smp_proto::command::{Party, QueueLinkData, QueueMode};
use smp_proto::error_type::ErrorType;
use smp_proto::handshake::ServiceRole;
use smp_proto::keys::AuthPublicKey;
use smp_proto::message::MsgFlags;

/// A queue id (recipient, sender, notifier or link id).
pub type QueueId = Vec<u8>;

/// The notifier credentials of a queue (`NtfCreds`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NtfCreds {
    /// The notifier id (`NSUB` entity id).
    pub notifier_id: QueueId,
    /// The key that authorizes `NSUB`.
    pub notifier_key: AuthPublicKey,
    /// DH secret of the relay's notifier key and the recipient's DH key: encrypts `NMSG`
    /// metadata.
    pub rcv_ntf_dh_secret: [u8; 32],
    /// The notifier service the queue is associated with (`ntfServiceId`): set by `NSUB` from
    /// a service session, cleared by a plain `NSUB`; its notifications go to that service's
    /// subscribed session.
    pub ntf_service_id: Option<QueueId>,
}

/// A registered service client (`ServiceRec`): found again by its certificate hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRec {
    /// The service id the relay gave it (`R service-id`, the `NSUBS` entity id).
    pub service_id: QueueId,
    /// Its role.
    pub role: ServiceRole,
    /// Its certificate chain, leaf first, as DER.
    pub cert_chain: Vec<Vec<u8>>,
    /// SHA-256 of its identity certificate.
    pub cert_hash: [u8; 32],
    /// Unix seconds when it was registered.
    pub created_at: i64,
}

/// Whether senders may use the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueStatus {
    /// Active.
    Active,
    /// Suspended with `OFF`: `SEND` gets `AUTH`.
    Off,
}

/// A queue record (`QueueRec`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueRec {
    /// The sender id.
    pub sender_id: QueueId,
    /// The keys that authorize recipient commands.
    pub recipient_keys: Vec<AuthPublicKey>,
    /// DH secret of the relay's queue key and the recipient's DH key: encrypts `MSG` bodies.
    pub rcv_dh_secret: [u8; 32],
    /// The key that authorizes `SEND` once the queue is secured.
    pub sender_key: Option<AuthPublicKey>,
    /// The queue mode (`None` for queues created before v9).
    pub queue_mode: Option<QueueMode>,
    /// The short-link id and data.
    pub link: Option<(QueueId, QueueLinkData)>,
    /// The notifier credentials.
    pub notifier: Option<NtfCreds>,
    /// Active or suspended.
    pub status: QueueStatus,
}

/// A stored message (`Message`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredMessage {
    /// A message sent with `SEND`.
    Message {
        /// The message id.
        msg_id: Vec<u8>,
        /// Unix seconds when it was received.
        msg_ts: i64,
        /// Its flags.
        msg_flags: MsgFlags,
        /// Its body.
        body: Vec<u8>,
    },
    /// The marker written when the queue reached its quota (`MessageQuota`).
    Quota {
        /// The id of the message that did not fit.
        msg_id: Vec<u8>,
        /// Unix seconds.
        msg_ts: i64,
    },
}

impl StoredMessage {
    /// The message id.
    pub fn msg_id(&self) -> &[u8] {
        match self {
            Self::Message { msg_id, .. } | Self::Quota { msg_id, .. } => msg_id,
        }
    }

    /// The timestamp.
    pub fn msg_ts(&self) -> i64 {
        match self {
            Self::Message { msg_ts, .. } | Self::Quota { msg_ts, .. } => *msg_ts,
        }
    }
}

/// A notification kept for a notifier id without a subscriber (`MsgNtf`): sent as `NMSG` on
/// the next `NSUB`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgNtf {
    /// Unix seconds when the message was received (expiry).
    pub ts: i64,
    /// The `NMSG` nonce.
    pub nonce: [u8; 24],
    /// The encrypted `NMsgMeta`.
    pub enc_meta: Vec<u8>,
}

/// Storage of queues, their messages and the notifications kept for their notifier ids.
/// Implementations must keep the id indexes consistent: an id names at most one queue, and
/// deleting a queue or its notifier frees the ids and drops the notifications kept for the
/// notifier id (as does replacing the notifier credentials).
///
/// A durable implementation commits every mutation before the method returns; a failure to
/// store is `INTERNAL` and leaves the store as it was.
pub trait QueueStore {
    /// Adds a queue under `rcv_id`.
    ///
    /// # Errors
    /// `DUPLICATE_` when the recipient, sender, notifier or link id is in use.
    fn add_queue(&mut self, rcv_id: &[u8], rec: QueueRec) -> Result<(), ErrorType>;

    /// The recipient id of the queue that `id` names for `party` (recipient, sender, notifier).
    fn find(&self, party: Party, id: &[u8]) -> Option<QueueId>;

    /// The queue record.
    fn queue(&self, rcv_id: &[u8]) -> Option<&QueueRec>;

    /// Sets the sender key (`secureQueue`): `OK` again with the same key.
    ///
    /// # Errors
    /// `AUTH` when the queue is missing or secured with another key.
    fn secure_queue(&mut self, rcv_id: &[u8], key: AuthPublicKey) -> Result<(), ErrorType>;

    /// Sets the notifier credentials, returning the ones replaced.
    ///
    /// # Errors
    /// `AUTH` for a missing queue, `DUPLICATE_` when the notifier id is in use.
    fn add_notifier(
        &mut self,
        rcv_id: &[u8],
        creds: NtfCreds,
    ) -> Result<Option<NtfCreds>, ErrorType>;

    /// Removes the notifier credentials, returning them.
    ///
    /// # Errors
    /// `AUTH` for a missing queue.
    fn delete_notifier(&mut self, rcv_id: &[u8]) -> Result<Option<NtfCreds>, ErrorType>;

    /// Removes the link data.
    ///
    /// # Errors
    /// `AUTH` for a missing queue.
    fn delete_link(&mut self, rcv_id: &[u8]) -> Result<(), ErrorType>;

    /// Suspends the queue.
    ///
    /// # Errors
    /// `AUTH` for a missing queue.
    fn suspend_queue(&mut self, rcv_id: &[u8]) -> Result<(), ErrorType>;

    /// Deletes the queue and its messages, returning the record.
    ///
    /// # Errors
    /// `AUTH` for a missing queue.
    fn delete_queue(&mut self, rcv_id: &[u8]) -> Result<QueueRec, ErrorType>;

    /// Appends a message (`writeMsg`) unless the queue is over `quota`: the message and
    /// whether the queue was empty, or `None` when it did not fit (a quota marker is stored
    /// the first time).
    ///
    /// # Errors
    /// `AUTH` for a missing queue.
    fn write_msg(
        &mut self,
        rcv_id: &[u8],
        msg: StoredMessage,
        quota: usize,
    ) -> Result<Option<(StoredMessage, bool)>, ErrorType>;

    /// The first message.
    fn peek_msg(&self, rcv_id: &[u8]) -> Option<&StoredMessage>;

    /// Deletes the first message if its id is `msg_id` and returns it (`tryDelMsg`).
    fn del_msg(&mut self, rcv_id: &[u8], msg_id: &[u8]) -> Option<StoredMessage>;

    /// Number of queues.
    fn queue_count(&self) -> usize;

    /// Keeps a notification for `notifier_id` (`storeNtf`), after the ones kept before.
    ///
    /// # Errors
    /// `INTERNAL` when it cannot be stored.
    fn store_ntf(&mut self, notifier_id: &[u8], ntf: MsgNtf) -> Result<(), ErrorType>;

    /// Removes and returns the notifications kept for `notifier_id`, oldest first.
    fn take_ntfs(&mut self, notifier_id: &[u8]) -> Vec<MsgNtf>;

    /// Drops the kept notifications older than `old` (Unix seconds), returning how many
    /// (`deleteExpiredNtfs`).
    fn expire_ntfs(&mut self, old: i64) -> usize;

    /// Number of kept notifications.
    fn ntf_count(&self) -> usize;

    /// The id of the service with `rec`'s certificate hash, registering `rec` when there is
    /// none (`getCreateService`).
    ///
    /// # Errors
    /// `SERVICE` when the certificate is registered with another role, `DUPLICATE_` when the
    /// new id is in use, `INTERNAL` when it cannot be stored.
    fn get_create_service(&mut self, rec: ServiceRec) -> Result<QueueId, ErrorType>;

    /// Associates the queue's notifier with a service, or removes the association
    /// (`setQueueService` with `SNotifierService`); nothing is written when it is unchanged.
    ///
    /// # Errors
    /// `AUTH` for a missing queue or one without notifier credentials, `INTERNAL`.
    fn set_ntf_service(
        &mut self,
        rcv_id: &[u8],
        service_id: Option<&[u8]>,
    ) -> Result<(), ErrorType>;

    /// Number of queues whose notifier is associated with the service (`getServiceQueueCount`).
    fn ntf_service_count(&self, service_id: &[u8]) -> i64;

    /// The notifier ids that have kept notifications.
    fn kept_ntf_notifiers(&self) -> Vec<QueueId>;
}

impl<T: QueueStore + ?Sized> QueueStore for Box<T> {
    fn add_queue(&mut self, rcv_id: &[u8], rec: QueueRec) -> Result<(), ErrorType> {
        (**self).add_queue(rcv_id, rec)
    }
    fn find(&self, party: Party, id: &[u8]) -> Option<QueueId> {
        (**self).find(party, id)
    }
    fn queue(&self, rcv_id: &[u8]) -> Option<&QueueRec> {
        (**self).queue(rcv_id)
    }
    fn secure_queue(&mut self, rcv_id: &[u8], key: AuthPublicKey) -> Result<(), ErrorType> {
        (**self).secure_queue(rcv_id, key)
    }
    fn add_notifier(
        &mut self,
        rcv_id: &[u8],
        creds: NtfCreds,
    ) -> Result<Option<NtfCreds>, ErrorType> {
        (**self).add_notifier(rcv_id, creds)
    }
    fn delete_notifier(&mut self, rcv_id: &[u8]) -> Result<Option<NtfCreds>, ErrorType> {
        (**self).delete_notifier(rcv_id)
    }
    fn delete_link(&mut self, rcv_id: &[u8]) -> Result<(), ErrorType> {
        (**self).delete_link(rcv_id)
    }
    fn suspend_queue(&mut self, rcv_id: &[u8]) -> Result<(), ErrorType> {
        (**self).suspend_queue(rcv_id)
    }
    fn delete_queue(&mut self, rcv_id: &[u8]) -> Result<QueueRec, ErrorType> {
        (**self).delete_queue(rcv_id)
    }
    fn write_msg(
        &mut self,
        rcv_id: &[u8],
        msg: StoredMessage,
        quota: usize,
    ) -> Result<Option<(StoredMessage, bool)>, ErrorType> {
        (**self).write_msg(rcv_id, msg, quota)
    }
    fn peek_msg(&self, rcv_id: &[u8]) -> Option<&StoredMessage> {
        (**self).peek_msg(rcv_id)
    }
    fn del_msg(&mut self, rcv_id: &[u8], msg_id: &[u8]) -> Option<StoredMessage> {
        (**self).del_msg(rcv_id, msg_id)
    }
    fn queue_count(&self) -> usize {
        (**self).queue_count()
    }
    fn store_ntf(&mut self, notifier_id: &[u8], ntf: MsgNtf) -> Result<(), ErrorType> {
        (**self).store_ntf(notifier_id, ntf)
    }
    fn take_ntfs(&mut self, notifier_id: &[u8]) -> Vec<MsgNtf> {
        (**self).take_ntfs(notifier_id)
    }
    fn expire_ntfs(&mut self, old: i64) -> usize {
        (**self).expire_ntfs(old)
    }
    fn ntf_count(&self) -> usize {
        (**self).ntf_count()
    }
    fn get_create_service(&mut self, rec: ServiceRec) -> Result<QueueId, ErrorType> {
        (**self).get_create_service(rec)
    }
    fn set_ntf_service(
        &mut self,
        rcv_id: &[u8],
        service_id: Option<&[u8]>,
    ) -> Result<(), ErrorType> {
        (**self).set_ntf_service(rcv_id, service_id)
    }
    fn ntf_service_count(&self, service_id: &[u8]) -> i64 {
        (**self).ntf_service_count(service_id)
    }
    fn kept_ntf_notifiers(&self) -> Vec<QueueId> {
        (**self).kept_ntf_notifiers()
    }
}

/// What [`QueueStore::write_msg`] does with a message, decided before anything is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteOutcome {
    /// Refused: the queue is at its quota and the marker is stored.
    Refused,
    /// Stored; whether the queue was empty.
    Stored(bool),
    /// The queue reached its quota: the quota marker is stored instead.
    QuotaMarker,
}

#[derive(Debug, Default)]
struct MemQueue {
    rec: QueueRec,
    msgs: VecDeque<StoredMessage>,
    can_write: bool,
}

/// The in-memory [`QueueStore`].
#[derive(Debug, Default)]
pub struct MemQueueStore {
    queues: HashMap<QueueId, MemQueue>,
    senders: HashMap<QueueId, QueueId>,
    notifiers: HashMap<QueueId, QueueId>,
    links: HashMap<QueueId, QueueId>,
    ntfs: HashMap<QueueId, Vec<MsgNtf>>,
    services: HashMap<QueueId, ServiceRec>,
    service_certs: HashMap<[u8; 32], QueueId>,
    /// recipient ids of the queues associated with each notifier service
    ntf_service_queues: HashMap<QueueId, HashSet<QueueId>>,
}

impl Default for QueueRec {
    fn default() -> Self {
        Self {
            sender_id: Vec::new(),
            recipient_keys: Vec::new(),
            rcv_dh_secret: [0; 32],
            sender_key: None,
            queue_mode: None,
            link: None,
            notifier: None,
            status: QueueStatus::Active,
        }
    }
}

impl MemQueueStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of queues.
    pub fn len(&self) -> usize {
        self.queues.len()
    }

    /// Whether there are no queues.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    fn get_mut(&mut self, rcv_id: &[u8]) -> Result<&mut MemQueue, ErrorType> {
        self.queues.get_mut(rcv_id).ok_or(ErrorType::Auth)
    }

    /// What [`QueueStore::write_msg`] with this quota would do now.
    pub(crate) fn write_outcome(
        &self,
        rcv_id: &[u8],
        quota: usize,
    ) -> Result<WriteOutcome, ErrorType> {
        let q = self.queues.get(rcv_id).ok_or(ErrorType::Auth)?;
        let empty = q.msgs.is_empty();
        Ok(if !(q.can_write || empty) {
            WriteOutcome::Refused
        } else if quota > q.msgs.len() {
            WriteOutcome::Stored(empty)
        } else {
            WriteOutcome::QuotaMarker
        })
    }

    /// Appends a message read back from durable storage, with no quota check: after a quota
    /// marker the queue refuses messages until it is emptied, as before.
    pub(crate) fn push_loaded(
        &mut self,
        rcv_id: &[u8],
        msg: StoredMessage,
    ) -> Result<(), ErrorType> {
        let q = self.get_mut(rcv_id)?;
        q.can_write = !matches!(msg, StoredMessage::Quota { .. });
        q.msgs.push_back(msg);
        Ok(())
    }

    /// Whether one of the ids of a new queue is in use ([`QueueStore::add_queue`] would
    /// refuse it).
    pub(crate) fn is_duplicate(&self, rcv_id: &[u8], rec: &QueueRec) -> bool {
        self.queues.contains_key(rcv_id)
            || self.senders.contains_key(&rec.sender_id)
            || rec
                .notifier
                .as_ref()
                .is_some_and(|n| self.notifiers.contains_key(&n.notifier_id))
            || rec
                .link
                .as_ref()
                .is_some_and(|(l, _)| self.links.contains_key(l))
    }

    /// Whether notifications are kept for `notifier_id`.
    pub(crate) fn has_ntfs(&self, notifier_id: &[u8]) -> bool {
        self.ntfs.contains_key(notifier_id)
    }

    /// How many kept notifications are older than `old`.
    pub(crate) fn count_expired_ntfs(&self, old: i64) -> usize {
        self.ntfs
            .values()
            .map(|v| v.iter().filter(|n| n.ts < old).count())
            .sum()
    }

    fn drop_ntfs(&mut self, old: Option<&NtfCreds>) {
        if let Some(o) = old {
            self.ntfs.remove(&o.notifier_id);
        }
    }

    /// What [`QueueStore::get_create_service`] would answer without registering: the known
    /// id (`Some`), `None` for a new service.
    pub(crate) fn find_service(&self, rec: &ServiceRec) -> Result<Option<QueueId>, ErrorType> {
        match self.service_certs.get(&rec.cert_hash) {
            Some(id) => match self.services.get(id) {
                Some(r) if r.role == rec.role => Ok(Some(id.clone())),
                _ => Err(ErrorType::Service),
            },
            None if self.services.contains_key(&rec.service_id) => Err(ErrorType::Duplicate),
            None => Ok(None),
        }
    }

    fn index_service(&mut self, rcv_id: &[u8], creds: Option<&NtfCreds>, add: bool) {
        let Some(sid) = creds.and_then(|c| c.ntf_service_id.as_ref()) else {
            return;
        };
        if add {
            self.ntf_service_queues
                .entry(sid.clone())
                .or_default()
                .insert(rcv_id.to_vec());
        } else if let Some(set) = self.ntf_service_queues.get_mut(sid) {
            set.remove(rcv_id);
            if set.is_empty() {
                self.ntf_service_queues.remove(sid);
            }
        }
    }
}

impl QueueStore for MemQueueStore {
    fn add_queue(&mut self, rcv_id: &[u8], rec: QueueRec) -> Result<(), ErrorType> {
        if self.is_duplicate(rcv_id, &rec) {
            return Err(ErrorType::Duplicate);
        }
        self.senders.insert(rec.sender_id.clone(), rcv_id.to_vec());
        if let Some(n) = &rec.notifier {
            self.notifiers
                .insert(n.notifier_id.clone(), rcv_id.to_vec());
        }
        if let Some((l, _)) = &rec.link {
            self.links.insert(l.clone(), rcv_id.to_vec());
        }
        self.index_service(rcv_id, rec.notifier.as_ref(), true);
        self.queues.insert(
            rcv_id.to_vec(),
            MemQueue {
                rec,
                msgs: VecDeque::new(),
                can_write: true,
            },
        );
        Ok(())
    }

    fn find(&self, party: Party, id: &[u8]) -> Option<QueueId> {
        let rid = match party {
            Party::Recipient => Some(id.to_vec()),
            Party::Sender => self.senders.get(id).cloned(),
            Party::Notifier => self.notifiers.get(id).cloned(),
            _ => None,
        }?;
        self.queues.contains_key(&rid).then_some(rid)
    }

    fn queue(&self, rcv_id: &[u8]) -> Option<&QueueRec> {
        self.queues.get(rcv_id).map(|q| &q.rec)
    }

    fn secure_queue(&mut self, rcv_id: &[u8], key: AuthPublicKey) -> Result<(), ErrorType> {
        let q = self.get_mut(rcv_id)?;
        match &q.rec.sender_key {
            Some(k) if *k == key => Ok(()),
            Some(_) => Err(ErrorType::Auth),
            None => {
                q.rec.sender_key = Some(key);
                Ok(())
            }
        }
    }

    fn add_notifier(
        &mut self,
        rcv_id: &[u8],
        creds: NtfCreds,
    ) -> Result<Option<NtfCreds>, ErrorType> {
        if !self.queues.contains_key(rcv_id) {
            return Err(ErrorType::Auth);
        }
        if self.notifiers.contains_key(&creds.notifier_id) {
            return Err(ErrorType::Duplicate);
        }
        self.notifiers
            .insert(creds.notifier_id.clone(), rcv_id.to_vec());
        let q = self.get_mut(rcv_id)?;
        let old = q.rec.notifier.replace(creds.clone());
        if let Some(o) = &old {
            self.notifiers.remove(&o.notifier_id);
        }
        self.index_service(rcv_id, old.as_ref(), false);
        self.index_service(rcv_id, Some(&creds), true);
        self.drop_ntfs(old.as_ref());
        Ok(old)
    }

    fn delete_notifier(&mut self, rcv_id: &[u8]) -> Result<Option<NtfCreds>, ErrorType> {
        let old = self.get_mut(rcv_id)?.rec.notifier.take();
        if let Some(o) = &old {
            self.notifiers.remove(&o.notifier_id);
        }
        self.index_service(rcv_id, old.as_ref(), false);
        self.drop_ntfs(old.as_ref());
        Ok(old)
    }

    fn delete_link(&mut self, rcv_id: &[u8]) -> Result<(), ErrorType> {
        if let Some((l, _)) = self.get_mut(rcv_id)?.rec.link.take() {
            self.links.remove(&l);
        }
        Ok(())
    }

    fn suspend_queue(&mut self, rcv_id: &[u8]) -> Result<(), ErrorType> {
        self.get_mut(rcv_id)?.rec.status = QueueStatus::Off;
        Ok(())
    }

    fn delete_queue(&mut self, rcv_id: &[u8]) -> Result<QueueRec, ErrorType> {
        let q = self.queues.remove(rcv_id).ok_or(ErrorType::Auth)?;
        self.senders.remove(&q.rec.sender_id);
        if let Some(n) = &q.rec.notifier {
            self.notifiers.remove(&n.notifier_id);
        }
        if let Some((l, _)) = &q.rec.link {
            self.links.remove(l);
        }
        self.index_service(rcv_id, q.rec.notifier.as_ref(), false);
        self.drop_ntfs(q.rec.notifier.as_ref());
        Ok(q.rec)
    }

    fn write_msg(
        &mut self,
        rcv_id: &[u8],
        msg: StoredMessage,
        quota: usize,
    ) -> Result<Option<(StoredMessage, bool)>, ErrorType> {
        let outcome = self.write_outcome(rcv_id, quota)?;
        let q = self.get_mut(rcv_id)?;
        match outcome {
            WriteOutcome::Refused => Ok(None),
            WriteOutcome::Stored(empty) => {
                q.can_write = true;
                q.msgs.push_back(msg.clone());
                Ok(Some((msg, empty)))
            }
            WriteOutcome::QuotaMarker => {
                q.can_write = false;
                q.msgs.push_back(StoredMessage::Quota {
                    msg_id: msg.msg_id().to_vec(),
                    msg_ts: msg.msg_ts(),
                });
                Ok(None)
            }
        }
    }

    fn peek_msg(&self, rcv_id: &[u8]) -> Option<&StoredMessage> {
        self.queues.get(rcv_id)?.msgs.front()
    }

    fn del_msg(&mut self, rcv_id: &[u8], msg_id: &[u8]) -> Option<StoredMessage> {
        let q = self.queues.get_mut(rcv_id)?;
        if q.msgs.front()?.msg_id() == msg_id {
            q.msgs.pop_front()
        } else {
            None
        }
    }

    fn queue_count(&self) -> usize {
        self.queues.len()
    }

    fn store_ntf(&mut self, notifier_id: &[u8], ntf: MsgNtf) -> Result<(), ErrorType> {
        self.ntfs.entry(notifier_id.to_vec()).or_default().push(ntf);
        Ok(())
    }

    fn take_ntfs(&mut self, notifier_id: &[u8]) -> Vec<MsgNtf> {
        self.ntfs.remove(notifier_id).unwrap_or_default()
    }

    fn expire_ntfs(&mut self, old: i64) -> usize {
        let mut n = 0;
        self.ntfs.retain(|_, v| {
            let before = v.len();
            v.retain(|x| x.ts >= old);
            n += before - v.len();
            !v.is_empty()
        });
        n
    }

    fn ntf_count(&self) -> usize {
        self.ntfs.values().map(Vec::len).sum()
    }

    fn get_create_service(&mut self, rec: ServiceRec) -> Result<QueueId, ErrorType> {
        if let Some(id) = self.find_service(&rec)? {
            return Ok(id);
        }
        let id = rec.service_id.clone();
        self.service_certs.insert(rec.cert_hash, id.clone());
        self.services.insert(id.clone(), rec);
        Ok(id)
    }

    fn set_ntf_service(
        &mut self,
        rcv_id: &[u8],
        service_id: Option<&[u8]>,
    ) -> Result<(), ErrorType> {
        let old = self
            .queues
            .get(rcv_id)
            .and_then(|q| q.rec.notifier.clone())
            .ok_or(ErrorType::Auth)?;
        if old.ntf_service_id.as_deref() == service_id {
            return Ok(());
        }
        let new = NtfCreds {
            ntf_service_id: service_id.map(<[u8]>::to_vec),
            ..old.clone()
        };
        self.index_service(rcv_id, Some(&old), false);
        self.index_service(rcv_id, Some(&new), true);
        self.get_mut(rcv_id)?.rec.notifier = Some(new);
        Ok(())
    }

    fn ntf_service_count(&self, service_id: &[u8]) -> i64 {
        self.ntf_service_queues
            .get(service_id)
            .map_or(0, |s| i64::try_from(s.len()).unwrap_or(i64::MAX))
    }

    fn kept_ntf_notifiers(&self) -> Vec<QueueId> {
        self.ntfs.keys().cloned().collect()
    }
}
