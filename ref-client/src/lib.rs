//! Reference NTF client library: the codec registry, the conformance runner, and (later) the
//! client that talks to a notification server.

pub mod codecs;
pub mod conformance;
mod registry;
