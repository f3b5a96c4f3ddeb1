//! `ntf-check`: a conformance checker for live SimpleX servers, in the manner of h2spec and the
//! Autobahn testsuite. It connects to a notification server (`ntf`) or an SMP relay (`smp`)
//! as a client would, runs numbered cases, each checking one rule of the reference
//! implementation (simplexmq 6.5.5.0, named by the function the rule comes from), and reports
//! pass/fail per case.
//!
//! Every step has a time limit, so a server that never answers fails the case instead of
//! hanging the run; a server that answers garbage or closes the connection fails the case with
//! what it sent, and the run goes on with the next case.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod apns;
pub mod ntf;
pub mod pair;
pub mod probe;
pub mod report;
pub mod smp;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// What a failed case saw: a message and the bytes the server sent, when there were some.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What was expected and what happened instead.
    pub message: String,
    /// Bytes from the server that did not fit (hex in the reports).
    pub seen: Option<Vec<u8>>,
}

impl Failure {
    /// A failure without bytes.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            seen: None,
        }
    }

    /// A failure with the bytes seen.
    pub fn with_bytes(message: impl Into<String>, seen: Vec<u8>) -> Self {
        Self {
            message: message.into(),
            seen: Some(seen),
        }
    }
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Self::new(e.to_string())
    }
}

/// What a case returns: a short note on success.
pub type CaseResult = Result<String, Failure>;

/// A running case.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = CaseResult> + Send + 'a>>;

/// A case's body, given the suite's environment.
pub type CaseFn<E> = Box<dyn for<'a> Fn(&'a E) -> CaseFuture<'a> + Send + Sync>;

/// One case of a suite.
pub struct Case<E> {
    /// Its id, e.g. `ntf.cmd.tcrn.bounds`.
    pub id: String,
    /// The rule it checks, in one line.
    pub rule: &'static str,
    /// The reference function (module and function of simplexmq) the rule comes from.
    pub reference: &'static str,
    /// Whether it needs the checker's mock APNS (`--apns-listen`); skipped without it.
    pub needs_push: bool,
    /// The check.
    pub run: CaseFn<E>,
}

/// Whether a case passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The server followed the rule.
    Pass,
    /// It did not (or did not answer in time).
    Fail,
    /// Not run: it needs what this run does not have (the mock APNS).
    Skip,
}

/// The result of one case.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    /// The case id.
    pub id: String,
    /// The rule.
    pub rule: &'static str,
    /// The reference function.
    pub reference: &'static str,
    /// Pass, fail or skip.
    pub status: Status,
    /// On success a note, on failure what happened, on skip why.
    pub detail: String,
    /// Bytes the server sent that did not fit, as hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen_hex: Option<String>,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// How a suite runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Run only the cases whose id equals one of these, or starts with one followed by `.`
    /// (empty: all).
    pub cases: Vec<String>,
    /// The time limit of a whole case (each step has its own, shorter one).
    pub case_timeout: Duration,
    /// Whether the mock APNS runs (cases that need it are skipped otherwise).
    pub push: bool,
}

/// Whether `id` is selected by `filters` (an exact id, or a prefix ending at a `.`).
pub fn selected(id: &str, filters: &[String]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| {
            id == f || (id.starts_with(f.as_str()) && id.as_bytes().get(f.len()) == Some(&b'.'))
        })
}

/// Runs the selected cases of `suite` one after the other, each within the case time limit.
pub async fn run_suite<E: Sync>(suite: &[Case<E>], env: &E, opts: &RunOptions) -> Vec<Outcome> {
    let mut out = Vec::new();
    for case in suite.iter().filter(|c| selected(&c.id, &opts.cases)) {
        let start = Instant::now();
        let (status, detail, seen) = if case.needs_push && !opts.push {
            (
                Status::Skip,
                "needs the mock APNS: give --apns-listen and configure the server's [apns_test]"
                    .to_string(),
                None,
            )
        } else {
            match tokio::time::timeout(opts.case_timeout, (case.run)(env)).await {
                Ok(Ok(note)) => (Status::Pass, note, None),
                Ok(Err(f)) => (Status::Fail, f.message, f.seen),
                Err(_) => (
                    Status::Fail,
                    format!("no result within {:?}", opts.case_timeout),
                    None,
                ),
            }
        };
        out.push(Outcome {
            id: case.id.clone(),
            rule: case.rule,
            reference: case.reference,
            status,
            detail,
            seen_hex: seen.map(|b| hex(&b)),
            millis: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
    out
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_selection() {
        let f = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(selected("ntf.cmd.ping", &[]));
        assert!(selected("ntf.cmd.ping", &f(&["ntf.cmd.ping"])));
        assert!(selected("ntf.cmd.ping", &f(&["ntf.cmd"])));
        assert!(!selected("ntf.cmd.pingx", &f(&["ntf.cmd.ping"])));
        assert!(!selected("ntf.cmd.ping", &f(&["ntf.cm"])));
        assert!(selected("ntf.tls.chain", &f(&["ntf.cmd", "ntf.tls"])));
    }
}
