//! `ntf.json`: NTF commands (`ntf.command`) and responses (`ntf.response`).

use serde_json::{json, Value};

use super::build::{cat, short, Case, Family, VectorOut};
use super::{errors, text};

/// The push providers' binary codes.
pub const PROVIDERS: [&str; 4] = ["AD", "AP", "AT", "AN"];
/// Key algorithms allowed for command authorization.
pub const AUTH_ALGS: [&str; 3] = ["ed25519", "ed448", "x25519"];

/// A device token with a realistic token for `provider` (64 lowercase hex chars; the null
/// provider's test token for `AN`).
pub fn device_token(f: &mut Family, provider: &str) -> Value {
    let token = if provider == "AN" {
        b"test_ntf_token".to_vec()
    } else {
        f.hex_text(64)
    };
    json!({"provider": provider, "token": crate::codecs::to_hex(&token)})
}

/// Generates `ntf.json`.
pub fn generate(seed: u64) -> anyhow::Result<Vec<VectorOut>> {
    let mut f = Family::new("ntf.json", seed);
    commands(&mut f)?;
    responses(&mut f)?;
    Ok(f.into_vectors())
}

fn commands(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("ntf.command");

    // TNEW: every provider with every verify key algorithm
    for p in PROVIDERS {
        for alg in AUTH_ALGS {
            let name = format!("ntf/command/TNEW/{p}/{alg}");
            let v = json!({"tag": "TNEW", "token": device_token(f, p), "verify_key": f.public_key(alg), "dh_key": f.public_key("x25519")});
            let bytes = f.valid(&name, &c, v)?;
            if p == "AP" {
                f.truncations(&name, &c, &bytes)?;
            }
            if p == "AP" && alg == "ed25519" {
                f.trailing(&name, &c, &bytes, b"\x00", "")?;
                f.trailing(&name, &c, &bytes, b" ", "space")?;
            }
        }
    }
    for (label, len) in [("empty", 0usize), ("len1", 1), ("len255", 255)] {
        let token = f.bytes(len);
        let v = json!({"tag": "TNEW", "token": {"provider": "AP", "token": crate::codecs::to_hex(&token)}, "verify_key": f.public_key("ed25519"), "dh_key": f.public_key("x25519")});
        f.valid(&format!("ntf/command/TNEW/token_{label}"), &c, v)?;
    }
    let tnew = c.encode(&json!({"tag": "TNEW", "token": device_token(f, "AP"), "verify_key": f.public_key("ed25519"), "dh_key": f.public_key("x25519")}))?;
    // offsets: "TNEW T" (6), provider (2), token length (1) + 64, then the keys
    let key_at = 6 + 2 + 1 + 64;
    let mut bad = tnew.clone();
    bad[5] = b'X';
    f.invalid("ntf/command/invalid/TNEW_bad_marker", &c, &bad)?;
    let mut bad = tnew.clone();
    bad[6..8].copy_from_slice(b"AX");
    f.invalid("ntf/command/invalid/TNEW_unknown_provider", &c, &bad)?;
    let mut bad = tnew.clone();
    bad[8] = 0xff;
    f.invalid("ntf/command/invalid/TNEW_token_length_overrun", &c, &bad)?;
    let mut bad = tnew.clone();
    bad[key_at] -= 1;
    f.invalid("ntf/command/invalid/TNEW_key_length_short", &c, &bad)?;
    let mut bad = tnew.clone();
    bad[key_at + 9] = 0x6f; // verify key OID 1.3.101.111 (X448) with a 32-byte key: not a key
    f.invalid("ntf/command/invalid/TNEW_key_oid_length_mismatch", &c, &bad)?;
    let x448 = x509_public(&f.bytes(56), 0x6f);
    let dh = x509_public(&f.array::<32>(), 0x6e);
    let token = cat(&[b"AP", &short(&f.hex_text(64))]);
    f.invalid(
        "ntf/command/invalid/TNEW_x448_verify_key",
        &c,
        &cat(&[b"TNEW T", &token, &short(&x448), &short(&dh)]),
    )?;
    let ed = x509_public(&f.array::<32>(), 0x70);
    f.invalid(
        "ntf/command/invalid/TNEW_ed25519_dh_key",
        &c,
        &cat(&[b"TNEW T", &token, &short(&ed), &short(&ed)]),
    )?;
    f.invalid("ntf/command/invalid/TNEW_no_fields", &c, b"TNEW")?;
    f.invalid("ntf/command/invalid/TNEW_space_only", &c, b"TNEW ")?;
    f.invalid(
        "ntf/command/invalid/TNEW_double_space",
        &c,
        &cat(&[b"TNEW ", &tnew[4..]]),
    )?;

    // TVFY
    for len in [0usize, 1, 32, 255] {
        let code = f.bytes(len);
        let name = format!("ntf/command/TVFY/len{len}");
        let bytes = f.valid(
            &name,
            &c,
            json!({"tag": "TVFY", "code": crate::codecs::to_hex(&code)}),
        )?;
        if len == 32 {
            f.truncations(&name, &c, &bytes)?;
            f.trailing(&name, &c, &bytes, b"\x00", "")?;
        }
    }
    let code = f.bytes(39);
    f.invalid(
        "ntf/command/invalid/TVFY_length_overrun",
        &c,
        &cat(&[b"TVFY ", &[40], &code]),
    )?;

    // TRPL
    for p in PROVIDERS {
        let name = format!("ntf/command/TRPL/{p}");
        let v = json!({"tag": "TRPL", "token": device_token(f, p)});
        let bytes = f.valid(&name, &c, v)?;
        if p == "AD" {
            f.truncations(&name, &c, &bytes)?;
            f.trailing(&name, &c, &bytes, b"x", "")?;
        }
    }
    f.invalid(
        "ntf/command/invalid/TRPL_text_form",
        &c,
        b"TRPL apns_prod 0123abcd",
    )?;

    // TCRN
    for n in [0u16, 1, 20, 1440, 65535] {
        let name = format!("ntf/command/TCRN/{n}");
        let bytes = f.valid(&name, &c, json!({"tag": "TCRN", "interval": n}))?;
        if n == 1440 {
            f.truncations(&name, &c, &bytes)?;
            f.trailing(&name, &c, &bytes, b"\x00", "")?;
        }
    }

    // SNEW: every notifier key algorithm, every kind of server address
    let servers = text::servers(f);
    for alg in AUTH_ALGS {
        let (sname, server) = &servers[0];
        let name = format!("ntf/command/SNEW/{alg}/{sname}");
        let v = snew(f, server, alg);
        let bytes = f.valid(&name, &c, v)?;
        f.truncations(&name, &c, &bytes)?;
        if alg == "ed25519" {
            f.trailing(&name, &c, &bytes, b"\x00", "")?;
        }
    }
    for (sname, server) in servers.iter().skip(1) {
        let v = snew(f, server, "ed25519");
        f.valid(&format!("ntf/command/SNEW/ed25519/{sname}"), &c, v)?;
    }
    for (sname, server) in text::preset_servers(f) {
        let v = snew(f, &server, "x25519");
        f.lossy(
            &format!("ntf/command/SNEW/x25519/{sname}/onion_added"),
            &c,
            &v,
        )?;
    }
    let (_, server) = &servers[0];
    let snew_bytes = c.encode(&snew(f, server, "ed25519"))?;
    // "SNEW S" (6), token id (1 + 24), then the server: host count
    let hosts_at = 6 + 1 + 24;
    let mut bad = snew_bytes.clone();
    bad[hosts_at] = 0;
    f.invalid("ntf/command/invalid/SNEW_no_hosts", &c, &bad)?;
    let mut bad = snew_bytes.clone();
    bad[hosts_at] = 2;
    f.invalid("ntf/command/invalid/SNEW_host_count_over", &c, &bad)?;
    let mut bad = snew_bytes.clone();
    bad[5] = b'T';
    f.invalid("ntf/command/invalid/SNEW_bad_marker", &c, &bad)?;
    let token_id = short(&f.bytes(24));
    let kh = short(&f.bytes(32));
    let nid = short(&f.bytes(24));
    let ed_priv = x509_private(&f.bytes(32), 0x70);
    let server_with = |host: &[u8]| cat(&[&[1u8], &short(host), &short(b"5223"), &kh]);
    f.invalid(
        "ntf/command/invalid/SNEW_empty_host",
        &c,
        &cat(&[
            b"SNEW S",
            &token_id,
            &server_with(b""),
            &nid,
            &short(&ed_priv),
        ]),
    )?;
    f.invalid(
        "ntf/command/invalid/SNEW_host_with_comma",
        &c,
        &cat(&[
            b"SNEW S",
            &token_id,
            &server_with(b"a.com,b.com"),
            &nid,
            &short(&ed_priv),
        ]),
    )?;
    f.invalid(
        "ntf/command/invalid/SNEW_ipv4_host_trailing_letter",
        &c,
        &cat(&[
            b"SNEW S",
            &token_id,
            &server_with(b"1.2.3.4x"),
            &nid,
            &short(&ed_priv),
        ]),
    )?;
    let x448_priv = x509_private(&f.bytes(56), 0x6f);
    f.invalid(
        "ntf/command/invalid/SNEW_x448_notifier_key",
        &c,
        &cat(&[
            b"SNEW S",
            &token_id,
            &server_with(b"smp.example.com"),
            &nid,
            &short(&x448_priv),
        ]),
    )?;
    let ed_pub = x509_public(&f.array::<32>(), 0x70);
    f.invalid(
        "ntf/command/invalid/SNEW_public_key_as_private",
        &c,
        &cat(&[
            b"SNEW S",
            &token_id,
            &server_with(b"smp.example.com"),
            &nid,
            &short(&ed_pub),
        ]),
    )?;

    // commands without fields
    for tag in ["TCHK", "TDEL", "SCHK", "SDEL", "PING"] {
        let name = format!("ntf/command/{tag}");
        let bytes = f.valid(&name, &c, json!({"tag": tag}))?;
        f.trailing(&name, &c, &bytes, b" ", "space")?;
        f.trailing(&name, &c, &bytes, b" \x00", "space_byte")?;
        f.invalid(
            &format!("ntf/command/invalid/{tag}_lowercase"),
            &c,
            tag.to_lowercase().as_bytes(),
        )?;
    }
    for (name, bytes) in [
        ("empty", &b""[..]),
        ("space", b" "),
        ("unknown_tag", b"TNEX"),
        ("smp_tag", b"NSUB"),
        ("tag_with_suffix", b"PINGPING"),
        ("response_tag", b"PONG"),
    ] {
        f.invalid(&format!("ntf/command/invalid/{name}"), &c, bytes)?;
    }
    Ok(())
}

fn snew(f: &mut Family, server: &Value, alg: &str) -> Value {
    let token_id = f.bytes(24);
    let nid = f.bytes(24);
    json!({
        "tag": "SNEW",
        "token_id": crate::codecs::to_hex(&token_id),
        "queue": {"server": server, "notifier_id": crate::codecs::to_hex(&nid)},
        "notifier_key": f.private_key(alg),
    })
}

/// X.509 SubjectPublicKeyInfo DER of a raw key with OID 1.3.101.`oid`.
pub fn x509_public(raw: &[u8], oid: u8) -> Vec<u8> {
    let n = raw.len() as u8;
    cat(&[
        &[
            0x30,
            n + 10,
            0x30,
            0x05,
            0x06,
            0x03,
            0x2b,
            0x65,
            oid,
            0x03,
            n + 1,
            0x00,
        ],
        raw,
    ])
}

/// PKCS#8 DER of a raw private key with OID 1.3.101.`oid`.
pub fn x509_private(raw: &[u8], oid: u8) -> Vec<u8> {
    let n = raw.len() as u8;
    cat(&[
        &[
            0x30,
            n + 14,
            0x02,
            0x01,
            0x00,
            0x30,
            0x05,
            0x06,
            0x03,
            0x2b,
            0x65,
            oid,
            0x04,
            n + 2,
            0x04,
            n,
        ],
        raw,
    ])
}

fn responses(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("ntf.response");

    for len in [0usize, 24, 255] {
        let id = f.bytes(len);
        let name = format!("ntf/response/IDTKN/len{len}");
        let v = json!({"tag": "IDTKN", "id": crate::codecs::to_hex(&id), "dh_key": f.public_key("x25519")});
        let bytes = f.valid(&name, &c, v)?;
        if len == 24 {
            f.truncations(&name, &c, &bytes)?;
            f.trailing(&name, &c, &bytes, b"\x00", "")?;
        }
    }
    let ed = x509_public(&f.array::<32>(), 0x70);
    let id = f.bytes(24);
    f.invalid(
        "ntf/response/invalid/IDTKN_ed25519_dh_key",
        &c,
        &cat(&[b"IDTKN ", &short(&id), &short(&ed)]),
    )?;
    for len in [0usize, 24, 255] {
        let id = f.bytes(len);
        let name = format!("ntf/response/IDSUB/len{len}");
        let bytes = f.valid(
            &name,
            &c,
            json!({"tag": "IDSUB", "id": crate::codecs::to_hex(&id)}),
        )?;
        if len == 24 {
            f.truncations(&name, &c, &bytes)?;
            f.trailing(&name, &c, &bytes, b"\x00", "")?;
        }
    }
    for tag in ["OK", "PONG"] {
        let name = format!("ntf/response/{tag}");
        let bytes = f.valid(&name, &c, json!({"tag": tag}))?;
        f.trailing(&name, &c, &bytes, b" ", "space")?;
    }

    // ERR: the whole error catalog
    for (name, tokens) in errors::catalog() {
        let n = format!("ntf/response/ERR/{name}");
        let bytes = f.valid(&n, &c, json!({"tag": "ERR", "error": tokens}))?;
        if name == "PROXY_BROKER_TRANSPORT_HANDSHAKE_IDENTITY"
            || name == "BLOCKED_content_notice_ttl"
        {
            f.truncations(&n, &c, &bytes)?;
        }
        if !name.starts_with("STORE") && !name.contains("PROTOCOL_STORE") {
            f.trailing(&n, &c, &bytes, b" ", "")?;
        }
    }
    for (name, wire) in errors::inputs() {
        f.input(
            &format!("ntf/response/ERR/input/{name}"),
            &c,
            &cat(&[b"ERR ", &wire]),
        )?;
    }
    for (name, wire) in errors::invalid() {
        f.invalid(
            &format!("ntf/response/invalid/ERR_{name}"),
            &c,
            &cat(&[b"ERR ", &wire]),
        )?;
    }
    f.invalid("ntf/response/invalid/ERR_no_space", &c, b"ERR")?;

    // TKN: every status at every NTF version (INVALID's reason only from v3)
    let statuses = [
        "NEW",
        "REGISTERED",
        "INVALID",
        "INVALID,BAD",
        "INVALID,TOPIC",
        "INVALID,EXPIRED",
        "INVALID,UNREGISTERED",
        "CONFIRMED",
        "ACTIVE",
        "EXPIRED",
    ];
    for s in statuses {
        let name = format!("ntf/response/TKN/{}", s.replace(',', "_"));
        f.versions(&name, &c, 1..=3, &json!({"tag": "TKN", "status": s}))?;
        if s == "INVALID,UNREGISTERED" {
            let bytes = c.encode(&json!({"tag": "TKN", "status": s}))?;
            f.truncations(&format!("{name}/v3"), &c.at(3), &bytes)?;
        }
    }
    for (name, bytes) in [
        ("TKN_unknown_status", &b"TKN FOO"[..]),
        ("TKN_lowercase_status", b"TKN active"),
        ("TKN_missing_status", b"TKN"),
        ("TKN_empty_status", b"TKN "),
        ("TKN_INVALID_unknown_reason", b"TKN INVALID,FOO"),
        ("TKN_INVALID_empty_reason", b"TKN INVALID,"),
        ("TKN_INVALID_space_reason", b"TKN INVALID BAD"),
        ("TKN_reason_on_ACTIVE", b"TKN ACTIVE,BAD"),
        ("TKN_trailing_space", b"TKN ACTIVE "),
    ] {
        f.invalid(&format!("ntf/response/invalid/{name}"), &c, bytes)?;
    }

    // SUB
    for s in [
        "NEW", "PENDING", "ACTIVE", "INACTIVE", "END", "DELETED", "AUTH", "SERVICE",
    ] {
        let name = format!("ntf/response/SUB/{s}");
        let bytes = f.valid(&name, &c, json!({"tag": "SUB", "status": s}))?;
        f.trailing(&name, &c, &bytes, b" ", "")?;
    }
    for (label, s) in [
        ("ERR_text", "ERR AUTH"),
        ("ERR_empty", "ERR "),
        ("ERR_spaces", "ERR a b  c "),
    ] {
        f.valid(
            &format!("ntf/response/SUB/{label}"),
            &c,
            json!({"tag": "SUB", "status": s}),
        )?;
    }
    let bytes = c.encode(&json!({"tag": "SUB", "status": "INACTIVE"}))?;
    f.truncations("ntf/response/SUB/INACTIVE", &c, &bytes)?;
    for (name, bytes) in [
        ("SUB_unknown_status", &b"SUB FOO"[..]),
        ("SUB_ERR_without_space", b"SUB ERR"),
        ("SUB_missing_status", b"SUB"),
        ("SUB_token_status", b"SUB REGISTERED"),
    ] {
        f.invalid(&format!("ntf/response/invalid/{name}"), &c, bytes)?;
    }

    for (name, bytes) in [
        ("empty", &b""[..]),
        ("unknown_tag", b"FOO"),
        ("lowercase_tag", b"ok"),
        ("command_tag", b"PING"),
        ("tag_with_suffix", b"OKAY"),
        ("smp_tag", b"NID"),
    ] {
        f.invalid(&format!("ntf/response/invalid/{name}"), &c, bytes)?;
    }
    Ok(())
}
