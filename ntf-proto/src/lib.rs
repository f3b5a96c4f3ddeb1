#![doc = include_str!("../README.md")]
//!
//! ## Structure
//!
//! Built on [`smp_proto`]: the encoding core, keys, SMP server addresses, the error type and the
//! transport framing are shared with SMP.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod command;
pub mod credentials;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod handshake;
mod new_subscription_ref;
pub mod push;
pub mod queue;
pub mod response;
pub mod store_log;
pub mod subscription;
#[cfg(all(test, feature = "serde"))]
mod test_vectors;
pub mod token;
pub mod version;
pub mod webpush;

pub use smp_proto::{Decode, DecodeError, DecodeErrorKind, DecodeResult, Encode, Reader};
