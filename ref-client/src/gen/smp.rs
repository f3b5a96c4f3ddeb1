//! `smp.json`: the SMP notifier subset: `smp.command`, `smp.broker_msg` and `nmsg.meta`.

use serde_json::json;

use super::build::{cat, short, Case, Family, VectorOut};
use super::errors;
use super::ntf::{x509_public, AUTH_ALGS};
use crate::codecs::to_hex;

/// SMP versions 6 to 18.
const SMP_VERSIONS: std::ops::RangeInclusive<u16> = 6..=18;

/// Generates `smp.json`.
pub fn generate(seed: u64) -> anyhow::Result<Vec<VectorOut>> {
    let mut f = Family::new("smp.json", seed);
    commands(&mut f)?;
    broker_msgs(&mut f)?;
    nmsg_meta(&mut f)?;
    Ok(f.into_vectors())
}

fn commands(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("smp.command");
    for alg in AUTH_ALGS {
        let name = format!("smp/command/NKEY/{alg}");
        let v = json!({"tag": "NKEY", "notifier_key": f.public_key(alg), "dh_key": f.public_key("x25519")});
        let bytes = f.valid(&name, &c, v)?;
        f.truncations(&name, &c, &bytes)?;
        if alg == "ed25519" {
            f.trailing(&name, &c, &bytes, b"\x00", "")?;
        }
    }
    for tag in ["NDEL", "NSUB", "NSUBS", "PING"] {
        let name = format!("smp/command/{tag}");
        let bytes = f.valid(&name, &c, json!({"tag": tag}))?;
        f.trailing(&name, &c, &bytes, b" ", "space")?;
        f.invalid(
            &format!("smp/command/invalid/{tag}_lowercase"),
            &c,
            tag.to_lowercase().as_bytes(),
        )?;
    }
    let x448 = x509_public(&f.bytes(56), 0x6f);
    let x25519 = x509_public(&f.array::<32>(), 0x6e);
    let ed25519 = x509_public(&f.array::<32>(), 0x70);
    for (name, bytes) in [
        (
            "NKEY_x448_notifier_key",
            cat(&[b"NKEY ", &short(&x448), &short(&x25519)]),
        ),
        (
            "NKEY_ed25519_dh_key",
            cat(&[b"NKEY ", &short(&ed25519), &short(&ed25519)]),
        ),
        ("NKEY_one_key", cat(&[b"NKEY ", &short(&ed25519)])),
        (
            "NKEY_no_space",
            cat(&[b"NKEY", &short(&ed25519), &short(&x25519)]),
        ),
        (
            "NKEY_space_between_keys",
            cat(&[b"NKEY ", &short(&ed25519), b" ", &short(&x25519)]),
        ),
        (
            "NKEY_raw_keys",
            cat(&[b"NKEY ", &short(&f.bytes(32)), &short(&f.bytes(32))]),
        ),
        ("empty", Vec::new()),
        ("unknown_tag", b"NSUBX".to_vec()),
        ("unknown_tag_letters", b"XYZW".to_vec()),
        ("ntf_command", b"TCHK".to_vec()),
        ("broker_message", b"PONG".to_vec()),
    ] {
        f.invalid(&format!("smp/command/invalid/{name}"), &c, &bytes)?;
    }
    Ok(())
}

fn broker_msgs(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("smp.broker_msg");
    for len in [0usize, 24, 255] {
        let nid = f.bytes(len);
        let name = format!("smp/broker/NID/len{len}");
        let v =
            json!({"tag": "NID", "notifier_id": to_hex(&nid), "dh_key": f.public_key("x25519")});
        let bytes = f.valid(&name, &c, v)?;
        if len == 24 {
            f.truncations(&name, &c, &bytes)?;
            f.trailing(&name, &c, &bytes, b"\x00", "")?;
        }
    }
    for len in [0usize, 1, 88, 255] {
        let nonce = f.bytes(24);
        let meta = f.bytes(len);
        let name = format!("smp/broker/NMSG/len{len}");
        let bytes = f.valid(
            &name,
            &c,
            json!({"tag": "NMSG", "nonce": to_hex(&nonce), "enc_meta": to_hex(&meta)}),
        )?;
        if len == 88 {
            f.truncations(&name, &c, &bytes)?;
            f.trailing(&name, &c, &bytes, b"\x00", "")?;
        }
    }
    for tag in ["ENDS", "SOKS"] {
        for (label, n) in [
            ("0", 0i64),
            ("1", 1),
            ("1000", 1000),
            ("minus1", -1),
            ("max", i64::MAX),
            ("min", i64::MIN),
        ] {
            let name = format!("smp/broker/{tag}/{label}");
            let bytes = f.valid(&name, &c, json!({"tag": tag, "count": n}))?;
            if label == "1000" {
                f.truncations(&name, &c, &bytes)?;
                f.trailing(&name, &c, &bytes, b"\x00", "")?;
            }
        }
    }
    for tag in ["END", "OK", "PONG"] {
        let name = format!("smp/broker/{tag}");
        let bytes = f.valid(&name, &c, json!({"tag": tag}))?;
        f.trailing(&name, &c, &bytes, b" ", "space")?;
    }
    // DELD is END below v10
    f.versions("smp/broker/DELD", &c, SMP_VERSIONS, &json!({"tag": "DELD"}))?;
    // the error catalog at the newest version
    for (name, tokens) in errors::catalog() {
        let n = format!("smp/broker/ERR/{name}");
        let bytes = f.valid(&n, &c, json!({"tag": "ERR", "error": tokens}))?;
        if name == "CMD_NO_AUTH" || name == "PROXY_BROKER_RESPONSE" {
            f.truncations(&n, &c, &bytes)?;
        }
    }
    // BLOCKED is AUTH below v12 and loses its notice below v18
    for (label, info) in [
        ("spam", "reason=spam"),
        (
            "content_notice_ttl",
            "reason=content,notice={\"ttl\":86400}",
        ),
        ("spam_notice_empty", "reason=spam,notice={}"),
    ] {
        let v = json!({"tag": "ERR", "error": ["BLOCKED", info]});
        f.versions(
            &format!("smp/broker/ERR/BLOCKED_{label}"),
            &c,
            SMP_VERSIONS,
            &v,
        )?;
    }
    for (name, wire) in errors::inputs() {
        f.input(
            &format!("smp/broker/ERR/input/{name}"),
            &c,
            &cat(&[b"ERR ", &wire]),
        )?;
    }
    for (name, wire) in errors::invalid() {
        f.invalid(
            &format!("smp/broker/invalid/ERR_{name}"),
            &c,
            &cat(&[b"ERR ", &wire]),
        )?;
    }
    let ed = x509_public(&f.array::<32>(), 0x70);
    for (name, bytes) in [
        (
            "NID_ed25519_dh_key",
            cat(&[b"NID ", &short(&f.bytes(24)), &short(&ed)]),
        ),
        ("NMSG_short_nonce", cat(&[b"NMSG ", &f.bytes(23)])),
        (
            "NMSG_meta_length_overrun",
            cat(&[b"NMSG ", &f.bytes(24), &[10], &f.bytes(9)]),
        ),
        ("ENDS_text_number", b"ENDS 5".to_vec()),
        ("SOKS_missing_count", b"SOKS".to_vec()),
        ("DELD_space", b"DELD ".to_vec()),
        ("ERR_missing_error", b"ERR".to_vec()),
        ("empty", Vec::new()),
        ("unknown_tag", b"NMSGX".to_vec()),
        ("unknown_tag_letters", b"XYZW".to_vec()),
        ("lowercase_tag", b"end".to_vec()),
        ("command_tag", b"NSUB".to_vec()),
        ("ntf_response_tag", b"IDTKN".to_vec()),
    ] {
        f.invalid(&format!("smp/broker/invalid/{name}"), &c, &bytes)?;
    }
    Ok(())
}

fn nmsg_meta(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("nmsg.meta");
    for (len, ts) in [
        (0usize, 0i64),
        (8, 1),
        (24, 1_718_000_000),
        (24, -1),
        (255, i64::MAX),
        (12, i64::MIN),
    ] {
        let id = f.bytes(len);
        let name = format!("nmsg/meta/len{len}_ts{ts}");
        let bytes = f.valid(&name, &c, json!({"msg_id": to_hex(&id), "msg_ts": ts}))?;
        if len == 24 && ts > 0 {
            f.truncations(&name, &c, &bytes)?;
            let extra = f.bytes(16);
            f.trailing(&name, &c, &bytes, &extra, "")?;
            f.trailing(&name, &c, &bytes, b" extension", "text")?;
        }
    }
    for (name, bytes) in [
        ("empty", Vec::new()),
        ("id_length_overrun", cat(&[&[30u8], &f.bytes(29)])),
        ("ts_short", cat(&[&short(&f.bytes(4)), &f.bytes(7)])),
    ] {
        f.invalid(&format!("nmsg/meta/invalid/{name}"), &c, &bytes)?;
    }
    Ok(())
}
