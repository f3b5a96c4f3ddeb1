//! `transport.json`: transmissions, blocks, and the NTF and SMP handshakes.

use serde_json::{json, Value};
use smp_proto::crypto;

use super::build::{cat, short, Case, Family, VectorOut};
use super::certs::Chain;
use super::ntf::{device_token, x509_public};
use crate::codecs::to_hex;

/// Generates `transport.json`.
pub fn generate(seed: u64) -> anyhow::Result<Vec<VectorOut>> {
    let mut f = Family::new("transport.json", seed);
    let ts = transmissions(&mut f)?;
    blocks(&mut f, &ts)?;
    let chain = Chain::new(&mut f)?;
    ntf_hellos(&mut f, &chain)?;
    smp_hellos(&mut f, &chain)?;
    handshake_responses(&mut f)?;
    Ok(f.into_vectors())
}

/// `smp.handshake_response` (`SMPServerHandshakeResponse`, `Transport.hs`): the relay's answer
/// to a service client, `'R' serviceId` or `'E' TransportError`.
fn handshake_responses(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("smp.handshake_response");
    let id = f.bytes(24);
    let bytes = f.valid(
        "smp/handshake_response/service_id",
        &c,
        json!({"service_id": to_hex(&id)}),
    )?;
    f.truncations("smp/handshake_response/service_id", &c, &bytes)?;
    f.trailing("smp/handshake_response/service_id", &c, &bytes, b"ext", "")?;
    f.valid(
        "smp/handshake_response/service_id_empty",
        &c,
        json!({"service_id": ""}),
    )?;
    for (label, e) in [
        ("BAD_AUTH", "HANDSHAKE BAD_AUTH"),
        ("BAD_SERVICE", "HANDSHAKE BAD_SERVICE"),
        ("IDENTITY", "HANDSHAKE IDENTITY"),
        ("VERSION", "VERSION"),
    ] {
        f.valid(
            &format!("smp/handshake_response/E_{label}"),
            &c,
            json!({"error": e}),
        )?;
    }
    f.invalid("smp/handshake_response/invalid/empty", &c, b"")?;
    f.invalid("smp/handshake_response/invalid/tag_S", &c, b"S\x02ab")?;
    f.invalid(
        "smp/handshake_response/invalid/tag_r_lowercase",
        &c,
        b"r\x02ab",
    )?;
    f.invalid("smp/handshake_response/invalid/E_unknown", &c, b"EFOO")?;
    f.invalid(
        "smp/handshake_response/invalid/E_handshake_unknown",
        &c,
        b"EHANDSHAKE NOPE",
    )?;
    Ok(())
}

/// How a generated transmission is authorized.
#[derive(Clone, Copy)]
enum Auth {
    /// No authorization.
    None,
    /// An Ed25519 signature (64 bytes).
    Ed25519,
    /// An X25519 crypto_box authenticator (80 bytes).
    X25519,
    /// An Ed448 signature (114 bytes; random, as there is no Ed448 signer here).
    Ed448,
}

impl Auth {
    fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Ed25519 => "ed25519",
            Self::X25519 => "x25519",
            Self::Ed448 => "ed448",
        }
    }
}

/// The authorization of `authorized` (short(session id) and the rest, as the reference signs).
fn authorize(f: &mut Family, auth: Auth, corr_id: &[u8], authorized: &[u8]) -> Vec<u8> {
    match auth {
        Auth::None => Vec::new(),
        Auth::Ed25519 => crypto::sign_ed25519(&f.ed25519().0, authorized).to_vec(),
        Auth::X25519 => {
            let (client_private, _) = f.x25519();
            let (_, server_public) = f.x25519();
            crypto::cb_authenticate(
                &server_public,
                &client_private,
                &crypto::cb_nonce(corr_id),
                authorized,
            )
            .to_vec()
        }
        Auth::Ed448 => f.bytes(114),
    }
}

/// Builds, records and returns transmissions; returns the wire bytes of the implied-session ones
/// (for the block vectors).
fn transmissions(f: &mut Family) -> anyhow::Result<Vec<Vec<u8>>> {
    let sid = f.bytes(32);
    let ntf_cmd = Case::new("ntf.command");
    let mut commands: Vec<(&str, Auth, Vec<u8>, bool)> = Vec::new();
    let tnew = json!({"tag": "TNEW", "token": device_token(f, "AP"), "verify_key": f.public_key("ed25519"), "dh_key": f.public_key("x25519")});
    commands.push(("TNEW", Auth::Ed25519, ntf_cmd.encode(&tnew)?, false));
    commands.push(("TCHK", Auth::X25519, b"TCHK".to_vec(), true));
    commands.push(("TCRN", Auth::Ed448, b"TCRN \x00\x14".to_vec(), true));
    commands.push(("PING", Auth::None, b"PING".to_vec(), false));
    commands.push(("NSUB", Auth::Ed25519, b"NSUB".to_vec(), true));
    let mut implied_wire = Vec::new();
    for implied in [false, true] {
        let c = Case::new("transmission")
            .with_params(json!({"session_id": to_hex(&sid), "implied_session_id": implied}));
        let mode = if implied { "implied" } else { "explicit" };
        for (tag, auth, command, has_entity) in &commands {
            let corr_id = f.bytes(24);
            let entity_id = if *has_entity { f.bytes(24) } else { Vec::new() };
            let authorized = cat(&[&short(&sid), &short(&corr_id), &short(&entity_id), command]);
            let auth_bytes = authorize(f, *auth, &corr_id, &authorized);
            let value = json!({"auth": to_hex(&auth_bytes), "corr_id": to_hex(&corr_id), "entity_id": to_hex(&entity_id), "command": to_hex(command)});
            let name = format!("transmission/{tag}/{}/{mode}", auth.name());
            let bytes = f.valid(&name, &c, value)?;
            if *tag == "TCHK" || *tag == "PING" {
                f.truncations(&name, &c, &bytes)?;
            }
            if implied {
                implied_wire.push(bytes);
            }
        }
        let empty = json!({"auth": "", "corr_id": "", "entity_id": "", "command": ""});
        f.valid(&format!("transmission/empty_fields/{mode}"), &c, empty)?;
        let long = json!({"auth": "", "corr_id": to_hex(&f.bytes(255)), "entity_id": to_hex(&f.bytes(255)), "command": to_hex(&f.bytes(300))});
        f.valid(&format!("transmission/long_fields/{mode}"), &c, long)?;
        for len in [1usize, 32, 63, 65, 79, 81, 113, 115, 255] {
            let bad = cat(&[
                &short(&f.bytes(len)),
                &if implied { Vec::new() } else { short(&sid) },
                &short(b"c"),
                &short(b""),
                b"PING",
            ]);
            f.invalid(
                &format!("transmission/invalid/auth_len{len}/{mode}"),
                &c,
                &bad,
            )?;
        }
        f.invalid(&format!("transmission/invalid/empty/{mode}"), &c, b"")?;
    }
    let explicit = Case::new("transmission")
        .with_params(json!({"session_id": to_hex(&sid), "implied_session_id": false}));
    let other_sid = f.bytes(32);
    f.invalid(
        "transmission/invalid/foreign_session_id",
        &explicit,
        &cat(&[&[0], &short(&other_sid), &short(b"c"), &short(b""), b"PING"]),
    )?;
    f.invalid(
        "transmission/invalid/empty_session_id",
        &explicit,
        &cat(&[&[0], &short(b""), &short(b"c"), &short(b""), b"PING"]),
    )?;
    f.invalid(
        "transmission/invalid/session_id_length_overrun",
        &explicit,
        &cat(&[&[0], &[40], &sid]),
    )?;
    Ok(implied_wire)
}

fn blocks(f: &mut Family, ts: &[Vec<u8>]) -> anyhow::Result<()> {
    let ntf =
        |batch: bool| Case::new("block").with_params(json!({"block_size": 512, "batch": batch}));
    let smp =
        |batch: bool| Case::new("block").with_params(json!({"block_size": 16384, "batch": batch}));
    let hexes =
        |ts: &[Vec<u8>]| Value::Array(ts.iter().map(|t| Value::String(to_hex(t))).collect());
    let small: Vec<Vec<u8>> = ts.iter().filter(|t| t.len() < 200).cloned().collect();

    let b1 = f.valid(
        "block/ntf512/batch1",
        &ntf(true),
        json!({"transmissions": hexes(&small[..1])}),
    )?;
    f.truncations("block/ntf512/batch1", &ntf(true), &b1)?;
    f.valid(
        "block/ntf512/batch2",
        &ntf(true),
        json!({"transmissions": hexes(&small[..2])}),
    )?;
    f.valid(
        "block/ntf512/batch3",
        &ntf(true),
        json!({"transmissions": hexes(&small[..3])}),
    )?;
    f.valid(
        "block/ntf512/batch_empty_transmission",
        &ntf(true),
        json!({"transmissions": [""]}),
    )?;
    f.valid(
        "block/ntf512/unbatched",
        &ntf(false),
        json!({"transmissions": hexes(&ts[..1])}),
    )?;
    let fill = f.bytes(510);
    f.valid(
        "block/ntf512/unbatched_fills_block",
        &ntf(false),
        json!({"transmissions": [to_hex(&fill)]}),
    )?;
    let fill = f.bytes(507);
    f.valid(
        "block/ntf512/batch_fills_block",
        &ntf(true),
        json!({"transmissions": [to_hex(&fill)]}),
    )?;
    f.valid(
        "block/smp16384/batch1",
        &smp(true),
        json!({"transmissions": hexes(&ts[4..5])}),
    )?;
    f.valid(
        "block/smp16384/unbatched",
        &smp(false),
        json!({"transmissions": hexes(&ts[4..5])}),
    )?;

    let t = &small[0];
    let tlen = u16::try_from(t.len())?;
    let content = cat(&[&[1], &tlen.to_be_bytes(), t]);
    let block = |content: &[u8], fill: u8| -> anyhow::Result<Vec<u8>> {
        let len = u16::try_from(content.len())?;
        let mut b = cat(&[&len.to_be_bytes(), content]);
        b.resize(512, fill);
        Ok(b)
    };
    f.input(
        "block/ntf512/input/zero_padding",
        &ntf(true),
        &block(&content, 0)?,
    )?;
    let padding = f.bytes(510 - content.len());
    f.input(
        "block/ntf512/input/random_padding",
        &ntf(true),
        &cat(&[&block(&content, 0)?[..content.len() + 2], &padding]),
    )?;
    let good = block(&content, b'#')?;
    f.invalid(
        "block/ntf512/invalid/short_by_one",
        &ntf(true),
        &good[..511],
    )?;
    f.invalid(
        "block/ntf512/invalid/long_by_one",
        &ntf(true),
        &cat(&[&good, b"#"]),
    )?;
    f.invalid("block/ntf512/invalid/smp_size", &smp(true), &good)?;
    let mut bad = good.clone();
    bad[0..2].copy_from_slice(&511u16.to_be_bytes());
    f.invalid(
        "block/ntf512/invalid/content_length_over_block",
        &ntf(true),
        &bad,
    )?;
    let mut bad = good.clone();
    bad[0..2].copy_from_slice(&0xffffu16.to_be_bytes());
    f.invalid(
        "block/ntf512/invalid/content_length_ffff",
        &ntf(false),
        &bad,
    )?;
    f.invalid(
        "block/ntf512/invalid/batch_count_zero",
        &ntf(true),
        &block(&[0], b'#')?,
    )?;
    f.invalid(
        "block/ntf512/invalid/batch_empty_content",
        &ntf(true),
        &block(&[], b'#')?,
    )?;
    f.invalid(
        "block/ntf512/invalid/batch_count_over",
        &ntf(true),
        &block(&cat(&[&[2], &content[1..]]), b'#')?,
    )?;
    f.invalid(
        "block/ntf512/invalid/batch_item_length_overrun",
        &ntf(true),
        &block(&cat(&[&[1], &(tlen + 1).to_be_bytes(), t]), b'#')?,
    )?;
    f.invalid(
        "block/ntf512/invalid/batch_trailing_bytes",
        &ntf(true),
        &block(&cat(&[&content, b"x"]), b'#')?,
    )?;
    f.invalid("block/ntf512/invalid/empty", &ntf(false), b"")?;
    Ok(())
}

fn ntf_hellos(f: &mut Family, chain: &Chain) -> anyhow::Result<()> {
    let c = Case::new("ntf.server_hello");
    let sid = f.bytes(32);
    let key = chain.signed_key(f.x25519().1);
    let hello = |min: u16, max: u16, sid: &[u8], key: Option<&[u8]>| json!({"version_range": [min, max], "session_id": to_hex(sid), "signed_key": key.map(to_hex)});
    f.valid("ntf/server_hello/v1_1", &c, hello(1, 1, &sid, None))?;
    for (min, max) in [(1u16, 2u16), (1, 3), (2, 2), (2, 3), (3, 3)] {
        let name = format!("ntf/server_hello/v{min}_{max}");
        let bytes = f.valid(&name, &c, hello(min, max, &sid, Some(&key)))?;
        if (min, max) == (1, 3) {
            f.truncations(&name, &c, &bytes)?;
            f.trailing(&name, &c, &bytes, b"\x00\x01ext", "")?;
        }
    }
    f.valid(
        "ntf/server_hello/v1_3/empty_session_id",
        &c,
        hello(1, 3, b"", Some(&key)),
    )?;
    f.lossy(
        "ntf/server_hello/v1_1/key_not_sent",
        &c,
        &hello(1, 1, &sid, Some(&key)),
    )?;
    let v11 = c.encode(&hello(1, 1, &sid, None))?;
    f.input(
        "ntf/server_hello/v1_1/key_ignored",
        &c,
        &cat(&[&v11, &(key.len() as u16).to_be_bytes(), &key]),
    )?;
    let head = |min: u16, max: u16| cat(&[&min.to_be_bytes(), &max.to_be_bytes(), &short(&sid)]);
    f.invalid(
        "ntf/server_hello/invalid/range_reversed",
        &c,
        &cat(&[&head(3, 1), &(key.len() as u16).to_be_bytes(), &key]),
    )?;
    f.invalid("ntf/server_hello/invalid/v1_3_missing_key", &c, &head(1, 3))?;
    f.invalid(
        "ntf/server_hello/invalid/not_a_signed_key",
        &c,
        &cat(&[&head(1, 3), &[0, 5], b"hello"]),
    )?;
    let unsigned = x509_public(&f.array::<32>(), 0x6e);
    f.invalid(
        "ntf/server_hello/invalid/unsigned_key",
        &c,
        &cat(&[
            &head(1, 3),
            &(unsigned.len() as u16).to_be_bytes(),
            &unsigned,
        ]),
    )?;
    f.invalid(
        "ntf/server_hello/invalid/key_length_overrun",
        &c,
        &cat(&[&head(1, 3), &(key.len() as u16 + 1).to_be_bytes(), &key]),
    )?;
    f.invalid("ntf/server_hello/invalid/empty", &c, b"")?;

    let c = Case::new("ntf.client_hello");
    for v in 1..=3u16 {
        let kh = f.bytes(32);
        let name = format!("ntf/client_hello/v{v}");
        let bytes = f.valid(&name, &c, json!({"version": v, "key_hash": to_hex(&kh)}))?;
        if v == 3 {
            f.truncations(&name, &c, &bytes)?;
            f.trailing(&name, &c, &bytes, &[0, 1], "")?;
        }
    }
    f.valid(
        "ntf/client_hello/v3/empty_key_hash",
        &c,
        json!({"version": 3, "key_hash": ""}),
    )?;
    let kh = f.bytes(32);
    f.invalid(
        "ntf/client_hello/invalid/key_hash_length_overrun",
        &c,
        &cat(&[&[0, 3, 33], &kh]),
    )?;
    Ok(())
}

fn smp_hellos(f: &mut Family, chain: &Chain) -> anyhow::Result<()> {
    let c = Case::new("smp.server_hello");
    let sid = f.bytes(32);
    let key = chain.signed_key(f.x25519().1);
    let hello = |min: u16, max: u16, certs: Option<&[&[u8]]>| match certs {
        None => {
            json!({"version_range": [min, max], "session_id": to_hex(&sid), "cert_chain": null, "signed_key": null})
        }
        Some(cs) => {
            json!({"version_range": [min, max], "session_id": to_hex(&sid), "cert_chain": cs.iter().map(|c| to_hex(c)).collect::<Vec<_>>(), "signed_key": to_hex(&key)})
        }
    };
    let chain1: [&[u8]; 1] = [&chain.leaf];
    let chain2: [&[u8]; 2] = [&chain.leaf, &chain.ca];
    let chain3: [&[u8]; 3] = [&chain.leaf, &chain.identity, &chain.ca];
    f.valid("smp/server_hello/v6_6", &c, hello(6, 6, None))?;
    f.valid("smp/server_hello/v6_18/no_key", &c, hello(6, 18, None))?;
    f.valid(
        "smp/server_hello/v6_18/chain1",
        &c,
        hello(6, 18, Some(&chain1)),
    )?;
    let bytes = f.valid(
        "smp/server_hello/v6_18/chain2",
        &c,
        hello(6, 18, Some(&chain2)),
    )?;
    f.truncations("smp/server_hello/v6_18/chain2", &c, &bytes)?;
    f.trailing("smp/server_hello/v6_18/chain2", &c, &bytes, b"ext", "")?;
    f.valid(
        "smp/server_hello/v6_18/chain3",
        &c,
        hello(6, 18, Some(&chain3)),
    )?;
    f.valid(
        "smp/server_hello/v7_7/chain2",
        &c,
        hello(7, 7, Some(&chain2)),
    )?;
    f.valid(
        "smp/server_hello/v18_18/chain2",
        &c,
        hello(18, 18, Some(&chain2)),
    )?;
    f.lossy(
        "smp/server_hello/v6_6/key_not_sent",
        &c,
        &hello(6, 6, Some(&chain2)),
    )?;
    let head = |min: u16, max: u16| cat(&[&min.to_be_bytes(), &max.to_be_bytes(), &short(&sid)]);
    let large = |b: &[u8]| cat(&[&(b.len() as u16).to_be_bytes(), b]);
    f.input(
        "smp/server_hello/v6_18/bad_chain_ignored",
        &c,
        &cat(&[
            &head(6, 18),
            &[1],
            &large(b"not a certificate"),
            &large(&key),
        ]),
    )?;
    f.input(
        "smp/server_hello/v6_18/empty_chain_ignored",
        &c,
        &cat(&[&head(6, 18), &[0], &large(&key)]),
    )?;
    f.invalid("smp/server_hello/invalid/range_reversed", &c, &head(18, 6))?;
    f.invalid(
        "smp/server_hello/invalid/session_id_length_overrun",
        &c,
        &cat(&[&[0, 6, 0, 18, 33], &sid]),
    )?;
    f.invalid("smp/server_hello/invalid/empty", &c, b"")?;
    f.invalid("smp/server_hello/invalid/range_only", &c, &[0, 6, 0, 18])?;

    let c = Case::new("smp.client_hello");
    let kh = to_hex(&f.bytes(32));
    let service = |role: &str| json!({"role": role, "cert_chain": [to_hex(&chain.leaf), to_hex(&chain.ca)], "signed_key": to_hex(&key)});
    for v in 6..=18u16 {
        let auth_key = f.public_key("x25519");
        let name = format!("smp/client_hello/v{v}");
        let value =
            json!({"version": v, "key_hash": kh, "auth_key": auth_key, "proxy_server": false});
        if v < 7 {
            f.lossy(&format!("{name}/key_not_sent"), &c, &value)?;
            let no_key =
                json!({"version": v, "key_hash": kh, "auth_key": null, "proxy_server": false});
            let bytes = f.valid(&name, &c, no_key)?;
            f.trailing(&name, &c, &bytes, b"ext", "")?;
        } else {
            let bytes = f.valid(&name, &c, value)?;
            if v == 14 || v == 18 {
                f.truncations(&name, &c, &bytes)?;
            }
            f.trailing(&name, &c, &bytes, b"ext", "")?;
        }
        if v >= 7 && [7, 10, 14, 16, 18].contains(&v) {
            let value =
                json!({"version": v, "key_hash": kh, "auth_key": null, "proxy_server": false});
            f.valid(&format!("{name}/no_key"), &c, value)?;
        }
        let proxy = json!({"version": v, "key_hash": kh, "auth_key": f.public_key("x25519"), "proxy_server": true});
        if v >= 14 {
            f.valid(&format!("{name}/proxy"), &c, proxy)?;
        } else if v == 6 || v == 13 {
            f.lossy(&format!("{name}/proxy_not_sent"), &c, &proxy)?;
        }
        if v >= 16 {
            for role in ["M", "N", "P"] {
                let value = json!({"version": v, "key_hash": kh, "auth_key": f.public_key("x25519"), "proxy_server": false, "client_service": service(role)});
                let n = format!("{name}/service_{role}");
                let bytes = f.valid(&n, &c, value)?;
                if v == 18 && role == "N" {
                    f.truncations(&n, &c, &bytes)?;
                }
            }
        } else if v == 15 {
            let value = json!({"version": v, "key_hash": kh, "auth_key": null, "proxy_server": false, "client_service": service("N")});
            f.lossy(&format!("{name}/service_not_sent"), &c, &value)?;
        }
    }
    let x = x509_public(&f.array::<32>(), 0x6e);
    let ed = x509_public(&f.array::<32>(), 0x70);
    let base = |v: u16| {
        cat(&[
            &v.to_be_bytes(),
            &short(&crate::codecs::from_hex(&kh).unwrap_or_default()),
        ])
    };
    let svc = cat(&[&[2], &large(&chain.leaf), &large(&chain.ca), &large(&key)]);
    f.input(
        "smp/client_hello/v10/ed25519_key_ignored",
        &c,
        &cat(&[&base(10), &short(&ed)]),
    )?;
    for (name, bytes) in [
        ("v14_missing_proxy_flag", cat(&[&base(14), &short(&x)])),
        ("v14_bad_proxy_flag", cat(&[&base(14), &short(&x), b"X"])),
        (
            "v14_lowercase_proxy_flag",
            cat(&[&base(14), &short(&x), b"t"]),
        ),
        ("v16_missing_service", cat(&[&base(16), &short(&x), b"F"])),
        ("v16_bad_maybe_tag", cat(&[&base(16), &short(&x), b"F2"])),
        (
            "v16_service_tag_without_service",
            cat(&[&base(16), &short(&x), b"F1"]),
        ),
        ("v16_bad_role", cat(&[&base(16), &short(&x), b"F1Q", &svc])),
        (
            "v16_empty_cert_chain",
            cat(&[&base(16), &short(&x), b"F1N", &[0], &large(&key)]),
        ),
        (
            "v16_bad_certificate",
            cat(&[
                &base(16),
                &short(&x),
                b"F1N",
                &[1],
                &large(b"not a certificate"),
                &large(&key),
            ]),
        ),
        (
            "v16_bad_signed_key",
            cat(&[
                &base(16),
                &short(&x),
                b"F1N",
                &[1],
                &large(&chain.leaf),
                &large(b"not a key"),
            ]),
        ),
        (
            "v14_ed25519_key_then_flag",
            cat(&[&base(14), &short(&ed), b"F"]),
        ),
        (
            "key_hash_length_overrun",
            cat(&[&[0, 18, 40], &f.bytes(32)]),
        ),
        ("empty", Vec::new()),
    ] {
        f.invalid(&format!("smp/client_hello/invalid/{name}"), &c, &bytes)?;
    }
    Ok(())
}
