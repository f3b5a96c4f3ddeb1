//! [`LoggedStore`]: any [`Store`] with the reference's store log written next to it, as the
//! reference's PostgreSQL store does with `[STORE_LOG] enable = on` (`newNtfDbStore` opens
//! the log; each mutation that succeeded calls `withLog` with its records).
//!
//! Every call is forwarded to the inner store; when it succeeded and changed something, the
//! records the reference writes for that operation are appended, in the order the store made
//! the changes (the store is used by one caller at a time, so the log's order is the order of
//! the commits):
//!
//! ```text
//! add_token                    TCREATE                    addNtfToken
//! replace_token                TUPDATE                    replaceNtfToken
//! touch_token                  TTIME                      updateTokenDate
//! update_token_status          TSTATUS when it changed    updateTknStatus
//! set_token_confirmed          TSTATUS CONFIRMED when it changed   setTknStatusConfirmed
//! set_token_active             TSTATUS ACTIVE when it changed, a TDELETE per other token
//!                              of the device token        setTokenActive
//! delete_token                 TDELETE (its subscriptions go with it when read back)
//! update_token_cron_interval   TCRON with 0 (see below)   updateTknCronInterval
//! add_subscription             SCREATE when added         addNtfSubscription
//! delete_subscription          SDELETE                    deleteNtfSubscription
//! set_subscription_statuses    an SSTATUS per subscription that changed
//!                              updateSubStatus, updateSrvSubStatus, batchUpdateSrvSubErrors
//! remove_service_association   an SSTATUS per subscription that changed  removeServiceAssociation
//! ```
//!
//! Not logged, as in the reference: `batch_subscription_statuses` and
//! `set_service_subscriptions` (`batchUpdateSrvSubStatus`), `take_server_subscriptions`
//! (`getServerNtfSubscriptions`), `update_token_cron_sent_at`, `add_last_notification`
//! (kept in the database only), and reads.
//!
//! `TCRON` is written with 0 whatever the interval set, as the reference's
//! `updateTknCronInterval` writes it (`logTokenCron sl tknId 0`): the store log does not keep
//! periodic intervals, and neither does an import (`importNtfSTMStore` sets every
//! `tknCronInterval` to 0, as [`super::select`] does), so clients set them again.

use ntf_proto::command::NtfEntityId;
use ntf_proto::push::PnMessageData;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::store_log::{StoreLogRecord as R, SubRec, TokenRec};
use ntf_proto::subscription::NtfSubStatus;
use ntf_proto::token::{DeviceToken, NtfRegCode, NtfTknStatus};
use smp_proto::keys::AuthPublicKey;
use smp_proto::server::SmpServer;

use super::writer::StoreLogWriter;
use crate::ntf::store::EntityCounts;
use crate::ntf::{
    ServerService, Store, StoreResult, SubStatusChange, SubscriptionRecord, TokenActivated, TokenRecord,
};

/// A store that appends the reference's store log records of its changes.
#[derive(Debug)]
pub struct LoggedStore<S> {
    inner: S,
    log: StoreLogWriter,
}

impl<S> LoggedStore<S> {
    /// `inner`, logging to `log`.
    pub fn new(inner: S, log: StoreLogWriter) -> Self {
        Self { inner, log }
    }

    /// The inner store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The log.
    pub fn log(&self) -> &StoreLogWriter {
        &self.log
    }
}

fn statuses(changes: &[SubStatusChange]) -> Vec<R> {
    changes.iter().map(|c| R::SubscriptionStatus(c.id.clone(), c.status.clone(), c.service_assoc)).collect()
}

impl<S: Store> Store for LoggedStore<S> {
    fn get_token(&self, id: &NtfEntityId) -> StoreResult<Option<TokenRecord>> {
        self.inner.get_token(id)
    }

    fn find_token_registration(&self, token: &DeviceToken, verify_key: &AuthPublicKey) -> StoreResult<Option<TokenRecord>> {
        self.inner.find_token_registration(token, verify_key)
    }

    fn touch_token(&mut self, id: &NtfEntityId, day: i64) -> StoreResult<()> {
        self.inner.touch_token(id, day)?;
        self.log.write("updateTokenDate", &[R::UpdateTokenTime(id.clone(), day)]);
        Ok(())
    }

    fn add_token(&mut self, token: TokenRecord) -> StoreResult<()> {
        let rec = R::CreateToken(TokenRec::from(token.clone()));
        self.inner.add_token(token)?;
        self.log.write("addNtfToken", &[rec]);
        Ok(())
    }

    fn replace_token(&mut self, id: &NtfEntityId, token: DeviceToken, status: NtfTknStatus, reg_code: NtfRegCode) -> StoreResult<()> {
        let rec = R::UpdateToken(id.clone(), token.clone(), reg_code.clone());
        self.inner.replace_token(id, token, status, reg_code)?;
        self.log.write("replaceNtfToken", &[rec]);
        Ok(())
    }

    fn update_token_status(&mut self, id: &NtfEntityId, status: NtfTknStatus) -> StoreResult<bool> {
        let changed = self.inner.update_token_status(id, status.clone())?;
        if changed {
            self.log.write("updateTknStatus", &[R::TokenStatus(id.clone(), status)]);
        }
        Ok(changed)
    }

    fn set_token_confirmed(&mut self, id: &NtfEntityId) -> StoreResult<bool> {
        let changed = self.inner.set_token_confirmed(id)?;
        if changed {
            self.log.write("updateTknStatus", &[R::TokenStatus(id.clone(), NtfTknStatus::Confirmed)]);
        }
        Ok(changed)
    }

    fn set_token_active(&mut self, id: &NtfEntityId) -> StoreResult<TokenActivated> {
        let a = self.inner.set_token_active(id)?;
        let status = a.status_changed.then(|| R::TokenStatus(id.clone(), NtfTknStatus::Active));
        let recs: Vec<R> = status.into_iter().chain(a.deleted_tokens.iter().cloned().map(R::DeleteToken)).collect();
        self.log.write("setTokenActive", &recs);
        Ok(a)
    }

    fn delete_token(&mut self, id: &NtfEntityId) -> StoreResult<Vec<SmpQueueNtf>> {
        let queues = self.inner.delete_token(id)?;
        self.log.write("deleteNtfToken", &[R::DeleteToken(id.clone())]);
        Ok(queues)
    }

    fn update_token_cron_interval(&mut self, id: &NtfEntityId, minutes: u16) -> StoreResult<()> {
        self.inner.update_token_cron_interval(id, minutes)?;
        // the reference's literal 0 (see the module documentation)
        self.log.write("updateTknCronInterval", &[R::TokenCron(id.clone(), 0)]);
        Ok(())
    }

    fn update_token_cron_sent_at(&mut self, id: &NtfEntityId, now: i64) -> StoreResult<()> {
        self.inner.update_token_cron_sent_at(id, now)
    }

    fn periodic_tokens(&self, now: i64, unsent_is_due: bool) -> StoreResult<Vec<TokenRecord>> {
        self.inner.periodic_tokens(now, unsent_is_due)
    }

    fn get_subscription(&self, id: &NtfEntityId) -> StoreResult<Option<(TokenRecord, SubscriptionRecord)>> {
        self.inner.get_subscription(id)
    }

    fn subscription_by_queue(&self, queue: &SmpQueueNtf) -> StoreResult<Option<SubscriptionRecord>> {
        self.inner.subscription_by_queue(queue)
    }

    fn add_subscription(&mut self, sub: SubscriptionRecord) -> StoreResult<bool> {
        let rec = R::CreateSubscription(SubRec::from(sub.clone()));
        let added = self.inner.add_subscription(sub)?;
        if added {
            self.log.write("addNtfSubscription", &[rec]);
        }
        Ok(added)
    }

    fn delete_subscription(&mut self, id: &NtfEntityId) -> StoreResult<()> {
        self.inner.delete_subscription(id)?;
        self.log.write("deleteNtfSubscription", &[R::DeleteSubscription(id.clone())]);
        Ok(())
    }

    fn set_subscription_statuses(&mut self, server: &SmpServer, updates: &[(Vec<u8>, NtfSubStatus)]) -> StoreResult<Vec<SubStatusChange>> {
        let changes = self.inner.set_subscription_statuses(server, updates)?;
        self.log.write("updateSrvSubStatus", &statuses(&changes));
        Ok(changes)
    }

    fn batch_subscription_statuses(&mut self, server: &SmpServer, updates: &[(Vec<u8>, NtfSubStatus)]) -> StoreResult<usize> {
        self.inner.batch_subscription_statuses(server, updates)
    }

    fn used_smp_servers(&self) -> StoreResult<Vec<SmpServer>> {
        self.inner.used_smp_servers()
    }

    fn take_server_subscriptions(&mut self, server: &SmpServer, after: Option<&NtfEntityId>, limit: usize) -> StoreResult<Vec<SubscriptionRecord>> {
        self.inner.take_server_subscriptions(server, after, limit)
    }

    fn server_service(&self, server: &SmpServer) -> StoreResult<Option<ServerService>> {
        self.inner.server_service(server)
    }

    fn set_service_subscriptions(&mut self, server: &SmpServer, service_id: &[u8], notifier_ids: &[Vec<u8>], status: NtfSubStatus) -> StoreResult<usize> {
        self.inner.set_service_subscriptions(server, service_id, notifier_ids, status)
    }

    fn remove_service_association(&mut self, server: &SmpServer) -> StoreResult<Vec<SubStatusChange>> {
        let changes = self.inner.remove_service_association(server)?;
        self.log.write("removeServiceAssociation", &statuses(&changes));
        Ok(changes)
    }

    fn add_last_notification(&mut self, token_id: &NtfEntityId, subscription_id: &NtfEntityId, ntf: PnMessageData, max: usize) -> StoreResult<Vec<PnMessageData>> {
        self.inner.add_last_notification(token_id, subscription_id, ntf, max)
    }

    fn entity_counts(&self) -> StoreResult<EntityCounts> {
        self.inner.entity_counts()
    }
}
