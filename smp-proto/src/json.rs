//! Helpers for the JSON forms of `../shared/conformance/FORMAT.md` (feature `serde`):
//! byte strings are lowercase hex.

use alloc::string::String;
use alloc::vec::Vec;

/// Lowercase hex of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Decodes hex (either case).
///
/// # Errors
/// A message for odd length or a non-hex character.
pub fn hex_decode(s: &str) -> Result<Vec<u8>, &'static str> {
    fn nibble(c: u8) -> Result<u8, &'static str> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err("invalid hex character"),
        }
    }
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return Err("odd number of hex characters");
    }
    b.chunks(2).map(|p| Ok(nibble(p[0])? << 4 | nibble(p[1])?)).collect()
}

/// `#[serde(with = "smp_proto::json::hex_bytes")]` for `Vec<u8>` fields.
pub mod hex_bytes {
    use super::*;
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    /// Serializes as lowercase hex.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex_encode(v))
    }

    /// Deserializes from hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex_decode(&s).map_err(D::Error::custom)
    }
}

/// `#[serde(with = "smp_proto::json::hex_array")]` for `[u8; N]` fields.
pub mod hex_array {
    use super::*;
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    /// Serializes as lowercase hex.
    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex_encode(v))
    }

    /// Deserializes from hex of exactly `N` bytes.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        let v = hex_decode(&s).map_err(D::Error::custom)?;
        v.try_into().map_err(|_| D::Error::custom("wrong byte length"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex_encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(hex_decode("00ABff").unwrap(), [0x00, 0xab, 0xff]);
        assert!(hex_decode("abc").is_err());
        assert!(hex_decode("zz").is_err());
    }
}
