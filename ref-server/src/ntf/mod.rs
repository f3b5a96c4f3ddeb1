//! The notification server as a sans-IO core: client commands, push results, SMP events and a
//! periodic sweep in; responses and effects (pushes, SMP subscribe/unsubscribe) out.
//!
//! - [`store`]: the [`Store`] trait (tokens, subscriptions, SMP servers, last notifications)
//!   and the in-memory [`MemStore`];
//! - [`core`]: [`NtfServerCore`], its inputs and outputs.
//!
//! Time is passed in as Unix seconds and randomness as an RNG (`rand_core`), so the core runs
//! the same under a simulated clock and a seeded RNG as in the server.

pub mod core;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod preverify;
pub mod service;
pub mod store;

#[cfg(test)]
mod tests;

pub use self::core::{
    Config, Effect, NtfServerCore, Output, PushKind, PushNotification, PushOutcome, Response,
    SessionParams, SmpEvent, SmpSubError,
};
pub use self::preverify::{preverify, Preverified};
pub use self::service::ServiceStats;
pub use self::store::{
    EntityCounts,
    MemStore, NotifierKey, ServerService, Store, StoreError, StoreResult, SubStatusChange,
    SubscriptionRecord, TokenActivated, TokenRecord,
};
