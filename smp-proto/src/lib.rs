#![doc = include_str!("../README.md")]
//!
//! ## Layers
//!
//! Bottom up:
//! - [`coding`], [`text`]: the binary and text encoding primitives;
//! - [`keys`], [`version`]: keys as X.509/PKCS#8 DER, protocol versions and negotiation;
//! - [`server`], [`error_type`], [`message`], [`command`], [`broker`]: SMP values and the
//!   notifier subset of commands and server messages;
//! - [`block`], [`transmission`], [`handshake`]: transport framing;
//! - [`service`]: service signatures and the relay's service checks (SMP v16+);
//! - [`crypto`]: signatures, crypto_box, authenticators, signed key objects.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod auth_key_ref;
pub mod block;
pub mod broker;
pub mod coding;
pub mod command;
pub mod crypto;
pub mod error;
pub mod error_type;
pub mod handshake;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(feature = "serde")]
pub mod json;
pub mod keys;
pub mod message;
pub mod server;
mod server_ref;
pub mod service;
pub mod text;
pub mod transmission;
pub mod version;

pub use coding::{Decode, Encode, Reader};
pub use error::{DecodeError, DecodeErrorKind, DecodeResult};
