//! Prints the benchmark results as a Markdown table with the target ratios.
//!
//! ```text
//! cargo bench -p benches -- --warm-up-time 1 --measurement-time 3
//! cargo run -p benches --bin bench-report [CRITERION_DIR...]   # default: <workspace>/target/criterion
//! ```
//!
//! With several directories (e.g. `CRITERION_HOME=/tmp/run1 cargo bench ...` run twice), each
//! benchmark's fastest run is reported.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut dirs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs.push(std::env::var_os("CARGO_TARGET_DIR").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion"),
            |t| PathBuf::from(t).join("criterion"),
        ));
    }
    let shown = dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match benches::report::load_min(&dirs) {
        Ok(es) if !es.is_empty() => {
            print!("{}", benches::report::render(&es));
            ExitCode::SUCCESS
        }
        Ok(_) => {
            eprintln!("no criterion results under {shown}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cannot read {shown}: {e}");
            ExitCode::FAILURE
        }
    }
}
