//! SMP commands: the notifier subset that a notification server sends to an SMP relay (`NSUB`,
//! `NSUBS`, `PING`), the recipient's commands that manage notifier credentials (`NKEY`,
//! `NDEL`), and the queue commands a minimal relay needs (`NEW`, `KEY`, `SKEY`, `SUB`, `GET`,
//! `ACK`, `OFF`, `DEL`, `SEND`).
//!
//! ```text
//! command  = "NEW" SP rcv-auth-key:auth-public-key rcv-dh-key:x25519-public-key new-rest
//!          / "KEY" SP auth-public-key / "SKEY" SP auth-public-key
//!          / "NKEY" SP notifier-key:auth-public-key dh-key:x25519-public-key
//!          / "ACK" SP msg-id:short-bytes / "SEND" SP msg-flags SP body:*OCTET
//!          / "SUB" / "GET" / "OFF" / "DEL" / "NDEL" / "NSUB" / "NSUBS" / "PING"
//! new-rest = ["A" basic-auth:short-bytes] sub-mode                         ; v6-8
//!          / maybe(basic-auth) sub-mode sender-can-secure:bool             ; v9-14
//!          / maybe(basic-auth) sub-mode maybe(queue-req-data)              ; v15-16
//!          / maybe(basic-auth) sub-mode maybe(queue-req-data) maybe(ntf-creds) ; v17+
//! sub-mode = "S" / "C"                                   ; subscribe / only create
//! queue-req-data = "M" maybe(sender-id:short-bytes link-data)
//!                / "C" maybe(link-id:short-bytes sender-id:short-bytes link-data)
//! link-data = fixed:large-bytes user:large-bytes
//! ntf-creds = notifier-key:auth-public-key dh-key:x25519-public-key
//! tag      = the bytes up to the first space; the rest must be consumed by the tag's fields
//! ```
//!
//! Keys are X.509 DER as short bytes, with no separator between consecutive keys.
//! A tag this crate does not know decodes to [`DecodeErrorKind::UnknownTag`]. Only `NEW` depends
//! on the version; its older encodings carry less, so [`SmpCommand::encode`] drops what the
//! version cannot carry (see [`NewQueueReq`]).

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::coding::{put_bool, put_large, put_maybe, put_short, Decode, Encode, Reader};
use crate::error::{DecodeError, DecodeErrorKind, DecodeResult};
use crate::error_type::{CommandError, ErrorType};
use crate::keys::{AuthPublicKey, X25519PublicKey};
use crate::message::MsgFlags;
use crate::version::{smp, Version};

/// Optional hex byte strings in JSON (`null` when absent).
#[cfg(feature = "serde")]
pub(crate) mod hex_opt {
    use alloc::string::String;
    use alloc::vec::Vec;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref().map(|b| crate::json::hex_encode(b)).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| crate::json::hex_decode(&s).map_err(D::Error::custom))
            .transpose()
    }
}

/// Whether a `NEW` subscribes the creating connection to the queue.
///
/// ```text
/// sub-mode = "S" / "C"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SubscriptionMode {
    /// `S`: subscribe (`SMSubscribe`).
    Subscribe,
    /// `C`: only create (`SMOnlyCreate`).
    OnlyCreate,
}

impl Encode for SubscriptionMode {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self {
            Self::Subscribe => b'S',
            Self::OnlyCreate => b'C',
        });
    }
}

impl<'a> Decode<'a> for SubscriptionMode {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        match r.u8("subscription mode")? {
            b'S' => Ok(Self::Subscribe),
            b'C' => Ok(Self::OnlyCreate),
            _ => Err(DecodeError::new(DecodeErrorKind::BadValue, at, "S or C")),
        }
    }
}

/// Encrypted short-link data of a queue (`QueueLinkData`).
///
/// ```text
/// link-data = fixed:large-bytes user:large-bytes
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QueueLinkData {
    /// Encrypted immutable data (at most 65535 bytes).
    #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
    pub fixed: Vec<u8>,
    /// Encrypted user data (at most 65535 bytes).
    #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
    pub user: Vec<u8>,
}

impl Encode for QueueLinkData {
    fn encode(&self, out: &mut Vec<u8>) {
        put_large(out, &self.fixed);
        put_large(out, &self.user);
    }
}

impl<'a> Decode<'a> for QueueLinkData {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let fixed = r.large_bytes("fixed link data")?.to_vec();
        let user = r.large_bytes("user link data")?.to_vec();
        Ok(Self { fixed, user })
    }
}

/// The kind of queue `NEW` creates, with optional short-link data (`QueueReqData`, v15+).
///
/// ```text
/// queue-req-data = "M" maybe(sender-id:short-bytes link-data)
///                / "C" maybe(link-id:short-bytes sender-id:short-bytes link-data)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum QueueReqData {
    /// A messaging queue (the sender can secure it with `SKEY`).
    Messaging(Option<QueueLink>),
    /// A contact address queue.
    Contact(Option<ContactLink>),
}

/// The link id, sender id and link data of a new contact queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ContactLink {
    /// The short-link id (at most 255 bytes).
    #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
    pub link_id: Vec<u8>,
    /// The sender id and link data.
    pub link: QueueLink,
}

/// A client-chosen sender id with the link data of a new queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QueueLink {
    /// The sender id; the relay requires it to be the first 24 bytes of SHA3-384 of the
    /// correlation id.
    #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
    pub sender_id: Vec<u8>,
    /// The link data.
    pub data: QueueLinkData,
}

impl QueueReqData {
    /// The queue mode it requests.
    pub const fn mode(&self) -> QueueMode {
        match self {
            Self::Messaging(_) => QueueMode::Messaging,
            Self::Contact(_) => QueueMode::Contact,
        }
    }
}

fn put_link(out: &mut Vec<u8>, l: &QueueLink) {
    put_short(out, &l.sender_id);
    l.data.encode(out);
}

fn read_link(r: &mut Reader<'_>) -> DecodeResult<QueueLink> {
    let sender_id = r.short_bytes("sender id")?.to_vec();
    let data = QueueLinkData::decode(r)?;
    Ok(QueueLink { sender_id, data })
}

impl Encode for QueueReqData {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Messaging(d) => {
                out.push(b'M');
                put_maybe(out, d.as_ref(), put_link);
            }
            Self::Contact(d) => {
                out.push(b'C');
                put_maybe(out, d.as_ref(), |out, c| {
                    put_short(out, &c.link_id);
                    put_link(out, &c.link);
                });
            }
        }
    }
}

impl<'a> Decode<'a> for QueueReqData {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        match r.u8("queue request data")? {
            b'M' => Ok(Self::Messaging(r.maybe("link data", read_link)?)),
            b'C' => Ok(Self::Contact(r.maybe("link data", |r| {
                let link_id = r.short_bytes("link id")?.to_vec();
                Ok(ContactLink {
                    link_id,
                    link: read_link(r)?,
                })
            })?)),
            _ => Err(DecodeError::new(DecodeErrorKind::BadValue, at, "M or C")),
        }
    }
}

/// The mode of a queue (`QueueMode`).
///
/// ```text
/// queue-mode = "M" / "C"   ; messaging / contact
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum QueueMode {
    /// A messaging queue: the sender may secure it (`SKEY`).
    Messaging,
    /// A contact address queue.
    Contact,
}

impl QueueMode {
    /// `senderCanSecure`: only a messaging queue.
    pub const fn sender_can_secure(mode: Option<Self>) -> bool {
        matches!(mode, Some(Self::Messaging))
    }
}

impl Encode for QueueMode {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self {
            Self::Messaging => b'M',
            Self::Contact => b'C',
        });
    }
}

impl<'a> Decode<'a> for QueueMode {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let at = r.offset();
        match r.u8("queue mode")? {
            b'M' => Ok(Self::Messaging),
            b'C' => Ok(Self::Contact),
            _ => Err(DecodeError::new(DecodeErrorKind::BadValue, at, "M or C")),
        }
    }
}

/// Notifier credentials requested with `NEW` (`NewNtfCreds`, v17+).
///
/// ```text
/// ntf-creds = notifier-key:auth-public-key dh-key:x25519-public-key
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct NewNtfCreds {
    /// The notifier's key for authorizing `NSUB`.
    pub notifier_key: AuthPublicKey,
    /// The recipient's DH key for notification metadata.
    pub dh_key: X25519PublicKey,
}

/// The parameters of `NEW` (`NewQueueReq`).
///
/// What each version carries (the rest is dropped when encoding, and absent when decoding):
/// v6-8 the basic auth and the subscription mode; v9-14 also whether the sender can secure the
/// queue (decoded as `Messaging(None)` / `Contact(None)`); v15-16 the queue request data;
/// v17+ the notifier credentials.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NewQueueReq {
    /// The recipient's key for authorizing queue commands.
    pub rcv_auth_key: AuthPublicKey,
    /// The recipient's DH key for the relay's message encryption.
    pub rcv_dh_key: X25519PublicKey,
    /// The relay's password for creating queues, if any (at most 255 bytes).
    #[cfg_attr(feature = "serde", serde(with = "hex_opt"))]
    pub basic_auth: Option<Vec<u8>>,
    /// Subscribe the creating connection, or only create.
    pub sub_mode: SubscriptionMode,
    /// The queue kind and short-link data (v9+; only the kind before v15).
    pub queue_req_data: Option<QueueReqData>,
    /// Notifier credentials to create with the queue (v17+).
    pub ntf_creds: Option<NewNtfCreds>,
}

impl NewQueueReq {
    fn encode(&self, v: Version, out: &mut Vec<u8>) {
        self.rcv_auth_key.encode(out);
        self.rcv_dh_key.encode(out);
        if v < smp::SND_AUTH_KEY {
            if let Some(a) = &self.basic_auth {
                out.push(b'A');
                put_short(out, a);
            }
            self.sub_mode.encode(out);
            return;
        }
        put_maybe(out, self.basic_auth.as_ref(), |o, a| put_short(o, a));
        self.sub_mode.encode(out);
        if v < smp::SHORT_LINKS {
            let mode = self.queue_req_data.as_ref().map(QueueReqData::mode);
            put_bool(out, QueueMode::sender_can_secure(mode));
            return;
        }
        put_maybe(out, self.queue_req_data.as_ref(), |o, d| d.encode(o));
        if v >= smp::NEW_NTF_CREDS {
            put_maybe(out, self.ntf_creds.as_ref(), |o, c| {
                c.notifier_key.encode(o);
                c.dh_key.encode(o);
            });
        }
    }

    fn decode(r: &mut Reader<'_>, v: Version) -> DecodeResult<Self> {
        let rcv_auth_key = AuthPublicKey::decode(r)?;
        let rcv_dh_key = X25519PublicKey::decode(r)?;
        let short = |r: &mut Reader<'_>| r.short_bytes("basic auth").map(<[u8]>::to_vec);
        let (basic_auth, sub_mode, queue_req_data, ntf_creds);
        if v < smp::SND_AUTH_KEY {
            basic_auth = if r.eat(b'A') { Some(short(r)?) } else { None };
            sub_mode = SubscriptionMode::decode(r)?;
            queue_req_data = None;
            ntf_creds = None;
        } else {
            basic_auth = r.maybe("basic auth", short)?;
            sub_mode = SubscriptionMode::decode(r)?;
            if v < smp::SHORT_LINKS {
                queue_req_data = Some(if r.bool("sender can secure")? {
                    QueueReqData::Messaging(None)
                } else {
                    QueueReqData::Contact(None)
                });
                ntf_creds = None;
            } else {
                queue_req_data = r.maybe("queue request data", QueueReqData::decode)?;
                ntf_creds = if v >= smp::NEW_NTF_CREDS {
                    r.maybe("notifier credentials", |r| {
                        Ok(NewNtfCreds {
                            notifier_key: AuthPublicKey::decode(r)?,
                            dh_key: X25519PublicKey::decode(r)?,
                        })
                    })?
                } else {
                    None
                };
            }
        }
        Ok(Self {
            rcv_auth_key,
            rcv_dh_key,
            basic_auth,
            sub_mode,
            queue_req_data,
            ntf_creds,
        })
    }

    /// The request as version `v` carries it (what `decode(encode(self, v), v)` gives).
    pub fn at_version(&self, v: Version) -> Self {
        let mut r = self.clone();
        if v < smp::SND_AUTH_KEY {
            r.queue_req_data = None;
        } else if v < smp::SHORT_LINKS {
            r.queue_req_data = Some(match self.queue_req_data.as_ref().map(QueueReqData::mode) {
                Some(QueueMode::Messaging) => QueueReqData::Messaging(None),
                _ => QueueReqData::Contact(None),
            });
        }
        if v < smp::NEW_NTF_CREDS {
            r.ntf_creds = None;
        }
        r
    }
}

/// The party a command comes from (the reference's `Party` of the command tag), which selects
/// the queue id the entity id names and the key that authorizes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Party {
    /// `NEW`: no queue yet.
    Creator,
    /// Recipient commands: the entity id is the recipient id.
    Recipient,
    /// `SKEY`, `SEND`: the entity id is the sender id.
    Sender,
    /// `NSUB`: the entity id is the notifier id.
    Notifier,
    /// `NSUBS`: the entity id is the service id.
    NotifierService,
    /// `PING`.
    IdleClient,
}

/// An SMP command.
///
/// ```text
/// command = "NEW" SP new-queue-req / "KEY" SP auth-public-key / "SKEY" SP auth-public-key
///         / "NKEY" SP auth-public-key x25519-public-key / "ACK" SP short-bytes
///         / "SEND" SP msg-flags SP *OCTET / "SUB" / "GET" / "OFF" / "DEL" / "NDEL" / "NSUB"
///         / "NSUBS" / "PING"
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "tag")
)]
pub enum SmpCommand {
    /// Recipient: set the notifier key and the recipient's DH key for notifications.
    #[cfg_attr(feature = "serde", serde(rename = "NKEY"))]
    Nkey {
        /// The notifier's key for authorizing `NSUB`.
        notifier_key: AuthPublicKey,
        /// The recipient's DH key for encrypting notification metadata.
        dh_key: X25519PublicKey,
    },
    /// Recipient: delete the notifier credentials.
    #[cfg_attr(feature = "serde", serde(rename = "NDEL"))]
    Ndel,
    /// Notifier: subscribe to notifications of one queue.
    #[cfg_attr(feature = "serde", serde(rename = "NSUB"))]
    Nsub,
    /// Notifier service: subscribe to all associated queues.
    #[cfg_attr(feature = "serde", serde(rename = "NSUBS"))]
    Nsubs,
    /// Keep-alive.
    #[cfg_attr(feature = "serde", serde(rename = "PING"))]
    Ping,
    /// Creator: create a queue (answered with `IDS`).
    #[cfg_attr(feature = "serde", serde(rename = "NEW"))]
    New(Box<NewQueueReq>),
    /// Recipient: subscribe to the queue's messages.
    #[cfg_attr(feature = "serde", serde(rename = "SUB"))]
    Sub,
    /// Recipient: secure the queue with the sender's key.
    #[cfg_attr(feature = "serde", serde(rename = "KEY"))]
    Key {
        /// The sender's key for authorizing `SEND`.
        sender_key: AuthPublicKey,
    },
    /// Recipient: get one message without subscribing.
    #[cfg_attr(feature = "serde", serde(rename = "GET"))]
    Get,
    /// Recipient: acknowledge the delivered message (an empty id acknowledges any).
    #[cfg_attr(feature = "serde", serde(rename = "ACK"))]
    Ack {
        /// The message id (at most 255 bytes).
        #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
        msg_id: Vec<u8>,
    },
    /// Recipient: suspend the queue (senders get `AUTH`).
    #[cfg_attr(feature = "serde", serde(rename = "OFF"))]
    Off,
    /// Recipient: delete the queue.
    #[cfg_attr(feature = "serde", serde(rename = "DEL"))]
    Del,
    /// Sender: secure a messaging queue with its own key (v9+ queues).
    #[cfg_attr(feature = "serde", serde(rename = "SKEY"))]
    Skey {
        /// The sender's key; it also authorizes this command.
        sender_key: AuthPublicKey,
    },
    /// Sender: send a message.
    #[cfg_attr(feature = "serde", serde(rename = "SEND"))]
    Send {
        /// The flags (notification).
        flags: MsgFlags,
        /// The (end-to-end encrypted) body.
        #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
        body: Vec<u8>,
    },
}

impl SmpCommand {
    /// The wire tag.
    pub const fn tag(&self) -> &'static str {
        match self {
            Self::Nkey { .. } => "NKEY",
            Self::Ndel => "NDEL",
            Self::Nsub => "NSUB",
            Self::Nsubs => "NSUBS",
            Self::Ping => "PING",
            Self::New(_) => "NEW",
            Self::Sub => "SUB",
            Self::Key { .. } => "KEY",
            Self::Get => "GET",
            Self::Ack { .. } => "ACK",
            Self::Off => "OFF",
            Self::Del => "DEL",
            Self::Skey { .. } => "SKEY",
            Self::Send { .. } => "SEND",
        }
    }

    /// The party the command belongs to.
    pub const fn party(&self) -> Party {
        match self {
            Self::New(_) => Party::Creator,
            Self::Nkey { .. }
            | Self::Ndel
            | Self::Sub
            | Self::Key { .. }
            | Self::Get
            | Self::Ack { .. }
            | Self::Off
            | Self::Del => Party::Recipient,
            Self::Skey { .. } | Self::Send { .. } => Party::Sender,
            Self::Nsub => Party::Notifier,
            Self::Nsubs => Party::NotifierService,
            Self::Ping => Party::IdleClient,
        }
    }

    /// Whether the command takes a service signature in a service session (`useServiceAuth`):
    /// `NEW`, `SUB` and `NSUB`; see [`crate::service`].
    pub const fn uses_service_auth(&self) -> bool {
        matches!(self, Self::New(_) | Self::Sub | Self::Nsub)
    }

    /// Appends the command part of a transmission as sent at SMP version `v` (only `NEW`
    /// depends on it).
    pub fn encode(&self, v: Version, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag().as_bytes());
        match self {
            Self::Nkey {
                notifier_key,
                dh_key,
            } => {
                out.push(b' ');
                notifier_key.encode(out);
                dh_key.encode(out);
            }
            Self::New(req) => {
                out.push(b' ');
                req.encode(v, out);
            }
            Self::Key { sender_key } | Self::Skey { sender_key } => {
                out.push(b' ');
                sender_key.encode(out);
            }
            Self::Ack { msg_id } => {
                out.push(b' ');
                put_short(out, msg_id);
            }
            Self::Send { flags, body } => {
                out.push(b' ');
                flags.encode(out);
                out.push(b' ');
                out.extend_from_slice(body);
            }
            _ => {}
        }
    }

    /// The encoding as a new vector.
    pub fn to_vec(&self, v: Version) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(v, &mut out);
        out
    }

    /// Decodes the whole command part of a transmission.
    ///
    /// # Errors
    /// `UnknownTag` for a tag this crate does not know (the relay answers `CMD UNKNOWN`); any
    /// other error (bad or truncated fields, trailing bytes) means `CMD SYNTAX`.
    pub fn decode(bytes: &[u8], v: Version) -> DecodeResult<Self> {
        let mut r = Reader::new(bytes);
        let tag = r.take_till(|c| c == b' ');
        let cmd = match tag {
            b"NKEY" => {
                r.space()?;
                let notifier_key = AuthPublicKey::decode(&mut r)?;
                let dh_key = X25519PublicKey::decode(&mut r)?;
                Self::Nkey {
                    notifier_key,
                    dh_key,
                }
            }
            b"NDEL" => Self::Ndel,
            b"NSUB" => Self::Nsub,
            b"NSUBS" => Self::Nsubs,
            b"PING" => Self::Ping,
            b"NEW" => {
                r.space()?;
                Self::New(Box::new(NewQueueReq::decode(&mut r, v)?))
            }
            b"SUB" => Self::Sub,
            b"KEY" => {
                r.space()?;
                Self::Key {
                    sender_key: AuthPublicKey::decode(&mut r)?,
                }
            }
            b"GET" => Self::Get,
            b"ACK" => {
                r.space()?;
                Self::Ack {
                    msg_id: r.short_bytes("message id")?.to_vec(),
                }
            }
            b"OFF" => Self::Off,
            b"DEL" => Self::Del,
            b"SKEY" => {
                r.space()?;
                Self::Skey {
                    sender_key: AuthPublicKey::decode(&mut r)?,
                }
            }
            b"SEND" => {
                r.space()?;
                let flags = MsgFlags::decode(&mut r)?;
                r.space()?;
                Self::Send {
                    flags,
                    body: r.rest().to_vec(),
                }
            }
            _ => {
                return Err(DecodeError::new(
                    DecodeErrorKind::UnknownTag,
                    0,
                    "SMP command tag",
                ))
            }
        };
        r.finish()?;
        Ok(cmd)
    }

    /// The relay's credential rules for a received command (`checkCredentials`):
    /// - `NEW` needs an authorization (`CMD NO_AUTH`) and no entity id (`CMD HAS_AUTH`);
    /// - `SEND` needs an entity id (`CMD NO_ENTITY`), the authorization is optional (an
    ///   unsecured queue);
    /// - `PING` must carry neither authorization nor entity id (`CMD HAS_AUTH`);
    /// - all others need both (`CMD NO_AUTH`).
    ///
    /// # Errors
    /// The `ERR` the relay sends instead of executing the command.
    pub fn check_credentials(&self, has_auth: bool, entity_id: &[u8]) -> Result<(), ErrorType> {
        let err = |e| Err(ErrorType::Cmd(e));
        match self {
            Self::New(_) if !has_auth => err(CommandError::NoAuth),
            Self::New(_) if !entity_id.is_empty() => err(CommandError::HasAuth),
            Self::New(_) => Ok(()),
            Self::Send { .. } if entity_id.is_empty() => err(CommandError::NoEntity),
            Self::Send { .. } => Ok(()),
            Self::Ping if has_auth || !entity_id.is_empty() => err(CommandError::HasAuth),
            Self::Ping => Ok(()),
            _ if !has_auth || entity_id.is_empty() => err(CommandError::NoAuth),
            _ => Ok(()),
        }
    }

    /// The command as version `v` carries it (what `decode(encode(self, v), v)` gives).
    pub fn at_version(&self, v: Version) -> Self {
        match self {
            Self::New(req) => Self::New(Box::new(req.at_version(v))),
            c => c.clone(),
        }
    }
}

#[cfg(feature = "arbitrary")]
mod arb {
    use super::*;
    use arbitrary::{Arbitrary, Result, Unstructured};

    fn short(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
        let n = u.int_in_range(0..=255usize)?;
        Ok(u.bytes(n)?.to_vec())
    }

    fn large(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
        let n = u.int_in_range(0..=300usize)?;
        Ok(u.bytes(n)?.to_vec())
    }

    impl<'a> Arbitrary<'a> for QueueLink {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            Ok(Self {
                sender_id: short(u)?,
                data: QueueLinkData {
                    fixed: large(u)?,
                    user: large(u)?,
                },
            })
        }
    }

    impl<'a> Arbitrary<'a> for QueueReqData {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            Ok(if u.arbitrary()? {
                Self::Messaging(u.arbitrary()?)
            } else if u.arbitrary()? {
                Self::Contact(Some(ContactLink {
                    link_id: short(u)?,
                    link: u.arbitrary()?,
                }))
            } else {
                Self::Contact(None)
            })
        }
    }

    impl<'a> Arbitrary<'a> for NewQueueReq {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            Ok(Self {
                rcv_auth_key: u.arbitrary()?,
                rcv_dh_key: u.arbitrary()?,
                basic_auth: if u.arbitrary()? {
                    Some(short(u)?)
                } else {
                    None
                },
                sub_mode: u.arbitrary()?,
                queue_req_data: u.arbitrary()?,
                ntf_creds: u.arbitrary()?,
            })
        }
    }

    impl<'a> Arbitrary<'a> for SmpCommand {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            Ok(match u.int_in_range(0..=13u8)? {
                0 => Self::Nkey {
                    notifier_key: u.arbitrary()?,
                    dh_key: u.arbitrary()?,
                },
                1 => Self::Ndel,
                2 => Self::Nsub,
                3 => Self::Nsubs,
                4 => Self::Ping,
                5 => Self::New(Box::new(u.arbitrary()?)),
                6 => Self::Sub,
                7 => Self::Key {
                    sender_key: u.arbitrary()?,
                },
                8 => Self::Get,
                9 => Self::Ack { msg_id: short(u)? },
                10 => Self::Off,
                11 => Self::Del,
                12 => Self::Skey {
                    sender_key: u.arbitrary()?,
                },
                _ => Self::Send {
                    flags: u.arbitrary()?,
                    body: u.arbitrary()?,
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PublicKey;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const V: Version = crate::version::smp::CURRENT;

    fn key32(s: &str) -> [u8; 32] {
        h(s).try_into().unwrap()
    }

    #[test]
    fn decode_nkey() {
        // smp/command/NKEY/ed25519/1
        let b = h("4e4b4559202c302a300506032b65700321002c24777312e89ac8172f71f6dba0462bbe2b5d965634d747412012c8725edc052c302a300506032b656e03210086d01479134d6a3a2a6056bd4a43e449a997b38ccb1112c7030a996b18b4471d");
        let c = SmpCommand::decode(&b, V).unwrap();
        let want = SmpCommand::Nkey {
            notifier_key: AuthPublicKey::new(PublicKey::Ed25519(key32(
                "2c24777312e89ac8172f71f6dba0462bbe2b5d965634d747412012c8725edc05",
            )))
            .unwrap(),
            dh_key: X25519PublicKey(key32(
                "86d01479134d6a3a2a6056bd4a43e449a997b38ccb1112c7030a996b18b4471d",
            )),
        };
        assert_eq!(c, want);
        assert_eq!(c.to_vec(V), b);
        // smp/command/NKEY/x25519/2
        let b = h("4e4b4559202c302a300506032b656e0321009f8d9b30162cfc9ea639c03636bd93b496a88f62cf20be2f7cb05ce7cc73fc6a2c302a300506032b656e032100157c9a1f8dcd125530a07d9d8f21897f20ff1981312f600ae8a110ef79527522");
        let c = SmpCommand::decode(&b, V).unwrap();
        let want = SmpCommand::Nkey {
            notifier_key: AuthPublicKey::new(PublicKey::X25519(key32(
                "9f8d9b30162cfc9ea639c03636bd93b496a88f62cf20be2f7cb05ce7cc73fc6a",
            )))
            .unwrap(),
            dh_key: X25519PublicKey(key32(
                "157c9a1f8dcd125530a07d9d8f21897f20ff1981312f600ae8a110ef79527522",
            )),
        };
        assert_eq!(c, want);
        assert_eq!(c.to_vec(V), b);
    }

    #[test]
    fn decode_simple_commands() {
        for (hex_in, cmd, v) in [
            ("4e44454c", SmpCommand::Ndel, V),
            ("4e53554253", SmpCommand::Nsubs, V),
            ("4e535542", SmpCommand::Nsub, Version(7)),
            ("4e535542", SmpCommand::Nsub, Version(18)),
        ] {
            assert_eq!(SmpCommand::decode(&h(hex_in), v).unwrap(), cmd);
            assert_eq!(cmd.to_vec(v), h(hex_in));
        }
        assert_eq!(SmpCommand::decode(b"PING", V).unwrap(), SmpCommand::Ping);
    }

    #[test]
    fn rejects_bad_commands() {
        // smp/command/NKEY/ed25519/1/trunc_60
        let e = SmpCommand::decode(&h("4e4b4559202c302a300506032b65700321002c24777312e89ac8172f71f6dba0462bbe2b5d965634d747412012c8725edc052c302a300506032b656e"), V).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::Truncated);
        // smp/command/invalid/NKEY_space_only
        assert!(SmpCommand::decode(&h("4e4b455920"), V).is_err());
        // smp/command/invalid/NKEY_no_space
        let e = SmpCommand::decode(&h("4e4b45592c302a300506032b6570032100e04d171694b2ee5017908fed4ffa911ec58726dd1d941cf004084024be359e3c2c302a300506032b656e032100a3f7807799d616922217ec1ad3dd4676affebe601f2c725440393ecff357fd48"), V).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::UnknownTag);
        assert_eq!(
            SmpCommand::decode(b"NSUB ", V).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        // a reference command this crate does not implement
        assert_eq!(
            SmpCommand::decode(b"QUE", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
        assert_eq!(
            SmpCommand::decode(b"", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
    }

    const ED: &str = "2c302a300506032b65700321002c24777312e89ac8172f71f6dba0462bbe2b5d965634d747412012c8725edc05";
    const X: &str = "2c302a300506032b656e03210086d01479134d6a3a2a6056bd4a43e449a997b38ccb1112c7030a996b18b4471d";

    fn ed() -> AuthPublicKey {
        AuthPublicKey::new(PublicKey::Ed25519(key32(
            "2c24777312e89ac8172f71f6dba0462bbe2b5d965634d747412012c8725edc05",
        )))
        .unwrap()
    }

    fn x() -> X25519PublicKey {
        X25519PublicKey(key32(
            "86d01479134d6a3a2a6056bd4a43e449a997b38ccb1112c7030a996b18b4471d",
        ))
    }

    fn new_req(
        basic_auth: Option<&[u8]>,
        sub_mode: SubscriptionMode,
        queue_req_data: Option<QueueReqData>,
        ntf: bool,
    ) -> SmpCommand {
        SmpCommand::New(Box::new(NewQueueReq {
            rcv_auth_key: ed(),
            rcv_dh_key: x(),
            basic_auth: basic_auth.map(<[u8]>::to_vec),
            sub_mode,
            queue_req_data,
            ntf_creds: ntf.then(|| NewNtfCreds {
                notifier_key: ed(),
                dh_key: x(),
            }),
        }))
    }

    /// decode(hex) == value at `v` and encode(value) == hex.
    fn check(v: u16, hex_in: &str, want: &SmpCommand) {
        let v = Version(v);
        assert_eq!(
            &SmpCommand::decode(&h(hex_in), v).unwrap(),
            want,
            "{hex_in}"
        );
        assert_eq!(want.to_vec(v), h(hex_in));
    }

    #[test]
    fn new_by_version() {
        use QueueReqData::{Contact, Messaging};
        use SubscriptionMode::{OnlyCreate, Subscribe};
        let new = |rest: &str| alloc::format!("4e455720{ED}{X}{rest}");
        // v6-8: `new <> auth <> e subMode`, auth = "A" short-bytes when present
        check(6, &new("53"), &new_req(None, Subscribe, None, false));
        check(
            8,
            &new("4102707743"),
            &new_req(Some(b"pw"), OnlyCreate, None, false),
        );
        // v9-14: maybe auth, sub mode, senderCanSecure
        check(
            9,
            &new("305354"),
            &new_req(None, Subscribe, Some(Messaging(None)), false),
        );
        check(
            14,
            &new("310270775346"),
            &new_req(Some(b"pw"), Subscribe, Some(Contact(None)), false),
        );
        // below v15 the request data is reduced to the flag, below v9 dropped
        let full = new_req(None, Subscribe, Some(Messaging(None)), true);
        assert_eq!(full.to_vec(Version(12)), h(&new("305354")));
        assert_eq!(full.to_vec(Version(6)), h(&new("53")));
        assert_eq!(
            new_req(None, Subscribe, None, false).to_vec(Version(10)),
            h(&new("305346"))
        );
        // v15-16: maybe QueueReqData
        check(
            15,
            &new("3053314d30"),
            &new_req(None, Subscribe, Some(Messaging(None)), false),
        );
        check(16, &new("305330"), &new_req(None, Subscribe, None, false));
        let link = QueueLink {
            sender_id: b"sid".to_vec(),
            data: QueueLinkData {
                fixed: b"f".to_vec(),
                user: b"uu".to_vec(),
            },
        };
        check(
            16,
            &new("3053314d310373696400016600027575"),
            &new_req(None, Subscribe, Some(Messaging(Some(link.clone()))), false),
        );
        check(
            16,
            &new("3053314331026c690373696400016600027575"),
            &new_req(
                None,
                Subscribe,
                Some(Contact(Some(ContactLink {
                    link_id: b"li".to_vec(),
                    link,
                }))),
                false,
            ),
        );
        // v17+: maybe NewNtfCreds
        check(17, &new("30533030"), &new_req(None, Subscribe, None, false));
        check(18, &new(&alloc::format!("3053314d3031{}{X}", ED)), &full);
        // bad sub mode, bad maybe tag, missing flag
        assert!(SmpCommand::decode(&h(&new("58")), Version(6)).is_err());
        assert!(SmpCommand::decode(&h(&new("3253")), Version(9)).is_err());
        assert_eq!(
            SmpCommand::decode(&h(&new("3053")), Version(9))
                .unwrap_err()
                .kind,
            DecodeErrorKind::Truncated
        );
        // v6: an "A" without auth bytes is a syntax error
        assert!(SmpCommand::decode(&h(&new("41")), Version(6)).is_err());
    }

    #[test]
    fn queue_commands() {
        // `e (SEND_, ' ', flags, ' ', Tail msg)`
        let send = SmpCommand::Send {
            flags: MsgFlags { notification: true },
            body: b"hello".to_vec(),
        };
        check(
            18,
            "53454e44205420", /* SEND T SP */
            &SmpCommand::Send {
                flags: MsgFlags { notification: true },
                body: Vec::new(),
            },
        );
        check(
            6,
            "53454e442054206869",
            &SmpCommand::Send {
                flags: MsgFlags { notification: true },
                body: b"hi".to_vec(),
            },
        );
        assert_eq!(send.to_vec(V), b"SEND T hello");
        check(
            18,
            "53454e442046202020",
            &SmpCommand::Send {
                flags: MsgFlags::default(),
                body: b"  ".to_vec(),
            },
        );
        // flag extension bytes up to the space are skipped (not canonical)
        assert_eq!(
            SmpCommand::decode(b"SEND Txy z", V).unwrap(),
            SmpCommand::Send {
                flags: MsgFlags { notification: true },
                body: b"z".to_vec()
            }
        );
        assert!(SmpCommand::decode(b"SEND T", V).is_err());
        assert!(SmpCommand::decode(b"SEND X b", V).is_err());
        // `e (ACK_, ' ', msgId)`
        check(
            18,
            "41434b2003616263",
            &SmpCommand::Ack {
                msg_id: b"abc".to_vec(),
            },
        );
        check(18, "41434b2000", &SmpCommand::Ack { msg_id: Vec::new() });
        assert!(SmpCommand::decode(b"ACK \x05ab", V).is_err());
        // `e (KEY_, ' ', k)`, `e (SKEY_, ' ', k)`
        check(
            18,
            &alloc::format!("4b455920{ED}"),
            &SmpCommand::Key { sender_key: ed() },
        );
        check(
            9,
            &alloc::format!("534b455920{ED}"),
            &SmpCommand::Skey { sender_key: ed() },
        );
        for (t, c) in [
            ("SUB", SmpCommand::Sub),
            ("GET", SmpCommand::Get),
            ("OFF", SmpCommand::Off),
            ("DEL", SmpCommand::Del),
        ] {
            check(6, &hex::encode(t), &c);
            assert_eq!(
                SmpCommand::decode(alloc::format!("{t} ").as_bytes(), V)
                    .unwrap_err()
                    .kind,
                DecodeErrorKind::TrailingBytes
            );
        }
        assert_eq!(
            SmpCommand::Send {
                flags: MsgFlags::default(),
                body: Vec::new()
            }
            .party(),
            Party::Sender
        );
        assert_eq!(SmpCommand::Nsub.party(), Party::Notifier);
        assert_eq!(
            SmpCommand::Ack { msg_id: Vec::new() }.party(),
            Party::Recipient
        );
        assert_eq!(
            new_req(None, SubscriptionMode::Subscribe, None, false).party(),
            Party::Creator
        );
    }

    #[test]
    fn credentials() {
        let no_auth = Err(ErrorType::Cmd(CommandError::NoAuth));
        let new = new_req(None, SubscriptionMode::Subscribe, None, false);
        assert_eq!(new.check_credentials(true, b""), Ok(()));
        assert_eq!(new.check_credentials(false, b""), no_auth);
        assert_eq!(
            new.check_credentials(true, b"q"),
            Err(ErrorType::Cmd(CommandError::HasAuth))
        );
        let send = SmpCommand::Send {
            flags: MsgFlags::default(),
            body: Vec::new(),
        };
        assert_eq!(send.check_credentials(false, b"q"), Ok(()));
        assert_eq!(send.check_credentials(true, b"q"), Ok(()));
        assert_eq!(
            send.check_credentials(true, b""),
            Err(ErrorType::Cmd(CommandError::NoEntity))
        );
        for c in [
            SmpCommand::Sub,
            SmpCommand::Del,
            SmpCommand::Ack { msg_id: Vec::new() },
            SmpCommand::Skey { sender_key: ed() },
        ] {
            assert_eq!(c.check_credentials(false, b"q"), no_auth);
            assert_eq!(c.check_credentials(true, b""), no_auth);
            assert_eq!(c.check_credentials(true, b"q"), Ok(()));
        }
        let nsub = SmpCommand::Nsub;
        assert_eq!(nsub.check_credentials(true, b"id"), Ok(()));
        assert_eq!(
            nsub.check_credentials(false, b"id"),
            Err(ErrorType::Cmd(CommandError::NoAuth))
        );
        assert_eq!(
            nsub.check_credentials(true, b""),
            Err(ErrorType::Cmd(CommandError::NoAuth))
        );
        assert_eq!(
            SmpCommand::Nsubs.check_credentials(true, b""),
            Err(ErrorType::Cmd(CommandError::NoAuth))
        );
        assert_eq!(SmpCommand::Ping.check_credentials(false, b""), Ok(()));
        assert_eq!(
            SmpCommand::Ping.check_credentials(true, b""),
            Err(ErrorType::Cmd(CommandError::HasAuth))
        );
        assert_eq!(
            SmpCommand::Ping.check_credentials(false, b"x"),
            Err(ErrorType::Cmd(CommandError::HasAuth))
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn command_json() {
        let j = serde_json::json!({"dh_key": {"alg": "x25519", "public": "86d01479134d6a3a2a6056bd4a43e449a997b38ccb1112c7030a996b18b4471d"}, "notifier_key": {"alg": "ed25519", "public": "2c24777312e89ac8172f71f6dba0462bbe2b5d965634d747412012c8725edc05"}, "tag": "NKEY"});
        let c: SmpCommand = serde_json::from_value(j.clone()).unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap(), j);
        assert_eq!(
            serde_json::to_value(SmpCommand::Nsubs).unwrap(),
            serde_json::json!({"tag": "NSUBS"})
        );
        assert_eq!(
            serde_json::from_value::<SmpCommand>(serde_json::json!({"tag": "PING"})).unwrap(),
            SmpCommand::Ping
        );
    }

    #[cfg(feature = "arbitrary")]
    proptest::proptest! {
        #[test]
        fn command_round_trips(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
            use arbitrary::{Arbitrary, Unstructured};
            if let Ok(c) = SmpCommand::arbitrary(&mut Unstructured::new(&data)) {
                proptest::prop_assert_eq!(SmpCommand::decode(&c.to_vec(V), V).unwrap(), c.clone());
                for v in 6..=18 {
                    let v = Version(v);
                    let b = c.to_vec(v);
                    let d = SmpCommand::decode(&b, v).unwrap();
                    proptest::prop_assert_eq!(&d, &c.at_version(v));
                    proptest::prop_assert_eq!(d.to_vec(v), b);
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128), v in 0u16..20) {
            let _ = SmpCommand::decode(&data, Version(v));
            let mut b = b"NEW ".to_vec();
            b.extend_from_slice(&data);
            let _ = SmpCommand::decode(&b, Version(v));
        }
    }
}
