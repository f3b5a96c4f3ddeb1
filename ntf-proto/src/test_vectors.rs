//! Test helper: checks the reference's conformance vectors of one type through its JSON form.

use alloc::vec::Vec;
use core::fmt::Debug;

use smp_proto::version::Version;
use smp_proto::DecodeResult;

/// `(name, version (0 = default), hex, canonical hex ("" = same), JSON value ("" = invalid))`.
pub(crate) type VectorRow = (&'static str, u16, &'static str, &'static str, &'static str);

/// For each vector: an invalid one must not decode; a valid one must decode to the JSON value,
/// the JSON value must deserialize to the same value, and encoding it must give the canonical
/// bytes (or `hex`).
pub(crate) fn check_json_vectors<T>(
    vectors: &[VectorRow],
    default_version: Version,
    decode: impl Fn(&[u8], Version) -> DecodeResult<T>,
    encode: impl Fn(&T, Version) -> Vec<u8>,
) where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + Debug,
{
    for &(name, version, hex_in, canonical, value) in vectors {
        let v = if version == 0 {
            default_version
        } else {
            Version(version)
        };
        let bytes = hex::decode(hex_in).unwrap();
        let decoded = decode(&bytes, v);
        if value.is_empty() {
            assert!(decoded.is_err(), "{name}: invalid vector decoded");
            continue;
        }
        let decoded = decoded.unwrap_or_else(|e| panic!("{name}: {e}"));
        let want: serde_json::Value = serde_json::from_str(value).unwrap();
        assert_eq!(
            serde_json::to_value(&decoded).unwrap(),
            want,
            "{name}: JSON of decoded value"
        );
        let from_json: T = serde_json::from_value(want).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(from_json, decoded, "{name}: JSON value");
        let want_hex = if canonical.is_empty() {
            hex_in
        } else {
            canonical
        };
        assert_eq!(
            hex::encode(encode(&from_json, v)),
            want_hex,
            "{name}: encoding"
        );
    }
}
