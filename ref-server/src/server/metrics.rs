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
//! | `simplex_ntf_notifications_received` | `NMSG` from a relay (`ntfReceived`) |
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
//! | `simplex_ntf_info{version,rts_options}` | always 1 |
//!
//! Ours, beyond the reference: `simplex_ntf_pushes{provider,kind,result}` (every push outcome
//! by provider, kind `verification`/`message`/`periodic` and result
//! `delivered`/`failed`/`invalid_token`).
//!
//! Not (yet) reported: the daily/weekly/monthly active counts (`PeriodStats`), the store totals
//! (`tokens_total`, `subscriptions_approx_total`, `notifications_total`),
//! `notifications_received_auth`, thread counts.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{Encoder as _, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use smp_proto::server::SmpServer;

use crate::ntf::{PushKind, PushOutcome, SmpEvent};

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
    relays: Mutex<HashMap<SmpServer, RelaySubs>>,
}

fn len<T>(v: &[T]) -> i64 {
    i64::try_from(v.len()).unwrap_or(i64::MAX)
}

/// What the shell knows of one relay's subscriptions.
#[derive(Default)]
struct RelaySubs {
    active: i64,
    pending: i64,
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
            relays: Mutex::new(HashMap::new()),
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
                self.ntf_received.inc();
                if let Some(host) = self.own_host(&queue.server) {
                    self.ntf_received_own.with_label_values(&[host.as_str()]).inc();
                }
                return;
            }
            SmpEvent::End { queue } | SmpEvent::Deleted { queue } => (&queue.server, -1, 0, None, false),
            SmpEvent::Pending { server, notifier_ids } => (server, 0, len(notifier_ids), None, false),
            SmpEvent::Subscribed { server, notifier_ids } => (server, len(notifier_ids), -len(notifier_ids), Some(true), false),
            SmpEvent::SubscriptionErrors { server, errors } => (server, 0, -len(errors), None, false),
            SmpEvent::Disconnected { server, .. } => (server, 0, 0, Some(false), true),
            // held by the service subscription from now on: no longer pending, and not queue
            // subscriptions (the reference counts them in activeServiceSubs, not activeQueueSubs)
            SmpEvent::ServiceAssociated { server, notifier_ids, .. } => (server, 0, -len(notifier_ids), Some(true), false),
            SmpEvent::ServiceSubscribed { server, .. } => (server, 0, 0, Some(true), false),
            SmpEvent::ServiceDisconnected { server } => (server, 0, 0, Some(false), false),
            SmpEvent::ServiceUnavailable { .. } | SmpEvent::ServiceEnded { .. } => return,
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

    fn publish_relays(&self, relays: &HashMap<SmpServer, RelaySubs>) {
        let (mut active_other, mut pending_other, mut active_srv, mut pending_srv, mut sessions) = (0, 0, 0, 0, 0);
        for (server, r) in relays {
            sessions += i64::from(r.connected);
            match self.own_host(server) {
                Some(host) => {
                    self.active_own.with_label_values(&[host.as_str()]).set(r.active);
                    self.pending_own.with_label_values(&[host.as_str()]).set(r.pending);
                    self.active_servers_own.with_label_values(&[host.as_str()]).set(i64::from(r.active > 0));
                    self.pending_servers_own.with_label_values(&[host.as_str()]).set(i64::from(r.pending > 0));
                }
                None => {
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
    }

    /// The push queue length now.
    pub fn set_push_queue(&self, len: usize) {
        self.push_queue.set(i64::try_from(len).unwrap_or(i64::MAX));
    }

    /// The text exposition (Prometheus text format 0.0.4).
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        // encoding our own registry into a Vec cannot fail
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
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
        m.smp_event(&SmpEvent::Disconnected { server: other, notifier_ids: vec![] });
        let t = m.encode();
        assert_eq!(value(&t, "simplex_ntf_smp_subscription_active_sub_count_other"), Some(0));
        assert_eq!(value(&t, "simplex_ntf_smp_sessions_count"), Some(0));
    }
}
