//! The conformance runner: checks vector files in the format of `spec/conformance.md`.
//!
//! For a valid vector: decoding `hex` must give `value`, and encoding `value` must give
//! `canonical_hex` (when present) or `hex`. For an invalid vector: decoding must fail. Crypto
//! known-answer vectors are checked in both directions by their codec.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::codecs::{self, Ctx};

/// One vector of a vector file.
#[derive(Debug, Clone, Deserialize)]
pub struct Vector {
    /// Unique path-like name.
    pub name: String,
    /// The codec type, e.g. `ntf.command`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Negotiated version the encoding depends on; absent = newest.
    #[serde(default)]
    pub version: Option<u16>,
    /// Extra context per type.
    #[serde(default)]
    pub params: Value,
    /// Wire bytes, lowercase hex.
    pub hex: String,
    /// False when decoding must fail.
    #[serde(default = "yes")]
    pub valid: bool,
    /// The decoded value (valid vectors).
    #[serde(default)]
    pub value: Option<Value>,
    /// The reference's encoding of `value` when it differs from `hex`.
    #[serde(default)]
    pub canonical_hex: Option<String>,
}

fn yes() -> bool {
    true
}

/// Outcome of running vectors.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Number of vectors that passed.
    pub passed: usize,
    /// One line per failed vector: name and what differed.
    pub failures: Vec<String>,
}

impl Report {
    /// The closing line: `N passed, N failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failures.len())
    }
}

/// Loads a vector file (a JSON array of vectors).
///
/// # Errors
/// IO or JSON errors, with the path.
pub fn load(path: &Path) -> anyhow::Result<Vec<Vector>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Checks one vector; `Err` carries what differed.
pub fn check(v: &Vector) -> Result<(), String> {
    let codec = codecs::find(&v.ty).ok_or_else(|| format!("unknown type {:?}", v.ty))?;
    let bytes = codecs::from_hex(&v.hex).map_err(|e| format!("bad hex in vector: {e}"))?;
    let ctx = Ctx { version: v.version, params: &v.params };
    if let Some(ka) = codec.known_answer() {
        if !v.valid {
            return Err("invalid crypto vectors are not defined".into());
        }
        let value = v.value.as_ref().ok_or("valid vector without value")?;
        return ka(value, &bytes, &ctx);
    }
    let decoded = codec.decode(&bytes, &ctx);
    if !v.valid {
        return match decoded {
            Ok(got) => Err(format!("decoding should fail but gave {got}")),
            Err(_) => Ok(()),
        };
    }
    let value = v.value.as_ref().ok_or("valid vector without value")?;
    let got = decoded.map_err(|e| format!("decode failed: {e}"))?;
    if &got != value {
        return Err(format!("decoded value differs: got {got}, expected {value}"));
    }
    let expected_hex = v.canonical_hex.as_deref().unwrap_or(&v.hex);
    let encoded = codec.encode(value, &ctx).map_err(|e| format!("encode failed: {e}"))?;
    let encoded_hex = codecs::to_hex(&encoded);
    if encoded_hex != expected_hex {
        return Err(format!("encoded bytes differ: got {encoded_hex}, expected {expected_hex}"));
    }
    Ok(())
}

/// Runs every vector; failures are collected, never panicked on.
pub fn run(vectors: &[Vector]) -> Report {
    let mut report = Report::default();
    for v in vectors {
        match std::panic::catch_unwind(|| check(v)) {
            Ok(Ok(())) => report.passed += 1,
            Ok(Err(why)) => report.failures.push(format!("{}: {why}", v.name)),
            Err(_) => report.failures.push(format!("{}: PANIC in codec", v.name)),
        }
    }
    report
}
