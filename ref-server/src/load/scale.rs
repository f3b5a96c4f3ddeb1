//! The resubscription of a large store after a restart (`ntf-load --scale-subs N`), with the
//! relay in its own process so that each server's memory is measured on its own.
//!
//! 1. `smp-server init` in a scratch directory; `N` queues with notifier credentials written
//!    straight into its `smp-store.db` (as if created with `NEW` + `NKEY`); `smp-server start`
//!    as a child process.
//! 2. An NTF SQLite store with `N / 50` ACTIVE tokens and `N` subscriptions on that relay,
//!    written straight into the database, every subscription INACTIVE (as a server leaves them
//!    when its relay connections end), so that "ACTIVE" can only come from a new `NSUB`.
//! 3. A notification server started on that store: the time until every subscription is
//!    ACTIVE again (counted in the database from a second connection, up to 20,000 left every
//!    second, then at a quarter of the time left, at least every 100 ms; the counting's own
//!    time is reported), the
//!    memory of this process (the NTF server; the load tool only polls) and of the relay
//!    process, before and after.
//!
//! With `--services` (`services`), the queues are associated with the NTF server's service at
//! the relay (a `services` row for its certificate, `ntf_service_id` on every queue) and the
//! subscriptions with it in the NTF store (`ntf_service_id` of the relay, `ntf_service_assoc`,
//! status ACTIVE, as a server leaves them: the reference writes nothing when a service session
//! ends); the server connects as a service, and the time is until its `NSUBS` is confirmed
//! (`SOKS` with the store's count), when it reports them all ACTIVE: checked by `SCHK` on a
//! sample of subscriptions, which answers PENDING before.
//!
//! Writing the stores directly keeps the setup to seconds; the `NSUB` path measured is the
//! server's own. The notifier keys cycle through 1024 Ed25519 keys (the cost of signing and
//! verifying does not depend on the key).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ntf_proto::command::NtfEntityId;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtfRegCode, NtfTknStatus, PushProvider};
use smp_proto::crypto::ed25519_public;
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey};
use smp_proto::server::SmpServer;

use super::stats::{cpu_time, cpu_time_of, ms, rss_kib, rss_kib_of};
use super::{bytes_per, kib, per_sec, Report};
use crate::ntf::{NotifierKey, Store, SubscriptionRecord, TokenRecord};
use crate::smp::store::{NtfCreds, QueueRec, QueueStatus, ServiceRec};
use ref_transport::ServerCredentials;
use smp_proto::handshake::ServiceRole;
use crate::smp::{QueueStore, SqliteQueueStore};
use crate::store::{SqliteConfig, SqliteStore, Synchronous};

/// The relay's service id of the NTF server with `--services`.
const SERVICE_ID: &[u8] = b"scale-service-id-0000001";

/// Distinct notifier keys used.
pub(super) const KEYS: usize = 1024;
/// Subscriptions per token.
pub(super) const SUBS_PER_TOKEN: usize = 50;

/// The `i`-th id of a kind: 24 bytes, the kind byte then `i`.
pub(super) fn id(kind: u8, i: usize) -> Vec<u8> {
    let mut v = vec![kind; 24];
    v[16..].copy_from_slice(&(i as u64).to_be_bytes());
    v
}

pub(super) fn seed(k: usize) -> [u8; 32] {
    let mut s = [0x5eu8; 32];
    s[..8].copy_from_slice(&(k as u64).to_be_bytes());
    s
}

/// The relay child process; killed when dropped.
pub(super) struct RelayProcess {
    pub(super) child: Child,
}

impl RelayProcess {
    fn rss_kib(&self) -> Option<u64> {
        rss_kib_of(&format!("/proc/{}/status", self.child.id()))
    }

    fn cpu_time(&self) -> Option<Duration> {
        cpu_time_of(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `smp-server` binary: `explicit`, else next to this executable.
pub(super) fn relay_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()?.with_file_name("smp-server"),
    };
    anyhow::ensure!(
        path.is_file(),
        "{} not found: build it (`cargo build --release -p ref-server --bins`) or pass --smp-server-bin",
        path.display()
    );
    Ok(path)
}

pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `smp-server init`; returns the relay's address.
pub(super) fn init_relay(bin: &Path, dir: &Path, port: u16) -> anyhow::Result<SmpServer> {
    let out = Command::new(bin)
        .args(["init", "--dir"])
        .arg(dir)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .output()?;
    anyhow::ensure!(out.status.success(), "smp-server init: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default().trim();
    SmpServer::parse_text(line.as_bytes()).map_err(|e| anyhow::anyhow!("relay address {line:?}: {e:?}"))
}

/// Writes `n` queues with notifier credentials into the relay's database, associated with the
/// service `service` when given (its service id is [`SERVICE_ID`]).
pub(super) fn preload_relay(dir: &Path, n: usize, keys: &[AuthPublicKey], service: Option<&ServerCredentials>) -> anyhow::Result<()> {
    let sqlite = SqliteConfig { synchronous: Synchronous::Normal, ..SqliteConfig::default() };
    let mut store = SqliteQueueStore::open_with(dir.join(crate::smp::sqlite_store::DB_FILE), &sqlite)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let service_id = match service {
        Some(creds) => {
            let chain = creds.chain().map_err(|e| anyhow::anyhow!("service chain: {e}"))?;
            let cert_hash = *ref_transport::SmpServiceCredentials::new(ServiceRole::Notifier, creds)?.cert_hash();
            let rec = ServiceRec {
                service_id: SERVICE_ID.to_vec(),
                role: ServiceRole::Notifier,
                cert_chain: chain.iter().map(|c| c.der().to_vec()).collect(),
                cert_hash,
                created_at: 0,
            };
            Some(store.get_create_service(rec).map_err(|e| anyhow::anyhow!("relay service: {e:?}"))?)
        }
        None => None,
    };
    for i in 0..n {
        let rec = QueueRec {
            sender_id: id(b's', i),
            recipient_keys: vec![keys[i % KEYS]],
            rcv_dh_secret: [1; 32],
            sender_key: None,
            queue_mode: None,
            link: None,
            notifier: Some(NtfCreds {
                notifier_id: id(b'n', i),
                notifier_key: keys[i % KEYS],
                rcv_ntf_dh_secret: [2; 32],
                ntf_service_id: service_id.clone(),
            }),
            status: QueueStatus::Active,
        };
        store.add_queue(&id(b'r', i), rec).map_err(|e| anyhow::anyhow!("relay queue {i}: {e:?}"))?;
    }
    Ok(())
}

/// Writes the tokens and `n` INACTIVE subscriptions on `relay` into the NTF database; with
/// `services`, ACTIVE subscriptions associated with the relay's service [`SERVICE_ID`].
fn preload_ntf(path: &Path, relay: &SmpServer, n: usize, keys: &[AuthPublicKey], services: bool) -> anyhow::Result<()> {
    let sqlite = SqliteConfig { synchronous: Synchronous::Normal, ..SqliteConfig::default() };
    let mut store = SqliteStore::open_with(path, &sqlite).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    seed_ntf(&mut store, relay, n, keys, services, SqliteStore::import_subscriptions)
}

/// The NTF side of the layout: `n / SUBS_PER_TOKEN` ACTIVE tokens (device token `t` as 64 hex
/// digits, DH secret `[4; 32]`, key `t % KEYS`), `n` subscriptions `u<i>` of token
/// `i / SUBS_PER_TOKEN` on `relay` (notifier `n<i>`, key `i % KEYS`), INACTIVE, or with
/// `services` ACTIVE and associated with the relay's service [`SERVICE_ID`]; the
/// subscriptions written by `import` in chunks of 10,000.
///
/// # Errors
/// Store failures.
pub(super) fn seed_ntf<S: Store>(
    store: &mut S,
    relay: &SmpServer,
    n: usize,
    keys: &[AuthPublicKey],
    services: bool,
    import: impl Fn(&mut S, &[SubscriptionRecord]) -> crate::ntf::StoreResult<usize>,
) -> anyhow::Result<()> {
    let store_err = |e| anyhow::anyhow!("{e:?}");
    let tokens = n.div_ceil(SUBS_PER_TOKEN);
    for t in 0..tokens {
        let device = DeviceToken::new(PushProvider::ApnsTest, format!("{t:064x}").into_bytes())
            .ok_or_else(|| anyhow::anyhow!("device token"))?;
        store
            .add_token(TokenRecord {
                id: NtfEntityId::new(id(b't', t)).ok_or_else(|| anyhow::anyhow!("token id"))?,
                token: device,
                status: NtfTknStatus::Active,
                verify_key: keys[t % KEYS],
                dh_private: [3; 32],
                dh_secret: [4; 32],
                reg_code: NtfRegCode::new(vec![5; 32]).ok_or_else(|| anyhow::anyhow!("code"))?,
                cron_interval: 0,
                cron_sent_at: None,
                updated_at: None,
            })
            .map_err(store_err)?;
    }
    let mut chunk = Vec::with_capacity(n.min(10_000));
    for i in 0..n {
        let queue = SmpQueueNtf::new(relay.clone(), id(b'n', i)).ok_or_else(|| anyhow::anyhow!("queue"))?;
        let key = AuthPrivateKey::new(PrivateKey::Ed25519(seed(i % KEYS))).ok_or_else(|| anyhow::anyhow!("key"))?;
        chunk.push(SubscriptionRecord {
            id: NtfEntityId::new(id(b'u', i)).ok_or_else(|| anyhow::anyhow!("sub id"))?,
            token_id: NtfEntityId::new(id(b't', i / SUBS_PER_TOKEN)).ok_or_else(|| anyhow::anyhow!("token id"))?,
            queue,
            // the public key as the server stores it (derived once per distinct key here)
            notifier_key: NotifierKey::from_stored(key, Some(public_bytes(&keys[i % KEYS]))),
            status: if services { NtfSubStatus::Active } else { NtfSubStatus::Inactive },
            service_assoc: services,
        });
        if chunk.len() == 10_000 || i + 1 == n {
            import(store, &chunk).map_err(store_err)?;
            chunk.clear();
        }
    }
    if services {
        // the relay's service id (no subscription changes: they are associated already)
        store.set_service_subscriptions(relay, SERVICE_ID, &[], NtfSubStatus::Active).map_err(store_err)?;
    }
    Ok(())
}

/// The bytes of an Ed25519 public key.
pub(super) fn public_bytes(k: &AuthPublicKey) -> &[u8] {
    match k.key() {
        PublicKey::Ed25519(p) => p,
        _ => &[],
    }
}

/// Subscriptions in the database with status ACTIVE (a second, read-only connection).
fn active_count(db: &rusqlite::Connection) -> anyhow::Result<usize> {
    let n: i64 = db.query_row("SELECT count(*) FROM subscriptions WHERE status = 'ACTIVE'", [], |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Counts of what is left stop here, so that a poll costs little however much is left.
const COUNT_CAP: usize = 20_000;

/// Subscriptions in the database with any status but ACTIVE, counted up to [`COUNT_CAP`]
/// (or a little over): two ranges of the index on (server, service association, status), so
/// a count costs at most the cap, not the table.
fn not_active_count(db: &rusqlite::Connection) -> anyhow::Result<usize> {
    let n: i64 = db.query_row(
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM subscriptions \
                   INDEXED BY idx_subscriptions_smp_server_id_ntf_service_status \
                   WHERE smp_server_id = 1 AND ntf_service_assoc = 0 AND status < 'ACTIVE' LIMIT ?1)) \
              + (SELECT count(*) FROM (SELECT 1 FROM subscriptions \
                   INDEXED BY idx_subscriptions_smp_server_id_ntf_service_status \
                   WHERE smp_server_id = 1 AND ntf_service_assoc = 0 AND status > 'ACTIVE' LIMIT ?1))",
        [COUNT_CAP as i64],
        |r| r.get(0),
    )?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Runs the phase; adds its rows to `report`.
///
/// # Errors
/// When the relay cannot be started or a store cannot be written.
pub async fn scale_phase(
    n: usize,
    relay_bin: Option<&Path>,
    services: bool,
    mock: &crate::apns::mock::MockApns,
    report: &mut Report,
    deadline: Duration,
) -> anyhow::Result<()> {
    let bin = relay_binary(relay_bin)?;
    let dir = tempfile::tempdir()?;
    let relay_dir = dir.path().join("relay");
    let port = free_port()?;
    let relay = init_relay(&bin, &relay_dir, port)?;
    let keys: Vec<AuthPublicKey> = (0..KEYS)
        .map(|k| AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&seed(k)))).ok_or_else(|| anyhow::anyhow!("key")))
        .collect::<anyhow::Result<_>>()?;

    let t = Instant::now();
    let ntf_db = dir.path().join("ntf.db");
    let (_ca, ntf_creds) = ServerCredentials::generate("127.0.0.1")?;
    {
        let (relay_dir, ntf_db, relay, keys, creds) = (relay_dir.clone(), ntf_db.clone(), relay.clone(), keys.clone(), ntf_creds.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            preload_relay(&relay_dir, n, &keys, services.then_some(&creds))?;
            preload_ntf(&ntf_db, &relay, n, &keys, services)
        })
        .await??;
    }
    report.add("scale: stores written", ms(t.elapsed()), &format!("ms ({n} relay queues + {n} NTF subscriptions)"));

    let t = Instant::now();
    let relay_proc = RelayProcess {
        child: Command::new(&bin).args(["start", "--dir"]).arg(&relay_dir).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?,
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        anyhow::ensure!(t.elapsed() < Duration::from_secs(300), "relay did not start listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    report.add("scale: relay loaded and listening", ms(t.elapsed()), "ms (relay process, its queues in memory)");
    let relay_rss0 = relay_proc.rss_kib();

    let db = rusqlite::Connection::open_with_flags(&ntf_db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    if services {
        anyhow::ensure!(active_count(&db)? == n, "preloaded subscriptions are not ACTIVE");
    } else {
        anyhow::ensure!(active_count(&db)? == 0, "preloaded subscriptions are not INACTIVE");
    }
    let rss0 = rss_kib();
    let (cpu0, relay_cpu0) = (cpu_time(), relay_proc.cpu_time());
    let mut polling = Duration::ZERO;
    let t = Instant::now();
    let sqlite = SqliteConfig { synchronous: Synchronous::Normal, ..SqliteConfig::default() };
    let store = SqliteStore::open_with(&ntf_db, &sqlite).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let ntf = super::env::start_ntf_with(mock, store, None, &ntf_creds, services).await?;
    let mut active = 0;
    let mut pause = Duration::from_millis(500);
    while services && t.elapsed() < deadline {
        // the service subscription: confirmed (all ACTIVE at once) or fallen back
        let st = ntf.service_stats();
        if st.subscribed > 0 {
            active = usize::try_from(st.subscribed_subs).unwrap_or(0);
            break;
        }
        if st.count_mismatches + st.unavailable > 0 {
            report.problems.push(format!("scale: the service subscription fell back to NSUB: {st:?}"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while !services && t.elapsed() < deadline {
        tokio::time::sleep(pause).await;
        let q = Instant::now();
        // what is left, counted up to COUNT_CAP; every subscription is on the one relay
        let left = not_active_count(&db)?;
        active = n.saturating_sub(left);
        polling += q.elapsed();
        if left == 0 {
            break;
        }
        // polled every second while much is left, then at a quarter of the time left at the
        // rate so far (100 ms to 1 s)
        pause = if left >= COUNT_CAP {
            Duration::from_secs(1)
        } else {
            let done = n.saturating_sub(left).max(1) as f64;
            let time_left = t.elapsed().as_secs_f64() * left as f64 / done;
            Duration::from_secs_f64((time_left / 4.0).clamp(0.1, 1.0))
        };
    }
    let took = t.elapsed();
    // the cheap count relies on the layout written above: the plain count must agree
    if active >= n {
        let counted = active_count(&db)?;
        anyhow::ensure!(counted == n, "{counted} of {n} subscriptions ACTIVE by the plain count");
    }
    let (rss1, relay_rss1) = (rss_kib(), relay_proc.rss_kib());
    let (cpu1, relay_cpu1) = (cpu_time(), relay_proc.cpu_time());
    // after the CPU figures: what the server reports, by SCHK
    if services && active >= n {
        let sampled = schk_sample(&ntf, n).await?;
        report.add("scale: SCHK sample ACTIVE", sampled.to_string(), "subscriptions answered ACTIVE (of 100 spread over the store)");
        if sampled < 100 {
            report.problems.push(format!("scale: only {sampled} of 100 sampled subscriptions reported ACTIVE"));
        }
    }
    // the NTF server's CPU: this process's, less the time of the counting queries
    let ntf_cpu = cpu1.zip(cpu0).map(|(a, b)| a.saturating_sub(b).saturating_sub(polling));
    let relay_cpu = relay_cpu1.zip(relay_cpu0).map(|(a, b)| a.saturating_sub(b));
    report.add(
        "scale: all ACTIVE again after",
        if active >= n { ms(took) } else { format!("> {}", ms(took)) },
        &if services {
            format!("ms ({active}/{n} ACTIVE; open + one NSUBS confirmed by SOKS {active})")
        } else {
            format!("ms ({active}/{n} ACTIVE; open + resubscribe, NSUB batches of 900)")
        },
    );
    report.add(
        "scale: resubscribed /s",
        per_sec(active as u64, took),
        if services { "service subscription: NSUBS, the relay's count against the store's" } else { "NSUB signed, verified by the relay, ACTIVE in the store" },
    );
    let per_sub = |d: Option<Duration>| d.map_or_else(|| "-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e6 / n.max(1) as f64));
    report.add("scale: NTF server CPU per subscription", per_sub(ntf_cpu), &format!("us (user + system, {} s in all; less {} ms of counting queries)", ntf_cpu.map_or(0.0, |d| d.as_secs_f64()), polling.as_millis()));
    report.add("scale: relay CPU per subscription", per_sub(relay_cpu), &format!("us (user + system, {} s in all)", relay_cpu.map_or(0.0, |d| d.as_secs_f64())));
    report.add("scale: NTF server rss growth", kib(rss1.zip(rss0).map(|(a, b)| a.saturating_sub(b))), "KiB (this process: the NTF server over SQLite)");
    report.add("scale: NTF server bytes per subscription", bytes_per(rss0, rss1, n), "bytes (rss growth / subscriptions)");
    report.add("scale: relay rss", kib(relay_rss1), &format!("KiB (relay process; {} KiB before the NTF server)", kib(relay_rss0)));
    if active < n {
        report.problems.push(format!("scale: only {active} of {n} subscriptions ACTIVE after {} ms", ms(took)));
    }
    ntf.shutdown().await;
    drop(relay_proc);
    Ok(())
}

/// `SCHK` of 100 subscriptions spread over the store, signed with their tokens' keys: how many
/// the server reports ACTIVE.
async fn schk_sample(ntf: &crate::server::shell::RunningServer, n: usize) -> anyhow::Result<usize> {
    let client = ref_client::client::NtfClient::connect_addr(ntf.addr, &ntf.key_hash, &ref_client::client::NtfClientConfig::default()).await?;
    let picks: Vec<usize> = (0..100).map(|k| k * n / 100).collect();
    let keys: Vec<AuthPrivateKey> = picks
        .iter()
        .map(|i| AuthPrivateKey::new(PrivateKey::Ed25519(seed((i / SUBS_PER_TOKEN) % KEYS))).ok_or_else(|| anyhow::anyhow!("key")))
        .collect::<anyhow::Result<_>>()?;
    let ids: Vec<NtfEntityId> = picks.iter().map(|i| NtfEntityId::new(id(b'u', *i)).ok_or_else(|| anyhow::anyhow!("sub id"))).collect::<anyhow::Result<_>>()?;
    let items: Vec<(&AuthPrivateKey, &NtfEntityId)> = keys.iter().zip(&ids).collect();
    let answers = client.schk_many(&items).await?;
    Ok(answers.into_iter().filter(|a| matches!(a, Ok(NtfSubStatus::Active))).count())
}
