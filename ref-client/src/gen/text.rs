//! `text.json`: the ASCII text forms `device_token.str`, `smp_server.str`, `smp_queue.str`
//! and `pn.messages`.

use serde_json::{json, Value};

use super::build::{Case, Family, VectorOut};
use crate::codecs::to_hex;

/// One SMP server address of each kind of host, as `(name, JSON)`, with fresh key hashes.
pub fn servers(f: &mut Family) -> Vec<(String, Value)> {
    let hosts: [(&str, &[&str], &str); 8] = [
        ("domain", &["smp.example.com"], "5223"),
        ("domain_no_port", &["relay.example.org"], ""),
        (
            "onion",
            &["beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion"],
            "",
        ),
        ("ipv4", &["192.168.1.10"], "443"),
        ("ipv6", &["2001:db8::1"], ""),
        ("ipv6_loopback", &["::1"], ""),
        (
            "domain_onion",
            &[
                "relay1.simplex.example",
                "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion",
            ],
            "7001",
        ),
        (
            "three_hosts",
            &["a.example.org", "::1", "10.0.0.1"],
            "65535",
        ),
    ];
    hosts
        .iter()
        .map(|(name, hosts, port)| {
            let kh = f.bytes(32);
            (
                (*name).to_string(),
                json!({"hosts": hosts, "port": port, "key_hash": to_hex(&kh)}),
            )
        })
        .collect()
}

/// Servers whose only host is a preset relay: decoding a queue address adds its onion host.
pub fn preset_servers(f: &mut Family) -> Vec<(String, Value)> {
    ["smp4.simplex.im", "smp10.simplex.im"]
        .iter()
        .map(|h| {
            let kh = f.bytes(32);
            (
                format!("preset_{}", h.split('.').next().unwrap_or(h)),
                json!({"hosts": [h], "port": "", "key_hash": to_hex(&kh)}),
            )
        })
        .collect()
}

fn b64(b: &[u8]) -> String {
    smp_proto::text::base64url_encode(b)
}

/// Generates `text.json`.
pub fn generate(seed: u64) -> anyhow::Result<Vec<VectorOut>> {
    let mut f = Family::new("text.json", seed);
    device_tokens(&mut f)?;
    smp_servers(&mut f)?;
    smp_queues(&mut f)?;
    pn_messages(&mut f)?;
    Ok(f.into_vectors())
}

fn device_tokens(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("device_token.str");
    for p in ["AD", "AP", "AT", "AN"] {
        let token = f.hex_text(64);
        let name = format!("device_token/str/{p}");
        let bytes = f.valid(&name, &c, json!({"provider": p, "token": to_hex(&token)}))?;
        if p == "AD" {
            f.truncations(&name, &c, &bytes)?;
            f.trailing(&name, &c, &bytes, b" ", "")?;
            f.trailing(&name, &c, &bytes, b"AB", "uppercase")?;
        }
    }
    f.valid(
        "device_token/str/AN/test_token",
        &c,
        json!({"provider": "AN", "token": to_hex(b"test_ntf_token")}),
    )?;
    f.valid(
        "device_token/str/AP/empty",
        &c,
        json!({"provider": "AP", "token": ""}),
    )?;
    let long = f.hex_text(254);
    f.valid(
        "device_token/str/AP/len254",
        &c,
        json!({"provider": "AP", "token": to_hex(&long)}),
    )?;
    let tok = String::from_utf8(f.hex_text(64))?;
    for (name, text) in [
        ("no_space", "apns_dev".to_string()),
        ("odd_hex", format!("apns_dev {}", &tok[1..])),
        ("uppercase_hex", format!("apns_prod {}", tok.to_uppercase())),
        ("unknown_provider", format!("apns_foo {tok}")),
        ("binary_code", format!("AP {tok}")),
        ("double_space", format!("apns_dev  {tok}")),
        ("empty", String::new()),
        (
            "null_test_token_other_provider",
            "apns_prod test_ntf_token".to_string(),
        ),
        ("non_hex", "apns_test xyz0".to_string()),
    ] {
        f.invalid(
            &format!("device_token/str/invalid/{name}"),
            &c,
            text.as_bytes(),
        )?;
    }
    Ok(())
}

fn smp_servers(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("smp_server.str");
    for (name, server) in servers(f) {
        let n = format!("smp_server/str/{name}");
        let bytes = f.valid(&n, &c, server)?;
        if name == "domain_onion" || name == "ipv4" {
            f.truncations(&n, &c, &bytes)?;
        }
        if name == "domain" {
            f.trailing(&n, &c, &bytes, b"/", "")?;
            f.trailing(&n, &c, &bytes, b" ", "space")?;
        }
    }
    // an IPv6 host followed by a port reads the port as the address's last group
    let kh_raw = f.bytes(32);
    let v6 = json!({"hosts": ["2001:db8::1"], "port": "7001", "key_hash": to_hex(&kh_raw)});
    f.lossy("smp_server/str/ipv6_port_read_as_group", &c, &v6)?;
    let kh = b64(&f.bytes(32));
    let kh_unpadded = kh.trim_end_matches('=').to_string();
    for (name, text) in [
        (
            "port_leading_zeros",
            format!("smp://{kh}@smp.example.com:005223"),
        ),
        ("ipv4_last_octet_wraps", format!("smp://{kh}@1.2.3.260")),
        ("ipv4_octet_256_is_domain", format!("smp://{kh}@256.1.1.1")),
        (
            "ipv4_leading_zeros",
            format!("smp://{kh}@010.001.002.003:443"),
        ),
        ("ipv4_three_octets_is_domain", format!("smp://{kh}@10.1.2")),
        (
            "ipv6_bracketed",
            format!("smp://{kh}@[2001:db8:0:0:0:0:0:1]:5223"),
        ),
        (
            "ipv6_uncompressed",
            format!("smp://{kh}@2001:0db8:0000:0000:0000:0000:0000:0001"),
        ),
        (
            "key_hash_unpadded",
            format!("smp://{kh_unpadded}@smp.example.com"),
        ),
    ] {
        f.input(&format!("smp_server/str/input/{name}"), &c, text.as_bytes())?;
    }
    for (name, text) in [
        ("ntf_scheme", format!("ntf://{kh}@smp.example.com")),
        ("xftp_scheme", format!("xftp://{kh}@smp.example.com")),
        ("unknown_scheme", format!("https://{kh}@smp.example.com")),
        ("missing_slashes", format!("smp:{kh}@smp.example.com")),
        ("missing_at", format!("smp://{kh}smp.example.com")),
        ("basic_auth", format!("smp://{kh}:secret@smp.example.com")),
        ("no_host", format!("smp://{kh}@")),
        (
            "bad_base64_key_hash",
            "smp://!!!!@smp.example.com".to_string(),
        ),
        (
            "partial_padding_key_hash",
            format!("smp://{}=@smp.example.com", &kh_unpadded[..42]),
        ),
        (
            "non_numeric_port",
            format!("smp://{kh}@smp.example.com:port"),
        ),
        ("trailing_slash", format!("smp://{kh}@smp.example.com/")),
        (
            "port_colon_without_digits",
            format!("smp://{kh}@smp.example.com:"),
        ),
        ("ipv4_trailing_letter", format!("smp://{kh}@1.2.3.4x")),
        ("trailing_comma", format!("smp://{kh}@smp.example.com,")),
        ("onion_suffix_domain", format!("smp://{kh}@Bad.onion")),
        ("empty", String::new()),
    ] {
        f.invalid(
            &format!("smp_server/str/invalid/{name}"),
            &c,
            text.as_bytes(),
        )?;
    }
    Ok(())
}

fn smp_queues(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("smp_queue.str");
    for (name, server) in servers(f) {
        let nid = f.bytes(24);
        let n = format!("smp_queue/str/{name}");
        let bytes = f.valid(
            &n,
            &c,
            json!({"server": server, "notifier_id": to_hex(&nid)}),
        )?;
        if name == "domain" {
            f.truncations(&n, &c, &bytes)?;
            f.trailing(&n, &c, &bytes, b" ", "")?;
        }
    }
    for len in [1usize, 2, 3, 255] {
        let (_, server) = servers(f).swap_remove(0);
        let nid = f.bytes(len);
        f.valid(
            &format!("smp_queue/str/notifier_id_len{len}"),
            &c,
            json!({"server": server, "notifier_id": to_hex(&nid)}),
        )?;
    }
    for (name, server) in preset_servers(f) {
        let nid = f.bytes(24);
        f.lossy(
            &format!("smp_queue/str/{name}/onion_added"),
            &c,
            &json!({"server": server, "notifier_id": to_hex(&nid)}),
        )?;
    }
    let kh = b64(&f.bytes(32));
    let id = b64(&f.bytes(24));
    f.input(
        "smp_queue/str/input/unpadded_id",
        &c,
        format!("smp://{kh}@smp.example.com/YWJjZA").as_bytes(),
    )?;
    for (name, text) in [
        ("missing_id", format!("smp://{kh}@smp.example.com")),
        ("empty_id", format!("smp://{kh}@smp.example.com/")),
        ("bad_base64_id", format!("smp://{kh}@smp.example.com/!!!!")),
        (
            "partial_padding_id",
            format!("smp://{kh}@smp.example.com/YWJjZA="),
        ),
        ("double_slash", format!("smp://{kh}@smp.example.com//{id}")),
        ("ntf_scheme", format!("ntf://{kh}@smp.example.com/{id}")),
    ] {
        f.invalid(
            &format!("smp_queue/str/invalid/{name}"),
            &c,
            text.as_bytes(),
        )?;
    }
    Ok(())
}

fn pn_message(f: &mut Family, server: &Value, ts: i64, meta_len: usize) -> Value {
    let nid = f.bytes(24);
    let nonce = f.bytes(24);
    let meta = f.bytes(meta_len);
    json!({"queue": {"server": server, "notifier_id": to_hex(&nid)}, "ts": ts, "nonce": to_hex(&nonce), "enc_meta": to_hex(&meta)})
}

fn pn_messages(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("pn.messages");
    let servers = servers(f);
    for count in 1..=4usize {
        let msgs: Vec<Value> = (0..count)
            .map(|i| {
                let ts = f.int(1_700_000_000, 1_800_000_000);
                let len = 1 + (f.int(0, 120) as usize);
                pn_message(f, &servers[i % servers.len()].1, ts, len)
            })
            .collect();
        let name = format!("pn/messages/count{count}");
        let bytes = f.valid(&name, &c, Value::Array(msgs))?;
        if count == 1 {
            f.truncations(&name, &c, &bytes)?;
            f.trailing(&name, &c, &bytes, b";", "")?;
            f.trailing(&name, &c, &bytes, b" ", "space")?;
        }
    }
    for (label, ts) in [
        ("ts_zero", 0i64),
        ("ts_negative", -5),
        ("ts_max", i64::MAX),
        ("ts_min", i64::MIN),
    ] {
        let m = pn_message(f, &servers[0].1, ts, 16);
        f.valid(&format!("pn/messages/{label}"), &c, json!([m]))?;
    }
    let m = pn_message(f, &servers[0].1, 1, 255);
    f.valid("pn/messages/enc_meta_len255", &c, json!([m]))?;
    for (name, server) in preset_servers(f) {
        let m = pn_message(f, &server, 1_750_000_000, 32);
        f.lossy(&format!("pn/messages/{name}/onion_added"), &c, &json!([m]))?;
    }
    let q = format!(
        "smp://{}@smp.example.com/{}",
        b64(&f.bytes(32)),
        b64(&f.bytes(24))
    );
    let nonce = b64(&f.bytes(24));
    let meta = b64(&f.bytes(20));
    f.input(
        "pn/messages/input/short_nonce_zero_padded",
        &c,
        format!("{q} 1 {} {meta}", b64(b"short")).as_bytes(),
    )?;
    f.input(
        "pn/messages/input/long_nonce_truncated",
        &c,
        format!("{q} 1 {} {meta}", b64(&[7u8; 30])).as_bytes(),
    )?;
    for (name, text) in [
        ("empty", String::new()),
        ("trailing_semicolon", format!("{q} 1 {nonce} {meta};")),
        ("missing_enc_meta", format!("{q} 1 {nonce}")),
        ("empty_enc_meta", format!("{q} 1 {nonce} ")),
        ("bad_base64_nonce", format!("{q} 1 !!!! {meta}")),
        ("bad_base64_enc_meta", format!("{q} 1 {nonce} ****")),
        ("non_numeric_ts", format!("{q} soon {nonce} {meta}")),
        ("double_space", format!("{q}  1 {nonce} {meta}")),
        (
            "newline_separator",
            format!("{q} 1 {nonce} {meta}\n{q} 2 {nonce} {meta}"),
        ),
    ] {
        f.invalid(&format!("pn/messages/invalid/{name}"), &c, text.as_bytes())?;
    }
    Ok(())
}
