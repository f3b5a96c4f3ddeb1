//! `store_log.json`: the store log's records (`store_log.record`, the reference's
//! `NtfStoreLogRecord` lines of `ntf-server-store.log`) and the last-notifications file's
//! lines (`store_log.last_ntf`, `TNMRv1`), with the reference's parsing quirks as input
//! vectors (`spec/store-log.md`).

use serde_json::{json, Value};

use super::build::{Case, Family, VectorOut};
use super::text::servers;
use crate::codecs::to_hex;

/// Generates `store_log.json`.
pub fn generate(seed: u64) -> anyhow::Result<Vec<VectorOut>> {
    let mut f = Family::new("store_log.json", seed);
    tokens(&mut f)?;
    subscriptions(&mut f)?;
    services(&mut f)?;
    last_ntfs(&mut f)?;
    Ok(f.into_vectors())
}

fn id(f: &mut Family) -> String {
    to_hex(&f.bytes(24))
}

fn device(f: &mut Family, provider: &str) -> Value {
    let token = f.hex_text(64);
    json!({"provider": provider, "token": to_hex(&token)})
}

fn b64(b: &[u8]) -> String {
    smp_proto::text::base64url_encode(b)
}

fn tokens(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("store_log.record");
    for (name, status, key, updated) in [
        ("active", "ACTIVE", "ed25519", Some(1_704_067_200i64)),
        ("new_no_updated_at", "NEW", "x25519", None),
        ("invalid", "INVALID", "ed25519", Some(0)),
        ("confirmed", "CONFIRMED", "ed25519", Some(1_700_000_000 - 1_700_000_000 % 86400)),
    ] {
        let rec = json!({
            "id": id(f),
            "token": device(f, "AP"),
            "status": status,
            "verify_key": f.public_key(key),
            "dh_private": to_hex(&f.bytes(32)),
            "dh_secret": to_hex(&f.bytes(32)),
            "reg_code": to_hex(&f.bytes(32)),
            "cron_interval": f.int(0, 65535),
            "updated_at": updated,
        });
        let n = format!("store_log/TCREATE/{name}");
        let line = f.valid(&n, &c, json!({"tag": "TCREATE", "rec": rec}))?;
        if name == "active" {
            // `dhKeys`' public key is read but not kept: the encoder derives it from the private
            dh_public_ignored(f, &c, &line)?;
            f.trailing(&n, &c, &line, b" extra=1", "")?;
        }
    }
    let tid = id(f);
    for (tag, value) in [
        ("TSTATUS", json!({"tag": "TSTATUS", "id": tid, "status": "ACTIVE"})),
        ("TSTATUS/invalid_reason", json!({"tag": "TSTATUS", "id": tid, "status": "INVALID,BAD"})),
        ("TUPDATE", json!({"tag": "TUPDATE", "id": tid, "token": device(f, "AD"), "reg_code": to_hex(&f.bytes(32))})),
        ("TCRON", json!({"tag": "TCRON", "id": tid, "interval": 20})),
        ("TDELETE", json!({"tag": "TDELETE", "id": tid})),
        ("TTIME", json!({"tag": "TTIME", "id": tid, "day": 1_704_067_200})),
    ] {
        let n = format!("store_log/{tag}");
        let line = f.valid(&n, &c, value)?;
        if tag == "TCRON" {
            f.truncations(&n, &c, &line)?;
        }
    }
    let kid = b64(&f.bytes(24));
    // `A.decimal` into a `Word16` wraps, as the reference's parser does
    f.input("store_log/TCRON/input/word16_wraps", &c, format!("TCRON {kid} 65536").as_bytes())?;
    for (name, text) in [
        ("unknown_tag", format!("TFOO {kid}")),
        ("bad_status", format!("TSTATUS {kid} READY")),
        ("empty", String::new()),
    ] {
        f.invalid(&format!("store_log/invalid/{name}"), &c, text.as_bytes())?;
    }
    Ok(())
}

/// The `TCREATE` line with another X25519 public key in `dhKeys`: read, and written back as
/// the private key's own.
fn dh_public_ignored(f: &mut Family, c: &Case, line: &[u8]) -> anyhow::Result<()> {
    let text = String::from_utf8(line.to_vec())?;
    let start = text.find("dhKeys=").ok_or_else(|| anyhow::anyhow!("no dhKeys"))? + 7;
    let end = start + text[start..].find(' ').unwrap_or(0);
    let mut spki = crate::codecs::from_hex("302a300506032b656e032100").map_err(anyhow::Error::msg)?;
    spki.extend_from_slice(&f.bytes(32));
    let other = format!("{}{}{}", &text[..start], b64(&spki), &text[end..]);
    f.input("store_log/TCREATE/input/dh_public_ignored", c, other.as_bytes())?;
    Ok(())
}

fn subscriptions(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("store_log.record");
    let hosts = servers(f);
    for (i, (host, server)) in hosts.into_iter().enumerate() {
        let (status, assoc, key) = match i % 3 {
            0 => ("NEW", false, "ed25519"),
            1 => ("ACTIVE", true, "x25519"),
            _ => ("AUTH", false, "ed25519"),
        };
        let rec = json!({
            "id": id(f),
            "queue": {"server": server, "notifier_id": id(f)},
            "notifier_key": f.private_key(key),
            "token_id": id(f),
            "status": status,
            "service_assoc": assoc,
        });
        f.valid(&format!("store_log/SCREATE/{host}"), &c, json!({"tag": "SCREATE", "rec": rec}))?;
    }
    let sid = id(f);
    for (name, status, service) in [("active", "ACTIVE", false), ("service", "ACTIVE", true), ("err", "ERR some text", false)] {
        let v = json!({"tag": "SSTATUS", "id": sid, "status": status, "service": service});
        f.valid(&format!("store_log/SSTATUS/{name}"), &c, v)?;
    }
    f.valid("store_log/SDELETE", &c, json!({"tag": "SDELETE", "id": sid}))?;
    // `NSErr <$> A.takeByteString`: an ERR status takes the rest of the line, service too
    let kid = b64(&f.bytes(24));
    let swallowed = format!("SSTATUS {kid} ERR boom service=T");
    f.input("store_log/SSTATUS/input/err_swallows_service", &c, swallowed.as_bytes())?;
    f.input("store_log/SSTATUS/input/service_off", &c, format!("SSTATUS {kid} ACTIVE service=F").as_bytes())?;
    f.invalid("store_log/invalid/bad_bool", &c, format!("SSTATUS {kid} ACTIVE service=X").as_bytes())?;
    Ok(())
}

fn services(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("store_log.record");
    let (_, server) = servers(f).swap_remove(0);
    // a service id whose base64url does not start with "off"
    let mut sid = f.bytes(24);
    sid[0] = 0x10;
    f.valid("store_log/SERVICE/id", &c, json!({"tag": "SERVICE", "server": server, "service_id": to_hex(&sid)}))?;
    f.valid("store_log/SERVICE/off", &c, json!({"tag": "SERVICE", "server": server, "service_id": null}))?;
    // after " service=", text starting with "off" is the literal `off`: such an id does not read
    let kh = b64(&f.bytes(32));
    let off_id = format!("SERVICE smp://{kh}@smp.example.com service=offAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    f.invalid("store_log/invalid/service_id_starting_with_off", &c, off_id.as_bytes())?;
    Ok(())
}

fn last_ntfs(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("store_log.last_ntf");
    let (_, server) = servers(f).swap_remove(0);
    let ntf = json!({
        "queue": {"server": server, "notifier_id": id(f)},
        "ts": 1_704_067_200,
        "nonce": to_hex(&f.bytes(24)),
        "enc_meta": to_hex(&f.bytes(60)),
    });
    let v = json!({"token_id": id(f), "ntf": ntf});
    let line = f.valid("store_log/last_ntf", &c, v)?;
    f.trailing("store_log/last_ntf", &c, &line, b" x", "")?;
    f.invalid("store_log/last_ntf/invalid/v2", &c, &[b"v2", &line[2..]].concat())?;
    Ok(())
}
