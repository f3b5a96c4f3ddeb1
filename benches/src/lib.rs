//! Realistic fixtures and the hot paths that the criterion benchmarks in `benches/` measure.
//!
//! - [`fixtures`]: every NTF command and response, the notifier subset of SMP, signed and
//!   authenticated transmissions, a batched 512-byte NTF block, a 16384-byte SMP block full of
//!   `NMSG`, and a six-message push payload, all with realistic sizes (24-byte ids, real
//!   Ed25519/X25519 keys, a 64-hex-char APNS token, 144-byte encrypted message metadata);
//! - [`hot`]: the receive paths as a server runs them (block, transmission, authorization,
//!   `NMSG`), built only from the codec crates' public API, borrowed and allocation-free where
//!   the codecs allow it;
//! - [`report`]: reads criterion's estimates and prints the table and the target ratios.
//!
//! The benchmark binary and the tests use the same functions, so what is measured is what is
//! tested. Targets are reported, never asserted.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod fixtures;
pub mod hot;
pub mod report;
