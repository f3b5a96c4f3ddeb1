//! Service subscriptions in the core (the reference's `subscribeSrvSubs` with a service, and
//! the `CAService*` events of `ntfSubscriber`'s `receiveAgent`).
//!
//! A relay that speaks SMP v16+ accepts the notification server's TLS certificate as a
//! *service*: `NSUB` signed in a service session associates the queue with the service
//! (`SOK <service id>`), and one `NSUBS` later subscribes every associated queue
//! (`SOKS <count>`). The store keeps, per relay, the service id and which subscriptions are
//! associated ([`Store::server_service`]).
//!
//! The rules here:
//! - at start, a relay with a stored service id gets one [`Effect::SmpSubscribeService`] with the
//!   store's count; its associated subscriptions are not paged out one by one;
//! - `SOKS n` confirms the service subscription when the service id is the stored one and `n`
//!   is at least the store's count of associated subscriptions (in the statuses that should be
//!   subscribed). A larger `n` is expected: `SDEL` and `TDEL` delete subscriptions here, but
//!   only the app's `NDEL` (a recipient command) removes the queue's association at the relay,
//!   which keeps counting it; the reference confirms whatever the count
//!   (`CAServiceSubscribed` only logs a count unlike the expected one), so a larger count is
//!   confirmed and counted ([`ServiceStats::count_larger`]), and the `NMSG`s of the deleted
//!   subscriptions are dropped as before (no subscription). A smaller `n`, another service id
//!   (the relay lost its services) or an unavailable service removes the association: the
//!   associated subscriptions become INACTIVE and not associated, and the relay's
//!   subscriptions are subscribed again one by one ([`Effect::SmpResubscribe`]), so that a
//!   subscription is not reported ACTIVE when the relay surely does not hold all of them
//!   (the count proves no more than that: which queues are counted is not known);
//! - `ENDS` is counted and changes nothing (the reference has no handler for it: the queues are
//!   still subscribed, by another session of the same service).
//!
//! Statuses of associated subscriptions. As in the reference, a subscription associated with
//! the service keeps its stored status (ACTIVE from its `SOK`) while the service session comes
//! and goes: the reference writes nothing on `CAServiceDisconnected` and `CAServiceSubscribed`.
//! What the server *reports* (`SCHK`) follows the service subscription of its relay in this
//! process: PENDING until `SOKS` confirmed it, the stored status while it is confirmed,
//! INACTIVE after the service session was lost ([`NtfServerCore::reported_status`]). So a
//! confirmation or a loss of a million associated subscriptions is one state change, not a
//! million row updates (which take seconds in SQLite), and nothing reports ACTIVE that the
//! relay has not confirmed.

use std::collections::HashMap;
use std::vec;
use std::vec::Vec;

use ntf_proto::subscription::NtfSubStatus;
use rand_core::{CryptoRng, RngCore};
use smp_proto::server::SmpServer;

use super::core::{Effect, NtfServerCore, SmpEvent};
use super::store::{ServerService, Store, StoreResult, SubscriptionRecord};

/// Counters of the service subscriptions (what the reference logs for `CAServiceSubscribed`,
/// `CAServiceUnavailable` and friends).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// `SOKS` answers that agreed with the store: the service subscription confirmed.
    pub subscribed: u64,
    /// Associated subscriptions confirmed by those answers (the store's counts).
    pub subscribed_subs: u64,
    /// `SOKS` answers with a count below the store's (or another service id): fallback to
    /// one `NSUB` per queue.
    pub count_mismatches: u64,
    /// `SOKS` answers with a count above the store's, confirmed (queues of subscriptions
    /// deleted here without the app's `NDEL` stay associated at the relay).
    pub count_larger: u64,
    /// Service subscriptions that could not be made (no service session, `NSUBS` failed):
    /// fallback to one `NSUB` per queue.
    pub unavailable: u64,
    /// Service sessions lost.
    pub disconnected: u64,
    /// `ENDS` received from the current session.
    pub ended: u64,
}

/// The service subscription of a relay in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServiceState {
    /// Held by the current session: confirmed by `SOKS`, or made by `SOK`s of this session.
    Active,
    /// The service session was lost.
    Inactive,
}

/// The core's service state: per relay, whether its service subscription is held.
#[derive(Clone, Debug, Default)]
pub(super) struct Services {
    stats: ServiceStats,
    /// Relays whose service subscription was confirmed or lost in this process (absent: not
    /// confirmed yet, PENDING).
    state: HashMap<SmpServer, ServiceState>,
}

impl<S: Store, R: RngCore + CryptoRng> NtfServerCore<S, R> {
    /// The counters of the service subscriptions.
    pub fn service_stats(&self) -> ServiceStats {
        self.services.stats
    }

    /// The status reported for `sub` (`SCHK`): its stored status, except for a subscription
    /// associated with the service in a status that should be subscribed, which is PENDING
    /// until its relay's service subscription is confirmed in this process and INACTIVE once
    /// the service session is lost.
    pub fn reported_status(&self, sub: &SubscriptionRecord) -> NtfSubStatus {
        if !sub.service_assoc || !sub.status.should_subscribe() {
            return sub.status.clone();
        }
        match self.services.state.get(&sub.queue.server) {
            Some(ServiceState::Active) => sub.status.clone(),
            Some(ServiceState::Inactive) => NtfSubStatus::Inactive,
            None => NtfSubStatus::Pending,
        }
    }

    /// The service subscription to make on `server` at start, when a service id is stored for
    /// it (`subscribeSrvSubs`' `subscribeServiceNtfs`).
    ///
    /// # Errors
    /// Store failures.
    pub fn resubscribe_service(&mut self, server: &SmpServer) -> StoreResult<Option<Effect>> {
        Ok(self.store().server_service(server)?.map(|ServerService { service_id, count }| {
            Effect::SmpSubscribeService { server: server.clone(), service_id, count }
        }))
    }

    /// The service events of [`NtfServerCore::smp_event`] (see the module documentation).
    pub(super) fn service_event(&mut self, event: SmpEvent) -> StoreResult<Vec<Effect>> {
        match event {
            SmpEvent::ServiceAssociated { server, service_id, notifier_ids } => {
                if !notifier_ids.is_empty() {
                    self.store_mut().set_service_subscriptions(
                        &server,
                        &service_id,
                        &notifier_ids,
                        NtfSubStatus::Active,
                    )?;
                    // a service session subscribes NSUBS before any NSUB: it holds them all
                    self.services.state.insert(server, ServiceState::Active);
                }
                Ok(Vec::new())
            }
            SmpEvent::ServiceSubscribed { server, service_id, count } => {
                let stored = self.store().server_service(&server)?;
                // nothing associated here: any count holds all of ours (none)
                let (same_id, expected) = match &stored {
                    Some(s) => (s.service_id == service_id, s.count),
                    None => (true, 0),
                };
                if same_id && count >= expected {
                    if count > expected {
                        self.services.stats.count_larger += 1;
                    }
                    self.services.stats.subscribed += 1;
                    self.services.stats.subscribed_subs += expected;
                    self.services.state.insert(server, ServiceState::Active);
                    Ok(Vec::new())
                } else {
                    self.services.stats.count_mismatches += 1;
                    self.fall_back(server)
                }
            }
            SmpEvent::ServiceUnavailable { server } => {
                self.services.stats.unavailable += 1;
                self.fall_back(server)
            }
            SmpEvent::ServiceDisconnected { server } => {
                self.services.stats.disconnected += 1;
                self.services.state.insert(server, ServiceState::Inactive);
                Ok(Vec::new())
            }
            SmpEvent::ServiceEnded { .. } => {
                self.services.stats.ended += 1;
                Ok(Vec::new())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// `removeServiceAssociation` and the one-by-one resubscription of the relay.
    fn fall_back(&mut self, server: SmpServer) -> StoreResult<Vec<Effect>> {
        self.store_mut().remove_service_association(&server)?;
        self.services.state.remove(&server);
        Ok(vec![Effect::SmpResubscribe { server }])
    }
}
