//! The counters kept across restarts with `[STORE_LOG] log_stats = on`:
//! `ntf-server-stats.log` in the state directory, written at shutdown and read (then renamed
//! `.bak`) at the start, as the reference's `saveServerStats` / `restoreServerStats` with the
//! text form of `NtfServerStatsData` (`Notifications/Server/Stats.hs`).
//!
//! ```text
//! file     = "fromTime=" iso8601 LF counter* own* counter* "activeTokens:" LF period LF
//!            "activeSubs:" LF period [LF]
//! counter  = name "=" int LF   ; tknCreated tknVerified tknDeleted [tknReplaced] subCreated
//!                              ; subDeleted ntfReceived [ntfReceivedAuth] ntfDelivered
//!                              ; [ntfFailed], then [ntfCronDelivered] .. [ntfVrfInvalidTkn]
//! own      = name "=" [host " " int *("," host " " int)] LF   ; ntfReceivedOwn .. ntfFailedOwn
//! period   = "dayHashes=" ints LF "weekHashes=" ints LF "monthHashes=" ints
//! ints     = [int *("," int)]
//! ```
//!
//! Fields in brackets may be absent (0). The hashes are of entity ids: the reference's are
//! `Data.Hashable`'s, ours SipHash, so after moving between the two an entity active in the
//! restored period may count twice in it. A file that does not parse stops the start, as in
//! the reference.

use std::collections::HashMap;
use std::time::SystemTime;

use super::metrics::{NtfMetrics, Stats};

/// The file's name, in the state directory.
pub const STATS_FILE: &str = "ntf-server-stats.log";

/// `iso8601Show` of a `UTCTime`: the fraction without trailing zeros, none when whole.
fn iso8601(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_nanos(t).to_string();
    let s = s.trim_end_matches('Z');
    match s.split_once('.') {
        Some((whole, frac)) => match frac.trim_end_matches('0') {
            "" => format!("{whole}Z"),
            f => format!("{whole}.{f}Z"),
        },
        None => format!("{s}Z"),
    }
}

fn ints(v: &[u64]) -> String {
    // the reference's `Int`s: the hashes' bits as signed 64-bit numbers
    v.iter().map(|h| (*h as i64).to_string()).collect::<Vec<_>>().join(",")
}

fn own(v: &[(String, u64)]) -> String {
    v.iter().map(|(h, n)| format!("{h} {n}")).collect::<Vec<_>>().join(",")
}

/// The file's text (`strEncode NtfServerStatsData`).
pub fn encode(m: &NtfMetrics) -> String {
    let s = m.stats();
    let o = m.own_stats();
    let mut out = format!("fromTime={}\n", iso8601(m.started()));
    let mut put = |k: &str, v: String| out += &format!("{k}={v}\n");
    put("tknCreated", s.tkn_created.to_string());
    put("tknVerified", s.tkn_verified.to_string());
    put("tknDeleted", s.tkn_deleted.to_string());
    put("tknReplaced", s.tkn_replaced.to_string());
    put("subCreated", s.sub_created.to_string());
    put("subDeleted", s.sub_deleted.to_string());
    put("ntfReceived", s.ntf_received.to_string());
    put("ntfReceivedAuth", s.ntf_received_auth.to_string());
    put("ntfDelivered", s.ntf_delivered.to_string());
    put("ntfFailed", s.ntf_failed.to_string());
    put("ntfReceivedOwn", own(&o[0]));
    put("ntfReceivedAuthOwn", own(&o[1]));
    put("ntfDeliveredOwn", own(&o[2]));
    put("ntfFailedOwn", own(&o[3]));
    put("ntfCronDelivered", s.ntf_cron_delivered.to_string());
    put("ntfCronFailed", s.ntf_cron_failed.to_string());
    put("ntfVrfQueued", s.ntf_vrf_queued.to_string());
    put("ntfVrfDelivered", s.ntf_vrf_delivered.to_string());
    put("ntfVrfFailed", s.ntf_vrf_failed.to_string());
    put("ntfVrfInvalidTkn", s.ntf_vrf_invalid_tkn.to_string());
    for (name, p) in [("activeTokens", &m.active_tokens), ("activeSubs", &m.active_subs)] {
        let [d, w, mo] = p.hashes();
        out += &format!("{name}:\ndayHashes={}\nweekHashes={}\nmonthHashes={}\n", ints(&d), ints(&w), ints(&mo));
    }
    out
}

/// The values of a file (`strP`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Saved {
    pub from: Option<SystemTime>,
    pub stats: Stats,
    /// `ntfReceivedOwn`, `ntfReceivedAuthOwn`, `ntfDeliveredOwn`, `ntfFailedOwn`
    pub own: [Vec<(String, u64)>; 4],
    /// day, week, month of `activeTokens` then of `activeSubs`
    pub hashes: [[Vec<u64>; 3]; 2],
}

fn bad(what: &str) -> String {
    format!("{STATS_FILE}: bad {what}")
}

/// Reads a file's text.
///
/// # Errors
/// A missing required field or a value that does not parse, named.
pub fn decode(text: &str) -> Result<Saved, String> {
    let mut fields: HashMap<&str, &str> = HashMap::new();
    let mut section = "";
    for line in text.lines() {
        if let Some(s) = line.strip_suffix(':') {
            section = s;
            continue;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| bad(&format!("line {line:?}")))?;
        let key: &str = match (section, k) {
            ("activeTokens", "dayHashes" | "day") => "tkn.day",
            ("activeTokens", "weekHashes" | "week") => "tkn.week",
            ("activeTokens", "monthHashes" | "month") => "tkn.month",
            ("activeSubs", "dayHashes" | "day") => "sub.day",
            ("activeSubs", "weekHashes" | "week") => "sub.week",
            ("activeSubs", "monthHashes" | "month") => "sub.month",
            _ => k,
        };
        fields.insert(key, v);
    }
    let num = |k: &str, required: bool| -> Result<u64, String> {
        match fields.get(k) {
            Some(v) => v.parse::<i64>().map(|n| n.max(0) as u64).map_err(|_| bad(k)),
            None if required => Err(format!("{STATS_FILE}: no {k}")),
            None => Ok(0),
        }
    };
    let own = |k: &str| -> Result<Vec<(String, u64)>, String> {
        let Some(v) = fields.get(k).filter(|v| !v.is_empty()) else { return Ok(Vec::new()) };
        v.split(',')
            .map(|p| {
                let (h, n) = p.rsplit_once(' ').ok_or_else(|| bad(k))?;
                Ok((h.to_string(), n.parse().map_err(|_| bad(k))?))
            })
            .collect()
    };
    let hashes = |k: &str| -> Result<Vec<u64>, String> {
        let v = fields.get(k).ok_or_else(|| format!("{STATS_FILE}: no {k}"))?;
        // `dayHashes=` holds hashes; the older `day=` the entity ids (base64url), hashed here
        let item = |s: &str| match s.parse::<i64>() {
            Ok(n) => Ok(n as u64),
            Err(_) => smp_proto::text::base64url_decode(s.as_bytes()).map(|id| super::period::id_hash(&id)).map_err(|_| bad(k)),
        };
        v.split(',').filter(|s| !s.is_empty()).map(item).collect()
    };
    let from = fields.get("fromTime").ok_or_else(|| format!("{STATS_FILE}: no fromTime"))?;
    let from = humantime::parse_rfc3339(from).map_err(|_| bad("fromTime"))?;
    Ok(Saved {
        from: Some(from),
        stats: Stats {
            tkn_created: num("tknCreated", true)?,
            tkn_verified: num("tknVerified", true)?,
            tkn_deleted: num("tknDeleted", true)?,
            tkn_replaced: num("tknReplaced", false)?,
            sub_created: num("subCreated", true)?,
            sub_deleted: num("subDeleted", true)?,
            ntf_received: num("ntfReceived", true)?,
            ntf_received_auth: num("ntfReceivedAuth", false)?,
            ntf_delivered: num("ntfDelivered", true)?,
            ntf_failed: num("ntfFailed", false)?,
            ntf_cron_delivered: num("ntfCronDelivered", false)?,
            ntf_cron_failed: num("ntfCronFailed", false)?,
            ntf_vrf_queued: num("ntfVrfQueued", false)?,
            ntf_vrf_delivered: num("ntfVrfDelivered", false)?,
            ntf_vrf_failed: num("ntfVrfFailed", false)?,
            ntf_vrf_invalid_tkn: num("ntfVrfInvalidTkn", false)?,
        },
        own: [own("ntfReceivedOwn")?, own("ntfReceivedAuthOwn")?, own("ntfDeliveredOwn")?, own("ntfFailedOwn")?],
        hashes: [
            [hashes("tkn.day")?, hashes("tkn.week")?, hashes("tkn.month")?],
            [hashes("sub.day")?, hashes("sub.week")?, hashes("sub.month")?],
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntf::{PushKind, PushOutcome};

    /// A file as the reference's `strEncode NtfServerStatsData` writes it (`B.unlines` of the
    /// fields; `PeriodStatsData` as `dayHashes=`.. with `IntSet`s comma-separated).
    const REFERENCE: &str = "fromTime=2024-01-01T00:00:00.5Z\ntknCreated=3\ntknVerified=2\ntknDeleted=1\n\
        tknReplaced=0\nsubCreated=5\nsubDeleted=0\nntfReceived=7\nntfReceivedAuth=1\nntfDelivered=6\n\
        ntfFailed=1\nntfReceivedOwn=smp1.simplex.im 4,smp2.simplex.im 3\nntfReceivedAuthOwn=\n\
        ntfDeliveredOwn=smp1.simplex.im 4\nntfFailedOwn=\nntfCronDelivered=2\nntfCronFailed=0\n\
        ntfVrfQueued=2\nntfVrfDelivered=2\nntfVrfFailed=0\nntfVrfInvalidTkn=0\nactiveTokens:\n\
        dayHashes=-5,17\nweekHashes=-5,17\nmonthHashes=-5,17,99\nactiveSubs:\ndayHashes=\n\
        weekHashes=1\nmonthHashes=1\n";

    #[test]
    fn the_reference_file_restores_and_saves_back_the_same() {
        let saved = decode(REFERENCE).unwrap();
        assert_eq!(saved.stats.tkn_created, 3);
        assert_eq!(saved.own[0], [("smp1.simplex.im".to_string(), 4), ("smp2.simplex.im".to_string(), 3)]);
        assert_eq!(saved.hashes[0][2], [(-5i64) as u64, 17, 99]);
        let m = NtfMetrics::new(vec!["simplex.im".into()]);
        m.restore(&saved);
        assert_eq!(m.stats(), saved.stats);
        assert_eq!(m.active_tokens.counts(), (2, 2, 3));
        // written back as read (the sets in the reference's ascending order)
        assert_eq!(encode(&m), REFERENCE);
        m.push_result("apns_prod", PushKind::Messages, &PushOutcome::Delivered, None);
        assert_eq!(decode(&encode(&m)).unwrap().stats.ntf_delivered, 7);
    }

    #[test]
    fn old_files_without_the_later_fields_and_broken_ones() {
        let old = "fromTime=2023-05-01T10:00:00Z\ntknCreated=1\ntknVerified=1\ntknDeleted=0\nsubCreated=1\n\
            subDeleted=0\nntfReceived=2\nntfDelivered=2\nactiveTokens:\nday=YWJj\nweek=YWJj,ZGVm\nmonth=\nactiveSubs:\n\
            dayHashes=\nweekHashes=\nmonthHashes=";
        let s = decode(old).unwrap();
        assert_eq!((s.stats.ntf_delivered, s.stats.ntf_failed), (2, 0));
        // the ids of the older form are hashed as the server hashes them
        let m = NtfMetrics::new(Vec::new());
        m.restore(&s);
        m.active_tokens.update(b"abc");
        assert_eq!(m.active_tokens.counts(), (1, 2, 1));
        assert_eq!(decode("tknCreated=1\n").unwrap_err(), "ntf-server-stats.log: no fromTime");
        let broken = REFERENCE.replace("tknCreated=3", "tknCreated=x");
        assert_eq!(decode(&broken).unwrap_err(), "ntf-server-stats.log: bad tknCreated");
    }
}
