//! `crypto.json`: known answers of crypto_box (`crypto.cbox`), Ed25519 transmission signatures
//! (`auth.signature`) and crypto_box authenticators (`auth.authenticator`).

use serde_json::json;
use smp_proto::crypto;

use super::build::{cat, short, Case, Family, VectorOut};
use crate::codecs::to_hex;

/// Generates `crypto.json`.
pub fn generate(seed: u64) -> anyhow::Result<Vec<VectorOut>> {
    let mut f = Family::new("crypto.json", seed);
    cbox(&mut f)?;
    signatures(&mut f)?;
    authenticators(&mut f)?;
    service_signatures(&mut f)?;
    Ok(f.into_vectors())
}

fn cbox(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("crypto.cbox");
    let cases: [(usize, Option<usize>); 14] = [
        (0, None),
        (1, None),
        (15, None),
        (16, None),
        (17, None),
        (100, None),
        (255, None),
        (1000, None),
        (0, Some(2)),
        (0, Some(32)),
        (1, Some(64)),
        (100, Some(102)),
        (100, Some(256)),
        (255, Some(512)),
    ];
    for (len, padded) in cases {
        let (_, public) = f.x25519();
        let (private, _) = f.x25519();
        let nonce = f.bytes(24);
        let plaintext = f.bytes(len);
        let secret = crypto::dh(&public, &private);
        let n = crypto::cb_nonce(&nonce);
        let boxed = match padded {
            Some(p) => crypto::crypto_box_padded(&secret, &n, &plaintext, p)
                .map_err(|e| anyhow::anyhow!("crypto_box_padded: {e:?}"))?,
            None => crypto::crypto_box(&secret, &n, &plaintext),
        };
        let value = json!({"public": to_hex(&public), "private": to_hex(&private), "nonce": to_hex(&nonce), "plaintext": to_hex(&plaintext), "padded_len": padded});
        let name = match padded {
            Some(p) => format!("crypto/cbox/len{len}_pad{p}"),
            None => format!("crypto/cbox/len{len}"),
        };
        f.known_answer(&name, &c, value, &boxed)?;
    }
    Ok(())
}

fn signatures(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("auth.signature");
    for (label, sid_len, command) in [
        ("TNEW_like", 32usize, &b"TCRN \x00\x14"[..]),
        ("PING", 32, b"PING"),
        ("NSUB", 32, b"NSUB"),
        ("empty_session_id", 0, b"TCHK"),
        ("long_command", 32, &[0x41; 300][..]),
    ] {
        let (seed, _) = f.ed25519();
        let sid = f.bytes(sid_len);
        let corr_id = f.bytes(24);
        let entity = f.bytes(24);
        let transmission = cat(&[&short(&corr_id), &short(&entity), command]);
        let sig = crypto::sign_ed25519(&seed, &cat(&[&short(&sid), &transmission]));
        let value = json!({"private": to_hex(&seed), "session_id": to_hex(&sid), "transmission": to_hex(&transmission)});
        f.known_answer(&format!("auth/signature/{label}"), &c, value, &sig)?;
    }
    Ok(())
}

fn authenticators(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("auth.authenticator");
    for (label, corr_len, command) in [
        ("TCHK", 24usize, &b"TCHK"[..]),
        ("SNEW_like", 24, b"SDEL"),
        ("short_corr_id", 3, b"PING"),
        ("empty_corr_id", 0, b"PING"),
        ("long_corr_id", 40, b"TDEL"),
    ] {
        let (_, public) = f.x25519();
        let (private, _) = f.x25519();
        let sid = f.bytes(32);
        let corr_id = f.bytes(corr_len);
        let entity = f.bytes(24);
        let authorized = cat(&[&short(&sid), &short(&corr_id), &short(&entity), command]);
        let a =
            crypto::cb_authenticate(&public, &private, &crypto::cb_nonce(&corr_id), &authorized);
        let value = json!({"private": to_hex(&private), "public": to_hex(&public), "corr_id": to_hex(&corr_id), "authorized": to_hex(&authorized)});
        f.known_answer(&format!("auth/authenticator/{label}"), &c, value, &a)?;
    }
    Ok(())
}

/// `auth.service` (`authTransmission`, `Client.hs`; checked by `verifyQueueTransmission`): the
/// queue key signs `cert_hash ++ authorized`, the service session key signs `authorized`.
fn service_signatures(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("auth.service");
    for (label, command) in [("NSUB", &b"NSUB"[..]), ("SUB", b"SUB")] {
        let (queue, _) = f.ed25519();
        let (service, _) = f.ed25519();
        let cert_hash = f.bytes(32);
        let sid = f.bytes(32);
        let corr_id = f.bytes(24);
        let entity = f.bytes(24);
        let transmission = cat(&[&short(&corr_id), &short(&entity), command]);
        let authorized = cat(&[&short(&sid), &transmission]);
        let qs = crypto::sign_ed25519(&queue, &cat(&[&cert_hash, &authorized]));
        let ss = crypto::sign_ed25519(&service, &authorized);
        let hex = cat(&[&short(&qs), b"1", &short(&ss)]);
        let value = json!({"private": to_hex(&queue), "service_private": to_hex(&service), "cert_hash": to_hex(&cert_hash), "session_id": to_hex(&sid), "transmission": to_hex(&transmission)});
        f.known_answer(&format!("auth/service/{label}"), &c, value, &hex)?;
    }
    Ok(())
}
