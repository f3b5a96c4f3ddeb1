//! The vector builder: every vector goes through the codec registry and the conformance check
//! before it is kept, so a file the generator writes always passes the runner.

use std::collections::BTreeSet;

use anyhow::{anyhow, bail};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore as _, SeedableRng as _};
use serde::Serialize;
use serde_json::{json, Value};

use crate::codecs::{self, Codec, CodecError, Ctx};
use crate::conformance::{self, Vector};

/// One vector as written to a file (field order = key order in the file).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VectorOut {
    /// Unique path-like name.
    pub name: String,
    /// Codec type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Negotiated version, when the encoding depends on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u16>,
    /// Extra context (`transmission`, `block`).
    #[serde(skip_serializing_if = "Value::is_null")]
    pub params: Value,
    /// Wire bytes, lowercase hex.
    pub hex: String,
    /// Written only when `false`.
    #[serde(skip_serializing_if = "is_true")]
    pub valid: bool,
    /// Decoded value (valid vectors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The encoding of `value` when it differs from `hex`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical_hex: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_true(b: &bool) -> bool {
    *b
}

impl VectorOut {
    /// The runner's view of this vector.
    pub fn to_vector(&self) -> Vector {
        Vector {
            name: self.name.clone(),
            ty: self.ty.clone(),
            version: self.version,
            params: self.params.clone(),
            hex: self.hex.clone(),
            valid: self.valid,
            value: self.value.clone(),
            canonical_hex: self.canonical_hex.clone(),
        }
    }
}

/// The codec context of a group of vectors: type, version and parameters.
#[derive(Debug, Clone)]
pub struct Case {
    /// Codec type.
    pub ty: &'static str,
    /// Negotiated version (`None`: newest).
    pub version: Option<u16>,
    /// Parameters (`null` when none).
    pub params: Value,
}

impl Case {
    /// A type without version or parameters.
    pub fn new(ty: &'static str) -> Self {
        Self {
            ty,
            version: None,
            params: Value::Null,
        }
    }

    /// The same type at version `v`.
    pub fn at(&self, v: u16) -> Self {
        Self {
            version: Some(v),
            ..self.clone()
        }
    }

    /// The same type with parameters.
    pub fn with_params(&self, params: Value) -> Self {
        Self {
            params,
            ..self.clone()
        }
    }

    fn codec(&self) -> anyhow::Result<&'static dyn Codec> {
        codecs::find(self.ty).ok_or_else(|| anyhow!("no codec for type {}", self.ty))
    }

    /// Encodes `value` with the registry codec.
    pub fn encode(&self, value: &Value) -> anyhow::Result<Vec<u8>> {
        let ctx = Ctx {
            version: self.version,
            params: &self.params,
        };
        self.codec()?
            .encode(value, &ctx)
            .map_err(|e| anyhow!("{}: cannot encode {value}: {e}", self.ty))
    }

    /// Decodes `bytes` with the registry codec.
    pub fn decode(&self, bytes: &[u8]) -> anyhow::Result<Result<Value, CodecError>> {
        let ctx = Ctx {
            version: self.version,
            params: &self.params,
        };
        Ok(self.codec()?.decode(bytes, &ctx))
    }
}

/// The vectors of one file, built from one seeded random stream.
pub struct Family {
    /// File name (e.g. `ntf.json`).
    pub file: &'static str,
    vectors: Vec<VectorOut>,
    names: BTreeSet<String>,
    /// `(type, version, params, hex)` of the invalid vectors, so truncations shared by
    /// several values (`""`, the bare tag) are written once.
    invalid: BTreeSet<(String, Option<u16>, String, String)>,
    rng: ChaCha20Rng,
}

impl Family {
    /// An empty family whose random bytes come from ChaCha20 seeded with `seed`.
    pub fn new(file: &'static str, seed: u64) -> Self {
        Self {
            file,
            vectors: Vec::new(),
            names: BTreeSet::new(),
            invalid: BTreeSet::new(),
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    /// The vectors built so far.
    pub fn into_vectors(self) -> Vec<VectorOut> {
        self.vectors
    }

    // ---- deterministic random data ----

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        self.rng.fill_bytes(&mut b);
        b
    }

    /// `N` random bytes.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.rng.fill_bytes(&mut b);
        b
    }

    /// Random lowercase hex text of `n` characters (`n` even), as bytes: an APNS-like token.
    pub fn hex_text(&mut self, n: usize) -> Vec<u8> {
        codecs::to_hex(&self.bytes(n / 2)).into_bytes()
    }

    /// A random integer in `lo..=hi` (the modulo bias is irrelevant here).
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi.wrapping_sub(lo))
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let r = if span == 0 {
            self.rng.next_u64()
        } else {
            self.rng.next_u64() % span
        };
        lo.wrapping_add(r as i64)
    }

    /// A fresh Ed25519 key: (seed, public).
    pub fn ed25519(&mut self) -> ([u8; 32], [u8; 32]) {
        let seed = self.array::<32>();
        (seed, smp_proto::crypto::ed25519_public(&seed))
    }

    /// A fresh X25519 key: (private, public).
    pub fn x25519(&mut self) -> ([u8; 32], [u8; 32]) {
        let private = self.array::<32>();
        (private, smp_proto::crypto::x25519_public(&private))
    }

    /// A public key of algorithm `alg` in its JSON form. Ed25519 and X25519 keys are real key
    /// pairs; Ed448 and X448 keys are random bytes of the right length (no codec checks curve
    /// points, and neither does the reference's `publicKey`).
    pub fn public_key(&mut self, alg: &str) -> Value {
        let raw = match alg {
            "ed25519" => self.ed25519().1.to_vec(),
            "x25519" => self.x25519().1.to_vec(),
            "ed448" => self.bytes(57),
            _ => self.bytes(56),
        };
        json!({"alg": alg, "public": codecs::to_hex(&raw)})
    }

    /// A private key of algorithm `alg` in its JSON form (random bytes: the seed for Ed25519).
    pub fn private_key(&mut self, alg: &str) -> Value {
        let n = match alg {
            "ed448" => 57,
            "x448" => 56,
            _ => 32,
        };
        let raw = self.bytes(n);
        json!({"alg": alg, "private": codecs::to_hex(&raw)})
    }

    // ---- vectors ----

    fn push(&mut self, v: VectorOut) -> anyhow::Result<()> {
        if !self.names.insert(v.name.clone()) {
            bail!("duplicate vector name {}", v.name);
        }
        let check = conformance::check(&v.to_vector());
        check.map_err(|why| {
            anyhow!(
                "{}: generated vector {} fails the runner: {why}",
                self.file,
                v.name
            )
        })?;
        self.vectors.push(v);
        Ok(())
    }

    fn out(name: &str, c: &Case, bytes: &[u8]) -> VectorOut {
        VectorOut {
            name: name.to_string(),
            ty: c.ty.to_string(),
            version: c.version,
            params: c.params.clone(),
            hex: codecs::to_hex(bytes),
            valid: true,
            value: None,
            canonical_hex: None,
        }
    }

    /// A valid vector whose bytes are our encoding of `value`; decoding them must give `value`
    /// back. Returns the bytes.
    pub fn valid(&mut self, name: &str, c: &Case, value: Value) -> anyhow::Result<Vec<u8>> {
        let bytes = c.encode(&value)?;
        let got = c
            .decode(&bytes)?
            .map_err(|e| anyhow!("{name}: our own encoding does not decode: {e}"))?;
        if got != value {
            bail!("{name}: value does not round-trip: encoded {value}, decoded {got}");
        }
        let mut v = Self::out(name, c, &bytes);
        v.value = Some(value);
        self.push(v)?;
        Ok(bytes)
    }

    /// A valid vector from given wire bytes (an input-only form, a lossy encoding): the value
    /// is what they decode to, and `canonical_hex` is our encoding of that value when it
    /// differs. Returns the decoded value.
    pub fn input(&mut self, name: &str, c: &Case, bytes: &[u8]) -> anyhow::Result<Value> {
        let value = c
            .decode(bytes)?
            .map_err(|e| anyhow!("{name}: input vector does not decode: {e}"))?;
        let canonical = c.encode(&value)?;
        let mut v = Self::out(name, c, bytes);
        v.value = Some(value.clone());
        if canonical != bytes {
            v.canonical_hex = Some(codecs::to_hex(&canonical));
        }
        self.push(v)?;
        Ok(value)
    }

    /// Our encoding of `value`, kept as an input vector: for values the encoding drops details
    /// of (a version that does not carry a field, a preset host the decoder adds).
    pub fn lossy(&mut self, name: &str, c: &Case, value: &Value) -> anyhow::Result<Value> {
        let bytes = c.encode(value)?;
        self.input(name, c, &bytes)
    }

    /// An invalid vector: decoding `bytes` must fail.
    pub fn invalid(&mut self, name: &str, c: &Case, bytes: &[u8]) -> anyhow::Result<()> {
        if let Ok(v) = c.decode(bytes)? {
            bail!(
                "{name}: the invalid vector {} decodes to {v}",
                codecs::to_hex(bytes)
            );
        }
        let mut v = Self::out(name, c, bytes);
        v.valid = false;
        self.invalid.insert(Self::invalid_key(c, bytes));
        self.push(v)
    }

    fn invalid_key(c: &Case, bytes: &[u8]) -> (String, Option<u16>, String, String) {
        (
            c.ty.to_string(),
            c.version,
            c.params.to_string(),
            codecs::to_hex(bytes),
        )
    }

    /// A crypto known-answer vector: `bytes` is what the construction computes from `value`
    /// (checked by the runner in both directions before it is kept).
    pub fn known_answer(
        &mut self,
        name: &str,
        c: &Case,
        value: Value,
        bytes: &[u8],
    ) -> anyhow::Result<()> {
        let mut v = Self::out(name, c, bytes);
        v.value = Some(value);
        self.push(v)
    }

    /// Truncations of `bytes` at field boundaries: every prefix is decoded and, for each
    /// distinct error (its kind and the offset of the field it failed in), the shortest and the
    /// longest failing prefix are kept: where a field (or its length prefix) starts, and one
    /// byte before it ends. Prefixes that decode, and
    /// prefixes already written as invalid vectors of the same type, are skipped. Returns how
    /// many were kept.
    pub fn truncations(&mut self, name: &str, c: &Case, bytes: &[u8]) -> anyhow::Result<usize> {
        let mut groups: Vec<((&'static str, usize), usize, usize)> = Vec::new();
        for n in 0..bytes.len() {
            let key = match c.decode(&bytes[..n])? {
                Ok(_) => continue,
                Err(CodecError::Decode(e)) => (e.kind.as_str(), e.offset),
                Err(_) => ("other", 0),
            };
            match groups.iter_mut().find(|g| g.0 == key) {
                Some(g) => g.2 = n,
                None => groups.push((key, n, n)),
            }
        }
        let mut keep: BTreeSet<usize> = BTreeSet::new();
        for (_, first, last) in groups {
            keep.insert(first);
            keep.insert(last);
        }
        keep.retain(|&n| !self.invalid.contains(&Self::invalid_key(c, &bytes[..n])));
        for &n in &keep {
            self.invalid(&format!("{name}/trunc_{n}"), c, &bytes[..n])?;
        }
        Ok(keep.len())
    }

    /// `bytes` followed by `extra`: an invalid vector `{name}/trailing[_{label}]` when the
    /// decoder rejects trailing data, or a valid input vector `{name}/trailing_ignored[_{label}]`
    /// (with `canonical_hex`) when it ignores them.
    pub fn trailing(
        &mut self,
        name: &str,
        c: &Case,
        bytes: &[u8],
        extra: &[u8],
        label: &str,
    ) -> anyhow::Result<()> {
        let label = if label.is_empty() {
            String::new()
        } else {
            format!("_{label}")
        };
        let mut longer = bytes.to_vec();
        longer.extend_from_slice(extra);
        match c.decode(&longer)? {
            Err(_) => self.invalid(&format!("{name}/trailing{label}"), c, &longer),
            Ok(got) => {
                let base = c
                    .decode(bytes)?
                    .map_err(|e| anyhow!("{name}: base does not decode: {e}"))?;
                if got != base {
                    bail!("{name}: trailing bytes change the value ({got})");
                }
                self.input(&format!("{name}/trailing_ignored{label}"), c, &longer)
                    .map(|_| ())
            }
        }
    }

    /// `value` at each of `versions` (`{name}/v{V}`; the value recorded is what the bytes
    /// decode to, as the encoding may drop details at old versions) and, for each version
    /// whose encoding differs from the newest, the newest encoding received at that version
    /// (`{name}/v{V}/newer_form`), when it decodes.
    pub fn versions(
        &mut self,
        name: &str,
        c: &Case,
        versions: impl IntoIterator<Item = u16>,
        value: &Value,
    ) -> anyhow::Result<()> {
        let newest = c.encode(value)?;
        for v in versions {
            let cv = c.at(v);
            let bytes = cv.encode(value)?;
            if bytes == newest {
                self.valid(&format!("{name}/v{v}"), &cv, value.clone())?;
            } else {
                self.input(&format!("{name}/v{v}"), &cv, &bytes)?;
                if cv.decode(&newest)?.is_ok() {
                    self.input(&format!("{name}/v{v}/newer_form"), &cv, &newest)?;
                }
            }
        }
        Ok(())
    }
}

/// Bytes of `parts` joined.
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A short byte string: 1-byte length and the bytes.
pub fn short(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + 1);
    smp_proto::coding::put_short(&mut out, b);
    out
}
