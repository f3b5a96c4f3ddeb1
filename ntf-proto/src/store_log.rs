//! The notification server's store log (`ntf-server-store.log`) and last-notifications file
//! (`ntf-server-last-notifications.log`): the reference's text records, one per line.
//!
//! The records are the reference's `NtfStoreLogRecord` (`Notifications/Server/StoreLog.hs`),
//! with `NtfTknRec` and `NtfSubRec` (`Notifications/Server/Store/Types.hs`), and its
//! `TokenNtfMessageRecord` (`Notifications/Server/Store.hs`); every field is in its
//! `StrEncoding` text form. See `spec/store-log.md` for the whole grammar.
//!
//! ```text
//! record = "TCREATE " token-rec
//!        / "TSTATUS " id " " token-status
//!        / "TUPDATE " id " " device-token " " reg-code
//!        / "TCRON " id " " word16
//!        / "TDELETE " id
//!        / "TTIME " id " " int64                          ; the day, Unix seconds
//!        / "SCREATE " sub-rec
//!        / "SSTATUS " id " " sub-status [" service=" bool]  ; written only when T
//!        / "SDELETE " id
//!        / "SERVICE " smp-server " service=" ("off" / id)
//! token-rec = "tknId=" id " token=" device-token " tokenStatus=" token-status
//!             " verifyKey=" public-key " dhKeys=" public-key " " private-key
//!             " dhSecret=" base64url " regCode=" base64url " cron=" word16
//!             [" updatedAt=" int64]
//! sub-rec   = "subId=" id " smpQueue=" smp-queue-ntf " notifierKey=" private-key
//!             " tknId=" id " subStatus=" sub-status [" serviceAssoc=" bool]
//! last-ntf  = "v1 " id " " pn-message
//! id = base64url ; public-key = base64url of X.509 DER ; private-key = base64url of PKCS#8 DER
//! bool = "T" / "F"
//! ```
//!
//! Decoding follows the reference's parsers, quirks included:
//! - `sub-status` `ERR` takes the rest of the line (the reference's `NSErr <$> A.takeByteString`),
//!   so in `SCREATE` and `SSTATUS` an `ERR` status swallows a following ` serviceAssoc=`/
//!   ` service=` field, which then reads as `F`;
//! - after ` service=` in `SERVICE`, text starting with `off` is the literal `off` (attoparsec
//!   commits to it), so a service id whose base64url starts with `off` does not read back;
//! - the public key of `dhKeys` is read (it must be an X25519 key) but not kept: the encoder
//!   writes the public key of the private key, as the reference's `C.publicKey`;
//! - a queue's server gets a preset relay's onion host added (`updateSMPServerHosts`), the
//!   server of `SERVICE` does not.
//!
//! Our caps: ids, registration codes, device tokens and notifier ids of at most 255 bytes
//! (what the binary protocol carries; the reference's text parser has no cap).

use alloc::vec::Vec;

use smp_proto::coding::Reader;
use smp_proto::crypto::x25519_public;
use smp_proto::error::{DecodeError, DecodeErrorKind, DecodeResult};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, KeyAlgorithm, PrivateKey, PublicKey};
use smp_proto::server::SmpServer;
use smp_proto::text::{put_base64url, put_decimal};
use smp_proto::Decode;

use crate::command::NtfEntityId;
use crate::push::PnMessageData;
use crate::queue::SmpQueueNtf;
use crate::subscription::NtfSubStatus;
use crate::token::{DeviceToken, NtfRegCode, NtfTknStatus};

/// The store log file name in the reference's log directory.
pub const STORE_LOG_FILE: &str = "ntf-server-store.log";

/// The last-notifications file name in the reference's log directory.
pub const LAST_NTFS_FILE: &str = "ntf-server-last-notifications.log";

/// A token as the store log keeps it (`NtfTknRec`).
///
/// ```text
/// token-rec = "tknId=" id " token=" device-token " tokenStatus=" token-status
///             " verifyKey=" public-key " dhKeys=" public-key " " private-key
///             " dhSecret=" base64url " regCode=" base64url " cron=" word16
///             [" updatedAt=" int64]
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRec {
    /// `tknId`.
    pub id: NtfEntityId,
    /// `token`.
    pub token: DeviceToken,
    /// `tokenStatus`.
    pub status: NtfTknStatus,
    /// `verifyKey`.
    pub verify_key: AuthPublicKey,
    /// The X25519 private key of `dhKeys` (its public key is derived when encoding).
    pub dh_private: [u8; 32],
    /// `dhSecret`: the X25519 shared secret.
    pub dh_secret: [u8; 32],
    /// `regCode`.
    pub reg_code: NtfRegCode,
    /// `cron`: the periodic notification interval, minutes.
    pub cron_interval: u16,
    /// `updatedAt`: the day the token was last used, Unix seconds.
    pub updated_at: Option<i64>,
}

/// A subscription as the store log keeps it (`NtfSubRec`).
///
/// ```text
/// sub-rec = "subId=" id " smpQueue=" smp-queue-ntf " notifierKey=" private-key
///           " tknId=" id " subStatus=" sub-status [" serviceAssoc=" bool]
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubRec {
    /// `subId`.
    pub id: NtfEntityId,
    /// `smpQueue`.
    pub queue: SmpQueueNtf,
    /// `notifierKey`.
    pub notifier_key: AuthPrivateKey,
    /// `tknId`.
    pub token_id: NtfEntityId,
    /// `subStatus`.
    pub status: NtfSubStatus,
    /// `serviceAssoc` (`F` when absent).
    pub service_assoc: bool,
}

/// One store log line (`NtfStoreLogRecord`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLogRecord {
    /// `TCREATE token-rec`.
    CreateToken(TokenRec),
    /// `TSTATUS id token-status`.
    TokenStatus(NtfEntityId, NtfTknStatus),
    /// `TUPDATE id device-token reg-code`: a new device token (`TRPL`).
    UpdateToken(NtfEntityId, DeviceToken, NtfRegCode),
    /// `TCRON id word16`.
    TokenCron(NtfEntityId, u16),
    /// `TDELETE id`.
    DeleteToken(NtfEntityId),
    /// `TTIME id int64`: the token's `updatedAt` day.
    UpdateTokenTime(NtfEntityId, i64),
    /// `SCREATE sub-rec`.
    CreateSubscription(SubRec),
    /// `SSTATUS id sub-status [" service=T"]`: status and service association.
    SubscriptionStatus(NtfEntityId, NtfSubStatus, bool),
    /// `SDELETE id`.
    DeleteSubscription(NtfEntityId),
    /// `SERVICE smp-server " service=" ("off" / id)`: the server's service id, or none.
    SetService(SmpServer, Option<NtfEntityId>),
}

/// One line of the last-notifications file (`TNMRv1`): a token and one of its notifications.
///
/// ```text
/// last-ntf = "v1 " id " " pn-message
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastNtfRecord {
    /// The token.
    pub token_id: NtfEntityId,
    /// The notification.
    pub ntf: PnMessageData,
}

fn put_id(out: &mut Vec<u8>, id: &NtfEntityId) {
    put_base64url(out, id.as_bytes());
}

fn put_bool(out: &mut Vec<u8>, b: bool) {
    out.push(if b { b'T' } else { b'F' });
}

impl TokenRec {
    /// Appends the text form (`strEncode NtfTknRec`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"tknId=");
        put_id(out, &self.id);
        out.extend_from_slice(b" token=");
        self.token.encode_text(out);
        out.extend_from_slice(b" tokenStatus=");
        out.extend_from_slice(&smp_proto::Encode::to_bytes(&self.status));
        out.extend_from_slice(b" verifyKey=");
        put_base64url(out, &self.verify_key.key().to_der());
        out.extend_from_slice(b" dhKeys=");
        put_base64url(out, &PublicKey::X25519(x25519_public(&self.dh_private)).to_der());
        out.push(b' ');
        put_base64url(out, &PrivateKey::X25519(self.dh_private).to_der());
        out.extend_from_slice(b" dhSecret=");
        put_base64url(out, &self.dh_secret);
        out.extend_from_slice(b" regCode=");
        put_base64url(out, self.reg_code.as_bytes());
        out.extend_from_slice(b" cron=");
        put_decimal(out, i64::from(self.cron_interval));
        if let Some(t) = self.updated_at {
            out.extend_from_slice(b" updatedAt=");
            put_decimal(out, t);
        }
    }

    /// Parses the text form from the front of `r`.
    ///
    /// # Errors
    /// A missing field name or separator, or a field that does not decode.
    pub fn parse(r: &mut Reader<'_>) -> DecodeResult<Self> {
        field(r, b"tknId=")?;
        let id = read_id(r)?;
        field(r, b" token=")?;
        let token = DeviceToken::parse_text(r)?;
        field(r, b" tokenStatus=")?;
        let status = NtfTknStatus::decode(r)?;
        field(r, b" verifyKey=")?;
        let verify_key = read_auth_public_key(r)?;
        field(r, b" dhKeys=")?;
        read_x25519_public(r)?;
        r.space()?;
        let dh_private = read_x25519_private(r)?;
        field(r, b" dhSecret=")?;
        let dh_secret = read_dh_secret(r)?;
        field(r, b" regCode=")?;
        let at = r.offset();
        let reg_code = NtfRegCode::new(r.base64url("registration code")?).ok_or(
            DecodeError::new(DecodeErrorKind::BadLength, at, "registration code of at most 255 bytes"),
        )?;
        field(r, b" cron=")?;
        let cron_interval = r.decimal_wrapping("cron interval")? as u16;
        let updated_at = if r.eat_slice(b" updatedAt=") {
            Some(r.signed_decimal_wrapping("updatedAt")?)
        } else {
            None
        };
        Ok(Self {
            id,
            token,
            status,
            verify_key,
            dh_private,
            dh_secret,
            reg_code,
            cron_interval,
            updated_at,
        })
    }
}

impl SubRec {
    /// Appends the text form (`strEncode NtfSubRec`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"subId=");
        put_id(out, &self.id);
        out.extend_from_slice(b" smpQueue=");
        self.queue.encode_text(out);
        out.extend_from_slice(b" notifierKey=");
        put_base64url(out, &self.notifier_key.key().to_der());
        out.extend_from_slice(b" tknId=");
        put_id(out, &self.token_id);
        out.extend_from_slice(b" subStatus=");
        out.extend_from_slice(&smp_proto::Encode::to_bytes(&self.status));
        out.extend_from_slice(b" serviceAssoc=");
        put_bool(out, self.service_assoc);
    }

    /// Parses the text form from the front of `r` (an `ERR` status takes the rest of the
    /// input, see the [module docs](self)).
    ///
    /// # Errors
    /// A missing field name or separator, or a field that does not decode.
    pub fn parse(r: &mut Reader<'_>) -> DecodeResult<Self> {
        field(r, b"subId=")?;
        let id = read_id(r)?;
        field(r, b" smpQueue=")?;
        let queue = SmpQueueNtf::parse_text(r)?;
        field(r, b" notifierKey=")?;
        let notifier_key = read_auth_private_key(r)?;
        field(r, b" tknId=")?;
        let token_id = read_id(r)?;
        field(r, b" subStatus=")?;
        let status = NtfSubStatus::decode(r)?;
        let service_assoc = optional_bool(r, b" serviceAssoc=")?;
        Ok(Self {
            id,
            queue,
            notifier_key,
            token_id,
            status,
            service_assoc,
        })
    }
}

impl StoreLogRecord {
    /// Appends the text form of the line, without the line feed (`strEncode
    /// NtfStoreLogRecord`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::CreateToken(t) => {
                out.extend_from_slice(b"TCREATE ");
                t.encode(out);
            }
            Self::TokenStatus(id, st) => {
                out.extend_from_slice(b"TSTATUS ");
                put_id(out, id);
                out.push(b' ');
                out.extend_from_slice(&smp_proto::Encode::to_bytes(st));
            }
            Self::UpdateToken(id, token, code) => {
                out.extend_from_slice(b"TUPDATE ");
                put_id(out, id);
                out.push(b' ');
                token.encode_text(out);
                out.push(b' ');
                put_base64url(out, code.as_bytes());
            }
            Self::TokenCron(id, n) => {
                out.extend_from_slice(b"TCRON ");
                put_id(out, id);
                out.push(b' ');
                put_decimal(out, i64::from(*n));
            }
            Self::DeleteToken(id) => {
                out.extend_from_slice(b"TDELETE ");
                put_id(out, id);
            }
            Self::UpdateTokenTime(id, t) => {
                out.extend_from_slice(b"TTIME ");
                put_id(out, id);
                out.push(b' ');
                put_decimal(out, *t);
            }
            Self::CreateSubscription(s) => {
                out.extend_from_slice(b"SCREATE ");
                s.encode(out);
            }
            Self::SubscriptionStatus(id, st, assoc) => {
                out.extend_from_slice(b"SSTATUS ");
                put_id(out, id);
                out.push(b' ');
                out.extend_from_slice(&smp_proto::Encode::to_bytes(st));
                if *assoc {
                    out.extend_from_slice(b" service=T");
                }
            }
            Self::DeleteSubscription(id) => {
                out.extend_from_slice(b"SDELETE ");
                put_id(out, id);
            }
            Self::SetService(srv, service_id) => {
                out.extend_from_slice(b"SERVICE ");
                srv.put_text(out);
                out.extend_from_slice(b" service=");
                match service_id {
                    Some(id) => put_id(out, id),
                    None => out.extend_from_slice(b"off"),
                }
            }
        }
    }

    /// The text form of the line as a new vector (no line feed).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Parses one whole line (without its line feed), as the reference's `strDecode`.
    ///
    /// # Errors
    /// `UnknownTag` for another record tag; the fields' errors; `TrailingBytes` when the
    /// record does not span the line.
    pub fn decode(line: &[u8]) -> DecodeResult<Self> {
        let mut r = Reader::new(line);
        let rec = Self::parse(&mut r)?;
        r.finish()?;
        Ok(rec)
    }

    fn parse(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let at = r.offset();
        let tag = r.take_till(|b| b == b' ');
        if !r.eat(b' ') {
            let kind = if tag.is_empty() && r.is_empty() {
                DecodeErrorKind::Truncated
            } else {
                DecodeErrorKind::UnknownTag
            };
            return Err(DecodeError::new(kind, at, "store log record tag and a space"));
        }
        Ok(match tag {
            b"TCREATE" => Self::CreateToken(TokenRec::parse(r)?),
            b"TSTATUS" => {
                let id = read_id(r)?;
                r.space()?;
                Self::TokenStatus(id, NtfTknStatus::decode(r)?)
            }
            b"TUPDATE" => {
                let id = read_id(r)?;
                r.space()?;
                let token = DeviceToken::parse_text(r)?;
                r.space()?;
                let at = r.offset();
                let code = NtfRegCode::new(r.base64url("registration code")?).ok_or(
                    DecodeError::new(DecodeErrorKind::BadLength, at, "registration code of at most 255 bytes"),
                )?;
                Self::UpdateToken(id, token, code)
            }
            b"TCRON" => {
                let id = read_id(r)?;
                r.space()?;
                Self::TokenCron(id, r.decimal_wrapping("cron interval")? as u16)
            }
            b"TDELETE" => Self::DeleteToken(read_id(r)?),
            b"TTIME" => {
                let id = read_id(r)?;
                r.space()?;
                Self::UpdateTokenTime(id, r.signed_decimal_wrapping("token time")?)
            }
            b"SCREATE" => Self::CreateSubscription(SubRec::parse(r)?),
            b"SSTATUS" => {
                let id = read_id(r)?;
                r.space()?;
                let st = NtfSubStatus::decode(r)?;
                Self::SubscriptionStatus(id, st, optional_bool(r, b" service=")?)
            }
            b"SDELETE" => Self::DeleteSubscription(read_id(r)?),
            b"SERVICE" => {
                let srv = SmpServer::read_text(r)?;
                field(r, b" service=")?;
                let id = if r.eat_slice(b"off") { None } else { Some(read_id(r)?) };
                Self::SetService(srv, id)
            }
            _ => return Err(DecodeError::new(DecodeErrorKind::UnknownTag, at, "store log record tag")),
        })
    }
}

impl LastNtfRecord {
    /// Appends the text form of the line, without the line feed (`strEncode TNMRv1`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"v1 ");
        put_id(out, &self.token_id);
        out.push(b' ');
        self.ntf.encode_text(out);
    }

    /// The text form of the line as a new vector (no line feed).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Parses one whole line (without its line feed).
    ///
    /// # Errors
    /// `UnknownTag` without the `v1 ` prefix; the fields' errors; `TrailingBytes`.
    pub fn decode(line: &[u8]) -> DecodeResult<Self> {
        let mut r = Reader::new(line);
        if !r.eat_slice(b"v1 ") {
            return Err(r.error(DecodeErrorKind::UnknownTag, "v1 "));
        }
        let token_id = read_id(&mut r)?;
        r.space()?;
        let ntf = PnMessageData::parse_text(&mut r)?;
        r.finish()?;
        Ok(Self { token_id, ntf })
    }
}

/// The lines of a file as the reference reads them: split at each line feed, the empty text
/// after a final line feed dropped (`B.lines`, and `hGetLine` up to the end of file). A
/// carriage return stays part of its line.
pub fn lines(file: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = file.strip_suffix(b"\n").unwrap_or(file);
    let empty = file.is_empty();
    body.split(|&b| b == b'\n').filter(move |_| !empty)
}

fn field(r: &mut Reader<'_>, name: &'static [u8]) -> DecodeResult<()> {
    if r.eat_slice(name) {
        Ok(())
    } else {
        let kind = if name.starts_with(r.peek_rest()) {
            DecodeErrorKind::Truncated
        } else {
            DecodeErrorKind::BadValue
        };
        Err(r.error(kind, "field name"))
    }
}

fn optional_bool(r: &mut Reader<'_>, name: &'static [u8]) -> DecodeResult<bool> {
    if r.eat_slice(name) {
        r.bool("T or F")
    } else {
        Ok(false)
    }
}

fn read_id(r: &mut Reader<'_>) -> DecodeResult<NtfEntityId> {
    let at = r.offset();
    NtfEntityId::new(r.base64url("entity id")?).ok_or(DecodeError::new(
        DecodeErrorKind::BadLength,
        at,
        "entity id of at most 255 bytes",
    ))
}

fn read_public_key(r: &mut Reader<'_>) -> DecodeResult<(usize, PublicKey)> {
    let at = r.offset();
    let der = r.base64url("public key")?;
    PublicKey::from_der(&der)
        .map(|k| (at, k))
        .ok_or(DecodeError::new(DecodeErrorKind::BadKey, at, "X.509 public key DER"))
}

fn read_auth_public_key(r: &mut Reader<'_>) -> DecodeResult<AuthPublicKey> {
    let (at, k) = read_public_key(r)?;
    AuthPublicKey::new(k).ok_or(DecodeError::new(DecodeErrorKind::BadKey, at, "authorization public key"))
}

fn read_x25519_public(r: &mut Reader<'_>) -> DecodeResult<()> {
    let (at, k) = read_public_key(r)?;
    match k.algorithm() {
        KeyAlgorithm::X25519 => Ok(()),
        _ => Err(DecodeError::new(DecodeErrorKind::BadKey, at, "X25519 public key")),
    }
}

fn read_private_key(r: &mut Reader<'_>) -> DecodeResult<(usize, PrivateKey)> {
    let at = r.offset();
    let der = r.base64url("private key")?;
    PrivateKey::from_der(&der)
        .map(|k| (at, k))
        .ok_or(DecodeError::new(DecodeErrorKind::BadKey, at, "PKCS#8 private key DER"))
}

fn read_x25519_private(r: &mut Reader<'_>) -> DecodeResult<[u8; 32]> {
    match read_private_key(r)? {
        (_, PrivateKey::X25519(k)) => Ok(k),
        (at, _) => Err(DecodeError::new(DecodeErrorKind::BadKey, at, "X25519 private key")),
    }
}

fn read_auth_private_key(r: &mut Reader<'_>) -> DecodeResult<AuthPrivateKey> {
    let (at, k) = read_private_key(r)?;
    AuthPrivateKey::new(k).ok_or(DecodeError::new(DecodeErrorKind::BadKey, at, "authorization private key"))
}

/// `DhSecret 'X25519`: 32 bytes (56 would be an X448 secret, which the type rejects).
fn read_dh_secret(r: &mut Reader<'_>) -> DecodeResult<[u8; 32]> {
    let at = r.offset();
    let b = r.base64url("DH secret")?;
    <[u8; 32]>::try_from(b.as_slice())
        .map_err(|_| DecodeError::new(DecodeErrorKind::BadKey, at, "X25519 shared secret of 32 bytes"))
}

#[cfg(feature = "serde")]
mod json;

#[cfg(test)]
mod tests;
