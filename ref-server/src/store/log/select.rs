//! What an import takes from a replayed store log, as the reference's `importNtfSTMStore`
//! (`Notifications/Server/Store/Postgres.hs`) selects it: duplicate token registrations and
//! subscriptions are dropped, periodic intervals are reset, and the last notifications are
//! put in the reference's insertion order.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ntf_proto::command::NtfEntityId;
use ntf_proto::push::PnMessageData;
use ntf_proto::store_log::{SubRec, TokenRec};
use ntf_proto::token::{DeviceToken, NtfTknStatus};
use smp_proto::server::SmpServer;
use smp_proto::text::base64url_encode;

use super::state::LogState;
use crate::ntf::{NotifierKey, SubscriptionRecord, TokenRecord};

/// The rows an import writes, and what it reports.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Tokens, in id order, `cron_interval` 0.
    pub tokens: Vec<TokenRecord>,
    /// The SMP servers of the subscriptions, in order of first use.
    pub servers: Vec<SmpServer>,
    /// Subscriptions, in id order.
    pub subs: Vec<SubscriptionRecord>,
    /// Last notifications: token, subscription, notification, in insertion order.
    pub last_ntfs: Vec<(NtfEntityId, NtfEntityId, PnMessageData)>,
    /// Service ids of SMP servers.
    pub services: Vec<(SmpServer, NtfEntityId)>,
    /// Lines to print (skipped tokens, subscriptions and notifications).
    pub notes: Vec<String>,
}

fn enc(id: &NtfEntityId) -> String {
    base64url_encode(id.as_bytes())
}

/// A token as the server stores it. The periodic interval is reset to 0 (the reference
/// does so on import, so that only clients that set it again get periodic pushes).
pub fn token_record(t: &TokenRec) -> TokenRecord {
    TokenRecord::from_log(TokenRec { cron_interval: 0, ..t.clone() }, None)
}

/// A subscription as the server stores it.
pub fn sub_record(s: &SubRec) -> SubscriptionRecord {
    SubscriptionRecord {
        id: s.id.clone(),
        token_id: s.token_id.clone(),
        queue: s.queue.clone(),
        notifier_key: NotifierKey::new(s.notifier_key.clone()),
        status: s.status.clone(),
        service_assoc: s.service_assoc,
    }
}

/// Selects the rows to import; `skip` are token ids given with `--skip-tokens`.
pub fn select(st: &LogState, skip: &BTreeSet<NtfEntityId>) -> Selection {
    let mut out = Selection::default();
    let kept = select_tokens(st, skip, &mut out);
    select_subs(st, &kept, &mut out);
    select_last_ntfs(st, &kept, &mut out);
    out.services = st.services.iter().map(|(s, id)| (s.0.clone(), id.clone())).collect();
    out
}

/// `importTokens`/`filterTokens`: of the tokens with the same device token and verify key,
/// a CONFIRMED one without subscriptions is dropped when another one is ACTIVE or INVALID,
/// or else when it is not the one with the highest id; `--skip-tokens` drops any of them.
fn select_tokens(
    st: &LogState,
    skip: &BTreeSet<NtfEntityId>,
    out: &mut Selection,
) -> BTreeSet<NtfEntityId> {
    // the reference's `foldl'` prepends: each group lists its tokens by descending id
    let mut groups: HashMap<(&DeviceToken, Vec<u8>), Vec<&TokenRec>> = HashMap::new();
    for t in st.tokens.values() {
        groups.entry((&t.token, t.verify_key.key().to_der())).or_default().insert(0, t);
    }
    let mut kept = BTreeSet::new();
    for t in st.tokens.values() {
        let group = &groups[&(&t.token, t.verify_key.key().to_der())];
        let keep = if group.len() < 2 {
            true
        } else if skip.contains(&t.id) {
            out.notes.push(format!("Skipped token {} (--skip-tokens)", enc(&t.id)));
            false
        } else if t.status == NtfTknStatus::Confirmed {
            let has_subs = st.token_subs.get(&t.id).is_some_and(|s| !s.is_empty());
            let better = group
                .iter()
                .any(|o| matches!(o.status, NtfTknStatus::Active | NtfTknStatus::Invalid(_)));
            if has_subs {
                true
            } else if better {
                out.notes.push(format!("Skipped duplicate inactive token {}", enc(&t.id)));
                false
            } else if group[0].id == t.id {
                true
            } else {
                out.notes.push(format!(
                    "Skipped duplicate inactive token {} (no active token)",
                    enc(&t.id)
                ));
                false
            }
        } else {
            true
        };
        if keep {
            kept.insert(t.id.clone());
            out.tokens.push(token_record(t));
        }
    }
    let skipped = st.tokens.len() - kept.len();
    if skipped != 0 {
        out.notes.push(format!("Skipped {skipped} tokens in total"));
    }
    kept
}

/// `importSubscriptions`: subscriptions of imported tokens, without the ones whose queue has
/// a later subscription (`subscriptionLookup` names another one).
fn select_subs(st: &LogState, kept: &BTreeSet<NtfEntityId>, out: &mut Selection) {
    let of_kept: Vec<&SubRec> = st.subs.values().filter(|s| kept.contains(&s.token_id)).collect();
    let missing = st.subs.len() - of_kept.len();
    if missing != 0 {
        out.notes.push(format!("Skipped {missing} subscriptions of missing tokens"));
    }
    let (mut dup_tokens, mut dup_queues, mut dups) = (HashSet::new(), HashSet::new(), 0usize);
    let mut seen = HashSet::new();
    for s in of_kept {
        match st.sub_lookup.get(&s.queue) {
            Some(latest) if *latest != s.id => {
                dups += 1;
                dup_tokens.insert(&s.token_id);
                dup_queues.insert(&s.queue);
            }
            _ => {
                if seen.insert(&s.queue.server) {
                    out.servers.push(s.queue.server.clone());
                }
                out.subs.push(sub_record(s));
            }
        }
    }
    if dups != 0 {
        out.notes.push(format!(
            "Skipped {dups} duplicate subscriptions of {} tokens for {} queues",
            dup_tokens.len(),
            dup_queues.len()
        ));
    }
}

/// `importLastNtfs`: notifications of imported tokens whose queue has a subscription. The
/// reference inserts them token by token from the highest token id down, each token's in
/// file order; we keep that order. Two differences, both where the reference's insert would
/// fail on a constraint and abort the import: a notification whose subscription is not
/// imported is skipped, and of several for the same token and subscription the last one is
/// kept (the server keeps one per subscription, `addTokenLastNtf`).
fn select_last_ntfs(st: &LogState, kept: &BTreeSet<NtfEntityId>, out: &mut Selection) {
    let imported: HashSet<&NtfEntityId> = out.subs.iter().map(|s| &s.id).collect();
    let (mut total, mut missing_tokens, mut missing_queues) = (0usize, 0usize, HashSet::new());
    let mut rows: Vec<(NtfEntityId, NtfEntityId, PnMessageData)> = Vec::new();
    for (tid, ntfs) in st.last_ntfs.iter().rev() {
        total += ntfs.len();
        if !kept.contains(tid) {
            missing_tokens += 1;
            continue;
        }
        for n in ntfs {
            match st.sub_lookup.get(&n.queue).filter(|sid| imported.contains(sid)) {
                Some(sid) => rows.push((tid.clone(), sid.clone(), n.clone())),
                None => {
                    missing_queues.insert(n.queue.clone());
                }
            }
        }
    }
    // the last of each (token, subscription), at its place
    let mut last: BTreeMap<(&NtfEntityId, &NtfEntityId), usize> = BTreeMap::new();
    for (i, (t, s, _)) in rows.iter().enumerate() {
        last.insert((t, s), i);
    }
    let keep: HashSet<usize> = last.into_values().collect();
    let rows: Vec<_> = rows
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, r)| r)
        .collect();
    let skipped = total - rows.len();
    if skipped != 0 {
        out.notes.push(format!(
            "Skipped {skipped} last notifications: of {missing_tokens} missing tokens, of {} queues without a subscription, or replaced by a later one",
            missing_queues.len()
        ));
    }
    out.last_ntfs = rows;
}
