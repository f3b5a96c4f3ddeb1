//! The daily statistics file (`[STORE_LOG] log_stats = on`): one CSV line a day appended to
//! `ntf-server-stats.daily.log` in the state directory at 00:00 UTC, as the reference's
//! `logServerStats` (`Notifications/Server.hs`; `logStatsInterval` 86400 s,
//! `logStatsStartTime` 0).
//!
//! ```text
//! line = date "," tknCreated "," tknVerified "," tknDeleted "," subCreated "," subDeleted ","
//!        ntfReceived "," ntfDelivered "," dayTokens "," weekTokens "," monthTokens ","
//!        daySubs "," weekSubs "," monthSubs "," tknReplaced "," ntfFailed ","
//!        ntfCronDelivered "," ntfCronFailed "," ntfVrfQueued "," ntfVrfDelivered ","
//!        ntfVrfFailed "," ntfVrfInvalidTkn LF
//! date = YYYY-MM-DD        ; the day the period started (the start, then the last line)
//! ```
//!
//! The counters are those of the period since the previous line (the reference swaps its
//! counters to 0; ours keep counting for the metrics, and the line takes the difference). The
//! active counts are [`PeriodStats::take_counts`]: the day's always, the week's on a Monday,
//! the month's on the 1st (empty otherwise), each set emptied when reported.
//!
//! [`PeriodStats::take_counts`]: super::period::PeriodStats::take_counts

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::metrics::{NtfMetrics, Stats};
use super::period::PeriodCounts;

/// The file's name, in the state directory.
pub const STATS_DAILY_FILE: &str = "ntf-server-stats.daily.log";

const DAY: u64 = 86400;

/// The date (`YYYY-MM-DD`), weekday (1 = Monday .. 7) and day of month of `t` in UTC.
fn civil(t: SystemTime) -> (String, u8, u8) {
    let days = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / DAY);
    let iso = humantime::format_rfc3339_seconds(t).to_string();
    let date = iso.get(..10).unwrap_or_default().to_string();
    let month_day = date.get(8..10).and_then(|d| d.parse().ok()).unwrap_or(0);
    // 1970-01-01 was a Thursday
    let weekday = u8::try_from((days + 3) % 7 + 1).unwrap_or(1);
    (date, weekday, month_day)
}

/// Seconds from `now` until the next `start_at` seconds past 00:00 UTC.
fn initial_delay(now: SystemTime, start_at: u64) -> u64 {
    let of_day = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() % DAY);
    (start_at + DAY - of_day) % DAY
}

fn opt(v: Option<usize>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

/// The line of the period that started at `from` (`prev` the counters then, `now` now).
fn line(from: SystemTime, prev: &Stats, now: &Stats, tkn: PeriodCounts, sub: PeriodCounts) -> String {
    let d = |f: fn(&Stats) -> u64| f(now).saturating_sub(f(prev)).to_string();
    let fields = [
        civil(from).0,
        d(|s| s.tkn_created),
        d(|s| s.tkn_verified),
        d(|s| s.tkn_deleted),
        d(|s| s.sub_created),
        d(|s| s.sub_deleted),
        d(|s| s.ntf_received),
        d(|s| s.ntf_delivered),
        opt(tkn.day),
        opt(tkn.week),
        opt(tkn.month),
        opt(sub.day),
        opt(sub.week),
        opt(sub.month),
        d(|s| s.tkn_replaced),
        d(|s| s.ntf_failed),
        d(|s| s.ntf_cron_delivered),
        d(|s| s.ntf_cron_failed),
        d(|s| s.ntf_vrf_queued),
        d(|s| s.ntf_vrf_delivered),
        d(|s| s.ntf_vrf_failed),
        d(|s| s.ntf_vrf_invalid_tkn),
    ];
    fields.join(",") + "\n"
}

/// The writer's state: when the period started and the counters then.
pub struct DailyLog {
    path: PathBuf,
    from: SystemTime,
    prev: Stats,
}

impl DailyLog {
    /// A log at `path` whose first period starts now, with the counters as they are.
    pub fn new(path: PathBuf, metrics: &NtfMetrics) -> Self {
        Self { path, from: metrics.started(), prev: Stats::default() }
    }

    /// Appends the line of the period ending at `now` and starts the next one.
    ///
    /// # Errors
    /// The file cannot be opened or written.
    pub fn write(&mut self, metrics: &NtfMetrics, now: SystemTime) -> std::io::Result<()> {
        let (_, weekday, month_day) = civil(now);
        let stats = metrics.stats();
        let tkn = metrics.active_tokens.take_counts(weekday, month_day);
        let sub = metrics.active_subs.take_counts(weekday, month_day);
        let text = line(self.from, &self.prev, &stats, tkn, sub);
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        f.write_all(text.as_bytes())?;
        self.from = now;
        self.prev = stats;
        Ok(())
    }
}

/// Writes a line at the next 00:00 UTC and every day after (`logServerStats`).
pub async fn run(metrics: Arc<NtfMetrics>, path: PathBuf) {
    tracing::info!("server stats log enabled: {}", path.display());
    let mut log = DailyLog::new(path, &metrics);
    let delay = initial_delay(SystemTime::now(), 0);
    tokio::time::sleep(Duration::from_secs(delay)).await;
    let mut every = tokio::time::interval(Duration::from_secs(DAY));
    loop {
        every.tick().await;
        if let Err(e) = log.write(&metrics, SystemTime::now()) {
            tracing::warn!("server stats log {}: {e}", log.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntf::{PushKind, PushOutcome};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn dates_and_the_first_delay() {
        // 2024-01-01 was a Monday
        assert_eq!(civil(at(1_704_067_200)), ("2024-01-01".into(), 1, 1));
        assert_eq!(civil(at(1_704_067_200 + 86400 * 6 + 5)), ("2024-01-07".into(), 7, 7));
        assert_eq!(initial_delay(at(1_704_067_200 + 3600), 0), 86400 - 3600);
        assert_eq!(initial_delay(at(1_704_067_200), 0), 0);
    }

    #[test]
    fn lines_carry_the_period_counts_in_the_reference_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATS_DAILY_FILE);
        let m = NtfMetrics::new(Vec::new());
        let mut log = DailyLog::new(path.clone(), &m);
        log.from = at(1_704_067_200 - 86400); // Sunday 2023-12-31
        m.push_result("apns_prod", PushKind::Messages, &PushOutcome::Delivered, None);
        m.push_result("apns_prod", PushKind::Messages, &PushOutcome::Failed, None);
        m.token_active(b"t1");
        m.active_subs.update(b"q1");
        m.active_subs.update(b"q2");
        // written on Monday 2024-01-01: day, week and month
        log.write(&m, at(1_704_067_200)).unwrap();
        m.push_result("apns_prod", PushKind::Verification, &PushOutcome::Delivered, None);
        m.token_active(b"t2");
        // Tuesday the 2nd: the day only
        log.write(&m, at(1_704_067_200 + 86400)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "2023-12-31,0,0,0,0,0,0,1,1,1,1,2,2,2,0,1,0,0,0,0,0,0\n\
             2024-01-01,0,0,0,0,0,0,0,1,,,0,,,0,0,0,0,0,1,0,0\n"
        );
    }
}
