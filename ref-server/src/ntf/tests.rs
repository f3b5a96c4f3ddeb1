//! Core tests on a seeded RNG and a simulated clock. Client transmissions are built with the
//! real codecs and real Ed25519 signatures / X25519 authenticators, and responses are decoded
//! from their bytes, so every test runs the byte path end to end. The cases follow the
//! reference's `tests/NtfServerTests.hs` and the rules of `Notifications/Server.hs`.

use std::vec;
use std::vec::Vec;

use ntf_proto::command::{NewNtfSubscription, NewNtfToken, NtfCommand, NtfEntityId};
use ntf_proto::push::PnMessageData;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::response::NtfResponse;
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtInvalidReason, NtfRegCode, NtfTknStatus, PushProvider};
use ntf_proto::version::Version;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use smp_proto::crypto::{
    cb_authenticate, cb_nonce, dh, ed25519_public, sign_ed25519, x25519_public, Signature,
    TransmissionAuth,
};
use smp_proto::error_type::{CommandError, ErrorType};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey, X25519PublicKey};
use smp_proto::server::{KeyHash, SmpServer, TransportHost};
use smp_proto::transmission::{ForAuth, RawTransmission};

use super::preverify::{preverify, Preverified};
use super::core::{
    Config, Effect, NtfServerCore, Output, PushKind, PushNotification, PushOutcome, SessionParams,
    SmpEvent, SmpSubError,
};
use super::store::{
    MemStore, ServerService, Store, StoreError, StoreResult, SubscriptionRecord, TokenRecord, DAY_SECONDS,
};

const T0: i64 = 1_700_000_000;
const CURRENT: Version = Version(3);
const SERVER_PRIVATE: [u8; 32] = [0x42; 32];

type Core = NtfServerCore<MemStore, ChaCha20Rng>;

fn core() -> Core {
    core_with(Config::default())
}

fn core_with(config: Config) -> Core {
    NtfServerCore::new(config, MemStore::new(), ChaCha20Rng::seed_from_u64(7), T0)
}

fn session(v: Version) -> SessionParams {
    let private = (v >= Version(2)).then_some(SERVER_PRIVATE);
    SessionParams::new(v, vec![0x5a; 32], private)
}

/// A client key: its own seed, for signatures or authenticators.
#[derive(Clone, Copy)]
enum Key {
    Ed25519([u8; 32]),
    X25519([u8; 32]),
}

impl Key {
    fn public(&self) -> AuthPublicKey {
        let k = match self {
            Key::Ed25519(s) => PublicKey::Ed25519(ed25519_public(s)),
            Key::X25519(s) => PublicKey::X25519(x25519_public(s)),
        };
        AuthPublicKey::new(k).unwrap()
    }

    fn authorize(&self, corr_id: &[u8], for_auth: &[u8]) -> TransmissionAuth {
        match self {
            Key::Ed25519(s) => {
                TransmissionAuth::Signature(Signature::Ed25519(sign_ed25519(s, for_auth)))
            }
            Key::X25519(s) => TransmissionAuth::Authenticator(cb_authenticate(
                &x25519_public(&SERVER_PRIVATE),
                s,
                &cb_nonce(corr_id),
                for_auth,
            )),
        }
    }
}

fn ed(n: u8) -> Key {
    Key::Ed25519([n; 32])
}

fn notifier_key(n: u8) -> AuthPrivateKey {
    AuthPrivateKey::new(PrivateKey::Ed25519([n; 32])).unwrap()
}

fn device(token: &str) -> DeviceToken {
    DeviceToken::new(PushProvider::ApnsTest, token.as_bytes().to_vec()).unwrap()
}

fn server() -> SmpServer {
    SmpServer::new(
        vec![TransportHost::parse(b"localhost").unwrap()],
        "5001",
        KeyHash::new(vec![9; 32]).unwrap(),
    )
    .unwrap()
}

fn queue(nid: &[u8]) -> SmpQueueNtf {
    SmpQueueNtf::new(server(), nid.to_vec()).unwrap()
}

fn eid(b: &[u8]) -> NtfEntityId {
    NtfEntityId::new(b.to_vec()).unwrap()
}

/// Encodes a client transmission: authorized with `key` when given.
fn transmission(
    p: &SessionParams,
    key: Option<Key>,
    corr: &[u8],
    entity: &[u8],
    cmd: &[u8],
) -> Vec<u8> {
    let fa = ForAuth::new(&p.transmission_params(), corr, entity, cmd);
    let auth = key.map(|k| k.authorize(corr, fa.for_auth()));
    let mut out = Vec::new();
    fa.encode(false, auth.as_ref(), None, &mut out);
    out
}

/// A transmission with raw authorization bytes (e.g. a bogus signature).
fn with_auth_bytes(
    p: &SessionParams,
    auth: &[u8],
    corr: &[u8],
    entity: &[u8],
    cmd: &[u8],
) -> Vec<u8> {
    let fa = ForAuth::new(&p.transmission_params(), corr, entity, cmd);
    let mut out = vec![auth.len() as u8];
    out.extend_from_slice(auth);
    out.extend_from_slice(fa.to_send());
    out
}

/// A decoded response: correlation id, entity id, response.
#[derive(Debug, PartialEq, Eq)]
struct Resp {
    corr: Vec<u8>,
    entity: Vec<u8>,
    resp: NtfResponse,
}

fn decode_response(p: &SessionParams, out: &Output) -> Resp {
    let bytes = out.response.to_bytes(p);
    let tp = p.transmission_params();
    let raw = RawTransmission::decode(&bytes, &tp).expect("response transmission");
    assert!(raw.authorization.is_empty(), "responses are not authorized");
    raw.check_client(&tp).expect("our session id");
    let resp = NtfResponse::decode(raw.command, p.version).expect("response");
    ntf_proto::credentials::check_response(&resp, raw.entity_id).expect("response credentials");
    Resp {
        corr: raw.corr_id.to_vec(),
        entity: raw.entity_id.to_vec(),
        resp,
    }
}

struct Client {
    p: SessionParams,
    key: Key,
    dh_private: [u8; 32],
    device: DeviceToken,
}

impl Client {
    fn new(v: Version, key: Key, device_token: &str) -> Self {
        Self {
            p: session(v),
            key,
            dh_private: [0x33; 32],
            device: device(device_token),
        }
    }

    fn tnew(&self) -> NtfCommand {
        NtfCommand::Tnew(NewNtfToken {
            token: self.device.clone(),
            verify_key: self.key.public(),
            dh_key: X25519PublicKey(x25519_public(&self.dh_private)),
        })
    }

    /// Sends a command signed with the client's key, returns the decoded response and effects.
    fn send(
        &self,
        c: &mut Core,
        now: i64,
        corr: &str,
        entity: &[u8],
        cmd: &NtfCommand,
    ) -> (Resp, Vec<Effect>) {
        self.send_as(c, now, Some(self.key), corr, entity, cmd)
    }

    fn send_as(
        &self,
        c: &mut Core,
        now: i64,
        key: Option<Key>,
        corr: &str,
        entity: &[u8],
        cmd: &NtfCommand,
    ) -> (Resp, Vec<Effect>) {
        let bytes = transmission(
            &self.p,
            key,
            corr.as_bytes(),
            entity,
            &cmd.to_bytes(self.p.version),
        );
        let out = handled_both_ways(c, now, &self.p, &bytes);
        let r = decode_response(&self.p, &out);
        assert_eq!(r.corr, corr.as_bytes(), "correlation id echoed");
        (r, out.effects)
    }

    /// TNEW; returns the token id, the verification code pushed and the DH secret.
    fn register(&self, c: &mut Core) -> (NtfEntityId, NtfRegCode, [u8; 32]) {
        let (r, effects) = self.send(c, T0, "1", b"", &self.tnew());
        let NtfResponse::IdTkn { id, dh_key } = r.resp else {
            panic!("expected IDTKN, got {:?}", r.resp)
        };
        assert!(r.entity.is_empty());
        let code = verification_code(&effects, &self.device);
        (id, code, dh(&dh_key.0, &self.dh_private))
    }

    /// TNEW + TVFY: an ACTIVE token.
    fn active_token(&self, c: &mut Core) -> NtfEntityId {
        let (id, code, _) = self.register(c);
        let (r, _) = self.send(c, T0, "2", id.as_bytes(), &NtfCommand::Tvfy(code));
        assert_eq!(r.resp, NtfResponse::Ok);
        id
    }

    fn snew(&self, token_id: &NtfEntityId, nid: &[u8], nkey: u8) -> NtfCommand {
        NtfCommand::Snew(NewNtfSubscription {
            token_id: token_id.clone(),
            queue: queue(nid),
            notifier_key: notifier_key(nkey),
        })
    }

    fn status(&self, c: &mut Core, token_id: &NtfEntityId) -> NtfResponse {
        self.send(c, T0, "chk", token_id.as_bytes(), &NtfCommand::Tchk)
            .0
            .resp
    }
}

/// Handles `bytes` in one call and, on a clone of the core, in the three phases a server uses
/// to verify outside its lock (`ntf::preverify`); both must give the same response and effects.
fn handled_both_ways(c: &mut Core, now: i64, p: &SessionParams, bytes: &[u8]) -> Output {
    let mut twin = c.clone();
    let out = c.handle_transmission(now, p, bytes);
    let twin_out = super::fuzzing::three_phases(&mut twin, now, p, bytes);
    assert_eq!(out, twin_out, "one call and three phases differ");
    out
}

fn verification_code(effects: &[Effect], device: &DeviceToken) -> NtfRegCode {
    match effects {
        [Effect::Push {
            token,
            notification: PushNotification::Verification(code),
        }] => {
            assert_eq!(&token.token, device, "pushed to the device token");
            assert_eq!(&token.reg_code, code);
            code.clone()
        }
        other => panic!("expected one verification push, got {other:?}"),
    }
}

fn err(e: ErrorType) -> NtfResponse {
    NtfResponse::Err(e)
}

fn cmd_err(e: CommandError) -> NtfResponse {
    NtfResponse::Err(ErrorType::Cmd(e))
}

fn nmsg(nid: &[u8], n: u8) -> SmpEvent {
    SmpEvent::Message {
        queue: queue(nid),
        nonce: [n; 24],
        enc_meta: vec![n; 8],
    }
}

fn pushed_messages(effects: &[Effect]) -> Vec<(Vec<u8>, i64, u8)> {
    match effects {
        [Effect::Push {
            notification: PushNotification::Messages(m),
            ..
        }] => m
            .messages()
            .iter()
            .map(|d: &PnMessageData| (d.queue.notifier_id().to_vec(), d.ts, d.nonce[0]))
            .collect(),
        other => panic!("expected one message push, got {other:?}"),
    }
}

// ---- transport, decoding and credentials (`ntfSyntaxTests`) ----

#[test]
fn unknown_command_is_cmd_unknown() {
    let mut c = core();
    let p = session(CURRENT);
    let out = c.handle_transmission(T0, &p, &transmission(&p, None, b"abcd", b"1234", b"HELLO"));
    let r = decode_response(&p, &out);
    assert_eq!(
        (r.corr.as_slice(), r.entity.as_slice()),
        (&b"abcd"[..], &b"1234"[..])
    );
    assert_eq!(r.resp, cmd_err(CommandError::Unknown));
    assert!(out.effects.is_empty());
}

#[test]
fn tnew_syntax_errors() {
    let mut c = core();
    let p = session(CURRENT);
    let sig = [7u8; 64];
    // no parameters
    let out = c.handle_transmission(T0, &p, &with_auth_bytes(&p, &sig, b"bcda", b"", b"TNEW"));
    assert_eq!(
        decode_response(&p, &out).resp,
        cmd_err(CommandError::Syntax)
    );
    // many parameters
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let mut many = cl.tnew().to_bytes(CURRENT);
    many.extend_from_slice(b"\x01A");
    let out = c.handle_transmission(T0, &p, &with_auth_bytes(&p, &sig, b"cdab", b"", &many));
    assert_eq!(
        decode_response(&p, &out).resp,
        cmd_err(CommandError::Syntax)
    );
    // no signature
    let (r, e) = cl.send_as(&mut c, T0, None, "dabc", b"", &cl.tnew());
    assert_eq!(r.resp, cmd_err(CommandError::NoAuth));
    assert!(e.is_empty());
    // token id present: HAS_AUTH, the entity id echoed
    let (r, _) = cl.send(&mut c, T0, "abcd", b"12345678", &cl.tnew());
    assert_eq!(r.resp, cmd_err(CommandError::HasAuth));
    assert_eq!(r.entity, b"12345678");
    assert_eq!(c.store().token_count(), 0);
}

#[test]
fn transport_errors() {
    let mut c = core();
    // unparsable: BLOCK with empty ids
    let p = session(CURRENT);
    let out = c.handle_transmission(T0, &p, &[5, 1, 2]);
    let r = decode_response(&p, &out);
    assert_eq!(
        (r.corr.len(), r.entity.len(), r.resp),
        (0, 0, err(ErrorType::Block))
    );
    // authorization of a bad length: BLOCK with the correlation id
    let out = c.handle_transmission(T0, &p, &with_auth_bytes(&p, &[1; 10], b"c1", b"e", b"PING"));
    let r = decode_response(&p, &out);
    assert_eq!(
        (r.corr.as_slice(), r.entity.len(), r.resp),
        (&b"c1"[..], 0, err(ErrorType::Block))
    );
    // v1 carries the session id: another one is SESSION
    let p1 = session(Version(1));
    let other = SessionParams::new(Version(1), vec![1; 32], None);
    let bytes = transmission(&other, None, b"c2", b"", b"PING");
    let r = decode_response(&p1, &c.handle_transmission(T0, &p1, &bytes));
    assert_eq!(
        (r.corr.as_slice(), r.resp),
        (&b"c2"[..], err(ErrorType::Session))
    );
    // and our own session id works
    let bytes = transmission(&p1, None, b"c3", b"", b"PING");
    assert_eq!(
        decode_response(&p1, &c.handle_transmission(T0, &p1, &bytes)).resp,
        NtfResponse::Pong
    );
}

#[test]
fn ping_and_missing_entity_credentials() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let (r, _) = cl.send_as(&mut c, T0, None, "p", b"", &NtfCommand::Ping);
    assert_eq!((r.entity.len(), r.resp), (0, NtfResponse::Pong));
    let (r, _) = cl.send_as(&mut c, T0, None, "p", b"x", &NtfCommand::Ping);
    assert_eq!(r.resp, cmd_err(CommandError::HasAuth));
    let (r, _) = cl.send(&mut c, T0, "p", b"", &NtfCommand::Ping);
    assert_eq!(r.resp, cmd_err(CommandError::HasAuth));
    // commands on an entity need both the authorization and the entity id
    for cmd in [
        NtfCommand::Tchk,
        NtfCommand::Tdel,
        NtfCommand::Schk,
        NtfCommand::Sdel,
        NtfCommand::Tcrn(0),
    ] {
        let (r, _) = cl.send(&mut c, T0, "n", b"", &cmd);
        assert_eq!(r.resp, cmd_err(CommandError::NoAuth), "{cmd:?}");
        let (r, _) = cl.send_as(&mut c, T0, None, "n", b"id", &cmd);
        assert_eq!(r.resp, cmd_err(CommandError::NoAuth), "{cmd:?}");
    }
    // a bad field of a known command is SYNTAX, not UNKNOWN
    let p = session(CURRENT);
    let out = c.handle_transmission(
        T0,
        &p,
        &transmission(&p, Some(ed(1)), b"s", b"id", b"TCRN 1"),
    );
    assert_eq!(
        decode_response(&p, &out).resp,
        cmd_err(CommandError::Syntax)
    );
}

// ---- tokens ----

#[test]
fn new_token_registration() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let (r, effects) = cl.send(&mut c, T0, "1", b"", &cl.tnew());
    let NtfResponse::IdTkn { id, dh_key } = r.resp else {
        panic!("{r:?}")
    };
    assert_eq!(id.as_bytes().len(), 24);
    let code = verification_code(&effects, &cl.device);
    assert_eq!(code.as_bytes().len(), 32);
    let t = c.store().get_token(&id).unwrap().unwrap();
    assert_eq!(t.status, NtfTknStatus::Registered);
    assert_eq!(t.verify_key, cl.key.public());
    assert_eq!(t.dh_public(), dh_key);
    // both sides compute the same secret
    assert_eq!(dh(&dh_key.0, &cl.dh_private), t.dh_secret);
    assert_eq!((t.cron_interval, t.cron_sent_at), (0, None));
    assert_eq!(t.updated_at, Some(T0 - T0 % DAY_SECONDS));
    assert_eq!(
        cl.status(&mut c, &id),
        NtfResponse::Tkn(NtfTknStatus::Registered)
    );
}

#[test]
fn repeated_tnew_returns_same_token_and_code() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let (id, code, secret) = cl.register(&mut c);
    let (r, effects) = cl.send(&mut c, T0, "1a", b"", &cl.tnew());
    let NtfResponse::IdTkn { id: id1, dh_key } = r.resp else {
        panic!("{r:?}")
    };
    assert_eq!(id1, id);
    assert_eq!(dh(&dh_key.0, &cl.dh_private), secret);
    assert_eq!(verification_code(&effects, &cl.device), code);
    assert_eq!(c.store().token_count(), 1);
    // another DH key for the same registration: AUTH, no push
    let mut other = Client::new(CURRENT, ed(1), "abcd");
    other.dh_private = [0x44; 32];
    let (r, effects) = other.send(&mut c, T0, "1b", b"", &other.tnew());
    assert_eq!(r.resp, err(ErrorType::Auth));
    assert!(effects.is_empty());
    // another verify key is another registration
    let third = Client::new(CURRENT, ed(2), "abcd");
    let (id3, _, _) = third.register(&mut c);
    assert_ne!(id3, id);
    assert_eq!(c.store().token_count(), 2);
}

#[test]
fn repeated_tnew_resets_status_that_does_not_allow_verification() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    c.push_result(
        T0,
        &id,
        PushKind::Messages,
        PushOutcome::InvalidToken(NtInvalidReason::Unregistered),
    )
    .unwrap();
    assert_eq!(
        cl.status(&mut c, &id),
        NtfResponse::Tkn(NtfTknStatus::Invalid(Some(NtInvalidReason::Unregistered)))
    );
    let (r, effects) = cl.send(&mut c, T0, "1", b"", &cl.tnew());
    assert!(matches!(r.resp, NtfResponse::IdTkn { .. }));
    verification_code(&effects, &cl.device);
    assert_eq!(
        cl.status(&mut c, &id),
        NtfResponse::Tkn(NtfTknStatus::Registered)
    );
    // ACTIVE allows verification: a repeated TNEW keeps the status
    let (_, code, _) = cl.register(&mut c);
    cl.send(&mut c, T0, "v", id.as_bytes(), &NtfCommand::Tvfy(code));
    cl.register(&mut c);
    assert_eq!(
        cl.status(&mut c, &id),
        NtfResponse::Tkn(NtfTknStatus::Active)
    );
}

#[test]
fn verification_push_confirms_and_tvfy_activates() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let (id, code, _) = cl.register(&mut c);
    // a failed push changes nothing
    c.push_result(T0, &id, PushKind::Verification, PushOutcome::Failed)
        .unwrap();
    assert_eq!(
        cl.status(&mut c, &id),
        NtfResponse::Tkn(NtfTknStatus::Registered)
    );
    c.push_result(T0, &id, PushKind::Verification, PushOutcome::Delivered)
        .unwrap();
    assert_eq!(
        cl.status(&mut c, &id),
        NtfResponse::Tkn(NtfTknStatus::Confirmed)
    );
    // wrong code
    let wrong = NtfRegCode::new(vec![0; 32]).unwrap();
    let (r, _) = cl.send(&mut c, T0, "2", id.as_bytes(), &NtfCommand::Tvfy(wrong));
    assert_eq!(
        (r.entity.as_slice(), r.resp),
        (id.as_bytes(), err(ErrorType::Auth))
    );
    assert_eq!(
        cl.status(&mut c, &id),
        NtfResponse::Tkn(NtfTknStatus::Confirmed)
    );
    // right code, repeatable
    for corr in ["3", "3a"] {
        let (r, _) = cl.send(
            &mut c,
            T0,
            corr,
            id.as_bytes(),
            &NtfCommand::Tvfy(code.clone()),
        );
        assert_eq!(
            (r.entity.as_slice(), r.resp),
            (id.as_bytes(), NtfResponse::Ok)
        );
    }
    assert_eq!(
        cl.status(&mut c, &id),
        NtfResponse::Tkn(NtfTknStatus::Active)
    );
    // a delivered verification push does not demote ACTIVE
    c.push_result(T0, &id, PushKind::Verification, PushOutcome::Delivered)
        .unwrap();
    assert_eq!(
        cl.status(&mut c, &id),
        NtfResponse::Tkn(NtfTknStatus::Active)
    );
}

#[test]
fn tvfy_not_allowed_in_invalid_status() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let (id, code, _) = cl.register(&mut c);
    c.push_result(
        T0,
        &id,
        PushKind::Verification,
        PushOutcome::InvalidToken(NtInvalidReason::BadToken),
    )
    .unwrap();
    let (r, _) = cl.send(&mut c, T0, "2", id.as_bytes(), &NtfCommand::Tvfy(code));
    assert_eq!(r.resp, err(ErrorType::Auth));
}

#[test]
fn tvfy_deletes_other_registrations_of_the_device_token() {
    let mut c = core();
    let a = Client::new(CURRENT, ed(1), "abcd");
    let ida = a.active_token(&mut c);
    let (r, effects) = a.send(&mut c, T0, "s", b"", &a.snew(&ida, b"q1", 1));
    assert!(matches!(r.resp, NtfResponse::IdSub(_)), "{r:?}");
    assert_eq!(effects.len(), 1);
    // the same device registers with another key (e.g. after reinstall) and verifies
    let b = Client::new(CURRENT, ed(2), "abcd");
    let (idb, code, _) = b.register(&mut c);
    let (r, effects) = b.send(&mut c, T0, "v", idb.as_bytes(), &NtfCommand::Tvfy(code));
    assert_eq!(r.resp, NtfResponse::Ok);
    assert_eq!(
        effects,
        vec![Effect::SmpUnsubscribe {
            queue: queue(b"q1")
        }]
    );
    assert!(c.store().get_token(&ida).unwrap().is_none());
    assert_eq!(
        (c.store().token_count(), c.store().subscription_count()),
        (1, 0)
    );
    assert_eq!(a.status(&mut c, &ida), err(ErrorType::Auth));
    // another device's token is kept
    let other = Client::new(CURRENT, ed(3), "efgh");
    let idc = other.active_token(&mut c);
    assert!(c.store().get_token(&idb).unwrap().is_some());
    assert!(c.store().get_token(&idc).unwrap().is_some());
}

#[test]
fn tchk_invalid_reason_by_version() {
    let mut c = core();
    let reason = NtInvalidReason::TokenNotForTopic;
    for v in [Version(1), Version(2), Version(3)] {
        let cl = Client::new(v, ed(v.0 as u8), &format!("dev{}", v.0));
        let id = cl.active_token(&mut c);
        c.push_result(
            T0,
            &id,
            PushKind::Messages,
            PushOutcome::InvalidToken(reason),
        )
        .unwrap();
        let out = c.handle_transmission(
            T0,
            &cl.p,
            &transmission(&cl.p, Some(cl.key), b"c", id.as_bytes(), b"TCHK"),
        );
        let bytes = out.response.to_bytes(&cl.p);
        let want: &[u8] = if v >= Version(3) {
            b"TKN INVALID,TOPIC"
        } else {
            b"TKN INVALID"
        };
        assert!(
            bytes.ends_with(want),
            "v{}: {:?}",
            v.0,
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[test]
fn trpl_replaces_device_token_and_needs_new_verification() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    let (_, effects) = cl.send(&mut c, T0, "s", b"", &cl.snew(&id, b"q1", 1));
    assert_eq!(effects.len(), 1);
    let old_code = c.store().get_token(&id).unwrap().unwrap().reg_code;
    let new_device = device("efgh");
    let (r, effects) = cl.send(
        &mut c,
        T0,
        "7",
        id.as_bytes(),
        &NtfCommand::Trpl(new_device.clone()),
    );
    assert_eq!(
        (r.entity.as_slice(), r.resp),
        (id.as_bytes(), NtfResponse::Ok)
    );
    let code = verification_code(&effects, &new_device);
    assert_ne!(code, old_code);
    assert_eq!(
        cl.status(&mut c, &id),
        NtfResponse::Tkn(NtfTknStatus::Registered)
    );
    // the old registration is gone, the new one found by TNEW
    assert!(c
        .store()
        .find_token_registration(&cl.device, &cl.key.public())
        .unwrap()
        .is_none());
    assert_eq!(
        c.store()
            .find_token_registration(&new_device, &cl.key.public())
            .unwrap()
            .map(|t| t.id),
        Some(id.clone())
    );
    // the old code no longer verifies; the new one does; subscriptions are kept
    let (r, _) = cl.send(&mut c, T0, "8", id.as_bytes(), &NtfCommand::Tvfy(old_code));
    assert_eq!(r.resp, err(ErrorType::Auth));
    let (r, _) = cl.send(&mut c, T0, "8a", id.as_bytes(), &NtfCommand::Tvfy(code));
    assert_eq!(r.resp, NtfResponse::Ok);
    assert_eq!(c.store().subscription_count(), 1);
}

#[test]
fn trpl_to_a_registration_taken_by_another_token_is_auth() {
    let mut c = core();
    let a = Client::new(CURRENT, ed(1), "abcd");
    let b = Client::new(CURRENT, ed(1), "efgh");
    let (ida, _, _) = a.register(&mut c);
    b.register(&mut c);
    let (r, effects) = a.send(
        &mut c,
        T0,
        "r",
        ida.as_bytes(),
        &NtfCommand::Trpl(device("efgh")),
    );
    assert_eq!(r.resp, err(ErrorType::Auth));
    assert!(effects.is_empty());
}

#[test]
fn tdel_deletes_token_and_subscriptions() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    for (i, nid) in [b"q1", b"q2"].iter().enumerate() {
        let (r, _) = cl.send(&mut c, T0, &format!("s{i}"), b"", &cl.snew(&id, *nid, 1));
        assert!(matches!(r.resp, NtfResponse::IdSub(_)));
    }
    c.smp_event(T0, nmsg(b"q1", 1)).unwrap();
    assert_eq!(c.store().last_notification_count(), 1);
    let (r, mut effects) = cl.send(&mut c, T0, "d", id.as_bytes(), &NtfCommand::Tdel);
    assert_eq!(r.resp, NtfResponse::Ok);
    effects.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        effects,
        vec![
            Effect::SmpUnsubscribe {
                queue: queue(b"q1")
            },
            Effect::SmpUnsubscribe {
                queue: queue(b"q2")
            }
        ]
    );
    assert_eq!(
        (
            c.store().token_count(),
            c.store().subscription_count(),
            c.store().last_notification_count()
        ),
        (0, 0, 0)
    );
    let (r, _) = cl.send(&mut c, T0, "d2", id.as_bytes(), &NtfCommand::Tdel);
    assert_eq!(r.resp, err(ErrorType::Auth));
}

#[test]
fn tcrn_intervals() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    let interval = |c: &Core| c.store().get_token(&id).unwrap().unwrap().cron_interval;
    for (minutes, want, stored) in [
        (20u16, NtfResponse::Ok, 20u16),
        (5, err(ErrorType::Quota), 20),
        (1, err(ErrorType::Quota), 20),
        (19, err(ErrorType::Quota), 20),
        (0, NtfResponse::Ok, 0),
        (60, NtfResponse::Ok, 60),
    ] {
        let (r, _) = cl.send(&mut c, T0, "c", id.as_bytes(), &NtfCommand::Tcrn(minutes));
        assert_eq!(r.resp, want, "TCRN {minutes}");
        assert_eq!(interval(&c), stored, "TCRN {minutes}");
    }
}

// ---- authorization ----

#[test]
fn bad_signature_and_unknown_entities_are_auth() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    let (r, _) = cl.send(&mut c, T0, "s", b"", &cl.snew(&id, b"q1", 1));
    let NtfResponse::IdSub(sid) = r.resp else {
        panic!()
    };
    let wrong = Some(ed(9));
    // TNEW signed by another key than the one it carries
    let (r, e) = cl.send_as(&mut c, T0, wrong, "1", b"", &cl.tnew());
    assert_eq!((r.resp, e.len()), (err(ErrorType::Auth), 0));
    // token and subscription commands with a wrong key
    for (entity, cmd) in [
        (id.as_bytes(), NtfCommand::Tchk),
        (id.as_bytes(), NtfCommand::Tdel),
        (id.as_bytes(), NtfCommand::Tcrn(30)),
        (sid.as_bytes(), NtfCommand::Schk),
        (sid.as_bytes(), NtfCommand::Sdel),
        (b"".as_slice(), cl.snew(&id, b"q2", 1)),
    ] {
        let (r, e) = cl.send_as(&mut c, T0, wrong, "w", entity, &cmd);
        assert_eq!(
            (r.entity.as_slice(), r.resp),
            (entity, err(ErrorType::Auth)),
            "{cmd:?}"
        );
        assert!(e.is_empty());
    }
    // a corrupted signature
    let p = &cl.p;
    let mut bytes = transmission(p, Some(cl.key), b"x", id.as_bytes(), b"TCHK");
    bytes[5] ^= 1;
    assert_eq!(
        decode_response(p, &c.handle_transmission(T0, p, &bytes)).resp,
        err(ErrorType::Auth)
    );
    // unknown entities (dummy verification, then AUTH)
    for (entity, cmd) in [
        (&b"nope"[..], NtfCommand::Tchk),
        (b"nope", NtfCommand::Tvfy(NtfRegCode::new(vec![1]).unwrap())),
        (b"nope", NtfCommand::Schk),
        (b"nope", NtfCommand::Sdel),
        (b"", cl.snew(&eid(b"nope"), b"q3", 1)),
    ] {
        let (r, _) = cl.send(&mut c, T0, "u", entity, &cmd);
        assert_eq!(r.resp, err(ErrorType::Auth), "{cmd:?}");
    }
    // a subscription id is not a token id and vice versa
    let (r, _) = cl.send(&mut c, T0, "u", sid.as_bytes(), &NtfCommand::Tchk);
    assert_eq!(r.resp, err(ErrorType::Auth));
    let (r, _) = cl.send(&mut c, T0, "u", id.as_bytes(), &NtfCommand::Schk);
    assert_eq!(r.resp, err(ErrorType::Auth));
    // nothing changed
    assert_eq!(
        (c.store().token_count(), c.store().subscription_count()),
        (1, 1)
    );
}

#[test]
fn x25519_authenticator() {
    let mut c = core();
    let cl = Client::new(CURRENT, Key::X25519([0x21; 32]), "abcd");
    let id = cl.active_token(&mut c);
    assert_eq!(
        cl.status(&mut c, &id),
        NtfResponse::Tkn(NtfTknStatus::Active)
    );
    // an authenticator under another key fails
    let (r, _) = cl.send_as(
        &mut c,
        T0,
        Some(Key::X25519([0x22; 32])),
        "a",
        id.as_bytes(),
        &NtfCommand::Tchk,
    );
    assert_eq!(r.resp, err(ErrorType::Auth));
    // a signature for an X25519 verify key fails
    let (r, _) = cl.send_as(
        &mut c,
        T0,
        Some(ed(1)),
        "a",
        id.as_bytes(),
        &NtfCommand::Tchk,
    );
    assert_eq!(r.resp, err(ErrorType::Auth));
    // without the session key (v1) authenticators cannot verify
    let v1 = Client::new(Version(1), Key::X25519([0x23; 32]), "efgh");
    let (r, e) = v1.send(&mut c, T0, "1", b"", &v1.tnew());
    assert_eq!((r.resp, e.len()), (err(ErrorType::Auth), 0));
}

// ---- subscriptions (`testRetriedNtfSubscription`) ----

#[test]
fn retried_subscription() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let (id, code, _) = cl.register(&mut c);
    // fails until the token is verified (REGISTERED, then CONFIRMED)
    let (r, _) = cl.send(&mut c, T0, "2", b"", &cl.snew(&id, b"q1", 1));
    assert_eq!((r.entity.len(), r.resp), (0, err(ErrorType::Auth)));
    c.push_result(T0, &id, PushKind::Verification, PushOutcome::Delivered)
        .unwrap();
    let (r, _) = cl.send(&mut c, T0, "2a", b"", &cl.snew(&id, b"q1", 1));
    assert_eq!(r.resp, err(ErrorType::Auth));
    let (r, _) = cl.send(&mut c, T0, "3", id.as_bytes(), &NtfCommand::Tvfy(code));
    assert_eq!(
        (r.entity.as_slice(), r.resp),
        (id.as_bytes(), NtfResponse::Ok)
    );
    // create
    let (r, effects) = cl.send(&mut c, T0, "4", b"", &cl.snew(&id, b"q1", 1));
    let NtfResponse::IdSub(sid) = r.resp else {
        panic!("{r:?}")
    };
    assert_eq!(sid.as_bytes().len(), 24);
    assert_eq!(
        effects,
        vec![Effect::SmpSubscribe {
            subscription_id: sid.clone(),
            queue: queue(b"q1"),
            notifier_key: notifier_key(1).into(),
            pending: false,
        }]
    );
    // retry: same id, no new SMP subscription
    let (r, effects) = cl.send(&mut c, T0, "4a", b"", &cl.snew(&id, b"q1", 1));
    assert_eq!(
        (r.entity.len(), r.resp),
        (0, NtfResponse::IdSub(sid.clone()))
    );
    assert!(effects.is_empty());
    // another notifier key
    let (r, _) = cl.send(&mut c, T0, "5", b"", &cl.snew(&id, b"q1", 2));
    assert_eq!(r.resp, err(ErrorType::Auth));
    // another token
    let other = Client::new(CURRENT, ed(2), "efgh");
    let id2 = other.active_token(&mut c);
    let (r, _) = other.send(&mut c, T0, "7", b"", &other.snew(&id2, b"q1", 1));
    assert_eq!(r.resp, err(ErrorType::Auth));
    // the other token cannot name the first token either
    let (r, _) = other.send(&mut c, T0, "8", b"", &other.snew(&id, b"q9", 1));
    assert_eq!(r.resp, err(ErrorType::Auth));
    assert_eq!(c.store().subscription_count(), 1);
}

#[test]
fn subscription_status_from_smp_events() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    let (r, _) = cl.send(&mut c, T0, "s", b"", &cl.snew(&id, b"q1", 1));
    let NtfResponse::IdSub(sid) = r.resp else {
        panic!()
    };
    let schk = |c: &mut Core| {
        cl.send(c, T0, "k", sid.as_bytes(), &NtfCommand::Schk)
            .0
            .resp
    };
    assert_eq!(schk(&mut c), NtfResponse::Sub(NtfSubStatus::New));
    let ids = vec![b"q1".to_vec(), b"unknown".to_vec()];
    let steps: Vec<(SmpEvent, NtfSubStatus)> = vec![
        (
            SmpEvent::Pending {
                server: server(),
                notifier_ids: ids.clone(),
            },
            NtfSubStatus::Pending,
        ),
        (
            SmpEvent::Subscribed {
                server: server(),
                notifier_ids: ids.clone(),
            },
            NtfSubStatus::Active,
        ),
        (
            SmpEvent::Disconnected {
                server: server(),
                notifier_ids: ids.clone(),
            },
            NtfSubStatus::Inactive,
        ),
        (
            SmpEvent::SubscriptionErrors {
                server: server(),
                errors: vec![(b"q1".to_vec(), SmpSubError::Transient)],
            },
            NtfSubStatus::Inactive,
        ),
        (
            SmpEvent::SubscriptionErrors {
                server: server(),
                errors: vec![(b"q1".to_vec(), SmpSubError::Auth)],
            },
            NtfSubStatus::Auth,
        ),
        (
            SmpEvent::SubscriptionErrors {
                server: server(),
                errors: vec![(b"q1".to_vec(), SmpSubError::Service)],
            },
            NtfSubStatus::Service,
        ),
        (
            SmpEvent::SubscriptionErrors {
                server: server(),
                errors: vec![(
                    b"q1".to_vec(),
                    SmpSubError::Other(b"SMP error BLOCK".to_vec()),
                )],
            },
            NtfSubStatus::Err(b"SMP error BLOCK".to_vec()),
        ),
        (
            SmpEvent::End {
                queue: queue(b"q1"),
            },
            NtfSubStatus::End,
        ),
        (
            SmpEvent::Deleted {
                queue: queue(b"q1"),
            },
            NtfSubStatus::Deleted,
        ),
    ];
    for (event, want) in steps {
        let effects = c.smp_event(T0, event.clone()).unwrap();
        assert!(effects.is_empty());
        assert_eq!(schk(&mut c), NtfResponse::Sub(want), "{event:?}");
    }
    // another server with the same notifier id is another queue
    let other = SmpServer::new(
        vec![TransportHost::parse(b"example.com").unwrap()],
        "",
        KeyHash::new(vec![9; 32]).unwrap(),
    )
    .unwrap();
    c.smp_event(
        T0,
        SmpEvent::Subscribed {
            server: other,
            notifier_ids: ids,
        },
    )
    .unwrap();
    assert_eq!(schk(&mut c), NtfResponse::Sub(NtfSubStatus::Deleted));
}

#[test]
fn subscription_commands_follow_token_status() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    let (r, _) = cl.send(&mut c, T0, "s", b"", &cl.snew(&id, b"q1", 1));
    let NtfResponse::IdSub(sid) = r.resp else {
        panic!()
    };
    // INVALID still allows subscription commands
    c.push_result(
        T0,
        &id,
        PushKind::Messages,
        PushOutcome::InvalidToken(NtInvalidReason::ExpiredToken),
    )
    .unwrap();
    let (r, _) = cl.send(&mut c, T0, "k", sid.as_bytes(), &NtfCommand::Schk);
    assert_eq!(r.resp, NtfResponse::Sub(NtfSubStatus::New));
    // REGISTERED (after TRPL) does not
    let (r, _) = cl.send(
        &mut c,
        T0,
        "r",
        id.as_bytes(),
        &NtfCommand::Trpl(device("ffff")),
    );
    assert_eq!(r.resp, NtfResponse::Ok);
    for cmd in [NtfCommand::Schk, NtfCommand::Sdel] {
        let (r, e) = cl.send(&mut c, T0, "k", sid.as_bytes(), &cmd);
        assert_eq!((r.resp, e.len()), (err(ErrorType::Auth), 0), "{cmd:?}");
    }
    assert_eq!(c.store().subscription_count(), 1);
}

#[test]
fn sdel_deletes_and_unsubscribes() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    let (r, _) = cl.send(&mut c, T0, "s", b"", &cl.snew(&id, b"q1", 1));
    let NtfResponse::IdSub(sid) = r.resp else {
        panic!()
    };
    c.smp_event(T0, nmsg(b"q1", 1)).unwrap();
    let (r, effects) = cl.send(&mut c, T0, "d", sid.as_bytes(), &NtfCommand::Sdel);
    assert_eq!(
        (r.entity.as_slice(), r.resp),
        (sid.as_bytes(), NtfResponse::Ok)
    );
    assert_eq!(
        effects,
        vec![Effect::SmpUnsubscribe {
            queue: queue(b"q1")
        }]
    );
    assert_eq!(
        (
            c.store().subscription_count(),
            c.store().last_notification_count()
        ),
        (0, 0)
    );
    let (r, _) = cl.send(&mut c, T0, "k", sid.as_bytes(), &NtfCommand::Schk);
    assert_eq!(r.resp, err(ErrorType::Auth));
    // the queue can be subscribed again, with a new id
    let (r, _) = cl.send(&mut c, T0, "s2", b"", &cl.snew(&id, b"q1", 2));
    let NtfResponse::IdSub(sid2) = r.resp else {
        panic!()
    };
    assert_ne!(sid2, sid);
}

// ---- message notifications ----

#[test]
fn nmsg_pushes_latest_notifications_oldest_first() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    let nids: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b'q', i]).collect();
    for (i, nid) in nids.iter().enumerate() {
        let (r, _) = cl.send(&mut c, T0, &format!("s{i}"), b"", &cl.snew(&id, nid, 1));
        assert!(matches!(r.resp, NtfResponse::IdSub(_)));
    }
    // one notification: a push with it
    let effects = c.smp_event(T0 + 1, nmsg(&nids[0], 0)).unwrap();
    assert_eq!(
        pushed_messages(&effects),
        vec![(nids[0].clone(), T0 + 1, 0)]
    );
    let Effect::Push { token, .. } = &effects[0] else {
        panic!()
    };
    assert_eq!(token.id, id);
    // eight queues: the push carries the 6 most recent, oldest first
    let mut last = Vec::new();
    for (i, nid) in nids.iter().enumerate().skip(1) {
        last = c.smp_event(T0 + 1 + i as i64, nmsg(nid, i as u8)).unwrap();
    }
    let want: Vec<(Vec<u8>, i64, u8)> = (2..8)
        .map(|i| (nids[i].clone(), T0 + 1 + i as i64, i as u8))
        .collect();
    assert_eq!(pushed_messages(&last), want);
    assert_eq!(c.store().last_notification_count(), 6);
    // a new notification for a queue replaces its previous one
    let effects = c.smp_event(T0 + 20, nmsg(&nids[4], 40)).unwrap();
    let got = pushed_messages(&effects);
    let want: Vec<(Vec<u8>, i64, u8)> = [2usize, 3, 5, 6, 7]
        .iter()
        .map(|&i| (nids[i].clone(), T0 + 1 + i as i64, i as u8))
        .chain([(nids[4].clone(), T0 + 20, 40)])
        .collect();
    assert_eq!(got, want);
    // the pushed data is the NMSG's
    let Effect::Push {
        notification: PushNotification::Messages(m),
        ..
    } = &effects[0]
    else {
        panic!()
    };
    let lastm = m.messages().last().unwrap();
    assert_eq!(
        (lastm.queue.clone(), lastm.enc_meta()),
        (queue(&nids[4]), &[40u8; 8][..])
    );
}

#[test]
fn nmsg_dropped_unless_token_active() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    cl.send(&mut c, T0, "s", b"", &cl.snew(&id, b"q1", 1));
    // unknown queue (its subscription deleted, e.g. through another instance): no push, the
    // subscriber forgets the queue
    assert_eq!(c.smp_event(T0, nmsg(b"zz", 1)).unwrap(), vec![Effect::SmpUnsubscribe { queue: queue(b"zz") }]);
    // empty metadata
    let e = SmpEvent::Message {
        queue: queue(b"q1"),
        nonce: [0; 24],
        enc_meta: vec![],
    };
    assert!(c.smp_event(T0, e).unwrap().is_empty());
    // token INVALID
    c.push_result(
        T0,
        &id,
        PushKind::Messages,
        PushOutcome::InvalidToken(NtInvalidReason::BadToken),
    )
    .unwrap();
    assert!(c.smp_event(T0, nmsg(b"q1", 1)).unwrap().is_empty());
    // token REGISTERED after TRPL, ACTIVE again after TVFY
    cl.send(
        &mut c,
        T0,
        "r",
        id.as_bytes(),
        &NtfCommand::Trpl(device("beef")),
    );
    assert!(c.smp_event(T0, nmsg(b"q1", 1)).unwrap().is_empty());
    assert_eq!(c.store().last_notification_count(), 0);
    let code = c.store().get_token(&id).unwrap().unwrap().reg_code;
    cl.send(&mut c, T0, "v", id.as_bytes(), &NtfCommand::Tvfy(code));
    let effects = c.smp_event(T0 + 5, nmsg(b"q1", 2)).unwrap();
    assert_eq!(pushed_messages(&effects), vec![(b"q1".to_vec(), T0 + 5, 2)]);
    let Effect::Push { token, .. } = &effects[0] else {
        panic!()
    };
    assert_eq!(token.token, device("beef"));
}

// ---- periodic notifications ----

#[test]
fn periodic_check_messages() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    let idle = Client::new(CURRENT, ed(2), "idle");
    idle.active_token(&mut c);
    let unverified = Client::new(CURRENT, ed(3), "unverified");
    let (uid, _, _) = unverified.register(&mut c);
    c.store_mut().update_token_cron_interval(&uid, 20).unwrap();
    cl.send(&mut c, T0, "c", id.as_bytes(), &NtfCommand::Tcrn(20));
    assert_eq!(c.next_tick(), T0 + 300);
    // not yet due
    assert!(c.tick(T0 + 299).unwrap().is_empty());
    assert_eq!(c.next_tick(), T0 + 300);
    // first sweep: the ACTIVE token with an interval that never had a periodic push
    let effects = c.tick(T0 + 300).unwrap();
    assert_eq!(effects.len(), 1);
    let Effect::Push {
        token,
        notification: PushNotification::CheckMessages,
    } = &effects[0]
    else {
        panic!("{effects:?}")
    };
    assert_eq!(token.id, id);
    assert_eq!(c.next_tick(), T0 + 600);
    // failed: pushed again at the next sweep
    c.push_result(T0 + 301, &id, PushKind::CheckMessages, PushOutcome::Failed)
        .unwrap();
    assert_eq!(c.tick(T0 + 600).unwrap().len(), 1);
    c.push_result(
        T0 + 601,
        &id,
        PushKind::CheckMessages,
        PushOutcome::Delivered,
    )
    .unwrap();
    assert_eq!(
        c.store().get_token(&id).unwrap().unwrap().cron_sent_at,
        Some(T0 + 601)
    );
    // 20 minutes after the delivered push
    assert!(c.tick(T0 + 900).unwrap().is_empty());
    assert!(c.tick(T0 + 1800).unwrap().is_empty()); // 601 + 1200 = 1801
    assert_eq!(c.tick(T0 + 2100).unwrap().len(), 1);
    // TCRN 0 stops them
    cl.send(&mut c, T0, "c0", id.as_bytes(), &NtfCommand::Tcrn(0));
    assert!(c.tick(T0 + 100_000).unwrap().is_empty());
}

#[test]
fn periodic_reference_mode_needs_a_previous_push() {
    let mut c = core_with(Config {
        unsent_periodic_is_due: false,
        ..Config::default()
    });
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    cl.send(&mut c, T0, "c", id.as_bytes(), &NtfCommand::Tcrn(20));
    assert!(c.tick(T0 + 300).unwrap().is_empty());
    c.store_mut().update_token_cron_sent_at(&id, T0).unwrap();
    assert!(c.tick(T0 + 1200).unwrap().is_empty());
    assert_eq!(c.tick(T0 + 1201 + 300).unwrap().len(), 1);
}

// ---- resubscription ----

#[test]
fn resubscribe_takes_subscribable_statuses() {
    let mut c = core_with(Config {
        subs_batch_size: 2,
        ..Config::default()
    });
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    let statuses = [
        NtfSubStatus::New,
        NtfSubStatus::Pending,
        NtfSubStatus::Active,
        NtfSubStatus::Inactive,
        NtfSubStatus::Service,
        NtfSubStatus::End,
        NtfSubStatus::Deleted,
        NtfSubStatus::Auth,
        NtfSubStatus::Err(b"x".to_vec()),
    ];
    for (i, st) in statuses.iter().enumerate() {
        let nid = vec![b'q', i as u8];
        cl.send(&mut c, T0, "s", b"", &cl.snew(&id, &nid, 1));
        c.store_mut()
            .set_subscription_statuses(&server(), &[(nid, st.clone())])
            .unwrap();
    }
    let effects = c.resubscribe().unwrap();
    let mut nids: Vec<u8> = effects
        .iter()
        .map(|e| match e {
            Effect::SmpSubscribe { queue, .. } => queue.notifier_id()[1],
            other => panic!("{other:?}"),
        })
        .collect();
    nids.sort_unstable();
    assert_eq!(nids, vec![0, 1, 2, 3, 4]);
    for i in 0..9u8 {
        let s = c
            .store()
            .subscription_by_queue(&queue(&[b'q', i]))
            .unwrap()
            .unwrap();
        let want = if i < 5 {
            NtfSubStatus::Pending
        } else {
            statuses[i as usize].clone()
        };
        assert_eq!(s.status, want);
    }
}

// ---- service subscriptions (`subscribeServiceNtfs`, `CAService*`) ----

/// A core with an ACTIVE token and subscriptions q0, q1 (associated with service `svc` by
/// `NSUB` in a service session) and q2 (subscribed one by one).
fn core_with_service() -> Core {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    for i in 0..3u8 {
        cl.send(&mut c, T0, "s", b"", &cl.snew(&id, &[b'q', i], 1));
    }
    let ids = |v: &[u8]| v.iter().map(|i| vec![b'q', *i]).collect::<Vec<_>>();
    c.smp_event(T0, SmpEvent::ServiceAssociated { server: server(), service_id: b"svc".to_vec(), notifier_ids: ids(&[0, 1]) }).unwrap();
    c.smp_event(T0, SmpEvent::Subscribed { server: server(), notifier_ids: ids(&[2]) }).unwrap();
    c
}

/// The stored status, the reported one (`SCHK`) and the association of q`i`.
fn sub_state(c: &Core, i: u8) -> (NtfSubStatus, NtfSubStatus, bool) {
    let s = c.store().subscription_by_queue(&queue(&[b'q', i])).unwrap().unwrap();
    (s.status.clone(), c.reported_status(&s), s.service_assoc)
}

/// A restart: the same store in a new core.
fn restarted(c: Core) -> Core {
    let (store, rng) = c.into_parts();
    NtfServerCore::new(Config::default(), store, rng, T0)
}

#[test]
fn service_resubscription_is_one_nsubs_and_soks_with_the_stored_count_confirms() {
    use NtfSubStatus::{Active, Inactive, Pending};
    let c = core_with_service();
    assert_eq!(sub_state(&c, 0), (Active, Active, true));
    assert_eq!(sub_state(&c, 2), (Active, Active, false));
    // at start: only q2 one by one, then the service subscription with the store's count;
    // the associated ones are PENDING until SOKS
    let mut c = restarted(c);
    let effects = c.resubscribe().unwrap();
    assert_eq!(effects.len(), 2, "{effects:?}");
    assert!(matches!(&effects[0], Effect::SmpSubscribe { queue: q, .. } if q.notifier_id() == [b'q', 2]));
    assert_eq!(effects[1], Effect::SmpSubscribeService { server: server(), service_id: b"svc".to_vec(), count: 2 });
    assert_eq!(sub_state(&c, 0), (Active, Pending, true));
    // what SCHK answers
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let sid = c.store().subscription_by_queue(&queue(&[b'q', 0])).unwrap().unwrap().id;
    let schk = |c: &mut Core| cl.send(c, T0, "k", sid.as_bytes(), &NtfCommand::Schk).0.resp;
    assert_eq!(schk(&mut c), NtfResponse::Sub(Pending));
    let e = c.smp_event(T0, SmpEvent::ServiceSubscribed { server: server(), service_id: b"svc".to_vec(), count: 2 }).unwrap();
    assert!(e.is_empty());
    assert_eq!(schk(&mut c), NtfResponse::Sub(Active));
    assert_eq!(sub_state(&c, 0), (Active, Active, true));
    assert_eq!(sub_state(&c, 1), (Active, Active, true));
    // the service session lost: INACTIVE until the next SOKS; nothing written
    c.smp_event(T0, SmpEvent::ServiceDisconnected { server: server() }).unwrap();
    assert_eq!(sub_state(&c, 0), (Active, Inactive, true));
    assert_eq!(sub_state(&c, 1), (Active, Inactive, true));
    assert_eq!(schk(&mut c), NtfResponse::Sub(Inactive));
    assert_eq!(sub_state(&c, 2).0, Pending);
    c.smp_event(T0, SmpEvent::ServiceSubscribed { server: server(), service_id: b"svc".to_vec(), count: 2 }).unwrap();
    assert_eq!(sub_state(&c, 1), (Active, Active, true));
    // a terminal status is reported as stored
    c.smp_event(T0, SmpEvent::Deleted { queue: queue(&[b'q', 1]) }).unwrap();
    c.smp_event(T0, SmpEvent::ServiceDisconnected { server: server() }).unwrap();
    assert_eq!(sub_state(&c, 1), (NtfSubStatus::Deleted, NtfSubStatus::Deleted, true));
    let st = c.service_stats();
    assert_eq!((st.subscribed, st.subscribed_subs, st.count_mismatches, st.disconnected), (2, 4, 0, 2));
}

#[test]
fn service_soks_with_a_smaller_count_or_another_service_id_falls_back_to_nsub() {
    use NtfSubStatus::{Active, Inactive, Pending};
    for (service_id, count) in [(&b"svc"[..], 1), (b"svc", 0), (b"other", 2), (b"other", 3)] {
        let mut c = restarted(core_with_service());
        c.resubscribe().unwrap();
        let e = c.smp_event(T0, SmpEvent::ServiceSubscribed { server: server(), service_id: service_id.to_vec(), count }).unwrap();
        assert_eq!(e, vec![Effect::SmpResubscribe { server: server() }]);
        // nothing is reported ACTIVE that the relay may not hold, and nothing associated
        assert_eq!(sub_state(&c, 0), (Inactive, Inactive, false));
        assert_eq!(sub_state(&c, 1), (Inactive, Inactive, false));
        assert_eq!(c.store().server_service(&server()).unwrap(), None);
        assert_eq!(c.service_stats().count_mismatches, 1);
        assert_eq!(c.service_stats().subscribed, 0);
        // the relay's subscriptions go out one by one (q2 was taken at start already)
        let (page, next) = c.resubscribe_page(&server(), None).unwrap();
        assert_eq!(next, None);
        let mut nids: Vec<_> = page
            .iter()
            .map(|e| match e {
                Effect::SmpSubscribe { queue, .. } => queue.notifier_id().to_vec(),
                other => panic!("{other:?}"),
            })
            .collect();
        nids.sort();
        assert_eq!(nids, vec![vec![b'q', 0], vec![b'q', 1], vec![b'q', 2]]);
        assert_eq!(sub_state(&c, 0), (Pending, Pending, false));
        // and their SOKs associate them again
        c.smp_event(T0, SmpEvent::ServiceAssociated { server: server(), service_id: b"new".to_vec(), notifier_ids: nids }).unwrap();
        assert_eq!(sub_state(&c, 0), (Active, Active, true));
        assert_eq!(c.store().server_service(&server()).unwrap(), Some(ServerService { service_id: b"new".to_vec(), count: 3 }));
    }
}

/// `SDEL` deletes the subscription here but the relay keeps the queue associated until the
/// app's `NDEL`: the next `SOKS` counts it. The reference's `CAServiceSubscribed` confirms
/// whatever the count, so a larger count confirms (counted), with no fallback.
#[test]
fn service_soks_with_a_larger_count_after_sdel_confirms() {
    use NtfSubStatus::{Active, Pending};
    let mut c = core_with_service();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let sid = c.store().subscription_by_queue(&queue(&[b'q', 1])).unwrap().unwrap().id;
    let (r, _) = cl.send(&mut c, T0, "d", sid.as_bytes(), &NtfCommand::Sdel);
    assert_eq!(r.resp, NtfResponse::Ok);
    let mut c = restarted(c);
    let effects = c.resubscribe().unwrap();
    assert!(effects.contains(&Effect::SmpSubscribeService { server: server(), service_id: b"svc".to_vec(), count: 1 }), "{effects:?}");
    assert_eq!(sub_state(&c, 0), (Active, Pending, true));
    // the relay still counts q1
    let e = c.smp_event(T0, SmpEvent::ServiceSubscribed { server: server(), service_id: b"svc".to_vec(), count: 2 }).unwrap();
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(sub_state(&c, 0), (Active, Active, true));
    assert_eq!(c.store().server_service(&server()).unwrap(), Some(ServerService { service_id: b"svc".to_vec(), count: 1 }));
    let st = c.service_stats();
    assert_eq!((st.subscribed, st.subscribed_subs, st.count_larger, st.count_mismatches), (1, 1, 1, 0), "{st:?}");
    // an NMSG for the deleted subscription's queue is not pushed
    let e = c.smp_event(T0, SmpEvent::Message { queue: queue(&[b'q', 1]), nonce: [0; 24], enc_meta: vec![1; 16] }).unwrap();
    assert!(!e.iter().any(|e| matches!(e, Effect::Push { .. })), "{e:?}");
}

#[test]
fn service_unavailable_removes_the_association() {
    let mut c = restarted(core_with_service());
    let e = c.smp_event(T0, SmpEvent::ServiceUnavailable { server: server() }).unwrap();
    assert_eq!(e, vec![Effect::SmpResubscribe { server: server() }]);
    assert_eq!(sub_state(&c, 0), (NtfSubStatus::Inactive, NtfSubStatus::Inactive, false));
    assert_eq!(sub_state(&c, 2), (NtfSubStatus::Active, NtfSubStatus::Active, false));
    assert_eq!(c.service_stats().unavailable, 1);
    assert!(c.resubscribe_service(&server()).unwrap().is_none());
}

#[test]
fn service_ends_is_counted_and_changes_no_status() {
    let mut c = core_with_service();
    let e = c.smp_event(T0, SmpEvent::ServiceEnded { server: server(), count: 2 }).unwrap();
    assert!(e.is_empty());
    assert_eq!(sub_state(&c, 0), (NtfSubStatus::Active, NtfSubStatus::Active, true));
    assert_eq!(sub_state(&c, 1), (NtfSubStatus::Active, NtfSubStatus::Active, true));
    assert_eq!(c.service_stats().ended, 1);
    assert_eq!(c.store().server_service(&server()).unwrap(), Some(ServerService { service_id: b"svc".to_vec(), count: 2 }));
}

// ---- store failures ----

/// A store whose mutations can fail, as a durable backend's commit can.
struct Flaky {
    inner: MemStore,
    fail: bool,
}

impl Flaky {
    fn check(&self) -> StoreResult<()> {
        if self.fail {
            Err(StoreError::Backend("disk full".into()))
        } else {
            Ok(())
        }
    }
}

impl Store for Flaky {
    fn entity_counts(&self) -> StoreResult<crate::ntf::store::EntityCounts> {
        self.inner.entity_counts()
    }
    fn get_token(&self, id: &NtfEntityId) -> StoreResult<Option<TokenRecord>> {
        self.inner.get_token(id)
    }
    fn find_token_registration(
        &self,
        t: &DeviceToken,
        k: &AuthPublicKey,
    ) -> StoreResult<Option<TokenRecord>> {
        self.inner.find_token_registration(t, k)
    }
    fn touch_token(&mut self, id: &NtfEntityId, day: i64) -> StoreResult<()> {
        self.check()?;
        self.inner.touch_token(id, day)
    }
    fn add_token(&mut self, t: TokenRecord) -> StoreResult<()> {
        self.check()?;
        self.inner.add_token(t)
    }
    fn replace_token(
        &mut self,
        id: &NtfEntityId,
        t: DeviceToken,
        s: NtfTknStatus,
        c: NtfRegCode,
    ) -> StoreResult<()> {
        self.check()?;
        self.inner.replace_token(id, t, s, c)
    }
    fn update_token_status(&mut self, id: &NtfEntityId, s: NtfTknStatus) -> StoreResult<bool> {
        self.check()?;
        self.inner.update_token_status(id, s)
    }
    fn set_token_confirmed(&mut self, id: &NtfEntityId) -> StoreResult<bool> {
        self.check()?;
        self.inner.set_token_confirmed(id)
    }
    fn set_token_active(&mut self, id: &NtfEntityId) -> StoreResult<crate::ntf::TokenActivated> {
        self.check()?;
        self.inner.set_token_active(id)
    }
    fn delete_token(&mut self, id: &NtfEntityId) -> StoreResult<Vec<SmpQueueNtf>> {
        self.check()?;
        self.inner.delete_token(id)
    }
    fn update_token_cron_interval(&mut self, id: &NtfEntityId, m: u16) -> StoreResult<()> {
        self.check()?;
        self.inner.update_token_cron_interval(id, m)
    }
    fn update_token_cron_sent_at(&mut self, id: &NtfEntityId, now: i64) -> StoreResult<()> {
        self.check()?;
        self.inner.update_token_cron_sent_at(id, now)
    }
    fn periodic_tokens(&self, now: i64, due: bool) -> StoreResult<Vec<TokenRecord>> {
        self.check()?;
        self.inner.periodic_tokens(now, due)
    }
    fn get_subscription(
        &self,
        id: &NtfEntityId,
    ) -> StoreResult<Option<(TokenRecord, SubscriptionRecord)>> {
        self.inner.get_subscription(id)
    }
    fn subscription_by_queue(&self, q: &SmpQueueNtf) -> StoreResult<Option<SubscriptionRecord>> {
        self.inner.subscription_by_queue(q)
    }
    fn add_subscription(&mut self, s: SubscriptionRecord) -> StoreResult<bool> {
        self.check()?;
        self.inner.add_subscription(s)
    }
    fn delete_subscription(&mut self, id: &NtfEntityId) -> StoreResult<()> {
        self.check()?;
        self.inner.delete_subscription(id)
    }
    fn server_service(&self, srv: &SmpServer) -> StoreResult<Option<ServerService>> {
        self.inner.server_service(srv)
    }
    fn set_service_subscriptions(
        &mut self,
        srv: &SmpServer,
        service_id: &[u8],
        ids: &[Vec<u8>],
        status: NtfSubStatus,
    ) -> StoreResult<usize> {
        self.check()?;
        self.inner.set_service_subscriptions(srv, service_id, ids, status)
    }
    fn remove_service_association(&mut self, srv: &SmpServer) -> StoreResult<Vec<crate::ntf::SubStatusChange>> {
        self.check()?;
        self.inner.remove_service_association(srv)
    }
    fn set_subscription_statuses(
        &mut self,
        s: &SmpServer,
        u: &[(Vec<u8>, NtfSubStatus)],
    ) -> StoreResult<Vec<crate::ntf::SubStatusChange>> {
        self.check()?;
        self.inner.set_subscription_statuses(s, u)
    }
    fn used_smp_servers(&self) -> StoreResult<Vec<SmpServer>> {
        self.inner.used_smp_servers()
    }
    fn take_server_subscriptions(
        &mut self,
        s: &SmpServer,
        after: Option<&NtfEntityId>,
        limit: usize,
    ) -> StoreResult<Vec<SubscriptionRecord>> {
        self.check()?;
        self.inner.take_server_subscriptions(s, after, limit)
    }
    fn add_last_notification(
        &mut self,
        t: &NtfEntityId,
        s: &NtfEntityId,
        n: PnMessageData,
        max: usize,
    ) -> StoreResult<Vec<PnMessageData>> {
        self.check()?;
        self.inner.add_last_notification(t, s, n, max)
    }
}

#[test]
fn store_failures_are_err_store_and_acknowledge_nothing() {
    let mut c = NtfServerCore::new(
        Config::default(),
        Flaky {
            inner: MemStore::new(),
            fail: false,
        },
        ChaCha20Rng::seed_from_u64(1),
        T0,
    );
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let p = &cl.p;
    let send = |c: &mut NtfServerCore<Flaky, ChaCha20Rng>, entity: &[u8], cmd: &NtfCommand| {
        let out = c.handle_transmission(
            T0,
            p,
            &transmission(p, Some(cl.key), b"f", entity, &cmd.to_bytes(CURRENT)),
        );
        (decode_response(p, &out).resp, out.effects)
    };
    c.store_mut().fail = true;
    let (r, e) = send(&mut c, b"", &cl.tnew());
    assert_eq!((r, e.len()), (err(ErrorType::Store("disk full".into())), 0));
    assert_eq!(c.store().inner.token_count(), 0);
    c.store_mut().fail = false;
    let (r, _) = send(&mut c, b"", &cl.tnew());
    let NtfResponse::IdTkn { id, .. } = r else {
        panic!("{r:?}")
    };
    let code = c.store().inner.get_token(&id).unwrap().unwrap().reg_code;
    c.store_mut().fail = true;
    for cmd in [
        NtfCommand::Tvfy(code.clone()),
        NtfCommand::Tcrn(30),
        NtfCommand::Tdel,
        NtfCommand::Trpl(device("x")),
    ] {
        let (r, e) = send(&mut c, id.as_bytes(), &cmd);
        assert_eq!(
            (r, e.len()),
            (err(ErrorType::Store("disk full".into())), 0),
            "{cmd:?}"
        );
    }
    let t = c.store().inner.get_token(&id).unwrap().unwrap();
    assert_eq!(
        (t.status, t.cron_interval, t.token),
        (NtfTknStatus::Registered, 0, device("abcd"))
    );
    // reads still work
    assert_eq!(
        send(&mut c, id.as_bytes(), &NtfCommand::Tchk).0,
        NtfResponse::Tkn(NtfTknStatus::Registered)
    );
    assert!(c
        .push_result(T0, &id, PushKind::Verification, PushOutcome::Delivered)
        .is_err());
    assert!(c.tick(T0 + 300).is_err());
}

// ---- robustness ----

#[test]
fn arbitrary_bytes_never_panic() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    let valid = transmission(
        &cl.p,
        Some(cl.key),
        b"c",
        id.as_bytes(),
        &cl.snew(&id, b"q", 1).to_bytes(CURRENT),
    );
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    for v in [Version(1), Version(2), Version(3)] {
        let p = session(v);
        for i in 0..3000 {
            let mut b = if i % 2 == 0 {
                let mut b = vec![0u8; (rng.next_u32() % 200) as usize];
                rng.fill_bytes(&mut b);
                b
            } else {
                valid.clone()
            };
            if !b.is_empty() {
                for _ in 0..(rng.next_u32() % 4) {
                    let at = rng.next_u32() as usize % b.len();
                    b[at] = rng.next_u32() as u8;
                }
                b.truncate(rng.next_u32() as usize % (b.len() + 1));
            }
            let out = c.handle_transmission(T0, &p, &b);
            let _ = decode_response(&p, &out);
        }
    }
}

#[test]
fn deterministic_under_a_seeded_rng() {
    let run = || {
        let mut c = core();
        let cl = Client::new(CURRENT, ed(1), "abcd");
        let (id, code, secret) = cl.register(&mut c);
        (id, code, secret)
    };
    assert_eq!(run(), run());
    let mut c1 = NtfServerCore::new(
        Config::default(),
        MemStore::new(),
        ChaCha20Rng::seed_from_u64(8),
        T0,
    );
    let cl = Client::new(CURRENT, ed(1), "abcd");
    assert_ne!(cl.register(&mut c1).0, run().0);
}

/// Preverification is a hint the core only uses for the key it finds when handling: changes
/// between the phases (another connection deleting the token) and a result made with another
/// key give the responses of the one-call path.
#[test]
fn preverification_is_rechecked_against_the_store() {
    let mut c = core();
    let cl = Client::new(CURRENT, ed(1), "abcd");
    let id = cl.active_token(&mut c);
    let p = &cl.p;
    let tp = p.transmission_params();
    let tchk = transmission(p, Some(cl.key), b"c", id.as_bytes(), b"TCHK");
    let raw = RawTransmission::decode(&tchk, &tp).unwrap();
    let key = c.authorization_key(p, &raw);
    assert_eq!(key.as_ref(), Some(cl.key.public().key()));
    let pre = preverify(p, &raw, key.as_ref()).unwrap();
    assert!(pre.ok());

    // the token is deleted between the phases: AUTH, as if the lookup had failed
    let mut gone = c.clone();
    let (r, _) = cl.send(&mut gone, T0, "d", id.as_bytes(), &NtfCommand::Tdel);
    assert_eq!(r.resp, NtfResponse::Ok);
    let out = gone.handle_preverified(T0, p, &raw, Some(&pre));
    assert_eq!(decode_response(p, &out).resp, err(ErrorType::Auth));

    // a result claimed for another key is not used: the wrong signature still fails
    let bad = transmission(p, Some(ed(9)), b"b", id.as_bytes(), b"TCHK");
    let bad_raw = RawTransmission::decode(&bad, &tp).unwrap();
    let forged = Preverified { key: Some(*ed(9).public().key()), ok: true };
    let out = c.handle_preverified(T0, p, &bad_raw, Some(&forged));
    assert_eq!(decode_response(p, &out).resp, err(ErrorType::Auth));

    // a dummy result (no entity at lookup) for an entity that exists by now: verified afresh
    let dummy = preverify(p, &raw, None).unwrap();
    assert!(!dummy.ok());
    let out = c.handle_preverified(T0, p, &raw, Some(&dummy));
    assert_eq!(decode_response(p, &out).resp, NtfResponse::Tkn(NtfTknStatus::Active));

    // unknown entities and PING have no key; unauthorized transmissions nothing to verify
    let unknown = transmission(p, Some(cl.key), b"u", b"nope", b"TCHK");
    assert_eq!(c.authorization_key(p, &RawTransmission::decode(&unknown, &tp).unwrap()), None);
    let ping = transmission(p, None, b"p", b"", b"PING");
    let ping_raw = RawTransmission::decode(&ping, &tp).unwrap();
    assert_eq!(c.authorization_key(p, &ping_raw), None);
    assert_eq!(preverify(p, &ping_raw, None), None);
}

// ---- Web Push tokens (branch dev-wp) ----

fn wp_device(host: &str, path: &str, p256dh: &str) -> DeviceToken {
    use ntf_proto::webpush::{P256dhKey, WebPushKey, WebPushProvider, WebPushToken};
    let key = smp_proto::text::base64url_decode(p256dh.as_bytes()).unwrap();
    let key = WebPushKey { auth: [7; 16], p256dh: P256dhKey::from_bytes(&key).unwrap() };
    DeviceToken::WebPush(WebPushToken::new(WebPushProvider::new(host, "").unwrap(), path, key).unwrap())
}

const UA_PUBLIC: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";

fn wp_client(device: DeviceToken) -> Client {
    Client { device, ..Client::new(CURRENT, ed(5), "abcd") }
}

#[test]
fn web_push_token_refused_without_configuration() {
    let mut c = core();
    let cl = wp_client(wp_device("push.example", "/p/1", UA_PUBLIC));
    let (r, effects) = cl.send(&mut c, T0, "1", b"", &cl.tnew());
    assert_eq!(r.resp, cmd_err(CommandError::Syntax));
    assert!(effects.is_empty());
}

#[test]
fn web_push_token_registration_and_refusals() {
    use crate::webpush::{HostPattern, WebPushPolicy};
    let policy = WebPushPolicy { allowed_hosts: vec![HostPattern::parse("*.push.example").unwrap()] };
    let mut c = core_with(Config { web_push: Some(policy), ..Config::default() });
    let good = wp_device("a.push.example", "/p/1", UA_PUBLIC);
    let cl = wp_client(good.clone());
    let (id, _code, _) = cl.register(&mut c);
    assert_eq!(c.store().get_token(&id).unwrap().unwrap().token, good);
    // not allowed host, bad endpoint, key not on the curve: CMD SYNTAX, nothing stored or pushed
    let mut off_curve = smp_proto::text::base64url_decode(UA_PUBLIC.as_bytes()).unwrap();
    off_curve[64] ^= 1;
    let off_curve = smp_proto::text::base64url_encode(&off_curve);
    for bad in [
        wp_device("push.other", "/p/1", UA_PUBLIC),
        wp_device("a.push.example", "p/1", UA_PUBLIC),
        wp_device("a.push.example", "/p/1", &off_curve),
    ] {
        let cl = Client { key: ed(6), ..wp_client(bad.clone()) };
        let (r, effects) = cl.send(&mut c, T0, "2", b"", &cl.tnew());
        assert_eq!(r.resp, cmd_err(CommandError::Syntax), "{bad:?}");
        assert!(effects.is_empty());
        assert!(c.store().find_token_registration(&bad, &cl.key.public()).unwrap().is_none());
        // TRPL to it is refused too, and the registered token is kept
        let (r, effects) = cl.send_as(&mut c, T0, Some(ed(5)), "3", id.as_bytes(), &NtfCommand::Trpl(bad.clone()));
        assert_eq!(r.resp, cmd_err(CommandError::Syntax));
        assert!(effects.is_empty());
        assert_eq!(c.store().get_token(&id).unwrap().unwrap().token, good);
    }
    // TRPL from APNS to Web Push and back
    let other = wp_device("b.push.example", "/p/2", UA_PUBLIC);
    let (r, effects) = cl.send(&mut c, T0, "4", id.as_bytes(), &NtfCommand::Trpl(other.clone()));
    assert_eq!(r.resp, NtfResponse::Ok);
    verification_code(&effects, &other);
}
