//! Transmissions: one command or response with its authorization, inside a block.
//!
//! ```text
//! transmission  = auth [service-sig] authorized
//! auth          = short-bytes           ; empty, a signature (64/114) or an authenticator (80)
//! service-sig   = "0" / "1" short-bytes ; Ed25519 (64), only with service auth and non-empty auth
//! authorized    = [session-id] corr-id entity-id command
//! session-id    = short-bytes           ; absent when implied (NTF v2+, SMP v7+)
//! corr-id       = short-bytes
//! entity-id     = short-bytes
//! command       = tail
//! ```
//!
//! The bytes an authorization covers are the authorized part as sent, with
//! `short-bytes(session id)` in front when the session id is implied
//! ([`RawTransmission::authorized`], [`ForAuth`]).

use alloc::vec::Vec;

use crate::coding::{put_short, Reader};
use crate::crypto::{TransmissionAuth, ED25519_SIGNATURE_LEN};
use crate::error::{DecodeError, DecodeErrorKind, DecodeResult};
use crate::error_type::TransportError;
use crate::version::{smp, Version};

/// NTF version from which the session id is implied and blocks are batched.
const NTF_AUTH_BATCH: Version = Version(2);

/// The session parameters that shape transmissions (part of the reference's `THandleParams`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransmissionParams<'s> {
    /// The TLS channel binding (`tls-unique`) of the connection.
    pub session_id: &'s [u8],
    /// The session id is not sent but is authorized (NTF v2+, SMP v7+).
    pub implied_session_id: bool,
    /// The service signature field follows a non-empty authorization (SMP v16+).
    pub service_auth: bool,
}

impl<'s> TransmissionParams<'s> {
    /// Parameters of an NTF session at version `v`.
    pub const fn ntf(session_id: &'s [u8], v: Version) -> Self {
        Self {
            session_id,
            implied_session_id: v.0 >= NTF_AUTH_BATCH.0,
            service_auth: false,
        }
    }

    /// Parameters of an SMP session at version `v`.
    pub const fn smp(session_id: &'s [u8], v: Version) -> Self {
        Self {
            session_id,
            implied_session_id: v.0 >= smp::AUTH_CMDS.0,
            service_auth: v.0 >= smp::SERVICE_CERTS.0,
        }
    }

    /// Whether NTF blocks are batched at version `v`.
    pub const fn ntf_batch(v: Version) -> bool {
        v.0 >= NTF_AUTH_BATCH.0
    }
}

/// A parsed transmission borrowing its input (the reference's `RawTransmission`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawTransmission<'a> {
    /// The authorization bytes as sent (empty when unauthorized).
    pub authorization: &'a [u8],
    /// The service signature, when the field is present and not `"0"`.
    pub service_signature: Option<&'a [u8; ED25519_SIGNATURE_LEN]>,
    /// The session id as sent; `None` when it is implied.
    pub session_id: Option<&'a [u8]>,
    /// Correlation id.
    pub corr_id: &'a [u8],
    /// Entity id (queue, token or subscription id; may be empty).
    pub entity_id: &'a [u8],
    /// The command or response bytes.
    pub command: &'a [u8],
    /// The authorized part as sent.
    sent: &'a [u8],
    /// Our session id when it is implied (it prefixes the authorized bytes).
    implied: Option<&'a [u8]>,
}

impl<'a> RawTransmission<'a> {
    /// Parses one transmission (`transmissionP`); the input must be consumed exactly.
    ///
    /// # Errors
    /// `Truncated` for missing fields, `BadValue`/`BadLength` for a bad service signature
    /// field. The reference answers all of them with `BLOCK` and an empty correlation id.
    pub fn decode(bytes: &'a [u8], params: &TransmissionParams<'a>) -> DecodeResult<Self> {
        let mut r = Reader::new(bytes);
        let authorization = r.short_bytes("authorization")?;
        let service_signature = if params.service_auth && !authorization.is_empty() {
            r.maybe("service signature", |r| {
                let at = r.offset();
                let s = r.short_bytes("service signature")?;
                <&[u8; ED25519_SIGNATURE_LEN]>::try_from(s).map_err(|_| {
                    DecodeError::new(DecodeErrorKind::BadLength, at, "Ed25519 service signature")
                })
            })?
        } else {
            None
        };
        let sent = r.peek_rest();
        let session_id = if params.implied_session_id {
            None
        } else {
            Some(r.short_bytes("session id")?)
        };
        let corr_id = r.short_bytes("correlation id")?;
        let entity_id = r.short_bytes("entity id")?;
        let command = r.rest();
        Ok(Self {
            authorization,
            service_signature,
            session_id,
            corr_id,
            entity_id,
            command,
            sent,
            implied: params.implied_session_id.then_some(params.session_id),
        })
    }

    /// The authorized part as sent (without the implied session id).
    pub fn sent_authorized(&self) -> &'a [u8] {
        self.sent
    }

    /// The implied session id that prefixes the authorized bytes (as short bytes), if any.
    pub fn implied_session_id(&self) -> Option<&'a [u8]> {
        self.implied
    }

    /// Appends the bytes the authorization covers: `short-bytes(session id) ++ sent` when the
    /// session id is implied, the authorized part as sent otherwise.
    pub fn authorized_into(&self, out: &mut Vec<u8>) {
        if let Some(sid) = self.implied {
            put_short(out, sid);
        }
        out.extend_from_slice(self.sent);
    }

    /// The bytes the authorization covers, as a new vector.
    pub fn authorized(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.sent.len() + 1 + self.implied.map_or(0, <[u8]>::len));
        self.authorized_into(&mut v);
        v
    }

    /// Classifies the authorization (`decodeTAuthBytes`): `None` when empty.
    ///
    /// # Errors
    /// `BadLength` when it is neither 64, 80 nor 114 bytes.
    pub fn authorization(&self) -> DecodeResult<Option<TransmissionAuth>> {
        if self.authorization.is_empty() {
            return Ok(None);
        }
        TransmissionAuth::from_bytes(self.authorization)
            .map(Some)
            .ok_or(DecodeError::new(
                DecodeErrorKind::BadLength,
                1,
                "signature or authenticator",
            ))
    }

    /// The checks a receiving server applies before parsing the command (`tDecodeServer`): an
    /// explicit session id must be ours, then the authorization must classify.
    ///
    /// # Errors
    /// [`TransportError::Session`] for another session id, [`TransportError::Block`] for a bad
    /// authorization length; the reference answers both with the transmission's correlation id.
    pub fn check(
        &self,
        params: &TransmissionParams<'_>,
    ) -> Result<Option<TransmissionAuth>, TransportError> {
        if let Some(sid) = self.session_id {
            if sid != params.session_id {
                return Err(TransportError::Session);
            }
        }
        self.authorization().map_err(|_| TransportError::Block)
    }

    /// The checks a receiving client applies (`tDecodeClient`): only the session id.
    ///
    /// # Errors
    /// [`TransportError::Session`] for another session id.
    pub fn check_client(&self, params: &TransmissionParams<'_>) -> Result<(), TransportError> {
        match self.session_id {
            Some(sid) if sid != params.session_id => Err(TransportError::Session),
            _ => Ok(()),
        }
    }

    /// An owned copy.
    pub fn to_owned(&self) -> Transmission {
        Transmission {
            auth: self.authorization.to_vec(),
            service_signature: self.service_signature.map_or(Vec::new(), |s| s.to_vec()),
            corr_id: self.corr_id.to_vec(),
            entity_id: self.entity_id.to_vec(),
            command: self.command.to_vec(),
        }
    }
}

/// The unauthorized part of a transmission to send, and the bytes to authorize
/// (`encodeTransmissionForAuth`).
///
/// ```text
/// for-auth = short-bytes(session id) corr-id entity-id command
/// to-send  = for-auth                ; explicit session id
///          / corr-id entity-id command ; implied session id
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForAuth {
    bytes: Vec<u8>,
    send_from: usize,
}

impl ForAuth {
    /// Encodes the parts. Ids longer than 255 bytes are not valid (their length byte would wrap).
    pub fn new(
        params: &TransmissionParams<'_>,
        corr_id: &[u8],
        entity_id: &[u8],
        command: &[u8],
    ) -> Self {
        let mut bytes = Vec::with_capacity(
            3 + params.session_id.len() + corr_id.len() + entity_id.len() + command.len(),
        );
        put_short(&mut bytes, params.session_id);
        let send_from = if params.implied_session_id {
            bytes.len()
        } else {
            0
        };
        put_short(&mut bytes, corr_id);
        put_short(&mut bytes, entity_id);
        bytes.extend_from_slice(command);
        Self { bytes, send_from }
    }

    /// The bytes to sign or authenticate.
    pub fn for_auth(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes to send after the authorization.
    pub fn to_send(&self) -> &[u8] {
        &self.bytes[self.send_from..]
    }

    /// Appends the whole transmission (`tEncode`): the authorization and then [`ForAuth::to_send`].
    pub fn encode(
        &self,
        service_auth: bool,
        auth: Option<&TransmissionAuth>,
        service_sig: Option<&[u8; 64]>,
        out: &mut Vec<u8>,
    ) {
        encode_auth(
            service_auth,
            auth.map(TransmissionAuth::as_bytes),
            service_sig.map(|s| &s[..]),
            out,
        );
        out.extend_from_slice(self.to_send());
    }
}

/// Appends the authorization part (`tEncodeAuth`): `0x00` when unauthorized (and then no service
/// signature field); otherwise the authorization as short bytes and, with service auth, the
/// optional service signature.
pub fn encode_auth(
    service_auth: bool,
    auth: Option<&[u8]>,
    service_sig: Option<&[u8]>,
    out: &mut Vec<u8>,
) {
    match auth {
        None | Some([]) => out.push(0),
        Some(a) => {
            put_short(out, a);
            if service_auth {
                match service_sig {
                    None | Some([]) => out.push(b'0'),
                    Some(s) => {
                        out.push(b'1');
                        put_short(out, s);
                    }
                }
            }
        }
    }
}

/// An owned transmission, the JSON form of the `transmission` vectors.
///
/// ```text
/// JSON: {"auth": HEX, "corr_id": HEX, "entity_id": HEX, "command": HEX}
///       (+ "service_signature": HEX when present)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Transmission {
    /// Authorization bytes (empty when unauthorized).
    #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
    pub auth: Vec<u8>,
    /// Service signature (empty when absent).
    #[cfg_attr(
        feature = "serde",
        serde(
            default,
            skip_serializing_if = "Vec::is_empty",
            with = "crate::json::hex_bytes"
        )
    )]
    pub service_signature: Vec<u8>,
    /// Correlation id.
    #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
    pub corr_id: Vec<u8>,
    /// Entity id.
    #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
    pub entity_id: Vec<u8>,
    /// Command bytes.
    #[cfg_attr(feature = "serde", serde(with = "crate::json::hex_bytes"))]
    pub command: Vec<u8>,
}

impl Transmission {
    /// Decodes and applies the receiving server's checks ([`RawTransmission::check`]).
    ///
    /// # Errors
    /// As [`RawTransmission::decode`]; a foreign session id is `BadValue` at its offset, a bad
    /// authorization length `BadLength` at offset 1.
    pub fn decode(bytes: &[u8], params: &TransmissionParams<'_>) -> DecodeResult<Self> {
        let raw = RawTransmission::decode(bytes, params)?;
        if let Some(sid) = raw.session_id {
            if sid != params.session_id {
                let at = raw.sent.as_ptr() as usize - bytes.as_ptr() as usize;
                return Err(DecodeError::new(
                    DecodeErrorKind::BadValue,
                    at,
                    "this session's id",
                ));
            }
        }
        raw.authorization()?;
        Ok(raw.to_owned())
    }

    /// Appends the wire form (`tEncode` of `encodeTransmission`).
    pub fn encode(&self, params: &TransmissionParams<'_>, out: &mut Vec<u8>) {
        encode_auth(
            params.service_auth,
            Some(&self.auth),
            Some(&self.service_signature),
            out,
        );
        if !params.implied_session_id {
            put_short(out, params.session_id);
        }
        put_short(out, &self.corr_id);
        put_short(out, &self.entity_id);
        out.extend_from_slice(&self.command);
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Transmission {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let auth_len = *u.choose(&[0usize, 64, 80, 114])?;
        let auth = u.bytes(auth_len)?.to_vec();
        let service_signature = if auth_len > 0 && bool::arbitrary(u)? {
            u.bytes(64)?.to_vec()
        } else {
            Vec::new()
        };
        let n = u.int_in_range(0..=255usize)?;
        let corr_id = u.bytes(n)?.to_vec();
        let n = u.int_in_range(0..=255usize)?;
        let entity_id = u.bytes(n)?.to_vec();
        let command = Vec::<u8>::arbitrary(u)?;
        Ok(Self {
            auth,
            service_signature,
            corr_id,
            entity_id,
            command,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const SID: &str = "aa79a4e0899ca8c05f7de1c5f727f2bae1dca5688b53de5fdd31133b5964e81b";

    fn params(sid: &[u8], implied: bool) -> TransmissionParams<'_> {
        TransmissionParams {
            session_id: sid,
            implied_session_id: implied,
            service_auth: false,
        }
    }

    #[test]
    fn decode_tchk_with_authenticator() {
        // transmission/TCHK/x25519/implied/4
        let auth = "f9e041055475acabd42fe6868046e83e11086aa66399ec96d245e527e9f19378eaa833ac5d4d79547cb6416efee2cbed9c940d0720f949d6e5ea15eab54a91662e293cb6c114096e8f59c3de01331a8b";
        let corr = "1dd22c98f5a9b08ef8aad9c3304d1dcc68cf923b21c2a3a3";
        let ent = "377acc3261f8e4ec465a00b59f59fc30ed2c4375a9d75d3d";
        let wire = h(&alloc::format!("50{auth}18{corr}18{ent}5443484b"));
        let sid = h(SID);
        let p = params(&sid, true);
        let raw = RawTransmission::decode(&wire, &p).unwrap();
        assert_eq!(raw.authorization, &h(auth)[..]);
        assert_eq!(raw.corr_id, &h(corr)[..]);
        assert_eq!(raw.entity_id, &h(ent)[..]);
        assert_eq!(raw.command, b"TCHK");
        assert!(matches!(
            raw.check(&p),
            Ok(Some(TransmissionAuth::Authenticator(_)))
        ));
        let mut authorized = alloc::vec![32u8];
        authorized.extend_from_slice(&sid);
        authorized.extend_from_slice(&wire[81..]);
        assert_eq!(raw.authorized(), authorized);
        let t = Transmission::decode(&wire, &p).unwrap();
        let mut enc = Vec::new();
        t.encode(&p, &mut enc);
        assert_eq!(enc, wire);
        let fa = ForAuth::new(&p, &t.corr_id, &t.entity_id, &t.command);
        assert_eq!(fa.for_auth(), &authorized[..]);
        let mut enc2 = Vec::new();
        fa.encode(
            false,
            TransmissionAuth::from_bytes(&t.auth).as_ref(),
            None,
            &mut enc2,
        );
        assert_eq!(enc2, wire);
    }

    #[test]
    fn decode_unauthorized_ping() {
        // transmission/PING/none/implied/5
        let wire = h("001863a8463072e00567e5b4dcb46dbbb4a576d3438b0303eef90050494e47");
        let sid = h(SID);
        let p = params(&sid, true);
        let t = Transmission::decode(&wire, &p).unwrap();
        assert!(t.auth.is_empty() && t.entity_id.is_empty());
        assert_eq!(t.command, b"PING");
        assert_eq!(
            RawTransmission::decode(&wire, &p).unwrap().check(&p),
            Ok(None)
        );
        // unauthorized transmissions have no service signature field even with service auth
        let ps = TransmissionParams {
            service_auth: true,
            ..p
        };
        assert_eq!(Transmission::decode(&wire, &ps).unwrap(), t);
        let mut enc = Vec::new();
        t.encode(&ps, &mut enc);
        assert_eq!(enc, wire);
    }

    #[test]
    fn decode_explicit_session_empty_fields() {
        // transmission/empty_corr_entity_command/explicit
        let wire = h(&alloc::format!("0020{SID}0000"));
        let sid = h(SID);
        let p = params(&sid, false);
        let raw = RawTransmission::decode(&wire, &p).unwrap();
        assert_eq!(raw.session_id, Some(&sid[..]));
        assert_eq!(raw.authorized(), &wire[1..]);
        let t = raw.to_owned();
        assert_eq!(t, Transmission::default());
        let mut enc = Vec::new();
        t.encode(&p, &mut enc);
        assert_eq!(enc, wire);
        let other = [1u8; 32];
        let p2 = params(&other, false);
        let raw = RawTransmission::decode(&wire, &p2).unwrap();
        assert_eq!(raw.check(&p2), Err(TransportError::Session));
        assert_eq!(raw.check_client(&p2), Err(TransportError::Session));
        let e = Transmission::decode(&wire, &p2).unwrap_err();
        assert_eq!((e.kind, e.offset), (DecodeErrorKind::BadValue, 1));
    }

    #[test]
    fn rejects_truncated_and_empty() {
        let sid = h(SID);
        let p = params(&sid, true);
        // transmission/TNEW/ed25519/implied/1/trunc_41
        let wire = h(
            "40dd1bdf8c2b2d52c7735437a54e0a5f1ecfb1972ac6f6bbe05d635b19d1ef8dfd9f06efe766b148c5",
        );
        assert_eq!(
            Transmission::decode(&wire, &p).unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        // transmission/invalid/empty/explicit
        assert_eq!(
            Transmission::decode(&[], &params(&sid, false))
                .unwrap_err()
                .kind,
            DecodeErrorKind::Truncated
        );
    }

    #[test]
    fn rejects_bad_authorization_length() {
        let sid = h(SID);
        let p = params(&sid, true);
        let mut wire = alloc::vec![10u8];
        wire.extend_from_slice(&[7; 10]);
        wire.extend_from_slice(b"\x01c\x00PING");
        let raw = RawTransmission::decode(&wire, &p).unwrap();
        assert_eq!(raw.check(&p), Err(TransportError::Block));
        assert_eq!(
            Transmission::decode(&wire, &p).unwrap_err().kind,
            DecodeErrorKind::BadLength
        );
    }

    #[test]
    fn service_signature_field() {
        let sid = h(SID);
        let p = TransmissionParams {
            session_id: &sid,
            implied_session_id: true,
            service_auth: true,
        };
        let t = Transmission {
            auth: alloc::vec![1; 64],
            service_signature: alloc::vec![2; 64],
            corr_id: b"c".to_vec(),
            entity_id: b"e".to_vec(),
            command: b"NSUB".to_vec(),
        };
        let mut enc = Vec::new();
        t.encode(&p, &mut enc);
        assert_eq!(enc[65], b'1');
        let raw = RawTransmission::decode(&enc, &p).unwrap();
        assert_eq!(raw.service_signature, Some(&[2; 64]));
        assert_eq!(Transmission::decode(&enc, &p).unwrap(), t);
        // a service signature of another length is rejected
        let mut bad = enc.clone();
        bad[66] = 63;
        assert!(RawTransmission::decode(&bad, &p).is_err());
        // a bad maybe tag is rejected
        bad[65] = b'2';
        assert_eq!(
            RawTransmission::decode(&bad, &p).unwrap_err().kind,
            DecodeErrorKind::BadValue
        );
    }

    #[test]
    fn params_by_version() {
        let s = [0u8; 1];
        assert!(!TransmissionParams::ntf(&s, Version(1)).implied_session_id);
        assert!(TransmissionParams::ntf(&s, Version(2)).implied_session_id);
        let p = TransmissionParams::smp(&s, Version(6));
        assert!(!p.implied_session_id && !p.service_auth);
        let p = TransmissionParams::smp(&s, Version(16));
        assert!(p.implied_session_id && p.service_auth);
    }

    fn arb_transmission() -> impl Strategy<Value = Transmission> {
        (
            prop_oneof![Just(0usize), Just(64), Just(80), Just(114)],
            prop_oneof![Just(false), Just(true)],
            proptest::collection::vec(any::<u8>(), 0..30),
            proptest::collection::vec(any::<u8>(), 0..30),
            proptest::collection::vec(any::<u8>(), 0..100),
            any::<u8>(),
        )
            .prop_map(
                |(alen, sig, corr_id, entity_id, command, fill)| Transmission {
                    auth: alloc::vec![fill; alen],
                    service_signature: if sig && alen > 0 {
                        alloc::vec![fill ^ 1; 64]
                    } else {
                        Vec::new()
                    },
                    corr_id,
                    entity_id,
                    command,
                },
            )
    }

    proptest! {
        #[test]
        fn transmission_round_trip(t in arb_transmission(), implied: bool, service_auth: bool, sid in proptest::collection::vec(any::<u8>(), 0..40)) {
            let p = TransmissionParams { session_id: &sid, implied_session_id: implied, service_auth };
            let mut t = t;
            if !service_auth { t.service_signature.clear(); }
            let mut enc = Vec::new();
            t.encode(&p, &mut enc);
            prop_assert_eq!(Transmission::decode(&enc, &p).unwrap(), t.clone());
            let raw = RawTransmission::decode(&enc, &p).unwrap();
            let fa = ForAuth::new(&p, &t.corr_id, &t.entity_id, &t.command);
            prop_assert_eq!(raw.authorized(), fa.for_auth().to_vec());
        }

        #[test]
        fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200), implied: bool, service_auth: bool) {
            let sid = [1u8; 4];
            let p = TransmissionParams { session_id: &sid, implied_session_id: implied, service_auth };
            let _ = Transmission::decode(&b, &p);
        }
    }
}
