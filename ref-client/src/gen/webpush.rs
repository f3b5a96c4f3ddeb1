//! `webpush.json`: Web Push device tokens as the reference's unreleased `dev-wp` branch
//! (commit `ea9adf1ac`) encodes them (`Notifications/Protocol.hs`: `WPProvider`, `WPSrvLoc`,
//! `WPTokenParams`, `WPKey`): in `TNEW` and `TRPL` (`ntf.command`) and in text
//! (`device_token.str`). A file of its own, so the other files' random streams are unchanged.

use serde_json::{json, Value};

use super::build::{cat, short, Case, Family, VectorOut};
use crate::codecs::to_hex;

/// `ua_public` of RFC 8291 section 5 (a real P-256 point).
const RFC8291_P256DH: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
/// The p256dh of the branch's `testWPDeviceTokenStrEncoding`.
const BRANCH_P256DH: &str = "BKuw4WxupnnrZHqk6vCwoms4tOpitZMvFdR9eAn54yOPY4q9jpXOpl-Ui_FwbIy8ZbFCnuaS7RnO02ahuL4XxIM";
/// The branch test's whole token text (base64url without padding: an input form).
const BRANCH_TOKEN: &str = "webpush https://localhost/secret AQ3VfRX3_F38J3ltcmMVRg BKuw4WxupnnrZHqk6vCwoms4tOpitZMvFdR9eAn54yOPY4q9jpXOpl-Ui_FwbIy8ZbFCnuaS7RnO02ahuL4XxIM";

fn unb64(s: &str) -> Vec<u8> {
    smp_proto::text::base64url_decode(s.as_bytes()).expect("a fixed base64url constant")
}

fn b64(b: &[u8]) -> String {
    smp_proto::text::base64url_encode(b)
}

/// A Web Push token value with `auth` and a path of `path_len` random base64url characters
/// under `prefix`.
fn token(f: &mut Family, host: &str, port: &str, prefix: &str, path_len: usize, p256dh: &[u8]) -> Value {
    let auth = f.bytes(16);
    let mut path = String::from(prefix);
    let rnd = f.bytes(path_len);
    path.push_str(&b64(&rnd).replace('=', "")[..path_len.min(b64(&rnd).len())]);
    json!({"provider": "WP", "host": host, "port": port, "path": path, "auth": to_hex(&auth), "p256dh": to_hex(p256dh)})
}

/// Generates `webpush.json`.
pub fn generate(seed: u64) -> anyhow::Result<Vec<VectorOut>> {
    let mut f = Family::new("webpush.json", seed);
    commands(&mut f)?;
    texts(&mut f)?;
    Ok(f.into_vectors())
}

fn commands(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("ntf.command");
    let rfc_key = unb64(RFC8291_P256DH);
    let fcm = token(f, "fcm.googleapis.com", "", "/wp/", 40, &rfc_key);
    let v = json!({"tag": "TNEW", "token": fcm, "verify_key": f.public_key("ed25519"), "dh_key": f.public_key("x25519")});
    let tnew = f.valid("webpush/command/TNEW/WP/fcm", &c, v)?;
    f.truncations("webpush/command/TNEW/WP/fcm", &c, &tnew)?;
    f.trailing("webpush/command/TNEW/WP/fcm", &c, &tnew, b"\x00", "")?;
    let port = token(f, "push.example.org", "8443", "/push/v1/", 20, &unb64(BRANCH_P256DH));
    let v = json!({"tag": "TNEW", "token": port, "verify_key": f.public_key("ed448"), "dh_key": f.public_key("x25519")});
    f.valid("webpush/command/TNEW/WP/port", &c, v)?;
    // the branch's decoder takes any host, port and path bytes, and the point at infinity
    let odd = token(f, "h", "x", "", 0, &[0]);
    let v = json!({"tag": "TNEW", "token": odd, "verify_key": f.public_key("x25519"), "dh_key": f.public_key("x25519")});
    f.valid("webpush/command/TNEW/WP/unchecked_fields", &c, v)?;
    let mozilla = token(f, "updates.push.services.mozilla.com", "", "/wpush/v2/", 60, &rfc_key);
    let trpl = f.valid("webpush/command/TRPL/WP", &c, json!({"tag": "TRPL", "token": mozilla}))?;
    f.truncations("webpush/command/TRPL/WP", &c, &trpl)?;

    // the token inside TNEW starts after "TNEW T" (6 bytes)
    let head = b"TNEW T";
    let auth = f.bytes(16);
    let wp = |host: &[u8], port: &[u8], path: &[u8], auth: &[u8], key: &[u8]| {
        cat(&[b"WP", &short(host), &short(port), &short(path), &short(auth), &short(key)])
    };
    // the keys after a token, taken from a valid TNEW whose token is `wp(h, "", /p, auth, key)`
    let plain = json!({"provider": "WP", "host": "h", "port": "", "path": "/p", "auth": to_hex(&auth), "p256dh": to_hex(&rfc_key)});
    let valid = c.encode(&json!({"tag": "TNEW", "token": plain, "verify_key": f.public_key("ed25519"), "dh_key": f.public_key("x25519")}))?;
    let token_len = wp(b"h", b"", b"/p", &auth, &rfc_key).len();
    anyhow::ensure!(valid[6..6 + token_len] == wp(b"h", b"", b"/p", &auth, &rfc_key)[..], "WP token layout");
    let keys = valid[6 + token_len..].to_vec();
    let cases: [(&str, Vec<u8>); 6] = [
        ("auth_15_bytes", wp(b"h", b"", b"/p", &auth[..15], &rfc_key)),
        ("auth_17_bytes", wp(b"h", b"", b"/p", &cat(&[&auth, b"x"]), &rfc_key)),
        ("p256dh_64_bytes", wp(b"h", b"", b"/p", &auth, &rfc_key[..64])),
        ("p256dh_compressed", wp(b"h", b"", b"/p", &auth, &cat(&[&[3], &rfc_key[1..33]]))),
        ("p256dh_empty", wp(b"h", b"", b"/p", &auth, b"")),
        ("provider_WX", cat(&[b"WX", &wp(b"h", b"", b"/p", &auth, &rfc_key)[2..]])),
    ];
    for (name, token) in cases {
        f.invalid(&format!("webpush/command/invalid/TNEW_{name}"), &c, &cat(&[head, &token, &keys]))?;
    }
    Ok(())
}

fn texts(f: &mut Family) -> anyhow::Result<()> {
    let c = Case::new("device_token.str");
    let rfc_key = unb64(RFC8291_P256DH);
    let fcm = token(f, "fcm.googleapis.com", "", "/wp/", 40, &rfc_key);
    let bytes = f.valid("webpush/str/WP/fcm", &c, fcm)?;
    f.truncations("webpush/str/WP/fcm", &c, &bytes)?;
    f.trailing("webpush/str/WP/fcm", &c, &bytes, b" ", "space")?;
    let port = token(f, "127.0.0.1", "8443", "/push/", 16, &rfc_key);
    f.valid("webpush/str/WP/ipv4_port", &c, port)?;
    let no_path = token(f, "push.example", "", "", 0, &rfc_key);
    f.valid("webpush/str/WP/no_path", &c, no_path)?;
    // input forms: the branch test's unpadded base64url; a port with leading zeros
    f.input("webpush/str/WP/input/branch_test_unpadded", &c, BRANCH_TOKEN.as_bytes())?;
    let auth = b64(&f.bytes(16));
    let key = b64(&rfc_key);
    f.input(
        "webpush/str/WP/input/port_leading_zeros",
        &c,
        format!("webpush https://push.example:08443/p {auth} {key}").as_bytes(),
    )?;
    for (name, text) in [
        // the branch's testInvalidWPDeviceTokenStrEncoding
        ("empty_port", format!("webpush https://localhost:/ {auth} {key}")),
        ("http_scheme", format!("webpush http://localhost/p {auth} {key}")),
        ("no_host", format!("webpush https:///p {auth} {key}")),
        ("port_zero", format!("webpush https://h:0/p {auth} {key}")),
        ("port_65536", format!("webpush https://h:65536/p {auth} {key}")),
        ("query_after_host", format!("webpush https://h?x {auth} {key}")),
        ("fragment", format!("webpush https://h/p#f {auth} {key}")),
        ("auth_8_bytes", format!("webpush https://h/p {} {key}", b64(&[1; 8]))),
        ("p256dh_infinity_text_bad_b64", format!("webpush https://h/p {auth} AA=")),
        ("missing_key", format!("webpush https://h/p {auth}")),
        ("missing_space", format!("webpush https://h/p{auth} {key}")),
        ("no_params", "webpush https://h/p".to_string()),
    ] {
        f.invalid(&format!("webpush/str/invalid/{name}"), &c, text.as_bytes())?;
    }
    Ok(())
}
