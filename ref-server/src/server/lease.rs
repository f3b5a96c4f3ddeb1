//! Several `ntf-server` instances on one PostgreSQL store: which instance acts for which SMP
//! relay, and which one sends the periodic (`TCRN`) pushes.
//!
//! Every client command is answered by whichever instance the client reached: the core keeps
//! nothing but its store, and the store is the database (the only cache, SMP server ids, is
//! of rows that are never deleted). What must not be done twice is owned through a lease row
//! in the table `ntf_leases` (resource, owner, expires_at), claimed and renewed by every
//! instance every `renew` ([`PgStore::claim_leases`]):
//! - `relay <smp://...>`: the owner alone keeps the relay's subscriptions (`NSUB`), takes its
//!   events (`NMSG` -> push, `END`, `DELD`), and picks up the subscriptions other instances
//!   accepted (rows still `NEW`, polled every `renew`);
//! - `cron`: the owner alone runs the periodic sweep.
//!
//! Why a lease row with an expiry rather than session advisory locks: a lock tied to a
//! session disappears when the database notices the session is gone, at a time the instance
//! cannot know, so a partitioned instance could not tell when to stop. With an expiry taken
//! from the database's clock at the claim's start, the instance stops acting at
//! `start of its last successful claim + ttl * 3/4` by its own monotonic clock, which is
//! before the database lets another instance claim (`now() > expires_at`, at least `ttl`
//! after that start): only the clocks' rates need to agree (within 25%), not their times.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::string::String;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use std::vec::Vec;

use smp_proto::server::SmpServer;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::ntf::{Effect, StoreError, StoreResult};
use crate::store::journal::JournaledNmsg;
use crate::store::PgStore;

/// The lease settings of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// This instance's id (unique among the instances sharing the database).
    pub instance_id: String,
    /// How long a claim holds in the database.
    pub ttl: Duration,
    /// How often leases are claimed and renewed, and `NEW` subscriptions polled (at most a
    /// quarter of `ttl`: a round late by one `renew` still lets go before the lease expires).
    pub renew: Duration,
}

impl LeaseConfig {
    /// Settings for `instance_id`: a 4 s lease renewed every second, so that the relays of a
    /// dead instance are claimed by another within 4 s of the kill (3 s to 4 s: the last
    /// renewal was up to a second before it; the others try again when it expires).
    pub fn new(instance_id: impl Into<String>) -> Self {
        Self {
            instance_id: instance_id.into(),
            ttl: Duration::from_secs(4),
            renew: Duration::from_secs(1),
        }
    }

    /// How long after the start of a successful claim this instance keeps acting on it.
    pub fn hold(&self) -> Duration {
        self.ttl - self.ttl / 4
    }
}

/// The lease resource of a relay.
pub fn relay_resource(server: &SmpServer) -> String {
    format!("relay {server}")
}

/// The lease resource of the periodic sweep.
pub const CRON: &str = "cron";

/// The leases this instance holds, each until a local deadline.
#[derive(Debug, Default)]
pub struct Leases {
    held: Mutex<HashMap<String, Instant>>,
}

impl Leases {
    /// No leases.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether this instance holds `resource` now (before its local deadline).
    pub fn holds(&self, resource: &str) -> bool {
        let held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.get(resource).is_some_and(|d| Instant::now() < *d)
    }

    /// Whether this instance acts for `server` now.
    pub fn holds_relay(&self, server: &SmpServer) -> bool {
        self.holds(&relay_resource(server))
    }

    /// Records a successful claim that started at `started`: `claimed` are held until
    /// `started + hold`, the others are no longer held. Returns (gained, lost).
    pub fn claimed(&self, started: Instant, hold: Duration, claimed: &[String]) -> (Vec<String>, Vec<String>) {
        let now = Instant::now();
        let deadline = started + hold;
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut gained = Vec::new();
        for r in claimed {
            let was = held.get(r).is_some_and(|d| now < *d);
            if !was {
                gained.push(r.clone());
            }
            held.insert(r.clone(), deadline);
        }
        let mut lost = Vec::new();
        held.retain(|r, d| {
            let keep = claimed.contains(r);
            if !keep && now < *d {
                lost.push(r.clone());
            }
            keep
        });
        (gained, lost)
    }

    /// Drops the leases whose deadline passed (a claim failed, e.g. the database is out of
    /// reach); returns them.
    pub fn expire(&self) -> Vec<String> {
        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let gone: Vec<String> = held.iter().filter(|(_, d)| now >= **d).map(|(r, _)| r.clone()).collect();
        for r in &gone {
            held.remove(r);
        }
        gone
    }

    /// The earliest local deadline of the leases held.
    pub fn next_deadline(&self) -> Option<Instant> {
        let held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.values().min().copied()
    }
}

/// Several instances on one database: this instance's lease settings and its own connection
/// for the leases and the polling (so that renewals never wait behind the core's work).
#[derive(Clone, Debug)]
pub struct ScaleOut {
    /// The settings.
    pub config: LeaseConfig,
    /// The lease connection (same database and schema as the core's store).
    pub store: Arc<PgStore>,
}

/// What [`run`] needs of the shell.
pub trait Shell: Send + Sync + 'static {
    /// Subscribes everything of a relay, as at a start; returns how many subscriptions.
    fn resubscribe_relay<'a>(&'a self, server: &'a SmpServer) -> Pin<Box<dyn Future<Output = usize> + Send + 'a>>;

    /// The relay's service subscription, if it has one (after its `NSUB`s).
    fn resubscribe_service<'a>(&'a self, server: &'a SmpServer) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

    /// Runs effects (SMP ones go to the subscriber).
    fn dispatch(&self, effects: Vec<Effect>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;

    /// The lease resource that says this process is alive (`run <id>`, see
    /// [`super::journal`]); `None` without a journal.
    fn run_resource(&self) -> Option<String>;

    /// This process's run id, when it journals its `NMSG`s.
    fn run_id(&self) -> Option<String>;

    /// Handles again `NMSG`s journaled by processes that ended.
    fn replay(self: Arc<Self>, nmsgs: Vec<JournaledNmsg>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// A store call on the blocking pool, given up after `limit` (the call may go on; the store's
/// lock makes the next call wait for it).
async fn blocking<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    match tokio::time::timeout(limit, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(StoreError::Backend(format!("lease task: {e}"))),
        Err(_) => Err(StoreError::Backend(format!("lease task: no answer within {limit:?}"))),
    }
}

/// How long after another instance's lease expires (by the database's clock, seen from this
/// one) the claim is tried again, and the shortest wait between two claims.
const RETRY_MARGIN: Duration = Duration::from_millis(20);

/// Journaled `NMSG`s of ended processes taken over at once.
const ORPHANS: usize = 1000;

/// `NSUB` pages, as at a start.
const PAGE: usize = 900;

/// The lease task: every `renew`, claims `cron` and a lease for every relay with
/// subscriptions to keep; subscribes everything of a relay it gained, lets go of a relay it
/// lost (`release`: the subscriber closes that connection), and subscribes the relays' `NEW`
/// rows. A lease whose claim could not be renewed is let go at its local deadline, even while
/// the database does not answer.
pub async fn run<S: Shell>(
    shell: Arc<S>,
    leases: Arc<Leases>,
    scale: ScaleOut,
    release: mpsc::UnboundedSender<SmpServer>,
) {
    let ScaleOut { config, store } = scale;
    let id = config.instance_id.clone();
    let mut relays: HashMap<String, SmpServer> = HashMap::new();
    // the resubscription of each relay gained, while it runs
    let mut subscribing: HashMap<String, AbortOnDrop> = HashMap::new();
    // the journaled NMSGs of ended processes being handled
    let mut replaying: Option<AbortOnDrop> = None;
    // the connection the pages of a relay taken over are read on (opened at the first)
    let mut pager: Option<Arc<PgStore>> = None;
    loop {
        let round = Instant::now();
        // when another instance's lease on one of the resources runs out, if before the next round
        let mut others_expire: Option<Instant> = None;
        let st = store.clone();
        match blocking(config.renew, move || crate::ntf::Store::used_smp_servers(&*st)).await {
            Ok(servers) => relays.extend(servers.into_iter().map(|s| (relay_resource(&s), s))),
            Err(e) => warn!("lease task: relays not read: {e}"),
        }
        let mut resources = vec![CRON.to_string()];
        resources.extend(shell.run_resource());
        resources.extend(relays.keys().cloned());
        // the claim's start by this clock is before the database's now() of the claim
        let started = Instant::now();
        let limit = leases.next_deadline().map_or(config.renew, |d| d.saturating_duration_since(started)).max(Duration::from_millis(50));
        let (st, owner, ttl) = (store.clone(), id.clone(), config.ttl);
        match blocking(limit, move || st.claim_leases_next(&owner, &resources, ttl)).await {
            Ok((claimed, next)) => {
                // the database's now() is after `started`: this is at or before the expiry
                others_expire = next.map(|d| started + d + RETRY_MARGIN);
                let (gained, lost) = leases.claimed(started, config.hold(), &claimed);
                for r in lost {
                    info!(instance = %id, "lease lost: {r}");
                    subscribing.remove(&r);
                    if let Some(s) = relays.get(&r) {
                        let _ = release.send(s.clone());
                    }
                }
                for r in gained {
                    info!(instance = %id, "lease gained: {r}");
                    if let Some(s) = relays.get(&r) {
                        // the pages are read on a connection of their own, next to the core's
                        // status updates
                        if pager.is_none() {
                            let cfg = store.config().clone();
                            match blocking(config.renew * 2, move || PgStore::open(cfg)).await {
                                Ok(p) => pager = Some(Arc::new(p)),
                                Err(e) => warn!(instance = %id, "no connection for the takeover pages (the core's is used): {e}"),
                            }
                        }
                        // on a task of its own: paging a large relay out of the store takes
                        // longer than a lease holds, and the renewals must go on meanwhile
                        let (sh, s, id, pager) = (shell.clone(), s.clone(), id.clone(), pager.clone());
                        let task = tokio::spawn(async move {
                            let t = Instant::now();
                            let n = match pager {
                                Some(p) => take_over(&*sh, &p, &s).await,
                                None => sh.resubscribe_relay(&s).await,
                            };
                            info!(instance = %id, relay = %s, "subscribing the relay's {n} subscriptions (read in {:?})", t.elapsed());
                        });
                        subscribing.insert(r, AbortOnDrop(task));
                    }
                }
            }
            Err(e) => warn!(instance = %id, "leases not renewed: {e}"),
        }
        for r in leases.expire() {
            warn!(instance = %id, "lease ran out (not renewed in time): {r}");
            subscribing.remove(&r);
            if let Some(s) = relays.get(&r) {
                let _ = release.send(s.clone());
            }
        }
        subscribing.retain(|_, t| !t.0.is_finished());
        // the journals of processes that ended: handled by the holder of `cron`, one at a time
        if leases.holds(CRON) && replaying.as_ref().is_none_or(|t| t.0.is_finished()) {
            if let Some(run) = shell.run_id() {
                let st = store.clone();
                match blocking(config.renew, move || st.take_orphaned_nmsgs(&run, ORPHANS)).await {
                    Ok(n) if !n.is_empty() => {
                        info!(instance = %id, "{} NMSGs of processes that ended: handling them", n.len());
                        replaying = Some(AbortOnDrop(tokio::spawn(shell.clone().replay(n))));
                    }
                    Ok(_) => {}
                    Err(e) => warn!(instance = %id, "journal not read: {e}"),
                }
            }
        }
        for (r, server) in &relays {
            if leases.holds(r) {
                poll_new(&*shell, &store, server, config.renew).await;
            }
        }
        let next = round + config.renew;
        let next = others_expire.map_or(next, |e| e.max(Instant::now() + RETRY_MARGIN).min(next));
        let wake = leases.next_deadline().map_or(next, |d| d.min(next));
        tokio::time::sleep_until(wake.into()).await;
    }
}

/// At a graceful stop, once this instance no longer acts for any relay (its relay connections
/// are closed): gives up every lease it holds in the database, so that the other instances
/// claim them at their next round instead of after `ttl`. The local view is emptied first, so
/// nothing acts on a lease while it is given up. Gives up after `limit` (the leases then run
/// out as after a kill).
pub async fn release_all(leases: &Leases, scale: &ScaleOut, limit: Duration) {
    let _ = leases.claimed(Instant::now(), Duration::ZERO, &[]);
    let (st, owner) = (scale.store.clone(), scale.config.instance_id.clone());
    match blocking(limit, move || st.release_leases(&owner, None)).await {
        Ok(()) => info!(instance = %scale.config.instance_id, "leases given up"),
        Err(e) => warn!(instance = %scale.config.instance_id, "leases not given up (they run out after lease_ttl): {e}"),
    }
}

/// A task ended when this is dropped (a relay's resubscription: ended when the lease is lost,
/// or with the lease task).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Subscriptions per page read when a relay is taken over (the subscriber sends them in
/// `NSUB` batches of its own size).
const TAKEOVER_PAGE: usize = 5000;

/// A relay gained: all its subscriptions but the `NEW` ones (the poll's) as `SmpSubscribe`s
/// (no PENDING write: their statuses stay until the relay answers), then its service
/// subscription; how many were sent one by one. A page that fails is tried again up to 5
/// times.
async fn take_over<S: Shell>(shell: &S, pager: &Arc<PgStore>, server: &SmpServer) -> usize {
    let mut total = 0;
    let mut after: Option<ntf_proto::command::NtfEntityId> = None;
    let mut tries = 0u32;
    loop {
        let (st, srv, a) = (pager.clone(), server.clone(), after.clone());
        match blocking(Duration::from_secs(30), move || st.takeover_page(&srv, a.as_ref(), TAKEOVER_PAGE)).await {
            Ok(subs) => {
                tries = 0;
                let n = subs.len();
                total += n;
                after = subs.last().map(|s| s.id.clone());
                let effects = subs
                    .into_iter()
                    .map(|s| Effect::SmpSubscribe { subscription_id: s.id, queue: s.queue, notifier_key: s.notifier_key, pending: true })
                    .collect();
                shell.dispatch(effects).await;
                if n < TAKEOVER_PAGE {
                    break;
                }
            }
            Err(e) if tries < 5 => {
                tries += 1;
                warn!(relay = %server, "takeover page: {e}; trying it again");
                tokio::time::sleep(Duration::from_millis(200) * tries).await;
            }
            Err(e) => {
                warn!(relay = %server, "takeover page: {e}; 5 tries, giving up");
                break;
            }
        }
    }
    shell.resubscribe_service(server).await;
    total
}

/// The relay's subscriptions other instances accepted (still `NEW`).
async fn poll_new<S: Shell>(shell: &S, store: &Arc<PgStore>, server: &SmpServer, limit: Duration) {
    loop {
        let (st, srv) = (store.clone(), server.clone());
        let subs = match blocking(limit, move || st.take_new_subscriptions(&srv, PAGE)).await {
            Ok(s) => s,
            Err(e) => return warn!(relay = %server, "new subscriptions not read: {e}"),
        };
        let n = subs.len();
        let effects = subs
            .into_iter()
            .map(|s| Effect::SmpSubscribe { subscription_id: s.id, queue: s.queue, notifier_key: s.notifier_key, pending: true })
            .collect();
        shell.dispatch(effects).await;
        if n < PAGE {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PgConfig, PgStore};

    fn pg(test: &str) -> Option<(PgConfig, PgStore, PgStore)> {
        let Ok(url) = std::env::var("NTF_TEST_PG_URL") else {
            println!("SKIPPED {test}: NTF_TEST_PG_URL not set");
            return None;
        };
        let schema = format!("ntf_lease_{}_{}", std::process::id(), test.len());
        let config = PgConfig::new(url).with_schema(schema);
        let a = PgStore::open(config.clone()).expect("open a");
        let b = PgStore::open(config.clone()).expect("open b");
        Some((config, a, b))
    }

    /// One owner at a time; a live owner keeps its lease; an expired lease is taken over; the
    /// instance that stopped renewing (a partition) stops acting before the other may claim.
    #[test]
    fn leases_exclusive_renewed_and_taken_over_after_the_holder_stops() {
        let Some((config, a, b)) = pg("leases") else { return };
        let cfg = LeaseConfig { ttl: Duration::from_millis(1200), ..LeaseConfig::new("a") };
        let res = vec!["relay x".to_string(), CRON.to_string()];
        let (la, lb) = (Leases::new(), Leases::new());

        let t0 = Instant::now();
        let got = a.claim_leases("a", &res, cfg.ttl).unwrap();
        assert_eq!(got, res);
        let (gained, lost) = la.claimed(t0, cfg.hold(), &got);
        assert_eq!((gained.len(), lost.len()), (2, 0));
        assert!(la.holds("relay x") && la.holds(CRON));

        // b cannot claim what a holds
        assert!(b.claim_leases("b", &res, cfg.ttl).unwrap().is_empty());
        // a renews and keeps it
        std::thread::sleep(Duration::from_millis(600));
        let t1 = Instant::now();
        let got = a.claim_leases("a", &res, cfg.ttl).unwrap();
        assert_eq!(la.claimed(t1, cfg.hold(), &got), (vec![], vec![]));
        std::thread::sleep(Duration::from_millis(700));
        assert!(b.claim_leases("b", &res, cfg.ttl).unwrap().is_empty(), "renewed lease still held");

        // a stops renewing (partition): it stops acting at its deadline, b claims only later
        let mut a_stopped = None;
        let mut b_claimed = None;
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end && b_claimed.is_none() {
            if a_stopped.is_none() && !la.holds("relay x") {
                a_stopped = Some(Instant::now());
            }
            let t = Instant::now();
            let got = b.claim_leases("b", &res, cfg.ttl).unwrap();
            if !got.is_empty() {
                assert_eq!(got, res);
                lb.claimed(t, cfg.hold(), &got);
                b_claimed = Some(t);
                // a's view, checked after b got it
                assert!(!la.holds("relay x") && !la.holds(CRON), "a acts after b claimed");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (stopped, claimed) = (a_stopped.expect("a stopped"), b_claimed.expect("b claimed"));
        assert!(stopped <= claimed, "a stopped before b claimed");
        assert!(lb.holds("relay x"));
        assert_eq!(la.expire().len(), 2);
        // a's next claim gets nothing; b releases, a claims again
        assert!(a.claim_leases("a", &res, cfg.ttl).unwrap().is_empty());
        b.release_leases("b", Some(&res[..1])).unwrap();
        assert_eq!(a.claim_leases("a", &res, cfg.ttl).unwrap(), vec!["relay x".to_string()]);
        drop((a, b));
        PgStore::open(config).unwrap().drop_schema().unwrap();
    }
}
