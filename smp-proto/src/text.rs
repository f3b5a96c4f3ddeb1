//! Text forms shared by the protocol (the reference's `StrEncoding`): base64url byte strings,
//! decimal numbers, and comma-separated lists.
//!
//! ```text
//! base64url = 1*(ALPHA / DIGIT / "-" / "_") *"="   ; padding optional, but canonical if present
//! decimal   = 1*DIGIT                               ; wraps modulo the integer size, as the reference
//! signed    = ["-" / "+"] decimal
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use crate::coding::Reader;
use crate::error::{DecodeError, DecodeErrorKind, DecodeResult};

/// base64url with padding on output; on input padding is optional but must be canonical
/// when present, and non-zero trailing bits are rejected (base64-bytestring 1.2 `decode`).
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(false),
);

/// Encodes bytes as padded base64url.
pub fn base64url_encode(bytes: &[u8]) -> String {
    B64URL.encode(bytes)
}

/// Appends padded base64url of `bytes` to `out`.
pub fn put_base64url(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(base64url_encode(bytes).as_bytes());
}

/// Decodes a complete base64url string (padding optional).
///
/// # Errors
/// `BadBase64` (at offset 0) for anything base64-bytestring's `decode` rejects.
pub fn base64url_decode(s: &[u8]) -> DecodeResult<Vec<u8>> {
    decode_b64(s).ok_or(DecodeError::new(DecodeErrorKind::BadBase64, 0, "base64url"))
}

/// base64-bytestring completes a 3-mod-4 input with one `=`, and rejects it when the input
/// already ends in `=` (partial padding such as `YWJjZA=`); the base64 crate would accept it.
fn decode_b64(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 4 == 3 && s.last() == Some(&b'=') {
        return None;
    }
    B64URL.decode(s).ok()
}

const fn is_b64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

impl<'a> Reader<'a> {
    /// A non-empty base64url token (the reference's `base64urlP`): one or more alphabet
    /// characters, then any `=`, decoded.
    ///
    /// # Errors
    /// `Truncated`/`BadValue` when no alphabet character is next, `BadBase64` when it does not decode.
    pub fn base64url(&mut self, expected: &'static str) -> DecodeResult<Vec<u8>> {
        let at = self.offset();
        let body = self.take_while1(is_b64_char, expected)?;
        let pad = self.take_while(|b| b == b'=');
        let mut s = Vec::with_capacity(body.len() + pad.len());
        s.extend_from_slice(body);
        s.extend_from_slice(pad);
        decode_b64(&s).ok_or(DecodeError::new(DecodeErrorKind::BadBase64, at, expected))
    }

    /// One or more ASCII digits as an unsigned value, wrapping modulo 2^64 like attoparsec's
    /// `decimal` at a fixed-size type. Callers narrow the result with `as`, which wraps the same way.
    ///
    /// # Errors
    /// `Truncated`/`BadValue` when no digit is next.
    pub fn decimal_wrapping(&mut self, expected: &'static str) -> DecodeResult<u64> {
        let digits = self.take_while1(|b| b.is_ascii_digit(), expected)?;
        Ok(digits.iter().fold(0u64, |acc, &d| acc.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))))
    }

    /// An optionally signed decimal (`A.signed A.decimal` at `Int64`), wrapping on overflow.
    ///
    /// # Errors
    /// As [`Reader::decimal_wrapping`].
    pub fn signed_decimal_wrapping(&mut self, expected: &'static str) -> DecodeResult<i64> {
        let neg = if self.eat(b'-') {
            true
        } else {
            self.eat(b'+');
            false
        };
        let v = self.decimal_wrapping(expected)? as i64;
        Ok(if neg { v.wrapping_neg() } else { v })
    }
}

/// Appends the decimal text of an integer.
pub fn put_decimal(out: &mut Vec<u8>, v: i64) {
    use core::fmt::Write as _;
    let mut s = String::new();
    let _ = write!(s, "{v}");
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trip_and_padding() {
        assert_eq!(base64url_encode(b"abcd"), "YWJjZA==");
        assert_eq!(base64url_decode(b"YWJjZA==").unwrap(), b"abcd");
        assert_eq!(base64url_decode(b"YWJjZA").unwrap(), b"abcd");
        // non-canonical padding and trailing bits are rejected
        assert!(base64url_decode(b"YWJjZA=").is_err());
        assert!(base64url_decode(b"YWJjZB==").is_err());
        assert!(base64url_decode(b"YWJjZ").is_err());
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8=");
    }

    #[test]
    fn base64url_token_stops_at_separator() {
        let mut r = Reader::new(b"YWJj@rest");
        assert_eq!(r.base64url("key").unwrap(), b"abc");
        assert_eq!(r.peek(), Some(b'@'));
        assert_eq!(Reader::new(b"@").base64url("key").unwrap_err().kind, DecodeErrorKind::BadValue);
        assert_eq!(Reader::new(b"Y#").base64url("key").unwrap_err().kind, DecodeErrorKind::BadBase64);
    }

    #[test]
    fn decimals_wrap_like_the_reference() {
        assert_eq!(Reader::new(b"05223").decimal_wrapping("n").unwrap(), 5223);
        assert_eq!(Reader::new(b"256").decimal_wrapping("n").unwrap() as u8, 0);
        assert_eq!(Reader::new(b"-5").signed_decimal_wrapping("n").unwrap(), -5);
        assert_eq!(Reader::new(b"+5").signed_decimal_wrapping("n").unwrap(), 5);
        assert_eq!(Reader::new(b"9223372036854775808").signed_decimal_wrapping("n").unwrap(), i64::MIN);
    }
}
