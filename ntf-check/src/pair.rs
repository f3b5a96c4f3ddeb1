//! The pair suite: a notification server and an SMP relay together, the whole path as an app
//! sees it. The server must reach the relay at the address given to the checker. Every case
//! needs the mock APNS (a verified token).

use std::time::Duration;

use ntf_proto::command::{NewNtfSubscription, NtfEntityId};
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::subscription::NtfSubStatus;
use ref_client::client::NtfClient;
use ref_client::device::DevicePush;
use ref_client::smp::{decrypt_nmsg, NotifierCreds, RecipientQueue, SmpClient};
use smp_proto::message::MsgFlags;
use smp_proto::server::SmpServer;

use crate::ntf::{self, NtfEnv, Reg};
use crate::smp::{self, SmpEnv};
use crate::{case, hex, Case, CaseResult, Failure};

/// The two servers.
pub struct PairEnv {
    /// The notification server.
    pub ntf: NtfEnv,
    /// The relay, as the checker reaches it.
    pub smp: SmpEnv,
    /// The relay's address as given (what `SNEW` names, so what the server connects to).
    pub relay: SmpServer,
}

/// The suite.
pub fn suite() -> Vec<Case<PairEnv>> {
    vec![
        case!("pair.subscribe", "SNEW for a queue on the relay -> the server subscribes (NSUB): SCHK -> SUB ACTIVE", "Simplex.Messaging.Notifications.Server.subscribeNtfs, receiveAgent (CAServiceSubscribed/CASubscribed)", push, subscribe),
        case!("pair.push", "SEND with the notification flag -> a push whose decrypted list holds the queue's NMSG, whose metadata names the message GET returns", "Simplex.Messaging.Notifications.Server.ntfSubscriber (NMSG -> PNMessage), Push.APNS.apnsNotification", push, push_message),
        case!("pair.sdel", "after SDEL a message on the queue causes no push", "Simplex.Messaging.Notifications.Server.client (SDEL, removeActiveSub)", push, sdel),
        case!("pair.end", "another NSUB for the notifier id -> the relay ENDs the server's subscription: SCHK -> SUB END", "Simplex.Messaging.Notifications.Server.receiveSMP (END -> NSEnd)", push, end),
        case!("pair.deld", "NDEL on the relay -> DELD to the server: SCHK -> SUB DELETED", "Simplex.Messaging.Notifications.Server.receiveSMP (DELD -> NSDeleted)", push, deld),
    ]
}

/// An active token, a queue with notifications, and the server's subscription to it, ACTIVE.
struct Setup {
    c: NtfClient,
    reg: Reg,
    token_id: NtfEntityId,
    server_dh: smp_proto::keys::X25519PublicKey,
    relay: SmpClient,
    q: RecipientQueue,
    n: NotifierCreds,
    sub: NtfEntityId,
}

impl Setup {
    async fn new(env: &PairEnv) -> Result<Self, Failure> {
        let c = ntf::connect(&env.ntf).await?;
        let relay = smp::connect(&env.smp).await?;
        let (reg, token_id, server_dh) = ntf::active_token_dh(&env.ntf, &c).await?;
        let (q, n) = match smp::queue_with_notifier(&relay).await {
            Ok(x) => x,
            Err(f) => {
                ntf::cleanup(&c, &reg, &token_id).await;
                return Err(f);
            }
        };
        let mut s = Self { c, reg, token_id, server_dh, relay, q, n, sub: NtfEntityId::new(vec![0]).ok_or_else(|| Failure::new("id"))? };
        let sub = SmpQueueNtf::new(env.relay.clone(), s.n.notifier_id.clone()).ok_or_else(|| Failure::new("queue"));
        let r = async {
            let req = NewNtfSubscription { token_id: s.token_id.clone(), queue: sub?, notifier_key: s.n.notifier_key.private.clone() };
            ntf::ok("SNEW", s.c.snew(&s.reg.key, req).await)
        }
        .await;
        match r {
            Ok(id) => s.sub = id,
            Err(f) => {
                s.cleanup().await;
                return Err(f);
            }
        }
        if let Err(f) = s.wait_status(env, NtfSubStatus::Active).await {
            s.cleanup().await;
            return Err(f);
        }
        Ok(s)
    }

    /// Polls SCHK until `want`, within the step limit.
    async fn wait_status(&self, env: &PairEnv, want: NtfSubStatus) -> Result<(), Failure> {
        let deadline = tokio::time::Instant::now() + env.ntf.timeout;
        loop {
            let s = ntf::ok("SCHK", self.c.schk(&self.reg.key, &self.sub).await)?;
            if s == want {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Failure::new(format!("SUB {s} after {:?}, expected {want}", env.ntf.timeout)));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn cleanup(&self) {
        ntf::cleanup(&self.c, &self.reg, &self.token_id).await;
        let _ = self.relay.delete_queue(&self.q).await;
    }

    async fn send(&self) -> Result<(), Failure> {
        let sender = &self.relay;
        smp::ok("SEND", sender.send_message(&self.q.snd_id, None, MsgFlags { notification: true }, b"ntf-check pair").await)
    }
}

/// Runs `f` on a fresh setup and cleans up whatever it returns.
async fn with_setup<F>(env: &PairEnv, f: F) -> CaseResult
where
    F: for<'a> FnOnce(&'a PairEnv, &'a Setup) -> std::pin::Pin<Box<dyn std::future::Future<Output = CaseResult> + Send + 'a>>,
{
    let s = Setup::new(env).await?;
    let r = f(env, &s).await;
    s.cleanup().await;
    r
}

async fn subscribe(env: &PairEnv) -> CaseResult {
    with_setup(env, |_, _| Box::pin(async { Ok("SUB ACTIVE".to_string()) })).await
}

async fn push_message(env: &PairEnv) -> CaseResult {
    with_setup(env, |env, s| {
        Box::pin(async move {
            s.send().await?;
            let list = match ntf::next_push(&env.ntf, &s.reg, &s.reg.token, &s.server_dh).await? {
                DevicePush::Messages(l) => l,
                other => return Err(Failure::new(format!("expected a message push, got {other:?}"))),
            };
            let item = list
                .messages()
                .iter()
                .find(|m| m.queue.notifier_id() == s.n.notifier_id.as_slice())
                .ok_or_else(|| Failure::new(format!("the push lists {} notifications, none for the queue", list.messages().len())))?;
            let meta = decrypt_nmsg(&s.n.rcv_ntf_dh_secret, &item.nonce, item.enc_meta())
                .map_err(|e| Failure::with_bytes(format!("the notification's metadata does not decrypt: {e:?}"), item.enc_meta().to_vec()))?;
            match smp::ok("GET", s.relay.get_message(&s.q).await)? {
                Some((id, _)) if id == meta.msg_id => Ok(format!("push for message {}", hex(&id))),
                other => Err(Failure::new(format!("the push names message {}, GET gave {:?}", hex(&meta.msg_id), other.map(|(id, _)| hex(&id))))),
            }
        })
    })
    .await
}

async fn sdel(env: &PairEnv) -> CaseResult {
    with_setup(env, |env, s| {
        Box::pin(async move {
            ntf::ok("SDEL", s.c.sdel(&s.reg.key, &s.sub).await)?;
            s.send().await?;
            let quiet = env.ntf.timeout.min(Duration::from_millis(700));
            let mock = env.ntf.mock.as_ref().ok_or_else(|| Failure::new("no mock APNS"))?;
            let text = String::from_utf8_lossy(s.reg.token.apns_token().unwrap_or_default()).into_owned();
            match tokio::time::timeout(quiet, mock.next_push_for(&text)).await {
                Err(_) => Ok(format!("no push within {quiet:?}")),
                Ok(p) => Err(Failure::with_bytes("a push after SDEL", p.body)),
            }
        })
    })
    .await
}

async fn end(env: &PairEnv) -> CaseResult {
    with_setup(env, |env, s| {
        Box::pin(async move {
            let other = smp::connect(&env.smp).await?;
            smp::ok("NSUB from the checker", other.subscribe_notifications(&s.n.notifier_id, &s.n.notifier_key.private).await)?;
            s.wait_status(env, NtfSubStatus::End).await?;
            Ok("SUB END".to_string())
        })
    })
    .await
}

async fn deld(env: &PairEnv) -> CaseResult {
    with_setup(env, |env, s| {
        Box::pin(async move {
            smp::ok("NDEL", s.relay.disable_notifications(&s.q).await)?;
            s.wait_status(env, NtfSubStatus::Deleted).await?;
            Ok("SUB DELETED".to_string())
        })
    })
    .await
}
