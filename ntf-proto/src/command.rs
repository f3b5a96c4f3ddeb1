//! NTF client commands (the command part of a client transmission).
//!
//! ```text
//! ntf-command = "TNEW" " " new-token
//!             / "TVFY" " " reg-code
//!             / "TCHK"
//!             / "TRPL" " " device-token
//!             / "TDEL"
//!             / "TCRN" " " word16                 ; interval in minutes, 0 disables
//!             / "SNEW" " " new-subscription
//!             / "SCHK"
//!             / "SDEL"
//!             / "PING"
//! new-token        = "T" device-token verify-key dh-key
//! verify-key       = public-key                    ; Ed25519, Ed448 or X25519
//! dh-key           = public-key                    ; X25519
//! new-subscription = "S" token-id smp-queue-ntf notifier-key
//! token-id         = short-bytes
//! notifier-key     = private-key                   ; Ed25519, Ed448 or X25519
//! ```
//!
//! As in the reference, the tag is the bytes up to the first space; the rest of the input,
//! including that space, is parsed by the tag's field parser and must be consumed entirely.
//! An unknown tag decodes to [`DecodeErrorKind::UnknownTag`] (the server answers `CMD UNKNOWN`);
//! every other failure has another kind (`CMD SYNTAX`).

use alloc::vec::Vec;
use core::fmt;

use smallvec::SmallVec;

use smp_proto::coding::{put_short, put_u16, Decode, Encode, Reader};
use smp_proto::error::{DecodeError, DecodeErrorKind, DecodeResult};
use smp_proto::keys::{AuthPrivateKey, AuthPrivateKeyRef, AuthPublicKey, X25519PublicKey};
use smp_proto::server::SmpServer;

use crate::queue::SmpQueueNtf;
use crate::token::{DeviceToken, NtfRegCode};

pub use crate::new_subscription_ref::NewNtfSubscriptionRef;
use crate::version::Version;

/// The kind of server entity a command is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum NtfEntity {
    /// A device token (`T...` commands).
    Token,
    /// A subscription (`S...` commands, and `PING`, as in the reference).
    Subscription,
}

/// The tag of an NTF command.
///
/// ```text
/// tag = "TNEW" / "TVFY" / "TCHK" / "TRPL" / "TDEL" / "TCRN" / "SNEW" / "SCHK" / "SDEL" / "PING"
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum NtfCommandTag {
    /// `TNEW`: register a device token.
    Tnew,
    /// `TVFY`: verify a token with the code pushed to the device.
    Tvfy,
    /// `TCHK`: check the token status.
    Tchk,
    /// `TRPL`: replace the device token, keeping the subscriptions.
    Trpl,
    /// `TDEL`: delete the token and its subscriptions.
    Tdel,
    /// `TCRN`: set the periodic notification interval.
    Tcrn,
    /// `SNEW`: create a subscription.
    Snew,
    /// `SCHK`: check the subscription status.
    Schk,
    /// `SDEL`: delete the subscription.
    Sdel,
    /// `PING`: keep-alive.
    Ping,
}

impl NtfCommandTag {
    /// All tags.
    pub const ALL: [NtfCommandTag; 10] = [
        Self::Tnew,
        Self::Tvfy,
        Self::Tchk,
        Self::Trpl,
        Self::Tdel,
        Self::Tcrn,
        Self::Snew,
        Self::Schk,
        Self::Sdel,
        Self::Ping,
    ];

    /// The wire tag.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tnew => "TNEW",
            Self::Tvfy => "TVFY",
            Self::Tchk => "TCHK",
            Self::Trpl => "TRPL",
            Self::Tdel => "TDEL",
            Self::Tcrn => "TCRN",
            Self::Snew => "SNEW",
            Self::Schk => "SCHK",
            Self::Sdel => "SDEL",
            Self::Ping => "PING",
        }
    }

    /// The tag for wire bytes, `None` for an unknown tag.
    pub fn from_bytes(tag: &[u8]) -> Option<Self> {
        // one 4-byte comparison per tag instead of a search over `ALL`
        Some(match tag {
            b"TNEW" => Self::Tnew,
            b"TVFY" => Self::Tvfy,
            b"TCHK" => Self::Tchk,
            b"TRPL" => Self::Trpl,
            b"TDEL" => Self::Tdel,
            b"TCRN" => Self::Tcrn,
            b"SNEW" => Self::Snew,
            b"SCHK" => Self::Schk,
            b"SDEL" => Self::Sdel,
            b"PING" => Self::Ping,
            _ => return None,
        })
    }

    /// The entity kind the command is about.
    pub const fn entity(self) -> NtfEntity {
        match self {
            Self::Tnew | Self::Tvfy | Self::Tchk | Self::Trpl | Self::Tdel | Self::Tcrn => {
                NtfEntity::Token
            }
            Self::Snew | Self::Schk | Self::Sdel | Self::Ping => NtfEntity::Subscription,
        }
    }
}

impl fmt::Display for NtfCommandTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of `TNEW`: the device token to register and the client's keys.
///
/// ```text
/// new-token = "T" device-token verify-key dh-key
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct NewNtfToken {
    /// The device token.
    pub token: DeviceToken,
    /// The key that authorizes later commands for the token (Ed25519, Ed448 or X25519).
    pub verify_key: AuthPublicKey,
    /// The client's X25519 key for the shared secret that encrypts notifications.
    pub dh_key: X25519PublicKey,
}

impl Encode for NewNtfToken {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(b'T');
        self.token.encode(out);
        self.verify_key.encode(out);
        self.dh_key.encode(out);
    }
}

impl<'a> Decode<'a> for NewNtfToken {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        r.expect(b'T', "new token marker T")?;
        Ok(Self {
            token: DeviceToken::decode(r)?,
            verify_key: AuthPublicKey::decode(r)?,
            dh_key: X25519PublicKey::decode(r)?,
        })
    }
}

/// The id of a token or subscription on the notification server (the reference's
/// `NtfEntityId`), at most 255 bytes.
///
/// ```text
/// entity-id = short-bytes
/// ```
///
/// Held inline up to [`NtfEntityId::INLINE_LEN`] bytes (the reference's ids have 24);
/// compares, orders and hashes as the bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtfEntityId(SmallVec<[u8; NtfEntityId::INLINE_LEN]>);

impl NtfEntityId {
    /// Longest id (1-byte length).
    pub const MAX_LEN: usize = 255;

    /// Longest id held without a heap allocation.
    pub const INLINE_LEN: usize = 24;

    /// An id; `None` when longer than 255 bytes.
    pub fn new(id: impl Into<Vec<u8>>) -> Option<Self> {
        let id = id.into();
        (id.len() <= Self::MAX_LEN).then(|| Self(compact(id)))
    }

    /// The id bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether the id is empty (no entity).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An id from short bytes (at most 255 bytes by the length prefix).
    #[inline]
    pub(crate) fn from_short(id: &[u8]) -> Self {
        Self(inline_bytes(id))
    }
}

impl fmt::Debug for NtfEntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NtfEntityId(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl Encode for NtfEntityId {
    fn encode(&self, out: &mut Vec<u8>) {
        put_short(out, &self.0);
    }
}

impl<'a> Decode<'a> for NtfEntityId {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        Ok(Self::from_short(r.short_bytes("entity id")?))
    }
}

/// The body of `SNEW`: the token to notify and the SMP queue to subscribe to.
///
/// ```text
/// new-subscription = "S" token-id smp-queue-ntf notifier-key
/// token-id         = short-bytes
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct NewNtfSubscription {
    /// The id of the token that receives the notifications.
    pub token_id: NtfEntityId,
    /// The SMP queue (server and notifier id).
    pub queue: SmpQueueNtf,
    /// The private key that authorizes `NSUB` on the SMP server (Ed25519, Ed448 or X25519).
    pub notifier_key: AuthPrivateKey,
}

impl Encode for NewNtfSubscription {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(b'S');
        self.token_id.encode(out);
        self.queue.encode(out);
        self.notifier_key.encode(out);
    }
}

impl NewNtfSubscription {
    /// Reads the body, checks what follows it with `end`, then builds the value and returns
    /// it through `wrap`; every error goes through `err`. The caller adds the preset onion
    /// host ([`SmpServer::add_extra_preset_hosts`]) to the result in place.
    ///
    /// The value is large (the ids, key hash, hosts and port are inline), and every move of
    /// it (out of a `Result`, into an enclosing value) is a copy the compiler keeps. So
    /// everything that can fail comes first, with the fields read borrowed; the small parts
    /// are made next; and the value is put together last, in one expression, moving only the
    /// server (out of its decoder's result).
    #[inline(always)]
    fn decode_with<'a, T>(
        r: &mut Reader<'a>,
        end: impl FnOnce(&Reader<'a>) -> DecodeResult<()>,
        err: impl Fn(DecodeError) -> DecodeError,
        wrap: impl FnOnce(Self) -> T,
    ) -> DecodeResult<T> {
        r.expect(b'S', "new subscription marker S").map_err(&err)?;
        let token_id = r.short_bytes("entity id").map_err(&err)?;
        let server = match SmpServer::decode(r) {
            Ok(s) => s,
            Err(e) => return Err(err(e)),
        };
        let notifier_id = r.short_bytes("notifier id").map_err(&err)?;
        let notifier_key = AuthPrivateKeyRef::decode(r).map_err(&err)?;
        end(r).map_err(&err)?;
        let token_id = NtfEntityId::from_short(token_id);
        let notifier_id = inline_bytes(notifier_id);
        let notifier_key = notifier_key.to_owned();
        Ok(wrap(Self {
            token_id,
            queue: SmpQueueNtf {
                server,
                notifier_id,
            },
            notifier_key,
        }))
    }
}

impl<'a> Decode<'a> for NewNtfSubscription {
    /// One pass over the input (the borrowed [`NewNtfSubscriptionRef`] reads the same bytes
    /// with the same errors; a property test checks it).
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let mut s = Self::decode_with(r, |_| Ok(()), |e| e, |s| s);
        // in place, as `SmpQueueNtf::decode`
        if let Ok(s) = &mut s {
            s.queue.server.add_extra_preset_hosts();
        }
        s
    }
}

/// An NTF client command.
///
/// ```text
/// ntf-command = "TNEW" " " new-token / "TVFY" " " reg-code / "TCHK" / "TRPL" " " device-token
///             / "TDEL" / "TCRN" " " word16 / "SNEW" " " new-subscription / "SCHK" / "SDEL"
///             / "PING"
/// ```
///
/// The encoding does not depend on the NTF version; the version parameter keeps the shape of
/// all message families uniform.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum NtfCommand {
    /// Register a device token.
    Tnew(NewNtfToken),
    /// Verify the token with the code that was pushed to the device.
    Tvfy(NtfRegCode),
    /// Check the token status (answered with `TKN`).
    Tchk,
    /// Replace the device token, keeping the subscriptions.
    Trpl(DeviceToken),
    /// Delete the token and all its subscriptions.
    Tdel,
    /// Periodic background notifications every this many minutes (minimum 20; 0 disables).
    Tcrn(u16),
    /// Create a subscription.
    Snew(NewNtfSubscription),
    /// Check the subscription status (answered with `SUB`).
    Schk,
    /// Delete the subscription.
    Sdel,
    /// Keep-alive (answered with `PONG`).
    Ping,
}

impl NtfCommand {
    /// The command's tag.
    pub const fn tag(&self) -> NtfCommandTag {
        match self {
            Self::Tnew(_) => NtfCommandTag::Tnew,
            Self::Tvfy(_) => NtfCommandTag::Tvfy,
            Self::Tchk => NtfCommandTag::Tchk,
            Self::Trpl(_) => NtfCommandTag::Trpl,
            Self::Tdel => NtfCommandTag::Tdel,
            Self::Tcrn(_) => NtfCommandTag::Tcrn,
            Self::Snew(_) => NtfCommandTag::Snew,
            Self::Schk => NtfCommandTag::Schk,
            Self::Sdel => NtfCommandTag::Sdel,
            Self::Ping => NtfCommandTag::Ping,
        }
    }

    /// The entity kind the command is about (token or subscription).
    pub const fn entity(&self) -> NtfEntity {
        self.tag().entity()
    }

    /// Appends the command at NTF version `v` (the encoding is the same at every version).
    ///
    /// ```text
    /// tag [" " fields]
    /// ```
    pub fn encode(&self, _v: Version, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag().as_str().as_bytes());
        match self {
            Self::Tnew(t) => {
                out.push(b' ');
                t.encode(out);
            }
            Self::Tvfy(code) => {
                out.push(b' ');
                code.encode(out);
            }
            Self::Trpl(token) => {
                out.push(b' ');
                token.encode(out);
            }
            Self::Tcrn(minutes) => {
                out.push(b' ');
                put_u16(out, *minutes);
            }
            Self::Snew(s) => {
                out.push(b' ');
                s.encode(out);
            }
            Self::Tchk | Self::Tdel | Self::Schk | Self::Sdel | Self::Ping => {}
        }
    }

    /// The command at NTF version `v` as a new vector.
    pub fn to_bytes(&self, v: Version) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(v, &mut out);
        out
    }

    /// Decodes a whole command part of a transmission at NTF version `v`.
    ///
    /// ```text
    /// tag = *(%x00-1F / %x21-FF)      ; up to the first space
    /// ```
    ///
    /// # Errors
    /// `UnknownTag` (offset 0) for a tag that is not a command; otherwise the field's error,
    /// or `TrailingBytes` when bytes are left (including a space after a tag without fields).
    pub fn decode(bytes: &[u8], _v: Version) -> DecodeResult<Self> {
        let mut r = Reader::new(bytes);
        let tag = NtfCommandTag::from_bytes(r.take_till(|b| b == b' ')).ok_or(DecodeError::new(
            DecodeErrorKind::UnknownTag,
            0,
            "NTF command tag",
        ))?;
        if tag == NtfCommandTag::Snew {
            // the end is checked before the (large) command is built, and the preset hosts
            // are added where it stays (as `SmpQueueNtf::decode`)
            r.space()?;
            let mut cmd =
                NewNtfSubscription::decode_with(&mut r, Reader::finish, no_unknown_tag, Self::Snew);
            if let Ok(Self::Snew(s)) = &mut cmd {
                s.queue.server.add_extra_preset_hosts();
            }
            return cmd;
        }
        let cmd = Self::decode_fields(tag, &mut r).map_err(no_unknown_tag)?;
        r.finish()?;
        Ok(cmd)
    }

    fn decode_fields(tag: NtfCommandTag, r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(match tag {
            NtfCommandTag::Tnew => {
                r.space()?;
                Self::Tnew(NewNtfToken::decode(r)?)
            }
            NtfCommandTag::Tvfy => {
                r.space()?;
                Self::Tvfy(NtfRegCode::decode(r)?)
            }
            NtfCommandTag::Tchk => Self::Tchk,
            NtfCommandTag::Trpl => {
                r.space()?;
                Self::Trpl(DeviceToken::decode(r)?)
            }
            NtfCommandTag::Tdel => Self::Tdel,
            NtfCommandTag::Tcrn => {
                r.space()?;
                Self::Tcrn(r.u16("interval minutes")?)
            }
            NtfCommandTag::Snew => {
                // `decode` reads SNEW itself (`NewNtfSubscription::decode_with`); this is the
                // same reading
                r.space()?;
                Self::Snew(NewNtfSubscription::decode(r)?)
            }
            NtfCommandTag::Schk => Self::Schk,
            NtfCommandTag::Sdel => Self::Sdel,
            NtfCommandTag::Ping => Self::Ping,
        })
    }
}

/// Bytes held inline when they fit; the usual length, exactly `N`, as one fixed-size copy.
#[inline]
pub(crate) fn inline_bytes<const N: usize>(b: &[u8]) -> SmallVec<[u8; N]> {
    match <[u8; N]>::try_from(b) {
        Ok(a) => SmallVec::from_buf(a),
        Err(_) => SmallVec::from_slice(b),
    }
}

/// `v` held inline when it fits, else in its own buffer (no copy, no new allocation).
pub(crate) fn compact<const N: usize>(v: Vec<u8>) -> SmallVec<[u8; N]> {
    if v.len() <= N {
        SmallVec::from_slice(&v)
    } else {
        SmallVec::from_vec(v)
    }
}

/// Field errors are syntax errors: only the message tag may be reported as unknown.
pub(crate) fn no_unknown_tag(e: DecodeError) -> DecodeError {
    if e.kind == DecodeErrorKind::UnknownTag {
        DecodeError::new(DecodeErrorKind::BadValue, e.offset, e.expected)
    } else {
        e
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for NtfEntityId {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let n = u.int_in_range(0..=255usize)?;
        Ok(Self::from_short(u.bytes(n.min(u.len()))?))
    }
}

#[cfg(feature = "serde")]
mod json {
    //! JSON form (`ntf.command`): `{"tag": TAG, ...fields}`.
    use super::*;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use smp_proto::json::{hex_decode, hex_encode};

    impl Serialize for NtfEntityId {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&hex_encode(&self.0))
        }
    }

    impl<'de> Deserialize<'de> for NtfEntityId {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = alloc::string::String::deserialize(d)?;
            NtfEntityId::new(hex_decode(&s).map_err(D::Error::custom)?)
                .ok_or_else(|| D::Error::custom("entity id longer than 255 bytes"))
        }
    }

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "tag")]
    #[allow(clippy::upper_case_acronyms)]
    enum CommandJson {
        TNEW {
            token: DeviceToken,
            verify_key: AuthPublicKey,
            dh_key: X25519PublicKey,
        },
        TVFY {
            code: NtfRegCode,
        },
        TCHK,
        TRPL {
            token: DeviceToken,
        },
        TDEL,
        TCRN {
            interval: u16,
        },
        SNEW {
            token_id: NtfEntityId,
            queue: SmpQueueNtf,
            notifier_key: AuthPrivateKey,
        },
        SCHK,
        SDEL,
        PING,
    }

    impl Serialize for NtfCommand {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let j = match self.clone() {
                NtfCommand::Tnew(NewNtfToken {
                    token,
                    verify_key,
                    dh_key,
                }) => CommandJson::TNEW {
                    token,
                    verify_key,
                    dh_key,
                },
                NtfCommand::Tvfy(code) => CommandJson::TVFY { code },
                NtfCommand::Tchk => CommandJson::TCHK,
                NtfCommand::Trpl(token) => CommandJson::TRPL { token },
                NtfCommand::Tdel => CommandJson::TDEL,
                NtfCommand::Tcrn(interval) => CommandJson::TCRN { interval },
                NtfCommand::Snew(NewNtfSubscription {
                    token_id,
                    queue,
                    notifier_key,
                }) => CommandJson::SNEW {
                    token_id,
                    queue,
                    notifier_key,
                },
                NtfCommand::Schk => CommandJson::SCHK,
                NtfCommand::Sdel => CommandJson::SDEL,
                NtfCommand::Ping => CommandJson::PING,
            };
            j.serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for NtfCommand {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Ok(match CommandJson::deserialize(d)? {
                CommandJson::TNEW {
                    token,
                    verify_key,
                    dh_key,
                } => NtfCommand::Tnew(NewNtfToken {
                    token,
                    verify_key,
                    dh_key,
                }),
                CommandJson::TVFY { code } => NtfCommand::Tvfy(code),
                CommandJson::TCHK => NtfCommand::Tchk,
                CommandJson::TRPL { token } => NtfCommand::Trpl(token),
                CommandJson::TDEL => NtfCommand::Tdel,
                CommandJson::TCRN { interval } => NtfCommand::Tcrn(interval),
                CommandJson::SNEW {
                    token_id,
                    queue,
                    notifier_key,
                } => NtfCommand::Snew(NewNtfSubscription {
                    token_id,
                    queue,
                    notifier_key,
                }),
                CommandJson::SCHK => NtfCommand::Schk,
                CommandJson::SDEL => NtfCommand::Sdel,
                CommandJson::PING => NtfCommand::Ping,
            })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::token::PushProvider;
    use proptest::prelude::*;
    use smp_proto::keys::PublicKey;

    const V: Version = crate::version::CURRENT;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn arr<const N: usize>(s: &str) -> [u8; N] {
        h(s).try_into().unwrap()
    }

    // ntf/command/TNEW/apns_dev/ed25519/1/p
    const TNEW_APNS_DEV: &str = "544e45572054414440356563653765393533373335376363626662623261353763303863626533326561376263643165363036613339306664336463656166366330653739663565612c302a300506032b657003210052831bed33f6e33c81becdcc58cedd30d1ee934f436ee881c3963cef81302dd42c302a300506032b656e032100e78fb52e4a9f76b1b4f42e47ea555fe73c49776129128eb4010c8d9b0046d222";
    // ntf/command/TNEW/apns_test/ed25519/1/p
    const TNEW_APNS_TEST: &str = "544e45572054415440643735363361653136643464393364386332306536386534356334613233666466366137616564373433653666383436663563653164633739656439326637612c302a300506032b6570032100a9bd0f04877da776883a3f8bfb7431c48dfe086095e00ec79f6c05da2d5db4ea2c302a300506032b656e03210087a026d82c073cf885144dd51c01d7d63a9f57d1e8c54b136dce49bda149ee0c";
    // ntf/command/TNEW/apns_null/ed448/1/p
    const TNEW_APNS_NULL_ED448: &str = "544e45572054414e4038396464326161653965353964613662653532646238323333346332346561303136626231633238316432316536393265343730303564613064386435396637453043300506032b6571033a00ab8addf8ae05ed40e318f96341a2afa97d4ff2bd3ead15221055efcb5777ab40e53de596ae7537c7dc02204ca6ddd1e03344014d199413fd002c302a300506032b656e03210002b156f76efdb80d0700e2bd148b5024519a2753df72ee0e7db9b775812c3e39";
    // ntf/command/TVFY/len255/1/p
    const TVFY_LEN255: &str = "5456465920ff2689a19e71ce4081c675ff515663704c192751a6e4ba6fee1d27aeb6ccbe5bd68d18d300caa41511001e5e6a54777b464ffc04aa7149eb26e0ef0fd33ac8f78c4c0b152d4a264000c3db52a057c29faa028991e4f8e3a0fbe16fde5659c3b431965fef18f30de061de306aa8032e9149f12afeb250e4c47990e07e7daacbf4bf0a16e6fc4d94567dda8e3dc0acdfd16811bf62b85e1dc8302e54ffa9f255aca531b907a4f4e356a5d6940203e003c6ef7e079850985e64a4387484622f027cbc3724fa7e0b11338b6c0237f9f7999a47cd06107c01b496bef88191a724e7d7754beb856b1a0b55576b5acb176ab95bc0c26c2c9a3f9d490992d02db0261e76";

    fn check(hex_in: &str, expected: &NtfCommand) {
        let bytes = h(hex_in);
        assert_eq!(&NtfCommand::decode(&bytes, V).unwrap(), expected);
        assert_eq!(expected.to_bytes(V), bytes);
    }

    #[test]
    fn decode_tnew() {
        let cmd = NtfCommand::Tnew(NewNtfToken {
            token: DeviceToken::new(
                PushProvider::ApnsDev,
                &b"5ece7e9537357ccbfbb2a57c08cbe32ea7bcd1e606a390fd3dceaf6c0e79f5ea"[..],
            )
            .unwrap(),
            verify_key: AuthPublicKey::new(PublicKey::Ed25519(arr(
                "52831bed33f6e33c81becdcc58cedd30d1ee934f436ee881c3963cef81302dd4",
            )))
            .unwrap(),
            dh_key: X25519PublicKey(arr(
                "e78fb52e4a9f76b1b4f42e47ea555fe73c49776129128eb4010c8d9b0046d222",
            )),
        });
        check(TNEW_APNS_DEV, &cmd);
        assert_eq!(cmd.entity(), NtfEntity::Token);

        let cmd = NtfCommand::Tnew(NewNtfToken {
            token: DeviceToken::new(
                PushProvider::ApnsTest,
                &b"d7563ae16d4d93d8c20e68e45c4a23fdf6a7aed743e6f846f5ce1dc79ed92f7a"[..],
            )
            .unwrap(),
            verify_key: AuthPublicKey::new(PublicKey::Ed25519(arr(
                "a9bd0f04877da776883a3f8bfb7431c48dfe086095e00ec79f6c05da2d5db4ea",
            )))
            .unwrap(),
            dh_key: X25519PublicKey(arr(
                "87a026d82c073cf885144dd51c01d7d63a9f57d1e8c54b136dce49bda149ee0c",
            )),
        });
        check(TNEW_APNS_TEST, &cmd);

        let cmd = NtfCommand::Tnew(NewNtfToken {
            token: DeviceToken::new(PushProvider::ApnsNull, &b"89dd2aae9e59da6be52db82334c24ea016bb1c281d21e692e47005da0d8d59f7"[..]).unwrap(),
            verify_key: AuthPublicKey::new(PublicKey::Ed448(arr(
                "ab8addf8ae05ed40e318f96341a2afa97d4ff2bd3ead15221055efcb5777ab40e53de596ae7537c7dc02204ca6ddd1e03344014d199413fd00",
            )))
            .unwrap(),
            dh_key: X25519PublicKey(arr("02b156f76efdb80d0700e2bd148b5024519a2753df72ee0e7db9b775812c3e39")),
        });
        check(TNEW_APNS_NULL_ED448, &cmd);
    }

    #[test]
    fn decode_tvfy_tcrn_tdel() {
        let code = h(&TVFY_LEN255[12..]);
        assert_eq!(code.len(), 255);
        check(
            TVFY_LEN255,
            &NtfCommand::Tvfy(NtfRegCode::new(code).unwrap()),
        );
        // ntf/command/TCRN/0/p
        check("5443524e200000", &NtfCommand::Tcrn(0));
        // ntf/command/TDEL/p
        check("5444454c", &NtfCommand::Tdel);
        check("5443524e200514", &NtfCommand::Tcrn(1300));
        for (s, c) in [
            ("TCHK", NtfCommand::Tchk),
            ("SCHK", NtfCommand::Schk),
            ("SDEL", NtfCommand::Sdel),
            ("PING", NtfCommand::Ping),
        ] {
            assert_eq!(NtfCommand::decode(s.as_bytes(), V).unwrap(), c);
            assert_eq!(c.to_bytes(V), s.as_bytes());
        }
        let trpl =
            NtfCommand::Trpl(DeviceToken::new(PushProvider::ApnsProd, &b"ab12"[..]).unwrap());
        assert_eq!(trpl.to_bytes(V), b"TRPL AP\x04ab12");
        assert_eq!(NtfCommand::decode(b"TRPL AP\x04ab12", V).unwrap(), trpl);
    }

    #[test]
    fn rejects_truncated_tnew() {
        // ntf/command/TNEW/apns_dev/ed25519/1/trunc_62/p
        let e = NtfCommand::decode(&h("544e455720544144403565636537653935333733353763636266626232613537633038636265333265613762636431653630366133393066643364636561"), V).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::Truncated);
        // ntf/command/TNEW/apns_null/x25519/1/trunc_6/p
        assert_eq!(
            NtfCommand::decode(&h("544e45572054"), V).unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        // ntf/command/invalid/TNEW_no_args/p
        assert_eq!(
            NtfCommand::decode(&h("544e4557"), V).unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        // ntf/command/invalid/TNEW_der_truncated/p: the verify key's DER is one byte short, so
        // the key fails and the following bytes do not line up
        let e = NtfCommand::decode(&h("544e45572054415040656665656438653530336232356362393133383431393833303964663865376265363466643766396530653561643934346264636661323832646138656132382b302a300506032b65700321007783489805fb872cb81285ed39f308b87f842a1cba501bdd2b8cf7830eb0292c302a300506032b656e032100efbf31be3774abaf1537972c89922629e1684f13f4b2c3209c194b0dda66140f"), V).unwrap_err();
        assert_ne!(e.kind, DecodeErrorKind::UnknownTag);
        // every prefix of a valid TNEW fails without panicking
        let full = h(TNEW_APNS_NULL_ED448);
        for n in 0..full.len() {
            assert!(NtfCommand::decode(&full[..n], V).is_err());
        }
    }

    #[test]
    fn tag_rules() {
        assert_eq!(
            NtfCommand::decode(b"FOO", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
        assert_eq!(
            NtfCommand::decode(b"", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
        assert_eq!(
            NtfCommand::decode(b"tchk", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
        assert_eq!(
            NtfCommand::decode(b"NSUB", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
        // a tag without fields must end the input, even a single space is trailing
        assert_eq!(
            NtfCommand::decode(b"TCHK ", V).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        assert_eq!(
            NtfCommand::decode(b"PING x", V).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        assert_eq!(
            NtfCommand::decode(b"TCRN \x00\x00\x00", V)
                .unwrap_err()
                .kind,
            DecodeErrorKind::TrailingBytes
        );
        // fields need the separating space
        assert_eq!(
            NtfCommand::decode(b"TCRN\x00\x00", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
        assert_eq!(
            NtfCommand::decode(b"TCRN.\x00\x00", V).unwrap_err().kind,
            DecodeErrorKind::UnknownTag
        );
        // the entity marker must match the command: TNEW with a subscription body
        let mut b = b"TNEW S".to_vec();
        b.extend_from_slice(&h(TNEW_APNS_DEV)[6..]);
        assert_eq!(
            NtfCommand::decode(&b, V).unwrap_err().kind,
            DecodeErrorKind::BadValue
        );
    }

    fn snew(token_id: &str, q: SmpQueueNtf, key: smp_proto::keys::PrivateKey) -> NtfCommand {
        NtfCommand::Snew(NewNtfSubscription {
            token_id: NtfEntityId::new(h(token_id)).unwrap(),
            queue: q,
            notifier_key: AuthPrivateKey::new(key).unwrap(),
        })
    }

    #[test]
    fn snew_with_ids_and_hosts_beyond_the_inline_room() {
        use alloc::vec;
        use smp_proto::keys::PrivateKey;
        use smp_proto::server::{KeyHash, SmpServer, TransportHost};
        let hosts: Vec<_> = (0..3u8)
            .map(|i| TransportHost::Ipv4([10, 0, 0, i]))
            .collect();
        let server = SmpServer::new(hosts, "5223", KeyHash::new(vec![9; 48]).unwrap()).unwrap();
        let cmd = NtfCommand::Snew(NewNtfSubscription {
            token_id: NtfEntityId::new(vec![1; 40]).unwrap(),
            queue: SmpQueueNtf::new(server, vec![2; 100]).unwrap(),
            notifier_key: AuthPrivateKey::new(PrivateKey::X25519([3; 32])).unwrap(),
        });
        let b = cmd.to_bytes(V);
        assert_eq!(NtfCommand::decode(&b, V).unwrap(), cmd);
        let view = NewNtfSubscriptionRef::parse(&b).unwrap().unwrap();
        assert_eq!(NtfCommand::Snew(view.to_owned()), cmd);
        // ids compare and order by content, inline or not
        let a = NtfEntityId::new(vec![1; 24]).unwrap();
        let z = NtfEntityId::new(vec![1; 25]).unwrap();
        assert!(a < z && a == NtfEntityId::from_short(&[1; 24]));
        assert_eq!(z.as_bytes(), &[1; 25]);
    }

    #[test]
    fn decode_snew() {
        use crate::queue::tests::queue;
        use smp_proto::keys::PrivateKey;
        // ntf/command/SNEW/preset_smp8/ed25519/1/p: the preset relay gets its onion host
        let hex_in = "534e45572053185d5c0a2ef7b175819a5be398ec395f0ce608bc2a32034dfe010f736d70382e73696d706c65782e696d03343433205ab6f405ba7e2ff9c24b9b9f6a57ff0942fb870bf9fdd98b7e12f56df7dd1dee18ff7d8448109bf51e659c77b4027d7507b9c94596692520f830302e020100300506032b6570042204208ce8dddea2f5bc7c2ee151a94130de6788840d452b17178e1e3ed0b9ee8e78ff";
        let canonical = "534e45572053185d5c0a2ef7b175819a5be398ec395f0ce608bc2a32034dfe020f736d70382e73696d706c65782e696d3e6265636378347966787862767968717970616176656d71757279746c36686f7a723437776663377575656361636a716476777077327869642e6f6e696f6e03343433205ab6f405ba7e2ff9c24b9b9f6a57ff0942fb870bf9fdd98b7e12f56df7dd1dee18ff7d8448109bf51e659c77b4027d7507b9c94596692520f830302e020100300506032b6570042204208ce8dddea2f5bc7c2ee151a94130de6788840d452b17178e1e3ed0b9ee8e78ff";
        let cmd = snew(
            "5d5c0a2ef7b175819a5be398ec395f0ce608bc2a32034dfe",
            queue(
                &[
                    "smp8.simplex.im",
                    "beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion",
                ],
                "443",
                "5ab6f405ba7e2ff9c24b9b9f6a57ff0942fb870bf9fdd98b7e12f56df7dd1dee",
                "ff7d8448109bf51e659c77b4027d7507b9c94596692520f8",
            ),
            PrivateKey::Ed25519(arr(
                "8ce8dddea2f5bc7c2ee151a94130de6788840d452b17178e1e3ed0b9ee8e78ff",
            )),
        );
        assert_eq!(NtfCommand::decode(&h(hex_in), V).unwrap(), cmd);
        check(canonical, &cmd);
        assert_eq!(cmd.entity(), NtfEntity::Subscription);

        // ntf/command/SNEW/host_ipv4_leading_zero/p: "010.001.0.1" reads as 10.1.0.1
        let hex_in = "534e4557205318303132333435363738396162636465663031323334353637010b3031302e3030312e302e3104353232332031323334353637383930313233343536373839303132333435363738393031321830313233343536373839616263646566303132333435363730302e020100300506032b6570042204203496366f235197c7b30225b8236bde96e2215fa7bc4e52a4c98d2f498127bf5d";
        let canonical = "534e4557205318303132333435363738396162636465663031323334353637010831302e312e302e3104353232332031323334353637383930313233343536373839303132333435363738393031321830313233343536373839616263646566303132333435363730302e020100300506032b6570042204203496366f235197c7b30225b8236bde96e2215fa7bc4e52a4c98d2f498127bf5d";
        let key = PrivateKey::Ed25519(arr(
            "3496366f235197c7b30225b8236bde96e2215fa7bc4e52a4c98d2f498127bf5d",
        ));
        let kh = "3132333435363738393031323334353637383930313233343536373839303132";
        let id = "303132333435363738396162636465663031323334353637";
        let cmd = snew(id, queue(&["10.1.0.1"], "5223", kh, id), key.clone());
        assert_eq!(NtfCommand::decode(&h(hex_in), V).unwrap(), cmd);
        check(canonical, &cmd);

        // ntf/command/SNEW/host_ipv4_like_domain/p: "1.2.3" is a domain name
        let hex_in = "534e45572053183031323334353637383961626364656630313233343536370105312e322e3304353232332031323334353637383930313233343536373839303132333435363738393031321830313233343536373839616263646566303132333435363730302e020100300506032b6570042204203496366f235197c7b30225b8236bde96e2215fa7bc4e52a4c98d2f498127bf5d";
        check(hex_in, &snew(id, queue(&["1.2.3"], "5223", kh, id), key));

        // ntf/command/SNEW/domain/x25519/1/p
        check(
            "534e455720531800548f1d46faa73f931f7d222e3e38bb2bf32541b0a60b6b010f736d702e6578616d706c652e636f6d03343433205a73153d13f7a2e3a08f580c99e87d81ce77b420cf3fab2f6d84f06534d8461018ca11dbb03890e3f1e269d1ded84bf7b5ed9119803fc66e5930302e020100300506032b656e042204205158bbe8f5187a7025175bb5370562889e42aba6209d41401d6fe9693f664ee8",
            &snew(
                "00548f1d46faa73f931f7d222e3e38bb2bf32541b0a60b6b",
                queue(
                    &["smp.example.com"],
                    "443",
                    "5a73153d13f7a2e3a08f580c99e87d81ce77b420cf3fab2f6d84f06534d84610",
                    "ca11dbb03890e3f1e269d1ded84bf7b5ed9119803fc66e59",
                ),
                PrivateKey::X25519(arr("5158bbe8f5187a7025175bb5370562889e42aba6209d41401d6fe9693f664ee8")),
            ),
        );
        // ntf/command/SNEW/ipv6/x25519/1/p
        check(
            "534e455720531802a9f41a4e0f1c9ac8f4fd905612375d5e58e318d9cd02f0010b323030313a6462383a3a3100205692f1552a7899c61a84b419ad1e5a6aa8407ed113026fe4f7ad3e51b0f12bc11840bdec7f47c5a4fb88c7c44df5ee156404af14df5e13660330302e020100300506032b656e0422042077c3caffd10d1a3157cfd7321379cfb8ac0c436b0da2158c226e622c42e2993f",
            &snew(
                "02a9f41a4e0f1c9ac8f4fd905612375d5e58e318d9cd02f0",
                queue(
                    &["2001:db8::1"],
                    "",
                    "5692f1552a7899c61a84b419ad1e5a6aa8407ed113026fe4f7ad3e51b0f12bc1",
                    "40bdec7f47c5a4fb88c7c44df5ee156404af14df5e136603",
                ),
                PrivateKey::X25519(arr("77c3caffd10d1a3157cfd7321379cfb8ac0c436b0da2158c226e622c42e2993f")),
            ),
        );
        // ntf/command/SNEW/domain_onion/ed25519/1/p
        check(
            "534e4557205318ce673a7f98af4775cc6831e192e1d85f92904365e426abac021672656c6179312e73696d706c65782e6578616d706c653e6a6a6279766f656d7879736d3771786170376d3564356d33356a7a7635717136676e6c7637733472736e37746477776d75716369777069642e6f6e696f6e04373030312000495827b4264a1092b1f45bf6fb370a569076c0b7531f95b6959257058d161e1860ee1fc956a0e7ad282ce4b5a2dc9394954980fdfd09d65030302e020100300506032b6570042204201e17b7257c93306e27e56e7f0ebf6339d0fbb5ac4e00af67943893dcb74f2ffd",
            &snew(
                "ce673a7f98af4775cc6831e192e1d85f92904365e426abac",
                queue(
                    &["relay1.simplex.example", "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion"],
                    "7001",
                    "00495827b4264a1092b1f45bf6fb370a569076c0b7531f95b6959257058d161e",
                    "60ee1fc956a0e7ad282ce4b5a2dc9394954980fdfd09d650",
                ),
                PrivateKey::Ed25519(arr("1e17b7257c93306e27e56e7f0ebf6339d0fbb5ac4e00af67943893dcb74f2ffd")),
            ),
        );
    }

    #[test]
    fn rejects_bad_snew() {
        // ntf/command/invalid/SNEW_host_count_over/p
        let e = NtfCommand::decode(&h("534e45572053183031323334353637383961626364656630313233343536370205612e636f6d04353232332031323334353637383930313233343536373839303132333435363738393031321830313233343536373839616263646566303132333435363730302e020100300506032b6570042204203496366f235197c7b30225b8236bde96e2215fa7bc4e52a4c98d2f498127bf5d"), V).unwrap_err();
        assert_ne!(e.kind, DecodeErrorKind::UnknownTag);
        // SNEW with a token body
        let mut b = b"SNEW T".to_vec();
        b.extend_from_slice(&h(TNEW_APNS_DEV)[6..]);
        assert_eq!(
            NtfCommand::decode(&b, V).unwrap_err().kind,
            DecodeErrorKind::BadValue
        );
    }

    #[test]
    fn entities() {
        for t in NtfCommandTag::ALL {
            assert_eq!(NtfCommandTag::from_bytes(t.as_str().as_bytes()), Some(t));
            let want = if t.as_str().starts_with('T') {
                NtfEntity::Token
            } else {
                NtfEntity::Subscription
            };
            assert_eq!(t.entity(), want);
        }
        assert_eq!(NtfCommand::Ping.entity(), NtfEntity::Subscription);
    }

    pub(crate) fn auth_public_key() -> impl Strategy<Value = AuthPublicKey> {
        prop_oneof![
            any::<[u8; 32]>().prop_map(PublicKey::Ed25519),
            prop::collection::vec(any::<u8>(), 57)
                .prop_map(|v| PublicKey::Ed448(v.try_into().unwrap())),
            any::<[u8; 32]>().prop_map(PublicKey::X25519),
        ]
        .prop_map(|k| AuthPublicKey::new(k).unwrap())
    }

    pub(crate) fn auth_private_key() -> impl Strategy<Value = AuthPrivateKey> {
        use smp_proto::keys::PrivateKey;
        prop_oneof![
            any::<[u8; 32]>().prop_map(PrivateKey::Ed25519),
            prop::collection::vec(any::<u8>(), 57)
                .prop_map(|v| PrivateKey::Ed448(v.try_into().unwrap())),
            any::<[u8; 32]>().prop_map(PrivateKey::X25519),
        ]
        .prop_map(|k| AuthPrivateKey::new(k).unwrap())
    }

    pub(crate) fn command() -> impl Strategy<Value = NtfCommand> {
        use crate::queue::tests::smp_queue;
        use crate::token::tests::device_token;
        prop_oneof![
            (device_token(), auth_public_key(), any::<[u8; 32]>()).prop_map(
                |(token, verify_key, dh)| NtfCommand::Tnew(NewNtfToken {
                    token,
                    verify_key,
                    dh_key: X25519PublicKey(dh)
                })
            ),
            prop::collection::vec(any::<u8>(), 0..=255)
                .prop_map(|c| NtfCommand::Tvfy(NtfRegCode::new(c).unwrap())),
            Just(NtfCommand::Tchk),
            device_token().prop_map(NtfCommand::Trpl),
            Just(NtfCommand::Tdel),
            any::<u16>().prop_map(NtfCommand::Tcrn),
            (
                prop::collection::vec(any::<u8>(), 0..=255),
                smp_queue(),
                auth_private_key()
            )
                .prop_map(|(id, queue, notifier_key)| NtfCommand::Snew(
                    NewNtfSubscription {
                        token_id: NtfEntityId::new(id).unwrap(),
                        queue,
                        notifier_key
                    }
                )),
            Just(NtfCommand::Schk),
            Just(NtfCommand::Sdel),
            Just(NtfCommand::Ping),
        ]
    }

    proptest! {
        #[test]
        fn command_round_trip(c in command(), v in 1u16..=3) {
            let v = Version(v);
            prop_assert_eq!(NtfCommand::decode(&c.to_bytes(v), v).unwrap(), c);
        }

        #[test]
        fn command_decode_never_panics(b in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = NtfCommand::decode(&b, V);
        }

        #[test]
        fn command_prefixes_fail(c in command()) {
            let b = c.to_bytes(V);
            for n in 0..b.len() {
                // a prefix may still be valid only when it is a whole shorter command (none here)
                prop_assert!(NtfCommand::decode(&b[..n], V).is_err());
            }
        }
    }
    /// The conformance vectors of type `ntf.command`: (name, version, hex, canonical hex, value JSON or "" when invalid).
    #[cfg(feature = "serde")]
    const VECTORS: &[(&str, u16, &str, &str, &str)] = &[
        ("ntf/command/SNEW/preset_smp8/ed25519/1/p", 0, "534e45572053185d5c0a2ef7b175819a5be398ec395f0ce608bc2a32034dfe010f736d70382e73696d706c65782e696d03343433205ab6f405ba7e2ff9c24b9b9f6a57ff0942fb870bf9fdd98b7e12f56df7dd1dee18ff7d8448109bf51e659c77b4027d7507b9c94596692520f830302e020100300506032b6570042204208ce8dddea2f5bc7c2ee151a94130de6788840d452b17178e1e3ed0b9ee8e78ff", "534e45572053185d5c0a2ef7b175819a5be398ec395f0ce608bc2a32034dfe020f736d70382e73696d706c65782e696d3e6265636378347966787862767968717970616176656d71757279746c36686f7a723437776663377575656361636a716476777077327869642e6f6e696f6e03343433205ab6f405ba7e2ff9c24b9b9f6a57ff0942fb870bf9fdd98b7e12f56df7dd1dee18ff7d8448109bf51e659c77b4027d7507b9c94596692520f830302e020100300506032b6570042204208ce8dddea2f5bc7c2ee151a94130de6788840d452b17178e1e3ed0b9ee8e78ff", r#"{"notifier_key": {"alg": "ed25519", "private": "8ce8dddea2f5bc7c2ee151a94130de6788840d452b17178e1e3ed0b9ee8e78ff"}, "queue": {"notifier_id": "ff7d8448109bf51e659c77b4027d7507b9c94596692520f8", "server": {"hosts": ["smp8.simplex.im", "beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion"], "key_hash": "5ab6f405ba7e2ff9c24b9b9f6a57ff0942fb870bf9fdd98b7e12f56df7dd1dee", "port": "443"}}, "tag": "SNEW", "token_id": "5d5c0a2ef7b175819a5be398ec395f0ce608bc2a32034dfe"}"#),
        ("ntf/command/SNEW/host_ipv4_leading_zero/p", 0, "534e4557205318303132333435363738396162636465663031323334353637010b3031302e3030312e302e3104353232332031323334353637383930313233343536373839303132333435363738393031321830313233343536373839616263646566303132333435363730302e020100300506032b6570042204203496366f235197c7b30225b8236bde96e2215fa7bc4e52a4c98d2f498127bf5d", "534e4557205318303132333435363738396162636465663031323334353637010831302e312e302e3104353232332031323334353637383930313233343536373839303132333435363738393031321830313233343536373839616263646566303132333435363730302e020100300506032b6570042204203496366f235197c7b30225b8236bde96e2215fa7bc4e52a4c98d2f498127bf5d", r#"{"notifier_key": {"alg": "ed25519", "private": "3496366f235197c7b30225b8236bde96e2215fa7bc4e52a4c98d2f498127bf5d"}, "queue": {"notifier_id": "303132333435363738396162636465663031323334353637", "server": {"hosts": ["10.1.0.1"], "key_hash": "3132333435363738393031323334353637383930313233343536373839303132", "port": "5223"}}, "tag": "SNEW", "token_id": "303132333435363738396162636465663031323334353637"}"#),
        ("ntf/command/TNEW/apns_dev/ed25519/1/p", 0, "544e45572054414440356563653765393533373335376363626662623261353763303863626533326561376263643165363036613339306664336463656166366330653739663565612c302a300506032b657003210052831bed33f6e33c81becdcc58cedd30d1ee934f436ee881c3963cef81302dd42c302a300506032b656e032100e78fb52e4a9f76b1b4f42e47ea555fe73c49776129128eb4010c8d9b0046d222", "", r#"{"dh_key": {"alg": "x25519", "public": "e78fb52e4a9f76b1b4f42e47ea555fe73c49776129128eb4010c8d9b0046d222"}, "tag": "TNEW", "token": {"provider": "AD", "token": "35656365376539353337333537636362666262326135376330386362653332656137626364316536303661333930666433646365616636633065373966356561"}, "verify_key": {"alg": "ed25519", "public": "52831bed33f6e33c81becdcc58cedd30d1ee934f436ee881c3963cef81302dd4"}}"#),
        ("ntf/command/TNEW/apns_test/ed25519/1/p", 0, "544e45572054415440643735363361653136643464393364386332306536386534356334613233666466366137616564373433653666383436663563653164633739656439326637612c302a300506032b6570032100a9bd0f04877da776883a3f8bfb7431c48dfe086095e00ec79f6c05da2d5db4ea2c302a300506032b656e03210087a026d82c073cf885144dd51c01d7d63a9f57d1e8c54b136dce49bda149ee0c", "", r#"{"dh_key": {"alg": "x25519", "public": "87a026d82c073cf885144dd51c01d7d63a9f57d1e8c54b136dce49bda149ee0c"}, "tag": "TNEW", "token": {"provider": "AT", "token": "64373536336165313664346439336438633230653638653435633461323366646636613761656437343365366638343666356365316463373965643932663761"}, "verify_key": {"alg": "ed25519", "public": "a9bd0f04877da776883a3f8bfb7431c48dfe086095e00ec79f6c05da2d5db4ea"}}"#),
        ("ntf/command/TNEW/apns_null/ed448/1/p", 0, "544e45572054414e4038396464326161653965353964613662653532646238323333346332346561303136626231633238316432316536393265343730303564613064386435396637453043300506032b6571033a00ab8addf8ae05ed40e318f96341a2afa97d4ff2bd3ead15221055efcb5777ab40e53de596ae7537c7dc02204ca6ddd1e03344014d199413fd002c302a300506032b656e03210002b156f76efdb80d0700e2bd148b5024519a2753df72ee0e7db9b775812c3e39", "", r#"{"dh_key": {"alg": "x25519", "public": "02b156f76efdb80d0700e2bd148b5024519a2753df72ee0e7db9b775812c3e39"}, "tag": "TNEW", "token": {"provider": "AN", "token": "38396464326161653965353964613662653532646238323333346332346561303136626231633238316432316536393265343730303564613064386435396637"}, "verify_key": {"alg": "ed448", "public": "ab8addf8ae05ed40e318f96341a2afa97d4ff2bd3ead15221055efcb5777ab40e53de596ae7537c7dc02204ca6ddd1e03344014d199413fd00"}}"#),
        ("ntf/command/TVFY/len255/1/p", 0, "5456465920ff2689a19e71ce4081c675ff515663704c192751a6e4ba6fee1d27aeb6ccbe5bd68d18d300caa41511001e5e6a54777b464ffc04aa7149eb26e0ef0fd33ac8f78c4c0b152d4a264000c3db52a057c29faa028991e4f8e3a0fbe16fde5659c3b431965fef18f30de061de306aa8032e9149f12afeb250e4c47990e07e7daacbf4bf0a16e6fc4d94567dda8e3dc0acdfd16811bf62b85e1dc8302e54ffa9f255aca531b907a4f4e356a5d6940203e003c6ef7e079850985e64a4387484622f027cbc3724fa7e0b11338b6c0237f9f7999a47cd06107c01b496bef88191a724e7d7754beb856b1a0b55576b5acb176ab95bc0c26c2c9a3f9d490992d02db0261e76", "", r#"{"code": "2689a19e71ce4081c675ff515663704c192751a6e4ba6fee1d27aeb6ccbe5bd68d18d300caa41511001e5e6a54777b464ffc04aa7149eb26e0ef0fd33ac8f78c4c0b152d4a264000c3db52a057c29faa028991e4f8e3a0fbe16fde5659c3b431965fef18f30de061de306aa8032e9149f12afeb250e4c47990e07e7daacbf4bf0a16e6fc4d94567dda8e3dc0acdfd16811bf62b85e1dc8302e54ffa9f255aca531b907a4f4e356a5d6940203e003c6ef7e079850985e64a4387484622f027cbc3724fa7e0b11338b6c0237f9f7999a47cd06107c01b496bef88191a724e7d7754beb856b1a0b55576b5acb176ab95bc0c26c2c9a3f9d490992d02db0261e76", "tag": "TVFY"}"#),
        ("ntf/command/TCRN/0/p", 0, "5443524e200000", "", r#"{"interval": 0, "tag": "TCRN"}"#),
        ("ntf/command/TDEL/p", 0, "5444454c", "", r#"{"tag": "TDEL"}"#),
        ("ntf/command/SNEW/domain/x25519/1/p", 0, "534e455720531800548f1d46faa73f931f7d222e3e38bb2bf32541b0a60b6b010f736d702e6578616d706c652e636f6d03343433205a73153d13f7a2e3a08f580c99e87d81ce77b420cf3fab2f6d84f06534d8461018ca11dbb03890e3f1e269d1ded84bf7b5ed9119803fc66e5930302e020100300506032b656e042204205158bbe8f5187a7025175bb5370562889e42aba6209d41401d6fe9693f664ee8", "", r#"{"notifier_key": {"alg": "x25519", "private": "5158bbe8f5187a7025175bb5370562889e42aba6209d41401d6fe9693f664ee8"}, "queue": {"notifier_id": "ca11dbb03890e3f1e269d1ded84bf7b5ed9119803fc66e59", "server": {"hosts": ["smp.example.com"], "key_hash": "5a73153d13f7a2e3a08f580c99e87d81ce77b420cf3fab2f6d84f06534d84610", "port": "443"}}, "tag": "SNEW", "token_id": "00548f1d46faa73f931f7d222e3e38bb2bf32541b0a60b6b"}"#),
        ("ntf/command/SNEW/ipv6/x25519/1/p", 0, "534e455720531802a9f41a4e0f1c9ac8f4fd905612375d5e58e318d9cd02f0010b323030313a6462383a3a3100205692f1552a7899c61a84b419ad1e5a6aa8407ed113026fe4f7ad3e51b0f12bc11840bdec7f47c5a4fb88c7c44df5ee156404af14df5e13660330302e020100300506032b656e0422042077c3caffd10d1a3157cfd7321379cfb8ac0c436b0da2158c226e622c42e2993f", "", r#"{"notifier_key": {"alg": "x25519", "private": "77c3caffd10d1a3157cfd7321379cfb8ac0c436b0da2158c226e622c42e2993f"}, "queue": {"notifier_id": "40bdec7f47c5a4fb88c7c44df5ee156404af14df5e136603", "server": {"hosts": ["2001:db8::1"], "key_hash": "5692f1552a7899c61a84b419ad1e5a6aa8407ed113026fe4f7ad3e51b0f12bc1", "port": ""}}, "tag": "SNEW", "token_id": "02a9f41a4e0f1c9ac8f4fd905612375d5e58e318d9cd02f0"}"#),
        ("ntf/command/SNEW/domain_onion/ed25519/1/p", 0, "534e4557205318ce673a7f98af4775cc6831e192e1d85f92904365e426abac021672656c6179312e73696d706c65782e6578616d706c653e6a6a6279766f656d7879736d3771786170376d3564356d33356a7a7635717136676e6c7637733472736e37746477776d75716369777069642e6f6e696f6e04373030312000495827b4264a1092b1f45bf6fb370a569076c0b7531f95b6959257058d161e1860ee1fc956a0e7ad282ce4b5a2dc9394954980fdfd09d65030302e020100300506032b6570042204201e17b7257c93306e27e56e7f0ebf6339d0fbb5ac4e00af67943893dcb74f2ffd", "", r#"{"notifier_key": {"alg": "ed25519", "private": "1e17b7257c93306e27e56e7f0ebf6339d0fbb5ac4e00af67943893dcb74f2ffd"}, "queue": {"notifier_id": "60ee1fc956a0e7ad282ce4b5a2dc9394954980fdfd09d650", "server": {"hosts": ["relay1.simplex.example", "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion"], "key_hash": "00495827b4264a1092b1f45bf6fb370a569076c0b7531f95b6959257058d161e", "port": "7001"}}, "tag": "SNEW", "token_id": "ce673a7f98af4775cc6831e192e1d85f92904365e426abac"}"#),
        ("ntf/command/SNEW/host_ipv4_like_domain/p", 0, "534e45572053183031323334353637383961626364656630313233343536370105312e322e3304353232332031323334353637383930313233343536373839303132333435363738393031321830313233343536373839616263646566303132333435363730302e020100300506032b6570042204203496366f235197c7b30225b8236bde96e2215fa7bc4e52a4c98d2f498127bf5d", "", r#"{"notifier_key": {"alg": "ed25519", "private": "3496366f235197c7b30225b8236bde96e2215fa7bc4e52a4c98d2f498127bf5d"}, "queue": {"notifier_id": "303132333435363738396162636465663031323334353637", "server": {"hosts": ["1.2.3"], "key_hash": "3132333435363738393031323334353637383930313233343536373839303132", "port": "5223"}}, "tag": "SNEW", "token_id": "303132333435363738396162636465663031323334353637"}"#),
        ("ntf/command/TNEW/apns_dev/ed25519/1/trunc_62/p", 0, "544e455720544144403565636537653935333733353763636266626232613537633038636265333265613762636431653630366133393066643364636561", "", r#""#),
        ("ntf/command/TNEW/apns_null/x25519/1/trunc_6/p", 0, "544e45572054", "", r#""#),
        ("ntf/command/invalid/TNEW_no_args/p", 0, "544e4557", "", r#""#),
        ("ntf/command/invalid/TNEW_der_truncated/p", 0, "544e45572054415040656665656438653530336232356362393133383431393833303964663865376265363466643766396530653561643934346264636661323832646138656132382b302a300506032b65700321007783489805fb872cb81285ed39f308b87f842a1cba501bdd2b8cf7830eb0292c302a300506032b656e032100efbf31be3774abaf1537972c89922629e1684f13f4b2c3209c194b0dda66140f", "", r#""#),
        ("ntf/command/invalid/SNEW_host_count_over/p", 0, "534e45572053183031323334353637383961626364656630313233343536370205612e636f6d04353232332031323334353637383930313233343536373839303132333435363738393031321830313233343536373839616263646566303132333435363730302e020100300506032b6570042204203496366f235197c7b30225b8236bde96e2215fa7bc4e52a4c98d2f498127bf5d", "", r#""#),
    ];

    #[cfg(feature = "serde")]
    #[test]
    fn json_vectors() {
        crate::test_vectors::check_json_vectors(VECTORS, V, NtfCommand::decode, |x, v| {
            x.to_bytes(v)
        });
    }
}

#[cfg(all(test, feature = "arbitrary"))]
mod arbitrary_round_trips {
    //! Values from `arbitrary` encode validly and decode back (binary and text forms).
    use crate::command::NtfCommand;
    use crate::push::PnMessages;
    use crate::response::NtfResponse;
    use crate::version::{Version, CURRENT};
    use arbitrary::{Arbitrary, Unstructured};
    use proptest::prelude::*;
    use smp_proto::server::SmpServer;

    proptest! {
        #[test]
        fn arbitrary_values_round_trip(data in prop::collection::vec(any::<u8>(), 0..2048)) {
            let mut u = Unstructured::new(&data);
            if let Ok(c) = NtfCommand::arbitrary(&mut u) {
                prop_assert_eq!(NtfCommand::decode(&c.to_bytes(CURRENT), CURRENT).unwrap(), c);
            }
            if let Ok(r) = NtfResponse::arbitrary(&mut u) {
                let _ = r.to_bytes(Version(1));
                prop_assert_eq!(NtfResponse::decode(&r.to_bytes(CURRENT), CURRENT).unwrap(), r);
            }
            if let Ok(m) = PnMessages::arbitrary(&mut u) {
                // as in the reference, an unbracketed IPv6 last host followed by a port does
                // not read back (the port is taken as part of the address); skip those
                let servers_ok = m.messages().iter().all(|x| {
                    SmpServer::parse_text(&x.queue.server.to_text()).as_ref() == Ok(&x.queue.server)
                });
                if servers_ok {
                    prop_assert_eq!(PnMessages::decode(&m.to_bytes()).unwrap(), m);
                }
            }
        }
    }
}
