//! Sans-IO tests of the relay core on a simulated clock: expiry of kept notifications, the
//! queue quota, protocol errors and client-chosen sender ids.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use smp_proto::broker::BrokerMsg;
use smp_proto::command::{
    NewQueueReq, QueueLink, QueueLinkData, QueueReqData, SmpCommand, SubscriptionMode,
};
use smp_proto::crypto::{ed25519_public, sign_ed25519, x25519_public, Signature, TransmissionAuth};
use smp_proto::error_type::{CommandError, ErrorType, TransportError};
use smp_proto::keys::{AuthPublicKey, PublicKey, X25519PublicKey};
use smp_proto::message::{MsgFlags, NMsgMeta, RcvMsgBody};
use smp_proto::transmission::{ForAuth, TransmissionParams};
use smp_proto::version::Version;

use super::core::{ClientId, Preverified, Relay, RelayConfig, SessionParams, Transmit};
use super::store::MemQueueStore;

type R = Relay<MemQueueStore, ChaCha20Rng>;

const SEED: [u8; 32] = [5; 32];
const DH: [u8; 32] = [6; 32];
const T0: i64 = 1_700_000_000;

fn relay(config: RelayConfig) -> R {
    Relay::new(config, MemQueueStore::new(), ChaCha20Rng::seed_from_u64(1))
}

fn connect(r: &mut R, v: u16) -> ClientId {
    r.connect(SessionParams {
        version: Version(v),
        session_id: vec![v as u8; 32],
        server_private: None,
        service: None,
    })
}

fn key() -> AuthPublicKey {
    AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&SEED))).unwrap()
}

/// Sends `cmd` signed with `SEED` (or unsigned) and returns what the relay sends back,
/// handled as the relay's shell does: keys found, verified apart, then handled.
fn send(
    r: &mut R,
    c: ClientId,
    now: i64,
    signed: bool,
    corr: &[u8],
    ent: &[u8],
    cmd: &SmpCommand,
) -> Vec<Transmit> {
    let b = transmission(r, c, signed.then_some(&SEED), corr, ent, cmd);
    three_phases(r, c, now, &[Ok(b)])
}

/// A transmission of `c`, signed with `seed` when given.
fn transmission(
    r: &R,
    c: ClientId,
    seed: Option<&[u8; 32]>,
    corr: &[u8],
    ent: &[u8],
    cmd: &SmpCommand,
) -> Vec<u8> {
    let p = r.session(c).unwrap().clone();
    let tp = TransmissionParams::smp(&p.session_id, p.version);
    let fa = ForAuth::new(&tp, corr, ent, &cmd.to_vec(p.version));
    let auth = seed
        .map(|s| TransmissionAuth::Signature(Signature::Ed25519(sign_ed25519(s, fa.for_auth()))));
    let mut b = Vec::new();
    fa.encode(tp.service_auth, auth.as_ref(), None, &mut b);
    b
}

/// `Relay::authorization_keys`, `VerifyJob::run`, `Relay::handle_block_preverified`.
fn three_phases(r: &mut R, c: ClientId, now: i64, items: &[Result<Vec<u8>, TransportError>]) -> Vec<Transmit> {
    let pre = r.authorization_keys(c, items).unwrap().run(items);
    r.handle_block_preverified(c, now, items, &pre)
}

fn one(out: Vec<Transmit>) -> BrokerMsg {
    assert_eq!(out.len(), 1, "{out:?}");
    out.into_iter().next().unwrap().msg
}

fn new_queue(r: &mut R, c: ClientId, data: Option<QueueReqData>, corr: &[u8]) -> BrokerMsg {
    let cmd = SmpCommand::New(Box::new(NewQueueReq {
        rcv_auth_key: key(),
        rcv_dh_key: X25519PublicKey(x25519_public(&DH)),
        basic_auth: None,
        sub_mode: SubscriptionMode::OnlyCreate,
        queue_req_data: data,
        ntf_creds: None,
    }));
    one(send(r, c, T0, true, corr, b"", &cmd))
}

fn ids(m: BrokerMsg) -> (Vec<u8>, Vec<u8>, X25519PublicKey, Option<Vec<u8>>) {
    match m {
        BrokerMsg::Ids(i) => (i.rcv_id, i.snd_id, i.rcv_public_dh_key, i.link_id),
        m => panic!("expected IDS, got {m:?}"),
    }
}

fn send_msg(flag: bool, body: &[u8]) -> SmpCommand {
    SmpCommand::Send {
        flags: MsgFlags { notification: flag },
        body: body.to_vec(),
    }
}

#[test]
fn kept_notifications_expire_after_24_hours() {
    let mut r = relay(RelayConfig::default());
    let c = connect(&mut r, 18);
    let (rid, sid, _, _) = ids(new_queue(&mut r, c, None, b"c1"));
    let nkey = SmpCommand::Nkey {
        notifier_key: key(),
        dh_key: X25519PublicKey(x25519_public(&DH)),
    };
    let (nid, srv) = match one(send(&mut r, c, T0, true, b"c2", &rid, &nkey)) {
        BrokerMsg::Nid {
            notifier_id,
            dh_key,
        } => (notifier_id, dh_key),
        m => panic!("{m:?}"),
    };
    assert_eq!(
        one(send(
            &mut r,
            c,
            T0,
            false,
            b"c3",
            &sid,
            &send_msg(true, b"a")
        )),
        BrokerMsg::Ok
    );
    assert_eq!(
        one(send(
            &mut r,
            c,
            T0 + 100,
            false,
            b"c4",
            &sid,
            &send_msg(true, b"b")
        )),
        BrokerMsg::Ok
    );
    assert_eq!(r.stored_notifications(), 2);
    assert_eq!(r.expire(T0 + 24 * 3600), 0);
    assert_eq!(r.expire(T0 + 24 * 3600 + 1), 1);
    // NSUB a day later gets only the second, encrypted with the notifier secret
    let n = connect(&mut r, 18);
    let out = send(
        &mut r,
        n,
        T0 + 24 * 3600 + 50,
        true,
        b"c5",
        &nid,
        &SmpCommand::Nsub,
    );
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0].msg, BrokerMsg::Sok { service_id: None });
    assert_eq!(out[0].corr_id, b"c5");
    let BrokerMsg::Nmsg { nonce, enc_meta } = &out[1].msg else {
        panic!("{out:?}")
    };
    assert!(out[1].corr_id.is_empty());
    let secret = smp_proto::crypto::dh(&srv.0, &DH);
    let meta = NMsgMeta::decrypt(&secret, nonce, enc_meta).unwrap();
    assert_eq!(meta.msg_ts, T0 + 100);
    assert_eq!(meta.msg_id.len(), 24);
    // after 24 h more, nothing is left for a later subscriber
    let out = send(&mut r, c, T0, false, b"c6", &sid, &send_msg(true, b"c"));
    assert_eq!((out[0].client, &out[0].msg), (c, &BrokerMsg::Ok));
    assert!(
        matches!(&out[1], Transmit { client, msg: BrokerMsg::Nmsg { .. }, .. } if *client == n)
    );
    assert_eq!(r.stored_notifications(), 0, "delivered to the subscriber");
    r.disconnect(n);
    assert_eq!(
        one(send(
            &mut r,
            c,
            T0,
            false,
            b"c7",
            &sid,
            &send_msg(true, b"d")
        )),
        BrokerMsg::Ok
    );
    assert_eq!(r.stored_notifications(), 1);
    let n2 = connect(&mut r, 18);
    let out = send(
        &mut r,
        n2,
        T0 + 2 * 24 * 3600,
        true,
        b"c8",
        &nid,
        &SmpCommand::Nsub,
    );
    assert_eq!(out.len(), 1, "expired before NSUB: {out:?}");
}

#[test]
fn queue_quota() {
    let mut r = relay(RelayConfig {
        msg_queue_quota: 2,
        ..RelayConfig::default()
    });
    let c = connect(&mut r, 18);
    let (rid, sid, srv, _) = ids(new_queue(&mut r, c, None, b"c1"));
    let secret = smp_proto::crypto::dh(&srv.0, &DH);
    assert_eq!(
        one(send(
            &mut r,
            c,
            T0,
            false,
            b"s1",
            &sid,
            &send_msg(false, b"1")
        )),
        BrokerMsg::Ok
    );
    assert_eq!(
        one(send(
            &mut r,
            c,
            T0,
            false,
            b"s2",
            &sid,
            &send_msg(false, b"2")
        )),
        BrokerMsg::Ok
    );
    for corr in [&b"s3"[..], b"s4"] {
        assert_eq!(
            one(send(
                &mut r,
                c,
                T0 + 7,
                false,
                corr,
                &sid,
                &send_msg(false, b"3")
            )),
            BrokerMsg::Err {
                error: ErrorType::Quota
            }
        );
    }
    let mut got = Vec::new();
    loop {
        match one(send(&mut r, c, T0, true, b"g", &rid, &SmpCommand::Get)) {
            BrokerMsg::Msg { msg_id, enc_body } => {
                got.push(RcvMsgBody::decrypt(&secret, &msg_id, &enc_body).unwrap());
                assert_eq!(
                    one(send(
                        &mut r,
                        c,
                        T0,
                        true,
                        b"a",
                        &rid,
                        &SmpCommand::Ack { msg_id }
                    )),
                    BrokerMsg::Ok
                );
            }
            BrokerMsg::Ok => break,
            m => panic!("{m:?}"),
        }
    }
    assert_eq!(got.len(), 3);
    assert_eq!(got[2], RcvMsgBody::Quota { msg_ts: T0 + 7 });
    // empty again: writable
    assert_eq!(
        one(send(
            &mut r,
            c,
            T0,
            false,
            b"s5",
            &sid,
            &send_msg(false, b"4")
        )),
        BrokerMsg::Ok
    );
}

#[test]
fn protocol_errors() {
    let mut r = relay(RelayConfig::default());
    let c = connect(&mut r, 6);
    let (rid, _, _, _) = ids(new_queue(&mut r, c, None, b"c1"));
    let syntax = ErrorType::Cmd(CommandError::Syntax);
    // an unknown tag and a bad field, answered with the corr id and entity id
    let p = r.session(c).unwrap().clone();
    let tp = TransmissionParams::smp(&p.session_id, p.version);
    let mut raw = |cmd: &[u8], sid: &[u8]| {
        let tp2 = TransmissionParams {
            session_id: sid,
            ..tp
        };
        let fa = ForAuth::new(&tp2, b"k", &rid, cmd);
        let mut b = Vec::new();
        fa.encode(false, None, None, &mut b);
        r.handle_block(c, T0, &[Ok(b)])
    };
    let out = raw(b"QUE", &p.session_id);
    assert_eq!(
        (out[0].corr_id.as_slice(), out[0].entity_id.as_slice()),
        (&b"k"[..], rid.as_slice())
    );
    assert_eq!(
        out[0].msg,
        BrokerMsg::Err {
            error: ErrorType::Cmd(CommandError::Unknown)
        }
    );
    assert_eq!(
        one(raw(b"ACK ", &p.session_id)),
        BrokerMsg::Err { error: syntax }
    );
    // another session id (explicit before v7)
    let out = raw(b"SUB", b"other");
    assert_eq!(
        out[0].msg,
        BrokerMsg::Err {
            error: ErrorType::Session
        }
    );
    assert!(out[0].entity_id.is_empty());
    // a malformed transmission and a malformed block
    assert_eq!(
        one(r.handle_block(c, T0, &[Ok(vec![5, 1])])),
        BrokerMsg::Err {
            error: ErrorType::Block
        }
    );
    let out = r.handle_block(
        c,
        T0,
        &[Err(smp_proto::error_type::TransportError::LargeMsg)],
    );
    assert_eq!(
        one(out),
        BrokerMsg::Err {
            error: ErrorType::LargeMsg
        }
    );
    // no authorization
    assert_eq!(
        one(send(&mut r, c, T0, false, b"c", &rid, &SmpCommand::Sub)),
        BrokerMsg::Err {
            error: ErrorType::Cmd(CommandError::NoAuth)
        }
    );
    // NSUBS needs a client service
    assert_eq!(
        one(send(&mut r, c, T0, true, b"c", b"svc", &SmpCommand::Nsubs)),
        BrokerMsg::Err {
            error: ErrorType::Service
        }
    );
    // SUB at v6 is answered OK (SOK encodes as OK below v16)
    assert_eq!(
        one(send(&mut r, c, T0, true, b"c", &rid, &SmpCommand::Sub)).to_vec(Version(6)),
        b"OK"
    );
}

#[test]
fn client_chosen_sender_id() {
    use sha3::Digest;
    let mut r = relay(RelayConfig::default());
    let c = connect(&mut r, 18);
    let data = QueueLinkData {
        fixed: b"f".to_vec(),
        user: b"u".to_vec(),
    };
    let link = |sender_id: Vec<u8>| {
        Some(QueueReqData::Messaging(Some(QueueLink {
            sender_id,
            data: data.clone(),
        })))
    };
    let good = sha3::Sha3_384::digest(b"corr")[..24].to_vec();
    assert_eq!(
        new_queue(&mut r, c, link(vec![1; 24]), b"corr"),
        BrokerMsg::Err {
            error: ErrorType::Cmd(CommandError::Prohibited)
        }
    );
    let (_, sid, _, link_id) = ids(new_queue(&mut r, c, link(good.clone()), b"corr"));
    assert_eq!(sid, good);
    assert_eq!(link_id.map(|l| l.len()), Some(24));
    // the same sender id again: AUTH, no retry
    assert_eq!(
        new_queue(&mut r, c, link(good), b"corr"),
        BrokerMsg::Err {
            error: ErrorType::Auth
        }
    );
    // a basic auth is required when configured
    let mut r = relay(RelayConfig {
        basic_auth: Some(b"pw".to_vec()),
        ..RelayConfig::default()
    });
    let c = connect(&mut r, 18);
    assert_eq!(
        new_queue(&mut r, c, None, b"x"),
        BrokerMsg::Err {
            error: ErrorType::Auth
        }
    );
}

/// The split handling when the state changes between finding the keys and handling: the
/// results are used only for the same key and the same bytes, so the answers are those of
/// handling the block whole at that point.
#[test]
fn preverified_results_follow_the_state_of_handling() {
    let other: [u8; 32] = [9; 32];
    let other_key = AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&other))).unwrap();
    let mut r = relay(RelayConfig::default());
    let c = connect(&mut r, 18);
    let (rid, _, _, _) = ids(new_queue(&mut r, c, None, b"c1"));
    let nkey = |k: AuthPublicKey| SmpCommand::Nkey {
        notifier_key: k,
        dh_key: X25519PublicKey(x25519_public(&DH)),
    };
    let nid = match one(send(&mut r, c, T0, true, b"c2", &rid, &nkey(key()))) {
        BrokerMsg::Nid { notifier_id, .. } => notifier_id,
        m => panic!("{m:?}"),
    };
    let n = connect(&mut r, 18);
    let nsub = transmission(&r, n, Some(&SEED), b"n1", &nid, &SmpCommand::Nsub);
    let items = [Ok(nsub.clone())];

    // found and verified with the notifier key of then
    let job = r.authorization_keys(n, &items).unwrap();
    assert!(!job.is_empty());
    let pre = job.run(&items);

    // the notifier credentials replaced (NKEY again, another key) before handling: the old
    // notifier id is gone, so the verified result is not used and the answer is AUTH
    assert!(matches!(one(send(&mut r, c, T0, true, b"c3", &rid, &nkey(other_key))), BrokerMsg::Nid { .. }));
    let out = r.handle_block_preverified(n, T0, &items, &pre);
    assert_eq!(one(out), BrokerMsg::Err { error: ErrorType::Auth });

    // a result for other bytes (another transmission at the same position) is ignored
    let nid3 = match one(send(&mut r, c, T0, true, b"c4", &rid, &nkey(key()))) {
        BrokerMsg::Nid { notifier_id, .. } => notifier_id,
        m => panic!("{m:?}"),
    };
    let good = [Ok(transmission(&r, n, Some(&SEED), b"n2", &nid3, &SmpCommand::Nsub))];
    let pre_good = r.authorization_keys(n, &good).unwrap().run(&good);
    let forged = [Ok(transmission(&r, n, Some(&other), b"n2", &nid3, &SmpCommand::Nsub))];
    assert_eq!(
        one(r.handle_block_preverified(n, T0, &forged, &pre_good)),
        BrokerMsg::Err { error: ErrorType::Auth },
        "a result made for other bytes must not authorize"
    );
    // nor for the same bytes on a connection with another session id (implied at v18, so
    // the signature does not verify there)
    let n2 = r.connect(SessionParams {
        version: Version(18),
        session_id: vec![77; 32],
        server_private: None,
        service: None,
    });
    assert_eq!(
        one(r.handle_block_preverified(n2, T0, &good, &pre_good)),
        BrokerMsg::Err { error: ErrorType::Auth },
        "a result made on another session must not authorize"
    );
    // the right result for the right block authorizes
    assert_eq!(one(r.handle_block_preverified(n, T0, &good, &pre_good)), BrokerMsg::Sok { service_id: None });

    // a key that verified false stays false when handled
    let bad = [Ok(transmission(&r, n, Some(&other), b"n3", &nid3, &SmpCommand::Nsub))];
    assert_eq!(one(three_phases(&mut r, n, T0, &bad)), BrokerMsg::Err { error: ErrorType::Auth });

    // a queue created between the phases (no key found ahead) is verified when handled
    let (rid4, _, _, _) = ids(new_queue(&mut r, c, None, b"c5"));
    let sub = [Ok(transmission(&r, c, Some(&SEED), b"c6", &rid4, &SmpCommand::Sub))];
    let out = r.handle_block_preverified(c, T0, &sub, &Preverified::default());
    assert_eq!(one(out), BrokerMsg::Sok { service_id: None });
}
