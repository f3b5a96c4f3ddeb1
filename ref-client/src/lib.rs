//! Reference NTF client library: the codec registry, the conformance runner, and the
//! client that talks to a notification server.

mod addr;
pub mod client;
pub mod codecs;
pub mod conformance;
pub mod gen;
pub mod oracle;
pub mod device;
pub mod ece;
mod registry;
mod signer;
pub mod smp;
pub mod socks;
mod transport;
