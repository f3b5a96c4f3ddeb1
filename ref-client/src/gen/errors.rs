//! The protocol error catalog shared by `ntf.response` (`ERR`) and `smp.broker_msg` (`ERR`).

use serde_json::{json, Value};

use super::build::{cat, short};

/// Every error the encoders write, as `(name, JSON tokens)`: each keyword of each level.
pub fn catalog() -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = Vec::new();
    let mut add = |name: &str, tokens: Value| v.push((name.to_string(), tokens));
    for k in [
        "BLOCK",
        "SESSION",
        "AUTH",
        "SERVICE",
        "CRYPTO",
        "QUOTA",
        "NO_MSG",
        "LARGE_MSG",
        "EXPIRED",
        "INTERNAL",
        "DUPLICATE_",
    ] {
        add(k, json!([k]));
    }
    for c in [
        "UNKNOWN",
        "SYNTAX",
        "PROHIBITED",
        "NO_AUTH",
        "HAS_AUTH",
        "NO_ENTITY",
    ] {
        add(&format!("CMD_{c}"), json!(["CMD", c]));
    }
    add("STORE_ascii", json!(["STORE", "disk full"]));
    add("STORE_empty", json!(["STORE", ""]));
    add("STORE_utf8", json!(["STORE", "ошибка хранилища"]));
    add("BLOCKED_spam", json!(["BLOCKED", "reason=spam"]));
    add("BLOCKED_content", json!(["BLOCKED", "reason=content"]));
    add(
        "BLOCKED_spam_notice_empty",
        json!(["BLOCKED", "reason=spam,notice={}"]),
    );
    add(
        "BLOCKED_content_notice_ttl",
        json!(["BLOCKED", "reason=content,notice={\"ttl\":3600}"]),
    );
    add(
        "BLOCKED_content_notice_negative_ttl",
        json!([
            "BLOCKED",
            "reason=content,notice={\"ttl\":-9223372036854775808}"
        ]),
    );
    add("PROXY_PROTOCOL_AUTH", json!(["PROXY", "PROTOCOL", "AUTH"]));
    add(
        "PROXY_PROTOCOL_STORE",
        json!(["PROXY", "PROTOCOL", "STORE", "nested store"]),
    );
    add(
        "PROXY_PROTOCOL_PROXY_PROTOCOL_QUOTA",
        json!(["PROXY", "PROTOCOL", "PROXY", "PROTOCOL", "QUOTA"]),
    );
    add(
        "PROXY_PROTOCOL_BLOCKED",
        json!(["PROXY", "PROTOCOL", "BLOCKED", "reason=spam"]),
    );
    add(
        "PROXY_BROKER_RESPONSE",
        json!(["PROXY", "BROKER", "RESPONSE", "bad response"]),
    );
    add(
        "PROXY_BROKER_RESPONSE_empty",
        json!(["PROXY", "BROKER", "RESPONSE", ""]),
    );
    add(
        "PROXY_BROKER_UNEXPECTED_latin1",
        json!(["PROXY", "BROKER", "UNEXPECTED", "caf\u{e9} \u{ff}"]),
    );
    for t in ["BLOCK", "VERSION", "LARGE_MSG", "SESSION", "NO_AUTH"] {
        add(
            &format!("PROXY_BROKER_TRANSPORT_{t}"),
            json!(["PROXY", "BROKER", "TRANSPORT", t]),
        );
    }
    for h in ["PARSE", "IDENTITY", "BAD_AUTH", "BAD_SERVICE"] {
        add(
            &format!("PROXY_BROKER_TRANSPORT_HANDSHAKE_{h}"),
            json!(["PROXY", "BROKER", "TRANSPORT", "HANDSHAKE", h]),
        );
    }
    for b in ["NETWORK", "TIMEOUT", "HOST", "NO_SERVICE"] {
        add(&format!("PROXY_BROKER_{b}"), json!(["PROXY", "BROKER", b]));
    }
    add("PROXY_BASIC_AUTH", json!(["PROXY", "BASIC_AUTH"]));
    add("PROXY_NO_SESSION", json!(["PROXY", "NO_SESSION"]));
    v
}

/// Wire forms of errors that decode but encode differently (legacy keywords, details the
/// reference reads and never writes, JSON notices with extra members, bad UTF-8).
pub fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("CMD_NO_QUEUE_legacy", b"CMD NO_QUEUE".to_vec()),
        (
            "NETWORK_CONNECT_dropped",
            cat(&[
                b"PROXY BROKER NETWORK CONNECT ",
                &short(b"connection refused"),
            ]),
        ),
        (
            "NETWORK_TLS_dropped",
            cat(&[b"PROXY BROKER NETWORK TLS ", &short(b"bad certificate")]),
        ),
        (
            "NETWORK_UNKNOWNCA_dropped",
            b"PROXY BROKER NETWORK UNKNOWNCA".to_vec(),
        ),
        (
            "NETWORK_FAILED_dropped",
            b"PROXY BROKER NETWORK FAILED".to_vec(),
        ),
        (
            "NETWORK_TIMEOUT_dropped",
            b"PROXY BROKER NETWORK TIMEOUT".to_vec(),
        ),
        (
            "NETWORK_SUBSCRIBE_dropped",
            cat(&[b"PROXY BROKER NETWORK SUBSCRIBE ", &short(b"no queue")]),
        ),
        (
            "HANDSHAKE_parenthesised",
            b"PROXY BROKER TRANSPORT HANDSHAKE (PARSE)".to_vec(),
        ),
        (
            "HANDSHAKE_double_parentheses",
            b"PROXY BROKER TRANSPORT HANDSHAKE ((BAD_AUTH))".to_vec(),
        ),
        (
            "BLOCKED_notice_extra_member",
            b"BLOCKED reason=spam,notice={\"ttl\":60,\"x\":[1,2]}".to_vec(),
        ),
        (
            "BLOCKED_notice_ttl_null",
            b"BLOCKED reason=content,notice={\"ttl\":null}".to_vec(),
        ),
        ("STORE_bad_utf8", b"STORE \xff\xfeok".to_vec()),
    ]
}

/// Wire forms of errors that must not decode.
pub fn invalid() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("unknown_keyword", b"FOO".to_vec()),
        ("empty", Vec::new()),
        ("lowercase", b"auth".to_vec()),
        ("CMD_missing", b"CMD".to_vec()),
        ("CMD_unknown", b"CMD FOO".to_vec()),
        ("PROXY_missing", b"PROXY".to_vec()),
        ("PROXY_unknown", b"PROXY FOO".to_vec()),
        ("PROXY_PROTOCOL_missing", b"PROXY PROTOCOL".to_vec()),
        ("PROXY_BROKER_missing", b"PROXY BROKER".to_vec()),
        ("PROXY_BROKER_unknown", b"PROXY BROKER FOO".to_vec()),
        ("RESPONSE_missing_text", b"PROXY BROKER RESPONSE".to_vec()),
        (
            "RESPONSE_length_overrun",
            b"PROXY BROKER RESPONSE \x05ab".to_vec(),
        ),
        ("TRANSPORT_unknown", b"PROXY BROKER TRANSPORT FOO".to_vec()),
        (
            "HANDSHAKE_unknown",
            b"PROXY BROKER TRANSPORT HANDSHAKE FOO".to_vec(),
        ),
        ("BLOCKED_missing_info", b"BLOCKED".to_vec()),
        ("BLOCKED_unknown_reason", b"BLOCKED reason=foo".to_vec()),
        (
            "BLOCKED_bad_notice_json",
            b"BLOCKED reason=spam,notice={bad".to_vec(),
        ),
        (
            "BLOCKED_fractional_ttl",
            b"BLOCKED reason=spam,notice={\"ttl\":1.5}".to_vec(),
        ),
    ]
}
