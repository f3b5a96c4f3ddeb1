//! Verifying a transmission's authorization before the core handles it, so that a server can
//! run the expensive part (an Ed25519 verification or an X25519 authenticator, tens of
//! microseconds) without holding the core.
//!
//! ```text
//! (core, shared)    key     = core.authorization_key(params, raw)    ; store reads only
//! (no core)         pre     = preverify(params, raw, key)             ; the crypto
//! (core, exclusive) output  = core.handle_preverified(now, params, raw, pre.as_ref())
//! ```
//!
//! The result is only a hint: when it handles the transmission, the core looks the entity up
//! again, uses `pre` only if it was computed with the very key it finds, and otherwise verifies
//! there and then. So the responses and the state are exactly those of
//! [`NtfServerCore::handle_raw`] whatever happened between the phases (a token deleted or
//! re-keyed by another connection), and a missing entity still costs one verification (the
//! dummy one ran in [`preverify`]).

use ntf_proto::command::{NtfCommand, NtfEntity};
use ntf_proto::credentials;
use rand_core::{CryptoRng, RngCore};
use smp_proto::crypto::{dummy_verify_authorization, verify_authorization};
use smp_proto::keys::PublicKey;
use smp_proto::transmission::RawTransmission;

use super::core::{NtfServerCore, SessionParams};
use super::store::Store;

/// An authorization verified ahead of handling: the key it was checked with (`None`: no entity
/// was found, so a dummy verification ran) and whether it verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preverified {
    pub(crate) key: Option<PublicKey>,
    pub(crate) ok: bool,
}

impl Preverified {
    /// Whether the authorization verified.
    pub fn ok(&self) -> bool {
        self.ok
    }
}

impl<S: Store, R: RngCore + CryptoRng> NtfServerCore<S, R> {
    /// The key the transmission's authorization will be checked against (the first phase, see
    /// the module docs): the key in `TNEW`, else the verify key of the token the command names
    /// (for `SNEW` the token in its body, for `SCHK`/`SDEL` the subscription's token). `None`
    /// when the transmission will not be verified at all (it fails to decode, carries no
    /// authorization or is `PING`) or no such entity is stored.
    pub fn authorization_key(&self, params: &SessionParams, raw: &RawTransmission<'_>) -> Option<PublicKey> {
        let tp = params.transmission_params();
        raw.check(&tp).ok()??;
        let cmd = NtfCommand::decode(raw.command, params.version).ok()?;
        credentials::check_command(&cmd, true, raw.entity_id).ok()?;
        let store = self.store();
        let token = match &cmd {
            NtfCommand::Tnew(new) => return Some(*new.verify_key.key()),
            NtfCommand::Ping => return None,
            NtfCommand::Snew(new) => store.get_token(&new.token_id).ok()??,
            cmd if cmd.entity() == NtfEntity::Token => store.get_token(&super::core::entity(raw.entity_id)).ok()??,
            _ => store.get_subscription(&super::core::entity(raw.entity_id)).ok()??.0,
        };
        Some(*token.verify_key.key())
    }
}

/// The second phase: verifies the authorization of `raw` with `key` (a dummy verification when
/// `key` is `None`), with no access to the core. `None` when there is nothing to verify (no
/// authorization, or one that does not parse; the core answers those itself).
pub fn preverify(params: &SessionParams, raw: &RawTransmission<'_>, key: Option<&PublicKey>) -> Option<Preverified> {
    let tp = params.transmission_params();
    let auth = raw.check(&tp).ok()??;
    let authorized = raw.authorized();
    let server_private = params.server_private.as_ref();
    let ok = match key {
        Some(k) => verify_authorization(Some(&auth), k, &authorized, raw.corr_id, server_private),
        None => dummy_verify_authorization(Some(&auth), &authorized, raw.corr_id, server_private),
    };
    Some(Preverified { key: key.cloned(), ok })
}
