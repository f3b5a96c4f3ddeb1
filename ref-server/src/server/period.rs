//! Distinct entities seen in the current day, week and month (the reference's `PeriodStats`
//! in `Server/Stats.hs`: `updatePeriodStats`, `periodStatDataCounts`, `periodStatCounts`):
//! the active tokens (a message push to the token) and the active subscriptions (an `NMSG`
//! for the queue).
//!
//! ```text
//! update(id)     : hash(id) added to the day, week and month sets
//! counts()       : the sizes of the three sets (the metrics; nothing is reset)
//! take_counts(t) : the daily stats line at time t: the day's size, and the set emptied;
//!                  the week's on a Monday and the month's on the 1st, emptied, else none
//! ```
//!
//! Without `log_stats` nothing empties the sets, so the "daily" counts are since the start,
//! as in the reference.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

/// The three sets of id hashes.
#[derive(Default)]
pub struct PeriodStats {
    day: Mutex<HashSet<u64>>,
    week: Mutex<HashSet<u64>>,
    month: Mutex<HashSet<u64>>,
}

/// The sizes of the sets; `None` for a set not due to be reported (`""` in the CSV).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeriodCounts {
    /// The day's entities.
    pub day: Option<usize>,
    /// The week's (Monday to Sunday).
    pub week: Option<usize>,
    /// The month's.
    pub month: Option<usize>,
}

pub(crate) fn id_hash(id: &[u8]) -> u64 {
    // SipHash with fixed keys: the same entity always has the same hash
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    id.hash(&mut h);
    h.finish()
}

fn lock(m: &Mutex<HashSet<u64>>) -> std::sync::MutexGuard<'_, HashSet<u64>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PeriodStats {
    /// `updatePeriodStats`: the entity `id` was active.
    pub fn update(&self, id: &[u8]) {
        let h = id_hash(id);
        for s in [&self.day, &self.week, &self.month] {
            lock(s).insert(h);
        }
    }

    /// The three sets (day, week, month), each in the reference's order (`IntSet`: ascending
    /// as signed 64-bit numbers).
    pub fn hashes(&self) -> [Vec<u64>; 3] {
        [&self.day, &self.week, &self.month].map(|s| {
            let mut v: Vec<u64> = lock(s).iter().copied().collect();
            v.sort_by_key(|h| *h as i64);
            v
        })
    }

    /// `setPeriodStats`: the sets as saved.
    pub fn restore(&self, sets: &[Vec<u64>; 3]) {
        for (s, saved) in [&self.day, &self.week, &self.month].into_iter().zip(sets) {
            *lock(s) = saved.iter().copied().collect();
        }
    }

    /// `periodStatDataCounts`: the sizes now.
    pub fn counts(&self) -> (usize, usize, usize) {
        (lock(&self.day).len(), lock(&self.week).len(), lock(&self.month).len())
    }

    /// `periodStatCounts` on a day that is weekday `weekday` (1 = Monday .. 7 = Sunday,
    /// `mondayStartWeek`) and day `month_day` of its month: the day's count, the week's on a
    /// Monday and the month's on the 1st, each set reported emptied.
    pub fn take_counts(&self, weekday: u8, month_day: u8) -> PeriodCounts {
        let take = |s: &Mutex<HashSet<u64>>| std::mem::take(&mut *lock(s)).len();
        PeriodCounts {
            day: Some(take(&self.day)),
            week: (weekday == 1).then(|| take(&self.week)),
            month: (month_day == 1).then(|| take(&self.month)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_ids_per_period_and_the_resets_of_the_daily_line() {
        let p = PeriodStats::default();
        for id in [b"a", b"b", b"a"] {
            p.update(id);
        }
        assert_eq!(p.counts(), (2, 2, 2));
        // a Tuesday the 2nd: only the day is reported and emptied
        assert_eq!(p.take_counts(2, 2), PeriodCounts { day: Some(2), week: None, month: None });
        assert_eq!(p.counts(), (0, 2, 2));
        p.update(b"c");
        // a Monday the 1st: all three
        assert_eq!(p.take_counts(1, 1), PeriodCounts { day: Some(1), week: Some(3), month: Some(3) });
        assert_eq!(p.counts(), (0, 0, 0));
    }
}
