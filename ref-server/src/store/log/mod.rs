//! The reference's store log (`ntf-server-store.log`) and last-notifications file
//! (`ntf-server-last-notifications.log`), and `ntf-server database import|export` between
//! them and PostgreSQL.
//!
//! The line codec is [`ntf_proto::store_log`] (zero-IO, fuzzed, in `spec/store-log.md`);
//! here are the rest of the reference's behaviour:
//! - [`state`]: the records replayed into the state they describe, as the reference's
//!   in-memory store replays them (`readNtfStore`), with its last notifications, and the
//!   compacted log written from it;
//! - [`select`]: what an import keeps (`importNtfSTMStore`'s filters);
//! - [`pg`]: the rows written to and read from the `ntf_server` schema;
//! - [`command`]: the CLI command with its refusals, confirmation and file renames;
//! - [`sqlite`]: the first `start` on the SQLite store of a directory that has only a store
//!   log imports it;
//! - [`writer`] and [`logged`]: the log appended while the server runs;
//! - [`compact`]: `start --compact-log`.
//!
//! A corrupt line: in the store log it is reported and skipped, as the reference's
//! `readNtfStore` (`printError`) does; in the last-notifications file it stops the import
//! before anything is written, as the reference's `restoreServerLastNtfs` exits on it.
//!
//! At run time the reference (6.5.5) always uses PostgreSQL; with `[STORE_LOG] enable = on`
//! it also appends every change to the store log. So does this server, whatever its store
//! (SQLite, PostgreSQL, memory): the server wraps its store in a [`logged::LoggedStore`],
//! which appends the reference's records of each change that succeeded (the rules are in
//! `spec/store-log.md`). An operator of a reference server from before PostgreSQL has only
//! the store log: `database import` moves it into PostgreSQL, and `start` on the SQLite store
//! imports it by itself when the store does not exist yet ([`sqlite`]).

pub mod command;
pub mod compact;
pub mod logged;
pub mod pg;
pub mod select;
pub mod sqlite;
pub mod state;
pub mod writer;

#[cfg(test)]
mod tests;
