//! The generator of our conformance vectors (`spec/vectors/*.json`).
//!
//! Deterministic: all random bytes come from ChaCha20 streams with fixed seeds ([`SEEDS`]), no
//! clock and no OS randomness, and the JSON is written in a fixed key order, so the same
//! code writes the same bytes every time. Every valid vector is our encoder's output and
//! decodes back to its value through the codec registry; every invalid vector is checked to be
//! rejected; and every vector is run through [`crate::conformance::check`] before it is kept.
//!
//! ```text
//! ref-client gen-vectors --out spec/vectors
//! ```

mod build;
mod certs;
mod crypto;
mod errors;
mod ntf;
mod smp;
mod store_log;
mod text;
mod transport;
mod webpush;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize as _;
use serde_json::Value;

pub use build::VectorOut;

/// The vector files and the seeds of their random streams.
pub const SEEDS: [(&str, u64); 7] = [
    ("ntf.json", 0x4e54_4601),
    ("smp.json", 0x534d_5001),
    ("text.json", 0x5445_5854),
    ("transport.json", 0x5452_4e53),
    ("crypto.json", 0x4352_5950),
    ("webpush.json", 0x5750_5553),
    ("store_log.json", 0x5354_4c47),
];

/// One generated vector file.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorFile {
    /// File name inside the output directory.
    pub name: &'static str,
    /// Its vectors, in generation order.
    pub vectors: Vec<VectorOut>,
}

impl VectorFile {
    /// The file's text: a pretty-printed JSON array and a trailing newline. Each vector's
    /// fields are in the order of [`VectorOut`]; the keys of values and parameters are sorted.
    ///
    /// # Errors
    /// JSON serialization errors (not expected).
    pub fn render(&self) -> anyhow::Result<String> {
        let vectors: Vec<VectorOut> = self
            .vectors
            .iter()
            .map(|v| VectorOut {
                params: sorted(v.params.clone()),
                value: v.value.clone().map(sorted),
                ..v.clone()
            })
            .collect();
        let mut buf = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(
            &mut buf,
            serde_json::ser::PrettyFormatter::new(),
        );
        vectors.serialize(&mut ser)?;
        let mut text = String::from_utf8(buf)?;
        text.push('\n');
        Ok(text)
    }
}

/// `v` with every object's keys in sorted order, whatever map type serde_json was built with.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Generates every vector file.
///
/// # Errors
/// When a vector cannot be built or fails the conformance check: a bug in the generator or a
/// codec, never a condition of the environment.
pub fn generate() -> anyhow::Result<Vec<VectorFile>> {
    let mut files = Vec::new();
    for (name, seed) in SEEDS {
        let vectors = match name {
            "ntf.json" => ntf::generate(seed),
            "smp.json" => smp::generate(seed),
            "text.json" => text::generate(seed),
            "transport.json" => transport::generate(seed),
            "webpush.json" => webpush::generate(seed),
            "store_log.json" => store_log::generate(seed),
            _ => crypto::generate(seed),
        }
        .with_context(|| format!("generating {name}"))?;
        files.push(VectorFile { name, vectors });
    }
    Ok(files)
}

/// Generates every vector file and writes it into `dir` (created if missing). Returns the
/// paths written with their vector counts.
///
/// # Errors
/// As [`generate`], or IO errors.
pub fn write_all(dir: &Path) -> anyhow::Result<Vec<(PathBuf, usize)>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for f in generate()? {
        let path = dir.join(f.name);
        std::fs::write(&path, f.render()?)
            .with_context(|| format!("writing {}", path.display()))?;
        written.push((path, f.vectors.len()));
    }
    Ok(written)
}
