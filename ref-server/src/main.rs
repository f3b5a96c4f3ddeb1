//! `ref-server`: entry point for the reference pair.
//!
//! ```text
//! ref-server demo     run the notification path end to end on loopback (see `demo`)
//! ```
//! The servers themselves are the `ntf-server` and `smp-server` binaries.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ref-server", version, about = "SimpleX notification reference pair")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a mock APNS and a notification server on loopback and run a client through the
    /// whole flow, printing each step; exits 0 when every step succeeded.
    Demo,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().cmd {
        Cmd::Demo => ref_server::demo::run().await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
