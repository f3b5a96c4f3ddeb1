//! `ntf-load --instances N`: the pieces the modes of [`super::instances`] share. N `ntf-server`
//! child processes with one identity (one credentials directory copied N times) on one
//! PostgreSQL schema, each with its own port and `[SCALE_OUT] instance_id`; an SMP relay child
//! process whose queues are written into its store beforehand (as `--scale-subs` does); the
//! NTF store written through [`PgStore`] (tokens one by one, subscriptions in one import), every
//! subscription INACTIVE, so that ACTIVE can only come from an instance's `NSUB`.
//!
//! The figures read the database on connections of their own: the lease owner of the relay,
//! the subscriptions not ACTIVE, and the database's committed transactions
//! (`pg_stat_database.xact_commit`, for the whole database: give the run a database of its
//! own).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use smp_proto::keys::AuthPublicKey;
use smp_proto::server::SmpServer;

use crate::server::config::{ApnsTestSection, Config, ScaleOutSection, ServerPaths, StoreBackend};
use crate::server::{init_paths, InitOptions};
use crate::store::{PgConfig, PgStore};

/// The lease settings of the instances (seconds).
#[derive(Clone, Copy, Debug)]
pub struct Leases {
    /// `lease_ttl`.
    pub ttl: u64,
    /// `lease_renew`.
    pub renew: u64,
}

/// A binary next to this executable.
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    anyhow::ensure!(path.is_file(), "{} not found: build it (`cargo build --release -p ref-server --bins`)", path.display());
    Ok(path)
}

/// One `ntf-server start` child process.
pub struct Instance {
    /// Its `[SCALE_OUT] instance_id`.
    pub id: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    starts: usize,
}

impl Instance {
    /// The lines of all its starts' logs that contain `needle`.
    pub fn log_lines_with(&self, needle: &str) -> usize {
        (1..=self.starts)
            .map(|k| std::fs::read_to_string(self.dir.join(format!("server-{k}.log"))).unwrap_or_default().lines().filter(|l| l.contains(needle)).count())
            .sum()
    }

    /// Starts the process (its log in `DIR/server-<start>.log`).
    ///
    /// # Errors
    /// When it cannot be spawned.
    pub fn spawn(&mut self, bin: &Path) -> anyhow::Result<()> {
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(format!("server-{}.log", self.starts)))?;
        let child = Command::new(bin)
            .args(["start", "--dir"])
            .arg(&self.dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// Whether the process runs.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL, reaped.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits until the port accepts connections (the process serves), at most `limit`.
    ///
    /// # Errors
    /// When it exited or did not listen in time.
    pub async fn wait_listening(&mut self, limit: Duration) -> anyhow::Result<()> {
        let end = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(self.dir.join(format!("server-{}.log", self.starts))).unwrap_or_default();
                anyhow::bail!("{} exited ({st}): {}", self.id, log.lines().last().unwrap_or_default());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < end, "{} not listening within {limit:?}", self.id);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Makes `n` instance directories under `root` with one identity, on `pg`, sending pushes to
/// the mock at `mock` (as one service with `services`); returns them (not started) and the
/// identity's credentials.
///
/// # Errors
/// When a directory or configuration cannot be written.
pub fn init_instances(
    root: &Path,
    n: usize,
    pg: &PgConfig,
    mock: &crate::apns::mock::MockApns,
    leases: Leases,
    services: bool,
) -> anyhow::Result<(Vec<Instance>, ref_transport::ServerCredentials)> {
    let first = root.join("i0");
    let opts = InitOptions { ip: "127.0.0.1".into(), host: Some("127.0.0.1".into()), port: 443, ..InitOptions::default() };
    init_paths(&ServerPaths::same(&first), &opts)?;
    let creds = ref_transport::ServerCredentials::load(&first)?;
    let mut out = Vec::new();
    for i in 0..n {
        let dir = root.join(format!("i{i}"));
        if i > 0 {
            std::fs::create_dir_all(&dir)?;
            for e in std::fs::read_dir(&first)? {
                let e = e?;
                if e.file_type()?.is_file() {
                    std::fs::copy(e.path(), dir.join(e.file_name()))?;
                }
            }
        }
        std::fs::write(dir.join("mock-ca.pem"), mock.ca_pem())?;
        let port = super::scale::free_port()?;
        let id = format!("i{i}");
        let mut config = Config::load(&dir)?;
        config.server.ports = crate::server::config::Ports::one(port);
        config.server.listen = [127, 0, 0, 1].into();
        config.store.backend = StoreBackend::Postgres;
        config.store.url.clone_from(&pg.url);
        config.store.schema.clone_from(&pg.schema);
        config.apns_test = Some(ApnsTestSection { host: mock.addr().ip().to_string(), port: mock.addr().port(), ca_file: "mock-ca.pem".into() });
        config.scale_out = Some(ScaleOutSection { instance_id: id.clone(), lease_ttl: leases.ttl, lease_renew: leases.renew });
        config.subscriber.use_service_credentials = services;
        config.save(&dir)?;
        out.push(Instance { id, port, dir, child: None, starts: 0 });
    }
    Ok((out, creds))
}

/// A fresh schema `pg.schema` (dropped first when there) with `n / 50` ACTIVE tokens and `n`
/// INACTIVE subscriptions on `relay`, in the layout of [`super::scale`] (the relay's queues
/// written by `preload_relay`); with `services`, ACTIVE and associated with the relay's
/// service as `seed_ntf` writes them.
///
/// # Errors
/// Database failures.
pub fn preload_pg(pg: &PgConfig, relay: &SmpServer, n: usize, keys: &[AuthPublicKey], services: bool) -> anyhow::Result<()> {
    let e = |e| anyhow::anyhow!("{e:?}");
    PgStore::open(pg.clone()).map_err(e)?.drop_schema().map_err(e)?;
    let mut store = PgStore::open(pg.clone()).map_err(e)?;
    super::scale::seed_ntf(&mut store, relay, n, keys, services, PgStore::import_subscriptions)
}

/// The DH secret of the preloaded tokens (their devices decrypt the pushes with it).
pub const TOKEN_DH_SECRET: [u8; 32] = [4; 32];
/// The notifier DH secret of the preloaded queues (`preload_relay`).
pub const QUEUE_NTF_SECRET: [u8; 32] = [2; 32];

/// A connection of the load tool's own to the database, for figures.
pub struct Probe {
    client: Option<postgres::Client>,
    schema: String,
}

impl Drop for Probe {
    fn drop(&mut self) {
        // the synchronous client closes its connection on a runtime of its own: not on a
        // thread that drives async tasks
        if let Some(c) = self.client.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(_) => tokio::task::block_in_place(|| drop(c)),
                Err(_) => drop(c),
            }
        }
    }
}

impl Probe {
    /// Connects.
    ///
    /// # Errors
    /// Connection failures.
    pub fn connect(pg: &PgConfig) -> anyhow::Result<Self> {
        Ok(Self { client: Some(postgres::Client::connect(&pg.url, postgres::NoTls)?), schema: pg.schema.clone() })
    }

    fn c(&mut self) -> anyhow::Result<&mut postgres::Client> {
        self.client.as_mut().ok_or_else(|| anyhow::anyhow!("probe closed"))
    }

    /// The live owner of the relay's lease.
    ///
    /// # Errors
    /// Query failures.
    pub fn relay_owner(&mut self) -> anyhow::Result<Option<String>> {
        let q = format!("SELECT owner FROM \"{}\".ntf_leases WHERE resource LIKE 'relay %' AND expires_at > now()", self.schema);
        Ok(self.c()?.query_opt(&q, &[])?.map(|r| r.get(0)))
    }

    /// Whether any subscription is not ACTIVE. Asked every 100 ms while the servers under test
    /// work, so it must cost little: per relay and service association, the two ranges
    /// around `ACTIVE` of the index on (server, service association, status), each stopped at
    /// its first row, by plain index scans (which mark the index entries of dead rows as they
    /// pass them, so the next poll skips them; a sequential or bitmap scan would visit every
    /// row, dead ones included, at each poll).
    ///
    /// # Errors
    /// Query failures.
    pub fn any_not_active(&mut self) -> anyhow::Result<bool> {
        let s = self.schema.clone();
        let q = format!(
            "SELECT EXISTS (SELECT 1 FROM \"{s}\".smp_servers p CROSS JOIN (VALUES (false), (true)) AS a(assoc) \
             WHERE EXISTS (SELECT 1 FROM \"{s}\".subscriptions x WHERE x.smp_server_id = p.smp_server_id \
                             AND x.ntf_service_assoc = a.assoc AND x.status < 'ACTIVE') \
                OR EXISTS (SELECT 1 FROM \"{s}\".subscriptions x WHERE x.smp_server_id = p.smp_server_id \
                             AND x.ntf_service_assoc = a.assoc AND x.status > 'ACTIVE')) \
             OR EXISTS (SELECT 1 FROM \"{s}\".subscriptions x WHERE x.smp_server_id IS NULL)"
        );
        let mut tx = self.c()?.transaction()?;
        tx.batch_execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")?;
        let any: bool = tx.query_one(&q, &[])?.get(0);
        tx.commit()?;
        Ok(any)
    }

    /// Sets every subscription INACTIVE (so that ACTIVE again can only come from a new `NSUB`),
    /// then vacuums the table: the reset is the measurement's own (after a real kill the rows
    /// are ACTIVE and the new owner's writes change nothing), so the dead row versions it and
    /// the start left are not left for the takeover's writes to step over (in production
    /// autovacuum removes them).
    ///
    /// # Errors
    /// Query failures.
    pub fn all_inactive(&mut self) -> anyhow::Result<u64> {
        let q = format!("UPDATE \"{}\".subscriptions SET status = 'INACTIVE'", self.schema);
        let n = self.c()?.execute(&q, &[])?;
        let v = format!("VACUUM (ANALYZE) \"{}\".subscriptions", self.schema);
        self.c()?.batch_execute(&v)?;
        Ok(n)
    }

    /// Committed transactions of the whole database so far (`pg_stat_database`; the
    /// statistics collector lags by up to its reporting interval: take them after a pause).
    ///
    /// # Errors
    /// Query failures.
    pub fn xact_commit(&mut self) -> anyhow::Result<i64> {
        // a fresh snapshot of the statistics in this session
        self.c()?.batch_execute("SELECT pg_stat_clear_snapshot()")?;
        Ok(self.c()?.query_one("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()", &[])?.get(0))
    }

    /// CPU time of this database's server processes (from `/proc`; the database on this
    /// machine), for a per-transaction cost.
    ///
    /// # Errors
    /// Query failures.
    pub fn backends_cpu(&mut self) -> anyhow::Result<Duration> {
        let rows = self.c()?.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database()", &[])?;
        let mut total = Duration::ZERO;
        for r in rows {
            let pid: i32 = r.get(0);
            total += super::stats::cpu_time_of(&format!("/proc/{pid}/stat")).unwrap_or_default();
        }
        Ok(total)
    }
}
