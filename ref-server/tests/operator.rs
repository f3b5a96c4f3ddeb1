//! The `ntf-server` binary as an operator runs it: a directory laid out as the reference's
//! `ntf-server init` leaves it (`tests/fixtures/reference-init.ini`), `start` with its server
//! information block, SIGTERM/SIGINT, `cert`, `delete`, several ports, and bad input (one
//! line, exit 1, nothing written over).

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ref_client::client::{NtfClient, NtfClientConfig};
use ref_transport::{ServerCredentials, SignAlgorithm};
use smp_proto::server::KeyHash;

const BIN: &str = env!("CARGO_BIN_EXE_ntf-server");
const REFERENCE_INIT: &str = include_str!("fixtures/reference-init.ini");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).arg("--dir").arg(dir).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A directory as the reference's `init` makes it: Ed448 credentials and its INI, the port
/// edited as an operator would (443 may be taken on a test machine).
fn reference_dir(dir: &Path, port: u16, edit: impl FnOnce(String) -> String) -> KeyHash {
    let (_ca, creds) = ServerCredentials::init_dir(dir, "127.0.0.1", SignAlgorithm::Ed448).unwrap();
    let ini = REFERENCE_INIT.replace("port = 443\n", &format!("port = {port}\n"));
    std::fs::write(dir.join("ntf-server.ini"), edit(ini)).unwrap();
    creds.key_hash()
}

/// `start`, with the information block read up to the last "Serving" line.
struct Server {
    child: Child,
    info: Vec<String>,
}

impl Server {
    fn start(dir: &Path) -> Self {
        Self::start_serving(dir, 1)
    }

    /// `start` on `ports` ports: one "Serving" line each.
    fn start_serving(dir: &Path, ports: usize) -> Self {
        let mut child = Command::new(BIN)
            .arg("--dir")
            .arg(dir)
            .arg("start")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut info = Vec::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut serving = 0;
        for line in lines.by_ref() {
            let line = line.unwrap();
            serving += usize::from(line.starts_with("Serving NTF protocol"));
            info.push(line);
            if serving == ports {
                break;
            }
        }
        // keep reading so that the server never blocks on a full pipe
        std::thread::spawn(move || lines.for_each(drop));
        assert!(info.last().is_some_and(|l| l.starts_with("Serving")), "start printed {info:?}");
        Self { child, info }
    }

    fn signal(&mut self, sig: &str) -> (std::process::ExitStatus, Duration) {
        let t = Instant::now();
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, t.elapsed());
            }
            assert!(t.elapsed() < Duration::from_secs(20), "no exit after {sig}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn ping(port: u16, kh: &KeyHash) {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let c = NtfClient::connect_addr(addr, kh, &NtfClientConfig::default()).await.unwrap();
    c.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_directory_starts_and_sigterm_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // the operator points the reference's store settings at a database; without one, SQLite
    let pg = std::env::var("NTF_TEST_PG_URL").ok();
    let schema = format!("ntf_op_{}", std::process::id());
    let kh = reference_dir(dir.path(), port, |ini| match &pg {
        Some(url) => ini
            .replace("# db_connection = postgresql://ntf@/ntf_server_store", &format!("db_connection = {url}"))
            .replace("# db_schema = ntf_server", &format!("db_schema = {schema}")),
        None => ini.replace("[STORE_LOG]\n", "[STORE_LOG]\ndb_backend = sqlite\n"),
    });
    if pg.is_none() {
        eprintln!("NTF_TEST_PG_URL not set: the reference's PostgreSQL store SKIPPED, SQLite instead");
    }
    let mut server = Server::start(dir.path());
    // `printServiceInfo` + `printNtfServerConfig`
    let info = &server.info;
    assert!(info[0].starts_with("SMP notifications server v"), "{info:?}");
    assert_eq!(info[1], format!("Fingerprint: {kh}"));
    assert_eq!(info[2], format!("Server address: ntf://{kh}@<hostnames>:{port}"));
    match &pg {
        Some(_) => assert!(info[3].starts_with("PostgreSQL database: ") && info[3].ends_with(&format!(", schema: {schema}")), "{info:?}"),
        None => assert!(info[3].starts_with("SQLite database: "), "{info:?}"),
    }
    // the reference's file has `enable = on`: the store log is appended while it runs
    let log = dir.path().join("ntf-server-store.log");
    assert_eq!(info[4], format!("Store log: {}", log.display()), "{info:?}");
    assert_eq!(info[5], format!("Serving NTF protocol on port {port} (TLS)..."));
    ping(port, &kh).await;
    let (status, took) = server.signal("-TERM");
    assert_eq!(status.code(), Some(0), "SIGTERM: {status:?}");
    assert!(took < Duration::from_secs(12), "stopped in {took:?}");
    // the port is free again and the directory starts again
    let mut again = Server::start(dir.path());
    ping(port, &kh).await;
    let (status, _) = again.signal("-INT");
    assert_eq!(status.code(), Some(0), "SIGINT: {status:?}");
    assert!(log.exists(), "opened for appending at start");

    // `start --compact-log` (with `--maintenance`: compact, open, exit): the log rewritten
    // compacted (a deleted token leaves nothing, a bad line is dropped), the original kept
    std::fs::write(&log, "TDELETE AAAA\nnot a record\n").unwrap();
    let o = run(dir.path(), &["start", "--compact-log", "--maintenance"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&log).unwrap(), b"");
    let kept: Vec<_> = std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("ntf-server-store.log.")).collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(dir.path().join(&kept[0])).unwrap(), b"TDELETE AAAA\nnot a record\n");
    // and refused with the store log off, before anything is opened
    let ini = dir.path().join("ntf-server.ini");
    std::fs::write(&ini, std::fs::read_to_string(&ini).unwrap().replace("enable = on", "enable = off")).unwrap();
    let o = run(dir.path(), &["start", "--compact-log"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--compact-log used without `enable = on`"), "{}", stderr(&o));
    if let Some(url) = pg {
        // the synchronous client runs its own runtime: off this one
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).unwrap();
        })
        .join()
        .unwrap();
    }
}

/// Two free ports, different.
fn two_free_ports() -> (u16, u16) {
    loop {
        let (a, b) = (free_port(), free_port());
        if a != b {
            return (a, b);
        }
    }
}

/// `[TRANSPORT] port = A,B` (`iniTransports`, one TLS server per port in `runNtfServer`): the
/// information block has a "Serving" line for each port and the address as the reference
/// prints it (the list as given); a token registered through one port is verified and checked
/// through the other, each port serves a whole registration of its own, and SIGTERM closes both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_ports_serve_one_server() {
    use common::{verification_code, verified_token, AppToken};
    use ntf_proto::token::NtfTknStatus;
    let mock = ref_server::apns::mock::MockApns::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mock-ca.pem"), mock.ca_pem()).unwrap();
    let (a, b) = two_free_ports();
    let apns_test = format!("\n[APNS_TEST]\nhost = 127.0.0.1\nport = {}\nca_file = mock-ca.pem\n", mock.addr().port());
    let kh = reference_dir(dir.path(), a, |ini| {
        ini.replace(&format!("port = {a}\n"), &format!("port = {a},{b}\n")).replace("[STORE_LOG]\n", "[STORE_LOG]\ndb_backend = sqlite\n") + &apns_test
    });
    let mut server = Server::start_serving(dir.path(), 2);
    let info = &server.info;
    assert_eq!(info[2], format!("Server address: ntf://{kh}@<hostnames>:{a},{b}"), "{info:?}");
    assert_eq!(info[5..], [format!("Serving NTF protocol on port {a} (TLS)..."), format!("Serving NTF protocol on port {b} (TLS)...")], "{info:?}");

    let on = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let cfg = NtfClientConfig::default();
    let (ca, cb) = (NtfClient::connect_addr(on(a), &kh, &cfg).await.unwrap(), NtfClient::connect_addr(on(b), &kh, &cfg).await.unwrap());
    // TNEW through A, its verification push, TVFY through B: one server behind both ports
    let t = AppToken::generate();
    let (token_id, server_dh) = ca.tnew(&t.key, t.new_token.clone()).await.unwrap();
    let device = t.device(&server_dh);
    let push = tokio::time::timeout(Duration::from_secs(10), mock.next_push_for(&t.token_text)).await.unwrap();
    cb.tvfy(&t.key, &token_id, verification_code(&device, &push)).await.unwrap();
    assert_eq!(ca.tchk(&t.key, &token_id).await.unwrap(), NtfTknStatus::Active);
    assert_eq!(cb.tchk(&t.key, &token_id).await.unwrap(), NtfTknStatus::Active);
    // each port on its own: a whole registration, checked through the other port
    for (this, other) in [(&ca, &cb), (&cb, &ca)] {
        let (t, id, _) = verified_token(this, &mock, Duration::from_secs(10)).await;
        assert_eq!(other.tchk(&t.key, &id).await.unwrap(), NtfTknStatus::Active);
    }
    drop((ca, cb));
    let (status, _) = server.signal("-TERM");
    assert_eq!(status.code(), Some(0), "SIGTERM: {status:?}");
    for port in [a, b] {
        assert!(std::net::TcpStream::connect(on(port)).is_err(), "port {port} still open after the stop");
    }
}

/// A port of the list that cannot be bound stops `start` with one line naming it, exit 1.
#[test]
fn a_taken_port_of_the_list_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_free_ports();
    let _taken = std::net::TcpListener::bind(("0.0.0.0", b)).unwrap();
    reference_dir(dir.path(), a, |ini| {
        ini.replace(&format!("port = {a}\n"), &format!("port = {a},{b}\n")).replace("[STORE_LOG]\n", "[STORE_LOG]\ndb_backend = sqlite\n")
    });
    let o = run(dir.path(), &["start"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains(&format!("[TRANSPORT] port: cannot listen on 0.0.0.0:{b}")), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
}

#[test]
fn unreachable_database_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // nothing listens on the closed port
    let closed = free_port();
    reference_dir(dir.path(), port, |ini| {
        ini.replace(
            "# db_connection = postgresql://ntf@/ntf_server_store",
            &format!("db_connection = postgresql://ntf@127.0.0.1:{closed}/ntf_server_store"),
        )
    });
    let before = std::fs::read(dir.path().join("ntf-server.ini")).unwrap();
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    let o = run(dir.path(), &["start"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(e.starts_with("error: PostgreSQL database postgresql://ntf@127.0.0.1:"), "{e}");
    assert_eq!(std::fs::read(dir.path().join("ntf-server.ini")).unwrap(), before);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), files);
}

#[test]
fn broken_ini_and_missing_certificate_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    reference_dir(dir.path(), free_port(), |ini| ini.replace("log_tls_errors = off", "log_tls_errors = maybe"));
    let before = std::fs::read(dir.path().join("ntf-server.ini")).unwrap();
    let o = run(dir.path(), &["start"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    let line = REFERENCE_INIT.lines().position(|l| l == "log_tls_errors = off").unwrap() + 1;
    assert!(e.contains("ntf-server.ini: [TRANSPORT] log_tls_errors (line "), "{e}");
    assert!(e.contains(&format!("(line {line}): expected on or off, found \"maybe\"")), "{e}");
    assert_eq!(std::fs::read(dir.path().join("ntf-server.ini")).unwrap(), before);

    let dir = tempfile::tempdir().unwrap();
    reference_dir(dir.path(), free_port(), |ini| ini.replace("[STORE_LOG]\n", "[STORE_LOG]\ndb_backend = sqlite\n"));
    std::fs::remove_file(dir.path().join("server.crt")).unwrap();
    let o = run(dir.path(), &["start"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(e.contains("cannot load the credentials") && e.contains("No such file"), "{e}");
    assert!(!dir.path().join("ntf-store.db").exists());

    let o = run(&dir.path().join("none"), &["start"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("server is not initialized"), "{}", stderr(&o));
}

#[test]
fn init_prints_the_service_info_and_refuses_a_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["init", "--fqdn", "ntf.example.com", "-a", "ED25519"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let kh = ServerCredentials::load(dir.path()).unwrap().key_hash();
    assert!(out.contains(&format!("Fingerprint: {kh}\n")), "{out}");
    // port 443: left out of the address, as the reference prints it
    assert!(out.ends_with(&format!("Server address: ntf://{kh}@ntf.example.com\n")), "{out}");
    let ini = std::fs::read_to_string(dir.path().join("ntf-server.ini")).unwrap();
    assert!(ini.contains("host = ntf.example.com\nport = 443\n"), "{ini}");
    let o = run(dir.path(), &["init"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already initialized"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.path().join("ntf-server.ini")).unwrap(), ini);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_renews_the_online_certificate_keeping_the_identity() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let o = run(dir.path(), &["init", "--port", &port.to_string(), "--fqdn", "ntf.example.com"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let old = ServerCredentials::load(dir.path()).unwrap();
    let o = run(dir.path(), &["cert", "-a", "ed25519"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("Generated new server credentials"));
    let new = ServerCredentials::load(dir.path()).unwrap();
    assert_eq!(new.key_hash(), old.key_hash());
    assert_ne!(new.cert().to_der().unwrap(), old.cert().to_der().unwrap());
    assert_eq!(new.sign_algorithm(), SignAlgorithm::Ed25519);
    let cn = new.cert().subject_name().entries_by_nid(openssl::nid::Nid::COMMONNAME).next().unwrap().data().to_string().unwrap();
    assert_eq!(cn, "ntf.example.com");
    let mut server = Server::start(dir.path());
    ping(port, &old.key_hash()).await;
    assert_eq!(server.signal("-TERM").0.code(), Some(0));
    // without the CA key there is no new certificate
    std::fs::remove_file(dir.path().join("ca.key")).unwrap();
    let o = run(dir.path(), &["cert"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot load the CA"), "{}", stderr(&o));
}

#[test]
fn delete_asks_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("srv");
    assert!(run(&d, &["init"]).status.success());
    let answer = |text: &str| {
        let mut child = Command::new(BIN).arg("--dir").arg(&d).arg("delete").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let o = answer("n\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Server NOT deleted"));
    assert!(d.join("ntf-server.ini").exists());
    let o = answer("Y\n");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!d.exists());
}
