//! The state a store log describes: its records replayed as the reference's in-memory store
//! does (`readNtfStore` in `Notifications/Server/StoreLog.hs`, on the `NtfSTMStore` of
//! `Notifications/Server/Store.hs`), the last notifications added to it
//! (`restoreServerLastNtfs`, `stmStoreTokenLastNtf`), and the compacted log written from it
//! (`writeNtfStore`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use ntf_proto::command::NtfEntityId;
use ntf_proto::push::PnMessageData;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::store_log::{lines, LastNtfRecord, StoreLogRecord, SubRec, TokenRec};
use ntf_proto::token::{DeviceToken, NtfTknStatus};
use smp_proto::server::SmpServer;

/// An SMP server in the order of the reference's derived `Ord` on `ProtocolServer`
/// (scheme, hosts, port, key hash), the order of its `Map SMPServer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrdServer(pub SmpServer);

impl Ord for OrdServer {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (&self.0, &other.0);
        a.hosts()
            .cmp(b.hosts())
            // `ServiceName` is a `String`: compared by chars
            .then_with(|| a.port().chars().cmp(b.port().chars()))
            .then_with(|| a.key_hash().cmp(b.key_hash()))
    }
}

impl PartialOrd for OrdServer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A problem with one line, reported and skipped (the store log) or fatal (the
/// last-notifications file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// The decoder's error.
    pub error: String,
    /// The first 100 bytes of the line, as the reference prints them (`B.take 100 s`).
    pub text: String,
}

impl BadLine {
    fn new(line: usize, error: impl std::fmt::Display, text: &[u8]) -> Self {
        Self {
            line,
            error: error.to_string(),
            text: String::from_utf8_lossy(&text[..text.len().min(100)]).into_owned(),
        }
    }
}

/// The replayed store: tokens, subscriptions, the indexes the reference's replay consults,
/// last notifications and service ids.
#[derive(Clone, Debug, Default)]
pub struct LogState {
    /// Tokens by id (`tokens`).
    pub tokens: BTreeMap<NtfEntityId, TokenRec>,
    /// `tokenRegistrations`: device token -> verify key (DER) -> token id.
    registrations: HashMap<DeviceToken, BTreeMap<Vec<u8>, NtfEntityId>>,
    /// Subscriptions by id (`subscriptions`).
    pub subs: BTreeMap<NtfEntityId, SubRec>,
    /// `tokenSubscriptions`.
    pub token_subs: HashMap<NtfEntityId, BTreeSet<NtfEntityId>>,
    /// `subscriptionLookup`: the latest subscription of each queue.
    pub sub_lookup: HashMap<SmpQueueNtf, NtfEntityId>,
    /// `tokenLastNtfs`, each token's notifications in file order (the reference keeps them
    /// newest first).
    pub last_ntfs: BTreeMap<NtfEntityId, Vec<PnMessageData>>,
    /// `ntfServices`.
    pub services: BTreeMap<OrdServer, NtfEntityId>,
}

fn reg_key(t: &TokenRec) -> Vec<u8> {
    t.verify_key.key().to_der()
}

impl LogState {
    /// Replays the lines of a store log. A line that does not decode is skipped and returned
    /// (the reference prints `Error parsing log: ...` and goes on, `readNtfStore`'s
    /// `printError`).
    pub fn read_store_log(file: &[u8]) -> (Self, Vec<BadLine>) {
        let mut st = Self::default();
        let mut bad = Vec::new();
        for (i, line) in lines(file).enumerate() {
            match StoreLogRecord::decode(line) {
                Ok(rec) => st.apply(rec),
                Err(e) => bad.push(BadLine::new(i + 1, e, line)),
            }
        }
        (st, bad)
    }

    /// Applies one record (`procNtfLogRecord`).
    pub fn apply(&mut self, rec: StoreLogRecord) {
        match rec {
            StoreLogRecord::CreateToken(t) => self.add_token(t),
            StoreLogRecord::TokenStatus(id, status) => {
                let Some(t) = self.tokens.get_mut(&id) else { return };
                t.status = status;
                if status == NtfTknStatus::Active {
                    self.remove_other_registrations(&id);
                }
            }
            StoreLogRecord::UpdateToken(id, token, reg_code) => {
                let Some(mut t) = self.tokens.get(&id).cloned() else { return };
                // stmRemoveTokenRegistration: only when the key still names this token
                if let Some(regs) = self.registrations.get_mut(&t.token) {
                    let k = reg_key(&t);
                    if regs.get(&k) == Some(&id) {
                        regs.remove(&k);
                    }
                }
                t.status = NtfTknStatus::Registered;
                t.token = token;
                t.reg_code = reg_code;
                self.add_token(t);
            }
            StoreLogRecord::TokenCron(id, n) => {
                if let Some(t) = self.tokens.get_mut(&id) {
                    t.cron_interval = n;
                }
            }
            StoreLogRecord::DeleteToken(id) => self.delete_token(&id),
            StoreLogRecord::UpdateTokenTime(id, day) => {
                if let Some(t) = self.tokens.get_mut(&id) {
                    t.updated_at = Some(day);
                }
            }
            StoreLogRecord::CreateSubscription(s) => {
                // stmAddNtfSubscription: no token check (subscriptions of missing tokens are
                // dropped at import)
                self.token_subs.entry(s.token_id.clone()).or_default().insert(s.id.clone());
                self.sub_lookup.insert(s.queue.clone(), s.id.clone());
                self.subs.insert(s.id.clone(), s);
            }
            StoreLogRecord::SubscriptionStatus(id, status, assoc) => {
                if let Some(s) = self.subs.get_mut(&id) {
                    s.status = status;
                    s.service_assoc = assoc;
                }
            }
            StoreLogRecord::DeleteSubscription(id) => {
                if let Some(s) = self.subs.remove(&id) {
                    self.sub_lookup.remove(&s.queue);
                    if let Some(ts) = self.token_subs.get_mut(&s.token_id) {
                        ts.remove(&id);
                    }
                }
            }
            StoreLogRecord::SetService(srv, Some(sid)) => {
                self.services.insert(OrdServer(srv), sid);
            }
            StoreLogRecord::SetService(srv, None) => {
                self.services.remove(&OrdServer(srv));
            }
        }
    }

    /// stmAddNtfToken.
    fn add_token(&mut self, t: TokenRec) {
        self.registrations
            .entry(t.token.clone())
            .or_default()
            .insert(reg_key(&t), t.id.clone());
        self.tokens.insert(t.id.clone(), t);
    }

    /// stmRemoveInactiveTokenRegistrations: every other registration of the device token
    /// goes, with its token, last notifications and subscriptions.
    fn remove_other_registrations(&mut self, id: &NtfEntityId) {
        let Some(token) = self.tokens.get(id).map(|t| t.token.clone()) else { return };
        let Some(regs) = self.registrations.get_mut(&token) else { return };
        let others: Vec<(Vec<u8>, NtfEntityId)> = regs
            .iter()
            .filter(|(_, t)| *t != id)
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect();
        for (k, other) in others {
            if let Some(regs) = self.registrations.get_mut(&token) {
                regs.remove(&k);
            }
            self.tokens.remove(&other);
            self.last_ntfs.remove(&other);
            self.delete_token_subs(&other);
        }
    }

    /// stmDeleteNtfToken.
    fn delete_token(&mut self, id: &NtfEntityId) {
        if let Some(t) = self.tokens.remove(id) {
            if let Some(regs) = self.registrations.get_mut(&t.token) {
                regs.remove(&reg_key(&t));
                if regs.is_empty() {
                    self.registrations.remove(&t.token);
                }
            }
        }
        self.last_ntfs.remove(id);
        self.delete_token_subs(id);
    }

    /// deleteTokenSubs.
    fn delete_token_subs(&mut self, id: &NtfEntityId) {
        for sid in self.token_subs.remove(id).unwrap_or_default() {
            if let Some(s) = self.subs.remove(&sid) {
                self.sub_lookup.remove(&s.queue);
            }
        }
    }

    /// Adds the lines of a last-notifications file (`restoreServerLastNtfs`): every line must
    /// decode, else nothing is added and the first bad line is returned (the reference logs
    /// the error and exits). A notification of a token the store does not have is dropped
    /// (`stmStoreTokenLastNtf`). Returns how many lines were read.
    ///
    /// # Errors
    /// The first line that does not decode.
    pub fn read_last_ntfs(&mut self, file: &[u8]) -> Result<usize, BadLine> {
        let recs = lines(file)
            .enumerate()
            .map(|(i, l)| LastNtfRecord::decode(l).map_err(|e| BadLine::new(i + 1, e, l)))
            .collect::<Result<Vec<_>, _>>()?;
        let n = recs.len();
        for r in recs {
            if self.tokens.contains_key(&r.token_id) {
                self.last_ntfs.entry(r.token_id).or_default().push(r.ntf);
            }
        }
        Ok(n)
    }

    /// The compacted store log (`writeNtfStore`): a `TCREATE` per token and an `SCREATE` per
    /// subscription in id order, then a `SERVICE` per server with a service id.
    pub fn compacted(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut line = |r: StoreLogRecord| {
            r.encode(&mut out);
            out.push(b'\n');
        };
        for t in self.tokens.values() {
            line(StoreLogRecord::CreateToken(t.clone()));
        }
        for s in self.subs.values() {
            line(StoreLogRecord::CreateSubscription(s.clone()));
        }
        for (srv, sid) in &self.services {
            line(StoreLogRecord::SetService(srv.0.clone(), Some(sid.clone())));
        }
        out
    }
}
