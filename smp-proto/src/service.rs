//! Service authorization (SMP v16+): the rules by which a service client (a notification
//! server with a service certificate) signs transmissions and a relay checks them.
//!
//! A service proves its identity twice at connection time (TLS client certificate, and the
//! same chain with a signed Ed25519 session key in the client hello, see
//! [`crate::handshake::ClientService`]); after that it holds a *service id* (the relay's
//! answer `R service-id`) and a *service session key* (Ed25519). Then:
//!
//! ```text
//! ; a command that takes a service signature (NEW, SUB, NSUB), sent in a service session
//! transmission   = short-bytes(queue-auth) "1" short-bytes(service-sig) authorized
//! queue-auth     = signature / authenticator over  cert-hash authorized   ; 32-byte prefix
//! service-sig    = Ed25519 signature (session key) over  authorized
//! ; NSUBS: signed by the session key alone, entity id = service id, no service signature
//! transmission   = short-bytes(Ed25519 signature over authorized) "0" authorized
//! ```
//!
//! `authorized` is the usual authorized part (`short-bytes(session id) corr-id entity-id
//! command`, see [`crate::transmission`]); `cert-hash` is the SHA-256 fingerprint of the
//! service's identity certificate (the chain's second certificate, or its only one when it is
//! self-signed). The prefix binds the queue authorization to the service, so a man in the
//! middle inside TLS cannot move it to another service (the reference's `authTransmission`).
//!
//! The relay's checks ([`check_service_signature`], [`check_service_command`],
//! [`role_allows`]) follow `verifyQueueTransmission`: a party of the wrong role in a service
//! session is `CMD PROHIBITED`; a missing, extra or bad service signature is `SERVICE`.

use alloc::vec::Vec;

use crate::command::Party;
use crate::crypto::{verify_ed25519, Signature, TransmissionAuth, ED25519_SIGNATURE_LEN};
use crate::handshake::ServiceRole;

/// The bytes the queue key authorizes when a service signature is sent:
/// `cert-hash ++ authorized` (`authTransmission`, `verifyQueueTransmission`'s `authorized'`).
pub fn queue_authorized(cert_hash: &[u8; 32], authorized: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + authorized.len());
    v.extend_from_slice(cert_hash);
    v.extend_from_slice(authorized);
    v
}

/// The role a party's commands need in a service session (`partyClientRole`): recipient,
/// sender and creator commands are messaging, `NSUB`/`NSUBS` notifier; `PING` any.
pub const fn party_role(party: Party) -> Option<ServiceRole> {
    match party {
        Party::Creator | Party::Recipient | Party::Sender => Some(ServiceRole::Messaging),
        Party::Notifier | Party::NotifierService => Some(ServiceRole::Notifier),
        Party::IdleClient => None,
    }
}

/// `checkRole`: whether a session of service `role` (`None`: not a service session) may send a
/// command of `party`. A refusal is `CMD PROHIBITED`.
pub fn role_allows(role: Option<ServiceRole>, party: Party) -> bool {
    match (role, party_role(party)) {
        (Some(r), Some(p)) => r == p,
        _ => true,
    }
}

/// `verifyServiceSig`: the service signature of a transmission is as the session requires.
///
/// For a command that takes one (`uses_service_auth`, see
/// [`crate::command::SmpCommand::uses_service_auth`]), a service session (`service_key` is its
/// session key) must send one that verifies over `authorized`, and another session must send
/// none; any other command must not carry one. A failure is `SERVICE`.
pub fn check_service_signature(
    uses_service_auth: bool,
    service_key: Option<&[u8; 32]>,
    signature: Option<&[u8; ED25519_SIGNATURE_LEN]>,
    authorized: &[u8],
) -> bool {
    if !uses_service_auth {
        return signature.is_none();
    }
    match (service_key, signature) {
        (Some(k), Some(s)) => verify_ed25519(k, s, authorized),
        (None, None) => true,
        _ => false,
    }
}

/// `verifyServiceCmd` (`NSUBS`): the session is a service session, the entity id is its
/// service id, the authorization is an Ed25519 signature by its session key over `authorized`
/// and there is no service signature. A failure is `SERVICE`.
pub fn check_service_command(
    service: Option<(&[u8], &[u8; 32])>,
    auth: Option<&TransmissionAuth>,
    has_service_signature: bool,
    entity_id: &[u8],
    authorized: &[u8],
) -> bool {
    match (service, auth, has_service_signature) {
        (Some((id, key)), Some(TransmissionAuth::Signature(Signature::Ed25519(s))), false) => {
            entity_id == id && verify_ed25519(key, s, authorized)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{ed25519_public, sign_ed25519};

    #[test]
    fn roles() {
        let n = Some(ServiceRole::Notifier);
        assert!(role_allows(n, Party::Notifier));
        assert!(role_allows(n, Party::NotifierService));
        assert!(role_allows(n, Party::IdleClient));
        assert!(!role_allows(n, Party::Recipient));
        assert!(!role_allows(n, Party::Creator));
        assert!(!role_allows(Some(ServiceRole::Messaging), Party::Notifier));
        assert!(!role_allows(Some(ServiceRole::Proxy), Party::Sender));
        assert!(role_allows(None, Party::Recipient));
    }

    #[test]
    fn service_signature_rules() {
        let seed = [7u8; 32];
        let k = ed25519_public(&seed);
        let msg = b"authorized";
        let good = sign_ed25519(&seed, msg);
        let bad = sign_ed25519(&[8u8; 32], msg);
        assert!(check_service_signature(true, Some(&k), Some(&good), msg));
        assert!(!check_service_signature(true, Some(&k), Some(&bad), msg));
        assert!(!check_service_signature(true, Some(&k), None, msg));
        assert!(!check_service_signature(true, None, Some(&good), msg));
        assert!(check_service_signature(true, None, None, msg));
        assert!(check_service_signature(false, Some(&k), None, msg));
        assert!(!check_service_signature(false, Some(&k), Some(&good), msg));
    }

    #[test]
    fn service_command_rules() {
        let seed = [9u8; 32];
        let k = ed25519_public(&seed);
        let msg = b"authorized";
        let auth = TransmissionAuth::Signature(Signature::Ed25519(sign_ed25519(&seed, msg)));
        let id = &b"service"[..];
        assert!(check_service_command(
            Some((id, &k)),
            Some(&auth),
            false,
            id,
            msg
        ));
        assert!(!check_service_command(
            Some((id, &k)),
            Some(&auth),
            true,
            id,
            msg
        ));
        assert!(!check_service_command(
            Some((id, &k)),
            Some(&auth),
            false,
            b"other",
            msg
        ));
        assert!(!check_service_command(
            Some((id, &k)),
            Some(&auth),
            false,
            id,
            b"x"
        ));
        assert!(!check_service_command(None, Some(&auth), false, id, msg));
        assert!(!check_service_command(Some((id, &k)), None, false, id, msg));
        let a = TransmissionAuth::Authenticator([0; 80]);
        assert!(!check_service_command(
            Some((id, &k)),
            Some(&a),
            false,
            id,
            msg
        ));
    }

    #[test]
    fn prefix() {
        let v = queue_authorized(&[1; 32], b"abc");
        assert_eq!(&v[..32], &[1; 32]);
        assert_eq!(&v[32..], b"abc");
    }
}
