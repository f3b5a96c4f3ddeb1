//! Reads every push the mock APNS (or the mock Web Push service) receives, as the devices
//! would: verification pushes go to
//! whoever waits for that token's code; message pushes are decrypted (payload with the
//! token's DH secret, metadata with the queue's notifier DH secret) and counted per message,
//! with the time from `SEND` to the push.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ref_client::device::{Device, DevicePush};
use ref_client::smp::decrypt_nmsg;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::apns::mock::{MockApns, MockResponse};
use crate::webpush::mock::MockWebPush;
use ntf_proto::webpush::WebPushProvider;

/// Counts of what the mock received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushCounts {
    /// Verification pushes handed to a waiter.
    pub verifications: u64,
    /// Message pushes whose newest item decrypted to a message of a known queue.
    pub messages: u64,
    /// Check-messages pushes.
    pub check_messages: u64,
    /// Pushes the mock answered with an error or left hanging (recorded, not delivered).
    pub rejected: u64,
    /// Pushes for unknown tokens, or that did not decrypt or parse.
    pub unreadable: u64,
    /// Messages pushed more than once (as the newest item of a push).
    pub duplicates: u64,
    /// Distinct messages carried by a push as any item (the newest or an older one).
    pub carried: u64,
    /// Message pushes that carried no message not carried by an earlier push.
    pub nothing_new: u64,
}

struct QueueTrack {
    /// The notifier DH secret shared with the relay (decrypts `NMSG` metadata).
    secret: [u8; 32],
    /// When each message not yet pushed was sent, oldest first.
    sent: VecDeque<Instant>,
    /// Messages sent (accepted by the relay).
    sent_total: u64,
    /// Distinct messages carried by a push as any item.
    carried: u64,
}

#[derive(Default)]
struct State {
    waiters: HashMap<String, oneshot::Sender<Vec<u8>>>,
    devices: HashMap<String, Device>,
    queues: HashMap<Vec<u8>, QueueTrack>,
    /// (notifier id, message id) -> pushes that carried it as the newest item
    seen: HashMap<(Vec<u8>, Vec<u8>), u32>,
    /// (notifier id, message id) carried by a push as any item
    carried: std::collections::HashSet<(Vec<u8>, Vec<u8>)>,
    latencies: Vec<Duration>,
    counts: PushCounts,
    /// Pushes per token text (any kind, delivered or not).
    per_token: HashMap<String, u64>,
    /// With Web Push: the push service new tokens are for (see [`PushRouter::web_push`]).
    web_push: Option<WebPushProvider>,
}

/// The push reader; cheap to clone.
#[derive(Clone, Default)]
pub struct PushRouter {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for PushRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushRouter").finish_non_exhaustive()
    }
}

impl PushRouter {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts reading `mock`'s pushes (until the returned task is aborted).
    pub fn start(&self, mock: Arc<MockApns>) -> JoinHandle<()> {
        let router = self.clone();
        tokio::spawn(async move {
            loop {
                let p = mock.next_push().await;
                let delivered = p.response == MockResponse::Ok
                    || matches!(p.response, MockResponse::OkAfter(_));
                router.handle(&p.token, &p.body, delivered, Instant::now());
            }
        })
    }

    /// A router for Web Push tokens of `provider` (the mock Web Push service): the fleet makes
    /// `WP` tokens for it, keyed here by their push resource path; read pushes with
    /// [`PushRouter::start_web_push`].
    pub fn web_push(provider: WebPushProvider) -> Self {
        let r = Self::default();
        r.lock().web_push = Some(provider);
        r
    }

    /// The push service new tokens are for, when this router is for Web Push.
    pub fn web_push_provider(&self) -> Option<WebPushProvider> {
        self.lock().web_push.clone()
    }

    /// Starts reading the mock Web Push service's pushes (until the returned task is
    /// aborted); a push is keyed by its path. The mock answers `201` unless told otherwise.
    pub fn start_web_push(&self, mock: Arc<MockWebPush>) -> JoinHandle<()> {
        let router = self.clone();
        tokio::spawn(async move {
            loop {
                let p = mock.next_push().await;
                router.handle(&p.path, &p.body, true, Instant::now());
            }
        })
    }

    /// Registers interest in the next push to `token` (before `TNEW`): the raw body arrives
    /// on the receiver.
    pub fn expect_push(&self, token: &str) -> oneshot::Receiver<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        self.lock().waiters.insert(token.to_owned(), tx);
        rx
    }

    /// The device of a verified token, to decrypt its message pushes.
    pub fn add_device(&self, token: &str, device: Device) {
        self.lock().devices.insert(token.to_owned(), device);
    }

    /// A queue whose message notifications are counted.
    pub fn add_queue(&self, notifier_id: &[u8], rcv_ntf_dh_secret: [u8; 32]) {
        self.lock().queues.insert(
            notifier_id.to_vec(),
            QueueTrack {
                secret: rcv_ntf_dh_secret,
                sent: VecDeque::new(),
                sent_total: 0,
                carried: 0,
            },
        );
    }

    /// Records that a message was sent to the queue now.
    pub fn note_sent(&self, notifier_id: &[u8], at: Instant) {
        if let Some(q) = self.lock().queues.get_mut(notifier_id) {
            q.sent.push_back(at);
            q.sent_total += 1;
        }
    }

    /// Takes back a send that the relay did not accept.
    pub fn unnote_sent(&self, notifier_id: &[u8]) {
        if let Some(q) = self.lock().queues.get_mut(notifier_id) {
            q.sent.pop_back();
            q.sent_total = q.sent_total.saturating_sub(1);
        }
    }

    fn handle(&self, token: &str, body: &[u8], delivered: bool, at: Instant) {
        let mut st = self.lock();
        *st.per_token.entry(token.to_owned()).or_default() += 1;
        if !delivered {
            st.counts.rejected += 1;
            return;
        }
        if let Some(w) = st.waiters.remove(token) {
            st.counts.verifications += 1;
            let _ = w.send(body.to_vec());
            return;
        }
        let push = match st.devices.get(token).map(|d| d.receive(body)) {
            Some(Ok(p)) => p,
            _ => {
                st.counts.unreadable += 1;
                return;
            }
        };
        match push {
            DevicePush::CheckMessages => st.counts.check_messages += 1,
            DevicePush::Verification(_) => st.counts.unreadable += 1,
            DevicePush::Messages(list) => {
                let mut new = false;
                for item in list.messages() {
                    let nid = item.queue.notifier_id().to_vec();
                    let Some(secret) = st.queues.get(&nid).map(|q| q.secret) else { continue };
                    let Ok(meta) = decrypt_nmsg(&secret, &item.nonce, item.enc_meta()) else { continue };
                    if st.carried.insert((nid.clone(), meta.msg_id)) {
                        new = true;
                        st.counts.carried += 1;
                        if let Some(q) = st.queues.get_mut(&nid) {
                            q.carried += 1;
                        }
                    }
                }
                if !new {
                    st.counts.nothing_new += 1;
                }
                // the newest item is the message that caused this push (oldest first)
                let Some(item) = list.messages().last() else {
                    st.counts.unreadable += 1;
                    return;
                };
                let nid = item.queue.notifier_id().to_vec();
                let Some(secret) = st.queues.get(&nid).map(|q| q.secret) else {
                    st.counts.unreadable += 1;
                    return;
                };
                let Ok(meta) = decrypt_nmsg(&secret, &item.nonce, item.enc_meta()) else {
                    st.counts.unreadable += 1;
                    return;
                };
                let n = {
                    let c = st.seen.entry((nid.clone(), meta.msg_id)).or_default();
                    *c += 1;
                    *c
                };
                if n > 1 {
                    st.counts.duplicates += 1;
                    return;
                }
                st.counts.messages += 1;
                if let Some(sent) = st.queues.get_mut(&nid).and_then(|q| q.sent.pop_front()) {
                    st.latencies.push(at.saturating_duration_since(sent));
                }
            }
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> PushCounts {
        self.lock().counts.clone()
    }

    /// Pushes received for `token` so far (any kind, delivered or not).
    pub fn pushes_for(&self, token: &str) -> u64 {
        self.lock().per_token.get(token).copied().unwrap_or(0)
    }

    /// Messages sent that no push carried as any item (per queue: sent less the distinct
    /// messages carried).
    pub fn never_carried(&self) -> u64 {
        self.lock().queues.values().map(|q| q.sent_total.saturating_sub(q.carried)).sum()
    }

    /// Messages sent but not pushed yet.
    pub fn outstanding(&self) -> usize {
        self.lock().queues.values().map(|q| q.sent.len()).sum()
    }

    /// How many pushes carried message `msg_id` of the queue `notifier_id` as their newest
    /// item (0: not pushed yet).
    pub fn pushes_of(&self, notifier_id: &[u8], msg_id: &[u8]) -> u32 {
        self.lock()
            .seen
            .get(&(notifier_id.to_vec(), msg_id.to_vec()))
            .copied()
            .unwrap_or(0)
    }

    /// Distinct messages pushed per queue, and the largest number of pushes one message got.
    pub fn per_message(&self) -> (HashMap<Vec<u8>, usize>, u32) {
        let st = self.lock();
        let mut per_queue: HashMap<Vec<u8>, usize> = HashMap::new();
        for (nid, _) in st.seen.keys() {
            *per_queue.entry(nid.clone()).or_default() += 1;
        }
        (per_queue, st.seen.values().copied().max().unwrap_or(0))
    }

    /// Takes the latencies measured so far.
    pub fn take_latencies(&self) -> Vec<Duration> {
        std::mem::take(&mut self.lock().latencies)
    }
}
