//! `ref-server`: entry point for the reference pair.
//!
//! ```text
//! ref-server demo [--provider apns|webpush]   run the notification path end to end on
//!                                             loopback (see `demo`)
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
    /// Start a mock APNS (or a mock Web Push service) and a notification server on loopback
    /// and run a client through the whole flow, printing each step; exits 0 when every step
    /// succeeded.
    Demo {
        /// Where the pushes go: the mock APNS or the mock Web Push service.
        #[arg(long, value_enum, default_value_t = Provider::Apns)]
        provider: Provider,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Provider {
    Apns,
    Webpush,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().cmd {
        Cmd::Demo { provider } => ref_server::demo::run(match provider {
            Provider::Apns => ref_server::demo::DemoProvider::Apns,
            Provider::Webpush => ref_server::demo::DemoProvider::WebPush,
        })
        .await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
