//! Sans-IO tests of notifier services in the relay core: the queue-service association's
//! lifecycle (`subscribeNotifications`, `subscribeServiceNotifications`, the subscribers
//! thread's `CSClient`/`CSService`/`CSDeleted`, `clientDisconnected`) and the service checks
//! of `verifyQueueTransmission`.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use smp_proto::broker::BrokerMsg;
use smp_proto::command::{NewQueueReq, SmpCommand, SubscriptionMode};
use smp_proto::crypto::{ed25519_public, sign_ed25519, x25519_public, Signature, TransmissionAuth};
use smp_proto::error_type::{CommandError, ErrorType};
use smp_proto::handshake::ServiceRole;
use smp_proto::keys::{AuthPublicKey, PublicKey, X25519PublicKey};
use smp_proto::message::MsgFlags;
use smp_proto::service::queue_authorized;
use smp_proto::transmission::{ForAuth, TransmissionParams};
use smp_proto::version::Version;

use super::core::{ClientId, Relay, RelayConfig, SessionParams, SessionService, Transmit};
use super::sqlite_store::{SqliteQueueStore, DB_FILE};
use super::store::{MemQueueStore, QueueStore};

const QUEUE: [u8; 32] = [5; 32];
const SERVICE_KEY: [u8; 32] = [7; 32];
const OTHER_KEY: [u8; 32] = [8; 32];
const HASH: [u8; 32] = [9; 32];
const T0: i64 = 1_700_000_000;

struct Net<S> {
    r: Relay<S, ChaCha20Rng>,
    sid: u8,
}

impl<S: QueueStore> Net<S> {
    fn new(store: S) -> Self {
        Self {
            r: Relay::new(RelayConfig::default(), store, ChaCha20Rng::seed_from_u64(3)),
            sid: 0,
        }
    }

    fn params(&mut self, service: Option<SessionService>) -> SessionParams {
        self.sid += 1;
        SessionParams {
            version: Version(18),
            session_id: vec![self.sid; 32],
            server_private: None,
            service,
        }
    }

    fn plain(&mut self) -> ClientId {
        let p = self.params(None);
        self.r.connect(p)
    }

    /// A session of the notifier service with certificate hash `hash` and session key `key`.
    fn service(&mut self, hash: [u8; 32], key: &[u8; 32]) -> (ClientId, Vec<u8>) {
        let id = self
            .r
            .register_service(ServiceRole::Notifier, &[], &hash, T0)
            .unwrap();
        let sv = SessionService {
            service_id: id.clone(),
            role: ServiceRole::Notifier,
            cert_hash: hash,
            key: ed25519_public(key),
        };
        let p = self.params(Some(sv));
        (self.r.connect(p), id)
    }

    /// A transmission of `c`: `queue` signs (over `cert-hash ++ authorized` when `service`
    /// also signs), `service` = (cert hash, key) adds the service signature.
    fn tx(
        &self,
        c: ClientId,
        queue: Option<&[u8; 32]>,
        service: Option<([u8; 32], &[u8; 32])>,
        ent: &[u8],
        cmd: &SmpCommand,
    ) -> Vec<u8> {
        let p = self.r.session(c).unwrap().clone();
        let tp = TransmissionParams::smp(&p.session_id, p.version);
        let fa = ForAuth::new(&tp, b"corr", ent, &cmd.to_vec(p.version));
        let signed = match service {
            Some((hash, _)) => queue_authorized(&hash, fa.for_auth()),
            None => fa.for_auth().to_vec(),
        };
        let auth = queue
            .map(|s| TransmissionAuth::Signature(Signature::Ed25519(sign_ed25519(s, &signed))));
        let ssig = service.map(|(_, k)| sign_ed25519(k, fa.for_auth()));
        let mut b = Vec::new();
        fa.encode(tp.service_auth, auth.as_ref(), ssig.as_ref(), &mut b);
        b
    }

    /// Handles one transmission as the shell does (keys, verification, handling).
    fn send(&mut self, c: ClientId, t: Vec<u8>) -> Vec<Transmit> {
        let items = [Ok(t)];
        let pre = self.r.authorization_keys(c, &items).unwrap().run(&items);
        self.r.handle_block_preverified(c, T0, &items, &pre)
    }

    /// A queue with notifications: (recipient id, sender id, notifier id).
    fn queue(&mut self, c: ClientId) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let new = SmpCommand::New(Box::new(NewQueueReq {
            rcv_auth_key: key(),
            rcv_dh_key: X25519PublicKey(x25519_public(&[6; 32])),
            basic_auth: None,
            sub_mode: SubscriptionMode::OnlyCreate,
            queue_req_data: None,
            ntf_creds: None,
        }));
        let t = self.tx(c, Some(&QUEUE), None, b"", &new);
        let (rid, sid) = match self.send(c, t).pop().unwrap().msg {
            BrokerMsg::Ids(i) => (i.rcv_id, i.snd_id),
            m => panic!("{m:?}"),
        };
        let nkey = SmpCommand::Nkey {
            notifier_key: key(),
            dh_key: X25519PublicKey(x25519_public(&[6; 32])),
        };
        let t = self.tx(c, Some(&QUEUE), None, &rid, &nkey);
        let nid = match self.send(c, t).pop().unwrap().msg {
            BrokerMsg::Nid { notifier_id, .. } => notifier_id,
            m => panic!("{m:?}"),
        };
        (rid, sid, nid)
    }

    fn nsub_service(&mut self, c: ClientId, nid: &[u8]) -> Vec<Transmit> {
        let t = self.tx(
            c,
            Some(&QUEUE),
            Some((HASH, &SERVICE_KEY)),
            nid,
            &SmpCommand::Nsub,
        );
        self.send(c, t)
    }

    fn nsub_plain(&mut self, c: ClientId, nid: &[u8]) -> Vec<Transmit> {
        let t = self.tx(c, Some(&QUEUE), None, nid, &SmpCommand::Nsub);
        self.send(c, t)
    }

    fn nsubs(&mut self, c: ClientId, service_id: &[u8]) -> Vec<Transmit> {
        let t = self.tx(c, Some(&SERVICE_KEY), None, service_id, &SmpCommand::Nsubs);
        self.send(c, t)
    }

    fn notify(&mut self, c: ClientId, snd: &[u8]) -> Vec<Transmit> {
        let cmd = SmpCommand::Send {
            flags: MsgFlags { notification: true },
            body: b"hi".to_vec(),
        };
        let t = self.tx(c, None, None, snd, &cmd);
        self.send(c, t)
    }
}

fn key() -> AuthPublicKey {
    AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&QUEUE))).unwrap()
}

/// (client, entity id, tag) of each transmission, for comparing.
fn seen(out: &[Transmit]) -> Vec<(ClientId, Vec<u8>, String)> {
    out.iter()
        .map(|t| {
            let tag = match &t.msg {
                BrokerMsg::Ends { count } => format!("ENDS {count}"),
                BrokerMsg::Soks { count } => format!("SOKS {count}"),
                BrokerMsg::Sok { service_id } => format!("SOK {}", service_id.is_some()),
                BrokerMsg::Err { error } => format!("ERR {error:?}"),
                m => m.tag().to_string(),
            };
            (t.client, t.entity_id.clone(), tag)
        })
        .collect()
}

fn e(c: ClientId, ent: &[u8], tag: &str) -> (ClientId, Vec<u8>, String) {
    (c, ent.to_vec(), tag.to_string())
}

#[test]
fn association_lifecycle() {
    let mut n = Net::new(MemQueueStore::new());
    let rcp = n.plain();
    let (_r1, s1, n1) = n.queue(rcp);
    let (r2, s2, n2) = n.queue(rcp);
    let (r3, _s3, n3) = n.queue(rcp);
    let ntf = n.plain();
    assert_eq!(
        seen(&n.nsub_plain(ntf, &n1)),
        vec![e(ntf, &n1, "SOK false")]
    );

    // a service session's NSUB: SOK service-id, END to the plain subscriber, association
    let (a, svc) = n.service(HASH, &SERVICE_KEY);
    let out = n.nsub_service(a, &n1);
    assert_eq!(seen(&out), vec![e(ntf, &n1, "END"), e(a, &n1, "SOK true")]);
    assert_eq!(
        out[1].msg,
        BrokerMsg::Sok {
            service_id: Some(svc.clone())
        }
    );
    assert_eq!(seen(&n.nsub_service(a, &n2)), vec![e(a, &n2, "SOK true")]);
    assert_eq!(seen(&n.nsub_service(a, &n3)), vec![e(a, &n3, "SOK true")]);
    assert_eq!(n.r.store().ntf_service_count(&svc), 3);
    // an associated queue's notification goes to the service's session only
    let out = n.notify(rcp, &s1);
    assert_eq!(seen(&out), vec![e(rcp, &s1, "OK"), e(a, &n1, "NMSG")]);

    // NSUBS: the count; again in the same session: the session's count
    assert_eq!(seen(&n.nsubs(a, &svc)), vec![e(a, &svc, "SOKS 3")]);
    assert_eq!(seen(&n.nsubs(a, &svc)), vec![e(a, &svc, "SOKS 3")]);

    // another session of the same service: the old one gets ENDS with its count
    let (b, svc_b) = n.service(HASH, &SERVICE_KEY);
    assert_eq!(svc_b, svc, "the same certificate is the same service");
    assert_eq!(
        seen(&n.nsubs(b, &svc)),
        vec![e(a, &svc, "ENDS 3"), e(b, &svc, "SOKS 3")]
    );
    assert_eq!(
        seen(&n.notify(rcp, &s2)),
        vec![e(rcp, &s2, "OK"), e(b, &n2, "NMSG")]
    );

    // no subscribed session: kept, and delivered after NSUBS in a new session
    n.r.disconnect(b);
    assert_eq!(seen(&n.notify(rcp, &s2)), vec![e(rcp, &s2, "OK")]);
    assert_eq!(n.r.stored_notifications(), 1);
    let (c, _) = n.service(HASH, &SERVICE_KEY);
    assert_eq!(
        seen(&n.nsubs(c, &svc)),
        vec![e(c, &svc, "SOKS 3"), e(c, &n2, "NMSG")]
    );
    assert_eq!(n.r.stored_notifications(), 0);

    // a plain NSUB of an associated queue removes the association: END to the service
    assert_eq!(
        seen(&n.nsub_plain(ntf, &n1)),
        vec![e(c, &n1, "END"), e(ntf, &n1, "SOK false")]
    );
    assert_eq!(n.r.store().ntf_service_count(&svc), 2);
    assert_eq!(
        seen(&n.notify(rcp, &s1)),
        vec![e(rcp, &s1, "OK"), e(ntf, &n1, "NMSG")]
    );

    // NDEL and DEL: DELD to the service's session, the association is gone
    let t = n.tx(rcp, Some(&QUEUE), None, &r2, &SmpCommand::Ndel);
    assert_eq!(
        seen(&n.send(rcp, t)),
        vec![e(c, &n2, "DELD"), e(rcp, &r2, "OK")]
    );
    let t = n.tx(rcp, Some(&QUEUE), None, &r3, &SmpCommand::Del);
    assert_eq!(
        seen(&n.send(rcp, t)),
        vec![e(c, &n3, "DELD"), e(rcp, &r3, "OK")]
    );
    assert_eq!(n.r.store().ntf_service_count(&svc), 0);
    // the session's count went down with each (END, DELD, DELD): NSUBS again answers it
    assert_eq!(seen(&n.nsubs(c, &svc)), vec![e(c, &svc, "SOKS 0")]);
}

/// `newSub` for plain sessions: the same session again gets only `SOK`; another session
/// takes the queue over and the previous subscriber gets `END`.
#[test]
fn plain_nsub_again_and_from_another_session() {
    let mut n = Net::new(MemQueueStore::new());
    let rcp = n.plain();
    let (_r1, s1, n1) = n.queue(rcp);
    let a = n.plain();
    let b = n.plain();
    assert_eq!(seen(&n.nsub_plain(a, &n1)), vec![e(a, &n1, "SOK false")]);
    assert_eq!(seen(&n.nsub_plain(a, &n1)), vec![e(a, &n1, "SOK false")]);
    assert_eq!(
        seen(&n.nsub_plain(b, &n1)),
        vec![e(a, &n1, "END"), e(b, &n1, "SOK false")]
    );
    assert_eq!(
        seen(&n.notify(rcp, &s1)),
        vec![e(rcp, &s1, "OK"), e(b, &n1, "NMSG")]
    );
    // the session that was ended no longer has the queue: after `b` leaves, `a` again
    n.r.disconnect(b);
    assert_eq!(seen(&n.nsub_plain(a, &n1)), vec![e(a, &n1, "SOK false")]);
    assert_eq!(
        seen(&n.notify(rcp, &s1)),
        vec![e(rcp, &s1, "OK"), e(a, &n1, "NMSG")]
    );
}

#[test]
fn another_service_takes_a_queue_over() {
    let mut n = Net::new(MemQueueStore::new());
    let rcp = n.plain();
    let (_, snd, nid) = n.queue(rcp);
    let (a, svc_a) = n.service(HASH, &SERVICE_KEY);
    assert_eq!(seen(&n.nsub_service(a, &nid)), vec![e(a, &nid, "SOK true")]);
    // a different certificate: a different service; the old one's session gets END
    let (b, svc_b) = n.service([1; 32], &OTHER_KEY);
    assert_ne!(svc_a, svc_b);
    let t = n.tx(
        b,
        Some(&QUEUE),
        Some(([1; 32], &OTHER_KEY)),
        &nid,
        &SmpCommand::Nsub,
    );
    assert_eq!(
        seen(&n.send(b, t)),
        vec![e(a, &nid, "END"), e(b, &nid, "SOK true")]
    );
    assert_eq!(n.r.store().ntf_service_count(&svc_a), 0);
    assert_eq!(n.r.store().ntf_service_count(&svc_b), 1);
    assert_eq!(
        seen(&n.notify(rcp, &snd)),
        vec![e(rcp, &snd, "OK"), e(b, &nid, "NMSG")]
    );
    // the same association again (a lost answer) in a session without service subscriptions
    // subscribes it; the previous session of that service is ended
    let (b2, _) = n.service([1; 32], &OTHER_KEY);
    let t = n.tx(
        b2,
        Some(&QUEUE),
        Some(([1; 32], &OTHER_KEY)),
        &nid,
        &SmpCommand::Nsub,
    );
    assert_eq!(
        seen(&n.send(b2, t)),
        vec![e(b, &svc_b, "ENDS 1"), e(b2, &nid, "SOK true")]
    );
}

#[test]
fn service_checks() {
    let mut n = Net::new(MemQueueStore::new());
    let rcp = n.plain();
    let (rid, _, nid) = n.queue(rcp);
    let (a, svc) = n.service(HASH, &SERVICE_KEY);
    let err = |out: Vec<Transmit>| -> ErrorType {
        match out.as_slice() {
            [Transmit {
                msg: BrokerMsg::Err { error },
                ..
            }] => error.clone(),
            o => panic!("{o:?}"),
        }
    };
    // NSUB in a service session without the service signature, or with a bad one
    let t = n.tx(a, Some(&QUEUE), None, &nid, &SmpCommand::Nsub);
    assert_eq!(err(n.send(a, t)), ErrorType::Service);
    let t = n.tx(
        a,
        Some(&QUEUE),
        Some((HASH, &OTHER_KEY)),
        &nid,
        &SmpCommand::Nsub,
    );
    assert_eq!(err(n.send(a, t)), ErrorType::Service);
    // the queue key must cover the certificate hash
    let t = n.tx(
        a,
        Some(&QUEUE),
        Some(([3; 32], &SERVICE_KEY)),
        &nid,
        &SmpCommand::Nsub,
    );
    assert_eq!(err(n.send(a, t)), ErrorType::Auth);
    // a service signature outside a service session
    let t = n.tx(
        rcp,
        Some(&QUEUE),
        Some((HASH, &SERVICE_KEY)),
        &nid,
        &SmpCommand::Nsub,
    );
    assert_eq!(err(n.send(rcp, t)), ErrorType::Service);
    // on a command that takes none (NDEL), even in a plain session
    let t = n.tx(
        rcp,
        Some(&QUEUE),
        Some((HASH, &SERVICE_KEY)),
        &rid,
        &SmpCommand::Ndel,
    );
    assert_eq!(err(n.send(rcp, t)), ErrorType::Service);
    // a notifier service may not send recipient commands
    let t = n.tx(a, Some(&QUEUE), None, &rid, &SmpCommand::Ndel);
    assert_eq!(err(n.send(a, t)), ErrorType::Cmd(CommandError::Prohibited));
    // PING is any session's
    let t = n.tx(a, None, None, b"", &SmpCommand::Ping);
    assert_eq!(n.send(a, t)[0].msg, BrokerMsg::Pong);
    // NSUBS: outside a service session, another entity, another key, a service signature
    assert_eq!(err(n.nsubs(rcp, &svc)), ErrorType::Service);
    assert_eq!(err(n.nsubs(a, b"other")), ErrorType::Service);
    let t = n.tx(a, Some(&OTHER_KEY), None, &svc, &SmpCommand::Nsubs);
    assert_eq!(err(n.send(a, t)), ErrorType::Service);
    let t = n.tx(
        a,
        Some(&SERVICE_KEY),
        Some((HASH, &SERVICE_KEY)),
        &svc,
        &SmpCommand::Nsubs,
    );
    assert_eq!(err(n.send(a, t)), ErrorType::Service);
    let t = n.tx(a, None, None, &svc, &SmpCommand::Nsubs);
    assert_eq!(err(n.send(a, t)), ErrorType::Cmd(CommandError::NoAuth));
    // nothing was associated by the refused commands
    assert_eq!(n.r.store().ntf_service_count(&svc), 0);
    // the same certificate with another role
    assert_eq!(
        n.r.register_service(ServiceRole::Messaging, &[], &HASH, T0),
        Err(ErrorType::Service)
    );
}

#[test]
fn association_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let (snd, nid, svc) = {
        let mut n = Net::new(SqliteQueueStore::open(&path).unwrap());
        let rcp = n.plain();
        let (_, snd, nid) = n.queue(rcp);
        let (_, _, n2) = n.queue(rcp);
        let (a, svc) = n.service(HASH, &SERVICE_KEY);
        n.nsub_service(a, &nid);
        n.nsub_service(a, &n2);
        n.r.disconnect(a);
        // kept while no session of the service is subscribed
        n.notify(rcp, &snd);
        (snd, nid, svc)
    };
    let mut n = Net::new(SqliteQueueStore::open(&path).unwrap());
    let (a, svc_again) = n.service(HASH, &SERVICE_KEY);
    assert_eq!(svc_again, svc);
    assert_eq!(
        seen(&n.nsubs(a, &svc)),
        vec![e(a, &svc, "SOKS 2"), e(a, &nid, "NMSG")]
    );
    let rcp = n.plain();
    assert_eq!(
        seen(&n.notify(rcp, &snd)),
        vec![e(rcp, &snd, "OK"), e(a, &nid, "NMSG")]
    );
}
