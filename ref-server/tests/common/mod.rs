//! Shared by the integration tests: a TCP forwarder that can cut the network between the
//! notification server and a relay, and restore it; a relay over its SQLite store that a test
//! starts and stops as a process would; and the app's side of the notification path (a token's
//! keys, the push clients and subscriber settings of a test server, the check of a message
//! push end to end).
#![allow(dead_code)] // each test file that shares this module uses some of it

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ntf_proto::command::{NewNtfSubscription, NewNtfToken, NtfEntityId};
use ntf_proto::queue::SmpQueueNtf;
use ref_client::client::NtfClient;
use ntf_proto::token::{DeviceToken, PushProvider};
use ref_client::device::{Device, DevicePush};
use ref_client::smp::{decrypt_nmsg, NotifierCreds, RecipientQueue, SmpClient};
use ref_server::apns::mock::{MockApns, MockPush};
use ref_server::apns::{ApnsClient, ApnsConfig, ApnsSigningKey, PushClients};
use ref_server::server::subscriber::SubscriberConfig;
use ref_server::smp::{RelayConfig, SmpRelayServer, SqliteQueueStore};
use ref_transport::{random_array, ServerCredentials};
use smp_proto::crypto::{ed25519_public, x25519_public};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey, X25519PublicKey};
use smp_proto::message::{NMsgMeta, RcvMsgBody};
use smp_proto::server::{KeyHash, SmpServer, TransportHost};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Binds `addr`, retrying while the previous listener on it is being closed.
pub async fn bind(addr: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("cannot bind {addr}");
}

/// A TCP forwarder to a relay.
pub struct Cut {
    /// Where the forwarder listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

fn forward(listener: TcpListener, to: SocketAddr) -> JoinHandle<()> {
    tokio::spawn(async move {
        // dropping the set (when the task is aborted) closes every forwarded connection
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut a, _)) = listener.accept().await {
            conns.spawn(async move {
                if let Ok(mut b) = TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                }
            });
        }
    })
}

impl Cut {
    /// A forwarder to `to` on a free loopback port.
    pub async fn new(to: SocketAddr) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        Self { addr, task: forward(l, to) }
    }

    /// Drops every forwarded connection and refuses new ones until [`Cut::restore`].
    pub fn cut(&self) {
        self.task.abort();
    }

    /// Forwards again, on the same port, to `to`.
    pub async fn restore(&mut self, to: SocketAddr) {
        self.task = forward(bind(self.addr).await, to);
    }
}

/// A running relay (a test's SMP relay) over the SQLite store at `db`.
pub struct Relay {
    pub server: SmpRelayServer,
    task: JoinHandle<std::io::Result<()>>,
}

impl Relay {
    pub async fn start(
        creds: &ServerCredentials,
        db: &Path,
        addr: SocketAddr,
    ) -> (Self, SocketAddr) {
        let store = SqliteQueueStore::open(db).unwrap();
        let server = SmpRelayServer::with_store(creds, RelayConfig::default(), store).unwrap();
        let l = bind(addr).await;
        let addr = l.local_addr().unwrap();
        let task = tokio::spawn(server.clone().run(l));
        (Self { server, task }, addr)
    }

    /// Stops the relay as a process exit would: the accept task is aborted, which ends every
    /// connection task and closes its socket; nothing of this relay is used again.
    pub async fn stop(self) {
        self.task.abort();
        assert!(self.task.await.unwrap_err().is_cancelled());
    }
}

/// A relay on 127.0.0.1:`port`, as the notification server reaches it.
pub fn loopback_relay(port: u16, key_hash: KeyHash) -> SmpServer {
    SmpServer::new(vec![TransportHost::Ipv4([127, 0, 0, 1])], port.to_string(), key_hash).unwrap()
}

/// Push clients whose test provider is `mock`.
pub fn mock_push_clients(mock: &MockApns) -> PushClients {
    let key = ApnsSigningKey::generate().unwrap();
    PushClients { test: Some(ApnsClient::new(mock.endpoint(), ApnsConfig::default(), key).unwrap()), ..PushClients::default() }
}

/// The SMP subscriber with short reconnect delays (50-400 ms).
pub fn fast_subscriber() -> SubscriberConfig {
    SubscriberConfig { min_backoff: Duration::from_millis(50), max_backoff: Duration::from_millis(400), ..SubscriberConfig::default() }
}

/// An app's new token: its Ed25519 key, its DH key and a random `apns_test` device token.
pub struct AppToken {
    pub key: AuthPrivateKey,
    pub dh_private: [u8; 32],
    pub token_text: String,
    /// What `TNEW` sends.
    pub new_token: NewNtfToken,
}

impl AppToken {
    pub fn generate() -> Self {
        let seed = random_array::<32>().unwrap();
        let key = AuthPrivateKey::new(PrivateKey::Ed25519(seed)).unwrap();
        let dh_private = random_array::<32>().unwrap();
        let token_text: String = random_array::<32>().unwrap().iter().map(|b| format!("{b:02x}")).collect();
        let token = DeviceToken::new(PushProvider::ApnsTest, token_text.clone().into_bytes()).unwrap();
        let new_token = NewNtfToken {
            token,
            verify_key: AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&seed))).unwrap(),
            dh_key: X25519PublicKey(x25519_public(&dh_private)),
        };
        Self { key, dh_private, token_text, new_token }
    }

    /// The device that decrypts the pushes, from the server's DH key of `IDTKN`.
    pub fn device(&self, server_dh: &X25519PublicKey) -> Device {
        Device::from_idtkn(&self.dh_private, &PublicKey::X25519(server_dh.0)).unwrap()
    }
}

/// The verification code of a push.
pub fn verification_code(device: &Device, push: &MockPush) -> ntf_proto::token::NtfRegCode {
    match device.receive(&push.body).unwrap() {
        DevicePush::Verification(code) => code,
        other => panic!("not a verification push: {other:?}"),
    }
}

/// An app's token registered on `ntf` (`TNEW`) and verified (`TVFY`) with the code of its
/// verification push, taken from `mock` within `wait`: the token, its id and its device.
pub async fn verified_token(ntf: &NtfClient, mock: &MockApns, wait: Duration) -> (AppToken, NtfEntityId, Device) {
    let t = AppToken::generate();
    let (token_id, server_dh) = ntf.tnew(&t.key, t.new_token.clone()).await.unwrap();
    let device = t.device(&server_dh);
    let push = tokio::time::timeout(wait, mock.next_push_for(&t.token_text)).await.unwrap();
    ntf.tvfy(&t.key, &token_id, verification_code(&device, &push)).await.unwrap();
    (t, token_id, device)
}

/// What `SNEW` sends for `creds`' queue on `relay` (as the notification server reaches it),
/// for the token `token_id`.
pub fn new_subscription(token_id: &NtfEntityId, relay: SmpServer, creds: &NotifierCreds) -> NewNtfSubscription {
    NewNtfSubscription {
        token_id: token_id.clone(),
        queue: SmpQueueNtf::new(relay, creds.notifier_id.clone()).unwrap(),
        notifier_key: creds.notifier_key.private.clone(),
    }
}

/// Checks a message push end to end: the list decrypts on the device, its last item names
/// `creds`' queue, its metadata decrypts to the id of the message the recipient then receives
/// (and acknowledges). Returns the metadata and the message.
pub async fn check_message_push(
    push: &MockPush,
    device: &Device,
    creds: &NotifierCreds,
    smp: &SmpClient,
    queue: &RecipientQueue,
) -> (NMsgMeta, RcvMsgBody) {
    let DevicePush::Messages(list) = device.receive(&push.body).unwrap() else { panic!("not a message push") };
    let item = list.messages().last().unwrap().clone();
    assert_eq!(item.queue.notifier_id(), creds.notifier_id.as_slice());
    let meta = decrypt_nmsg(&creds.rcv_ntf_dh_secret, &item.nonce, item.enc_meta()).unwrap();
    let (msg_id, msg) = smp.get_message(queue).await.unwrap().expect("a message");
    assert_eq!(meta.msg_id, msg_id, "the notification names the message");
    let _ = smp.ack(queue, &msg_id).await.unwrap();
    (meta, msg)
}
