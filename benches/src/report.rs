//! Reads criterion's estimates and renders the results table and the issue's target ratios.
//!
//! Criterion writes, for each benchmark, `<dir>/<group>/<function>[/<value>]/new/benchmark.json`
//! (its id and throughput) and `estimates.json` beside it. The typical time is the slope
//! estimate when criterion computed one (linear sampling), otherwise the mean, as criterion's
//! own report does.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use serde_json::Value;

/// One benchmark's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Criterion's full id, `group/function[/value]`.
    pub id: String,
    /// Typical time per iteration, nanoseconds.
    pub ns: f64,
    /// Bytes per iteration (`Throughput::Bytes`), if set.
    pub bytes: Option<u64>,
}

impl Estimate {
    /// Throughput in bytes per second, if the bytes are known and the time is positive.
    pub fn bytes_per_sec(&self) -> Option<f64> {
        match self.bytes {
            Some(b) if self.ns > 0.0 => Some(b as f64 * 1e9 / self.ns),
            _ => None,
        }
    }
}

/// The estimate of one benchmark directory (the one holding `benchmark.json` and
/// `estimates.json`), or `None` when the files are missing or malformed.
pub fn read_one(dir: &Path) -> Option<Estimate> {
    let bench: Value = serde_json::from_slice(&fs::read(dir.join("benchmark.json")).ok()?).ok()?;
    let est: Value = serde_json::from_slice(&fs::read(dir.join("estimates.json")).ok()?).ok()?;
    let id = bench.get("full_id")?.as_str()?.to_owned();
    let bytes = bench
        .get("throughput")
        .and_then(|t| t.get("Bytes"))
        .and_then(Value::as_u64);
    let point = |k: &str| est.get(k)?.get("point_estimate")?.as_f64();
    let ns = point("slope").or_else(|| point("mean"))?;
    Some(Estimate { id, ns, bytes })
}

/// All estimates under criterion's output directory, sorted by id.
///
/// # Errors
/// An IO error when `root` cannot be listed.
pub fn load(root: &Path) -> io::Result<Vec<Estimate>> {
    let mut out = Vec::new();
    walk(root, &mut out)?;
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The fastest estimate of each benchmark over several criterion output directories (runs of
/// the same benchmarks), sorted by id. On a shared machine other load only slows a run down,
/// so the minimum over runs is the best estimate of the unloaded time.
///
/// # Errors
/// An IO error when a directory cannot be listed.
pub fn load_min<P: AsRef<Path>>(roots: &[P]) -> io::Result<Vec<Estimate>> {
    let mut all: Vec<Estimate> = Vec::new();
    for root in roots {
        for e in load(root.as_ref())? {
            match all.iter_mut().find(|a| a.id == e.id) {
                Some(a) if e.ns < a.ns => *a = e,
                Some(_) => {}
                None => all.push(e),
            }
        }
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(all)
}

fn walk(dir: &Path, out: &mut Vec<Estimate>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            out.extend(read_one(&path));
        } else if path
            .file_name()
            .is_some_and(|n| n != "base" && n != "change" && n != "report")
        {
            walk(&path, out)?;
        }
    }
    Ok(())
}

/// A time in ns, µs or ms with three significant digits.
pub fn fmt_time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// A throughput in MiB/s or GiB/s.
pub fn fmt_rate(bps: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bps >= 1024.0 * MIB {
        format!("{:.2} GiB/s", bps / (1024.0 * MIB))
    } else {
        format!("{:.1} MiB/s", bps / MIB)
    }
}

/// One target check: measured value, limit, and whether it is met.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// What is compared.
    pub what: String,
    /// The measured ratio or time.
    pub value: f64,
    /// The limit (`value <= limit` meets the target).
    pub limit: f64,
    /// Unit of `value` and `limit` (`x` for ratios, `ns` for times).
    pub unit: &'static str,
}

impl Check {
    /// Whether the target is met.
    pub fn met(&self) -> bool {
        self.value <= self.limit
    }
}

fn find<'a>(es: &'a [Estimate], id: &str) -> Option<&'a Estimate> {
    es.iter().find(|e| e.id == id)
}

fn ratio(es: &[Estimate], what: &str, num: &str, den: &str, limit: f64) -> Option<Check> {
    let (n, d) = (find(es, num)?, find(es, den)?);
    Some(Check {
        what: format!("{what}: {num} / {den}"),
        value: n.ns / d.ns,
        limit,
        unit: "x",
    })
}

fn worst(es: &[Estimate], prefix: &str, limit: f64) -> Option<Check> {
    let e = es
        .iter()
        .filter(|e| e.id.starts_with(prefix))
        .max_by(|a, b| a.ns.total_cmp(&b.ns))?;
    Some(Check {
        what: format!("slowest {prefix}*: {}", e.id),
        value: e.ns,
        limit,
        unit: "ns",
    })
}

/// The issue's targets, computed from the estimates (missing benchmarks are left out):
/// (1) SMP block decode within 5x of copying it; (2) NTF command decode within 200 ns and
/// encode within 100 ns; (3) authorization within 10% of the bare primitive.
pub fn checks(es: &[Estimate]) -> Vec<Check> {
    [
        ratio(
            es,
            "(1) SMP block of NMSG vs memcpy",
            "block/smp_16384_nmsg/decode",
            "floor/memcpy/16384",
            5.0,
        ),
        worst(es, "ntf_command/decode/", 200.0),
        // the borrowed SNEW view (`NewNtfSubscriptionRef`), the server's receive path
        worst(es, "ntf_command/decode_ref/", 200.0),
        worst(es, "ntf_command/encode/", 100.0),
        ratio(
            es,
            "(3) Ed25519 authorization vs bare verify",
            "auth/ed25519/transmission",
            "auth/ed25519/bare_verify",
            1.10,
        ),
        ratio(
            es,
            "(3) X25519 authenticator vs bare crypto_box open",
            "auth/x25519/transmission",
            "auth/x25519/bare_box_open",
            1.10,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Renders the results table and the target checks as Markdown.
pub fn render(es: &[Estimate]) -> String {
    let mut s = String::new();
    let floor = find(es, "floor/memcpy/16384").map(|e| e.ns / 16384.0);
    s.push_str("| benchmark | bytes | time | throughput | x memcpy/byte |\n");
    s.push_str("|---|---:|---:|---:|---:|\n");
    for e in es {
        let rate = e.bytes_per_sec().map_or_else(|| "-".into(), fmt_rate);
        let vs_copy = match (e.bytes, floor) {
            (Some(b), Some(f)) if b > 0 && f > 0.0 => format!("{:.0}", e.ns / b as f64 / f),
            _ => "-".into(),
        };
        let bytes = e.bytes.map_or_else(|| "-".into(), |b| b.to_string());
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            e.id,
            bytes,
            fmt_time(e.ns),
            rate,
            vs_copy
        );
    }
    s.push_str("\n| target | measured | limit | met |\n|---|---:|---:|---|\n");
    for c in checks(es) {
        let (v, l) = if c.unit == "x" {
            (format!("{:.2}x", c.value), format!("{:.2}x", c.limit))
        } else {
            (fmt_time(c.value), fmt_time(c.limit))
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            c.what,
            v,
            l,
            if c.met() { "yes" } else { "**no**" }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, ns: f64, bytes: u64) -> Estimate {
        Estimate {
            id: id.into(),
            ns,
            bytes: Some(bytes),
        }
    }

    #[test]
    fn checks_compute_ratios_and_worst_times() {
        let es = vec![
            e("block/smp_16384_nmsg/decode", 6000.0, 16384),
            e("floor/memcpy/16384", 1000.0, 16384),
            e("ntf_command/decode/TNEW", 150.0, 100),
            e("ntf_command/decode/SNEW", 250.0, 200),
            e("ntf_command/decode_ref/SNEW", 90.0, 200),
            e("ntf_command/encode/SNEW", 90.0, 200),
            e("auth/ed25519/transmission", 105.0, 100),
            e("auth/ed25519/bare_verify", 100.0, 100),
        ];
        let cs = checks(&es);
        assert_eq!(cs.len(), 5, "{cs:?}");
        assert!((cs[0].value - 6.0).abs() < 1e-9);
        assert!(!cs[0].met());
        assert!(cs[1].what.ends_with("ntf_command/decode/SNEW"));
        assert!(!cs[1].met());
        assert!(cs[2].what.ends_with("ntf_command/decode_ref/SNEW"));
        assert!(cs[2].met());
        assert!(cs[3].met());
        assert!((cs[4].value - 1.05).abs() < 1e-9 && cs[4].met());
        let table = render(&es);
        assert!(table.contains("| floor/memcpy/16384 | 16384 | 1.00 µs | 15.26 GiB/s | 1 |"));
        assert!(table.contains("6.00x | 5.00x | **no**"));
    }

    #[test]
    fn reads_criterion_files() {
        let dir = std::env::temp_dir().join(format!("bench-report-{}", std::process::id()));
        let new = dir.join("g/f/new");
        fs::create_dir_all(&new).unwrap();
        fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"g","function_id":"f","full_id":"g/f","throughput":{"Bytes":512}}"#,
        )
        .unwrap();
        fs::write(
            new.join("estimates.json"),
            r#"{"mean":{"point_estimate":12.5},"slope":null}"#,
        )
        .unwrap();
        fs::create_dir_all(dir.join("g/f/base")).unwrap();
        let es = load(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            es,
            vec![Estimate {
                id: "g/f".into(),
                ns: 12.5,
                bytes: Some(512)
            }]
        );
        assert!((es[0].bytes_per_sec().unwrap() - 512.0 / 12.5e-9).abs() < 1.0);
    }

    #[test]
    fn load_min_keeps_the_fastest_run() {
        let base = std::env::temp_dir().join(format!("bench-report-min-{}", std::process::id()));
        let write = |run: &str, id: &str, ns: f64| {
            let new = base.join(run).join(id).join("new");
            fs::create_dir_all(&new).unwrap();
            fs::write(
                new.join("benchmark.json"),
                format!(r#"{{"full_id":"{id}","throughput":{{"Bytes":8}}}}"#),
            )
            .unwrap();
            fs::write(
                new.join("estimates.json"),
                format!(
                    r#"{{"mean":{{"point_estimate":{}}},"slope":{{"point_estimate":{ns}}}}}"#,
                    ns * 2.0
                ),
            )
            .unwrap();
        };
        write("a", "x", 30.0);
        write("a", "y", 10.0);
        write("b", "x", 20.0);
        write("b", "y", 15.0);
        write("b", "z", 5.0);
        let es = load_min(&[base.join("a"), base.join("b")]).unwrap();
        fs::remove_dir_all(&base).unwrap();
        let got: Vec<(&str, f64)> = es.iter().map(|e| (e.id.as_str(), e.ns)).collect();
        assert_eq!(got, vec![("x", 20.0), ("y", 10.0), ("z", 5.0)]);
    }

    #[test]
    fn formats_units() {
        assert_eq!(fmt_time(12.34), "12.3 ns");
        assert_eq!(fmt_time(12_340.0), "12.34 µs");
        assert_eq!(fmt_time(12_340_000.0), "12.34 ms");
        assert_eq!(fmt_rate(2.0 * 1024.0 * 1024.0 * 1024.0), "2.00 GiB/s");
        assert_eq!(fmt_rate(1024.0 * 1024.0), "1.0 MiB/s");
    }
}
