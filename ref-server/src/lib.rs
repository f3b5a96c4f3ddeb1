//! Reference SimpleX notification server: a sans-IO core ([`ntf`]) with storage and push
//! delivery behind traits, push providers ([`apns`]), and thin tokio shells.

pub mod apns;
pub mod demo;
pub mod load;
pub mod ntf;
pub mod server;
pub mod smp;
pub mod store;
pub mod webpush;
