//! Fuzz glue for the server's command handling path (feature `fuzzing`; target
//! `fuzz/fuzz_targets/ntf_server_core.rs`).
//!
//! Input layout:
//!
//! ```text
//! input = version-byte *item
//! item  = mode:1 len:1 len*byte                ; at most MAX_ITEMS are used
//! mode  = even: the bytes are a raw transmission (bit 3: handled in the three phases of
//!               `ntf::preverify`, else in one call)
//!       / odd:  the bytes are a command for the fuzz token (bit 1 set: with the
//!               subscription's id as entity, else the token's), sent
//!               - bit 3 clear: with a placeholder signature, handled with a preverification
//!                 that says it verified (the server's split path after its crypto);
//!               - bit 3 set: really signed (at most REAL_SIGNED per input, later ones as
//!                 above), handled in three phases (bit 4) or one call
//! mode bit 2: run the periodic sweep after the item
//! ```
//!
//! Signing and verifying cost tens of microseconds an item while the rest of the path costs
//! a few; the crypto itself is fuzzed by the transmission and crypto targets and tested with
//! vectors, so most items skip it and the executions go to the command logic.

//! Before the items, a token is registered (TNEW), verified (TVFY with the code from the push
//! effect) and a subscription created (SNEW), so signed items reach every command's logic.
//! Checks: nothing panics; every response is a well-formed transmission whose response
//! decodes at the session's version and obeys the response credential rules; the core is
//! deterministic for the seed.

use ntf_proto::command::{NewNtfSubscription, NewNtfToken, NtfCommand, NtfEntityId};
use ntf_proto::credentials::check_response;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::response::NtfResponse;
use ntf_proto::token::{DeviceToken, PushProvider};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use smp_proto::crypto::{ed25519_public, x25519_public, Signature, TransmissionAuth};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey, X25519PublicKey};
use smp_proto::server::{KeyHash, SmpServer, TransportHost};
use smp_proto::transmission::{ForAuth, RawTransmission};
use smp_proto::version::Version;

use super::{Config, Effect, Preverified, MemStore, NtfServerCore, PushNotification, SessionParams};

const SEED: [u8; 32] = [7; 32];
const NOW: i64 = 1_700_000_000;

/// Items handled per input.
const MAX_ITEMS: usize = 8;
/// Really signed items per input.
const REAL_SIGNED: usize = 2;

/// A transmission for `entity`, signed for the fuzz token.
fn signed(params: &SessionParams, entity: &[u8], command: &[u8], corr: u8) -> Vec<u8> {
    use ed25519_dalek::Signer as _;
    static KEY: std::sync::OnceLock<ed25519_dalek::SigningKey> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| ed25519_dalek::SigningKey::from_bytes(&SEED));
    with_signature(params, entity, command, corr, |for_auth| key.sign(for_auth).to_bytes())
}

/// A transmission with an all-zero Ed25519 signature (for a preverified item).
fn placeholder_signed(params: &SessionParams, entity: &[u8], command: &[u8], corr: u8) -> Vec<u8> {
    with_signature(params, entity, command, corr, |_| [0; 64])
}

fn with_signature(
    params: &SessionParams,
    entity: &[u8],
    command: &[u8],
    corr: u8,
    sign: impl FnOnce(&[u8]) -> [u8; 64],
) -> Vec<u8> {
    let tp = params.transmission_params();
    let corr_id = [corr; 24];
    let fa = ForAuth::new(&tp, &corr_id, entity, command);
    let sig = TransmissionAuth::Signature(Signature::Ed25519(sign(fa.for_auth())));
    let mut out = Vec::new();
    fa.encode(false, Some(&sig), None, &mut out);
    out
}

/// Checks one response transmission as a client would read it.
fn check_output(params: &SessionParams, bytes: &[u8]) {
    let tp = params.transmission_params();
    let raw = RawTransmission::decode(bytes, &tp).expect("server output is a transmission");
    let resp = NtfResponse::decode(raw.command, params.version).expect("server output decodes");
    assert!(check_response(&resp, raw.entity_id).is_ok(), "response breaks the credential rules: {resp:?}");
}

type Core = NtfServerCore<MemStore, ChaCha20Rng>;

/// A core with the fuzz token registered and verified and a subscription, per version: built
/// once (signing is the expensive part) and cloned for each input.
struct Prepared {
    core: Core,
    token_id: NtfEntityId,
    sub_id: NtfEntityId,
}

fn session(version: Version) -> SessionParams {
    SessionParams::new(version, vec![3u8; 32], (version.0 >= 2).then_some([9u8; 32]))
}

static PREPARED: std::sync::OnceLock<Vec<Prepared>> = std::sync::OnceLock::new();

/// The fuzz entry point.
pub fn ntf_server_core(data: &[u8]) {
    let Some((&v, mut rest)) = data.split_first() else { return };
    let version = Version(u16::from(v % 3) + 1);
    let params = session(version);
    let prepared = &PREPARED.get_or_init(|| (1..=3).map(|v| prepare(Version(v))).collect())[usize::from(version.0 - 1)];
    let mut core = prepared.core.clone();
    let (token_id, sub_id) = (&prepared.token_id, &prepared.sub_id);

    let mut corr = 10u8;
    let mut items = 0;
    let mut real = 0;
    static KEY: std::sync::OnceLock<PublicKey> = std::sync::OnceLock::new();
    let verified = Preverified { key: Some(*KEY.get_or_init(|| PublicKey::Ed25519(ed25519_public(&SEED)))), ok: true };
    while let [mode, len, tail @ ..] = rest {
        items += 1;
        if items > MAX_ITEMS {
            break;
        }
        let n = usize::from(*len).min(tail.len());
        let (item, next) = tail.split_at(n);
        rest = next;
        corr = corr.wrapping_add(1);
        let now = NOW + i64::from(corr);
        let entity: &NtfEntityId = if mode & 2 != 0 { sub_id } else { token_id };
        let out = if mode % 2 == 0 {
            if mode & 8 != 0 {
                three_phases(&mut core, now, &params, item)
            } else {
                core.handle_transmission(now, &params, item)
            }
        } else if mode & 8 != 0 && real < REAL_SIGNED {
            real += 1;
            let t = signed(&params, entity.as_bytes(), item, corr);
            if mode & 16 != 0 {
                three_phases(&mut core, now, &params, &t)
            } else {
                core.handle_transmission(now, &params, &t)
            }
        } else {
            let t = placeholder_signed(&params, entity.as_bytes(), item, corr);
            let tp = params.transmission_params();
            match RawTransmission::decode(&t, &tp) {
                Ok(raw) => core.handle_preverified(now, &params, &raw, Some(&verified)),
                Err(_) => core.handle_transmission(now, &params, &t),
            }
        };
        check_output(&params, &out.response.to_bytes(&params));
        // the periodic sweep must cope with whatever state the commands left
        if mode & 4 != 0 {
            let _ = core.tick(now + 3600);
        }
    }
}

/// The split handling of `ntf::preverify`, as the server shell runs it (also used by the core
/// tests to compare it with the one-call path).
pub(crate) fn three_phases(core: &mut Core, now: i64, params: &SessionParams, bytes: &[u8]) -> super::Output {
    let tp = params.transmission_params();
    match RawTransmission::decode(bytes, &tp) {
        Ok(raw) => {
            let key = core.authorization_key(params, &raw);
            let pre = super::preverify(params, &raw, key.as_ref());
            core.handle_preverified(now, params, &raw, pre.as_ref())
        }
        Err(_) => core.handle_transmission(now, params, bytes),
    }
}

fn prepare(version: Version) -> Prepared {
    let params = session(version);
    let mut core = NtfServerCore::new(Config::default(), MemStore::new(), ChaCha20Rng::from_seed([1; 32]), NOW);

    // a registered, verified token and a subscription
    let token = DeviceToken::new(PushProvider::ApnsNull, b"00ff".to_vec()).expect("token");
    let verify_key = AuthPublicKey::new(PublicKey::Ed25519(ed25519_public(&SEED))).expect("key");
    let tnew = NtfCommand::Tnew(NewNtfToken { token, verify_key, dh_key: X25519PublicKey(x25519_public(&[5; 32])) });
    let out = core.handle_transmission(NOW, &params, &signed(&params, b"", &tnew.to_bytes(version), 1));
    let NtfResponse::IdTkn { id: token_id, .. } = out.response.response else { panic!("TNEW failed: {:?}", out.response) };
    let code = out.effects.iter().find_map(|e| match e {
        Effect::Push { notification: PushNotification::Verification(c), .. } => Some(c.clone()),
        _ => None,
    });
    let tvfy = NtfCommand::Tvfy(code.expect("verification push"));
    let out = core.handle_transmission(NOW, &params, &signed(&params, token_id.as_bytes(), &tvfy.to_bytes(version), 2));
    assert_eq!(out.response.response, NtfResponse::Ok);
    let server = SmpServer::new(vec![TransportHost::Domain("smp.example.com".into())], "5223", KeyHash::from([1; 32])).expect("server");
    let snew = NtfCommand::Snew(NewNtfSubscription {
        token_id: token_id.clone(),
        queue: SmpQueueNtf::new(server, vec![4; 24]).expect("queue"),
        notifier_key: AuthPrivateKey::new(PrivateKey::Ed25519([6; 32])).expect("key"),
    });
    let out = core.handle_transmission(NOW, &params, &signed(&params, b"", &snew.to_bytes(version), 3));
    let sub_id = match out.response.response {
        NtfResponse::IdSub(id) => id,
        other => panic!("SNEW failed: {other:?}"),
    };
    Prepared { core, token_id, sub_id }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_reaches_signed_commands() {
        // v3; a signed TCHK on the token, a signed SCHK on the subscription, garbage raw bytes
        let mut input = vec![2u8];
        for (mode, cmd) in [(1u8, &b"TCHK"[..]), (3, b"SCHK"), (5, b"TCRN \x00\x14"), (0, b"\x00\x01\x02"), (9, b"TCHK"), (27, b"SDEL"), (8, b"\x00")] {
            input.push(mode);
            input.push(cmd.len() as u8);
            input.extend_from_slice(cmd);
        }
        ntf_server_core(&input);
        // the preverified path reaches the command logic; a placeholder signature alone does not
        let p = session(Version(3));
        let prep = prepare(Version(3));
        let mut core = prep.core.clone();
        let t = placeholder_signed(&p, prep.token_id.as_bytes(), b"TCHK", 1);
        let tp = p.transmission_params();
        let raw = RawTransmission::decode(&t, &tp).unwrap();
        let verified = Preverified { key: Some(PublicKey::Ed25519(ed25519_public(&SEED))), ok: true };
        let out = core.handle_preverified(NOW, &p, &raw, Some(&verified));
        assert_eq!(out.response.response, NtfResponse::Tkn(ntf_proto::token::NtfTknStatus::Active));
        let out = core.handle_transmission(NOW, &p, &t);
        assert_eq!(out.response.response, NtfResponse::Err(smp_proto::error_type::ErrorType::Auth));
        for v in 0..3u8 {
            ntf_server_core(&[v]);
        }
        ntf_server_core(&[]);
    }
}
