//! `ntf-load --provider webpush` in small: WP tokens for the mock Web Push service registered
//! and verified through RFC 8291 pushes, messages sent and every notification decrypted by
//! its device exactly once. (The figures are measured by the binary, not asserted here.)

use std::time::Duration;

use ref_server::load::{run, LoadConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_push_load_delivers_every_message_once() {
    let config = LoadConfig {
        connections: 2,
        tokens_per_conn: 5,
        subscriptions: 20,
        check_secs: 0.2,
        rate: 100,
        send_secs: 1.0,
        senders: 1,
        web_push: true,
        time_cap: Duration::from_secs(60),
        ..LoadConfig::default()
    };
    let report = run(&config).await.unwrap();
    let row = |name: &str| report.rows.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no {name}:\n{}", report.table())).value.clone();
    assert!(report.problems.is_empty(), "{}", report.table());
    assert_eq!(row("push provider"), "webpush");
    assert_eq!(row("exactly once"), "yes", "{}", report.table());
    let pushed: u64 = row("pushes /s").parse().unwrap();
    assert!(pushed > 0, "{}", report.table());
}
