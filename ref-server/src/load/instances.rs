//! `ntf-load --instances N --instances-mode M`: N `ntf-server` processes on one PostgreSQL
//! schema and one relay (set up by [`super::cluster`]: `subs` subscriptions written into both
//! stores, INACTIVE, then the instances started: the time until the relay's owner has them all
//! ACTIVE). Then one of:
//! - `takeover`: every subscription set INACTIVE in the database (the owner, which wrote them
//!   all ACTIVE, has nothing left to write), then SIGKILL of the relay's owner, so that ACTIVE
//!   comes only from the new owner's `NSUB`s; the time until another instance claims the lease and until
//!   all are ACTIVE again, and until a message sent right after the kill is pushed;
//! - `kills`: messages sent at `rate` per second all along, `kills` times: SIGKILL of the
//!   owner, the time until another claims the relay, the killed one started again; then the
//!   messages pushed, pushed twice (as the newest item of a push) and never pushed;
//! - `commands`: batched `TCHK`/`SCHK` over `connections` connections for `secs`, first all to
//!   one instance (the others killed), then spread over all N; commands per second, database
//!   transactions per command (`pg_stat_database.xact_commit`) and the database's CPU time per
//!   command (its server processes for this database, from `/proc`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ntf_proto::command::{NtfCommand, NtfEntityId};
use ntf_proto::response::NtfResponse;
use ref_client::client::{NtfClient, NtfClientConfig};
use ref_client::device::Device;
use ref_client::smp::{SmpClient, SmpClientConfig};
use smp_proto::crypto::ed25519_public;
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey};
use smp_proto::server::KeyHash;

use super::cluster::{init_instances, preload_pg, sibling_binary, Instance, Leases, Probe, QUEUE_NTF_SECRET, TOKEN_DH_SECRET};
use super::fleet::{self, Queue};
use super::router::PushRouter;
use super::scale::{id, seed, RelayProcess, KEYS, SUBS_PER_TOKEN};
use super::stats::ms;
use super::{per_sec, Report};
use crate::apns::mock::MockApns;
use crate::store::PgConfig;

/// What `--instances` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// SIGKILL of the owner at `subs` subscriptions: takeover time.
    Takeover,
    /// `kills` SIGKILLs in a row under sending: duplicates and losses.
    Kills,
    /// Authorized commands per second with one instance and with N.
    Commands,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "takeover" => Ok(Self::Takeover),
            "kills" => Ok(Self::Kills),
            "commands" => Ok(Self::Commands),
            _ => Err(format!("--instances-mode {s}: takeover, kills or commands")),
        }
    }
}

/// The settings of an `--instances` run.
#[derive(Clone, Debug)]
pub struct InstancesConfig {
    /// Instances.
    pub instances: usize,
    /// What to run.
    pub mode: Mode,
    /// Subscriptions in the stores.
    pub subs: usize,
    /// Kills in `kills` mode.
    pub kills: usize,
    /// Messages per second in `kills` mode.
    pub rate: u32,
    /// Seconds of each `commands` run.
    pub secs: f64,
    /// Client connections in `commands` mode.
    pub connections: usize,
    /// The database (a database of the run's own: the transaction counts are the database's).
    pub pg: PgConfig,
    /// The instances' lease settings.
    pub leases: Leases,
    /// Keep the run's directory (the instances' logs, `ntf/i<k>/server-<start>.log`).
    pub keep_logs: bool,
    /// Service subscriptions (`use_service_credentials = on`): the queues associated with the
    /// instances' service in both stores, so that an owner subscribes them with one `NSUBS`.
    pub services: bool,
}

/// The setup every mode shares.
struct Cluster {
    instances: Vec<Instance>,
    key_hash: KeyHash,
    ntf_bin: std::path::PathBuf,
    relay: smp_proto::server::SmpServer,
    _relay_proc: RelayProcess,
    probe: Probe,
    _dir: Option<tempfile::TempDir>,
    subs: usize,
    services: bool,
}

impl Cluster {
    fn probe<T>(&mut self, f: impl FnOnce(&mut Probe) -> anyhow::Result<T>) -> anyhow::Result<T> {
        tokio::task::block_in_place(|| f(&mut self.probe))
    }

    /// The live owner of the relay, waited for up to `limit`.
    async fn owner(&mut self, limit: Duration) -> anyhow::Result<usize> {
        let end = Instant::now() + limit;
        loop {
            if let Some(o) = self.probe(Probe::relay_owner)? {
                if let Some(i) = self.instances.iter().position(|x| x.id == o) {
                    return Ok(i);
                }
            }
            anyhow::ensure!(Instant::now() < end, "no relay owner within {limit:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether every subscription is subscribed again by instance `i`: without services, none
    /// is left but ACTIVE; with services (the statuses are not written on `SOKS`, as the
    /// reference writes none), `i` has logged more than `soks_before` confirmations of the
    /// service subscription with every subscription (`SOKS <subs>`).
    fn resubscribed(&mut self, i: usize, soks_before: usize) -> anyhow::Result<bool> {
        if self.services {
            Ok(self.soks_lines(i) > soks_before)
        } else {
            Ok(!self.probe(Probe::any_not_active)?)
        }
    }

    /// How often [`Self::resubscribed`] is asked: a log read with services, a count over the
    /// subscriptions without.
    fn poll_period(&self) -> Duration {
        Duration::from_millis(if self.services { 20 } else { 100 })
    }

    /// Waits until [`Self::resubscribed`]; the time since `since`.
    async fn wait_resubscribed(&mut self, i: usize, soks_before: usize, since: Instant, limit: Duration) -> anyhow::Result<Option<Duration>> {
        while since.elapsed() < limit {
            if self.resubscribed(i, soks_before)? {
                return Ok(Some(since.elapsed()));
            }
            tokio::time::sleep(self.poll_period()).await;
        }
        Ok(None)
    }

    /// Instance `i`'s log lines confirming the service subscription of every subscription.
    fn soks_lines(&self, i: usize) -> usize {
        self.instances[i].log_lines_with(&format!("service subscribed: SOKS {}", self.subs))
    }

    async fn start(&mut self, i: usize) -> anyhow::Result<()> {
        self.instances[i].spawn(&self.ntf_bin)?;
        self.instances[i].wait_listening(Duration::from_secs(30)).await
    }
}

fn keys() -> anyhow::Result<Vec<AuthPublicKey>> {
    (0..KEYS).map(|k| AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&seed(k)))).ok_or_else(|| anyhow::anyhow!("key"))).collect()
}

fn key_of_token(t: usize) -> anyhow::Result<AuthPrivateKey> {
    AuthPrivateKey::new(PrivateKey::Ed25519(seed(t % KEYS))).ok_or_else(|| anyhow::anyhow!("key"))
}

/// Relay, stores and instances; every subscription ACTIVE.
async fn setup(cfg: &InstancesConfig, mock: &MockApns, report: &mut Report) -> anyhow::Result<Cluster> {
    let relay_bin = sibling_binary("smp-server")?;
    let ntf_bin = sibling_binary("ntf-server")?;
    let dir = tempfile::tempdir()?;
    let relay_dir = dir.path().join("relay");
    let port = super::scale::free_port()?;
    let relay = super::scale::init_relay(&relay_bin, &relay_dir, port)?;
    let n = cfg.subs;
    // the instances' directories first: with services, the relay's store needs their certificate
    let (instances, creds) = init_instances(&dir.path().join("ntf"), cfg.instances, &cfg.pg, mock, cfg.leases, cfg.services)?;
    let key_hash = creds.key_hash();
    let t = Instant::now();
    {
        let (relay_dir, relay, pg, keys, services) = (relay_dir.clone(), relay.clone(), cfg.pg.clone(), keys()?, cfg.services);
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            super::scale::preload_relay(&relay_dir, n, &keys, services.then_some(&creds))?;
            preload_pg(&pg, &relay, n, &keys, services)
        })
        .await??;
    }
    report.add("instances: stores written", ms(t.elapsed()), &format!("ms ({n} relay queues, {} tokens + {n} subscriptions in PostgreSQL schema {})", n.div_ceil(SUBS_PER_TOKEN), cfg.pg.schema));
    let child = std::process::Command::new(&relay_bin)
        .args(["start", "--dir"])
        .arg(&relay_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let relay_proc = RelayProcess { child };
    let t = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        anyhow::ensure!(t.elapsed() < Duration::from_secs(300), "relay did not start listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let probe = tokio::task::block_in_place(|| Probe::connect(&cfg.pg))?;
    let dir = if cfg.keep_logs {
        report.add("instances: logs kept in", dir.keep().display(), "");
        None
    } else {
        Some(dir)
    };
    let mut c = Cluster { instances, key_hash, ntf_bin, relay, _relay_proc: relay_proc, probe, _dir: dir, subs: n, services: cfg.services };
    let t = Instant::now();
    for i in 0..c.instances.len() {
        c.start(i).await?;
    }
    let owner = c.owner(Duration::from_secs(30)).await?;
    // the instances' first start: no `SOKS` logged before it
    let took = c.wait_resubscribed(owner, 0, t, Duration::from_secs(300)).await?;
    report.add(
        "instances: all ACTIVE after start",
        took.map_or_else(|| "> 300000".into(), ms),
        &format!("ms ({} instances started, {} owns the relay; lease_ttl {} s, lease_renew {} s)", cfg.instances, c.instances[owner].id, cfg.leases.ttl, cfg.leases.renew),
    );
    anyhow::ensure!(took.is_some(), "subscriptions not all ACTIVE after the start");
    Ok(c)
}

/// Runs the mode; adds its rows to `report`.
///
/// # Errors
/// When a process, the relay or the database cannot be set up.
pub async fn instances_phase(cfg: &InstancesConfig, mock: &Arc<MockApns>, report: &mut Report) -> anyhow::Result<()> {
    anyhow::ensure!(cfg.instances >= 2, "--instances needs at least 2");
    let mut c = setup(cfg, mock, report).await?;
    let router = PushRouter::new();
    let router_task = router.start(mock.clone());
    for t in 0..cfg.subs.div_ceil(SUBS_PER_TOKEN) {
        router.add_device(&format!("{t:064x}"), Device::new(TOKEN_DH_SECRET));
    }
    let queues: Vec<Queue> = (0..cfg.subs)
        .map(|i| {
            router.add_queue(&id(b'n', i), QUEUE_NTF_SECRET);
            Ok(Queue { snd_id: id(b's', i), notifier_id: id(b'n', i), notifier_key: key_of_token(i)?, secret: QUEUE_NTF_SECRET })
        })
        .collect::<anyhow::Result<_>>()?;
    let r = match cfg.mode {
        Mode::Takeover => takeover(cfg, &mut c, &router, &queues, report).await,
        Mode::Kills => kills(cfg, &mut c, &router, Arc::new(queues), report).await,
        Mode::Commands => commands(cfg, &mut c, report).await,
    };
    router_task.abort();
    r
}

async fn takeover(cfg: &InstancesConfig, c: &mut Cluster, router: &PushRouter, queues: &[Queue], report: &mut Report) -> anyhow::Result<()> {
    let smp = SmpClient::connect(&c.relay, &SmpClientConfig::default()).await?;
    let owner = c.owner(Duration::from_secs(10)).await?;
    let dead = c.instances[owner].id.clone();
    // the statuses reset while the owner still runs (it wrote them all ACTIVE and has nothing
    // left to write), so that ACTIVE after the kill can only come from the new owner's NSUBs
    // (with services the new owner's `SOKS n` is the sign instead: statuses are not written)
    if !cfg.services {
        let t = Instant::now();
        let reset = c.probe(Probe::all_inactive)?;
        report.add("takeover: statuses reset", ms(t.elapsed()), &format!("ms before the kill ({reset} set INACTIVE, then the table vacuumed)"));
    }
    let soks_before: Vec<usize> = (0..c.instances.len()).map(|i| c.soks_lines(i)).collect();
    let t0 = Instant::now();
    c.instances[owner].kill();
    let _ = router.take_latencies();
    fleet::send_messages(&smp, router, &[&queues[0]], b"sent after the kill").await?;
    let mut claimed = None;
    let mut active = None;
    let limit = Duration::from_secs(120);
    while t0.elapsed() < limit && active.is_none() {
        if claimed.is_none() {
            if let Some(o) = c.probe(Probe::relay_owner)?.filter(|o| *o != dead) {
                claimed = Some((o, t0.elapsed()));
            }
        }
        if let Some(i) = claimed.as_ref().and_then(|(o, _)| c.instances.iter().position(|x| x.id == *o)) {
            if c.resubscribed(i, soks_before[i])? {
                active = Some(t0.elapsed());
            }
        }
        tokio::time::sleep(c.poll_period()).await;
    }
    // the message's push may come after the last subscription is ACTIVE (with services, the
    // relay delivers what it kept after `SOKS`): up to 10 s more
    let mut pushed = router.take_latencies();
    let wait = Instant::now();
    while pushed.is_empty() && wait.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        pushed = router.take_latencies();
    }
    let (who, claim) = claimed.unwrap_or_else(|| ("nobody".into(), limit));
    report.add("takeover: lease claimed after", ms(claim), &format!("ms after the SIGKILL of {dead} (by {who}; lease_ttl {} s)", cfg.leases.ttl));
    report.add(
        "takeover: all ACTIVE again after",
        active.map_or_else(|| format!("> {}", ms(limit)), ms),
        &format!("ms after the kill ({} subscriptions, {} by the new owner)", cfg.subs, if cfg.services { "one NSUBS" } else { "NSUB" }),
    );
    report.add("takeover: message sent after the kill pushed after", pushed.first().map_or_else(|| "not pushed".into(), |d| ms(*d)), "ms from its SEND");
    if active.is_none() {
        report.problems.push("takeover: not all ACTIVE again".into());
    }
    Ok(())
}

async fn kills(cfg: &InstancesConfig, c: &mut Cluster, router: &PushRouter, queues: Arc<Vec<Queue>>, report: &mut Report) -> anyhow::Result<()> {
    let smp = Arc::new(SmpClient::connect(&c.relay, &SmpClientConfig { timeout: Duration::from_secs(30), ..SmpClientConfig::default() }).await?);
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let xact0 = c.probe(Probe::xact_commit)?;
    let sender = {
        let (smp, router, queues, stop, sent, failed) = (smp.clone(), router.clone(), queues.clone(), stop.clone(), sent.clone(), failed.clone());
        let per_tick = (cfg.rate as usize / 50).max(1);
        tokio::spawn(async move {
            let mut next = 0usize;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            // bounded: at most an hour of ticks
            for _ in 0..180_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                tick.tick().await;
                let batch: Vec<&Queue> = (0..per_tick).map(|j| &queues[(next + j) % queues.len()]).collect();
                next += per_tick;
                match fleet::send_messages(&smp, &router, &batch, b"kills").await {
                    Ok(n) => {
                        sent.fetch_add(n as u64, Ordering::Relaxed);
                        failed.fetch_add((batch.len() - n) as u64, Ordering::Relaxed);
                    }
                    Err(_) => {
                        failed.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let t_all = Instant::now();
    let mut claims = Vec::new();
    for _ in 0..cfg.kills {
        let owner = c.owner(Duration::from_secs(30)).await?;
        let dead = c.instances[owner].id.clone();
        let t0 = Instant::now();
        c.instances[owner].kill();
        loop {
            anyhow::ensure!(t0.elapsed() < Duration::from_secs(60), "no takeover within 60 s of the kill of {dead}");
            if c.probe(Probe::relay_owner)?.is_some_and(|o| o != dead) {
                claims.push(t0.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.start(owner).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = sender.await;
    let wait = Instant::now();
    while router.outstanding() > 0 && wait.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = t_all.elapsed();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let xacts = c.probe(Probe::xact_commit)? - xact0;
    let counts = router.counts();
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let lost = router.outstanding();
    claims.sort();
    let pick = |q: usize| claims.get(q * claims.len().saturating_sub(1) / 100).map_or_else(|| "-".into(), |d| ms(*d));
    report.add("kills: SIGKILLs of the owner", claims.len(), &format!("in {:.1} s, {} instances", took.as_secs_f64(), cfg.instances));
    report.add("kills: lease claimed after the kill", format!("{}/{}/{}", pick(0), pick(50), pick(100)), "ms min/median/max");
    report.add("kills: messages sent", sent, &format!("at {} /s ({failed} SENDs refused)", cfg.rate));
    report.add("kills: pushed once", counts.messages, "messages (newest item of a push)");
    report.add("kills: pushed twice", counts.duplicates, "pushes of a message already pushed");
    report.add("kills: never pushed", lost, "messages never the newest item of a push");
    report.add("kills: carried by a push", counts.carried, &format!("messages carried as any item of a push ({} pushes carried nothing new)", counts.nothing_new));
    report.add("kills: never carried", router.never_carried(), "messages in no push at all (the NMSG was delivered to a killed process before it was stored)");
    let in_logs = |needle: &str| c.instances.iter().map(|i| i.log_lines_with(needle)).sum::<usize>();
    report.add("kills: journal handled again", in_logs(": handled again"), "journaled NMSGs of killed processes pushed by another instance");
    report.add(
        "kills: journal outcome unknown",
        in_logs("push outcome unknown"),
        "journaled NMSGs of killed processes whose push had started: logged and counted, not pushed again",
    );
    report.add("kills: database transactions", xacts, &format!("{:.1} per message pushed (all instances, leases and polls included)", xacts as f64 / counts.messages.max(1) as f64));
    if counts.duplicates > 0 {
        report.problems.push(format!("kills: {} duplicate pushes", counts.duplicates));
    }
    Ok(())
}

/// One `commands` run over the running instances `on`: (commands ok, failed, time).
async fn command_run(cfg: &InstancesConfig, c: &Cluster, on: &[usize]) -> anyhow::Result<(u64, u64, Duration)> {
    let ntf_cfg = NtfClientConfig { timeout: Duration::from_secs(60), ..NtfClientConfig::default() };
    let n_tokens = cfg.subs.div_ceil(SUBS_PER_TOKEN);
    let conns = cfg.connections.max(1);
    let deadline = Instant::now() + Duration::from_secs_f64(cfg.secs);
    let mut set = tokio::task::JoinSet::new();
    for k in 0..conns {
        let port = c.instances[on[k % on.len()]].port;
        let client = NtfClient::connect_addr(([127, 0, 0, 1], port).into(), &c.key_hash, &ntf_cfg).await?;
        let mut cmds: Vec<(AuthPrivateKey, NtfEntityId, NtfCommand)> = Vec::new();
        for t in (k..n_tokens).step_by(conns) {
            cmds.push((key_of_token(t)?, NtfEntityId::new(id(b't', t)).ok_or_else(|| anyhow::anyhow!("id"))?, NtfCommand::Tchk));
            for i in (t * SUBS_PER_TOKEN..((t + 1) * SUBS_PER_TOKEN).min(cfg.subs)).take(4) {
                cmds.push((key_of_token(t)?, NtfEntityId::new(id(b'u', i)).ok_or_else(|| anyhow::anyhow!("id"))?, NtfCommand::Schk));
            }
        }
        cmds.truncate(100);
        set.spawn(async move {
            let batch: Vec<(Option<&AuthPrivateKey>, &[u8], &NtfCommand)> = cmds.iter().map(|(k, id, c)| (Some(k), id.as_bytes(), c)).collect();
            let (mut ok, mut err) = (0u64, 0u64);
            for _ in 0..1_000_000 {
                if Instant::now() >= deadline || batch.is_empty() {
                    break;
                }
                match client.send_commands(&batch).await {
                    Ok(rs) => {
                        for r in rs {
                            match r {
                                Ok(NtfResponse::Tkn(_) | NtfResponse::Sub(_)) => ok += 1,
                                _ => err += 1,
                            }
                        }
                    }
                    Err(_) => err += batch.len() as u64,
                }
            }
            (ok, err)
        });
    }
    let t = Instant::now();
    let (mut ok, mut err) = (0, 0);
    while let Some(r) = set.join_next().await {
        let (o, e) = r?;
        ok += o;
        err += e;
    }
    Ok((ok, err, t.elapsed()))
}

async fn commands(cfg: &InstancesConfig, c: &mut Cluster, report: &mut Report) -> anyhow::Result<()> {
    // one instance: the others killed
    for i in 1..c.instances.len() {
        c.instances[i].kill();
    }
    let all: Vec<usize> = (0..c.instances.len()).collect();
    let mut rates = Vec::new();
    for on in [vec![0], all.clone()] {
        for &i in &on {
            if !c.instances[i].running() {
                c.start(i).await?;
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (x0, cpu0) = (c.probe(Probe::xact_commit)?, c.probe(Probe::backends_cpu)?);
        let (ok, err, took) = command_run(cfg, c, &on).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (x1, cpu1) = (c.probe(Probe::xact_commit)?, c.probe(Probe::backends_cpu)?);
        let xacts = x1 - x0;
        let pg_cpu = cpu1.saturating_sub(cpu0);
        let rate = ok as f64 / took.as_secs_f64().max(1e-9);
        rates.push(rate);
        report.add(
            &format!("commands: TCHK/SCHK /s, {} instance(s)", on.len()),
            per_sec(ok, took),
            &format!("{ok} ok, {err} failed in {} ms over {} connections", ms(took), cfg.connections),
        );
        report.add(
            &format!("commands: DB transactions per command, {} instance(s)", on.len()),
            format!("{:.2}", xacts as f64 / ok.max(1) as f64),
            &format!("{xacts} committed (pg_stat_database, leases and polls included)"),
        );
        report.add(
            &format!("commands: DB CPU per command, {} instance(s)", on.len()),
            format!("{:.1}", pg_cpu.as_secs_f64() * 1e6 / ok.max(1) as f64),
            &format!("us ({:.2} s of the database's processes for this database)", pg_cpu.as_secs_f64()),
        );
        if err > 0 {
            report.problems.push(format!("commands: {err} failed with {} instance(s)", on.len()));
        }
    }
    if let [one, n] = rates[..] {
        report.add("commands: N instances / 1", format!("{:.2}", n / one.max(1e-9)), &format!("{} instances against 1, same machine (the instances, the database and the load tool share its cores)", c.instances.len()));
    }
    Ok(())
}
