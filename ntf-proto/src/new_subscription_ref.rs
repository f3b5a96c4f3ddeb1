//! `SNEW` borrowed from the received bytes: the token id, the SMP queue and the notifier key
//! read without allocating, for a server that decides what to do before it copies anything.
//!
//! ```text
//! snew             = "SNEW" " " new-subscription
//! new-subscription = "S" token-id smp-queue-ntf notifier-key
//! token-id         = short-bytes
//! smp-queue-ntf    = smp-server notifier-id:short-bytes
//! notifier-key     = private-key                   ; Ed25519, Ed448 or X25519
//! ```
//!
//! The views read the same fields in the same order as the owned decoders of
//! [`NewNtfSubscription`] and [`SmpQueueNtf`], so both accept the same bytes with the same
//! errors (property tests below check it on valid, truncated, altered and random input).
//! `to_owned` applies the reference's `updateSMPServerHosts` (preset relays get their onion
//! host), as the owned decoder does; the view itself holds the server as sent.

use smp_proto::coding::{Decode, Reader};
use smp_proto::error::DecodeResult;
use smp_proto::keys::AuthPrivateKeyRef;
use smp_proto::server::SmpServerRef;

use crate::command::{no_unknown_tag, NewNtfSubscription, NtfEntityId};
use crate::queue::SmpQueueNtf;

/// An SMP queue address for notifications, borrowed: the borrowed form of [`SmpQueueNtf`].
///
/// ```text
/// smp-queue-ntf = smp-server notifier-id:short-bytes
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SmpQueueNtfRef<'a> {
    /// The SMP relay, as sent (no preset host expansion).
    pub server: SmpServerRef<'a>,
    /// The queue's notifier id.
    pub notifier_id: &'a [u8],
}

impl SmpQueueNtfRef<'_> {
    /// The owned queue address, with preset hosts expanded.
    pub fn to_owned(&self) -> SmpQueueNtf {
        let mut q = SmpQueueNtf::from_short(self.server.to_owned(), self.notifier_id);
        // in place: the address is too large to move cheaply
        q.server.add_extra_preset_hosts();
        q
    }
}

impl<'a> Decode<'a> for SmpQueueNtfRef<'a> {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        let server = SmpServerRef::decode(r)?;
        let notifier_id = r.short_bytes("notifier id")?;
        Ok(Self {
            server,
            notifier_id,
        })
    }
}

/// The body of `SNEW`, borrowed: the borrowed form of [`NewNtfSubscription`].
///
/// ```text
/// new-subscription = "S" token-id smp-queue-ntf notifier-key
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NewNtfSubscriptionRef<'a> {
    /// The id of the token that receives the notifications.
    pub token_id: &'a [u8],
    /// The SMP queue (server and notifier id).
    pub queue: SmpQueueNtfRef<'a>,
    /// The private key that authorizes `NSUB` on the SMP server.
    pub notifier_key: AuthPrivateKeyRef<'a>,
}

impl<'a> NewNtfSubscriptionRef<'a> {
    /// Parses the whole command part of a transmission as `SNEW`, borrowing from it.
    /// Returns `Ok(None)` when the tag is not `SNEW` (decode it with
    /// [`NtfCommand::decode`](crate::command::NtfCommand::decode)).
    ///
    /// # Errors
    /// Exactly those of [`NtfCommand::decode`](crate::command::NtfCommand::decode) for the
    /// same bytes.
    pub fn parse(bytes: &'a [u8]) -> DecodeResult<Option<Self>> {
        let Some(rest) = bytes.strip_prefix(b"SNEW") else {
            return Ok(None);
        };
        if rest.first().is_some_and(|&b| b != b' ') {
            return Ok(None);
        }
        let mut r = Reader::with_offset(rest, 4);
        r.space()?;
        let s = Self::decode(&mut r).map_err(no_unknown_tag)?;
        r.finish()?;
        Ok(Some(s))
    }

    /// The owned body (allocates only for the names of domain and onion hosts).
    pub fn to_owned(&self) -> NewNtfSubscription {
        NewNtfSubscription {
            token_id: NtfEntityId::from_short(self.token_id),
            queue: self.queue.to_owned(),
            notifier_key: self.notifier_key.to_owned(),
        }
    }
}

impl<'a> Decode<'a> for NewNtfSubscriptionRef<'a> {
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        r.expect(b'S', "new subscription marker S")?;
        let token_id = r.short_bytes("entity id")?;
        let queue = SmpQueueNtfRef::decode(r)?;
        let notifier_key = AuthPrivateKeyRef::decode(r)?;
        Ok(Self {
            token_id,
            queue,
            notifier_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::NtfCommand;
    use crate::version::CURRENT;
    use proptest::prelude::*;
    use smp_proto::coding::Encode;

    fn h(s: &str) -> alloc::vec::Vec<u8> {
        hex::decode(s).unwrap()
    }

    // ntf/command/SNEW/preset_smp8/ed25519/1/p
    const SNEW_PRESET: &str = "534e45572053185d5c0a2ef7b175819a5be398ec395f0ce608bc2a32034dfe010f736d70382e73696d706c65782e696d03343433205ab6f405ba7e2ff9c24b9b9f6a57ff0942fb870bf9fdd98b7e12f56df7dd1dee18ff7d8448109bf51e659c77b4027d7507b9c94596692520f830302e020100300506032b6570042204208ce8dddea2f5bc7c2ee151a94130de6788840d452b17178e1e3ed0b9ee8e78ff";

    #[test]
    fn view_holds_the_server_as_sent_and_owns_it_expanded() {
        let b = h(SNEW_PRESET);
        let v = NewNtfSubscriptionRef::parse(&b).unwrap().unwrap();
        assert_eq!(
            v.token_id,
            &h("5d5c0a2ef7b175819a5be398ec395f0ce608bc2a32034dfe")[..]
        );
        assert_eq!(v.queue.server.host_count(), 1);
        assert_eq!(v.queue.server.port(), b"443");
        assert_eq!(
            v.queue.notifier_id,
            &h("ff7d8448109bf51e659c77b4027d7507b9c94596692520f8")[..]
        );
        let owned = v.to_owned();
        assert_eq!(owned.queue.server.hosts().len(), 2);
        assert_eq!(
            NtfCommand::decode(&b, CURRENT).unwrap(),
            NtfCommand::Snew(owned)
        );
    }

    #[test]
    fn other_tags_are_not_snew() {
        assert_eq!(NewNtfSubscriptionRef::parse(b"PING"), Ok(None));
        assert_eq!(NewNtfSubscriptionRef::parse(b"SNEWX S"), Ok(None));
        assert_eq!(NewNtfSubscriptionRef::parse(b""), Ok(None));
        // the tag is SNEW: its errors are the owned decoder's
        for b in [&b"SNEW"[..], b"SNEW ", b"SNEW T", b"SNEW S\x00"] {
            assert_eq!(
                NewNtfSubscriptionRef::parse(b).unwrap_err(),
                NtfCommand::decode(b, CURRENT).unwrap_err()
            );
        }
    }

    /// The view's answer and the owned decoder's answer for the same bytes.
    fn agree(b: &[u8]) -> Result<(), TestCaseError> {
        let owned = NtfCommand::decode(b, CURRENT);
        match NewNtfSubscriptionRef::parse(b) {
            Ok(Some(v)) => prop_assert_eq!(owned, Ok(NtfCommand::Snew(v.to_owned()))),
            Ok(None) => prop_assert!(!matches!(owned, Ok(NtfCommand::Snew(_)))),
            Err(e) => prop_assert_eq!(owned, Err(e)),
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn view_agrees_with_owned_decoder(c in crate::command::tests::command()) {
            let b = c.to_bytes(CURRENT);
            agree(&b)?;
            // and on every prefix and one-byte change of it
            for n in 0..b.len() {
                agree(&b[..n])?;
            }
            let mut m = b.clone();
            let i = m.len() / 2;
            m[i] ^= 0x41;
            agree(&m)?;
        }

        #[test]
        fn view_agrees_on_any_snew_bytes(tail in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut b = b"SNEW S".to_vec();
            b.extend_from_slice(&tail);
            agree(&b)?;
        }

        #[test]
        fn view_round_trips_queue(q in crate::queue::tests::smp_queue()) {
            let b = q.to_bytes();
            let v = SmpQueueNtfRef::decode_exact(&b).unwrap();
            prop_assert_eq!(v.to_owned(), q);
        }
    }
}
