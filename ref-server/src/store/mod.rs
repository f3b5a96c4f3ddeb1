//! Durable [`Store`](crate::ntf::Store) backends: the embedded SQLite default
//! ([`SqliteStore`]) and PostgreSQL ([`PgStore`]), one body of logic ([`SqlStore`], in `sql.rs`)
//! over a backend that runs the statements and gives the SQL that differs between the dialects
//! (placeholders, `FOR UPDATE`, index hints, timestamps, PostgreSQL's array statements).
//!
//! Both keep the reference's `ntf_server` schema (`Notifications/Server/Store/Migrations.hs`):
//! the tables `tokens`, `smp_servers`, `subscriptions` and `last_notifications` with the
//! reference's columns, value encodings and indexes, so an operator's PostgreSQL data can be
//! used as it is (see [`postgres`]). Every mutating trait call is one transaction, committed
//! before the call returns, so a change the core acknowledged survives a crash of the process
//! (and, with the default settings, of the machine).
//!
//! Column encodings (as the reference's `ToField` instances):
//!
//! ```text
//! token_id, subscription_id        raw id bytes
//! push_provider                    "apns_dev" / "apns_prod" / "apns_test" / "apns_null"
//! push_provider_token, reg_code    raw bytes
//! tokens.status, subscriptions.status  the wire text as Latin-1 ("ACTIVE", "INVALID,BAD", "ERR ...")
//! verify_key                       X.509 SubjectPublicKeyInfo DER
//! dh_priv_key, smp_notifier_key    PKCS#8 DER
//! smp_notifier_public_key          raw 32 bytes or NULL (ours, see below)
//! dh_secret                        raw 32 bytes
//! cron_interval (minutes), cron_sent_at, updated_at (Unix seconds)
//! smp_host                         host texts joined by ","; smp_port: text
//! smp_keyhash                      base64url text of the key hash
//! sent_at                          TIMESTAMPTZ (PostgreSQL), Unix seconds (SQLite)
//! nmsg_nonce, nmsg_data            raw bytes
//! ```
//!
//! Migrations are applied on open and recorded in `schema_version`. On top of the
//! reference's two migrations there are two of ours:
//! - an index on `subscriptions(smp_server_id, subscription_id)`, so that loading the
//!   subscriptions to resubscribe at start
//!   ([`Store::take_server_subscriptions`](crate::ntf::Store::take_server_subscriptions), in
//!   id order per SMP server) is a range scan rather than a sort per batch;
//! - a nullable column `subscriptions.smp_notifier_public_key`: the Ed25519 public key of the
//!   notifier key, derived once when the subscription is made
//!   ([`NotifierKey`](crate::ntf::NotifierKey)), so that signing `NSUB` after a restart costs one
//!   scalar multiplication instead of two. Rows without it (written by the reference) get it
//!   derived when read.
//!
//! In PostgreSQL both are made at every start (idempotent) and not recorded in `migrations`,
//! so that table stays the reference's; the reference names its columns, so it reads and writes
//! the table as before.

pub mod journal;
pub mod log;
pub mod postgres;
pub mod sqlite;

mod rows;
mod sql;

#[cfg(test)]
mod tests;

pub use self::postgres::{PgConfig, PgStore};
pub use self::sql::SqlStore;
pub use self::sqlite::{SqliteConfig, SqliteStore, Synchronous};

/// One schema migration: its name and SQL, in the dialect of the backend.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Migration {
    /// The name (the reference's names for the reference's migrations).
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// The subscription statuses that should be (re)subscribed
/// ([`NtfSubStatus::should_subscribe`](ntf_proto::subscription::NtfSubStatus::should_subscribe)),
/// as an SQL list.
pub(crate) const SHOULD_SUBSCRIBE_SQL: &str = "('NEW','PENDING','ACTIVE','INACTIVE','SERVICE')";
