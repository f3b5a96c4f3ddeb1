//! SMP server messages: what an SMP relay sends a notification server (and the `NID` reply to a
//! recipient's `NKEY`), and the queue replies and deliveries of a minimal relay (`IDS`, `MSG`,
//! `SOK`).
//!
//! ```text
//! broker-msg = "NID" SP notifier-id:short-bytes dh-key:x25519-public-key
//!            / "NMSG" SP nonce:24OCTET enc-meta:short-bytes
//!            / "IDS" SP rcv-id:short-bytes snd-id:short-bytes dh-key:x25519-public-key ids-rest
//!            / "MSG" SP msg-id:short-bytes enc-body:*OCTET
//!            / "SOK" SP maybe(service-id:short-bytes)                ; v16+, "OK" before
//!            / "END" / "ENDS" SP int64 / "DELD" / "OK" / "ERR" SP error-type / "PONG"
//!            / "SOKS" SP int64
//! ids-rest   = ""                                                      ; v6-8
//!            / sender-can-secure:bool                                  ; v9-14
//!            / maybe(queue-mode) maybe(link-id:short-bytes)            ; v15
//!            / ... maybe(service-id:short-bytes)                       ; v16
//!            / ... maybe(notifier-id:short-bytes x25519-public-key)    ; v17+
//! ```
//!
//! Encoding depends on the version: `DELD` is sent as `END` below SMP v10, `SOK` as `OK` below
//! v16, `ERR BLOCKED` follows [`ErrorType::for_smp_version`], and `IDS` carries only what the
//! version has fields for. Decoding depends on it only for `IDS`.

use alloc::vec::Vec;

use crate::coding::{put_bool, put_i64, put_maybe, put_short, Decode, Encode, Reader};
use crate::command::QueueMode;
use crate::error::{DecodeError, DecodeErrorKind, DecodeResult};
use crate::error_type::{CommandError, ErrorType};
use crate::keys::X25519PublicKey;
use crate::version::{smp, Version};

/// The notifier credentials a relay created with a queue (`ServerNtfCreds`, v17+).
///
/// ```text
/// server-ntf-creds = notifier-id:short-bytes dh-key:x25519-public-key
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServerNtfCreds {
    /// The notifier id (at most 255 bytes).
    #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
    pub notifier_id: Vec<u8>,
    /// The relay's DH key for notification metadata.
    pub dh_key: X25519PublicKey,
}

/// The ids and keys of a new queue, the reply to `NEW` (`QueueIdsKeys`).
///
/// What each version carries (the rest is dropped when encoding, absent when decoding): v6-8
/// the ids and the key; v9-14 also whether the sender can secure the queue (decoded as
/// `Messaging` / `Contact`); v15 the queue mode and link id; v16 the service id; v17+ the
/// notifier credentials.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QueueIdsKeys {
    /// The recipient id (at most 255 bytes).
    #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
    pub rcv_id: Vec<u8>,
    /// The sender id (at most 255 bytes).
    #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
    pub snd_id: Vec<u8>,
    /// The relay's DH key for message encryption.
    pub rcv_public_dh_key: X25519PublicKey,
    /// The queue mode (v9+).
    pub queue_mode: Option<QueueMode>,
    /// The short-link id (v15+).
    #[cfg_attr(feature = "serde", serde(with = "crate::command::hex_opt"))]
    pub link_id: Option<Vec<u8>>,
    /// The client service the queue is associated with (v16+).
    #[cfg_attr(feature = "serde", serde(with = "crate::command::hex_opt"))]
    pub service_id: Option<Vec<u8>>,
    /// Notifier credentials created with the queue (v17+).
    pub server_ntf_creds: Option<ServerNtfCreds>,
}

fn put_opt_short(out: &mut Vec<u8>, v: &Option<Vec<u8>>) {
    put_maybe(out, v.as_ref(), |o, b| put_short(o, b));
}

fn read_opt_short(r: &mut Reader<'_>, what: &'static str) -> DecodeResult<Option<Vec<u8>>> {
    r.maybe(what, |r| r.short_bytes(what).map(<[u8]>::to_vec))
}

impl QueueIdsKeys {
    fn encode(&self, v: Version, out: &mut Vec<u8>) {
        put_short(out, &self.rcv_id);
        put_short(out, &self.snd_id);
        self.rcv_public_dh_key.encode(out);
        if v < smp::SND_AUTH_KEY {
            return;
        }
        if v < smp::SHORT_LINKS {
            put_bool(out, QueueMode::sender_can_secure(self.queue_mode));
            return;
        }
        put_maybe(out, self.queue_mode.as_ref(), |o, m| m.encode(o));
        put_opt_short(out, &self.link_id);
        if v >= smp::SERVICE_CERTS {
            put_opt_short(out, &self.service_id);
        }
        if v >= smp::NEW_NTF_CREDS {
            put_maybe(out, self.server_ntf_creds.as_ref(), |o, c| {
                put_short(o, &c.notifier_id);
                c.dh_key.encode(o);
            });
        }
    }

    fn decode(r: &mut Reader<'_>, v: Version) -> DecodeResult<Self> {
        let rcv_id = r.short_bytes("recipient id")?.to_vec();
        let snd_id = r.short_bytes("sender id")?.to_vec();
        let rcv_public_dh_key = X25519PublicKey::decode(r)?;
        let mut ids = Self {
            rcv_id,
            snd_id,
            rcv_public_dh_key,
            queue_mode: None,
            link_id: None,
            service_id: None,
            server_ntf_creds: None,
        };
        if v < smp::SND_AUTH_KEY {
            return Ok(ids);
        }
        if v < smp::SHORT_LINKS {
            ids.queue_mode = Some(if r.bool("sender can secure")? {
                QueueMode::Messaging
            } else {
                QueueMode::Contact
            });
            return Ok(ids);
        }
        ids.queue_mode = r.maybe("queue mode", QueueMode::decode)?;
        ids.link_id = read_opt_short(r, "link id")?;
        if v >= smp::SERVICE_CERTS {
            ids.service_id = read_opt_short(r, "service id")?;
        }
        if v >= smp::NEW_NTF_CREDS {
            ids.server_ntf_creds = r.maybe("notifier credentials", |r| {
                Ok(ServerNtfCreds {
                    notifier_id: r.short_bytes("notifier id")?.to_vec(),
                    dh_key: X25519PublicKey::decode(r)?,
                })
            })?;
        }
        Ok(ids)
    }

    /// The value as version `v` carries it (what `decode(encode(self, v), v)` gives).
    pub fn at_version(&self, v: Version) -> Self {
        let mut ids = self.clone();
        if v < smp::SND_AUTH_KEY {
            ids.queue_mode = None;
        } else if v < smp::SHORT_LINKS {
            ids.queue_mode = Some(if QueueMode::sender_can_secure(self.queue_mode) {
                QueueMode::Messaging
            } else {
                QueueMode::Contact
            });
        }
        if v < smp::SHORT_LINKS {
            ids.link_id = None;
        }
        if v < smp::SERVICE_CERTS {
            ids.service_id = None;
        }
        if v < smp::NEW_NTF_CREDS {
            ids.server_ntf_creds = None;
        }
        ids
    }
}

/// Length of the crypto_box nonce in `NMSG`.
pub const NONCE_LEN: usize = 24;

/// An SMP server message of the notification subset.
///
/// ```text
/// broker-msg = "NID" SP short-bytes x25519-public-key / "NMSG" SP 24OCTET short-bytes / "END"
///            / "ENDS" SP int64 / "DELD" / "OK" / "ERR" SP error-type / "PONG" / "SOKS" SP int64
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "tag")
)]
pub enum BrokerMsg {
    /// Notifier credentials created (reply to `NKEY`).
    #[cfg_attr(feature = "serde", serde(rename = "NID"))]
    Nid {
        /// The notifier id (at most 255 bytes).
        #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
        notifier_id: Vec<u8>,
        /// The relay's DH key for notification metadata.
        dh_key: X25519PublicKey,
    },
    /// A message notification.
    #[cfg_attr(feature = "serde", serde(rename = "NMSG"))]
    Nmsg {
        /// crypto_box nonce.
        #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_array"))]
        nonce: [u8; NONCE_LEN],
        /// Encrypted [`NMsgMeta`](crate::message::NMsgMeta) (at most 255 bytes).
        #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
        enc_meta: Vec<u8>,
    },
    /// Subscription ended (another subscriber took over).
    #[cfg_attr(feature = "serde", serde(rename = "END"))]
    End,
    /// Service subscription ended for `count` queues.
    #[cfg_attr(feature = "serde", serde(rename = "ENDS"))]
    Ends {
        /// Number of queues.
        count: i64,
    },
    /// Queue deleted.
    #[cfg_attr(feature = "serde", serde(rename = "DELD"))]
    Deld,
    /// Success.
    #[cfg_attr(feature = "serde", serde(rename = "OK"))]
    Ok,
    /// Error.
    #[cfg_attr(feature = "serde", serde(rename = "ERR"))]
    Err {
        /// The error.
        error: ErrorType,
    },
    /// Reply to `PING`.
    #[cfg_attr(feature = "serde", serde(rename = "PONG"))]
    Pong,
    /// Service subscription succeeded for `count` queues.
    #[cfg_attr(feature = "serde", serde(rename = "SOKS"))]
    Soks {
        /// Number of queues.
        count: i64,
    },
    /// Queue created (reply to `NEW`, without an entity id).
    #[cfg_attr(feature = "serde", serde(rename = "IDS"))]
    Ids(QueueIdsKeys),
    /// A message delivered to the recipient.
    #[cfg_attr(feature = "serde", serde(rename = "MSG"))]
    Msg {
        /// The message id (at most 255 bytes; also the nonce of the body's encryption).
        #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
        msg_id: Vec<u8>,
        /// The [`RcvMsgBody`](crate::message::RcvMsgBody) encrypted by the relay.
        #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
        enc_body: Vec<u8>,
    },
    /// Subscription succeeded (reply to `SUB` and `NSUB`); sent as `OK` below v16.
    #[cfg_attr(feature = "serde", serde(rename = "SOK"))]
    Sok {
        /// The client service the queue is associated with.
        #[cfg_attr(feature = "serde", serde(with = "crate::command::hex_opt"))]
        service_id: Option<Vec<u8>>,
    },
}

impl From<ErrorType> for BrokerMsg {
    /// `ERR error`.
    fn from(error: ErrorType) -> Self {
        Self::Err { error }
    }
}

/// A borrowed `NMSG` for the hot path: no allocation.
///
/// ```text
/// nmsg = "NMSG" SP nonce:24OCTET enc-meta:short-bytes
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NmsgRef<'a> {
    /// crypto_box nonce.
    pub nonce: &'a [u8; NONCE_LEN],
    /// Encrypted metadata.
    pub enc_meta: &'a [u8],
}

impl<'a> NmsgRef<'a> {
    /// Parses the whole command part of a transmission as `NMSG`, borrowing from it.
    /// Returns `Ok(None)` when the tag is not `NMSG` (decode it with [`BrokerMsg::decode`]).
    ///
    /// # Errors
    /// `Truncated` or `TrailingBytes` for a malformed `NMSG`.
    pub fn parse(bytes: &'a [u8]) -> DecodeResult<Option<Self>> {
        let Some(rest) = bytes.strip_prefix(b"NMSG") else {
            return Ok(None);
        };
        if !rest.is_empty() && rest[0] != b' ' {
            return Ok(None);
        }
        let mut r = Reader::with_offset(rest, 4);
        r.space()?;
        let nonce: &[u8; NONCE_LEN] = r
            .take(NONCE_LEN, "nonce")?
            .try_into()
            .map_err(|_| r.error(DecodeErrorKind::Truncated, "nonce"))?;
        let enc_meta = r.short_bytes("encrypted metadata")?;
        r.finish()?;
        Ok(Some(Self { nonce, enc_meta }))
    }

    /// The owned message.
    pub fn to_owned(&self) -> BrokerMsg {
        BrokerMsg::Nmsg {
            nonce: *self.nonce,
            enc_meta: self.enc_meta.to_vec(),
        }
    }
}

impl BrokerMsg {
    /// The wire tag.
    pub const fn tag(&self) -> &'static str {
        match self {
            Self::Nid { .. } => "NID",
            Self::Nmsg { .. } => "NMSG",
            Self::End => "END",
            Self::Ends { .. } => "ENDS",
            Self::Deld => "DELD",
            Self::Ok => "OK",
            Self::Err { .. } => "ERR",
            Self::Pong => "PONG",
            Self::Soks { .. } => "SOKS",
            Self::Ids(_) => "IDS",
            Self::Msg { .. } => "MSG",
            Self::Sok { .. } => "SOK",
        }
    }

    /// Appends the command part of a transmission as sent at SMP version `v`.
    pub fn encode(&self, v: Version, out: &mut Vec<u8>) {
        match self {
            Self::Deld if v < smp::DELETED_EVENT => {
                out.extend_from_slice(b"END");
                return;
            }
            Self::Sok { .. } if v < smp::SERVICE_CERTS => {
                out.extend_from_slice(b"OK");
                return;
            }
            _ => out.extend_from_slice(self.tag().as_bytes()),
        }
        match self {
            Self::Nid {
                notifier_id,
                dh_key,
            } => {
                out.push(b' ');
                put_short(out, notifier_id);
                dh_key.encode(out);
            }
            Self::Nmsg { nonce, enc_meta } => {
                out.push(b' ');
                out.extend_from_slice(nonce);
                put_short(out, enc_meta);
            }
            Self::Ends { count } | Self::Soks { count } => {
                out.push(b' ');
                put_i64(out, *count);
            }
            Self::Err { error } => {
                out.push(b' ');
                error.for_smp_version(v).encode(out);
            }
            Self::Ids(ids) => {
                out.push(b' ');
                ids.encode(v, out);
            }
            Self::Msg { msg_id, enc_body } => {
                out.push(b' ');
                put_short(out, msg_id);
                out.extend_from_slice(enc_body);
            }
            Self::Sok { service_id } => {
                out.push(b' ');
                put_opt_short(out, service_id);
            }
            _ => {}
        }
    }

    /// The message as version `v` carries it (what `decode(encode(self, v), v)` gives, except
    /// for `ERR` values that do not survive [`ErrorType::for_smp_version`]).
    pub fn at_version(&self, v: Version) -> Self {
        match self {
            Self::Deld if v < smp::DELETED_EVENT => Self::End,
            Self::Sok { .. } if v < smp::SERVICE_CERTS => Self::Ok,
            Self::Ids(ids) => Self::Ids(ids.at_version(v)),
            Self::Err { error } => Self::Err {
                error: error.for_smp_version(v).into_owned(),
            },
            m => m.clone(),
        }
    }

    /// The encoding as a new vector.
    pub fn to_vec(&self, v: Version) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(v, &mut out);
        out
    }

    /// Decodes the whole command part of a transmission (only `IDS` depends on the version).
    ///
    /// # Errors
    /// `UnknownTag` for a tag this crate does not know; `Truncated`, `BadKey`, `TrailingBytes`
    /// etc. for malformed fields.
    pub fn decode(bytes: &[u8], v: Version) -> DecodeResult<Self> {
        let mut r = Reader::new(bytes);
        let tag = r.take_till(|c| c == b' ');
        let msg = match tag {
            b"NID" => {
                r.space()?;
                let notifier_id = r.short_bytes("notifier id")?.to_vec();
                let dh_key = X25519PublicKey::decode(&mut r)?;
                Self::Nid {
                    notifier_id,
                    dh_key,
                }
            }
            b"NMSG" => {
                r.space()?;
                let nonce = r.array::<NONCE_LEN>("nonce")?;
                let enc_meta = r.short_bytes("encrypted metadata")?.to_vec();
                Self::Nmsg { nonce, enc_meta }
            }
            b"END" => Self::End,
            b"ENDS" => {
                r.space()?;
                Self::Ends {
                    count: r.i64("count")?,
                }
            }
            b"DELD" => Self::Deld,
            b"OK" => Self::Ok,
            b"ERR" => {
                r.space()?;
                Self::Err {
                    error: ErrorType::decode(&mut r)?,
                }
            }
            b"PONG" => Self::Pong,
            b"SOKS" => {
                r.space()?;
                Self::Soks {
                    count: r.i64("count")?,
                }
            }
            b"IDS" => {
                r.space()?;
                Self::Ids(QueueIdsKeys::decode(&mut r, v)?)
            }
            b"MSG" => {
                r.space()?;
                let msg_id = r.short_bytes("message id")?.to_vec();
                Self::Msg {
                    msg_id,
                    enc_body: r.rest().to_vec(),
                }
            }
            b"SOK" => {
                r.space()?;
                Self::Sok {
                    service_id: read_opt_short(&mut r, "service id")?,
                }
            }
            _ => {
                return Err(DecodeError::new(
                    DecodeErrorKind::UnknownTag,
                    0,
                    "SMP server message tag",
                ))
            }
        };
        r.finish()?;
        Ok(msg)
    }

    /// The client's credential rules for a received message (`checkCredentials`): `IDS` and
    /// `ERR` may carry an entity id or not, `PONG` must not (`CMD HAS_AUTH`), all others must
    /// (`CMD NO_ENTITY`).
    ///
    /// # Errors
    /// The error the client records instead of the message.
    pub fn check_credentials(&self, entity_id: &[u8]) -> Result<(), ErrorType> {
        match self {
            Self::Err { .. } | Self::Ids(_) => Ok(()),
            Self::Pong if !entity_id.is_empty() => Err(ErrorType::Cmd(CommandError::HasAuth)),
            Self::Pong => Ok(()),
            _ if entity_id.is_empty() => Err(ErrorType::Cmd(CommandError::NoEntity)),
            _ => Ok(()),
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for BrokerMsg {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let short = |u: &mut arbitrary::Unstructured<'a>| -> arbitrary::Result<Vec<u8>> {
            let n = u.int_in_range(0..=255usize)?;
            Ok(u.bytes(n)?.to_vec())
        };
        Ok(match u.int_in_range(0..=11u8)? {
            0 => Self::Nid {
                notifier_id: short(u)?,
                dh_key: u.arbitrary()?,
            },
            1 => Self::Nmsg {
                nonce: u.arbitrary()?,
                enc_meta: short(u)?,
            },
            2 => Self::End,
            3 => Self::Ends {
                count: u.arbitrary()?,
            },
            4 => Self::Deld,
            5 => Self::Ok,
            6 => Self::Err {
                error: u.arbitrary()?,
            },
            7 => Self::Pong,
            8 => Self::Soks {
                count: u.arbitrary()?,
            },
            9 => Self::Ids(QueueIdsKeys {
                rcv_id: short(u)?,
                snd_id: short(u)?,
                rcv_public_dh_key: u.arbitrary()?,
                queue_mode: u.arbitrary()?,
                link_id: if u.arbitrary()? {
                    Some(short(u)?)
                } else {
                    None
                },
                service_id: if u.arbitrary()? {
                    Some(short(u)?)
                } else {
                    None
                },
                server_ntf_creds: if u.arbitrary()? {
                    Some(ServerNtfCreds {
                        notifier_id: short(u)?,
                        dh_key: u.arbitrary()?,
                    })
                } else {
                    None
                },
            }),
            10 => Self::Msg {
                msg_id: short(u)?,
                enc_body: u.arbitrary()?,
            },
            _ => Self::Sok {
                service_id: if u.arbitrary()? {
                    Some(short(u)?)
                } else {
                    None
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_type::{BlockingInfo, BlockingReason, ClientNotice};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const V: Version = smp::CURRENT;

    /// decode(hex) == value at `v`, encode(value) == canonical (or hex).
    fn check(v: u16, hex_in: &str, want: &BrokerMsg, canonical: Option<&str>) {
        let v = Version(v);
        let m = BrokerMsg::decode(&h(hex_in), v).unwrap();
        assert_eq!(&m, want);
        assert_eq!(m.to_vec(v), h(canonical.unwrap_or(hex_in)));
    }

    fn blocked_content() -> BrokerMsg {
        BrokerMsg::Err {
            error: ErrorType::Blocked(BlockingInfo {
                reason: BlockingReason::Content,
                notice: Some(ClientNotice { ttl: Some(3600) }),
            }),
        }
    }

    #[test]
    fn decode_broker_vectors() {
        // smp/broker/DELD_input/v6, DELD/v18
        check(6, "44454c44", &BrokerMsg::Deld, Some("454e44"));
        check(18, "44454c44", &BrokerMsg::Deld, None);
        // smp/broker/ERR/BLOCKED_content_notice_input/v6, v11, v18
        let blocked = "45525220424c4f434b454420726561736f6e3d636f6e74656e742c6e6f746963653d7b2274746c223a333630307d";
        check(6, blocked, &blocked_content(), Some("4552522041555448"));
        check(11, blocked, &blocked_content(), Some("4552522041555448"));
        check(18, blocked, &blocked_content(), None);
        // below v18 the notice is dropped
        assert_eq!(
            blocked_content().to_vec(Version(12)),
            b"ERR BLOCKED reason=content"
        );
        // smp/broker/ERR/PROXY_BROKER_NETWORK_TLS_dropped
        let m = BrokerMsg::decode(
            &h("4552522050524f58592042524f4b4552204e4554574f524b20544c532003626164"),
            V,
        )
        .unwrap();
        let BrokerMsg::Err { error } = &m else {
            panic!("not ERR")
        };
        assert_eq!(
            error.to_tokens(),
            ["PROXY", "BROKER", "NETWORK", "TLS", "bad"]
        );
        assert_eq!(
            m.to_vec(V),
            h("4552522050524f58592042524f4b4552204e4554574f524b")
        );
        // smp/broker/NID/len24/1
        let nid = "4e49442018b5053fb08c69f3ebf6c190216e638af5390ed57965245a502c302a300506032b656e0321009159608910eb57b4af84219575af4e19649c14eb8fba030e505e561a3432d218";
        let want = BrokerMsg::Nid {
            notifier_id: h("b5053fb08c69f3ebf6c190216e638af5390ed57965245a50"),
            dh_key: X25519PublicKey(
                h("9159608910eb57b4af84219575af4e19649c14eb8fba030e505e561a3432d218")
                    .try_into()
                    .unwrap(),
            ),
        };
        check(18, nid, &want, None);
        // smp/broker/SOKS/1, SOKS/-9223372036854775808
        check(
            18,
            "534f4b53200000000000000001",
            &BrokerMsg::Soks { count: 1 },
            None,
        );
        check(
            18,
            "534f4b53208000000000000000",
            &BrokerMsg::Soks { count: i64::MIN },
            None,
        );
        // smp/broker/ERR/LARGE_MSG, CMD_SYNTAX, PROXY_PROTOCOL_STORE, PROXY_BROKER_TRANSPORT_SESSION
        for (hex_in, toks) in [
            ("455252204c415247455f4d5347", &["LARGE_MSG"][..]),
            ("45525220434d442053594e544158", &["CMD", "SYNTAX"][..]),
            (
                "4552522050524f58592050524f544f434f4c2053544f5245206e65737465642073746f7265",
                &["PROXY", "PROTOCOL", "STORE", "nested store"][..],
            ),
            (
                "4552522050524f58592042524f4b4552205452414e53504f52542053455353494f4e",
                &["PROXY", "BROKER", "TRANSPORT", "SESSION"][..],
            ),
        ] {
            let want = BrokerMsg::Err {
                error: ErrorType::from_tokens(toks).unwrap(),
            };
            check(18, hex_in, &want, None);
        }
        // smp/broker/ERR/BLOCKED_spam/v11: the value AUTH encodes as AUTH
        check(
            11,
            "4552522041555448",
            &BrokerMsg::Err {
                error: ErrorType::Auth,
            },
            None,
        );
        let spam = BrokerMsg::Err {
            error: ErrorType::Blocked(BlockingInfo {
                reason: BlockingReason::Spam,
                notice: None,
            }),
        };
        assert_eq!(spam.to_vec(Version(11)), h("4552522041555448"));
        check(
            18,
            "454e4453200000000000000005",
            &BrokerMsg::Ends { count: 5 },
            None,
        );
        for (t, m) in [
            ("END", BrokerMsg::End),
            ("OK", BrokerMsg::Ok),
            ("PONG", BrokerMsg::Pong),
        ] {
            assert_eq!(BrokerMsg::decode(t.as_bytes(), V).unwrap(), m);
            assert_eq!(m.to_vec(Version(6)), t.as_bytes());
        }
    }

    #[test]
    fn rejects_bad_broker_msgs() {
        // smp/broker/NID/len24/1/trunc_59
        assert!(BrokerMsg::decode(&h("4e49442018b5053fb08c69f3ebf6c190216e638af5390ed57965245a502c302a300506032b656e0321009159608910eb57b4af84219575af4e1964"), V).is_err());
        // smp/broker/invalid/ENDS_missing
        assert!(BrokerMsg::decode(&h("454e4453"), V).is_err());
        // smp/broker/invalid/NID_no_key
        assert!(BrokerMsg::decode(&h("4e494420026162"), V).is_err());
        // smp/broker/invalid/ERR_BLOCKED_bad/v18
        assert!(
            BrokerMsg::decode(&h("45525220424c4f434b454420726561736f6e3d65676773"), V).is_err()
        );
        // a reference message this crate does not implement
        assert_eq!(
            BrokerMsg::decode(b"INFO x", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
        assert!(BrokerMsg::decode(b"MSG ", V).is_err());
        assert!(BrokerMsg::decode(b"MSG \x03ab", V).is_err());
        assert!(BrokerMsg::decode(b"SOK", V).is_err());
        assert!(BrokerMsg::decode(b"SOK 2", V).is_err());
        assert!(BrokerMsg::decode(b"SOK 0 ", V).is_err());
        assert_eq!(
            BrokerMsg::decode(b"OK ", V).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        assert!(BrokerMsg::decode(b"NMSG 0123456789012345678901", V).is_err());
    }

    const X: &str = "2c302a300506032b656e0321009159608910eb57b4af84219575af4e19649c14eb8fba030e505e561a3432d218";

    fn x() -> X25519PublicKey {
        X25519PublicKey(
            h("9159608910eb57b4af84219575af4e19649c14eb8fba030e505e561a3432d218")
                .try_into()
                .unwrap(),
        )
    }

    fn ids(mode: Option<QueueMode>, link: bool, service: bool, ntf: bool) -> BrokerMsg {
        BrokerMsg::Ids(QueueIdsKeys {
            rcv_id: b"rid".to_vec(),
            snd_id: b"sid".to_vec(),
            rcv_public_dh_key: x(),
            queue_mode: mode,
            link_id: link.then(|| b"lk".to_vec()),
            service_id: service.then(|| b"sv".to_vec()),
            server_ntf_creds: ntf.then(|| ServerNtfCreds {
                notifier_id: b"nid".to_vec(),
                dh_key: x(),
            }),
        })
    }

    #[test]
    fn ids_by_version() {
        // `e (IDS_, ' ', rcvId, sndId, srvDh)` then by version
        let base = alloc::format!("4944532003726964037369 64{X}").replace(' ', "");
        let with = |rest: &str| alloc::format!("{base}{rest}");
        check(6, &with(""), &ids(None, false, false, false), None);
        // v9-14: senderCanSecure
        check(
            9,
            &with("54"),
            &ids(Some(QueueMode::Messaging), false, false, false),
            None,
        );
        check(
            14,
            &with("46"),
            &ids(Some(QueueMode::Contact), false, false, false),
            None,
        );
        assert_eq!(
            ids(None, true, true, true).to_vec(Version(10)),
            h(&with("46"))
        );
        assert_eq!(
            ids(Some(QueueMode::Messaging), true, true, true).to_vec(Version(8)),
            h(&with(""))
        );
        // v15: queueMode, linkId
        check(
            15,
            &with("314d31026c6b"),
            &ids(Some(QueueMode::Messaging), true, false, false),
            None,
        );
        check(15, &with("3030"), &ids(None, false, false, false), None);
        // v16: + serviceId
        check(
            16,
            &with("31433030"),
            &ids(Some(QueueMode::Contact), false, false, false),
            None,
        );
        check(
            16,
            &with("31433031027376"),
            &ids(Some(QueueMode::Contact), false, true, false),
            None,
        );
        // v17+: + serverNtfCreds
        check(
            17,
            &with(&alloc::format!("314d30303103{}{X}", "6e6964")),
            &ids(Some(QueueMode::Messaging), false, false, true),
            None,
        );
        check(
            18,
            &with("314d303030"),
            &ids(Some(QueueMode::Messaging), false, false, false),
            None,
        );
        assert!(BrokerMsg::decode(&h(&with("")), Version(9)).is_err());
        assert!(BrokerMsg::decode(&h(&with("32")), Version(15)).is_err());
        // IDS has no entity id
        assert_eq!(
            ids(None, false, false, false).check_credentials(b""),
            Ok(())
        );
    }

    #[test]
    fn msg_and_sok() {
        // `e (MSG_, ' ', msgId, Tail body)`
        check(
            6,
            "4d53472003616263ffee",
            &BrokerMsg::Msg {
                msg_id: b"abc".to_vec(),
                enc_body: h("ffee"),
            },
            None,
        );
        check(
            18,
            "4d5347200000",
            &BrokerMsg::Msg {
                msg_id: Vec::new(),
                enc_body: h("00"),
            },
            None,
        );
        // `SOK serviceId_` from v16 (`e (SOK_, ' ', serviceId_)`), `OK` before
        let sok = BrokerMsg::Sok { service_id: None };
        check(16, "534f4b2030", &sok, None);
        check(
            18,
            "534f4b2031027376",
            &BrokerMsg::Sok {
                service_id: Some(b"sv".to_vec()),
            },
            None,
        );
        assert_eq!(sok.to_vec(Version(15)), b"OK");
        assert_eq!(sok.at_version(Version(6)), BrokerMsg::Ok);
        assert_eq!(BrokerMsg::Deld.at_version(Version(9)), BrokerMsg::End);
        assert_eq!(
            sok.check_credentials(b""),
            Err(ErrorType::Cmd(CommandError::NoEntity))
        );
        assert_eq!(
            BrokerMsg::Msg {
                msg_id: Vec::new(),
                enc_body: Vec::new()
            }
            .check_credentials(b"q"),
            Ok(())
        );
    }

    #[test]
    fn nmsg_fast_path() {
        let mut b = b"NMSG ".to_vec();
        b.extend_from_slice(&[7u8; 24]);
        b.extend_from_slice(b"\x03abc");
        let r = NmsgRef::parse(&b).unwrap().unwrap();
        assert_eq!(r.nonce, &[7u8; 24]);
        assert_eq!(r.enc_meta, b"abc");
        let owned = BrokerMsg::decode(&b, V).unwrap();
        assert_eq!(r.to_owned(), owned);
        assert_eq!(owned.to_vec(V), b);
        assert_eq!(NmsgRef::parse(b"NID x").unwrap(), None);
        assert_eq!(NmsgRef::parse(b"NMSGX").unwrap(), None);
        assert!(NmsgRef::parse(b"NMSG").is_err());
        b.push(0);
        assert_eq!(
            NmsgRef::parse(&b).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
    }

    #[test]
    fn credentials() {
        let no_entity = Err(ErrorType::Cmd(CommandError::NoEntity));
        assert_eq!(BrokerMsg::Ok.check_credentials(b""), no_entity);
        assert_eq!(
            BrokerMsg::Soks { count: 1 }.check_credentials(b""),
            no_entity
        );
        assert_eq!(BrokerMsg::End.check_credentials(b"q"), Ok(()));
        assert_eq!(
            BrokerMsg::Err {
                error: ErrorType::Auth
            }
            .check_credentials(b""),
            Ok(())
        );
        assert_eq!(
            BrokerMsg::Err {
                error: ErrorType::Auth
            }
            .check_credentials(b"q"),
            Ok(())
        );
        assert_eq!(BrokerMsg::Pong.check_credentials(b""), Ok(()));
        assert_eq!(
            BrokerMsg::Pong.check_credentials(b"q"),
            Err(ErrorType::Cmd(CommandError::HasAuth))
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn broker_json() {
        let j = serde_json::json!({"error": ["BLOCKED", "reason=content,notice={\"ttl\":3600}"], "tag": "ERR"});
        let m: BrokerMsg = serde_json::from_value(j.clone()).unwrap();
        assert_eq!(m, blocked_content());
        assert_eq!(serde_json::to_value(&m).unwrap(), j);
        let j = serde_json::json!({"count": -9223372036854775808i64, "tag": "SOKS"});
        assert_eq!(
            serde_json::from_value::<BrokerMsg>(j).unwrap(),
            BrokerMsg::Soks { count: i64::MIN }
        );
        let j = serde_json::json!({"dh_key": {"alg": "x25519", "public": "9159608910eb57b4af84219575af4e19649c14eb8fba030e505e561a3432d218"}, "notifier_id": "b5053fb08c69f3ebf6c190216e638af5390ed57965245a50", "tag": "NID"});
        let m: BrokerMsg = serde_json::from_value(j.clone()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), j);
        let m = BrokerMsg::Nmsg {
            nonce: [1; 24],
            enc_meta: alloc::vec![2],
        };
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(j["nonce"], "01".repeat(24));
        assert_eq!(serde_json::from_value::<BrokerMsg>(j).unwrap(), m);
        assert_eq!(
            serde_json::to_value(BrokerMsg::Deld).unwrap(),
            serde_json::json!({"tag": "DELD"})
        );
    }

    #[cfg(feature = "arbitrary")]
    proptest::proptest! {
        #[test]
        fn broker_msg_round_trips(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            use arbitrary::{Arbitrary, Unstructured};
            if let Ok(m) = BrokerMsg::arbitrary(&mut Unstructured::new(&data)) {
                for v in 6..=18 {
                    let v = Version(v);
                    let b = m.to_vec(v);
                    let d = BrokerMsg::decode(&b, v).unwrap();
                    proptest::prop_assert_eq!(d.to_vec(v), b);
                    if !matches!(m, BrokerMsg::Err { .. }) {
                        proptest::prop_assert_eq!(&d, &m.at_version(v));
                    }
                }
                if !matches!(m, BrokerMsg::Err { .. }) {
                    proptest::prop_assert_eq!(BrokerMsg::decode(&m.to_vec(V), V).unwrap(), m);
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128), v in 0u16..20) {
            let _ = BrokerMsg::decode(&data, Version(v));
            let mut b = b"IDS ".to_vec();
            b.extend_from_slice(&data);
            let _ = BrokerMsg::decode(&b, Version(v));
            let _ = NmsgRef::parse(&data);
        }
    }
}
