//! The relay's queue and message storage: the [`QueueStore`] trait and the in-memory
//! [`MemQueueStore`] (the reference's `STMQueueStore` with `STMMsgStore`).
//!
//! A queue is found by its recipient id, sender id, notifier id or link id; every operation
//! after the lookup takes the recipient id. Errors are the protocol's: `AUTH` for a queue that
//! is not there, `DUPLICATE_` for an id already in use.

use std::collections::{HashMap, VecDeque};

use smp_proto::command::{Party, QueueLinkData, QueueMode};
use smp_proto::error_type::ErrorType;
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

/// Storage of queues and their messages. Implementations must keep the id indexes consistent:
/// an id names at most one queue, and deleting a queue or its notifier frees the ids.
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
}

impl QueueStore for MemQueueStore {
    fn add_queue(&mut self, rcv_id: &[u8], rec: QueueRec) -> Result<(), ErrorType> {
        let dup = self.queues.contains_key(rcv_id)
            || self.senders.contains_key(&rec.sender_id)
            || rec
                .notifier
                .as_ref()
                .is_some_and(|n| self.notifiers.contains_key(&n.notifier_id))
            || rec
                .link
                .as_ref()
                .is_some_and(|(l, _)| self.links.contains_key(l));
        if dup {
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
        let old = q.rec.notifier.replace(creds);
        if let Some(o) = &old {
            self.notifiers.remove(&o.notifier_id);
        }
        Ok(old)
    }

    fn delete_notifier(&mut self, rcv_id: &[u8]) -> Result<Option<NtfCreds>, ErrorType> {
        let old = self.get_mut(rcv_id)?.rec.notifier.take();
        if let Some(o) = &old {
            self.notifiers.remove(&o.notifier_id);
        }
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
        Ok(q.rec)
    }

    fn write_msg(
        &mut self,
        rcv_id: &[u8],
        msg: StoredMessage,
        quota: usize,
    ) -> Result<Option<(StoredMessage, bool)>, ErrorType> {
        let q = self.get_mut(rcv_id)?;
        let empty = q.msgs.is_empty();
        if !(q.can_write || empty) {
            return Ok(None);
        }
        q.can_write = quota > q.msgs.len();
        if q.can_write {
            q.msgs.push_back(msg.clone());
            Ok(Some((msg, empty)))
        } else {
            q.msgs.push_back(StoredMessage::Quota {
                msg_id: msg.msg_id().to_vec(),
                msg_ts: msg.msg_ts(),
            });
            Ok(None)
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
}
