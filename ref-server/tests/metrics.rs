//! The metrics endpoint scraped during the demo flow (token registered and verified, queue
//! subscribed, message sent and pushed): the reference's `simplex_ntf_*` counters move as the
//! reference's `NtfServerStats` would, and the metrics file is written at the interval.

use std::sync::Arc;
use std::time::Duration;

use ref_client::client::{NtfClient, NtfClientConfig};
use ref_client::smp::{SmpClient, SmpClientConfig};
use ref_server::load::env::{self, Relay};
use ref_server::load::fleet;
use ref_server::load::router::PushRouter;
use ref_server::server::config::{ApnsTestSection, Config, ServerPaths, METRICS_FILE};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// `GET path` over HTTP/1.1; the status line and the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

fn value_opt(text: &str, series: &str) -> Option<i64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn value(text: &str, series: &str) -> i64 {
    value_opt(text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    body
}

/// Scrapes until `series` reaches `want` (the server counts after it answers).
async fn until(addr: std::net::SocketAddr, series: &str, want: i64) -> String {
    for _ in 0..200 {
        let t = scrape(addr).await;
        // a labelled series appears with its first value
        if value_opt(&t, series).is_some_and(|v| v >= want) {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{series} never reached {want}:\n{}", scrape(addr).await);
}

/// The control port (`runCPClient`): on loopback, `AUTH` before `auth`, then the counters.
async fn control_port_reports_the_same(addr: std::net::SocketAddr) {
    use tokio::io::AsyncBufReadExt as _;
    assert!(addr.ip().is_loopback(), "{addr}");
    let c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = c.into_split();
    let mut r = tokio::io::BufReader::new(r);
    let read_until = |end: &'static str| {
        let mut text = String::new();
        async move {
            while !text.ends_with(end) {
                if r.read_line(&mut text).await.unwrap() == 0 {
                    break;
                }
            }
            (text, r)
        }
    };
    let (greeting, mut r2) = read_until("commands\n").await;
    assert_eq!(greeting, "Ntf server control port\n'help' for supported commands\n");
    w.write_all(b"stats\r\nauth wrong\nauth usr-pw\nauth wrong\n").await.unwrap();
    let mut lines = Vec::new();
    for _ in 0..4 {
        let mut l = String::new();
        r2.read_line(&mut l).await.unwrap();
        lines.push(l);
    }
    let kept = "Current role is CPRUser, start new session to change.\n";
    assert_eq!(lines, ["AUTH\n", "Current role is CPRNone\n", "Current role is CPRUser\n", kept]);
    // a new session
    let c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = c.into_split();
    let mut r = tokio::io::BufReader::new(r);
    w.write_all(b"auth usr-pw\nstats\nserver-info\nquit\n").await.unwrap();
    let mut all = String::new();
    r.read_to_string(&mut all).await.unwrap();
    assert!(all.contains("Current role is CPRUser\n"), "{all}");
    for line in ["tknCreated: 1", "tknVerified: 1", "subCreated: 1", "ntfReceived: 1", "ntfDelivered: 1", "ntfVrfDelivered: 1",
        "daily active tokens: 1", "daily active subscriptions: 1", "SMP sessions count: 1", "SMP queue subscriptions total: 1",
        "SMP queue subscriptions on own servers: 1", "Push notifications queue length: 0"] {
        assert!(all.contains(&format!("\n{line}\n")), "{line} in\n{all}");
    }
    // a user is not shown the own relays' names; quit closed the connection (read_to_string ended)
    assert!(!all.contains("on 127.0.0.1:"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_the_demo_flow() {
    let mock = Arc::new(env::start_mock().await.unwrap());
    let router = PushRouter::new();
    let router_task = router.start(mock.clone());
    let relay = Relay::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mock-ca.pem"), mock.ca_pem()).unwrap();
    ref_server::server::init(dir.path(), "127.0.0.1", 0).unwrap();
    let mut config = Config::load(dir.path()).unwrap();
    config.server.listen = [127, 0, 0, 1].into();
    config.apns_test = Some(ApnsTestSection { host: mock.addr().ip().to_string(), port: mock.addr().port(), ca_file: "mock-ca.pem".into() });
    config.store.prometheus_http = Some("127.0.0.1:0".parse().unwrap());
    config.store.prometheus_interval = Some(1);
    // the relay on loopback counts as an own server, reported by host
    config.subscriber.own_server_domains = vec!["127.0.0.1".into()];
    // the control port on a free port, with a user password only
    config.server.control_port = Some(0);
    config.auth.user_password = Some("usr-pw".into());
    // the counters kept across restarts (and the daily CSV, written at 00:00 UTC)
    config.store.log_stats = true;
    config.save(dir.path()).unwrap();
    let config = Config::load(dir.path()).unwrap();
    let server = ref_server::server::run_config(&ServerPaths::same(dir.path()), &config).await.unwrap();
    let m = server.metrics_addr.unwrap();

    let t = scrape(m).await;
    for series in ["simplex_ntf_tokens_created", "simplex_ntf_subscriptions_created", "simplex_ntf_notifications_received"] {
        assert_eq!(value(&t, series), 0, "{series}");
    }
    assert!(t.contains("# TYPE simplex_ntf_tokens_created counter"), "{t}");
    assert!(t.contains("# TYPE simplex_ntf_apns_push_queue_length gauge"), "{t}");
    assert_eq!(get(m, "/other").await.0, "HTTP/1.1 404 Not Found");

    // TNEW, the verification push, TVFY
    let client = NtfClient::connect_addr(server.addr, &server.key_hash, &NtfClientConfig::default()).await.unwrap();
    let tokens = fleet::register_tokens(&client, &router, 1).await.unwrap();
    until(m, "simplex_ntf_tokens_verified", 1).await;
    // the device may answer before the provider's answer reaches the server
    let t = until(m, "simplex_ntf_notifications_verification_delivered", 1).await;
    assert_eq!(value(&t, "simplex_ntf_tokens_created"), 1);
    assert_eq!(value(&t, "simplex_ntf_notifications_verification_queued"), 1);
    assert_eq!(value(&t, "simplex_ntf_notifications_verification_delivered"), 1);
    assert_eq!(value(&t, "simplex_ntf_pushes{kind=\"verification\",provider=\"apns_test\",result=\"delivered\"}"), 1, "{t}");

    // a queue with notifications, SNEW, the server's NSUB confirmed by the relay
    let smp = SmpClient::connect(&relay.smp_server(), &SmpClientConfig::default()).await.unwrap();
    let queue = fleet::create_queue(&smp, &router).await.unwrap();
    fleet::subscribe(&client, &relay.smp_server(), &[(&tokens[0], &queue)]).await.unwrap();
    let own = "{server=\"127.0.0.1\"}";
    let t = until(m, &format!("simplex_ntf_smp_subscription_active_sub_count_own{own}"), 1).await;
    assert_eq!(value(&t, "simplex_ntf_subscriptions_created"), 1);
    assert_eq!(value(&t, "simplex_ntf_smp_sessions_count"), 1);
    assert_eq!(value(&t, "simplex_ntf_smp_subscription_active_sub_count_other"), 0);

    // SEND -> NMSG -> the message push
    fleet::send_messages(&smp, &router, &[&queue], b"hello").await.unwrap();
    until(m, "simplex_ntf_notifications_delivered", 1).await;
    // a scrape is not one instant: its gauges are computed before its counters are read, so
    // the scrape that first shows the push delivered may hold gauges from before the push was
    // queued; the next one, started after, holds them all
    let t = scrape(m).await;
    // the router counts what the mock provider hands it, after the provider answered the server
    for _ in 0..200 {
        if router.counts().messages >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(router.counts().messages, 1);
    assert_eq!(value(&t, "simplex_ntf_notifications_received"), 1);
    assert_eq!(value(&t, &format!("simplex_ntf_notifications_received_own{own}")), 1);
    assert_eq!(value(&t, &format!("simplex_ntf_notifications_delivered_own{own}")), 1);
    assert_eq!(value(&t, "simplex_ntf_notifications_failed"), 0);
    assert_eq!(value(&t, "simplex_ntf_pushes{kind=\"message\",provider=\"apns_test\",result=\"delivered\"}"), 1);
    assert_eq!(value(&t, "simplex_ntf_apns_push_queue_length"), 0);
    // `activeTokens` (the message push), `activeSubs` (the NMSG), the store totals
    for series in ["tokens_count_daily", "tokens_count_weekly", "tokens_count_monthly", "subscriptions_count_daily", "subscriptions_count_monthly"] {
        assert_eq!(value(&t, &format!("simplex_ntf_{series}")), 1, "{series} in\n{t}");
    }
    assert_eq!(value(&t, "simplex_ntf_tokens_total"), 1);
    assert_eq!(value(&t, "simplex_ntf_subscriptions_approx_total"), 1);
    assert_eq!(value(&t, "simplex_ntf_notifications_total"), 1);
    assert_eq!(value(&t, "simplex_ntf_notifications_received_auth"), 0);
    assert_eq!(value(&t, &format!("simplex_ntf_smp_agent_clients_count_own{own}")), 1);
    assert_eq!(value(&t, &format!("simplex_ntf_smp_subscribers_count_own{own}")), 1);
    assert_eq!(value(&t, "simplex_ntf_smp_agent_clients_count_other"), 0);
    assert!(value(&t, "simplex_ntf_threads_total") > 0);

    control_port_reports_the_same(server.control_addr.unwrap()).await;

    // the metrics file, rewritten every second
    let file = dir.path().join(METRICS_FILE);
    let mut text = String::new();
    for _ in 0..60 {
        text = std::fs::read_to_string(&file).unwrap_or_default();
        if text.contains("simplex_ntf_notifications_delivered 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(value(&text, "simplex_ntf_notifications_delivered"), 1, "{}", file.display());

    server.shutdown().await;
    router_task.abort();
    // the endpoint stops with the server
    assert!(tokio::net::TcpStream::connect(m).await.is_err());

    // `saveServerStats` at the stop, `restoreServerStats` at the next start (the file then `.bak`)
    let stats = dir.path().join("ntf-server-stats.log");
    let saved = std::fs::read_to_string(&stats).unwrap();
    assert!(saved.contains("\nntfDelivered=1\n") && saved.contains("\nntfDeliveredOwn=127.0.0.1 1\n"), "{saved}");
    let again = ref_server::server::run_config(&ServerPaths::same(dir.path()), &config).await.unwrap();
    assert!(!stats.exists() && dir.path().join("ntf-server-stats.log.bak").exists());
    let t = again.metrics().encode();
    assert_eq!(value(&t, "simplex_ntf_notifications_delivered"), 1);
    assert_eq!(value(&t, "simplex_ntf_tokens_count_daily"), 1);
    again.shutdown().await;
    // a broken file stops the start with one line
    std::fs::write(&stats, "fromTime=x\n").unwrap();
    let e = ref_server::server::run_config(&ServerPaths::same(dir.path()), &config).await.err().unwrap();
    assert!(format!("{e:#}").contains("error restoring server stats"), "{e:#}");
}
