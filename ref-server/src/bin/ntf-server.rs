//! `ntf-server`: the reference SimpleX notification server.
//!
//! ```text
//! ntf-server init  --dir DIR [--host HOST] [--port PORT] [--sign-algorithm ed448|ed25519]
//!                                                           create keys, certificates, config; print the address
//! ntf-server start --dir DIR                                serve until interrupted
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ref_transport::SignAlgorithm;

#[derive(Parser)]
#[command(name = "ntf-server", version, about = "SimpleX notification server (reference implementation)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a server directory: CA and TLS credentials and ntf-server.toml. Prints the server address last.
    Init {
        /// Server directory (created).
        #[arg(long)]
        dir: PathBuf,
        /// Host name or IP address clients connect to.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// TCP port.
        #[arg(long, default_value_t = 443)]
        port: u16,
        /// Signature algorithm of the CA and TLS keys: ed448 (the reference's default) or ed25519.
        #[arg(long, short = 'a', default_value_t = SignAlgorithm::default())]
        sign_algorithm: SignAlgorithm,
    },
    /// Serve the server in DIR until interrupted.
    Start {
        /// Server directory made by `init`.
        #[arg(long)]
        dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().cmd {
        Cmd::Init { dir, host, port, sign_algorithm } => {
            ref_server::server::init_with(&dir, &host, port, sign_algorithm).map(|addr| println!("{addr}"))
        }
        Cmd::Start { dir } => match ref_server::server::run(&dir).await {
            Ok(server) => {
                let config = ref_server::server::config::Config::load(&dir).ok();
                let host = config.as_ref().map_or("127.0.0.1", |c| c.server.host.as_str());
                eprintln!("serving {}", server.address(host));
                let _ = tokio::signal::ctrl_c().await;
                server.shutdown().await;
                Ok(())
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
