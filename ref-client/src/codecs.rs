//! The codec registry: every vector type of `spec/conformance.md` as a JSON <-> bytes codec.
//!
//! Used by the conformance runner and by the `decode` / `encode` commands, so the two can never
//! disagree about what a type means.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use smp_proto::DecodeError;

/// Context of one encode or decode: the negotiated version and the type's extra parameters.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// Negotiated version; `None` means the newest.
    pub version: Option<u16>,
    /// Extra parameters (`null` when the type takes none).
    pub params: &'a Value,
}

/// A codec failure.
#[derive(Debug)]
pub enum CodecError {
    /// The bytes do not decode.
    Decode(DecodeError),
    /// The JSON value does not fit the type.
    Json(String),
    /// Anything else (bad parameters, a value the encoder rejects).
    Other(String),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "{e}"),
            Self::Json(e) => write!(f, "bad JSON value: {e}"),
            Self::Other(e) => f.write_str(e),
        }
    }
}

impl From<DecodeError> for CodecError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

/// Checks a known-answer vector: `(value, wire bytes, ctx)`.
pub type KnownAnswer = fn(&Value, &[u8], &Ctx<'_>) -> Result<(), String>;

/// A JSON <-> bytes codec for one vector type.
pub trait Codec: Sync {
    /// The type name, e.g. `ntf.command`.
    fn name(&self) -> &'static str;
    /// Bytes to JSON value.
    ///
    /// # Errors
    /// When the bytes do not decode.
    fn decode(&self, bytes: &[u8], ctx: &Ctx<'_>) -> Result<Value, CodecError>;
    /// JSON value to bytes.
    ///
    /// # Errors
    /// When the value does not fit the type.
    fn encode(&self, value: &Value, ctx: &Ctx<'_>) -> Result<Vec<u8>, CodecError>;
    /// For crypto known-answer types: the check of both directions.
    fn known_answer(&self) -> Option<KnownAnswer> {
        None
    }
}

/// A codec from a typed decoder and encoder, with serde for the JSON side.
pub struct Typed<T> {
    name: &'static str,
    dec: fn(&[u8], &Ctx<'_>) -> Result<T, CodecError>,
    enc: fn(&T, &Ctx<'_>) -> Result<Vec<u8>, CodecError>,
}

impl<T: Serialize + DeserializeOwned> Codec for Typed<T> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn decode(&self, bytes: &[u8], ctx: &Ctx<'_>) -> Result<Value, CodecError> {
        let v = (self.dec)(bytes, ctx)?;
        serde_json::to_value(v).map_err(|e| CodecError::Json(e.to_string()))
    }
    fn encode(&self, value: &Value, ctx: &Ctx<'_>) -> Result<Vec<u8>, CodecError> {
        let v: T = serde_json::from_value(value.clone()).map_err(|e| CodecError::Json(e.to_string()))?;
        (self.enc)(&v, ctx)
    }
}

/// A known-answer (crypto) codec: no decode/encode of its own, only the two-way check.
pub struct Kat {
    name: &'static str,
    check: KnownAnswer,
}

impl Codec for Kat {
    fn name(&self) -> &'static str {
        self.name
    }
    fn decode(&self, _: &[u8], _: &Ctx<'_>) -> Result<Value, CodecError> {
        Err(CodecError::Other(format!("{} is a known-answer type: use the conformance runner", self.name)))
    }
    fn encode(&self, _: &Value, _: &Ctx<'_>) -> Result<Vec<u8>, CodecError> {
        Err(CodecError::Other(format!("{} is a known-answer type: use the conformance runner", self.name)))
    }
    fn known_answer(&self) -> Option<KnownAnswer> {
        Some(self.check)
    }
}

/// Lowercase hex.
pub fn to_hex(b: &[u8]) -> String {
    smp_proto::json::hex_encode(b)
}

/// Parses hex (whitespace around it is ignored).
///
/// # Errors
/// Odd length or a non-hex character.
pub fn from_hex(s: &str) -> Result<Vec<u8>, &'static str> {
    smp_proto::json::hex_decode(s.trim())
}

/// Every registered codec.
pub fn all() -> &'static [&'static dyn Codec] {
    crate::registry::CODECS
}

/// The codec for a type name.
pub fn find(name: &str) -> Option<&'static dyn Codec> {
    all().iter().copied().find(|c| c.name() == name)
}

impl<T> Typed<T> {
    /// A codec from its parts.
    pub const fn new(
        name: &'static str,
        dec: fn(&[u8], &Ctx<'_>) -> Result<T, CodecError>,
        enc: fn(&T, &Ctx<'_>) -> Result<Vec<u8>, CodecError>,
    ) -> Self {
        Self { name, dec, enc }
    }
}

impl Kat {
    /// A known-answer codec from its check.
    pub const fn new(name: &'static str, check: KnownAnswer) -> Self {
        Self { name, check }
    }
}
