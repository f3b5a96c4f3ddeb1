//! The reports: a table for people, JSON and JUnit XML for CI.

use std::fmt::Write as _;

use crate::{Outcome, Status};

/// Counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Cases skipped.
    pub skipped: usize,
}

impl Summary {
    /// The counts of `outcomes`.
    pub fn of(outcomes: &[Outcome]) -> Self {
        let n = |s| outcomes.iter().filter(|o| o.status == s).count();
        Self {
            passed: n(Status::Pass),
            failed: n(Status::Fail),
            skipped: n(Status::Skip),
        }
    }
}

/// The readable table: one line per case (`PASS`/`FAIL`/`SKIP`, id, rule), failures with
/// what happened, the reference function and the bytes seen, then the counts.
pub fn table(suite: &str, target: &str, outcomes: &[Outcome], elapsed_ms: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{suite} suite against {target}");
    let width = outcomes.iter().map(|o| o.id.len()).max().unwrap_or(0);
    for o in outcomes {
        let tag = match o.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        };
        let _ = writeln!(s, "{tag} {:<width$}  {}", o.id, o.rule);
        if o.status != Status::Pass {
            let _ = writeln!(s, "     {:<width$}  -> {}", "", o.detail);
        }
        if o.status == Status::Fail {
            let _ = writeln!(s, "     {:<width$}     reference: {}", "", o.reference);
            if let Some(h) = &o.seen_hex {
                let _ = writeln!(s, "     {:<width$}     bytes seen: {}", "", clip(h));
            }
        }
    }
    let c = Summary::of(outcomes);
    let _ = writeln!(
        s,
        "{} passed, {} failed, {} skipped in {:.2} s",
        c.passed,
        c.failed,
        c.skipped,
        elapsed_ms as f64 / 1e3
    );
    s
}

/// At most 256 hex digits (128 bytes), then how many more there were.
fn clip(h: &str) -> String {
    if h.len() <= 256 {
        h.to_string()
    } else {
        format!("{}... ({} bytes)", &h[..256], h.len() / 2)
    }
}

/// The JSON report: `{"suite","target","summary","cases":[...]}`.
pub fn json(suite: &str, target: &str, outcomes: &[Outcome], elapsed_ms: u64) -> String {
    serde_json::json!({
        "suite": suite,
        "target": target,
        "elapsed_ms": elapsed_ms,
        "summary": Summary::of(outcomes),
        "cases": outcomes,
    })
    .to_string()
}

/// A JUnit XML report: one `testsuite`, one `testcase` per case (`failure` or `skipped`).
pub fn junit(suite: &str, target: &str, outcomes: &[Outcome], elapsed_ms: u64) -> String {
    let c = Summary::of(outcomes);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites><testsuite name=\"ntf-check {}\" hostname=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        xml(suite),
        xml(target),
        outcomes.len(),
        c.failed,
        c.skipped,
        elapsed_ms as f64 / 1e3
    );
    for o in outcomes {
        let _ = write!(
            s,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
            xml(suite),
            xml(&o.id),
            o.millis as f64 / 1e3
        );
        match o.status {
            Status::Pass => {}
            Status::Skip => {
                let _ = write!(s, "<skipped message=\"{}\"/>", xml(&o.detail));
            }
            Status::Fail => {
                let _ = write!(
                    s,
                    "<failure message=\"{}\">rule: {}\nreference: {}\n{}</failure>",
                    xml(&o.detail),
                    xml(o.rule),
                    xml(o.reference),
                    o.seen_hex
                        .as_deref()
                        .map(|h| format!("bytes seen: {h}"))
                        .unwrap_or_default()
                );
            }
        }
        s.push_str("</testcase>\n");
    }
    s.push_str("</testsuite></testsuites>\n");
    s
}

fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(o, "&#x{:x};", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes() -> Vec<Outcome> {
        vec![
            Outcome {
                id: "ntf.cmd.ping".into(),
                rule: "PING -> PONG",
                reference: "Server.client",
                status: Status::Pass,
                detail: String::new(),
                seen_hex: None,
                millis: 3,
            },
            Outcome {
                id: "ntf.cmd.tcrn".into(),
                rule: "TCRN 19 -> ERR QUOTA & <x>",
                reference: "Server.client",
                status: Status::Fail,
                detail: "got \"OK\"".into(),
                seen_hex: Some("4f4b".into()),
                millis: 5,
            },
        ]
    }

    #[test]
    fn table_lists_cases_and_counts() {
        let t = table("ntf", "ntf://x@h", &outcomes(), 1500);
        assert!(t.contains("PASS ntf.cmd.ping"));
        assert!(t.contains("FAIL ntf.cmd.tcrn"));
        assert!(t.contains("bytes seen: 4f4b"));
        assert!(t.ends_with("1 passed, 1 failed, 0 skipped in 1.50 s\n"));
    }

    #[test]
    fn json_and_junit_are_well_formed() {
        let j: serde_json::Value = serde_json::from_str(&json("ntf", "t", &outcomes(), 9)).unwrap();
        assert_eq!(j["summary"]["failed"], 1);
        assert_eq!(j["cases"][1]["status"], "fail");
        assert_eq!(j["cases"][1]["seen_hex"], "4f4b");
        let x = junit("ntf", "t", &outcomes(), 9);
        assert!(x.contains("tests=\"2\" failures=\"1\""));
        assert!(x.contains("&amp; &lt;x&gt;"));
        assert!(x.contains("message=\"got &quot;OK&quot;\""));
        assert_eq!(x.matches("<testcase").count(), 2);
    }
}
