//! The Web Push provider (RFC 8030 push, RFC 8291 `aes128gcm` encryption, RFC 8292 VAPID), as
//! on the reference's unreleased `dev-wp` branch (commit `ea9adf1ac`,
//! `Notifications/Server/Push/WebPush.hs`).
//!
//! - [`policy`]: which Web Push tokens `TNEW` / `TRPL` take and where pushes may go;
//! - [`ece`]: the message encryption (in `ref_client`, which the device simulator shares);
//! - [`vapid`]: the VAPID header and its cache;
//! - [`client`]: the request and how answers map to push results;

//!
//! The plaintext of a push is the notification data object of the APNS payload
//! ([`crate::apns::payload::put_notification_data`]): `{"nonce":N,"verification":E}`,
//! `{"message":E,"nonce":N}` or `{"checkMessages":true}`, where `E` is the `crypto_box` of
//! the registration code or the message list with the token's DH secret.

pub mod client;
pub mod mock;
pub mod policy;
pub mod vapid;
/// The message encryption (shared with the device simulator).
pub use ref_client::ece;
#[cfg(test)]
mod tests;

pub use client::{classify_status, WebPushClient, WebPushConfig, WP_PADDED_NTF_LENGTH};
pub use policy::{HostPattern, WebPushPolicy};
pub use vapid::VapidKey;
