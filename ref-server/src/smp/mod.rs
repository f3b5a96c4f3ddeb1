//! A thin reference SMP relay: enough of the SimpleX Messaging Protocol for the notification
//! path (queues, messages, notifier credentials, `NSUB`/`NMSG`), as a sans-IO core and a tokio
//! shell.
//!
//! - [`store`]: the [`QueueStore`] trait and the in-memory [`MemQueueStore`];
//! - [`sqlite_store`]: the durable [`SqliteQueueStore`] (queues, messages and kept
//!   notifications survive a restart);
//! - [`core`]: [`Relay`]: transmissions of a connection in, [`Transmit`]s to any connection
//!   out; time and randomness are passed in;
//! - [`server`]: the TLS listener ([`SmpRelayServer`]): ALPN `smp/1`, the SMP handshake with
//!   block encryption from v11, 16384-byte blocks, batches.
//!
//! Versions: SMP v6-18 (the reference's whole range); see [`server::SUPPORTED`].

pub mod core;
pub mod server;
pub mod sqlite_store;
pub mod store;

pub use self::core::{
    encode_transmit, ClientId, Preverified, Relay, RelayConfig, SessionParams, SessionService,
    Transmit, VerifyJob,
};
pub use self::server::{SmpRelayServer, SUPPORTED};
pub use self::sqlite_store::{SmpStoreError, SqliteQueueStore};
pub use self::store::{
    MemQueueStore, MsgNtf, NtfCreds, QueueRec, QueueStatus, QueueStore, ServiceRec, StoredMessage,
};

#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod tests;
