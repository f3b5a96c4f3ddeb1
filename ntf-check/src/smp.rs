//! The SMP suite: what a notification server needs from a relay. The relay's TLS profile,
//! identity and handshake, then the notifier path: `NEW`, `NKEY` -> `NID`, `NSUB`, `SEND` with
//! the notification flag -> `NMSG` whose metadata the recipient decrypts, notifications kept
//! until `NSUB`, `NDEL`, `END` to a replaced subscriber, `DELD` on deletion, and the error
//! answers; the whole path again at each version the relay offers (`smp.path.vN`).
//!
//! Rules of the reference relay (simplexmq 6.5.5.0, `Simplex.Messaging.Server`). Every queue a
//! case makes is deleted by the case.

use std::net::SocketAddr;
use std::time::Duration;

use ref_client::smp::{
    decrypt_nmsg, AuthKeyPair, DhKeyPair, NotifierCreds, RecipientQueue, SmpClient, SmpClientConfig,
    SmpClientError, SmpEvent,
};
use ref_transport::random_array;
use smp_proto::broker::BrokerMsg;
use smp_proto::command::{SmpCommand, SubscriptionMode};
use smp_proto::error_type::{CommandError, ErrorType};
use smp_proto::handshake::SmpServerHello;
use smp_proto::message::MsgFlags;
use smp_proto::server::KeyHash;
use smp_proto::version::{smp, Version, VersionRange};

use crate::probe::{check_alpn, check_chain, check_profile, first_bytes, hello_content, probe, Probe};
use crate::{case, hex, Case, CaseResult, Failure};

/// The relay under test.
pub struct SmpEnv {
    /// Its socket address.
    pub addr: SocketAddr,
    /// Its identity.
    pub key_hash: KeyHash,
    /// The limit of each step.
    pub timeout: Duration,
}

/// How long a case waits to see that something does not arrive.
fn quiet(env: &SmpEnv) -> Duration {
    env.timeout.min(Duration::from_millis(500))
}

/// The versions the relay offers with ALPN that we speak too, from its server hello (`None`
/// when the hello cannot be had; the cases then fail on their own).
pub async fn offered(addr: SocketAddr, timeout: Duration) -> Option<VersionRange> {
    let p = probe(addr, Some(smp::ALPN), smp::BLOCK_SIZE, timeout).await.ok()?;
    let r = server_hello(&p).ok()?.version_range;
    VersionRange::new(r.min().max(smp::MIN), r.max().min(smp::CURRENT))
}

/// The suite; the path is run at each version of `versions` (the relay's offer).
pub fn suite(versions: VersionRange) -> Vec<Case<SmpEnv>> {
    let mut v = vec![
        case!("smp.tls.profile", "offered TLS 1.2-1.3 and every cipher, the relay picks TLS 1.3 with TLS_CHACHA20_POLY1305_SHA256", "Simplex.Messaging.Transport.defaultSupportedParams", tls_profile),
        case!("smp.tls.alpn", "the relay selects ALPN smp/1 when the client offers it", "Simplex.Messaging.Transport.alpnSupportedSMPHandshakes", tls_alpn),
        case!("smp.tls.chain", "the relay's chain is 2-4 certificates whose identity certificate's SHA-256 is the address's key hash", "Simplex.Messaging.Transport.Client.validateCertificateChain", tls_chain),
        case!("smp.tls.unique", "the server hello's session id is tls-unique of the connection (the client's Finished)", "Simplex.Messaging.Transport.smpClientHandshake (sessionId check)", tls_unique),
        case!("smp.hs.range", "with ALPN the relay offers SMP 6-18 and a session key signed by its certificate", "Simplex.Messaging.Transport.smpServerHandshake, supportedServerSMPRelayVRange", hs_range),
        case!("smp.hs.no-alpn", "without ALPN the relay offers only SMP 6, and a client gets version 6", "Simplex.Messaging.Transport.legacyServerSMPRelayVRange", hs_no_alpn),
        case!("smp.cmd.ping", "PING -> PONG", "Simplex.Messaging.Server.client (PING)", cmd_ping),
        case!("smp.cmd.new", "NEW -> IDS with distinct recipient and sender ids and the relay's DH key", "Simplex.Messaging.Server.client (NEW, createQueue)", cmd_new),
        case!("smp.cmd.new.ntf", "from v17, NEW with notifier keys -> IDS with a notifier id; NSUB with it -> OK/SOK", "Simplex.Messaging.Server.client (NEW with ntfCreds)", cmd_new_ntf),
        case!("smp.cmd.nkey", "NKEY -> NID with a notifier id other than the queue's ids, and the relay's DH key", "Simplex.Messaging.Server.client (NKEY, addQueueNotifier_)", cmd_nkey),
        case!("smp.cmd.nkey.wrong-key", "NKEY signed with another key than the recipient's -> ERR AUTH", "Simplex.Messaging.Server.verifyTransmission", cmd_nkey_wrong_key),
        case!("smp.cmd.nkey.unknown", "NKEY for a queue the relay does not know -> ERR AUTH", "Simplex.Messaging.Server.verifyTransmission (dummyVerifyCmd)", cmd_nkey_unknown),
        case!("smp.cmd.nsub", "NSUB with the notifier key -> OK (SOK from v16)", "Simplex.Messaging.Server.client (NSUB, subscribeNotifications)", cmd_nsub),
        case!("smp.cmd.nsub.wrong-key", "NSUB signed with another key than the notifier key -> ERR AUTH", "Simplex.Messaging.Server.verifyTransmission", cmd_nsub_wrong_key),
        case!("smp.cmd.nsub.unknown", "NSUB for a notifier id the relay does not know -> ERR AUTH", "Simplex.Messaging.Server.verifyTransmission (dummyVerifyCmd)", cmd_nsub_unknown),
        case!("smp.cmd.nsub.no-auth", "NSUB without authorization -> ERR CMD NO_AUTH", "Simplex.Messaging.Protocol.checkCredentials", cmd_nsub_no_auth),
        case!("smp.nmsg", "SEND with the notification flag -> NMSG to the notifier subscriber; its metadata decrypts to the id of the message GET returns", "Simplex.Messaging.Server.sendMessage (enqueueNotification), Protocol.NMsgMeta", nmsg),
        case!("smp.nmsg.no-flag", "SEND without the notification flag -> no NMSG", "Simplex.Messaging.Server.sendMessage (notification flag)", nmsg_no_flag),
        case!("smp.nmsg.kept", "a notification of a message sent before NSUB is delivered after NSUB", "Simplex.Messaging.Server.client (NSUB, deliverNtfs), NtfStore", nmsg_kept),
        case!("smp.end", "NSUB of the same notifier id from another connection -> END to the first subscriber, NMSG to the new one", "Simplex.Messaging.Server.client (subscribeNotifications, CSSwitch END)", end),
        case!("smp.ndel", "NDEL -> OK; NSUB after it -> ERR AUTH", "Simplex.Messaging.Server.client (NDEL, deleteQueueNotifier)", ndel),
        case!("smp.ndel.deld", "NDEL while another connection is subscribed -> DELD to it (END below v10)", "Simplex.Messaging.Server.client (NDEL, CSDeleted)", ndel_deld),
        case!("smp.del.deld", "DEL of the queue while another connection is subscribed to its notifications -> DELD to it (END below v10)", "Simplex.Messaging.Server.delQueueAndMsgs (CSDeleted)", del_deld),
    ];
    for n in versions.min().0..=versions.max().0 {
        v.push(Case {
            id: format!("smp.path.v{n}"),
            rule: "at this version: NEW, NKEY -> NID, NSUB, SEND -> NMSG with metadata decrypted, NDEL, DEL",
            reference: "Simplex.Messaging.Server.client (NEW, NKEY, NSUB, SEND, NDEL, DEL)",
            needs_push: false,
            run: Box::new(move |e| Box::pin(path_at(e, n))),
        });
    }
    v
}

// ---- helpers ----

async fn connect_with(env: &SmpEnv, lo: u16, hi: u16, alpn: bool) -> Result<SmpClient, Failure> {
    let cfg = SmpClientConfig {
        versions: VersionRange::new(Version(lo), Version(hi)).ok_or_else(|| Failure::new("bad version range"))?,
        alpn,
        timeout: env.timeout,
        ..SmpClientConfig::default()
    };
    match SmpClient::connect_addr(env.addr, &env.key_hash, &cfg).await {
        Ok(c) => Ok(c),
        Err(e) => {
            let seen = first_bytes(env.addr, alpn.then_some(smp::ALPN), smp::BLOCK_SIZE, env.timeout).await;
            Err(Failure { message: format!("connection at SMP {lo}-{hi}: {e}; {}", seen.message), seen: seen.seen })
        }
    }
}

pub(crate) async fn connect(env: &SmpEnv) -> Result<SmpClient, Failure> {
    connect_with(env, smp::MIN.0, smp::CURRENT.0, true).await
}

fn describe<T: std::fmt::Debug>(r: &Result<T, SmpClientError>) -> String {
    match r {
        Ok(v) => format!("{v:?}"),
        Err(SmpClientError::Server(e)) => format!("ERR {e}"),
        Err(e) => e.to_string(),
    }
}

fn failure(what: &str, e: SmpClientError) -> Failure {
    match e {
        SmpClientError::Server(e) => Failure::new(format!("{what}: got ERR {e}")),
        e => Failure::new(format!("{what}: {e}")),
    }
}

pub(crate) fn ok<T>(what: &str, r: Result<T, SmpClientError>) -> Result<T, Failure> {
    r.map_err(|e| failure(what, e))
}

fn expect_err<T: std::fmt::Debug>(what: &str, r: Result<T, SmpClientError>, want: ErrorType) -> Result<(), Failure> {
    match &r {
        Err(SmpClientError::Server(e)) if *e == want => Ok(()),
        _ => Err(Failure::new(format!("{what}: expected ERR {want}, got {}", describe(&r)))),
    }
}

/// A queue with notifications enabled.
pub(crate) async fn queue_with_notifier(c: &SmpClient) -> Result<(RecipientQueue, NotifierCreds), Failure> {
    let q = ok("NEW", c.create_queue(SubscriptionMode::OnlyCreate, true).await)?;
    match c.enable_notifications(&q).await {
        Ok(n) => Ok((q, n)),
        Err(e) => {
            let _ = c.delete_queue(&q).await;
            Err(failure("NKEY", e))
        }
    }
}

/// The next event on `c`, within the step limit.
async fn next_event(env: &SmpEnv, c: &SmpClient, what: &str) -> Result<SmpEvent, Failure> {
    match c.next_event_within(env.timeout).await {
        Ok(e) => Ok(e),
        Err(SmpClientError::Timeout) => Err(Failure::new(format!("no {what} within {:?}", env.timeout))),
        Err(e) => Err(Failure::new(format!("waiting for {what}: {e}"))),
    }
}

/// Nothing arrives within the quiet time.
async fn no_event(env: &SmpEnv, c: &SmpClient, what: &str) -> Result<(), Failure> {
    match c.next_event_within(quiet(env)).await {
        Err(SmpClientError::Timeout) => Ok(()),
        Ok(e) => Err(Failure::new(format!("{what}: got {:?}", e.msg))),
        Err(e) => Err(Failure::new(format!("{what}: {e}"))),
    }
}

/// Sends a message with the notification flag; the next event on `sub` must be its `NMSG`,
/// whose metadata names the message that `GET` then returns.
async fn notified(env: &SmpEnv, c: &SmpClient, sub: &SmpClient, q: &RecipientQueue, n: &NotifierCreds) -> Result<String, Failure> {
    ok("SEND", c.send_message(&q.snd_id, None, MsgFlags { notification: true }, b"ntf-check").await)?;
    let ev = next_event(env, sub, "NMSG").await?;
    let (nonce, enc_meta) = match ev.msg {
        Ok(BrokerMsg::Nmsg { nonce, enc_meta }) if ev.entity_id == n.notifier_id => (nonce, enc_meta),
        other => {
            return Err(Failure::new(format!(
                "expected NMSG for {}, got {other:?} for {}",
                hex(&n.notifier_id),
                hex(&ev.entity_id)
            )))
        }
    };
    let meta = decrypt_nmsg(&n.rcv_ntf_dh_secret, &nonce, &enc_meta)
        .map_err(|e| Failure::with_bytes(format!("NMSG metadata does not decrypt: {e:?}"), enc_meta.clone()))?;
    match ok("GET", c.get_message(q).await)? {
        Some((id, _)) if id == meta.msg_id => {
            ok("ACK", c.ack(q, &id).await)?;
            Ok(format!("NMSG for message {}", hex(&id)))
        }
        other => Err(Failure::new(format!(
            "NMSG names message {}, GET gave {:?}",
            hex(&meta.msg_id),
            other.map(|(id, _)| hex(&id))
        ))),
    }
}

fn ed25519() -> Result<AuthKeyPair, Failure> {
    Ok(AuthKeyPair::ed25519()?)
}

// ---- TLS and handshake ----

async fn smp_probe(env: &SmpEnv, alpn: bool) -> Result<Probe, Failure> {
    probe(env.addr, alpn.then_some(smp::ALPN), smp::BLOCK_SIZE, env.timeout).await
}

fn server_hello(p: &Probe) -> Result<SmpServerHello, Failure> {
    let content = hello_content(p)?;
    SmpServerHello::parse(content)
        .map_err(|e| Failure::with_bytes(format!("the server hello does not parse: {e}"), content.to_vec()))
}

async fn tls_profile(env: &SmpEnv) -> CaseResult {
    check_profile(&smp_probe(env, true).await?)
}

async fn tls_alpn(env: &SmpEnv) -> CaseResult {
    check_alpn(&smp_probe(env, true).await?, smp::ALPN)
}

async fn tls_chain(env: &SmpEnv) -> CaseResult {
    check_chain(&smp_probe(env, true).await?, env.key_hash.as_bytes())
}

async fn tls_unique(env: &SmpEnv) -> CaseResult {
    let p = smp_probe(env, true).await?;
    let hello = server_hello(&p)?;
    if hello.session_id != p.tls_unique {
        return Err(Failure::new(format!(
            "session id {} but tls-unique is {}",
            hex(&hello.session_id),
            hex(&p.tls_unique)
        )));
    }
    Ok(format!("{} bytes", p.tls_unique.len()))
}

async fn hs_range(env: &SmpEnv) -> CaseResult {
    let hello = server_hello(&smp_probe(env, true).await?)?;
    let r = hello.version_range;
    if (r.min(), r.max()) != (smp::MIN, smp::CURRENT) {
        return Err(Failure::new(format!("offers SMP {}-{}", r.min().0, r.max().0)));
    }
    if hello.auth.is_none() {
        return Err(Failure::new("no signed session key in the server hello"));
    }
    let c = connect(env).await?;
    if c.server_key().is_none() {
        return Err(Failure::new("the client did not get a verified session key"));
    }
    Ok(format!("6-18, agreed {}", c.version().0))
}

async fn hs_no_alpn(env: &SmpEnv) -> CaseResult {
    let hello = server_hello(&smp_probe(env, false).await?)?;
    let r = hello.version_range;
    if (r.min(), r.max()) != (smp::MIN, smp::MIN) {
        return Err(Failure::new(format!("without ALPN offers SMP {}-{}", r.min().0, r.max().0)));
    }
    let c = connect_with(env, smp::MIN.0, smp::CURRENT.0, false).await?;
    if c.version() != smp::MIN {
        return Err(Failure::new(format!("agreed on version {}", c.version().0)));
    }
    ok("PING at v6", c.ping().await)?;
    Ok("v6".into())
}

// ---- commands ----

async fn cmd_ping(env: &SmpEnv) -> CaseResult {
    ok("PING", connect(env).await?.ping().await)?;
    Ok("PONG".into())
}

async fn cmd_new(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    let q = ok("NEW", c.create_queue(SubscriptionMode::OnlyCreate, true).await)?;
    let _ = c.delete_queue(&q).await;
    if q.rcv_id.is_empty() || q.snd_id.is_empty() || q.rcv_id == q.snd_id {
        return Err(Failure::new(format!("ids {} / {}", hex(&q.rcv_id), hex(&q.snd_id))));
    }
    Ok(format!("ids of {} bytes", q.rcv_id.len()))
}

async fn cmd_new_ntf(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    if c.version() < smp::NEW_NTF_CREDS {
        return Ok(format!("relay at v{}: NEW carries no notifier keys before v17", c.version().0));
    }
    let (q, n) = ok(
        "NEW",
        c.create_queue_with(SubscriptionMode::OnlyCreate, true, None, Some(ed25519()?)).await,
    )?;
    let r = async {
        let n = n.ok_or_else(|| Failure::new("IDS without notifier credentials"))?;
        ok("NSUB", c.subscribe_notifications(&n.notifier_id, &n.notifier_key.private).await)?;
        Ok(format!("notifier id of {} bytes", n.notifier_id.len()))
    }
    .await;
    let _ = c.delete_queue(&q).await;
    r
}

async fn cmd_nkey(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    let (q, n) = queue_with_notifier(&c).await?;
    let _ = c.delete_queue(&q).await;
    if n.notifier_id.is_empty() || n.notifier_id == q.rcv_id || n.notifier_id == q.snd_id {
        return Err(Failure::new(format!("notifier id {}", hex(&n.notifier_id))));
    }
    Ok(format!("notifier id of {} bytes", n.notifier_id.len()))
}

fn nkey_cmd() -> Result<SmpCommand, Failure> {
    Ok(SmpCommand::Nkey {
        notifier_key: ed25519()?.public,
        dh_key: DhKeyPair::generate()?.public,
    })
}

async fn cmd_nkey_wrong_key(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    let q = ok("NEW", c.create_queue(SubscriptionMode::OnlyCreate, true).await)?;
    let r = c.send_command(Some(&ed25519()?.private), &q.rcv_id, &nkey_cmd()?).await;
    let _ = c.delete_queue(&q).await;
    expect_err("NKEY signed with another key", r, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

async fn cmd_nkey_unknown(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    let r = c
        .send_command(Some(&ed25519()?.private), &random_array::<24>()?, &nkey_cmd()?)
        .await;
    expect_err("NKEY for an unknown queue", r, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

async fn cmd_nsub(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    let (q, n) = queue_with_notifier(&c).await?;
    let r = c.subscribe_notifications(&n.notifier_id, &n.notifier_key.private).await;
    let _ = c.delete_queue(&q).await;
    ok("NSUB", r)?;
    Ok("subscribed".into())
}

async fn cmd_nsub_wrong_key(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    let (q, n) = queue_with_notifier(&c).await?;
    let r = c.subscribe_notifications(&n.notifier_id, &ed25519()?.private).await;
    let _ = c.delete_queue(&q).await;
    expect_err("NSUB signed with another key", r, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

async fn cmd_nsub_unknown(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    let r = c
        .subscribe_notifications(&random_array::<24>()?, &ed25519()?.private)
        .await;
    expect_err("NSUB for an unknown notifier id", r, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

async fn cmd_nsub_no_auth(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    let (q, n) = queue_with_notifier(&c).await?;
    let r = c.send_command(None, &n.notifier_id, &SmpCommand::Nsub).await;
    let _ = c.delete_queue(&q).await;
    expect_err("unsigned NSUB", r, ErrorType::Cmd(CommandError::NoAuth))?;
    Ok("ERR CMD NO_AUTH".into())
}

// ---- the notifier path ----

async fn nmsg(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    let sub = connect(env).await?;
    let (q, n) = queue_with_notifier(&c).await?;
    let r = async {
        ok("NSUB", sub.subscribe_notifications(&n.notifier_id, &n.notifier_key.private).await)?;
        notified(env, &c, &sub, &q, &n).await
    }
    .await;
    let _ = c.delete_queue(&q).await;
    r
}

async fn nmsg_no_flag(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    let sub = connect(env).await?;
    let (q, n) = queue_with_notifier(&c).await?;
    let r = async {
        ok("NSUB", sub.subscribe_notifications(&n.notifier_id, &n.notifier_key.private).await)?;
        ok(
            "SEND",
            c.send_message(&q.snd_id, None, MsgFlags { notification: false }, b"quiet").await,
        )?;
        no_event(env, &sub, "after SEND without the flag").await?;
        Ok(format!("nothing within {:?}", quiet(env)))
    }
    .await;
    let _ = c.delete_queue(&q).await;
    r
}

async fn nmsg_kept(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    let sub = connect(env).await?;
    let (q, n) = queue_with_notifier(&c).await?;
    let r = async {
        ok(
            "SEND",
            c.send_message(&q.snd_id, None, MsgFlags { notification: true }, b"early").await,
        )?;
        ok("NSUB", sub.subscribe_notifications(&n.notifier_id, &n.notifier_key.private).await)?;
        let ev = next_event(env, &sub, "the kept NMSG").await?;
        match ev.msg {
            Ok(BrokerMsg::Nmsg { .. }) if ev.entity_id == n.notifier_id => {
                Ok("delivered on NSUB".to_string())
            }
            other => Err(Failure::new(format!("expected NMSG, got {other:?}"))),
        }
    }
    .await;
    let _ = c.delete_queue(&q).await;
    r
}

async fn end(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    let first = connect(env).await?;
    let second = connect(env).await?;
    let (q, n) = queue_with_notifier(&c).await?;
    let r = async {
        let key = &n.notifier_key.private;
        ok("NSUB", first.subscribe_notifications(&n.notifier_id, key).await)?;
        ok("NSUB from another connection", second.subscribe_notifications(&n.notifier_id, key).await)?;
        let ev = next_event(env, &first, "END").await?;
        match ev.msg {
            Ok(BrokerMsg::End) if ev.entity_id == n.notifier_id => {}
            other => return Err(Failure::new(format!("expected END, got {other:?}"))),
        }
        // the notifications now go to the new subscriber only
        notified(env, &c, &second, &q, &n).await?;
        no_event(env, &first, "the replaced subscriber after END").await?;
        Ok("END, then NMSG to the new subscriber".to_string())
    }
    .await;
    let _ = c.delete_queue(&q).await;
    r
}

async fn ndel(env: &SmpEnv) -> CaseResult {
    let c = connect(env).await?;
    let (q, n) = queue_with_notifier(&c).await?;
    let r = async {
        ok("NDEL", c.disable_notifications(&q).await)?;
        let again = c.subscribe_notifications(&n.notifier_id, &n.notifier_key.private).await;
        expect_err("NSUB after NDEL", again, ErrorType::Auth)?;
        Ok("OK, then ERR AUTH".to_string())
    }
    .await;
    let _ = c.delete_queue(&q).await;
    r
}

/// The event a subscriber on another connection gets when its notifier id goes away.
fn deleted_event(v: Version) -> BrokerMsg {
    if v >= smp::DELETED_EVENT {
        BrokerMsg::Deld
    } else {
        BrokerMsg::End
    }
}

async fn deleted_while_subscribed(env: &SmpEnv, delete_queue: bool) -> CaseResult {
    let c = connect(env).await?;
    let sub = connect(env).await?;
    let (q, n) = queue_with_notifier(&c).await?;
    let r = async {
        ok("NSUB", sub.subscribe_notifications(&n.notifier_id, &n.notifier_key.private).await)?;
        if delete_queue {
            ok("DEL", c.delete_queue(&q).await)?;
        } else {
            ok("NDEL", c.disable_notifications(&q).await)?;
        }
        let want = deleted_event(sub.version());
        let ev = next_event(env, &sub, "DELD").await?;
        match ev.msg {
            Ok(m) if m == want && ev.entity_id == n.notifier_id => {
                Ok(format!("{want:?} at v{}", sub.version().0))
            }
            other => Err(Failure::new(format!("expected {want:?}, got {other:?}"))),
        }
    }
    .await;
    if !delete_queue {
        let _ = c.delete_queue(&q).await;
    }
    r
}

async fn ndel_deld(env: &SmpEnv) -> CaseResult {
    deleted_while_subscribed(env, false).await
}

async fn del_deld(env: &SmpEnv) -> CaseResult {
    deleted_while_subscribed(env, true).await
}

async fn path_at(env: &SmpEnv, v: u16) -> CaseResult {
    let c = connect_with(env, v, v, true).await?;
    let sub = connect_with(env, v, v, true).await?;
    if c.version() != Version(v) {
        return Err(Failure::new(format!("agreed on version {}", c.version().0)));
    }
    let (q, n) = queue_with_notifier(&c).await?;
    let r = async {
        ok("NSUB", sub.subscribe_notifications(&n.notifier_id, &n.notifier_key.private).await)?;
        let note = notified(env, &c, &sub, &q, &n).await?;
        ok("NDEL", c.disable_notifications(&q).await)?;
        Ok::<_, Failure>(note)
    }
    .await;
    let del = c.delete_queue(&q).await;
    let note = r?;
    ok("DEL", del)?;
    Ok(note)
}
