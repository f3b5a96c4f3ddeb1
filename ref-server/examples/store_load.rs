//! Store load benchmark: inserts subscriptions, then measures the time from opening the store
//! to having every subscription that should be subscribed loaded as `SmpSubscribe` effects
//! (`NtfServerCore::resubscribe`), and the memory that holds them.
//!
//! ```text
//! cargo run --release -p ref-server --example store_load -- --subs 100000 --relays 10
//!     [--backend sqlite|postgres] [--tokens N] [--dir DIR] [--pg-url URL] [--sample N]
//!     [--load-sync full|normal]
//! ```
//!
//! Phases: (1) `--sample` durable single-call `add_subscription`s (one transaction and sync
//! each), (2) the rest imported in one transaction, (3) in a fresh child process: open,
//! `resubscribe`, RSS before and after. 90% of the subscriptions are ACTIVE (to resubscribe),
//! 10% END (not).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use ntf_proto::command::NtfEntityId;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtfRegCode, NtfTknStatus, PushProvider};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use ref_server::ntf::{Config, Effect, NtfServerCore, Store, SubscriptionRecord, TokenRecord};
use ref_server::store::{PgConfig, PgStore, SqliteConfig, SqliteStore, Synchronous};
use smp_proto::crypto::ed25519_public;
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey};
use smp_proto::server::{KeyHash, SmpServer, TransportHost};

/// Heap bytes held by an effect: the sizes of its allocations, plus 16 bytes of allocator
/// overhead per allocation (glibc malloc's chunk header and rounding, approximately).
fn heap_of(e: &Effect) -> usize {
    let vec = |cap: usize| if cap == 0 { 0 } else { cap + 16 };
    match e {
        Effect::SmpSubscribe {
            subscription_id,
            queue,
            ..
        } => {
            let srv = &queue.server;
            let hosts: usize = srv
                .hosts()
                .iter()
                .map(|h| match h {
                    TransportHost::Domain(d) | TransportHost::Onion(d) => vec(d.capacity()),
                    _ => 0,
                })
                .sum();
            vec(subscription_id.as_bytes().len())
                + vec(std::mem::size_of_val(srv.hosts()))
                + hosts
                + vec(srv.port().len())
                + vec(srv.key_hash().as_bytes().len())
                + vec(queue.notifier_id().len())
        }
        _ => 0,
    }
}

struct Args {
    subs: usize,
    relays: usize,
    tokens: usize,
    backend: String,
    dir: PathBuf,
    pg_url: String,
    sample: usize,
    phase: String,
    schema: String,
    load_sync: Synchronous,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        subs: 100_000,
        relays: 10,
        tokens: 0,
        backend: "sqlite".into(),
        dir: std::env::temp_dir().join(format!("ntf-store-load-{}", std::process::id())),
        pg_url: std::env::var("NTF_TEST_PG_URL")
            .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/test".into()),
        sample: 1000,
        phase: "all".into(),
        schema: format!("ntf_load_{}", std::process::id()),
        load_sync: Synchronous::Full,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        let num = || v.parse::<usize>().map_err(|e| format!("{k}: {e}"));
        match k.as_str() {
            "--subs" => a.subs = num()?,
            "--relays" => a.relays = num()?.max(1),
            "--tokens" => a.tokens = num()?,
            "--sample" => a.sample = num()?,
            "--backend" => a.backend = v,
            "--dir" => a.dir = PathBuf::from(v),
            "--pg-url" => a.pg_url = v,
            "--phase" => a.phase = v,
            "--schema" => a.schema = v,
            "--load-sync" => {
                a.load_sync = match v.as_str() {
                    "full" => Synchronous::Full,
                    "normal" => Synchronous::Normal,
                    _ => return Err(format!("{k}: full or normal")),
                }
            }
            _ => return Err(format!("unknown option {k}")),
        }
    }
    if a.tokens == 0 {
        a.tokens = (a.subs / 100).max(1);
    }
    Ok(a)
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn relay(i: usize) -> SmpServer {
    let host = TransportHost::parse(format!("smp{i}.example.com").as_bytes()).expect("host");
    SmpServer::new(
        vec![host],
        "5223",
        KeyHash::new(vec![i as u8; 32]).expect("hash"),
    )
    .expect("srv")
}

fn random<const N: usize>(rng: &mut ChaCha20Rng) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill_bytes(&mut b);
    b
}

fn id(rng: &mut ChaCha20Rng) -> NtfEntityId {
    NtfEntityId::new(random::<24>(rng).to_vec()).expect("id")
}

fn token(rng: &mut ChaCha20Rng) -> TokenRecord {
    let seed = random::<32>(rng);
    TokenRecord {
        id: id(rng),
        token: DeviceToken::new(PushProvider::ApnsProd, random::<32>(rng).to_vec()).expect("dev"),
        status: NtfTknStatus::Active,
        verify_key: AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&seed))).expect("key"),
        dh_private: random(rng),
        dh_secret: random(rng),
        reg_code: NtfRegCode::new(random::<32>(rng).to_vec()).expect("code"),
        cron_interval: 0,
        cron_sent_at: None,
        updated_at: Some(1_700_006_400),
    }
}

fn subscription(
    rng: &mut ChaCha20Rng,
    i: usize,
    tokens: &[NtfEntityId],
    relays: &[SmpServer],
) -> SubscriptionRecord {
    SubscriptionRecord {
        id: id(rng),
        token_id: tokens[i % tokens.len()].clone(),
        queue: SmpQueueNtf::new(relays[i % relays.len()].clone(), random::<24>(rng).to_vec())
            .expect("queue"),
        notifier_key: AuthPrivateKey::new(PrivateKey::Ed25519(random(rng))).expect("key").into(),
        status: if i % 10 == 9 {
            NtfSubStatus::End
        } else {
            NtfSubStatus::Active
        },
        service_assoc: false,
    }
}

#[allow(clippy::large_enum_variant)]
enum Any {
    Sqlite(SqliteStore),
    Pg(PgStore),
}

fn open(a: &Args, sync: Synchronous) -> Any {
    match a.backend.as_str() {
        "sqlite" => {
            let cfg = SqliteConfig {
                synchronous: sync,
                ..SqliteConfig::default()
            };
            Any::Sqlite(SqliteStore::open_with(a.dir.join("ntf.db"), &cfg).expect("open sqlite"))
        }
        "postgres" => Any::Pg(
            PgStore::open(PgConfig::new(a.pg_url.clone()).with_schema(a.schema.clone()))
                .expect("open postgres"),
        ),
        b => panic!("unknown backend {b}"),
    }
}

fn insert(a: &Args) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let relays: Vec<SmpServer> = (0..a.relays).map(relay).collect();
    // setup: tokens, one durable call each (not timed as part of the subscriptions)
    let mut store = open(a, Synchronous::Normal);
    let t = Instant::now();
    let mut token_ids = Vec::with_capacity(a.tokens);
    for _ in 0..a.tokens {
        let tk = token(&mut rng);
        token_ids.push(tk.id.clone());
        match &mut store {
            Any::Sqlite(s) => s.add_token(tk),
            Any::Pg(s) => s.add_token(tk),
        }
        .expect("add token");
    }
    println!("tokens: {} added in {:.2?}", a.tokens, t.elapsed());
    drop(store);
    // durable single calls, as the server adds them
    let sample = a.sample.min(a.subs);
    let mut store = open(a, Synchronous::Full);
    let subs: Vec<SubscriptionRecord> = (0..a.subs)
        .map(|i| subscription(&mut rng, i, &token_ids, &relays))
        .collect();
    let t = Instant::now();
    for s in &subs[..sample] {
        match &mut store {
            Any::Sqlite(st) => st.add_subscription(s.clone()),
            Any::Pg(st) => st.add_subscription(s.clone()),
        }
        .expect("add subscription");
    }
    let e = t.elapsed();
    if sample > 0 {
        println!(
            "add_subscription (one durable transaction each): {sample} in {e:.2?} = {:.0}/s, {:.2} ms each",
            sample as f64 / e.as_secs_f64(),
            e.as_secs_f64() * 1000.0 / sample as f64
        );
    }
    let t = Instant::now();
    let n = match &mut store {
        Any::Sqlite(st) => st.import_subscriptions(&subs[sample..]),
        Any::Pg(st) => st.import_subscriptions(&subs[sample..]),
    }
    .expect("import");
    let e = t.elapsed();
    println!(
        "import_subscriptions (one transaction): {n} in {e:.2?} = {:.0}/s",
        n as f64 / e.as_secs_f64()
    );
}

fn load(a: &Args) {
    let rss0 = rss_bytes();
    let t = Instant::now();
    let store = open(a, a.load_sync);
    let opened = t.elapsed();
    let rng = ChaCha20Rng::seed_from_u64(2);
    let (effects, n_sub, rss1, rss2, e, heap) = match store {
        Any::Sqlite(s) => {
            let rss1 = rss_bytes();
            let mut core = NtfServerCore::new(Config::default(), s, rng, 0);
            let effects = core.resubscribe().expect("resubscribe");
            let e = t.elapsed();
            let n = effects
                .iter()
                .filter(|x| matches!(x, Effect::SmpSubscribe { .. }))
                .count();
            let rss2 = rss_bytes();
            let heap: usize = effects
                .iter()
                .map(|x| std::mem::size_of::<Effect>() + heap_of(x))
                .sum();
            (effects.len(), n, rss1, rss2, e, heap)
        }
        Any::Pg(s) => {
            let rss1 = rss_bytes();
            let mut core = NtfServerCore::new(Config::default(), s, rng, 0);
            let effects = core.resubscribe().expect("resubscribe");
            let e = t.elapsed();
            let n = effects
                .iter()
                .filter(|x| matches!(x, Effect::SmpSubscribe { .. }))
                .count();
            let rss2 = rss_bytes();
            let heap: usize = effects
                .iter()
                .map(|x| std::mem::size_of::<Effect>() + heap_of(x))
                .sum();
            (effects.len(), n, rss1, rss2, e, heap)
        }
    };
    println!(
        "load: open {opened:.2?}; open + resubscribe: {e:.2?} for {n_sub} subscriptions to subscribe \
         ({effects} effects) = {:.0}/s",
        n_sub as f64 / e.as_secs_f64()
    );
    println!(
        "memory: RSS before open {:.1} MiB, after open {:.1} MiB, after load {:.1} MiB; \
         RSS: {:.0} bytes per loaded subscription (with SQLite's page cache); heap held by the loaded \
         effects (estimated from their allocations): {:.1} MiB = {:.0} bytes per subscription",
        rss0 as f64 / 1048576.0,
        rss1 as f64 / 1048576.0,
        rss2 as f64 / 1048576.0,
        rss2.saturating_sub(rss1) as f64 / n_sub.max(1) as f64,
        heap as f64 / 1048576.0,
        heap as f64 / n_sub.max(1) as f64
    );
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("store_load: {e}");
            std::process::exit(2);
        }
    };
    match a.phase.as_str() {
        "insert" => insert(&a),
        "load" => load(&a),
        _ => {
            std::fs::create_dir_all(&a.dir).expect("dir");
            println!(
                "backend {}, {} subscriptions on {} relays, {} tokens",
                a.backend, a.subs, a.relays, a.tokens
            );
            insert(&a);
            // load in a fresh process, so that RSS is not the insert phase's
            let me = std::env::current_exe().expect("exe");
            let mut args: Vec<String> = std::env::args().skip(1).collect();
            args.extend([
                "--phase".into(),
                "load".into(),
                "--dir".into(),
                a.dir.display().to_string(),
                "--schema".into(),
                a.schema.clone(),
            ]);
            let st = Command::new(me).args(&args).status().expect("load phase");
            if let Ok(m) = std::fs::metadata(a.dir.join("ntf.db")) {
                println!("database file: {:.1} MiB", m.len() as f64 / 1048576.0);
            }
            if a.backend == "postgres" {
                if let Ok(s) =
                    PgStore::open(PgConfig::new(a.pg_url.clone()).with_schema(a.schema.clone()))
                {
                    let _ = s.drop_schema();
                }
            }
            let _ = std::fs::remove_dir_all(&a.dir);
            std::process::exit(st.code().unwrap_or(1));
        }
    }
}
