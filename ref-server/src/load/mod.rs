//! A load generator for the notification server and the SMP relay, all on loopback
//! (the `ntf-load` binary is a CLI over [`run`]).
//!
//! Phases, each bounded in count and time:
//! 1. **register**: `connections` NTF clients each register `tokens_per_conn` tokens (batched
//!    `TNEW`, the verification pushes read from the mock APNS, batched `TVFY`); queues are
//!    created on the relay (`NEW` + `NKEY`) and subscribed (batched `SNEW`); then every client
//!    repeats batches of `TCHK`/`SCHK` for `check_secs`. Authorized NTF commands per second.
//! 2. **send**: `senders` SMP connections send messages with the notification flag at `rate`
//!    per second for `send_secs` to the subscribed queues in turn; each push is decrypted as
//!    the device does and counted per message (exactly once), with the time from `SEND`
//!    written to the push received by the mock (p50/p90/p99/max).
//! 3. **memory**: `VmRSS` of the process after each step, per token and per subscription.
//! 4. **restart** (`restart_subs` > 0): a second notification server over SQLite with that
//!    many subscriptions is stopped and started again on the same database; the time until
//!    every subscription is `ACTIVE` again, then one message per 100 subscriptions is sent
//!    and counted.
//!
//! With `scale_subs` > 0 only [`scale`] runs: a store of that many subscriptions resubscribed
//! after a restart, with the relay in its own process.
//!
//! With `web_push` the tokens are Web Push (`WP`) tokens for the mock Web Push service (HTTP/2,
//! TLS) instead of the mock APNS: every push is an RFC 8291 body the device decrypts with its
//! subscription's keys, and the latency is `SEND` written -> the push request's body read by
//! the mock push service. The restart phase is APNS only.
//!
//! With `instances`, only [`instances`] runs: several `ntf-server` processes on one
//! PostgreSQL database.

pub mod cluster;
pub mod env;
pub mod fleet;
pub mod instances;
pub mod router;
pub mod scale;
pub mod stats;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ntf_proto::command::{NtfCommand, NtfEntityId};
use ntf_proto::response::NtfResponse;
use ntf_proto::subscription::NtfSubStatus;
use ref_client::client::{NtfClient, NtfClientConfig};
use ref_client::smp::{SmpClient, SmpClientConfig};
use smp_proto::keys::AuthPrivateKey;
use smp_proto::server::SmpServer;

use self::fleet::{Queue, Token};
use self::router::PushRouter;
use self::stats::{ms, rss_kib, Percentiles};

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// NTF client connections.
    pub connections: usize,
    /// Tokens registered per connection.
    pub tokens_per_conn: usize,
    /// Subscriptions (queues), spread over all tokens.
    pub subscriptions: usize,
    /// Seconds of `TCHK`/`SCHK` batches after registering.
    pub check_secs: f64,
    /// Messages per second in the send phase.
    pub rate: u32,
    /// Seconds of the send phase.
    pub send_secs: f64,
    /// SMP connections that send.
    pub senders: usize,
    /// Subscriptions for the restart phase (0: skipped).
    pub restart_subs: usize,
    /// Use this relay instead of starting one (`smp://...`).
    pub relay: Option<SmpServer>,
    /// Subscriptions for the scale phase; when > 0 only that phase runs (see [`scale`]).
    pub scale_subs: usize,
    /// The `smp-server` binary for the scale phase (default: next to this executable).
    pub smp_server_bin: Option<std::path::PathBuf>,
    /// The scale phase with service subscriptions (see [`scale`]).
    pub services: bool,
    /// Web Push tokens and the mock Web Push service instead of APNS (not with `scale_subs`).
    pub web_push: bool,
    /// Only several instances on one PostgreSQL database (see [`instances`]).
    pub instances: Option<instances::InstancesConfig>,
    /// Append the store log (`[STORE_LOG] enable = on`) to this file while the in-memory
    /// server runs (the overhead of the log on the same load).
    pub store_log: Option<std::path::PathBuf>,
    /// Upper bound on the whole run; phases stop early when it is reached.
    pub time_cap: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            connections: 200,
            tokens_per_conn: 50,
            subscriptions: 10_000,
            check_secs: 5.0,
            rate: 1000,
            send_secs: 20.0,
            senders: 4,
            restart_subs: 0,
            relay: None,
            scale_subs: 0,
            smp_server_bin: None,
            services: false,
            web_push: false,
            instances: None,
            store_log: None,
            time_cap: Duration::from_secs(600),
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// The figure.
    pub value: String,
    /// Unit or remark.
    pub note: String,
}

/// The figures of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The rows in order.
    pub rows: Vec<Row>,
    /// Problems seen (missing pushes, duplicates, errors).
    pub problems: Vec<String>,
}

impl Report {
    fn add(&mut self, name: &str, value: impl std::fmt::Display, note: &str) {
        self.rows.push(Row {
            name: name.to_owned(),
            value: value.to_string(),
            note: note.to_owned(),
        });
    }

    /// The report as a text table.
    pub fn table(&self) -> String {
        let w0 = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(0)
            .max(6);
        let w1 = self
            .rows
            .iter()
            .map(|r| r.value.len())
            .max()
            .unwrap_or(0)
            .max(5);
        let mut s = String::new();
        let _ = writeln!(s, "{:<w0$}  {:>w1$}  note", "figure", "value");
        let _ = writeln!(
            s,
            "{}  {}  {}",
            "-".repeat(w0),
            "-".repeat(w1),
            "-".repeat(30)
        );
        for r in &self.rows {
            let _ = writeln!(s, "{:<w0$}  {:>w1$}  {}", r.name, r.value, r.note);
        }
        for p in &self.problems {
            let _ = writeln!(s, "PROBLEM: {p}");
        }
        s
    }
}

fn per_sec(n: u64, d: Duration) -> String {
    format!("{:.0}", n as f64 / d.as_secs_f64().max(1e-9))
}

fn kib(v: Option<u64>) -> String {
    v.map_or_else(|| "n/a".into(), |k| k.to_string())
}

fn bytes_per(before: Option<u64>, after: Option<u64>, n: usize) -> String {
    match (before, after) {
        (Some(b), Some(a)) if n > 0 => {
            format!("{:.0}", (a.saturating_sub(b) * 1024) as f64 / n as f64)
        }
        _ => "n/a".into(),
    }
}

/// Runs a stage on every connection at once; returns the results in connection order.
async fn on_all<T, F, Fut>(clients: &[Arc<NtfClient>], f: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize, Arc<NtfClient>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for (i, c) in clients.iter().enumerate() {
        let fut = f(i, c.clone());
        set.spawn(async move { (i, fut.await) });
    }
    let mut out: Vec<Option<T>> = (0..clients.len()).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        let (i, v) = r?;
        out[i] = Some(v?);
    }
    Ok(out.into_iter().flatten().collect())
}

/// Runs the load; the report says what was and was not measured.
///
/// # Errors
/// When a service cannot be started or a step fails outright.
pub async fn run(config: &LoadConfig) -> anyhow::Result<Report> {
    let started = Instant::now();
    let cap = started + config.time_cap;
    let mut report = Report::default();
    let rss0 = rss_kib();
    report.add("rss at start", kib(rss0), "KiB (generator + runtime)");

    let mock = Arc::new(env::start_mock().await?);
    if let Some(x) = &config.instances {
        instances::instances_phase(x, &mock, &mut report).await?;
        report.add("total run time", format!("{:.1}", started.elapsed().as_secs_f64()), "s");
        return Ok(report);
    }
    if config.scale_subs > 0 {
        let deadline = config.time_cap.saturating_sub(started.elapsed());
        scale::scale_phase(config.scale_subs, config.smp_server_bin.as_deref(), config.services, &mock, &mut report, deadline).await?;
        report.add("total run time", format!("{:.1}", started.elapsed().as_secs_f64()), "s");
        return Ok(report);
    }
    // with Web Push: the mock push service, WP tokens for it, its pushes read by the router
    let web_push = match config.web_push {
        true => Some(Arc::new(crate::webpush::mock::MockWebPush::start().await?)),
        false => None,
    };
    let (router, router_task) = match &web_push {
        None => {
            let r = PushRouter::new();
            let t = r.start(mock.clone());
            (r, t)
        }
        Some(wp) => {
            let r = PushRouter::web_push(wp.provider());
            let t = r.start_web_push(wp.clone());
            (r, t)
        }
    };
    let (relay, relay_server) = match &config.relay {
        Some(s) => (None, s.clone()),
        None => {
            let r = env::Relay::start().await?;
            let s = r.smp_server();
            (Some(r), s)
        }
    };
    let log = match &config.store_log {
        Some(p) => Some(crate::store::log::writer::StoreLogWriter::open_append(p).map_err(|e| anyhow::anyhow!("--store-log {}: {e}", p.display()))?),
        None => None,
    };
    let ntf = match (&web_push, log) {
        (None, None) => env::start_ntf(&mock, crate::ntf::MemStore::new(), None).await?,
        (None, Some(log)) => env::start_ntf(&mock, crate::store::log::logged::LoggedStore::new(crate::ntf::MemStore::new(), log), None).await?,
        (Some(wp), None) => env::start_ntf_web_push(&mock, wp, Duration::from_secs(10), crate::ntf::MemStore::new()).await?,
        (Some(wp), Some(log)) => {
            let store = crate::store::log::logged::LoggedStore::new(crate::ntf::MemStore::new(), log);
            env::start_ntf_web_push(&mock, wp, Duration::from_secs(10), store).await?
        }
    };
    if let Some(p) = &config.store_log {
        report.add("store log", p.display().to_string(), "appended while the server runs");
    }
    report.add("push provider", if web_push.is_some() { "webpush" } else { "apns" }, if web_push.is_some() { "WP tokens, mock Web Push service (HTTP/2, TLS, RFC 8291 bodies)" } else { "AT tokens, mock APNS" });
    let rss1 = rss_kib();
    report.add(
        "rss with services up",
        kib(rss1),
        "KiB (mock push service, relay, NTF server)",
    );

    // --- phase 1: connections, tokens, queues, subscriptions ---
    let ntf_cfg = NtfClientConfig {
        timeout: Duration::from_secs(60),
        ..NtfClientConfig::default()
    };
    let t = Instant::now();
    let mut clients = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        clients.push(Arc::new(
            NtfClient::connect_addr(ntf.addr, &ntf.key_hash, &ntf_cfg).await?,
        ));
    }
    let conn_time = t.elapsed();
    report.add(
        "NTF connections",
        config.connections,
        &format!(
            "v{} handshakes in {} ms",
            clients.first().map_or(0, |c| c.version().0),
            ms(conn_time)
        ),
    );
    let rss2 = rss_kib();

    let k = config.tokens_per_conn;
    let t = Instant::now();
    let pending = on_all(&clients, |_, c| {
        let r = router.clone();
        async move { Ok(fleet::new_tokens(&c, &r, k).await?) }
    })
    .await?;
    let tnew_time = t.elapsed();
    let n_tokens = (config.connections * k) as u64;
    report.add(
        "TNEW /s",
        per_sec(n_tokens, tnew_time),
        &format!("{n_tokens} tokens in {} ms, batches of {k}", ms(tnew_time)),
    );
    let t = Instant::now();
    let mut pending_iter = pending.into_iter();
    let mut set = tokio::task::JoinSet::new();
    for (i, c) in clients.iter().enumerate() {
        let (c, r) = (c.clone(), router.clone());
        let p = pending_iter.next().unwrap_or_default();
        set.spawn(async move {
            (
                i,
                fleet::verify_tokens(&c, &r, p, Duration::from_secs(60)).await,
            )
        });
    }
    let mut tokens: Vec<Vec<Token>> = (0..clients.len()).map(|_| Vec::new()).collect();
    while let Some(r) = set.join_next().await {
        let (i, v) = r?;
        tokens[i] = v?;
    }
    let tvfy_time = t.elapsed();
    report.add(
        "verification push + TVFY /s",
        per_sec(n_tokens, tvfy_time),
        &format!("{} ms (includes the push path)", ms(tvfy_time)),
    );
    let rss3 = rss_kib();
    report.add(
        "rss per token",
        bytes_per(rss2, rss3, n_tokens as usize),
        "bytes (server + client state)",
    );

    let smp_cfg = SmpClientConfig {
        timeout: Duration::from_secs(60),
        ..SmpClientConfig::default()
    };
    let mut smps = Vec::new();
    for _ in 0..config.senders.max(1) {
        smps.push(Arc::new(SmpClient::connect(&relay_server, &smp_cfg).await?));
    }
    let t = Instant::now();
    let queues = fleet::create_queues(&smps, &router, config.subscriptions, 64).await?;
    let q_time = t.elapsed();
    report.add(
        "relay NEW+NKEY /s",
        per_sec(queues.len() as u64 * 2, q_time),
        &format!("{} queues in {} ms", queues.len(), ms(q_time)),
    );
    let rss4 = rss_kib();
    report.add(
        "rss per relay queue",
        bytes_per(rss3, rss4, queues.len()),
        "bytes (relay queue + client copy)",
    );

    // queue i goes to token i (round robin over all tokens), SNEW on that token's connection
    let n_conn = clients.len().max(1);
    let mut per_conn: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n_conn];
    let total_tokens = tokens.iter().map(Vec::len).sum::<usize>().max(1);
    for qi in 0..queues.len() {
        let ti = qi % total_tokens;
        per_conn[ti % n_conn].push((ti / n_conn, qi));
    }
    let queues = Arc::new(queues);
    let tokens = Arc::new(tokens);
    let t = Instant::now();
    let sub_ids = on_all(&clients, |ci, c| {
        let (queues, tokens, relay) = (queues.clone(), tokens.clone(), relay_server.clone());
        let assigned = per_conn[ci].clone();
        async move {
            let mut ids = Vec::new();
            for chunk in assigned.chunks(100) {
                let pairs: Vec<(&Token, &Queue)> = chunk
                    .iter()
                    .filter_map(|(ti, qi)| Some((tokens[ci].get(*ti)?, queues.get(*qi)?)))
                    .collect();
                let got = fleet::subscribe(&c, &relay, &pairs).await?;
                ids.extend(chunk.iter().zip(got).map(|((ti, _), id)| (*ti, id)));
            }
            Ok(ids)
        }
    })
    .await?;
    let snew_time = t.elapsed();
    let n_subs = sub_ids.iter().map(Vec::len).sum::<usize>();
    report.add(
        "SNEW /s",
        per_sec(n_subs as u64, snew_time),
        &format!("{n_subs} subscriptions in {} ms", ms(snew_time)),
    );

    // every subscription ACTIVE (the subscriber's NSUBs answered)
    let t = Instant::now();
    let active = wait_active(
        &clients,
        &tokens,
        &sub_ids,
        cap.min(Instant::now() + Duration::from_secs(180)),
    )
    .await?;
    report.add(
        "all subscriptions ACTIVE after",
        ms(t.elapsed()),
        &format!("ms ({active}/{n_subs} active)"),
    );
    if active < n_subs {
        report.problems.push(format!(
            "only {active} of {n_subs} subscriptions became ACTIVE"
        ));
    }
    let rss5 = rss_kib();
    report.add(
        "rss per subscription",
        bytes_per(rss4, rss5, n_subs),
        "bytes (NTF store + subscriber + relay NSUB + client id)",
    );

    // authorized commands, no effects: TCHK and SCHK batches
    let deadline = Instant::now() + Duration::from_secs_f64(config.check_secs.max(0.0));
    let t = Instant::now();
    let counts = on_all(&clients, |ci, c| {
        let (tokens, subs) = (tokens.clone(), sub_ids[ci].clone());
        async move {
            let mut cmds: Vec<(AuthPrivateKey, NtfEntityId, NtfCommand)> = Vec::new();
            for t in &tokens[ci] {
                cmds.push((t.key.clone(), t.id.clone(), NtfCommand::Tchk));
            }
            for (ti, id) in &subs {
                if let Some(t) = tokens[ci].get(*ti) {
                    cmds.push((t.key.clone(), id.clone(), NtfCommand::Schk));
                }
            }
            let batch: Vec<(Option<&AuthPrivateKey>, &[u8], &NtfCommand)> = cmds
                .iter()
                .map(|(k, id, c)| (Some(k), id.as_bytes(), c))
                .collect();
            let (mut ok, mut err) = (0u64, 0u64);
            for _ in 0..100_000 {
                if Instant::now() >= deadline || batch.is_empty() {
                    break;
                }
                for r in c.send_commands(&batch).await? {
                    match r {
                        Ok(NtfResponse::Tkn(_) | NtfResponse::Sub(_)) => ok += 1,
                        _ => err += 1,
                    }
                }
            }
            Ok((ok, err))
        }
    })
    .await?;
    let check_time = t.elapsed();
    let (ok, err): (u64, u64) = counts.iter().fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
    report.add(
        "TCHK/SCHK /s (authorized)",
        per_sec(ok, check_time),
        &format!(
            "{ok} ok, {err} failed in {} ms over {n_conn} connections",
            ms(check_time)
        ),
    );
    if err > 0 {
        report.problems.push(format!("{err} TCHK/SCHK failed"));
    }

    // --- phase 2: steady sending ---
    send_phase(config, &mut report, &router, &smps, &queues, cap).await;
    let rss6 = rss_kib();
    report.add("rss after sending", kib(rss6), "KiB");

    // --- phase 4: restart over SQLite ---
    drop(clients);
    if config.restart_subs > 0 && web_push.is_some() {
        report.add("restart", "skipped", "(APNS only)");
    } else if config.restart_subs > 0 {
        if let Err(e) = restart_phase(
            config,
            &mut report,
            &mock,
            &router,
            &relay_server,
            &smps,
            cap,
        )
        .await
        {
            report.problems.push(format!("restart phase: {e:#}"));
        }
    } else {
        report.add("restart", "skipped", "(--restart-subs 0)");
    }
    report.add(
        "total run time",
        format!("{:.1}", started.elapsed().as_secs_f64()),
        "s",
    );
    ntf.shutdown().await;
    router_task.abort();
    drop(relay);
    Ok(report)
}

/// Polls `SCHK` (batched, only those not yet ACTIVE, one connection at a time so that the
/// polling does not starve the subscriber of the core lock) every 250 ms until every
/// subscription is ACTIVE or `deadline`; returns how many are.
async fn wait_active(
    clients: &[Arc<NtfClient>],
    tokens: &Arc<Vec<Vec<Token>>>,
    sub_ids: &[Vec<(usize, NtfEntityId)>],
    deadline: Instant,
) -> anyhow::Result<usize> {
    let total: usize = sub_ids.iter().map(Vec::len).sum();
    let mut left: Vec<Vec<(usize, NtfEntityId)>> = sub_ids.to_vec();
    for _ in 0..10_000 {
        for (ci, c) in clients.iter().enumerate() {
            let Some(l) = left.get_mut(ci) else { continue };
            let mut still = Vec::new();
            for chunk in l.chunks(200) {
                let batch: Vec<(&AuthPrivateKey, &NtfEntityId)> = chunk
                    .iter()
                    .filter_map(|(ti, id)| Some((&tokens.get(ci)?.get(*ti)?.key, id)))
                    .collect();
                for (r, item) in c.schk_many(&batch).await?.into_iter().zip(chunk) {
                    if !matches!(r, Ok(NtfSubStatus::Active)) {
                        tracing::debug!("subscription not active: {r:?}");
                        still.push(item.clone());
                    }
                }
            }
            *l = still;
        }
        if left.iter().all(Vec::is_empty) || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(total - left.iter().map(Vec::len).sum::<usize>())
}

/// Sends at `config.rate` for `config.send_secs`, then waits (up to 10 s) for the pushes.
async fn send_phase(
    config: &LoadConfig,
    report: &mut Report,
    router: &PushRouter,
    smps: &[Arc<SmpClient>],
    queues: &Arc<Vec<Queue>>,
    cap: Instant,
) {
    if queues.is_empty() || config.rate == 0 || config.send_secs <= 0.0 {
        report.add("send phase", "skipped", "");
        return;
    }
    let before = router.counts();
    let _ = router.take_latencies();
    let total = (f64::from(config.rate) * config.send_secs) as u64;
    let start = Instant::now();
    let end = (start + Duration::from_secs_f64(config.send_secs)).min(cap);
    let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut senders = Vec::new();
    let mut chans = Vec::new();
    for s in smps {
        let (ctx, mut crx) = tokio::sync::mpsc::unbounded_channel::<Vec<usize>>();
        chans.push(ctx);
        let (s, r, q) = (s.clone(), router.clone(), queues.clone());
        senders.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            while let Some(batch) = crx.recv().await {
                let refs: Vec<&Queue> = batch.iter().filter_map(|i| q.get(*i)).collect();
                match fleet::send_messages(&s, &r, &refs, b"load test message").await {
                    Ok(n) => {
                        ok += n as u64;
                        failed += (refs.len() - n) as u64;
                    }
                    Err(_) => failed += refs.len() as u64,
                }
            }
            (ok, failed)
        }));
    }
    drop(tx);
    let mut sent = 0u64;
    let mut next_queue = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut round = 0usize;
    while sent < total && Instant::now() < end {
        tick.tick().await;
        let due = ((start.elapsed().as_secs_f64() * f64::from(config.rate)) as u64).min(total);
        if due <= sent {
            continue;
        }
        let n = (due - sent) as usize;
        let batch: Vec<usize> = (0..n).map(|j| (next_queue + j) % queues.len()).collect();
        next_queue = (next_queue + n) % queues.len();
        sent += n as u64;
        if let Some(ch) = chans.get(round % chans.len().max(1)) {
            let _ = ch.send(batch);
        }
        round += 1;
    }
    drop(chans);
    let (mut ok, mut failed) = (0u64, 0u64);
    for s in senders {
        if let Ok((a, b)) = s.await {
            ok += a;
            failed += b;
        }
    }
    let send_time = start.elapsed();
    // the pushes of the last messages
    let drain_end = (Instant::now() + Duration::from_secs(10)).min(cap + Duration::from_secs(10));
    while router.outstanding() > 0 && Instant::now() < drain_end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = router.counts();
    let pushed = after.messages - before.messages;
    let lat = Percentiles::of(&router.take_latencies());
    report.add(
        "SEND accepted /s",
        per_sec(ok, send_time),
        &format!(
            "{ok} of {sent} sent ({failed} refused) at target {} /s",
            config.rate
        ),
    );
    report.add(
        "pushes /s",
        per_sec(pushed, send_time),
        &format!("{pushed} message pushes decrypted"),
    );
    report.add(
        "latency p50",
        ms(lat.p50),
        "ms SEND written -> push at the mock push service",
    );
    report.add("latency p90", ms(lat.p90), "ms");
    report.add("latency p99", ms(lat.p99), "ms");
    report.add(
        "latency max",
        ms(lat.max),
        &format!("ms ({} samples)", lat.count),
    );
    let dup = after.duplicates - before.duplicates;
    let missing = router.outstanding();
    report.add(
        "exactly once",
        if dup == 0 && missing == 0 && pushed == ok {
            "yes"
        } else {
            "NO"
        },
        &format!("{dup} duplicate, {missing} missing pushes"),
    );
    if dup > 0 || missing > 0 || pushed != ok {
        report.problems.push(format!(
            "send phase: {ok} accepted, {pushed} pushed, {dup} duplicates, {missing} missing"
        ));
    }
}

/// Loads `restart_subs` subscriptions into a notification server over SQLite, restarts it on
/// the same database and measures the resubscription.
async fn restart_phase(
    config: &LoadConfig,
    report: &mut Report,
    mock: &crate::apns::mock::MockApns,
    router: &PushRouter,
    relay: &SmpServer,
    smps: &[Arc<SmpClient>],
    cap: Instant,
) -> anyhow::Result<()> {
    use crate::store::{SqliteConfig, SqliteStore, Synchronous};
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ntf.db");
    let sqlite = SqliteConfig {
        synchronous: Synchronous::Normal,
        ..SqliteConfig::default()
    };
    let m = config.restart_subs;
    let store = SqliteStore::open_with(&path, &sqlite).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let ntf = env::start_ntf(mock, store, None).await?;
    let ntf_cfg = NtfClientConfig {
        timeout: Duration::from_secs(60),
        ..NtfClientConfig::default()
    };
    let client = Arc::new(NtfClient::connect_addr(ntf.addr, &ntf.key_hash, &ntf_cfg).await?);
    let n_tokens = m.div_ceil(50).max(1);
    let mut tokens = Vec::new();
    for chunk in 0..n_tokens.div_ceil(50) {
        let n = 50.min(n_tokens - chunk * 50);
        tokens.extend(fleet::register_tokens(&client, router, n).await?);
    }
    let queues = fleet::create_queues(smps, router, m, 64).await?;
    let t = Instant::now();
    let mut ids = Vec::with_capacity(m);
    for (ci, chunk) in queues.chunks(100).enumerate() {
        let pairs: Vec<(&Token, &Queue)> = chunk
            .iter()
            .enumerate()
            .map(|(j, q)| (&tokens[(ci * 100 + j) % tokens.len()], q))
            .collect();
        let got = fleet::subscribe(&client, relay, &pairs).await?;
        ids.extend(
            pairs
                .iter()
                .map(|(t, _)| tokens.iter().position(|x| x.id == t.id).unwrap_or(0))
                .zip(got),
        );
    }
    let load_time = t.elapsed();
    report.add(
        "restart: SNEW into SQLite /s",
        per_sec(m as u64, load_time),
        &format!("{m} subscriptions (synchronous=NORMAL)"),
    );
    let clients = vec![client];
    let tokens = Arc::new(vec![tokens]);
    let ids = vec![ids];
    wait_active(
        &clients,
        &tokens,
        &ids,
        cap.min(Instant::now() + Duration::from_secs(120)),
    )
    .await?;
    drop(clients);
    let addr = ntf.addr;
    ntf.shutdown().await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let rss_before = rss_kib();
    let t = Instant::now();
    let store = SqliteStore::open_with(&path, &sqlite).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    // the same port as before (the old listener is closed by now)
    let ntf = env::start_ntf(mock, store, Some(addr)).await?;
    let client = Arc::new(NtfClient::connect_addr(ntf.addr, &ntf.key_hash, &ntf_cfg).await?);
    let clients = vec![client];
    let active = wait_active(
        &clients,
        &tokens,
        &ids,
        cap.min(Instant::now() + Duration::from_secs(120)),
    )
    .await?;
    let resub = t.elapsed();
    let rss_after = rss_kib();
    report.add(
        "restart: all ACTIVE again after",
        ms(resub),
        &format!("ms ({active}/{m}; open + resubscribe + SCHK polling every 250 ms)"),
    );
    report.add(
        "restart: rss growth per subscription",
        bytes_per(rss_before, rss_after, m),
        "bytes (fresh server over SQLite)",
    );
    if active < m {
        report.problems.push(format!(
            "after restart only {active} of {m} subscriptions ACTIVE"
        ));
    }
    // later messages are notified
    let sample: Vec<&Queue> = queues.iter().step_by(100).collect();
    let before = router.counts().messages;
    let mut accepted = 0;
    for s in sample.chunks(50) {
        accepted += fleet::send_messages(&smps[0], router, s, b"after restart").await?;
    }
    let end = Instant::now() + Duration::from_secs(10);
    while router.counts().messages - before < accepted as u64 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = router.counts().messages - before;
    report.add(
        "restart: messages notified after",
        format!("{got}/{accepted}"),
        "",
    );
    if got != accepted as u64 {
        report.problems.push(format!(
            "after restart {got} of {accepted} messages notified"
        ));
    }
    drop(clients);
    ntf.shutdown().await;
    Ok(())
}
