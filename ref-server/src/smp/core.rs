//! The relay core: transmissions of a connection in, transmissions to any connection out
//! (the reference's `Server.hs` client processing, subscribers and notification delivery).
//!
//! ```text
//! block  -> parse (RawTransmission) -> session/auth checks -> SmpCommand::decode
//!        -> check_credentials -> verify authorization against the queue's key
//!        -> execute -> Transmit (reply with the corr id; MSG/NMSG/END/DELD with an empty one)
//! ```
//!
//! Subscriptions: one connection per queue receives `MSG` (`SUB`), one per notifier id
//! receives `NMSG` (`NSUB`); a new subscriber from another connection sends `END` to the old
//! one; deleting the queue (or its notifier credentials) sends `DELD` (`END` below v10, by the
//! codec). Notifications of messages sent with the notification flag are delivered at once to
//! the notifier subscriber, or kept (for [`RelayConfig::ntf_expiration`] seconds) and
//! delivered in order on the next `NSUB`.
//!
//! Services (SMP v16+; `Server.hs` `subscribeNotifications`, `subscribeServiceNotifications`,
//! the subscribers thread's `CSClient`/`CSService`/`CSDeleted`): a connection whose handshake
//! registered a service ([`SessionParams::service`]) may only send its role's commands
//! (`CMD PROHIBITED`), and signs `NSUB` with its service key too (`SERVICE` otherwise). Its
//! `NSUB` associates the queue's notifier with the service (durably, in the store) and makes
//! the connection the service's subscriber: the queue's plain subscriber and a previous
//! service's subscriber get `END`, a previous subscriber of the same service `ENDS n`. A plain
//! `NSUB` of an associated queue removes the association (`END` to the service's subscriber).
//! `NSUBS` answers `SOKS n`, n the number of associated queues, and delivers their kept
//! notifications. Notifications of an associated queue go to the service's subscriber only.
//! `NDEL`, `DEL` and replaced notifier credentials drop the association, with `DELD` to the
//! service's subscriber.

use std::collections::{HashMap, HashSet};

use rand_core::RngCore;
use smp_proto::broker::{BrokerMsg, QueueIdsKeys, ServerNtfCreds};
use smp_proto::command::{
    NewQueueReq, Party, QueueMode, QueueReqData, SmpCommand, SubscriptionMode,
};
use smp_proto::crypto::{
    dh, dummy_verify_authorization, verify_authorization, x25519_public, TransmissionAuth,
};
use smp_proto::error::DecodeErrorKind;
use smp_proto::error_type::{CommandError, ErrorType, TransportError};
use smp_proto::keys::{AuthPublicKey, X25519PublicKey};
use smp_proto::crypto::{Certificate, ED25519_SIGNATURE_LEN};
use smp_proto::handshake::ServiceRole;
use smp_proto::message::{max_message_length, MsgFlags, NMsgMeta, RcvMsgBody};
use smp_proto::service::{
    check_service_command, check_service_signature, queue_authorized, role_allows,
};
use smp_proto::transmission::{ForAuth, RawTransmission, TransmissionParams};
use smp_proto::version::{smp, Version};

pub use ref_transport::SessionService;

use super::store::{
    MsgNtf, NtfCreds, QueueId, QueueRec, QueueStatus, QueueStore, ServiceRec, StoredMessage,
};

/// A connection's id in the core.
pub type ClientId = u64;

/// Relay settings (the reference's `ServerConfig` subset).
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Length of generated queue ids (24).
    pub queue_id_bytes: usize,
    /// Length of generated message ids (24).
    pub msg_id_bytes: usize,
    /// Messages a queue holds before the quota marker (128).
    pub msg_queue_quota: usize,
    /// Seconds an undelivered notification is kept (24 h).
    pub ntf_expiration: i64,
    /// Whether `NEW` is allowed.
    pub allow_new_queues: bool,
    /// The password `NEW` must carry, if any.
    pub basic_auth: Option<Vec<u8>>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            queue_id_bytes: 24,
            msg_id_bytes: 24,
            msg_queue_quota: 128,
            ntf_expiration: 24 * 3600,
            allow_new_queues: true,
            basic_auth: None,
        }
    }
}

/// The negotiated parameters of a connection.
#[derive(Clone, Debug)]
pub struct SessionParams {
    /// The SMP version.
    pub version: Version,
    /// The session id (`tls-unique`).
    pub session_id: Vec<u8>,
    /// The relay's session X25519 private key (verifies authenticators from v7).
    pub server_private: Option<[u8; 32]>,
    /// The client's service, when its handshake registered one (v16+): service id, role,
    /// certificate hash and the client's Ed25519 session public key.
    pub service: Option<SessionService>,
}

/// A transmission to send to a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The connection.
    pub client: ClientId,
    /// The correlation id (empty for deliveries and events).
    pub corr_id: Vec<u8>,
    /// The entity id.
    pub entity_id: Vec<u8>,
    /// The message.
    pub msg: BrokerMsg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SubKind {
    /// `SUB`: messages are pushed.
    Server,
    /// `GET` was used: no pushed messages, `SUB` prohibited.
    Prohibit,
}

#[derive(Clone, Debug)]
struct Sub {
    kind: SubKind,
    delivered: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Client {
    params: SessionParams,
    subs: HashMap<QueueId, Sub>,
    ntf_subs: HashSet<QueueId>,
    /// `NSUBS` was answered (`ntfServiceSubscribed`)
    service_subscribed: bool,
    /// queues subscribed through the service (`ntfServiceSubsCount`)
    service_subs: i64,
}

/// The relay: queue store (with the kept notifications), connections and subscribers.
#[derive(Debug)]
pub struct Relay<S, R> {
    config: RelayConfig,
    store: S,
    rng: R,
    clients: HashMap<ClientId, Client>,
    queue_subscribers: HashMap<QueueId, ClientId>,
    ntf_subscribers: HashMap<QueueId, ClientId>,
    /// the connection subscribed as each notifier service (`serviceSubscribers`)
    service_subscribers: HashMap<QueueId, ClientId>,
    next_client: ClientId,
}

type Out = Vec<Transmit>;

impl<S: QueueStore, R: RngCore> Relay<S, R> {
    /// A relay over `store`, drawing keys, ids and nonces from `rng`.
    pub fn new(config: RelayConfig, store: S, rng: R) -> Self {
        Self {
            config,
            store,
            rng,
            clients: HashMap::new(),
            queue_subscribers: HashMap::new(),
            ntf_subscribers: HashMap::new(),
            service_subscribers: HashMap::new(),
            next_client: 1,
        }
    }

    /// The queue store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Number of notifications kept for notifier ids without a subscriber.
    pub fn stored_notifications(&self) -> usize {
        self.store.ntf_count()
    }

    /// Registers a connection after its handshake.
    pub fn connect(&mut self, params: SessionParams) -> ClientId {
        let id = self.next_client;
        self.next_client += 1;
        self.clients.insert(
            id,
            Client {
                params,
                subs: HashMap::new(),
                ntf_subs: HashSet::new(),
                service_subscribed: false,
                service_subs: 0,
            },
        );
        id
    }

    /// Registers a service client at its handshake (`getClientService`, `getCreateService`):
    /// its id, the existing one for a known certificate hash or a new random one.
    ///
    /// # Errors
    /// The store's: `SERVICE` for a certificate registered with another role, `INTERNAL`; the
    /// handshake answers them with `HANDSHAKE BAD_SERVICE`.
    pub fn register_service(
        &mut self,
        role: ServiceRole,
        chain: &[Certificate],
        cert_hash: &[u8; 32],
        now: i64,
    ) -> Result<Vec<u8>, ErrorType> {
        let mut last = ErrorType::Internal;
        for _ in 0..3 {
            let rec = ServiceRec {
                service_id: self.random_id(self.config.queue_id_bytes),
                role,
                cert_chain: chain.iter().map(|c| c.der().to_vec()).collect(),
                cert_hash: *cert_hash,
                created_at: now,
            };
            match self.store.get_create_service(rec) {
                Err(ErrorType::Duplicate) => last = ErrorType::Duplicate,
                r => return r,
            }
        }
        Err(last)
    }

    /// The parameters of a connection.
    pub fn session(&self, client: ClientId) -> Option<&SessionParams> {
        self.clients.get(&client).map(|c| &c.params)
    }

    /// Forgets a closed connection and its subscriptions (no `END` is sent).
    pub fn disconnect(&mut self, client: ClientId) {
        if let Some(c) = self.clients.remove(&client) {
            // clientDisconnected: deleteSubcribedClient for the service
            if let Some(sv) = &c.params.service {
                if self.service_subscribers.get(&sv.service_id) == Some(&client) {
                    self.service_subscribers.remove(&sv.service_id);
                }
            }
            for q in c.subs.keys() {
                if self.queue_subscribers.get(q) == Some(&client) {
                    self.queue_subscribers.remove(q);
                }
            }
            for n in &c.ntf_subs {
                if self.ntf_subscribers.get(n) == Some(&client) {
                    self.ntf_subscribers.remove(n);
                }
            }
        }
    }

    /// Drops kept notifications older than the expiration (`deleteExpiredNtfs`).
    pub fn expire(&mut self, now: i64) -> usize {
        self.store
            .expire_ntfs(now.saturating_sub(self.config.ntf_expiration))
    }

    /// Processes the transmissions of one received block of `client` at Unix time `now`.
    /// `items` are the block's transmissions, or the transport error of a malformed block.
    pub fn handle_block(
        &mut self,
        client: ClientId,
        now: i64,
        items: &[Result<Vec<u8>, TransportError>],
    ) -> Out {
        self.handle_block_preverified(client, now, items, &Preverified::default())
    }

    /// Phase 1 of the split handling (see [`Preverified`]): the keys each transmission of the
    /// block would be verified with in the current state. Reads only; `None` for an unknown
    /// connection.
    pub fn authorization_keys(
        &self,
        client: ClientId,
        items: &[Result<Vec<u8>, TransportError>],
    ) -> Option<VerifyJob> {
        let params = self.clients.get(&client)?.params.clone();
        let keys = items
            .iter()
            .map(|item| {
                let Ok(bytes) = item else { return Vec::new() };
                let Ok((p, cmd)) = parse_transmission(client, &params, bytes) else {
                    return Vec::new();
                };
                if p.auth.is_none() {
                    return Vec::new();
                }
                let mut collect = Collect(Vec::new());
                let _ = self.verify(&p.ctx(&params, 0), &cmd, &mut collect);
                collect.0
            })
            .collect();
        Some(VerifyJob { params, keys })
    }

    /// Phase 3 of the split handling: [`Relay::handle_block`] using the results of
    /// [`VerifyJob::run`] for the keys it finds again; any other key is verified here.
    /// Responses and state are those of [`Relay::handle_block`].
    pub fn handle_block_preverified(
        &mut self,
        client: ClientId,
        now: i64,
        items: &[Result<Vec<u8>, TransportError>],
        pre: &Preverified,
    ) -> Out {
        let mut out = Vec::new();
        let session = self.clients.get(&client).map(|c| c.params.session_id.as_slice());
        let same_session = session == Some(pre.session_id.as_slice());
        for (i, item) in items.iter().enumerate() {
            match item {
                Ok(t) => {
                    let known = match pre.items.get(i) {
                        Some((bytes, results)) if same_session && bytes == t => results.as_slice(),
                        _ => &[],
                    };
                    self.handle_checked(client, now, t, &mut Check(known), &mut out);
                }
                Err(e) => out.push(reply(client, b"", b"", err_transport(*e))),
            }
        }
        out
    }

    /// Processes one transmission (as sent: authorization, then the rest).
    pub fn handle_transmission(&mut self, client: ClientId, now: i64, bytes: &[u8], out: &mut Out) {
        self.handle_checked(client, now, bytes, &mut Check(&[]), out);
    }

    fn handle_checked(
        &mut self,
        client: ClientId,
        now: i64,
        bytes: &[u8],
        check: &mut dyn KeyCheck,
        out: &mut Out,
    ) {
        let Some(params) = self.clients.get(&client).map(|c| c.params.clone()) else {
            return;
        };
        let (p, cmd) = match parse_transmission(client, &params, bytes) {
            Ok(p) => p,
            Err(t) => return out.push(*t),
        };
        let ctx = p.ctx(&params, now);
        match self.verify(&ctx, &cmd, check) {
            Ok(rid) => self.process(&ctx, cmd, rid, out),
            Err(e) => out.push(reply(client, ctx.corr, ctx.ent, e.into())),
        }
    }

    /// `verifyTransmission`: the queue the command is for, if it is authorized. Each key is
    /// checked through `check` (verified, looked up in earlier results, or only recorded).
    fn verify(
        &self,
        ctx: &Ctx<'_>,
        cmd: &SmpCommand,
        check: &mut dyn KeyCheck,
    ) -> Result<Option<Verified>, ErrorType> {
        let party = cmd.party();
        // verifyQueueTransmission: the service role, then the service signature
        if !role_allows(ctx.service.map(|s| s.role), party) {
            return Err(ErrorType::Cmd(CommandError::Prohibited));
        }
        if check.services() {
            let key = ctx.service.map(|s| &s.key);
            if !check_service_signature(cmd.uses_service_auth(), key, ctx.service_sig, ctx.plain) {
                return Err(ErrorType::Service);
            }
        }
        let dummy = |check: &mut dyn KeyCheck| {
            check.dummy(ctx);
            Err(ErrorType::Auth)
        };
        let q = match party {
            Party::Creator => {
                let SmpCommand::New(req) = cmd else {
                    return Err(ErrorType::Internal);
                };
                return if check.check(ctx, &req.rcv_auth_key) {
                    Ok(None)
                } else {
                    Err(ErrorType::Auth)
                };
            }
            Party::IdleClient => return Ok(None),
            // verifyServiceCmd
            Party::NotifierService => {
                let service = ctx.service.map(|s| (s.service_id.as_slice(), &s.key));
                let ok = !check.services()
                    || check_service_command(
                        service,
                        ctx.auth,
                        ctx.service_sig.is_some(),
                        ctx.ent,
                        ctx.plain,
                    );
                return if ok { Ok(None) } else { Err(ErrorType::Service) };
            }
            _ => match self.store.find(party, ctx.ent) {
                Some(rid) => rid,
                None => return dummy(check),
            },
        };
        let Some(rec) = self.store.queue(&q) else {
            return dummy(check);
        };
        let ok = match (party, cmd) {
            (Party::Recipient, _) => rec.recipient_keys.iter().any(|k| check.check(ctx, k)),
            (Party::Sender, SmpCommand::Skey { sender_key }) => {
                let allowed = rec.queue_mode == Some(QueueMode::Messaging)
                    && rec.sender_key.as_ref().is_none_or(|k| k == sender_key);
                if !allowed {
                    return dummy(check);
                }
                check.check(ctx, sender_key)
            }
            (Party::Sender, _) => match &rec.sender_key {
                Some(k) => check.check(ctx, k),
                None => ctx.auth.is_none(),
            },
            (Party::Notifier, _) => match &rec.notifier {
                Some(n) => check.check(ctx, &n.notifier_key),
                None => return dummy(check),
            },
            _ => false,
        };
        if !ok {
            return Err(ErrorType::Auth);
        }
        // the notifier's service association, for `NSUB`, from the record found here
        // rather than by a second lookup
        let ntf_service = match party {
            Party::Notifier => rec.notifier.as_ref().and_then(|n| n.ntf_service_id.clone()),
            _ => None,
        };
        Ok(Some(Verified { rid: q, ntf_service }))
    }

    fn process(&mut self, ctx: &Ctx<'_>, cmd: SmpCommand, v: Option<Verified>, out: &mut Out) {
        let (client, corr, ent) = (ctx.client, ctx.corr, ctx.ent);
        let rid = match (cmd, v) {
            (SmpCommand::Ping, _) => return out.push(reply(client, corr, b"", BrokerMsg::Pong)),
            (SmpCommand::Nsubs, _) => return self.subscribe_service_notifications(ctx, out),
            (SmpCommand::New(req), _) => {
                let r = self.create_queue(ctx, *req, out);
                return out.push(reply(client, corr, ent, r));
            }
            (SmpCommand::Nsub, Some(v)) => {
                return self.subscribe_notifications(ctx, &v.rid, v.ntf_service, out)
            }
            (cmd, Some(v)) => (cmd, v.rid),
            (_, None) => return out.push(reply(client, corr, ent, ErrorType::Internal.into())),
        };
        let (cmd, rid) = rid;
        let r = match cmd {
            SmpCommand::Sub => return self.subscribe(ctx, &rid, out),
            SmpCommand::Get => self.get_message(ctx, &rid),
            SmpCommand::Ack { msg_id } => self.ack(ctx, &rid, &msg_id),
            SmpCommand::Key { sender_key } => ok_or(self.store.secure_queue(&rid, sender_key)),
            SmpCommand::Skey { sender_key } => {
                let messaging = self
                    .store
                    .queue(&rid)
                    .is_some_and(|q| q.queue_mode == Some(QueueMode::Messaging));
                if messaging {
                    ok_or(self.store.secure_queue(&rid, sender_key))
                } else {
                    ErrorType::Auth.into()
                }
            }
            SmpCommand::Nkey {
                notifier_key,
                dh_key,
            } => self.add_notifier(ctx, &rid, notifier_key, dh_key, out),
            SmpCommand::Ndel => match self.store.delete_notifier(&rid) {
                Ok(Some(n)) => {
                    self.notifier_deleted(client, &n, out);
                    BrokerMsg::Ok
                }
                Ok(None) => BrokerMsg::Ok,
                Err(e) => e.into(),
            },
            SmpCommand::Off => ok_or(self.store.suspend_queue(&rid)),
            SmpCommand::Del => self.delete_queue(ctx, &rid, out),
            SmpCommand::Send { flags, body } => {
                // the reply goes before the deliveries this message causes
                let mut deliveries = Vec::new();
                let r = self.send_message(ctx, &rid, flags, body, &mut deliveries);
                out.push(reply(client, corr, ent, r));
                out.extend(deliveries);
                return;
            }
            _ => ErrorType::Internal.into(),
        };
        out.push(reply(client, corr, ent, r));
    }
}

/// A transmission parsed as far as verification needs: authorization checked for the
/// session, command decoded, credentials present as the command requires.
struct Parsed<'a> {
    client: ClientId,
    corr: &'a [u8],
    ent: &'a [u8],
    auth: Option<TransmissionAuth>,
    /// what the entity key authorizes: `cert-hash ++ authorized` with a service signature
    authorized: Vec<u8>,
    /// the authorized bytes themselves (what the service key signs)
    plain: Vec<u8>,
    service_sig: Option<[u8; ED25519_SIGNATURE_LEN]>,
}

impl<'a> Parsed<'a> {
    fn ctx(&'a self, params: &'a SessionParams, now: i64) -> Ctx<'a> {
        let v = params.version;
        Ctx {
            client: self.client,
            corr: self.corr,
            ent: self.ent,
            auth: self.auth.as_ref(),
            authorized: &self.authorized,
            plain: &self.plain,
            server_private: params.server_private.as_ref().filter(|_| v >= smp::AUTH_CMDS),
            service_sig: self.service_sig.as_ref(),
            service: params.service.as_ref(),
            version: v,
            now,
        }
    }
}

/// Parses `bytes` of `client`; the error reply when it is not a well-formed command.
fn parse_transmission<'a>(
    client: ClientId,
    params: &'a SessionParams,
    bytes: &'a [u8],
) -> Result<(Parsed<'a>, SmpCommand), Box<Transmit>> {
    let v = params.version;
    let tp = TransmissionParams::smp(&params.session_id, v);
    let err = |corr: &[u8], ent: &[u8], e: ErrorType| Box::new(reply(client, corr, ent, e.into()));
    let raw = RawTransmission::decode(bytes, &tp).map_err(|_| err(b"", b"", ErrorType::Block))?;
    let (corr, ent) = (raw.corr_id, raw.entity_id);
    let auth = raw.check(&tp).map_err(|e| match e {
        TransportError::Session => err(corr, b"", ErrorType::Session),
        _ => err(corr, b"", ErrorType::Block),
    })?;
    let cmd = SmpCommand::decode(raw.command, v).map_err(|e| {
        let ce = if e.kind == DecodeErrorKind::UnknownTag {
            CommandError::Unknown
        } else {
            CommandError::Syntax
        };
        err(corr, ent, ErrorType::Cmd(ce))
    })?;
    cmd.check_credentials(auth.is_some(), ent)
        .map_err(|e| err(corr, ent, e))?;
    let plain = raw.authorized();
    let service_sig = raw.service_signature.copied();
    // verifyQueueTransmission's authorized': the cert hash in front when both signed
    let authorized = match (&params.service, &service_sig) {
        (Some(sv), Some(_)) => queue_authorized(&sv.cert_hash, &plain),
        _ => plain.clone(),
    };
    let parsed = Parsed {
        client,
        corr,
        ent,
        authorized,
        plain,
        service_sig,
        auth,
    };
    Ok((parsed, cmd))
}

/// How [`Relay::verify`] checks a transmission's authorization against a key.
trait KeyCheck {
    /// Whether the authorization verifies with `key`.
    fn check(&mut self, ctx: &Ctx<'_>, key: &AuthPublicKey) -> bool;
    /// A verification that cannot succeed, so that an unknown entity takes as long as a
    /// known one (`dummyVerifyCmd`).
    fn dummy(&mut self, ctx: &Ctx<'_>);
    /// Whether the service signature and service commands are checked (not when only
    /// collecting keys).
    fn services(&self) -> bool {
        true
    }
}

/// Verifies, taking the result from `0` when it holds one for the key.
struct Check<'a>(&'a [(AuthPublicKey, bool)]);

impl KeyCheck for Check<'_> {
    fn check(&mut self, ctx: &Ctx<'_>, key: &AuthPublicKey) -> bool {
        match self.0.iter().find(|(k, _)| k == key) {
            Some((_, ok)) => *ok,
            None => verify_with(ctx.auth, key, ctx.authorized, ctx.corr, ctx.server_private),
        }
    }

    fn dummy(&mut self, ctx: &Ctx<'_>) {
        let _ = dummy_verify_authorization(ctx.auth, ctx.authorized, ctx.corr, ctx.server_private);
    }
}

/// Records the keys instead of verifying (every check fails, so all candidates are seen).
struct Collect(Vec<AuthPublicKey>);

impl KeyCheck for Collect {
    fn check(&mut self, _: &Ctx<'_>, key: &AuthPublicKey) -> bool {
        self.0.push(*key);
        false
    }

    fn dummy(&mut self, _: &Ctx<'_>) {}

    fn services(&self) -> bool {
        false
    }
}

fn verify_with(
    auth: Option<&TransmissionAuth>,
    key: &AuthPublicKey,
    authorized: &[u8],
    corr: &[u8],
    server_private: Option<&[u8; 32]>,
) -> bool {
    verify_authorization(auth, key.key(), authorized, corr, server_private)
}

/// The keys a block's transmissions are to be verified with, found by
/// [`Relay::authorization_keys`] (phase 1). [`VerifyJob::run`] needs no relay state, so it can
/// run off the relay's lock and on another thread.
#[derive(Debug)]
pub struct VerifyJob {
    params: SessionParams,
    keys: Vec<Vec<AuthPublicKey>>,
}

impl VerifyJob {
    /// Whether there is nothing to verify (no authorized transmission with a known key).
    pub fn is_empty(&self) -> bool {
        self.keys.iter().all(Vec::is_empty)
    }

    /// Phase 2: verifies each transmission of `items` (the block given to
    /// [`Relay::authorization_keys`]) with its keys.
    pub fn run(&self, items: &[Result<Vec<u8>, TransportError>]) -> Preverified {
        let params = &self.params;
        let items = items
            .iter()
            .zip(&self.keys)
            .map(|(item, keys)| {
                let (Ok(bytes), false) = (item, keys.is_empty()) else {
                    return (Vec::new(), Vec::new());
                };
                let Ok((p, _)) = parse_transmission(0, params, bytes) else {
                    return (Vec::new(), Vec::new());
                };
                let ctx = p.ctx(params, 0);
                let results = keys
                    .iter()
                    .map(|k| (*k, verify_with(ctx.auth, k, ctx.authorized, ctx.corr, ctx.server_private)))
                    .collect();
                (bytes.clone(), results)
            })
            .collect();
        Preverified {
            session_id: params.session_id.clone(),
            items,
        }
    }
}

/// Results of [`VerifyJob::run`] for a block: per transmission, its bytes, and keys with
/// whether its authorization verified with each.
///
/// A result is only used for the same bytes at the same position, on a connection with the
/// same session id, so results given for another block or connection are ignored.
///
/// Handling a block can be split in three so that the signatures are verified without the
/// relay's lock: [`Relay::authorization_keys`] (reads, under the lock), [`VerifyJob::run`] (no
/// lock), [`Relay::handle_block_preverified`] (under the lock). The last uses a result only
/// for the same key found again in the state of then, and verifies any other key itself, so
/// a state changed in between (another block handled first) cannot change the outcome.
#[derive(Debug, Default)]
pub struct Preverified {
    session_id: Vec<u8>,
    items: Vec<(Vec<u8>, KeyResults)>,
}

/// Keys, and whether a transmission's authorization verified with each.
type KeyResults = Vec<(AuthPublicKey, bool)>;

/// An authorized queue command's queue.
struct Verified {
    /// its recipient id
    rid: QueueId,
    /// its notifier's service association (`ntfServiceId`), for a notifier command
    ntf_service: Option<QueueId>,
}

/// The parts of a transmission the command handlers need.
struct Ctx<'a> {
    client: ClientId,
    corr: &'a [u8],
    ent: &'a [u8],
    auth: Option<&'a TransmissionAuth>,
    authorized: &'a [u8],
    plain: &'a [u8],
    server_private: Option<&'a [u8; 32]>,
    service_sig: Option<&'a [u8; ED25519_SIGNATURE_LEN]>,
    service: Option<&'a SessionService>,
    version: Version,
    now: i64,
}

fn reply(client: ClientId, corr: &[u8], ent: &[u8], msg: BrokerMsg) -> Transmit {
    Transmit {
        client,
        corr_id: corr.to_vec(),
        entity_id: ent.to_vec(),
        msg,
    }
}

fn err_transport(e: TransportError) -> BrokerMsg {
    match e {
        TransportError::LargeMsg => ErrorType::LargeMsg.into(),
        _ => ErrorType::Block.into(),
    }
}

fn ok_or(r: Result<(), ErrorType>) -> BrokerMsg {
    match r {
        Ok(()) => BrokerMsg::Ok,
        Err(e) => e.into(),
    }
}

/// SHA3-384 of the correlation id, first 24 bytes: the sender id a client may choose.
fn client_sender_id(corr_id: &[u8]) -> Vec<u8> {
    use sha3::Digest;
    sha3::Sha3_384::digest(corr_id)[..24].to_vec()
}

impl<S: QueueStore, R: RngCore> Relay<S, R> {
    fn random_id(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        self.rng.fill_bytes(&mut b);
        b
    }

    fn key_pair(&mut self) -> ([u8; 32], X25519PublicKey) {
        let mut k = [0u8; 32];
        self.rng.fill_bytes(&mut k);
        let public = X25519PublicKey(x25519_public(&k));
        (k, public)
    }

    fn is_connected(&self, c: ClientId) -> bool {
        self.clients.contains_key(&c)
    }

    /// `NEW` (`createQueue`).
    fn create_queue(&mut self, ctx: &Ctx<'_>, req: NewQueueReq, out: &mut Out) -> BrokerMsg {
        let allowed = self.config.allow_new_queues
            && self
                .config
                .basic_auth
                .as_ref()
                .is_none_or(|a| req.basic_auth.as_ref() == Some(a));
        if !allowed {
            return ErrorType::Auth.into();
        }
        let (private, rcv_public_dh_key) = self.key_pair();
        let rcv_dh_secret = dh(&req.rcv_dh_key.0, &private);
        let ntf_keys = req.ntf_creds.as_ref().map(|c| {
            let (p, public) = self.key_pair();
            (c.notifier_key, dh(&c.dh_key.0, &p), public)
        });
        let queue_mode = req.queue_req_data.as_ref().map(QueueReqData::mode);
        let id_len = self.config.queue_id_bytes;
        for _ in 0..3 {
            let (sender_id, client_ids, link) = match &req.queue_req_data {
                Some(QueueReqData::Messaging(Some(l))) => {
                    let link_id = self.random_id(id_len);
                    (l.sender_id.clone(), true, Some((link_id, l.data.clone())))
                }
                Some(QueueReqData::Contact(Some(c))) => (
                    c.link.sender_id.clone(),
                    true,
                    Some((c.link_id.clone(), c.link.data.clone())),
                ),
                _ => (self.random_id(id_len), false, None),
            };
            if client_ids && sender_id != client_sender_id(ctx.corr) {
                return ErrorType::Cmd(CommandError::Prohibited).into();
            }
            let rcv_id = self.random_id(id_len);
            let ntf = ntf_keys.map(|(notifier_key, secret, public)| {
                let notifier_id = self.random_id(id_len);
                (
                    NtfCreds {
                        notifier_id: notifier_id.clone(),
                        notifier_key,
                        rcv_ntf_dh_secret: secret,
                        ntf_service_id: None,
                    },
                    ServerNtfCreds {
                        notifier_id,
                        dh_key: public,
                    },
                )
            });
            let link_id = link.as_ref().map(|(l, _)| l.clone());
            let rec = QueueRec {
                sender_id: sender_id.clone(),
                recipient_keys: vec![req.rcv_auth_key],
                rcv_dh_secret,
                sender_key: None,
                queue_mode,
                link,
                notifier: ntf.as_ref().map(|(c, _)| c.clone()),
                status: QueueStatus::Active,
            };
            match self.store.add_queue(&rcv_id, rec) {
                Err(ErrorType::Duplicate) if client_ids => return ErrorType::Auth.into(),
                Err(ErrorType::Duplicate) => continue,
                Err(e) => return e.into(),
                Ok(()) => {
                    if req.sub_mode == SubscriptionMode::Subscribe {
                        self.add_queue_subscriber(ctx.client, &rcv_id, out);
                    }
                    return BrokerMsg::Ids(QueueIdsKeys {
                        rcv_id,
                        snd_id: sender_id,
                        rcv_public_dh_key,
                        queue_mode,
                        link_id,
                        service_id: None,
                        server_ntf_creds: ntf.map(|(_, s)| s),
                    });
                }
            }
        }
        ErrorType::Internal.into()
    }

    /// Makes `client` the queue's subscriber, ending the previous one's subscription.
    fn add_queue_subscriber(&mut self, client: ClientId, rid: &[u8], out: &mut Out) {
        if let Some(c) = self.clients.get_mut(&client) {
            c.subs.insert(
                rid.to_vec(),
                Sub {
                    kind: SubKind::Server,
                    delivered: None,
                },
            );
        }
        if let Some(prev) = self.queue_subscribers.insert(rid.to_vec(), client) {
            if prev != client {
                if let Some(p) = self.clients.get_mut(&prev) {
                    p.subs.remove(rid);
                    out.push(reply(prev, b"", rid, BrokerMsg::End));
                }
            }
        }
    }

    fn encrypt_msg(&self, rid: &[u8], msg: &StoredMessage) -> BrokerMsg {
        let Some(q) = self.store.queue(rid) else {
            return ErrorType::Internal.into();
        };
        let body = match msg {
            StoredMessage::Message {
                msg_ts,
                msg_flags,
                body,
                ..
            } => RcvMsgBody::Message {
                msg_ts: *msg_ts,
                msg_flags: *msg_flags,
                body: body.clone(),
            },
            StoredMessage::Quota { msg_ts, .. } => RcvMsgBody::Quota { msg_ts: *msg_ts },
        };
        match body.encrypt(&q.rcv_dh_secret, msg.msg_id()) {
            Ok(enc_body) => BrokerMsg::Msg {
                msg_id: msg.msg_id().to_vec(),
                enc_body,
            },
            Err(_) => ErrorType::Internal.into(),
        }
    }

    fn set_delivered(&mut self, client: ClientId, rid: &[u8], msg_id: Option<Vec<u8>>) {
        if let Some(s) = self
            .clients
            .get_mut(&client)
            .and_then(|c| c.subs.get_mut(rid))
        {
            s.delivered = msg_id;
        }
    }

    /// `SUB` (`subscribeQueueAndDeliver`): `SOK` (`OK` below v16), then the first message.
    fn subscribe(&mut self, ctx: &Ctx<'_>, rid: &[u8], out: &mut Out) {
        let (client, corr, ent) = (ctx.client, ctx.corr, ctx.ent);
        let existing = self
            .clients
            .get(&client)
            .and_then(|c| c.subs.get(rid))
            .map(|s| s.kind);
        match existing {
            Some(SubKind::Prohibit) => {
                return out.push(reply(
                    client,
                    corr,
                    ent,
                    ErrorType::Cmd(CommandError::Prohibited).into(),
                ))
            }
            Some(SubKind::Server) => self.set_delivered(client, rid, None),
            None => {
                let mut ends = Vec::new();
                self.add_queue_subscriber(client, rid, &mut ends);
                out.extend(ends);
            }
        }
        out.push(reply(
            client,
            corr,
            ent,
            BrokerMsg::Sok { service_id: None },
        ));
        if let Some(msg) = self.store.peek_msg(rid).cloned() {
            let m = self.encrypt_msg(rid, &msg);
            self.set_delivered(client, rid, Some(msg.msg_id().to_vec()));
            out.push(reply(client, b"", ent, m));
        }
    }

    /// `GET`: the first message as the reply, or `OK`; not allowed while subscribed.
    fn get_message(&mut self, ctx: &Ctx<'_>, rid: &[u8]) -> BrokerMsg {
        let client = ctx.client;
        let Some(c) = self.clients.get_mut(&client) else {
            return ErrorType::Internal.into();
        };
        match c.subs.get(rid).map(|s| s.kind) {
            Some(SubKind::Server) => return ErrorType::Cmd(CommandError::Prohibited).into(),
            Some(SubKind::Prohibit) => {}
            None => {
                c.subs.insert(
                    rid.to_vec(),
                    Sub {
                        kind: SubKind::Prohibit,
                        delivered: None,
                    },
                );
            }
        }
        match self.store.peek_msg(rid).cloned() {
            Some(msg) => {
                let m = self.encrypt_msg(rid, &msg);
                self.set_delivered(client, rid, Some(msg.msg_id().to_vec()));
                m
            }
            None => BrokerMsg::Ok,
        }
    }

    /// `ACK` (`acknowledgeMsg`): deletes the delivered message; the reply is the next message
    /// (after `SUB`) or `OK`; `NO_MSG` when that message was not delivered.
    fn ack(&mut self, ctx: &Ctx<'_>, rid: &[u8], msg_id: &[u8]) -> BrokerMsg {
        let client = ctx.client;
        let Some(sub) = self
            .clients
            .get_mut(&client)
            .and_then(|c| c.subs.get_mut(rid))
        else {
            return ErrorType::NoMsg.into();
        };
        match &sub.delivered {
            Some(d) if d == msg_id || msg_id.is_empty() => {}
            _ => return ErrorType::NoMsg.into(),
        }
        let delivered = sub.delivered.take().unwrap_or_default();
        let kind = sub.kind;
        let del_id = if msg_id.is_empty() {
            delivered
        } else {
            msg_id.to_vec()
        };
        let _ = self.store.del_msg(rid, &del_id);
        if kind == SubKind::Prohibit {
            return BrokerMsg::Ok;
        }
        match self.store.peek_msg(rid).cloned() {
            Some(next) => {
                let m = self.encrypt_msg(rid, &next);
                self.set_delivered(client, rid, Some(next.msg_id().to_vec()));
                m
            }
            None => BrokerMsg::Ok,
        }
    }

    /// `NKEY` (`addQueueNotifier_`): new notifier id and relay DH key; replaced credentials
    /// end their subscription with `DELD`.
    fn add_notifier(
        &mut self,
        ctx: &Ctx<'_>,
        rid: &[u8],
        notifier_key: AuthPublicKey,
        dh_key: X25519PublicKey,
        out: &mut Out,
    ) -> BrokerMsg {
        let (private, public) = self.key_pair();
        let secret = dh(&dh_key.0, &private);
        for _ in 0..3 {
            let notifier_id = self.random_id(self.config.queue_id_bytes);
            let creds = NtfCreds {
                notifier_id: notifier_id.clone(),
                notifier_key,
                rcv_ntf_dh_secret: secret,
                ntf_service_id: None,
            };
            match self.store.add_notifier(rid, creds) {
                Err(ErrorType::Duplicate) => continue,
                Err(e) => return e.into(),
                Ok(old) => {
                    if let Some(o) = old {
                        self.notifier_deleted(ctx.client, &o, out);
                    }
                    return BrokerMsg::Nid {
                        notifier_id,
                        dh_key: public,
                    };
                }
            }
        }
        ErrorType::Internal.into()
    }

    /// The notifier credentials are gone (the store dropped their kept notifications and
    /// service association): the subscriber on another connection, and the subscriber of the
    /// service the queue was associated with, get `DELD` (`CSDeleted`).
    fn notifier_deleted(&mut self, client: ClientId, n: &NtfCreds, out: &mut Out) {
        let nid = n.notifier_id.as_slice();
        if let Some(sub) = self.ntf_subscribers.remove(nid) {
            if let Some(c) = self.clients.get_mut(&sub) {
                c.ntf_subs.remove(nid);
                if sub != client {
                    out.push(reply(sub, b"", nid, BrokerMsg::Deld));
                }
            }
        }
        self.end_service_sub(client, n.ntf_service_id.as_deref(), nid, BrokerMsg::Deld, out);
    }

    /// `endServiceSub`: the connection subscribed as `service` (another one than `client`)
    /// gets `msg` for the notifier id and one queue fewer in its count.
    fn end_service_sub(
        &mut self,
        client: ClientId,
        service: Option<&[u8]>,
        nid: &[u8],
        msg: BrokerMsg,
        out: &mut Out,
    ) {
        let Some(sid) = service else { return };
        let Some(&sub) = self.service_subscribers.get(sid) else {
            return;
        };
        if sub == client {
            return;
        }
        if let Some(c) = self.clients.get_mut(&sub) {
            c.service_subs = (c.service_subs - 1).max(0);
            out.push(reply(sub, b"", nid, msg));
        }
    }

    /// `upsertSubscribedClient` for a service, then `cancelServiceSubs`: `client` becomes the
    /// service's subscriber; a previous other subscriber gets `ENDS n` (its count, now 0).
    fn set_service_subscriber(&mut self, client: ClientId, sid: &[u8], out: &mut Out) {
        let prev = self.service_subscribers.insert(sid.to_vec(), client);
        if let Some(p) = prev.filter(|p| *p != client) {
            if let Some(c) = self.clients.get_mut(&p) {
                let count = std::mem::take(&mut c.service_subs);
                out.push(reply(p, b"", sid, BrokerMsg::Ends { count }));
            }
        }
    }

    /// `endQueueSub`: the queue's plain notifier subscriber on another connection gets `END`.
    fn end_queue_sub(&mut self, client: ClientId, nid: &[u8], out: &mut Out) {
        if let Some(prev) = self.ntf_subscribers.remove(nid) {
            if prev != client {
                if let Some(p) = self.clients.get_mut(&prev) {
                    p.ntf_subs.remove(nid);
                    out.push(reply(prev, b"", nid, BrokerMsg::End));
                }
            }
        }
    }

    /// `DEL` (`delQueueAndMsgs`).
    fn delete_queue(&mut self, ctx: &Ctx<'_>, rid: &[u8], out: &mut Out) -> BrokerMsg {
        match self.store.delete_queue(rid) {
            Ok(rec) => {
                if let Some(c) = self.clients.get_mut(&ctx.client) {
                    c.subs.remove(rid);
                }
                if let Some(sub) = self.queue_subscribers.remove(rid) {
                    if sub != ctx.client {
                        if let Some(c) = self.clients.get_mut(&sub) {
                            c.subs.remove(rid);
                            out.push(reply(sub, b"", rid, BrokerMsg::Deld));
                        }
                    }
                }
                if let Some(n) = rec.notifier {
                    self.notifier_deleted(ctx.client, &n, out);
                }
                BrokerMsg::Ok
            }
            Err(e) => e.into(),
        }
    }

    /// `SEND` (`sendMessage`): stores the message, delivers it to a waiting subscriber, and
    /// with the notification flag sends or keeps `NMSG` for the notifier.
    fn send_message(
        &mut self,
        ctx: &Ctx<'_>,
        rid: &[u8],
        flags: MsgFlags,
        body: Vec<u8>,
        out: &mut Out,
    ) -> BrokerMsg {
        if body.len() > max_message_length(ctx.version) {
            return ErrorType::LargeMsg.into();
        }
        let Some(q) = self.store.queue(rid) else {
            return ErrorType::Internal.into();
        };
        if q.status == QueueStatus::Off {
            return ErrorType::Auth.into();
        }
        let secured_messaging = q.queue_mode != Some(QueueMode::Contact) && q.sender_key.is_some();
        let drop_link = q.link.is_some() && secured_messaging;
        let notifier = q.notifier.clone();
        if drop_link {
            let _ = self.store.delete_link(rid);
        }
        let msg_id = self.random_id(self.config.msg_id_bytes);
        let msg = StoredMessage::Message {
            msg_id: msg_id.clone(),
            msg_ts: ctx.now,
            msg_flags: flags,
            body,
        };
        match self.store.write_msg(rid, msg, self.config.msg_queue_quota) {
            Err(e) => e.into(),
            Ok(None) => ErrorType::Quota.into(),
            Ok(Some((msg, was_empty))) => {
                if was_empty {
                    self.try_deliver(rid, &msg, out);
                }
                if flags.notification {
                    if let Some(n) = notifier {
                        self.enqueue_notification(&n, &msg_id, ctx.now, out);
                    }
                }
                BrokerMsg::Ok
            }
        }
    }

    /// `tryDeliverMessage`: to the subscriber, when nothing unacknowledged was delivered.
    fn try_deliver(&mut self, rid: &[u8], msg: &StoredMessage, out: &mut Out) {
        let Some(&sub) = self.queue_subscribers.get(rid) else {
            return;
        };
        let ready = self
            .clients
            .get(&sub)
            .and_then(|c| c.subs.get(rid))
            .is_some_and(|s| s.kind == SubKind::Server && s.delivered.is_none());
        if ready {
            let m = self.encrypt_msg(rid, msg);
            self.set_delivered(sub, rid, Some(msg.msg_id().to_vec()));
            out.push(reply(sub, b"", rid, m));
        }
    }

    /// `enqueueNotification`: `NMsgMeta` encrypted with the notifier DH secret, padded to 128,
    /// random nonce; sent to the notifier subscriber or kept.
    fn enqueue_notification(&mut self, n: &NtfCreds, msg_id: &[u8], ts: i64, out: &mut Out) {
        let mut nonce = [0u8; 24];
        self.rng.fill_bytes(&mut nonce);
        let meta = NMsgMeta {
            msg_id: msg_id.to_vec(),
            msg_ts: ts,
        };
        // as the reference, a metadata that does not fit gives an empty encryption
        let enc_meta = meta
            .encrypt(&n.rcv_ntf_dh_secret, &nonce)
            .unwrap_or_default();
        // deliverNtfsThread: an associated queue's go to its service's subscriber only
        let subscriber = match &n.ntf_service_id {
            Some(sid) => self.service_subscribers.get(sid),
            None => self.ntf_subscribers.get(&n.notifier_id),
        };
        match subscriber {
            Some(&sub) if self.is_connected(sub) => out.push(reply(
                sub,
                b"",
                &n.notifier_id,
                BrokerMsg::Nmsg { nonce, enc_meta },
            )),
            _ => {
                let ntf = MsgNtf {
                    ts,
                    nonce,
                    enc_meta,
                };
                // the message is stored already: a notification that cannot be kept does not fail `SEND`
                if let Err(e) = self.store.store_ntf(&n.notifier_id, ntf) {
                    tracing::error!(error = ?e, "notification not kept");
                }
            }
        }
    }

    /// `NSUB` (`subscribeNotifications`): `SOK` (`OK` below v16; `SOK service-id` from a
    /// service session), `END`/`ENDS` to the subscribers it replaces, then the kept
    /// notifications, oldest first.
    ///
    /// `prev` is the queue's service association when it was authorized.
    fn subscribe_notifications(
        &mut self,
        ctx: &Ctx<'_>,
        rid: &[u8],
        prev: Option<QueueId>,
        out: &mut Out,
    ) {
        let (client, corr, nid) = (ctx.client, ctx.corr, ctx.ent);
        let mut events = Vec::new();
        let sok = match ctx.service.map(|s| s.service_id.clone()) {
            Some(sid) => {
                if prev.as_ref() != Some(&sid) {
                    // new or moved association
                    if let Err(e) = self.store.set_ntf_service(rid, Some(&sid)) {
                        return out.push(reply(client, corr, nid, e.into()));
                    }
                    self.new_service_queue_sub(client, nid, prev.as_deref(), &sid, &mut events);
                } else if self.clients.get(&client).is_some_and(|c| c.service_subs == 0) {
                    // the same association again (a lost answer): subscribed only when the
                    // session has no service subscriptions yet
                    self.new_service_queue_sub(client, nid, prev.as_deref(), &sid, &mut events);
                }
                Some(sid)
            }
            None => {
                if prev.is_some() {
                    if let Err(e) = self.store.set_ntf_service(rid, None) {
                        return out.push(reply(client, corr, nid, e.into()));
                    }
                }
                // the same subscriber again changes nothing and ends no one (`newSub`)
                self.new_queue_sub(client, nid, prev.as_deref(), &mut events);
                None
            }
        };
        out.extend(events);
        out.push(reply(client, corr, nid, BrokerMsg::Sok { service_id: sok }));
        self.expire(ctx.now);
        self.deliver_kept(client, nid, out);
    }

    /// `newServiceQueueSub` and its `CSClient qId prev (Just service)`: one more queue in the
    /// session's service count, `END` to a previous service's subscriber and to the queue's
    /// plain subscriber, and the session becomes the service's subscriber.
    fn new_service_queue_sub(
        &mut self,
        client: ClientId,
        nid: &[u8],
        prev: Option<&[u8]>,
        sid: &[u8],
        out: &mut Out,
    ) {
        if let Some(c) = self.clients.get_mut(&client) {
            c.service_subs += 1;
        }
        if prev != Some(sid) {
            self.end_service_sub(client, prev, nid, BrokerMsg::End, out);
        }
        self.end_queue_sub(client, nid, out);
        self.set_service_subscriber(client, sid, out);
    }

    /// `newSub` and its `CSClient qId prev Nothing`: the session becomes the queue's
    /// subscriber; the previous one and the previous service's subscriber get `END`.
    fn new_queue_sub(&mut self, client: ClientId, nid: &[u8], prev: Option<&[u8]>, out: &mut Out) {
        if let Some(c) = self.clients.get_mut(&client) {
            c.ntf_subs.insert(nid.to_vec());
        }
        self.end_service_sub(client, prev, nid, BrokerMsg::End, out);
        if let Some(p) = self.ntf_subscribers.insert(nid.to_vec(), client) {
            if p != client {
                if let Some(c) = self.clients.get_mut(&p) {
                    c.ntf_subs.remove(nid);
                    out.push(reply(p, b"", nid, BrokerMsg::End));
                }
            }
        }
    }

    /// Sends the notifications kept for `nid` to `client`, oldest first.
    fn deliver_kept(&mut self, client: ClientId, nid: &[u8], out: &mut Out) {
        for n in self.store.take_ntfs(nid) {
            out.push(reply(
                client,
                b"",
                nid,
                BrokerMsg::Nmsg {
                    nonce: n.nonce,
                    enc_meta: n.enc_meta,
                },
            ));
        }
    }

    /// `NSUBS` (`subscribeServiceNotifications`): `SOKS n`, n the queues associated with the
    /// service; the first time in a session the session becomes the service's subscriber
    /// (`ENDS` to a previous one) and gets the kept notifications of those queues (the
    /// reference's delivery thread sends them within its interval).
    fn subscribe_service_notifications(&mut self, ctx: &Ctx<'_>, out: &mut Out) {
        let (client, corr, ent) = (ctx.client, ctx.corr, ctx.ent);
        let Some(sid) = ctx.service.map(|s| s.service_id.clone()) else {
            return out.push(reply(client, corr, ent, ErrorType::Internal.into()));
        };
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        if c.service_subscribed {
            let count = c.service_subs;
            return out.push(reply(client, corr, ent, BrokerMsg::Soks { count }));
        }
        let count = self.store.ntf_service_count(&sid);
        c.service_subscribed = true;
        c.service_subs = count;
        let mut events = Vec::new();
        self.set_service_subscriber(client, &sid, &mut events);
        out.extend(events);
        out.push(reply(client, corr, ent, BrokerMsg::Soks { count }));
        self.expire(ctx.now);
        for nid in self.store.kept_ntf_notifiers() {
            let associated = self
                .store
                .find(Party::Notifier, &nid)
                .and_then(|rid| self.store.queue(&rid))
                .and_then(|q| q.notifier.as_ref())
                .is_some_and(|n| n.ntf_service_id.as_ref() == Some(&sid));
            if associated {
                self.deliver_kept(client, &nid, out);
            }
        }
    }
}

/// Encodes a server transmission for a connection (`encodeTransmission`, no authorization).
pub fn encode_transmit(params: &SessionParams, t: &Transmit) -> Vec<u8> {
    let tp = TransmissionParams::smp(&params.session_id, params.version);
    let cmd = t.msg.to_vec(params.version);
    let fa = ForAuth::new(&tp, &t.corr_id, &t.entity_id, &cmd);
    let mut out = Vec::with_capacity(cmd.len() + 64);
    fa.encode(tp.service_auth, None, None, &mut out);
    out
}
