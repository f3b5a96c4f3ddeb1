//! Clients in bulk: tokens registered and verified, queues created with notifications
//! enabled, subscriptions created, messages sent; every NTF step in batches (v3 sends many
//! authorized commands per block).

use std::sync::Arc;
use std::time::Instant;

use ntf_proto::command::{NewNtfSubscription, NewNtfToken, NtfCommand, NtfEntityId};
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::response::NtfResponse;
use ntf_proto::token::{DeviceToken, PushProvider};
use ref_client::client::{ClientError, NtfClient};
use ref_client::device::{Device, DevicePush, WebPushKeys};
use ref_client::smp::{SmpClient, SmpClientError};
use ref_transport::random_array;
use smp_proto::command::{SmpCommand, SubscriptionMode};
use smp_proto::crypto::{ed25519_public, x25519_public};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey, X25519PublicKey};
use smp_proto::message::MsgFlags;
use smp_proto::server::SmpServer;
use tokio::sync::oneshot;

use super::router::PushRouter;

/// A registered token: its key, id, device token text and device.
#[derive(Clone)]
pub struct Token {
    /// The key that authorizes the token's and its subscriptions' commands.
    pub key: AuthPrivateKey,
    /// The token id.
    pub id: NtfEntityId,
    /// The device token (hex text, as in the push path; for Web Push the push resource path).
    pub text: String,
    /// The device (decrypts pushes).
    pub device: Device,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("text", &self.text)
            .finish_non_exhaustive()
    }
}

/// A queue with notifications enabled, as the load needs it: where to send, the notifier
/// credentials for `SNEW`, the secret that decrypts its notifications.
#[derive(Clone)]
pub struct Queue {
    /// The sender id (`SEND` without a key: the queue is not secured).
    pub snd_id: Vec<u8>,
    /// The notifier id.
    pub notifier_id: Vec<u8>,
    /// The notifier key (given to the notification server).
    pub notifier_key: AuthPrivateKey,
    /// The notifier DH secret shared with the relay.
    pub secret: [u8; 32],
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("notifier_id", &self.notifier_id)
            .finish_non_exhaustive()
    }
}

/// A token that `TNEW` created, waiting for its verification push.
pub struct PendingToken {
    key: AuthPrivateKey,
    id: NtfEntityId,
    text: String,
    device: Device,
    push: oneshot::Receiver<Vec<u8>>,
}

/// Why a bulk step failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// An NTF command failed.
    #[error("ntf: {0}")]
    Ntf(#[from] ClientError),
    /// An SMP command failed.
    #[error("smp: {0}")]
    Smp(#[from] SmpClientError),
    /// Randomness or another local failure.
    #[error("{0}")]
    Local(String),
}

fn ed25519_key() -> Result<(AuthPrivateKey, AuthPublicKey), FleetError> {
    let seed = random_array::<32>().map_err(|e| FleetError::Local(e.to_string()))?;
    let private = AuthPrivateKey::new(PrivateKey::Ed25519(seed))
        .ok_or_else(|| FleetError::Local("key".into()))?;
    let public = AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&seed)))
        .ok_or_else(|| FleetError::Local("key".into()))?;
    Ok((private, public))
}

/// A fresh random APNS test device token (64 hex digits).
///
/// # Errors
/// When the system RNG fails.
pub fn random_token_text() -> Result<String, FleetError> {
    let b = random_array::<32>().map_err(|e| FleetError::Local(e.to_string()))?;
    Ok(b.iter().map(|b| format!("{b:02x}")).collect())
}

/// A new device token for the router's push service: a random `apns_test` token, or with a
/// Web Push router a `WP` token for `/push/<random hex>` with fresh subscription keys. The
/// text the router knows it by, the token, the Web Push keys.
fn device_token(router: &PushRouter) -> Result<(String, DeviceToken, Option<WebPushKeys>), FleetError> {
    let text = random_token_text()?;
    match router.web_push_provider() {
        None => {
            let token = DeviceToken::new(PushProvider::ApnsTest, text.clone().into_bytes())
                .ok_or_else(|| FleetError::Local("device token".into()))?;
            Ok((text, token, None))
        }
        Some(provider) => {
            let keys = WebPushKeys::generate();
            let path = format!("/push/{text}");
            let token = keys
                .token(provider, path.clone())
                .ok_or_else(|| FleetError::Local("device token".into()))?;
            Ok((path, DeviceToken::WebPush(token), Some(keys)))
        }
    }
}

/// `TNEW` for `n` new tokens in one batch; the verification pushes are awaited by
/// [`verify_tokens`].
///
/// # Errors
/// A failed command (the first one).
pub async fn new_tokens(
    client: &NtfClient,
    router: &PushRouter,
    n: usize,
) -> Result<Vec<PendingToken>, FleetError> {
    let mut keys = Vec::with_capacity(n);
    let mut cmds = Vec::with_capacity(n);
    let mut texts = Vec::with_capacity(n);
    let mut dhs = Vec::with_capacity(n);
    let mut wps = Vec::with_capacity(n);
    for _ in 0..n {
        let (key, verify_key) = ed25519_key()?;
        let dh = random_array::<32>().map_err(|e| FleetError::Local(e.to_string()))?;
        let (text, token, wp) = device_token(router)?;
        wps.push(wp);
        cmds.push(NtfCommand::Tnew(NewNtfToken {
            token,
            verify_key,
            dh_key: X25519PublicKey(x25519_public(&dh)),
        }));
        keys.push(key);
        texts.push(text);
        dhs.push(dh);
    }
    let pushes: Vec<_> = texts.iter().map(|t| router.expect_push(t)).collect();
    let batch: Vec<(Option<&AuthPrivateKey>, &[u8], &NtfCommand)> = keys
        .iter()
        .zip(&cmds)
        .map(|(k, c)| (Some(k), &[][..], c))
        .collect();
    let replies = client.send_commands(&batch).await?;
    let mut out = Vec::with_capacity(n);
    for (((((r, key), text), dh), push), wp) in replies
        .into_iter()
        .zip(keys)
        .zip(texts)
        .zip(dhs)
        .zip(pushes)
        .zip(wps)
    {
        match r? {
            NtfResponse::IdTkn { id, dh_key } => {
                let mut device = Device::from_idtkn(&dh, &PublicKey::X25519(dh_key.0))
                    .map_err(|e| FleetError::Local(e.to_string()))?;
                if let Some(k) = wp {
                    device = device.with_web_push(k);
                }
                out.push(PendingToken {
                    key,
                    id,
                    text,
                    device,
                    push,
                });
            }
            r => return Err(ClientError::UnexpectedResponse(r).into()),
        }
    }
    Ok(out)
}

/// Waits for each token's verification push (at most `wait`) and sends every `TVFY` in one
/// batch; the verified tokens' devices are registered with the router.
///
/// # Errors
/// A missing push, an undecryptable one, or a failed `TVFY`.
pub async fn verify_tokens(
    client: &NtfClient,
    router: &PushRouter,
    pending: Vec<PendingToken>,
    wait: std::time::Duration,
) -> Result<Vec<Token>, FleetError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut codes = Vec::with_capacity(pending.len());
    let mut tokens = Vec::with_capacity(pending.len());
    for p in pending {
        let body = tokio::time::timeout_at(deadline, p.push)
            .await
            .map_err(|_| FleetError::Local(format!("no verification push for {}", p.text)))?
            .map_err(|_| FleetError::Local("router stopped".into()))?;
        let code = match p.device.receive(&body) {
            Ok(DevicePush::Verification(c)) => c,
            other => {
                return Err(FleetError::Local(format!(
                    "not a verification push: {other:?}"
                )))
            }
        };
        codes.push(NtfCommand::Tvfy(code));
        tokens.push(Token {
            key: p.key,
            id: p.id,
            text: p.text,
            device: p.device,
        });
    }
    let batch: Vec<(Option<&AuthPrivateKey>, &[u8], &NtfCommand)> = tokens
        .iter()
        .zip(&codes)
        .map(|(t, c)| (Some(&t.key), t.id.as_bytes(), c))
        .collect();
    for r in client.send_commands(&batch).await? {
        match r? {
            NtfResponse::Ok => {}
            r => return Err(ClientError::UnexpectedResponse(r).into()),
        }
    }
    for t in &tokens {
        router.add_device(&t.text, t.device.clone());
    }
    Ok(tokens)
}

/// Registers and verifies `n` tokens on `client` (batched `TNEW`, then batched `TVFY`).
///
/// # Errors
/// As [`new_tokens`] and [`verify_tokens`].
pub async fn register_tokens(
    client: &NtfClient,
    router: &PushRouter,
    n: usize,
) -> Result<Vec<Token>, FleetError> {
    let pending = new_tokens(client, router, n).await?;
    verify_tokens(client, router, pending, std::time::Duration::from_secs(30)).await
}

/// Creates a queue (`NEW`, not subscribed, sender may secure) and enables notifications
/// (`NKEY`), and registers it with the router.
///
/// # Errors
/// A failed SMP command.
pub async fn create_queue(smp: &SmpClient, router: &PushRouter) -> Result<Queue, FleetError> {
    let q = smp.create_queue(SubscriptionMode::OnlyCreate, true).await?;
    let creds = smp.enable_notifications(&q).await?;
    router.add_queue(&creds.notifier_id, creds.rcv_ntf_dh_secret);
    Ok(Queue {
        snd_id: q.snd_id,
        notifier_id: creds.notifier_id,
        notifier_key: creds.notifier_key.private,
        secret: creds.rcv_ntf_dh_secret,
    })
}

/// Creates `n` queues over the `smp` connections with `concurrency` requests in flight.
///
/// # Errors
/// The first failed queue.
pub async fn create_queues(
    smp: &[Arc<SmpClient>],
    router: &PushRouter,
    n: usize,
    concurrency: usize,
) -> Result<Vec<Queue>, FleetError> {
    let mut set = tokio::task::JoinSet::new();
    let mut out = Vec::with_capacity(n);
    let per = n.div_ceil(concurrency.max(1));
    let mut left = n;
    let mut i = 0;
    while left > 0 {
        let k = per.min(left);
        left -= k;
        let c = smp[i % smp.len().max(1)].clone();
        let r = router.clone();
        i += 1;
        set.spawn(async move {
            let mut v = Vec::with_capacity(k);
            for _ in 0..k {
                v.push(create_queue(&c, &r).await?);
            }
            Ok::<_, FleetError>(v)
        });
    }
    while let Some(r) = set.join_next().await {
        out.extend(r.map_err(|e| FleetError::Local(e.to_string()))??);
    }
    Ok(out)
}

/// `SNEW` for each (token, queue) pair in one batch; returns the subscription ids.
///
/// # Errors
/// The first failed command.
pub async fn subscribe(
    client: &NtfClient,
    relay: &SmpServer,
    pairs: &[(&Token, &Queue)],
) -> Result<Vec<NtfEntityId>, FleetError> {
    let mut cmds = Vec::with_capacity(pairs.len());
    for (t, q) in pairs {
        let queue = SmpQueueNtf::new(relay.clone(), q.notifier_id.clone())
            .ok_or_else(|| FleetError::Local("notifier id".into()))?;
        cmds.push(NtfCommand::Snew(NewNtfSubscription {
            token_id: t.id.clone(),
            queue,
            notifier_key: q.notifier_key.clone(),
        }));
    }
    let batch: Vec<(Option<&AuthPrivateKey>, &[u8], &NtfCommand)> = pairs
        .iter()
        .zip(&cmds)
        .map(|((t, _), c)| (Some(&t.key), &[][..], c))
        .collect();
    let mut ids = Vec::with_capacity(pairs.len());
    for r in client.send_commands(&batch).await? {
        match r? {
            NtfResponse::IdSub(id) => ids.push(id),
            r => return Err(ClientError::UnexpectedResponse(r).into()),
        }
    }
    Ok(ids)
}

/// Sends one message with the notification flag to each queue in one batch, noting the send
/// time with the router; returns how many the relay accepted.
///
/// # Errors
/// When nothing could be sent.
pub async fn send_messages(
    smp: &SmpClient,
    router: &PushRouter,
    queues: &[&Queue],
    body: &[u8],
) -> Result<usize, FleetError> {
    let cmd = SmpCommand::Send {
        flags: MsgFlags { notification: true },
        body: body.to_vec(),
    };
    let batch: Vec<(Option<&AuthPrivateKey>, &[u8], &SmpCommand)> = queues
        .iter()
        .map(|q| (None, q.snd_id.as_slice(), &cmd))
        .collect();
    let now = Instant::now();
    for q in queues {
        router.note_sent(&q.notifier_id, now);
    }
    let replies = match smp.send_commands(&batch).await {
        Ok(r) => r,
        Err(e) => {
            for q in queues {
                router.unnote_sent(&q.notifier_id);
            }
            return Err(e.into());
        }
    };
    let mut ok = 0;
    for (q, r) in queues.iter().zip(replies) {
        if r.is_ok() {
            ok += 1;
        } else {
            router.unnote_sent(&q.notifier_id);
        }
    }
    Ok(ok)
}
