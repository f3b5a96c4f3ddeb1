//! Realistic protocol values for the benchmarks, built with the codec crates' own encoders.
//!
//! Sizes follow the reference server's configuration: 24-byte entity and notifier ids
//! (`subIdBytes`), 32-byte verification codes (`regCodeBytes`), 24-byte correlation ids, a
//! 32-byte TLS session id, `NMSG` metadata encrypted and padded to 128 bytes (144 on the wire),
//! push payloads padded to 3072 bytes (`paddedNtfLength`). Keys are real Ed25519/X25519 keys
//! derived from fixed seeds, so every signature and authenticator verifies.
//!
//! Byte strings are derived from labels with SHA-256 ([`bytes`]): deterministic, but with the
//! entropy of random ids.

use smp_proto::block::{Block, BATCH_RESERVED, MAX_BATCH, NTF_BLOCK_SIZE, SMP_BLOCK_SIZE};
use smp_proto::broker::BrokerMsg;
use smp_proto::coding::Encode;
use smp_proto::command::SmpCommand;
use smp_proto::crypto::{
    cb_authenticate, cb_nonce, crypto_box_padded, dh, ed25519_public, sha256, sign_ed25519,
    x25519_public, CryptoError, Signature, TransmissionAuth,
};
use smp_proto::error_type::ErrorType;
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey, X25519PublicKey};
use smp_proto::message::NMsgMeta;
use smp_proto::server::{KeyHash, SmpServer, TransportHost};
use smp_proto::transmission::{ForAuth, TransmissionParams};
use smp_proto::version::{smp, Version};

use ntf_proto::command::{NewNtfSubscription, NewNtfToken, NtfCommand, NtfEntityId};
use ntf_proto::push::{PnMessageData, PnMessages};
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::response::NtfResponse;
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtfRegCode, NtfTknStatus, PushProvider};

/// NTF version of the benchmarks (the current one: implied session id, batched blocks).
pub const NTF_V: Version = ntf_proto::version::CURRENT;
/// SMP version of the benchmarks (the current one).
pub const SMP_V: Version = smp::CURRENT;
/// Padded length of the push payload plaintext (the reference's `paddedNtfLength`).
pub const PUSH_PADDED_LEN: usize = 3072;
/// Padded length of the `NMSG` metadata plaintext (the reference pads `NMsgMeta` to 128).
pub const NMSG_META_PADDED_LEN: usize = 128;
/// Messages in the push payload fixture.
pub const PUSH_MESSAGES: usize = 6;

/// `N` deterministic bytes derived from `label` (SHA-256 in counter mode).
pub fn bytes<const N: usize>(label: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let mut input = Vec::with_capacity(label.len() + 8);
        input.extend_from_slice(label.as_bytes());
        input.extend_from_slice(&(i as u64).to_be_bytes());
        let h = sha256(&input);
        chunk.copy_from_slice(&h[..chunk.len()]);
    }
    out
}

/// Lower-case hex text of `b` (an APNS device token is sent as such text).
pub fn hex_text(b: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    b.iter()
        .flat_map(|x| [DIGITS[usize::from(x >> 4)], DIGITS[usize::from(x & 15)]])
        .collect()
}

/// A failure to build a fixture: a value the codecs' constructors refused, or a crypto error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixtureError {
    /// A constructor returned `None` for the named value.
    Invalid(&'static str),
    /// Encryption failed (the plaintext did not fit the padded length).
    Crypto(CryptoError),
    /// The SMP block could not hold a single `NMSG` transmission.
    Empty,
}

impl core::fmt::Display for FixtureError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Invalid(what) => write!(f, "invalid fixture value: {what}"),
            Self::Crypto(e) => write!(f, "fixture crypto: {e}"),
            Self::Empty => f.write_str("no transmission fits the block"),
        }
    }
}

impl std::error::Error for FixtureError {}

impl From<CryptoError> for FixtureError {
    fn from(e: CryptoError) -> Self {
        Self::Crypto(e)
    }
}

fn some<T>(v: Option<T>, what: &'static str) -> Result<T, FixtureError> {
    v.ok_or(FixtureError::Invalid(what))
}

/// An X25519 key pair.
#[derive(Clone, Copy, Debug)]
pub struct X25519Pair {
    /// Private scalar.
    pub private: [u8; 32],
    /// Public key.
    pub public: [u8; 32],
}

impl X25519Pair {
    /// The pair of a private scalar derived from `label`.
    pub fn new(label: &str) -> Self {
        let private = bytes::<32>(label);
        Self {
            private,
            public: x25519_public(&private),
        }
    }
}

/// An Ed25519 key pair.
#[derive(Clone, Copy, Debug)]
pub struct Ed25519Pair {
    /// Seed (the private key).
    pub seed: [u8; 32],
    /// Public key.
    pub public: [u8; 32],
}

impl Ed25519Pair {
    /// The pair of a seed derived from `label`.
    pub fn new(label: &str) -> Self {
        let seed = bytes::<32>(label);
        Self {
            seed,
            public: ed25519_public(&seed),
        }
    }
}

/// A preset-style SMP relay address: domain and onion host, port 443, a 32-byte key hash.
///
/// # Errors
/// [`FixtureError::Invalid`] if the address constructor refuses it (it does not).
pub fn smp_server(n: u32) -> Result<SmpServer, FixtureError> {
    // a v3 onion name has 56 chars
    let onion = hex_text(&bytes::<28>(&format!("onion {n}")));
    let onion = format!("{}.onion", String::from_utf8_lossy(&onion));
    some(
        SmpServer::new(
            vec![
                TransportHost::Domain(format!("smp{n}.simplex.im")),
                TransportHost::Onion(onion),
            ],
            "443",
            KeyHash::from(bytes::<32>(&format!("smp{n} identity"))),
        ),
        "SMP server",
    )
}

/// An APNS device token: the 64 lower-case hex chars of a 32-byte token.
///
/// # Errors
/// [`FixtureError::Invalid`] if the token constructor refuses it (it does not).
pub fn apns_token(label: &str) -> Result<DeviceToken, FixtureError> {
    some(
        DeviceToken::new(PushProvider::ApnsProd, hex_text(&bytes::<32>(label))),
        "APNS token",
    )
}

/// A notification server session: the parameters both sides use and the keys involved.
#[derive(Clone, Debug)]
pub struct Fixtures {
    /// TLS channel binding (32 bytes).
    pub session_id: [u8; 32],
    /// The token's Ed25519 key, which signs token and subscription commands.
    pub token_key: Ed25519Pair,
    /// A client's X25519 verify key (commands authorized with an authenticator instead).
    pub client_auth_key: X25519Pair,
    /// The server's X25519 session key (the authenticator's other half).
    pub server_session_key: X25519Pair,
    /// The client's X25519 key of the token (for the push payload secret).
    pub client_dh_key: X25519Pair,
    /// The server's X25519 key of the token.
    pub server_dh_key: X25519Pair,
    /// The SMP relay of the subscriptions.
    pub smp_server: SmpServer,
    /// The SMP queue of the `SNEW` fixture.
    pub queue: SmpQueueNtf,
    /// The registered APNS token.
    pub apns_token: DeviceToken,
    /// Every NTF command, named by its tag.
    pub commands: Vec<(&'static str, NtfCommand)>,
    /// Every NTF response, named by its tag.
    pub responses: Vec<(&'static str, NtfResponse)>,
    /// `NKEY`, the only SMP command with fields.
    pub nkey: SmpCommand,
    /// SMP server messages `NID` and `NMSG`, named by their tags.
    pub broker_msgs: Vec<(&'static str, BrokerMsg)>,
    /// A signed (Ed25519) `SNEW` transmission.
    pub ed25519_transmission: Vec<u8>,
    /// An `SNEW` transmission with an X25519 authenticator.
    pub x25519_transmission: Vec<u8>,
    /// The bytes both authorizations cover (implied session id, then the transmission).
    pub authorized: Vec<u8>,
    /// The correlation id of both transmissions.
    pub corr_id: [u8; 24],
    /// A 512-byte NTF block with a batch of [`Fixtures::ntf_block_count`] transmissions.
    pub ntf_block: Vec<u8>,
    /// Transmissions in [`Fixtures::ntf_block`].
    pub ntf_block_count: usize,
    /// A 16384-byte SMP block with as many `NMSG` transmissions as fit.
    pub smp_block: Vec<u8>,
    /// Transmissions in [`Fixtures::smp_block`].
    pub smp_block_count: usize,
    /// The push payload fixture: six message notifications.
    pub pn_messages: PnMessages,
    /// The token's DH secret (push payload encryption key).
    pub push_secret: [u8; 32],
    /// The push payload nonce.
    pub push_nonce: [u8; 24],
}

impl Fixtures {
    /// NTF transmission parameters of this session.
    pub fn ntf_params(&self) -> TransmissionParams<'_> {
        TransmissionParams::ntf(&self.session_id, NTF_V)
    }

    /// SMP transmission parameters of a session with the same id.
    pub fn smp_params(&self) -> TransmissionParams<'_> {
        TransmissionParams::smp(&self.session_id, SMP_V)
    }

    /// Builds every fixture.
    ///
    /// # Errors
    /// A [`FixtureError`] if a constructor or the crypto refuses a value (never with these
    /// values; the tests build them).
    pub fn new() -> Result<Self, FixtureError> {
        let session_id = bytes::<32>("tls-unique");
        let token_key = Ed25519Pair::new("token verify key");
        let client_auth_key = X25519Pair::new("client x25519 verify key");
        let server_session_key = X25519Pair::new("server session key");
        let client_dh_key = X25519Pair::new("client dh key");
        let server_dh_key = X25519Pair::new("server dh key");
        let smp_server = smp_server(8)?;
        let queue = some(
            SmpQueueNtf::new(smp_server.clone(), bytes::<24>("notifier id").to_vec()),
            "queue",
        )?;
        let apns = apns_token("apns token")?;
        let token_id = some(
            NtfEntityId::new(bytes::<24>("token id").to_vec()),
            "token id",
        )?;
        let sub_id = some(NtfEntityId::new(bytes::<24>("sub id").to_vec()), "sub id")?;
        let verify_key = some(
            AuthPublicKey::new(PublicKey::Ed25519(token_key.public)),
            "verify key",
        )?;
        let notifier_key = some(
            AuthPrivateKey::new(PrivateKey::Ed25519(bytes::<32>("notifier key"))),
            "notifier key",
        )?;
        let commands = vec![
            (
                "TNEW",
                NtfCommand::Tnew(NewNtfToken {
                    token: apns.clone(),
                    verify_key,
                    dh_key: X25519PublicKey(client_dh_key.public),
                }),
            ),
            (
                "TVFY",
                NtfCommand::Tvfy(some(
                    NtfRegCode::new(bytes::<32>("reg code").to_vec()),
                    "reg code",
                )?),
            ),
            ("TCHK", NtfCommand::Tchk),
            ("TRPL", NtfCommand::Trpl(apns_token("new apns token")?)),
            ("TDEL", NtfCommand::Tdel),
            ("TCRN", NtfCommand::Tcrn(20)),
            (
                "SNEW",
                NtfCommand::Snew(NewNtfSubscription {
                    token_id: token_id.clone(),
                    queue: queue.clone(),
                    notifier_key,
                }),
            ),
            ("SCHK", NtfCommand::Schk),
            ("SDEL", NtfCommand::Sdel),
            ("PING", NtfCommand::Ping),
        ];
        let responses = vec![
            (
                "IDTKN",
                NtfResponse::IdTkn {
                    id: token_id.clone(),
                    dh_key: X25519PublicKey(server_dh_key.public),
                },
            ),
            ("IDSUB", NtfResponse::IdSub(sub_id.clone())),
            ("OK", NtfResponse::Ok),
            ("ERR", NtfResponse::Err(ErrorType::Auth)),
            ("TKN", NtfResponse::Tkn(NtfTknStatus::Active)),
            ("SUB", NtfResponse::Sub(NtfSubStatus::Active)),
            ("PONG", NtfResponse::Pong),
        ];
        let nkey = SmpCommand::Nkey {
            notifier_key: some(
                AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&bytes::<32>(
                    "notifier key",
                )))),
                "NKEY key",
            )?,
            dh_key: X25519PublicKey(X25519Pair::new("recipient ntf dh key").public),
        };
        let broker_msgs = vec![
            (
                "NID",
                BrokerMsg::Nid {
                    notifier_id: bytes::<24>("notifier id").to_vec(),
                    dh_key: X25519PublicKey(X25519Pair::new("relay ntf dh key").public),
                },
            ),
            ("NMSG", nmsg(0)?),
        ];

        // SNEW, authorized two ways over the same bytes
        let mut fx = Self {
            session_id,
            token_key,
            client_auth_key,
            server_session_key,
            client_dh_key,
            server_dh_key,
            smp_server,
            queue,
            apns_token: apns,
            commands,
            responses,
            nkey,
            broker_msgs,
            ed25519_transmission: Vec::new(),
            x25519_transmission: Vec::new(),
            authorized: Vec::new(),
            corr_id: bytes::<24>("corr id"),
            ntf_block: Vec::new(),
            ntf_block_count: 0,
            smp_block: Vec::new(),
            smp_block_count: 0,
            pn_messages: pn_messages()?,
            push_secret: dh(&client_dh_key.public, &server_dh_key.private),
            push_nonce: bytes::<24>("push nonce"),
        };
        let snew = fx
            .command("SNEW")
            .map(|c| c.to_bytes(NTF_V))
            .unwrap_or_default();
        let fa = ForAuth::new(&fx.ntf_params(), &fx.corr_id, token_id.as_bytes(), &snew);
        fx.authorized = fa.for_auth().to_vec();
        fx.ed25519_transmission = fx.signed(&fa);
        let auth = TransmissionAuth::Authenticator(cb_authenticate(
            &fx.server_session_key.public,
            &fx.client_auth_key.private,
            &cb_nonce(&fx.corr_id),
            fa.for_auth(),
        ));
        fa.encode(false, Some(&auth), None, &mut fx.x25519_transmission);

        // a client's batch: check the token and two subscriptions, delete one, keep alive
        let params = fx.ntf_params();
        let mut batch = Vec::new();
        for (i, (tag, entity)) in [
            ("TCHK", token_id.as_bytes()),
            ("SCHK", sub_id.as_bytes()),
            ("SDEL", sub_id.as_bytes()),
        ]
        .into_iter()
        .enumerate()
        {
            let cmd = fx
                .command(tag)
                .map(|c| c.to_bytes(NTF_V))
                .unwrap_or_default();
            let corr = bytes::<24>(&format!("batch corr {i}"));
            batch.push(fx.signed(&ForAuth::new(&params, &corr, entity, &cmd)));
        }
        let ping = ForAuth::new(&params, &bytes::<24>("ping corr"), b"", b"PING");
        let mut t = Vec::new();
        ping.encode(false, None, None, &mut t);
        batch.push(t);
        fx.ntf_block_count = batch.len();
        fx.ntf_block = Block {
            transmissions: batch,
        }
        .encode(NTF_BLOCK_SIZE, true)
        .map_err(|_| FixtureError::Invalid("NTF block"))?;

        let (block, count) = smp_nmsg_block(&fx.smp_params())?;
        fx.smp_block = block;
        fx.smp_block_count = count;
        Ok(fx)
    }

    /// The command fixture with this tag.
    pub fn command(&self, tag: &str) -> Option<&NtfCommand> {
        self.commands
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, c)| c)
    }

    /// A transmission signed with the token's Ed25519 key.
    fn signed(&self, fa: &ForAuth) -> Vec<u8> {
        let sig = sign_ed25519(&self.token_key.seed, fa.for_auth());
        let mut t = Vec::new();
        fa.encode(
            false,
            Some(&TransmissionAuth::Signature(Signature::Ed25519(sig))),
            None,
            &mut t,
        );
        t
    }
}

/// The `n`-th `NMSG` as a relay sends it: a fresh nonce and the message metadata (24-byte id,
/// timestamp) encrypted and padded to 128 bytes with the queue's notification DH secret.
///
/// # Errors
/// [`FixtureError::Crypto`] if the metadata does not fit (it does).
pub fn nmsg(n: usize) -> Result<BrokerMsg, FixtureError> {
    let nonce = bytes::<24>(&format!("nmsg nonce {n}"));
    let meta = NMsgMeta {
        msg_id: bytes::<24>(&format!("msg id {n}")).to_vec(),
        msg_ts: 1_750_000_000 + n as i64,
    };
    let secret = dh(
        &X25519Pair::new("recipient ntf dh key").public,
        &X25519Pair::new("relay ntf dh key").private,
    );
    let enc_meta = crypto_box_padded(&secret, &nonce, &meta.to_bytes(), NMSG_META_PADDED_LEN)?;
    Ok(BrokerMsg::Nmsg { nonce, enc_meta })
}

/// A 16384-byte SMP block packed with `NMSG` transmissions (unauthorized, empty correlation
/// id, each for another 24-byte notifier id) as a relay sends them to a notification server,
/// and the number of transmissions: as many as fit the batch (`16384 - 19` bytes, at most 255).
///
/// # Errors
/// [`FixtureError`] if the messages cannot be built or none fits.
pub fn smp_nmsg_block(params: &TransmissionParams<'_>) -> Result<(Vec<u8>, usize), FixtureError> {
    let limit = SMP_BLOCK_SIZE - BATCH_RESERVED;
    let mut ts: Vec<Vec<u8>> = Vec::new();
    let mut used = 0;
    while ts.len() < MAX_BATCH {
        let n = ts.len();
        let cmd = nmsg(n)?.to_vec(SMP_V);
        let fa = ForAuth::new(params, b"", &bytes::<24>(&format!("notifier {n}")), &cmd);
        let mut t = Vec::new();
        fa.encode(params.service_auth, None, None, &mut t);
        if used + t.len() + 2 > limit {
            break;
        }
        used += t.len() + 2;
        ts.push(t);
    }
    if ts.is_empty() {
        return Err(FixtureError::Empty);
    }
    let count = ts.len();
    let block = Block { transmissions: ts }
        .encode(SMP_BLOCK_SIZE, true)
        .map_err(|_| FixtureError::Invalid("SMP block"))?;
    Ok((block, count))
}

/// Six message notifications from two relays, as a push payload carries them.
///
/// # Errors
/// [`FixtureError`] if a value is refused (none is).
pub fn pn_messages() -> Result<PnMessages, FixtureError> {
    let servers = [smp_server(8)?, smp_server(10)?];
    let mut v = Vec::with_capacity(PUSH_MESSAGES);
    for i in 0..PUSH_MESSAGES {
        let queue = some(
            SmpQueueNtf::new(
                servers[i % 2].clone(),
                bytes::<24>(&format!("pn notifier {i}")).to_vec(),
            ),
            "push queue",
        )?;
        let BrokerMsg::Nmsg { nonce, enc_meta } = nmsg(100 + i)? else {
            return Err(FixtureError::Invalid("NMSG"));
        };
        v.push(some(
            PnMessageData::new(queue, 1_750_000_000 + i as i64, nonce, enc_meta),
            "push message",
        )?);
    }
    some(PnMessages::new(v), "push messages")
}

#[cfg(test)]
mod tests {
    use super::*;
    use smp_proto::block::decode_block;
    use smp_proto::coding::Decode;
    use smp_proto::crypto::{crypto_box_open_padded, verify_ed25519};
    use smp_proto::transmission::RawTransmission;

    fn fx() -> Fixtures {
        Fixtures::new().expect("fixtures build")
    }

    #[test]
    fn bytes_are_deterministic_and_label_dependent() {
        assert_eq!(bytes::<40>("a"), bytes::<40>("a"));
        assert_ne!(bytes::<40>("a"), bytes::<40>("b"));
        assert_ne!(bytes::<40>("a")[..32], bytes::<40>("a")[8..40]);
    }

    #[test]
    fn apns_token_is_64_hex_chars() {
        let t = apns_token("x").unwrap();
        assert_eq!(t.apns_token().unwrap().len(), 64);
        assert!(t
            .apns_token().unwrap()
            .iter()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(DeviceToken::from_text(&t.to_text()).unwrap(), t);
    }

    #[test]
    fn every_command_and_response_round_trips() {
        let f = fx();
        assert_eq!(f.commands.len(), 10);
        assert_eq!(f.responses.len(), 7);
        for (tag, c) in &f.commands {
            let b = c.to_bytes(NTF_V);
            assert!(b.starts_with(tag.as_bytes()), "{tag}");
            assert_eq!(&NtfCommand::decode(&b, NTF_V).unwrap(), c, "{tag}");
        }
        for (tag, r) in &f.responses {
            let b = r.to_bytes(NTF_V);
            assert!(b.starts_with(tag.as_bytes()), "{tag}");
            assert_eq!(&NtfResponse::decode(&b, NTF_V).unwrap(), r, "{tag}");
        }
        let b = f.nkey.to_vec(SMP_V);
        assert_eq!(SmpCommand::decode(&b, SMP_V).unwrap(), f.nkey);
        for (tag, m) in &f.broker_msgs {
            let b = m.to_vec(SMP_V);
            assert!(b.starts_with(tag.as_bytes()));
            assert_eq!(&BrokerMsg::decode(&b, SMP_V).unwrap(), m);
        }
    }

    #[test]
    fn nmsg_metadata_is_144_bytes_and_decrypts() {
        let BrokerMsg::Nmsg { nonce, enc_meta } = nmsg(3).unwrap() else {
            panic!("not NMSG")
        };
        assert_eq!(enc_meta.len(), NMSG_META_PADDED_LEN + 16);
        let secret = dh(
            &X25519Pair::new("relay ntf dh key").public,
            &X25519Pair::new("recipient ntf dh key").private,
        );
        let meta = crypto_box_open_padded(&secret, &nonce, &enc_meta).unwrap();
        let meta = NMsgMeta::parse(&meta).unwrap();
        assert_eq!(meta.msg_ts, 1_750_000_003);
        assert_eq!(meta.msg_id.len(), 24);
    }

    #[test]
    fn signed_transmission_covers_the_authorized_bytes() {
        let f = fx();
        let p = f.ntf_params();
        let raw = RawTransmission::decode(&f.ed25519_transmission, &p).unwrap();
        assert_eq!(raw.authorized(), f.authorized);
        assert_eq!(raw.corr_id, f.corr_id);
        let sig: [u8; 64] = raw.authorization.try_into().unwrap();
        assert!(verify_ed25519(&f.token_key.public, &sig, &f.authorized));
        let raw_x = RawTransmission::decode(&f.x25519_transmission, &p).unwrap();
        assert_eq!(raw_x.authorization.len(), 80);
        assert_eq!(raw_x.authorized(), f.authorized);
    }

    #[test]
    fn blocks_have_the_block_size_and_the_counted_transmissions() {
        let f = fx();
        assert_eq!(f.ntf_block.len(), NTF_BLOCK_SIZE);
        assert_eq!(f.ntf_block_count, 4);
        assert_eq!(
            decode_block(&f.ntf_block, NTF_BLOCK_SIZE, true)
                .unwrap()
                .len(),
            f.ntf_block_count
        );
        assert_eq!(f.smp_block.len(), SMP_BLOCK_SIZE);
        let ts: Vec<&[u8]> = decode_block(&f.smp_block, SMP_BLOCK_SIZE, true)
            .unwrap()
            .collect();
        assert_eq!(ts.len(), f.smp_block_count);
        // packed: one more transmission of the same size would not fit
        let used: usize = ts.iter().map(|t| t.len() + 2).sum();
        assert!(used + ts[0].len() + 2 > SMP_BLOCK_SIZE - BATCH_RESERVED);
        assert!(f.smp_block_count > 50, "{}", f.smp_block_count);
    }

    #[test]
    fn push_payload_fits_the_padded_length() {
        let f = fx();
        let text = f.pn_messages.to_bytes();
        assert_eq!(f.pn_messages.messages().len(), PUSH_MESSAGES);
        assert!(text.len() > PUSH_PADDED_LEN / 2 && text.len() + 2 <= PUSH_PADDED_LEN);
        assert_eq!(PnMessages::decode(&text).unwrap(), f.pn_messages);
        let ct = crypto_box_padded(&f.push_secret, &f.push_nonce, &text, PUSH_PADDED_LEN).unwrap();
        let secret = dh(&f.server_dh_key.public, &f.client_dh_key.private);
        assert_eq!(
            crypto_box_open_padded(&secret, &f.push_nonce, &ct).unwrap(),
            text
        );
    }

    #[test]
    fn smp_server_text_round_trips() {
        let s = smp_server(8).unwrap();
        assert_eq!(SmpServer::parse_text(&s.to_text()).unwrap(), s);
        assert_eq!(SmpServer::decode_exact(&s.to_bytes()).unwrap(), s);
    }
}
