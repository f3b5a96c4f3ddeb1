//! Ed25519 signing with the key expanded once per seed.
//!
//! Signing from a seed (`sign_ed25519`) first derives the public key, a scalar multiplication
//! that costs as much as the signature itself. A client signs many commands with the same
//! few keys (its tokens'), so it keeps the expanded keys of the seeds it used last. The cache is
//! bounded: when full it is emptied (a client with more keys than that just signs at the
//! uncached cost). The expanded keys are zeroized when dropped.

use std::collections::HashMap;
use std::sync::Mutex;

use ed25519_dalek::{Signer as _, SigningKey};
use smp_proto::crypto::ED25519_SIGNATURE_LEN;

/// Keys kept at most.
const CAPACITY: usize = 256;

/// Expanded Ed25519 keys by seed.
#[derive(Default)]
pub struct SignerCache {
    keys: Mutex<HashMap<[u8; 32], SigningKey>>,
}

impl std::fmt::Debug for SignerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignerCache(..)")
    }
}

impl SignerCache {
    /// Signs `msg` with the key of `seed`: the same signature as
    /// [`smp_proto::crypto::sign_ed25519`].
    pub fn sign(&self, seed: &[u8; 32], msg: &[u8]) -> [u8; ED25519_SIGNATURE_LEN] {
        // signing happens outside the lock, so that threads signing at once do not wait
        let cached = self.keys.lock().ok().and_then(|keys| keys.get(seed).cloned());
        let key = match cached {
            Some(k) => k,
            None => {
                let k = SigningKey::from_bytes(seed);
                if let Ok(mut keys) = self.keys.lock() {
                    if keys.len() >= CAPACITY {
                        keys.clear();
                    }
                    keys.insert(*seed, k.clone());
                }
                k
            }
        };
        key.sign(msg).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smp_proto::crypto::{ed25519_public, sign_ed25519, verify_ed25519};

    #[test]
    fn same_signatures_as_signing_from_the_seed() {
        let cache = SignerCache::default();
        for i in 0..(CAPACITY + 10) {
            let seed = [i as u8 ^ 0x5a, (i >> 8) as u8, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32];
            let msg = i.to_be_bytes();
            let sig = cache.sign(&seed, &msg);
            assert_eq!(sig, sign_ed25519(&seed, &msg));
            assert!(verify_ed25519(&ed25519_public(&seed), &sig, &msg));
            // again from the cache
            assert_eq!(cache.sign(&seed, &msg), sig);
        }
        assert!(cache.keys.lock().unwrap().len() <= CAPACITY);
    }
}
