//! `ref-client`: the conformance runner and the codec tool for interop testers.
//!
//! ```text
//! ref-client conformance FILE...                        check vector files
//! ref-client decode --type TYPE [--version V] HEX|-     print the JSON value
//! ref-client encode --type TYPE [--version V] JSON|-    print the hex encoding
//! ref-client types                                      list the codec types
//! ref-client oracle --type TYPE [--version V]           decode hex lines from stdin, one JSON
//!                                                       line each (differential fuzzing)
//! ref-client gen-vectors --out DIR                      write our vector files (spec/vectors)
//! ```

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ref_client::codecs::{self, Ctx};
use ref_client::{conformance, oracle};

#[derive(Parser)]
#[command(name = "ref-client", version, about = "SimpleX NTF reference client tools")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Which codec, at which version, with which parameters.
#[derive(clap::Args)]
struct CodecArgs {
    /// Codec type, e.g. `ntf.command` (see `types`).
    #[arg(long = "type")]
    ty: String,
    /// Negotiated protocol version (default: newest).
    #[arg(long)]
    version: Option<u16>,
    /// Extra parameters as JSON (e.g. for `transmission` and `block`).
    #[arg(long, default_value = "null")]
    params: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check conformance vector files; prints one line per failure and `N passed, N failed`.
    Conformance {
        /// Vector files (JSON arrays).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Decode wire bytes (hex, or `-` for stdin) and print the JSON value.
    Decode {
        #[command(flatten)]
        codec: CodecArgs,
        /// Hex bytes, or `-` to read them from stdin.
        input: String,
    },
    /// Encode a JSON value (or `-` for stdin) and print the hex bytes.
    Encode {
        #[command(flatten)]
        codec: CodecArgs,
        /// The JSON value, or `-` to read it from stdin.
        input: String,
    },
    /// List the codec types.
    Types,
    /// A decoder oracle for differential fuzzing: reads one hex input per line on stdin, writes
    /// one line of canonical JSON (`{"ok":..,"canonical_hex":..}` or `{"error":..}`) per input.
    Oracle {
        #[command(flatten)]
        codec: CodecArgs,
    },
    /// Write our conformance vector files, deterministically from fixed seeds.
    GenVectors {
        /// Output directory (created if missing), e.g. `spec/vectors`.
        #[arg(long, default_value = "spec/vectors")]
        out: PathBuf,
    },
}

fn read_input(arg: &str) -> anyhow::Result<String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s.trim().to_string())
    } else {
        Ok(arg.to_string())
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Conformance { files } => {
            let mut vectors = Vec::new();
            for f in &files {
                vectors.extend(conformance::load(f)?);
            }
            let report = conformance::run(&vectors);
            for line in &report.failures {
                println!("FAIL {line}");
            }
            println!("{}", report.summary());
            Ok(if report.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Cmd::Decode { codec: CodecArgs { ty, version, params }, input } => {
            let codec = codecs::find(&ty).ok_or_else(|| anyhow::anyhow!("unknown type {ty:?}; see `ref-client types`"))?;
            let params: serde_json::Value = serde_json::from_str(&params)?;
            let bytes = codecs::from_hex(&read_input(&input)?).map_err(|e| anyhow::anyhow!("input is not hex: {e}"))?;
            let value = codec.decode(&bytes, &Ctx { version, params: &params }).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Encode { codec: CodecArgs { ty, version, params }, input } => {
            let codec = codecs::find(&ty).ok_or_else(|| anyhow::anyhow!("unknown type {ty:?}; see `ref-client types`"))?;
            let params: serde_json::Value = serde_json::from_str(&params)?;
            let value: serde_json::Value = serde_json::from_str(&read_input(&input)?)?;
            let bytes = codec.encode(&value, &Ctx { version, params: &params }).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", codecs::to_hex(&bytes));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::GenVectors { out } => {
            let mut total = 0;
            for (path, n) in ref_client::gen::write_all(&out).map_err(|e| anyhow::anyhow!("{e:#}"))? {
                println!("{}: {n} vectors", path.display());
                total += n;
            }
            println!("{total} vectors");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Oracle { codec: CodecArgs { ty, version, params } } => {
            let codec = codecs::find(&ty).ok_or_else(|| anyhow::anyhow!("unknown type {ty:?}; see `ref-client types`"))?;
            if codec.known_answer().is_some() {
                anyhow::bail!("{ty} is a known-answer type, not a decoder: use the conformance runner");
            }
            let params: serde_json::Value =
                serde_json::from_str(&params).map_err(|e| anyhow::anyhow!("--params is not JSON: {e}"))?;
            let stdin = std::io::stdin().lock();
            let stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            match oracle::run(codec, &Ctx { version, params: &params }, &mut std::io::BufReader::with_capacity(1 << 16, stdin), stdout) {
                Ok(_) => Ok(ExitCode::SUCCESS),
                // the driver stopped reading: not an error of ours
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                Err(e) => Err(e.into()),
            }
        }
        Cmd::Types => {
            for c in codecs::all() {
                println!("{}", c.name());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
