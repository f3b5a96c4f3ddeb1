//! `ntf-check`: runs a conformance suite against a live server and reports each case.
//!
//! ```text
//! ntf-check ntf ntf://KEYHASH@HOST[:PORT] [--apns-listen ADDR [--apns-dir DIR]] [OPTIONS]
//! ntf-check smp smp://KEYHASH@HOST[:PORT] [OPTIONS]
//! ntf-check pair ntf://... smp://... --apns-listen ADDR [--apns-dir DIR] [OPTIONS]
//! ntf-check apns-init --listen ADDR [--apns-dir DIR]   the mock's identity and [APNS_TEST]
//! ntf-check list                           the cases, their rules and reference functions
//! options: --case ID (repeatable; an id or a prefix such as ntf.cmd), --timeout SECS (each
//!          step), --json, --junit FILE
//! ```
//!
//! Exit status: 0 when every case run passed (skipped cases do not count), 1 when one failed,
//! 2 when the checker could not run (bad address, bad option, the mock APNS did not start).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ntf_check::ntf::{self, NtfEnv};
use ntf_check::report::{self, Summary};
use ntf_check::pair::PairEnv;
use ntf_check::smp::SmpEnv;
use ntf_check::{apns, run_suite, Case, RunOptions};
use smp_proto::server::{NtfServer, ProtocolServer, SmpServer, TransportHost};

#[derive(Parser)]
#[command(name = "ntf-check", version, about = "Conformance checker for live SimpleX notification servers")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the NTF suite against a notification server.
    Ntf {
        /// The server address, `ntf://<key hash>@host[:port]` (port 443 when absent).
        server: String,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        apns: ApnsArgs,
    },
    /// Run the pair suite: the whole path across a notification server and the SMP relay it
    /// reaches (needs --apns-listen).
    Pair {
        /// The notification server, `ntf://<key hash>@host[:port]`.
        ntf: String,
        /// The relay, `smp://<key hash>@host[:port]`, as the notification server reaches it.
        smp: String,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        apns: ApnsArgs,
    },
    /// Run the SMP suite (the notifier path) against an SMP relay.
    Smp {
        /// The relay address, `smp://<key hash>@host[:port]` (port 5223 when absent).
        server: String,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Make the mock APNS identity (CA and certificate) in a directory and print the
    /// `[APNS_TEST]` section to give the server, before the first `ntf --apns-listen` run.
    ApnsInit {
        /// The address the mock will listen on (host and port of the section).
        #[arg(long)]
        listen: SocketAddr,
        /// Where to keep the identity.
        #[arg(long, default_value = "ntf-check-apns")]
        apns_dir: PathBuf,
        /// A further host name for the mock's certificate.
        #[arg(long)]
        apns_name: Vec<String>,
    },
    /// List every case: id, rule and the reference function it comes from.
    List,
}

#[derive(clap::Args)]
struct ApnsArgs {
    /// Start the mock APNS on this address (e.g. `127.0.0.1:9443`) for the push cases; the
    /// server's `[apns_test]` must point at it (host, port and the CA file of `--apns-dir`).
    #[arg(long)]
    apns_listen: Option<SocketAddr>,
    /// Where the mock APNS keeps its CA and certificate (`apns-ca.pem` is the CA file to give
    /// the server); made on the first run.
    #[arg(long, default_value = "ntf-check-apns")]
    apns_dir: PathBuf,
    /// A further host name for the mock's certificate (the name the server connects to).
    #[arg(long)]
    apns_name: Vec<String>,
}

/// Starts the mock APNS when asked to.
async fn start_mock(a: &ApnsArgs) -> anyhow::Result<Option<apns::MockApns>> {
    let Some(listen) = a.apns_listen else { return Ok(None) };
    let (mock, made) = apns::start(listen, &a.apns_dir, &a.apns_name).await?;
    if made {
        eprintln!(
            "mock APNS identity made in {}: configure the server's [apns_test] with host and port of {listen} and CA file {}",
            a.apns_dir.display(),
            apns::ca_file(&a.apns_dir).display()
        );
    }
    Ok(Some(mock))
}

#[derive(clap::Args)]
struct RunArgs {
    /// Run only this case, or the cases under this prefix (`ntf.cmd`); repeatable.
    #[arg(long = "case")]
    cases: Vec<String>,
    /// The time limit of each step (connection, command, push), in seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write a JUnit XML report to this file.
    #[arg(long)]
    junit: Option<PathBuf>,
}

/// The first address of the server's hosts (IP, or a domain resolved; onion hosts skipped).
async fn resolve<S: smp_proto::server::Scheme>(server: &ProtocolServer<S>, default_port: u16) -> anyhow::Result<SocketAddr> {
    let port: u16 = if server.port().is_empty() { default_port } else { server.port().parse().with_context(|| format!("bad port {:?}", server.port()))? };
    for h in server.hosts() {
        match h {
            TransportHost::Ipv4(a) => return Ok(SocketAddr::from((*a, port))),
            TransportHost::Ipv6(a) => return Ok(SocketAddr::from((*a, port))),
            TransportHost::Domain(d) => {
                if let Some(a) = tokio::net::lookup_host((d.as_str(), port)).await.with_context(|| d.clone())?.next() {
                    return Ok(a);
                }
            }
            _ => {}
        }
    }
    anyhow::bail!("no reachable host in the address")
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::List => {
            let ntf_cases = ntf::suite();
            let smp_cases = ntf_check::smp::suite(smp_proto::version::smp::SUPPORTED);
            let pair_cases = ntf_check::pair::suite();
            let all = ntf_cases.iter().map(|c| (&c.id, c.rule, c.reference, c.needs_push));
            let all = all.chain(smp_cases.iter().map(|c| (&c.id, c.rule, c.reference, c.needs_push)));
            for (id, rule, reference, push) in all.chain(pair_cases.iter().map(|c| (&c.id, c.rule, c.reference, c.needs_push))) {
                out(&format!("{id}\n    rule: {rule}\n    reference: {reference}{}\n", if push { "\n    needs: --apns-listen" } else { "" }));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Smp { server, run } => {
            let (_, env) = smp_env(&server, &run).await?;
            let versions = ntf_check::smp::offered(env.addr, env.timeout).await.unwrap_or(smp_proto::version::smp::SUPPORTED);
            let suite = ntf_check::smp::suite(versions);
            run_and_report("smp", &server, &suite, &env, &run, false).await
        }
        Cmd::ApnsInit { listen, apns_dir, apns_name } => {
            let (_, made) = apns::start(listen, &apns_dir, &apns_name).await?;
            let ca = apns::ca_file(&apns_dir);
            let ca = std::fs::canonicalize(&ca).unwrap_or(ca);
            out(&format!(
                "{} {}\n\n[APNS_TEST]\nhost = {}\nport = {}\nca_file = {}\n",
                if made { "made the mock APNS identity in" } else { "the mock APNS identity is already in" },
                apns_dir.display(),
                apns_name.first().cloned().unwrap_or_else(|| listen.ip().to_string()),
                listen.port(),
                ca.display()
            ));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Ntf { server, run, apns } => {
            let env = ntf_env(&server, &run, &apns).await?;
            let push = env.mock.is_some();
            run_and_report("ntf", &server, &ntf::suite(), &env, &run, push).await
        }
        Cmd::Pair { ntf, smp, run, apns } => {
            anyhow::ensure!(apns.apns_listen.is_some(), "the pair suite needs --apns-listen (every case pushes)");
            let ntf_env = ntf_env(&ntf, &run, &apns).await?;
            let (relay, smp_env) = smp_env(&smp, &run).await?;
            let env = PairEnv { ntf: ntf_env, smp: smp_env, relay };
            run_and_report("pair", &format!("{ntf} + {smp}"), &ntf_check::pair::suite(), &env, &run, true).await
        }
    }
}

async fn ntf_env(server: &str, run: &RunArgs, apns: &ApnsArgs) -> anyhow::Result<NtfEnv> {
    let parsed = NtfServer::parse_text(server.as_bytes()).map_err(|e| anyhow::anyhow!("server address {server:?}: {e}"))?;
    let addr = resolve(&parsed, 443).await.with_context(|| format!("server address {server:?}"))?;
    let timeout = step_timeout(run)?;
    let mock = start_mock(apns).await?;
    Ok(NtfEnv { addr, key_hash: parsed.key_hash().clone(), timeout, mock })
}

async fn smp_env(server: &str, run: &RunArgs) -> anyhow::Result<(SmpServer, SmpEnv)> {
    let parsed = SmpServer::parse_text(server.as_bytes()).map_err(|e| anyhow::anyhow!("relay address {server:?}: {e}"))?;
    let addr = resolve(&parsed, 5223).await.with_context(|| format!("relay address {server:?}"))?;
    let env = SmpEnv { addr, key_hash: parsed.key_hash().clone(), timeout: step_timeout(run)? };
    Ok((parsed, env))
}

fn step_timeout(run: &RunArgs) -> anyhow::Result<Duration> {
    anyhow::ensure!(run.timeout > 0.0 && run.timeout.is_finite(), "--timeout must be a positive number of seconds");
    Ok(Duration::from_secs_f64(run.timeout))
}

/// Runs the selected cases and prints the report; the exit code says whether all passed.
async fn run_and_report<E: Sync>(name: &str, target: &str, suite: &[Case<E>], env: &E, run: &RunArgs, push: bool) -> anyhow::Result<ExitCode> {
    for f in &run.cases {
        anyhow::ensure!(suite.iter().any(|c| ntf_check::selected(&c.id, std::slice::from_ref(f))), "--case {f}: no such case in the {name} suite (see `ntf-check list`)");
    }
    let opts = RunOptions { cases: run.cases.clone(), case_timeout: step_timeout(run)? * 6, push };
    let start = Instant::now();
    let outcomes = run_suite(suite, env, &opts).await;
    let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    if run.json {
        out(&(report::json(name, target, &outcomes, ms) + "\n"));
    } else {
        out(&report::table(name, target, &outcomes, ms));
    }
    if let Some(path) = &run.junit {
        std::fs::write(path, report::junit(name, target, &outcomes, ms)).with_context(|| format!("--junit {}", path.display()))?;
    }
    Ok(if Summary::of(&outcomes).failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Writes to stdout; a closed pipe (`ntf-check list | head`) is not an error.
fn out(s: &str) {
    use std::io::Write as _;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes()).and_then(|()| o.flush());
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
