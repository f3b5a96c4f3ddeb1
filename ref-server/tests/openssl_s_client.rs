//! An independent TLS client (`openssl s_client`) against the notification server: TLS 1.3 with
//! TLS_CHACHA20_POLY1305_SHA256 and ALPN `ntf/1` are negotiated, and the session id in the
//! server's NTF hello (the first block) equals the client's Finished message (`tls-unique`).

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use ref_server::apns::PushClients;
use ref_server::server::shell::{self, ShellConfig};
use ref_transport::{ServerCredentials, TlsServerConfig};
use tokio::net::TcpListener;
use tokio::process::Command;

/// The hex bytes printed by `-msg` after a `>>> ... Finished` line (the client's Finished).
fn client_finished(out: &str) -> Option<Vec<u8>> {
    let mut lines = out.lines();
    while let Some(l) = lines.next() {
        if l.starts_with(">>> TLS 1.3, Handshake") && l.ends_with("Finished") {
            let mut hex = String::new();
            for l in lines.by_ref() {
                if !l.starts_with("    ") {
                    break;
                }
                hex.extend(l.split_whitespace());
            }
            return (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_s_client_sees_tls13_chacha_alpn_and_tls_unique_session_id() {
    if std::process::Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIPPED: no `openssl` command on this machine");
        return;
    }
    let (_ca, creds) = ServerCredentials::generate("127.0.0.1").unwrap();
    let tls = TlsServerConfig::new(&creds, &[b"ntf/1"]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ShellConfig { tls, versions: ntf_proto::version::SUPPORTED, push: Arc::new(PushClients::default()), subscriber: None, ops: Default::default() };
    let server = shell::start(listener, config, ref_server::ntf::Config::default(), ref_server::ntf::MemStore::new()).unwrap();
    let port = server.addr.port();

    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-tls1_3", "-alpn", "ntf/1", "-msg", "-ign_eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // give it time to finish the handshake and print the server's first block, then stop it
    // (with -ign_eof it would wait for the server to close)
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let _stdin = child.stdin.take();
    child.start_kill().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output()).await.unwrap().unwrap();
    let raw = out.stdout;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("New, TLSv1.3, Cipher is TLS_CHACHA20_POLY1305_SHA256"), "{text}");
    assert!(text.contains("ALPN protocol: ntf/1"), "{text}");

    // Finished: handshake type 0x14, 3-byte length, then verify_data (32 bytes for SHA-256)
    let fin = client_finished(&text).expect("client Finished in -msg output");
    assert_eq!(&fin[..4], &[0x14, 0, 0, 32]);
    let verify_data = &fin[4..];
    // the server hello block as printed raw: len:2, version range 1..3, session id short bytes
    let hello = [0x00, 0x01, 0x00, 0x03, 0x20];
    let at = raw.windows(hello.len()).position(|w| w == hello).expect("NTF server hello in the output");
    assert_eq!(&raw[at + 5..at + 5 + 32], verify_data, "session id = tls-unique");
    server.shutdown().await;
}
