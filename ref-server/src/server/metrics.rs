//! Prometheus metrics with the reference's names and meanings (`ntfPrometheusMetrics` in
//! `Notifications/Server/Prometheus.hs`, counters of `NtfServerStats` in `Stats.hs`), kept in a
//! [`prometheus`] registry and encoded by its text encoder (format 0.0.4, which keeps the
//! reference's counter names as they are: no `_total` suffix is added).
//!
//! The shell counts what it sees pass: commands and their answers, pushes queued and their
//! outcomes, SMP events. Which reference counter each one is:
//!
//! | metric | counted when |
//! |---|---|
//! | `simplex_ntf_tokens_created` | `TNEW` answered `IDTKN` (`tknCreated`) |
//! | `simplex_ntf_tokens_verified` | `TVFY` answered `OK` (`tknVerified`) |
//! | `simplex_ntf_tokens_deleted` | `TDEL` answered `OK` (`tknDeleted`) |
//! | `simplex_ntf_tokens_replaced` | `TRPL` answered `OK` (`tknReplaced`) |
//! | `simplex_ntf_subscriptions_created` | `SNEW` answered `IDSUB` (`subCreated`) |
//! | `simplex_ntf_subscriptions_deleted` | `SDEL` answered `OK` (`subDeleted`) |
//! | `simplex_ntf_notifications_received` | `NMSG` for a subscription of an active token (`ntfReceived`) |
//! | `simplex_ntf_notifications_received_auth` | `NMSG` for no subscription, or a token not active (`ntfReceivedAuth`) |
//! | `simplex_ntf_notifications_delivered` / `_failed` | message push outcome (`ntfDelivered` / `ntfFailed`) |
//! | `simplex_ntf_notifications_periodic_delivered` / `_failed` | periodic push outcome (`ntfCron*`) |
//! | `simplex_ntf_notifications_verification_queued` | verification push queued (`ntfVrfQueued`) |
//! | `simplex_ntf_notifications_verification_delivered` / `_failed` / `_invalid_tkn` | its outcome (`ntfVrf*`) |
//! | `simplex_ntf_notifications_*_own{server}` | the same for relays matching `own_server_domains` |
//! | `simplex_ntf_smp_subscription_active_sub_count_own{server}` / `_other` | `NSUB`s the relays confirmed, less those lost |
//! | `simplex_ntf_smp_subscription_pending_sub_count_own{server}` / `_other` | `NSUB`s sent and not answered yet |
//! | `simplex_ntf_smp_subscription_*_server_count_own{server}` / `_other` | relays with such subscriptions |
//! | `simplex_ntf_smp_sessions_count` | relays with a live connection (subscribed since the last disconnection) |
//! | `simplex_ntf_apns_push_queue_length` | pushes waiting in the push queue |
//! | `simplex_ntf_smp_service_subscription_active_sub_count_own{server}` / `_other`, `_server_count_*` | queues of the relays' service subscriptions (`SOKS` count, plus queues associated since; `activeServiceSubs`) |
//! | `simplex_ntf_smp_service_subscription_pending_sub_count_own{server}` / `_other`, `_server_count_*` | the count of a service subscription asked for and not answered yet (`pendingServiceSubs`): the store's count when `NSUBS` is to be sent (`subscribeServiceNtfs`), the held count once the session is lost (`removeClientAndSubs`); 0 on `SOKS` and when the service is unavailable |
//! | `simplex_ntf_smp_subscribers_count_own{server}` / `_other` | relays the subscriber has subscriptions on |
//! | `simplex_ntf_smp_agent_clients_count_own{server}` / `_other` | relays with a live connection |
//! | `simplex_ntf_tokens_count_{daily,weekly,monthly}` | tokens sent a message push (`activeTokens`, see [`super::period`]) |
//! | `simplex_ntf_subscriptions_count_{daily,weekly,monthly}` | queues an `NMSG` came for (`activeSubs`) |
//! | `simplex_ntf_tokens_total`, `_subscriptions_approx_total`, `_notifications_total` | the store's counts when the metrics are read (`getEntityCounts`) |
//! | `simplex_ntf_threads_total` | the process's OS threads (the reference counts its green threads) |
//! | `simplex_ntf_info{version,rts_options}` | always 1 |
//!
//! Ours, beyond the reference: `simplex_ntf_pushes{provider,kind,result}` (every push outcome
//! by provider, kind `verification`/`message`/`periodic` and result
//! `delivered`/`failed`/`invalid_token`).
//!
//! Not reported: `simplex_ntf_smp_agent_sub_workers_count_*` (no such workers here).

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{Encoder as _, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use smp_proto::server::SmpServer;

use super::period::PeriodStats;
use crate::ntf::{EntityCounts, PushKind, PushOutcome, SmpEvent};

/// Reads the store's counts (set by the shell, which holds the store).
pub type EntityCountsFn = Box<dyn Fn() -> Option<EntityCounts> + Send + Sync>;

/// `PushProvider::ApnsNull`'s name.
const NULL_PROVIDER: &str = "apns_null";

/// The counters and gauges of one server.
pub struct NtfMetrics {
    registry: Registry,
    own_domains: Vec<String>,
    tokens_created: IntCounter,
    tokens_verified: IntCounter,
    tokens_deleted: IntCounter,
    tokens_replaced: IntCounter,
    subs_created: IntCounter,
    subs_deleted: IntCounter,
    ntf_received: IntCounter,
    ntf_received_auth: IntCounter,
    ntf_received_auth_own: IntCounterVec,
    ntf_delivered: IntCounter,
    ntf_failed: IntCounter,
    ntf_received_own: IntCounterVec,
    ntf_delivered_own: IntCounterVec,
    ntf_failed_own: IntCounterVec,
    cron_delivered: IntCounter,
    cron_failed: IntCounter,
    vrf_queued: IntCounter,
    vrf_delivered: IntCounter,
    vrf_failed: IntCounter,
    /// Registered as the reference's, and as in 6.5.5.0 never incremented.
    _vrf_invalid: IntCounter,
    pushes: IntCounterVec,
    /// ours: journaled `NMSG`s of ended processes whose push had started (not pushed again)
    journal_unknown: IntCounter,
    active_own: IntGaugeVec,
    active_other: IntGauge,
    active_servers_own: IntGaugeVec,
    active_servers_other: IntGauge,
    pending_own: IntGaugeVec,
    pending_other: IntGauge,
    pending_servers_own: IntGaugeVec,
    pending_servers_other: IntGauge,
    sessions: IntGauge,
    push_queue: IntGauge,
    service_own: IntGaugeVec,
    service_other: IntGauge,
    service_servers_own: IntGaugeVec,
    service_servers_other: IntGauge,
    /// `smp_service_subscription_pending_{sub,server}_count_{own,other}`
    service_pending_own: IntGaugeVec,
    service_pending_other: IntGauge,
    service_pending_servers_own: IntGaugeVec,
    service_pending_servers_other: IntGauge,
    subscribers_own: IntGaugeVec,
    subscribers_other: IntGauge,
    clients_own: IntGaugeVec,
    clients_other: IntGauge,
    /// `tokens_count_{daily,weekly,monthly}`, `subscriptions_count_*`
    period_gauges: [IntGauge; 6],
    /// Held while the gauges are refreshed and read ([`Self::encode`]): the metrics file's writer
    /// and a scrape read at once, and a refresh from counts taken earlier must not overwrite a
    /// later one between its set and its read.
    encoding: std::sync::Mutex<()>,
    /// `tokens_total`, `subscriptions_approx_total`, `notifications_total`
    totals: [IntGauge; 3],
    threads: IntGauge,
    relays: Mutex<HashMap<SmpServer, RelaySubs>>,
    /// `activeTokens`
    pub active_tokens: PeriodStats,
    /// `activeSubs`
    pub active_subs: PeriodStats,
    entity_counts: Mutex<Option<EntityCountsFn>>,
    started: Mutex<std::time::SystemTime>,
}

/// The counters the control port's `stats` prints (`NtfServerStats`), since the start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub tkn_created: u64,
    pub tkn_verified: u64,
    pub tkn_deleted: u64,
    pub tkn_replaced: u64,
    pub sub_created: u64,
    pub sub_deleted: u64,
    pub ntf_received: u64,
    pub ntf_received_auth: u64,
    pub ntf_delivered: u64,
    pub ntf_failed: u64,
    pub ntf_cron_delivered: u64,
    pub ntf_cron_failed: u64,
    pub ntf_vrf_queued: u64,
    pub ntf_vrf_delivered: u64,
    pub ntf_vrf_failed: u64,
    pub ntf_vrf_invalid_tkn: u64,
}

/// What the control port's `server-info` prints of the relays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelayInfo {
    /// Own relays (by host) with a live connection, and the count of other ones.
    pub clients: (Vec<String>, usize),
    /// Own relays with subscriptions, and the count of other ones.
    pub subscribers: (Vec<String>, usize),
    /// Live connections.
    pub sessions: usize,
    /// Service, active queue and pending queue subscriptions: (own host -> count, other
    /// relays, other relays' count).
    pub service: (Vec<(String, i64)>, usize, i64),
    pub active: (Vec<(String, i64)>, usize, i64),
    pub pending: (Vec<(String, i64)>, usize, i64),
    /// Pushes waiting.
    pub push_queue: i64,
}

fn len<T>(v: &[T]) -> i64 {
    i64::try_from(v.len()).unwrap_or(i64::MAX)
}

/// What the shell knows of one relay's subscriptions.
#[derive(Default)]
struct RelaySubs {
    active: i64,
    pending: i64,
    service: i64,
    /// the count of the service subscription asked for (`pendingServiceSubs`' count)
    service_pending: i64,
    connected: bool,
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    r.register(Box::new(c.clone())).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    c
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    r.register(Box::new(c.clone())).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    r.register(Box::new(g.clone())).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    g
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    r.register(Box::new(g.clone())).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    g
}

impl NtfMetrics {
    /// New metrics; relays whose host ends with one of `own_domains` are reported by host.
    pub fn new(own_domains: Vec<String>) -> Self {
        let r = Registry::new();
        let p = "simplex_ntf_";
        let n = |s: &str| format!("{p}{s}");
        let info = gauge_vec(&r, &n("info"), "Server information", &["version", "rts_options"]);
        info.with_label_values(&[env!("CARGO_PKG_VERSION"), ""]).set(1);
        Self {
            tokens_created: counter(&r, &n("tokens_created"), "Tokens registered"),
            tokens_verified: counter(&r, &n("tokens_verified"), "Tokens verified"),
            tokens_deleted: counter(&r, &n("tokens_deleted"), "Tokens deleted"),
            tokens_replaced: counter(&r, &n("tokens_replaced"), "Tokens replaced"),
            subs_created: counter(&r, &n("subscriptions_created"), "Subscriptions created"),
            subs_deleted: counter(&r, &n("subscriptions_deleted"), "Subscriptions deleted"),
            ntf_received: counter(&r, &n("notifications_received"), "Notifications received from relays"),
            ntf_received_auth: counter(&r, &n("notifications_received_auth"), "Received notifications without token or subscription (AUTH error)"),
            ntf_received_auth_own: counter_vec(&r, &n("notifications_received_auth_own"), "Received notifications without token or subscription (AUTH error)", &["server"]),
            ntf_delivered: counter(&r, &n("notifications_delivered"), "Notifications pushed"),
            ntf_failed: counter(&r, &n("notifications_failed"), "Notification pushes that failed"),
            ntf_received_own: counter_vec(&r, &n("notifications_received_own"), "Notifications received from own relays", &["server"]),
            ntf_delivered_own: counter_vec(&r, &n("notifications_delivered_own"), "Notifications from own relays pushed", &["server"]),
            ntf_failed_own: counter_vec(&r, &n("notifications_failed_own"), "Notifications from own relays not pushed", &["server"]),
            cron_delivered: counter(&r, &n("notifications_periodic_delivered"), "Periodic pushes delivered"),
            cron_failed: counter(&r, &n("notifications_periodic_failed"), "Periodic pushes that failed"),
            vrf_queued: counter(&r, &n("notifications_verification_queued"), "Verification pushes queued"),
            vrf_delivered: counter(&r, &n("notifications_verification_delivered"), "Verification pushes delivered"),
            vrf_failed: counter(&r, &n("notifications_verification_failed"), "Verification pushes that failed"),
            _vrf_invalid: counter(&r, &n("notifications_verification_invalid_tkn"), "Verification pushes refused for an invalid token"),
            pushes: counter_vec(&r, &n("pushes"), "Push outcomes by provider, kind and result", &["provider", "kind", "result"]),
            journal_unknown: counter(&r, &n("journal_push_outcome_unknown"), "Journaled notifications of ended instances whose push had started: not pushed again (several instances)"),
            active_own: gauge_vec(&r, &n("smp_subscription_active_sub_count_own"), "Active SMP subscriptions on own relays", &["server"]),
            active_other: gauge(&r, &n("smp_subscription_active_sub_count_other"), "Active SMP subscriptions on other relays"),
            active_servers_own: gauge_vec(&r, &n("smp_subscription_active_server_count_own"), "Own relays with active SMP subscriptions", &["server"]),
            active_servers_other: gauge(&r, &n("smp_subscription_active_server_count_other"), "Other relays with active SMP subscriptions"),
            pending_own: gauge_vec(&r, &n("smp_subscription_pending_sub_count_own"), "Pending SMP subscriptions on own relays", &["server"]),
            pending_other: gauge(&r, &n("smp_subscription_pending_sub_count_other"), "Pending SMP subscriptions on other relays"),
            pending_servers_own: gauge_vec(&r, &n("smp_subscription_pending_server_count_own"), "Own relays with pending SMP subscriptions", &["server"]),
            pending_servers_other: gauge(&r, &n("smp_subscription_pending_server_count_other"), "Other relays with pending SMP subscriptions"),
            sessions: gauge(&r, &n("smp_sessions_count"), "Relays with a live connection"),
            push_queue: gauge(&r, &n("apns_push_queue_length"), "Pushes waiting in the push queue"),
            service_own: gauge_vec(&r, &n("smp_service_subscription_active_sub_count_own"), "Active SMP subscriptions count for own servers", &["server"]),
            service_other: gauge(&r, &n("smp_service_subscription_active_sub_count_other"), "Active SMP subscriptions count for other servers"),
            service_servers_own: gauge_vec(&r, &n("smp_service_subscription_active_server_count_own"), "Active SMP subscriptions, own server count", &["server"]),
            service_servers_other: gauge(&r, &n("smp_service_subscription_active_server_count_other"), "Active SMP subscriptions, other server count"),
            service_pending_own: gauge_vec(&r, &n("smp_service_subscription_pending_sub_count_own"), "Pending SMP subscriptions count for own servers", &["server"]),
            service_pending_other: gauge(&r, &n("smp_service_subscription_pending_sub_count_other"), "Pending SMP subscriptions count for other servers"),
            service_pending_servers_own: gauge_vec(&r, &n("smp_service_subscription_pending_server_count_own"), "Pending SMP subscriptions, own server count", &["server"]),
            service_pending_servers_other: gauge(&r, &n("smp_service_subscription_pending_server_count_other"), "Pending SMP subscriptions, other server count"),
            subscribers_own: gauge_vec(&r, &n("smp_subscribers_count_own"), "SMP subcscribers count for own servers", &["server"]),
            subscribers_other: gauge(&r, &n("smp_subscribers_count_other"), "SMP subcscribers count for other servers"),
            clients_own: gauge_vec(&r, &n("smp_agent_clients_count_own"), "SMP agent clients count for own servers", &["server"]),
            clients_other: gauge(&r, &n("smp_agent_clients_count_other"), "SMP agent clients count for other servers"),
            encoding: std::sync::Mutex::new(()),
            period_gauges: [
                gauge(&r, &n("tokens_count_daily"), "Daily active tokens"),
                gauge(&r, &n("tokens_count_weekly"), "Weekly active tokens"),
                gauge(&r, &n("tokens_count_monthly"), "Monthly active tokens"),
                gauge(&r, &n("subscriptions_count_daily"), "Daily subscriptions count"),
                gauge(&r, &n("subscriptions_count_weekly"), "Weekly subscriptions count"),
                gauge(&r, &n("subscriptions_count_monthly"), "Monthly subscriptions count"),
            ],
            totals: [
                gauge(&r, &n("tokens_total"), "Total number of tokens stored."),
                gauge(&r, &n("subscriptions_approx_total"), "Approximate total number of subscriptions stored."),
                gauge(&r, &n("notifications_total"), "Total number of last notifications stored."),
            ],
            threads: gauge(&r, &n("threads_total"), "Thread count"),
            relays: Mutex::new(HashMap::new()),
            active_tokens: PeriodStats::default(),
            active_subs: PeriodStats::default(),
            entity_counts: Mutex::new(None),
            started: Mutex::new(std::time::SystemTime::now()),
            own_domains,
            registry: r,
        }
    }

    /// The relay's host when it is an own relay (`ownServerDomains`: a host ending with one of
    /// the suffixes).
    fn own_host(&self, server: &SmpServer) -> Option<String> {
        let hosts: Vec<String> = server.hosts().iter().map(ToString::to_string).collect();
        hosts.into_iter().find(|h| self.own_domains.iter().any(|d| h.ends_with(d.as_str())))
    }

    /// A command (its bytes: the tag first) and its answer.
    pub fn command(&self, command: &[u8], response: &ntf_proto::response::NtfResponse) {
        use ntf_proto::response::NtfResponse as R;
        let tag = command.get(..4).unwrap_or_default();
        match (tag, response) {
            // `TNEW T` (the `NewNtfEntity` tag of a token) then the device token, its provider
            // code first; `incNtfStatT` leaves out the null provider (for the other commands
            // the shell does not see the token)
            (b"TNEW", R::IdTkn { .. }) if command.get(6..8) != Some(b"AN".as_slice()) => self.tokens_created.inc(),
            (b"TVFY", R::Ok) => self.tokens_verified.inc(),
            (b"TDEL", R::Ok) => self.tokens_deleted.inc(),
            (b"TRPL", R::Ok) => self.tokens_replaced.inc(),
            (b"SNEW", R::IdSub(_)) => self.subs_created.inc(),
            (b"SDEL", R::Ok) => self.subs_deleted.inc(),
            _ => {}
        }
    }

    /// A journaled `NMSG` of an ended process whose push had started was not pushed again.
    pub fn journal_outcome_unknown(&self) {
        self.journal_unknown.inc();
    }

    /// A push was queued.
    pub fn push_queued(&self, provider: &str, kind: PushKind) {
        if kind == PushKind::Verification && provider != NULL_PROVIDER {
            self.vrf_queued.inc();
        }
    }

    /// A push's outcome; `relay` is the relay of a message notification, when known.
    pub fn push_result(&self, provider: &str, kind: PushKind, outcome: &PushOutcome, relay: Option<&SmpServer>) {
        let ok = matches!(outcome, PushOutcome::Delivered);
        let result = match outcome {
            PushOutcome::Delivered => "delivered",
            PushOutcome::InvalidToken(_) => "invalid_token",
            PushOutcome::Failed => "failed",
        };
        let kind_name = match kind {
            PushKind::Verification => "verification",
            PushKind::Messages => "message",
            PushKind::CheckMessages => "periodic",
        };
        self.pushes.with_label_values(&[provider, kind_name, result]).inc();
        // `incNtfStatT`: the reference's counters leave out the null provider's tokens
        if provider == NULL_PROVIDER {
            return;
        }
        match kind {
            // `runPushWorker` counts any failure as `ntfVrfFailed`; 6.5.5.0 never increments
            // `ntfVrfInvalidTkn`, so neither do we
            PushKind::Verification => {
                if ok {
                    self.vrf_delivered.inc();
                } else {
                    self.vrf_failed.inc();
                }
            }
            PushKind::Messages => {
                if ok {
                    self.ntf_delivered.inc();
                } else {
                    self.ntf_failed.inc();
                }
                if let Some(host) = relay.and_then(|s| self.own_host(s)) {
                    let c = if ok { &self.ntf_delivered_own } else { &self.ntf_failed_own };
                    c.with_label_values(&[host.as_str()]).inc();
                }
            }
            PushKind::CheckMessages => {
                if ok {
                    self.cron_delivered.inc();
                } else {
                    self.cron_failed.inc();
                }
            }
        }
    }

    /// An SMP event, before the core applies it.
    pub fn smp_event(&self, event: &SmpEvent) {
        // (relay, change of active, change of pending, connected now?, active lost)
        let (server, active, pending, connected, lost) = match event {
            SmpEvent::Message { queue, .. } => {
                // `receiveSMP`: every NMSG is an active subscription; received or
                // received_auth is known after the core ([`NtfMetrics::message_result`])
                self.active_subs.update(queue.notifier_id());
                return;
            }
            SmpEvent::End { queue } | SmpEvent::Deleted { queue } => (&queue.server, -1, 0, None, false),
            SmpEvent::Pending { server, notifier_ids } => (server, 0, len(notifier_ids), None, false),
            SmpEvent::Subscribed { server, notifier_ids } => (server, len(notifier_ids), -len(notifier_ids), Some(true), false),
            SmpEvent::SubscriptionErrors { server, errors } => (server, 0, -len(errors), None, false),
            SmpEvent::Disconnected { server, .. } => (server, 0, 0, Some(false), true),
            // held by the service subscription from now on: no longer pending, and not queue
            // subscriptions (the reference counts them in activeServiceSubs, not activeQueueSubs)
            SmpEvent::ServiceAssociated { server, notifier_ids, .. } => {
                self.relay(server, |r| r.service += len(notifier_ids));
                (server, 0, -len(notifier_ids), Some(true), false)
            }
            // `processSubscription`: active with the relay's count, no longer pending
            SmpEvent::ServiceSubscribed { server, count, .. } => {
                self.relay(server, |r| {
                    r.service = i64::try_from(*count).unwrap_or(i64::MAX);
                    r.service_pending = 0;
                });
                (server, 0, 0, Some(true), false)
            }
            // `removeClientAndSubs`' `updateServiceSub`: the held count is pending again
            SmpEvent::ServiceDisconnected { server } => {
                self.relay(server, |r| {
                    if r.service > 0 {
                        r.service_pending = r.service;
                    }
                    r.service = 0;
                });
                (server, 0, 0, Some(false), false)
            }
            // `notifyUnavailable`
            SmpEvent::ServiceUnavailable { server } => {
                self.relay(server, |r| {
                    r.service = 0;
                    r.service_pending = 0;
                });
                (server, 0, 0, None, false)
            }
            SmpEvent::ServiceEnded { server, .. } => {
                self.relay(server, |r| r.service = 0);
                (server, 0, 0, None, false)
            }
        };
        let mut relays = self.relays.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let r = relays.entry(server.clone()).or_default();
        r.active = if lost { 0 } else { (r.active + active).max(0) };
        r.pending = (r.pending + pending).max(0);
        if let Some(c) = connected {
            r.connected = c;
        }
        self.publish_relays(&relays);
    }

    fn relay(&self, server: &SmpServer, f: impl FnOnce(&mut RelaySubs)) {
        let mut relays = self.relays.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(relays.entry(server.clone()).or_default());
    }

    /// [`NtfMetrics::relay`], then the gauges published.
    fn update_relay(&self, server: &SmpServer, f: impl FnOnce(&mut RelaySubs)) {
        let mut relays = self.relays.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(relays.entry(server.clone()).or_default());
        self.publish_relays(&relays);
    }

    /// A service subscription of `count` associated queues is asked for on `server`
    /// (`subscribeServiceNtfs`' `setPendingServiceSub`).
    pub fn service_pending(&self, server: &SmpServer, count: u64) {
        self.update_relay(server, |r| r.service_pending = i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The core removed the service association of `server` (`removeServiceAssociation`, or
    /// our fallback on a smaller `SOKS` count): its queues are subscribed one by one from now
    /// on, and counted as queue subscriptions.
    pub fn service_removed(&self, server: &SmpServer) {
        self.update_relay(server, |r| {
            r.service = 0;
            r.service_pending = 0;
        });
    }

    /// What the core made of an `NMSG` from `server` (`addTokenLastNtf`): `pushed` when it
    /// was for a subscription of an active token (`ntfReceived`), else `ntfReceivedAuth`.
    pub fn message_result(&self, server: &SmpServer, pushed: bool) {
        let (all, own) = if pushed {
            (&self.ntf_received, &self.ntf_received_own)
        } else {
            (&self.ntf_received_auth, &self.ntf_received_auth_own)
        };
        all.inc();
        if let Some(host) = self.own_host(server) {
            own.with_label_values(&[host.as_str()]).inc();
        }
    }

    /// A message push is going to `token_id` (`activeTokens`).
    pub fn token_active(&self, token_id: &[u8]) {
        self.active_tokens.update(token_id);
    }

    /// Where [`NtfMetrics::encode`] reads the store totals from.
    pub fn set_entity_counts(&self, f: EntityCountsFn) {
        *self.entity_counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(f);
    }

    /// When the counters started (`fromTime`).
    pub fn started(&self) -> std::time::SystemTime {
        *self.started.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The `_own{server}` counters (received, received_auth, delivered, failed), by host.
    pub fn own_stats(&self) -> [Vec<(String, u64)>; 4] {
        [&self.ntf_received_own, &self.ntf_received_auth_own, &self.ntf_delivered_own, &self.ntf_failed_own].map(|c| {
            use prometheus::core::Collector as _;
            let mut v: Vec<(String, u64)> = c
                .collect()
                .iter()
                .flat_map(|f| f.get_metric().iter())
                .filter_map(|m| Some((m.get_label().first()?.value().to_string(), m.get_counter().get_value() as u64)))
                .collect();
            v.sort();
            v
        })
    }

    /// `setNtfServerStats`: the counters saved by a previous run, on a fresh start.
    pub fn restore(&self, saved: &super::stats_file::Saved) {
        if let Some(t) = saved.from {
            *self.started.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = t;
        }
        let s = &saved.stats;
        for (c, v) in [
            (&self.tokens_created, s.tkn_created),
            (&self.tokens_verified, s.tkn_verified),
            (&self.tokens_deleted, s.tkn_deleted),
            (&self.tokens_replaced, s.tkn_replaced),
            (&self.subs_created, s.sub_created),
            (&self.subs_deleted, s.sub_deleted),
            (&self.ntf_received, s.ntf_received),
            (&self.ntf_received_auth, s.ntf_received_auth),
            (&self.ntf_delivered, s.ntf_delivered),
            (&self.ntf_failed, s.ntf_failed),
            (&self.cron_delivered, s.ntf_cron_delivered),
            (&self.cron_failed, s.ntf_cron_failed),
            (&self.vrf_queued, s.ntf_vrf_queued),
            (&self.vrf_delivered, s.ntf_vrf_delivered),
            (&self.vrf_failed, s.ntf_vrf_failed),
            (&self._vrf_invalid, s.ntf_vrf_invalid_tkn),
        ] {
            c.inc_by(v);
        }
        let own = [&self.ntf_received_own, &self.ntf_received_auth_own, &self.ntf_delivered_own, &self.ntf_failed_own];
        for (c, saved) in own.into_iter().zip(&saved.own) {
            for (host, v) in saved {
                c.with_label_values(&[host.as_str()]).inc_by(*v);
            }
        }
        self.active_tokens.restore(&saved.hashes[0]);
        self.active_subs.restore(&saved.hashes[1]);
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        Stats {
            tkn_created: self.tokens_created.get(),
            tkn_verified: self.tokens_verified.get(),
            tkn_deleted: self.tokens_deleted.get(),
            tkn_replaced: self.tokens_replaced.get(),
            sub_created: self.subs_created.get(),
            sub_deleted: self.subs_deleted.get(),
            ntf_received: self.ntf_received.get(),
            ntf_received_auth: self.ntf_received_auth.get(),
            ntf_delivered: self.ntf_delivered.get(),
            ntf_failed: self.ntf_failed.get(),
            ntf_cron_delivered: self.cron_delivered.get(),
            ntf_cron_failed: self.cron_failed.get(),
            ntf_vrf_queued: self.vrf_queued.get(),
            ntf_vrf_delivered: self.vrf_delivered.get(),
            ntf_vrf_failed: self.vrf_failed.get(),
            ntf_vrf_invalid_tkn: self._vrf_invalid.get(),
        }
    }

    /// The relays now (`getNtfRealTimeMetrics`).
    pub fn relay_info(&self) -> RelayInfo {
        let relays = self.relays.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut info = RelayInfo { push_queue: self.push_queue.get(), ..RelayInfo::default() };
        let add = |t: &mut (Vec<(String, i64)>, usize, i64), own: &Option<String>, n: i64| match own {
            Some(h) if n > 0 => t.0.push((h.clone(), n)),
            None if n > 0 => {
                t.1 += 1;
                t.2 += n;
            }
            _ => {}
        };
        for (server, r) in relays.iter() {
            let own = self.own_host(server);
            info.sessions += usize::from(r.connected);
            for (t, on) in [(&mut info.clients, r.connected), (&mut info.subscribers, r.active + r.pending + r.service > 0)] {
                match (&own, on) {
                    (Some(h), true) => t.0.push(h.clone()),
                    (None, true) => t.1 += 1,
                    _ => {}
                }
            }
            add(&mut info.service, &own, r.service);
            add(&mut info.active, &own, r.active);
            add(&mut info.pending, &own, r.pending);
        }
        info
    }

    fn publish_relays(&self, relays: &HashMap<SmpServer, RelaySubs>) {
        let (mut active_other, mut pending_other, mut active_srv, mut pending_srv, mut sessions) = (0, 0, 0, 0, 0);
        let (mut service_other, mut service_srv, mut subscribers, mut clients) = (0, 0, 0, 0);
        let (mut service_pending_other, mut service_pending_srv) = (0, 0);
        for (server, r) in relays {
            sessions += i64::from(r.connected);
            let subscribed = r.active + r.pending + r.service > 0;
            match self.own_host(server) {
                Some(host) => {
                    self.service_own.with_label_values(&[host.as_str()]).set(r.service);
                    self.service_servers_own.with_label_values(&[host.as_str()]).set(i64::from(r.service > 0));
                    self.service_pending_own.with_label_values(&[host.as_str()]).set(r.service_pending);
                    self.service_pending_servers_own.with_label_values(&[host.as_str()]).set(i64::from(r.service_pending > 0));
                    self.subscribers_own.with_label_values(&[host.as_str()]).set(i64::from(subscribed));
                    self.clients_own.with_label_values(&[host.as_str()]).set(i64::from(r.connected));
                    self.active_own.with_label_values(&[host.as_str()]).set(r.active);
                    self.pending_own.with_label_values(&[host.as_str()]).set(r.pending);
                    self.active_servers_own.with_label_values(&[host.as_str()]).set(i64::from(r.active > 0));
                    self.pending_servers_own.with_label_values(&[host.as_str()]).set(i64::from(r.pending > 0));
                }
                None => {
                    service_other += r.service;
                    service_srv += i64::from(r.service > 0);
                    service_pending_other += r.service_pending;
                    service_pending_srv += i64::from(r.service_pending > 0);
                    subscribers += i64::from(subscribed);
                    clients += i64::from(r.connected);
                    active_other += r.active;
                    pending_other += r.pending;
                    active_srv += i64::from(r.active > 0);
                    pending_srv += i64::from(r.pending > 0);
                }
            }
        }
        self.active_other.set(active_other);
        self.pending_other.set(pending_other);
        self.active_servers_other.set(active_srv);
        self.pending_servers_other.set(pending_srv);
        self.sessions.set(sessions);
        self.service_other.set(service_other);
        self.service_servers_other.set(service_srv);
        self.service_pending_other.set(service_pending_other);
        self.service_pending_servers_other.set(service_pending_srv);
        self.subscribers_other.set(subscribers);
        self.clients_other.set(clients);
    }

    /// The gauges read when the metrics are: the period counts, the store totals, threads.
    fn refresh(&self) {
        let g = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        let (td, tw, tm) = self.active_tokens.counts();
        let (sd, sw, sm) = self.active_subs.counts();
        for (gauge, v) in self.period_gauges.iter().zip([td, tw, tm, sd, sw, sm]) {
            gauge.set(g(v));
        }
        let counts = self.entity_counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().and_then(|f| f());
        if let Some(c) = counts {
            for (gauge, v) in self.totals.iter().zip([c.tokens, c.subscriptions, c.last_notifications]) {
                gauge.set(i64::try_from(v).unwrap_or(i64::MAX));
            }
        }
        if let Some(n) = os_threads() {
            self.threads.set(n);
        }
    }

    /// The push queue length now.
    pub fn set_push_queue(&self, len: usize) {
        self.push_queue.set(i64::try_from(len).unwrap_or(i64::MAX));
    }

    /// The text exposition (Prometheus text format 0.0.4).
    pub fn encode(&self) -> String {
        let _one_at_a_time = self.encoding.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.refresh();
        let mut buf = Vec::new();
        // encoding our own registry into a Vec cannot fail
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The `Threads:` line of `/proc/self/status` (Linux).
fn os_threads() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntf_proto::response::NtfResponse;

    fn value(text: &str, series: &str) -> Option<i64> {
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counts_commands_pushes_and_relay_events_under_the_reference_names() {
        let m = NtfMetrics::new(vec!["simplex.im".into()]);
        m.command(b"TNEW TAP...", &NtfResponse::IdTkn { id: ntf_proto::command::NtfEntityId::new(vec![1; 24]).unwrap(), dh_key: smp_proto::keys::X25519PublicKey([9; 32]) });
        m.command(b"TVFY x", &NtfResponse::Ok);
        m.command(b"TVFY x", &NtfResponse::Err(smp_proto::error_type::ErrorType::Auth));
        m.command(b"SNEW", &NtfResponse::IdSub(ntf_proto::command::NtfEntityId::new(vec![2; 24]).unwrap()));
        m.command(b"SDEL", &NtfResponse::Ok);
        m.push_queued("apns_test", PushKind::Verification);
        m.push_queued("apns_null", PushKind::Verification);
        m.push_result("apns_null", PushKind::Verification, &PushOutcome::Delivered, None);
        m.command(b"TNEW TAN...", &NtfResponse::IdTkn { id: ntf_proto::command::NtfEntityId::new(vec![3; 24]).unwrap(), dh_key: smp_proto::keys::X25519PublicKey([9; 32]) });
        m.push_result("apns_test", PushKind::Verification, &PushOutcome::Delivered, None);
        let own: SmpServer = SmpServer::parse_text(b"smp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@smp1.simplex.im").unwrap();
        let other: SmpServer = SmpServer::parse_text(b"smp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@relay.example").unwrap();
        m.push_result("apns_prod", PushKind::Messages, &PushOutcome::Failed, Some(&own));
        m.smp_event(&SmpEvent::Pending { server: other.clone(), notifier_ids: vec![vec![1], vec![2], vec![3]] });
        m.smp_event(&SmpEvent::Subscribed { server: other.clone(), notifier_ids: vec![vec![1], vec![2]] });
        m.smp_event(&SmpEvent::Pending { server: own.clone(), notifier_ids: vec![vec![4]] });
        let t = m.encode();
        for (series, want) in [
            ("simplex_ntf_tokens_created", 1),
            ("simplex_ntf_tokens_verified", 1),
            ("simplex_ntf_subscriptions_created", 1),
            ("simplex_ntf_subscriptions_deleted", 1),
            ("simplex_ntf_notifications_verification_queued", 1),
            ("simplex_ntf_notifications_verification_delivered", 1),
            ("simplex_ntf_notifications_failed", 1),
            ("simplex_ntf_notifications_failed_own{server=\"smp1.simplex.im\"}", 1),
            ("simplex_ntf_pushes{kind=\"message\",provider=\"apns_prod\",result=\"failed\"}", 1),
            ("simplex_ntf_smp_subscription_active_sub_count_other", 2),
            ("simplex_ntf_smp_subscription_pending_sub_count_other", 1),
            ("simplex_ntf_smp_subscription_pending_sub_count_own{server=\"smp1.simplex.im\"}", 1),
            ("simplex_ntf_smp_sessions_count", 1),
        ] {
            assert_eq!(value(&t, series), Some(want), "{series}\n{t}");
        }
        assert!(t.contains("# TYPE simplex_ntf_tokens_created counter"), "{t}");
        // NMSGs: one pushed, one for no subscription (AUTH); two queues active, one token
        let q = |n: u8| ntf_proto::queue::SmpQueueNtf::new(own.clone(), vec![n; 24]).unwrap();
        for n in [1, 2, 1] {
            m.smp_event(&SmpEvent::Message { queue: q(n), nonce: [0; 24], enc_meta: vec![] });
        }
        m.message_result(&own, true);
        m.message_result(&own, false);
        m.message_result(&other, false);
        m.token_active(b"t1");
        m.token_active(b"t1");
        m.smp_event(&SmpEvent::ServiceSubscribed { server: other.clone(), service_id: vec![1], count: 7 });
        let t = m.encode();
        for (series, want) in [
            ("simplex_ntf_notifications_received", 1),
            ("simplex_ntf_notifications_received_own{server=\"smp1.simplex.im\"}", 1),
            ("simplex_ntf_notifications_received_auth", 2),
            ("simplex_ntf_notifications_received_auth_own{server=\"smp1.simplex.im\"}", 1),
            ("simplex_ntf_subscriptions_count_daily", 2),
            ("simplex_ntf_tokens_count_monthly", 1),
            ("simplex_ntf_smp_service_subscription_active_sub_count_other", 7),
            ("simplex_ntf_smp_agent_clients_count_other", 1),
            ("simplex_ntf_smp_subscribers_count_own{server=\"smp1.simplex.im\"}", 1),
        ] {
            assert_eq!(value(&t, series), Some(want), "{series}\n{t}");
        }
        let info = m.relay_info();
        assert_eq!(info.pending, (vec![("smp1.simplex.im".to_string(), 1)], 1, 1));
        assert_eq!((info.service.1, info.service.2, info.sessions), (1, 7, 1));
        assert_eq!(m.stats().ntf_received_auth, 2);
        m.smp_event(&SmpEvent::Disconnected { server: other, notifier_ids: vec![] });
        let t = m.encode();
        assert_eq!(value(&t, "simplex_ntf_smp_subscription_active_sub_count_other"), Some(0));
        assert_eq!(value(&t, "simplex_ntf_smp_sessions_count"), Some(0));
    }

    /// The reference's `ntfActiveServiceSubs` / `ntfPendingServiceSubs` through a service
    /// subscription's life: asked for, confirmed by `SOKS`, grown by service-signed `NSUB`s,
    /// session lost, confirmed again, unavailable, association removed.
    #[test]
    fn service_subscription_gauges_follow_the_reference_agent() {
        let m = NtfMetrics::new(vec!["simplex.im".into()]);
        let own: SmpServer = SmpServer::parse_text(b"smp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@smp1.simplex.im").unwrap();
        let other: SmpServer = SmpServer::parse_text(b"smp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@relay.example").unwrap();
        let p = "simplex_ntf_smp_service_subscription_";
        let own_l = "{server=\"smp1.simplex.im\"}";
        let get = |t: &str, s: &str| value(t, &format!("{p}{s}"));
        m.service_pending(&other, 5);
        m.service_pending(&own, 2);
        let t = m.encode();
        assert_eq!(get(&t, "pending_sub_count_other"), Some(5), "{t}");
        assert_eq!(get(&t, "pending_server_count_other"), Some(1));
        assert_eq!(get(&t, &format!("pending_sub_count_own{own_l}")), Some(2));
        assert_eq!(get(&t, &format!("pending_server_count_own{own_l}")), Some(1));
        assert_eq!(get(&t, "active_sub_count_other"), Some(0));
        // SOKS 6 (one more than the store's): the relay's count is what is active
        m.smp_event(&SmpEvent::ServiceSubscribed { server: other.clone(), service_id: b"s".to_vec(), count: 6 });
        m.smp_event(&SmpEvent::ServiceAssociated { server: other.clone(), service_id: b"s".to_vec(), notifier_ids: vec![vec![1], vec![2]] });
        let t = m.encode();
        assert_eq!(get(&t, "active_sub_count_other"), Some(8), "{t}");
        assert_eq!(get(&t, "active_server_count_other"), Some(1));
        assert_eq!(get(&t, "pending_sub_count_other"), Some(0));
        assert_eq!(get(&t, "pending_server_count_other"), Some(0));
        // the session lost: pending again with the count held
        m.smp_event(&SmpEvent::ServiceDisconnected { server: other.clone() });
        let t = m.encode();
        assert_eq!((get(&t, "active_sub_count_other"), get(&t, "pending_sub_count_other")), (Some(0), Some(8)), "{t}");
        m.smp_event(&SmpEvent::ServiceSubscribed { server: other.clone(), service_id: b"s".to_vec(), count: 8 });
        m.smp_event(&SmpEvent::ServiceUnavailable { server: own.clone() });
        let t = m.encode();
        assert_eq!((get(&t, "active_sub_count_other"), get(&t, "pending_sub_count_other")), (Some(8), Some(0)), "{t}");
        assert_eq!(get(&t, &format!("pending_sub_count_own{own_l}")), Some(0));
        m.service_removed(&other);
        let t = m.encode();
        assert_eq!((get(&t, "active_sub_count_other"), get(&t, "active_server_count_other")), (Some(0), Some(0)), "{t}");
        assert!(t.contains(&format!("# TYPE {p}pending_sub_count_other gauge")), "{t}");
    }
}
