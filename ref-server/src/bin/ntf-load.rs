//! `ntf-load`: a load generator for the notification server and the SMP relay on loopback.
//! It starts the mock APNS (or with `--provider webpush` the mock Web Push service), an SMP relay (or uses `--relay`) and a notification server in
//! this process, runs bounded phases and prints a table of figures. See
//! [`ref_server::load`] for the phases.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ref_server::load::{run, LoadConfig};
use smp_proto::server::SmpServer;

/// Load generator: tokens, subscriptions, steady message sending, memory and restart, all on
/// 127.0.0.1. Every loop is bounded in count and time; the run stops by itself.
#[derive(Parser, Debug)]
#[command(name = "ntf-load", version)]
struct Args {
    /// NTF client connections.
    #[arg(long, default_value_t = 200)]
    connections: usize,
    /// Tokens registered per connection (TNEW + verification push + TVFY, batched).
    #[arg(long, default_value_t = 50)]
    tokens: usize,
    /// Subscriptions: queues created on the relay (NEW + NKEY), subscribed with SNEW.
    #[arg(long, default_value_t = 10_000)]
    subs: usize,
    /// Seconds of batched TCHK/SCHK (authorized commands without effects).
    #[arg(long, default_value_t = 5.0)]
    check_secs: f64,
    /// Messages per second in the send phase (0: skip it).
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Seconds of the send phase.
    #[arg(long, default_value_t = 20.0)]
    secs: f64,
    /// SMP connections that send (and create the queues).
    #[arg(long, default_value_t = 4)]
    senders: usize,
    /// Subscriptions loaded into a notification server over SQLite that is then restarted
    /// (0: skip the restart phase).
    #[arg(long, default_value_t = 0)]
    restart_subs: usize,
    /// Only the scale phase: this many subscriptions written into an NTF store and a relay
    /// (run as a child process), then the time until the restarted NTF server has them all
    /// ACTIVE, and each server's memory.
    #[arg(long, default_value_t = 0)]
    scale_subs: usize,
    /// With --scale-subs: the subscriptions associated with the NTF server's service at the
    /// relay (both stores), the server connecting as a service: one NSUBS after the restart.
    /// With --instances: the same for the instances (one identity, so one service): the new
    /// owner's NSUBS after a takeover.
    #[arg(long)]
    services: bool,
    /// The `smp-server` binary for --scale-subs (default: next to ntf-load).
    #[arg(long)]
    smp_server_bin: Option<std::path::PathBuf>,
    /// Use this SMP relay (`smp://<key hash>@127.0.0.1:<port>`) instead of starting one.
    #[arg(long)]
    relay: Option<String>,
    /// Where the pushes go: `apns` (AT tokens, the mock APNS) or `webpush` (WP tokens, the mock
    /// Web Push service: RFC 8291 bodies decrypted by each device).
    #[arg(long, default_value = "apns", value_parser = ["apns", "webpush"])]
    provider: String,
    /// Only several `ntf-server` processes (next to ntf-load) on one PostgreSQL database and
    /// one relay process, with --subs subscriptions: see --instances-mode (at least 2).
    #[arg(long)]
    instances: Option<usize>,
    /// With --instances: takeover (SIGKILL of the relay's owner, time until all ACTIVE
    /// again), kills (--kills SIGKILLs in a row while sending at --rate: duplicate and lost
    /// pushes) or commands (TCHK/SCHK /s over --connections for --check-secs, 1 instance then N).
    #[arg(long, default_value = "takeover")]
    instances_mode: ref_server::load::instances::Mode,
    /// With --instances: the database (give the run a database of its own: the transaction
    /// counts are the whole database's).
    #[arg(long, default_value = "postgresql://postgres@127.0.0.1:5432/ntf_load")]
    pg_url: String,
    /// With --instances: the schema (dropped and made again).
    #[arg(long, default_value = "ntf_load")]
    pg_schema: String,
    /// With --instances: the instances' lease_ttl (seconds).
    #[arg(long, default_value_t = 4)]
    lease_ttl: u64,
    /// With --instances: the instances' lease_renew (seconds).
    #[arg(long, default_value_t = 1)]
    lease_renew: u64,
    /// With --instances: keep the instances' directories (their logs) and print where.
    #[arg(long)]
    keep_logs: bool,
    /// With --instances --instances-mode kills: how many kills.
    #[arg(long, default_value_t = 20)]
    kills: usize,
    /// Append the reference's store log to this file while the (in-memory) server runs.
    #[arg(long)]
    store_log: Option<PathBuf>,
    /// Upper bound on the whole run in seconds.
    #[arg(long, default_value_t = 600)]
    time_cap: u64,
    /// Worker threads of the runtime (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let relay = match &args.relay {
        Some(s) => Some(
            SmpServer::parse_text(s.as_bytes())
                .map_err(|e| anyhow::anyhow!("--relay {s}: {e:?}"))?,
        ),
        None => None,
    };
    let instances = args.instances.map(|n| ref_server::load::instances::InstancesConfig {
        instances: n,
        mode: args.instances_mode,
        subs: args.subs,
        kills: args.kills,
        rate: args.rate,
        secs: args.check_secs,
        connections: args.connections,
        pg: ref_server::store::PgConfig::new(args.pg_url.clone()).with_schema(args.pg_schema.clone()),
        leases: ref_server::load::cluster::Leases { ttl: args.lease_ttl, renew: args.lease_renew },
        keep_logs: args.keep_logs,
        services: args.services,
    });
    let config = LoadConfig {
        instances,
        connections: args.connections,
        tokens_per_conn: args.tokens,
        subscriptions: args.subs,
        check_secs: args.check_secs,
        rate: args.rate,
        send_secs: args.secs,
        senders: args.senders,
        restart_subs: args.restart_subs,
        relay,
        scale_subs: args.scale_subs,
        smp_server_bin: args.smp_server_bin.clone(),
        services: args.services,
        web_push: args.provider == "webpush",
        store_log: args.store_log.clone(),
        time_cap: Duration::from_secs(args.time_cap),
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.enable_all().build()?;
    let cap = config.time_cap + Duration::from_secs(30);
    let report = rt
        .block_on(async { tokio::time::timeout(cap, run(&config)).await })
        .map_err(|_| anyhow::anyhow!("time cap reached"))??;
    println!("{}", report.table());
    rt.shutdown_timeout(Duration::from_secs(2));
    if report.problems.is_empty() {
        Ok(())
    } else {
        std::process::exit(2)
    }
}
