//! An `NSUB` whose answer does not come within the client's timeout is a temporary error (the
//! reference's `temporaryClientError`, `PCEResponseTimeout`): the subscription stays PENDING, is
//! not reported as an error, and is sent again on the same connection (`groupSub` and
//! `reconnectClient` in `Client/Agent.hs`). Before, it stayed PENDING until the next reconnect.

mod common;
use common::loopback_relay;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ntf_proto::command::NtfEntityId;
use ntf_proto::queue::SmpQueueNtf;
use ref_client::smp::{NotifierCreds, SmpClient, SmpClientConfig};
use ref_server::ntf::{Effect, NotifierKey, SmpEvent};
use ref_server::server::subscriber::{self, EventSink, SubscriberConfig};
use ref_server::smp::core::RelayConfig;
use ref_server::smp::server::SmpRelayServer;
use ref_transport::ServerCredentials;
use smp_proto::command::SubscriptionMode;
use smp_proto::server::SmpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A forwarder to the relay that, while `hold` is set, stops passing the relay's bytes to the
/// client (they wait in the socket buffers and are passed on when it is cleared).
async fn holding_forwarder(to: SocketAddr, hold: Arc<AtomicBool>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((a, _)) = l.accept().await {
            let hold = hold.clone();
            tokio::spawn(async move {
                let Ok(b) = TcpStream::connect(to).await else { return };
                let (mut ar, mut aw) = a.into_split();
                let (mut br, mut bw) = b.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut ar, &mut bw).await;
                });
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match br.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    while hold.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    if aw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn subscribe(server: &SmpServer, creds: &NotifierCreds, n: u8) -> Effect {
    Effect::SmpSubscribe {
        subscription_id: NtfEntityId::new(vec![n; 16]).unwrap(),
        queue: SmpQueueNtf::new(server.clone(), creds.notifier_id.clone()).unwrap(),
        notifier_key: NotifierKey::new(creds.notifier_key.private.clone()),
        pending: false,
    }
}

/// What the subscriber reported for `id`: `P` pending, `A` subscribed (ACTIVE), `E` an error.
fn reports(events: &[SmpEvent], id: &[u8]) -> String {
    let has = |ids: &Vec<Vec<u8>>| ids.iter().any(|i| i == id);
    events
        .iter()
        .filter_map(|e| match e {
            SmpEvent::Pending { notifier_ids, .. } if has(notifier_ids) => Some('P'),
            SmpEvent::Subscribed { notifier_ids, .. } if has(notifier_ids) => Some('A'),
            SmpEvent::SubscriptionErrors { errors, .. } if errors.iter().any(|(i, _)| i == id) => Some('E'),
            SmpEvent::Disconnected { notifier_ids, .. } if has(notifier_ids) => Some('D'),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_timed_out_nsub_is_sent_again_on_the_same_connection() {
    let (_, relay_creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let relay = SmpRelayServer::new(&relay_creds, RelayConfig::default()).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = l.local_addr().unwrap();
    tokio::spawn(relay.clone().run(l));
    let hold = Arc::new(AtomicBool::new(false));
    let fwd = holding_forwarder(relay_addr, hold.clone()).await;
    let server = loopback_relay(fwd.port(), relay.key_hash());

    let app = SmpClient::connect_addr(relay_addr, &relay.key_hash(), &SmpClientConfig::default()).await.unwrap();
    let mut creds = Vec::new();
    for _ in 0..2 {
        let q = app.create_queue(SubscriptionMode::OnlyCreate, true).await.unwrap();
        creds.push(app.enable_notifications(&q).await.unwrap());
    }

    let events: Arc<Mutex<Vec<SmpEvent>>> = Arc::default();
    let seen = events.clone();
    let sink: EventSink = Arc::new(move |e| {
        seen.lock().unwrap().push(e);
        Box::pin(async {})
    });
    let timeout = Duration::from_millis(700);
    let config = SubscriberConfig {
        client: SmpClientConfig { timeout, ..SmpClientConfig::default() },
        min_backoff: Duration::from_millis(300),
        ..SubscriberConfig::default()
    };
    let (tx, _task) = subscriber::start(config, sink);
    let wait_for = |id: Vec<u8>, want: &'static str| {
        let events = events.clone();
        async move {
            for _ in 0..200 {
                if reports(&events.lock().unwrap(), &id) == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            panic!("reports for the queue: {:?}, want {want}", reports(&events.lock().unwrap(), &id));
        }
    };

    // the connection is made and the first queue subscribed
    tx.send(subscribe(&server, &creds[0], 1)).unwrap();
    wait_for(creds[0].notifier_id.clone(), "PA").await;

    // the relay's answer to the second NSUB is held past the client's timeout
    hold.store(true, Ordering::SeqCst);
    tx.send(subscribe(&server, &creds[1], 2)).unwrap();
    tokio::time::sleep(timeout + Duration::from_millis(200)).await;
    hold.store(false, Ordering::SeqCst);
    let r = reports(&events.lock().unwrap(), &creds[1].notifier_id);
    assert!(r.starts_with('P') && !r.contains(['E', 'D', 'A']), "timed out: pending, no error: {r}");

    // sent again after min_backoff, on the same connection (nothing was disconnected)
    wait_for(creds[1].notifier_id.clone(), "PPA").await;
    assert_eq!(reports(&events.lock().unwrap(), &creds[0].notifier_id), "PA", "the connection stayed up");
}
