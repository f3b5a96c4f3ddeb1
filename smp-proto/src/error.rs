//! The one decode error type shared by every decoder in `smp-proto` and `ntf-proto`.

use core::fmt;

/// What went wrong while decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended before the value was complete.
    Truncated,
    /// A tag, keyword or enumeration value that the protocol does not define.
    UnknownTag,
    /// A length prefix or a field length that the protocol does not allow.
    BadLength,
    /// A byte or value that is not allowed at this place (e.g. a `T`/`F` boolean that is neither).
    BadValue,
    /// Bytes left over where the reference rejects trailing data.
    TrailingBytes,
    /// A key, certificate or signature that does not decode.
    BadKey,
    /// Text that is not valid UTF-8 where the protocol requires it.
    BadUtf8,
    /// Text that is not valid base64url.
    BadBase64,
    /// A list that must not be empty was empty.
    EmptyList,
    /// A version range whose minimum is above its maximum, or a version outside the negotiated range.
    BadVersion,
}

impl DecodeErrorKind {
    /// A short lowercase description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Truncated => "input truncated",
            Self::UnknownTag => "unknown tag",
            Self::BadLength => "bad length",
            Self::BadValue => "bad value",
            Self::TrailingBytes => "trailing bytes",
            Self::BadKey => "bad key",
            Self::BadUtf8 => "bad UTF-8",
            Self::BadBase64 => "bad base64url",
            Self::EmptyList => "empty list",
            Self::BadVersion => "bad version",
        }
    }
}

/// A decode failure: what went wrong, at which byte offset of the whole input, and what was
/// expected there.
///
/// Small and `Copy`, so decoders on the hot path can return it without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DecodeError {
    /// The kind of failure.
    pub kind: DecodeErrorKind,
    /// Byte offset in the input given to the outermost decoder.
    pub offset: usize,
    /// What the decoder expected at `offset` (a field or grammar name).
    pub expected: &'static str,
}

impl DecodeError {
    /// A new error.
    pub const fn new(kind: DecodeErrorKind, offset: usize, expected: &'static str) -> Self {
        Self { kind, offset, expected }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}: expected {}", self.kind.as_str(), self.offset, self.expected)
    }
}

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// Result of a decoder.
pub type DecodeResult<T> = Result<T, DecodeError>;
