//! Small measurement helpers: resident memory from `/proc`, latency percentiles.

use std::time::Duration;

/// The resident set size of this process in KiB (`VmRSS` in `/proc/self/status`), `None`
/// where `/proc` is not available.
pub fn rss_kib() -> Option<u64> {
    rss_kib_of("/proc/self/status")
}

/// `VmRSS` in KiB from a `/proc/<pid>/status` file.
pub fn rss_kib_of(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_vm_rss(&text)
}

/// The `VmRSS:` value (KiB) of a `/proc/<pid>/status` text.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) of the process whose `/proc/<pid>/stat` is at `path`.
pub fn cpu_time_of(path: &str) -> Option<Duration> {
    parse_cpu_time(&std::fs::read_to_string(path).ok()?)
}

/// CPU time of this process.
pub fn cpu_time() -> Option<Duration> {
    cpu_time_of("/proc/self/stat")
}

/// `utime + stime` of a `/proc/<pid>/stat` text, in Linux's fixed user tick of 1/100 s.
pub fn parse_cpu_time(stat: &str) -> Option<Duration> {
    // the command name (field 2) is in parentheses and may hold spaces: count after it
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    // fields 3.. here; utime and stime are fields 14 and 15
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Latency percentiles of a sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Sample size.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest value.
    pub max: Duration,
}

impl Percentiles {
    /// Percentiles (nearest rank) of `sample`; all zero for an empty sample.
    pub fn of(sample: &[Duration]) -> Self {
        let mut v = sample.to_vec();
        v.sort_unstable();
        let at = |q: f64| -> Duration {
            if v.is_empty() {
                return Duration::ZERO;
            }
            // nearest rank: ceil(q * n), 1-based
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[rank - 1]
        };
        Self {
            count: v.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: v.last().copied().unwrap_or_default(),
        }
    }
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_parsed() {
        let stat = "4242 (tokio rt) S 1 2 3 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 3 0 99 1000 200";
        assert_eq!(parse_cpu_time(stat), Some(Duration::from_millis(2810)));
        assert_eq!(parse_cpu_time("1 (x) S 1"), None);
        assert!(cpu_time().is_some_and(|t| t < Duration::from_secs(1_000_000)));
    }

    #[test]
    fn vm_rss_is_parsed() {
        let s = "Name:\tx\nVmPeak:\t  9999 kB\nVmRSS:\t   12345 kB\nThreads: 3\n";
        assert_eq!(parse_vm_rss(s), Some(12345));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(rss_kib().is_some_and(|k| k > 0));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let sample: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let p = Percentiles::of(&sample);
        assert_eq!(p.count, 100);
        assert_eq!(p.p50, Duration::from_millis(50));
        assert_eq!(p.p90, Duration::from_millis(90));
        assert_eq!(p.p99, Duration::from_millis(99));
        assert_eq!(p.max, Duration::from_millis(100));
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
        let one = Percentiles::of(&[Duration::from_millis(7)]);
        assert_eq!(
            (one.p50, one.p99, one.max),
            (
                Duration::from_millis(7),
                Duration::from_millis(7),
                Duration::from_millis(7)
            )
        );
    }
}
