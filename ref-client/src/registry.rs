//! The table of codecs, one per vector type.

use smp_proto::broker::BrokerMsg;
use smp_proto::command::SmpCommand;
use smp_proto::message::NMsgMeta;
use smp_proto::server::SmpServer;
use smp_proto::version::{smp, Version};
use smp_proto::Encode as _;

use serde_json::Value;
use smp_proto::block::Block;
use smp_proto::crypto;
use smp_proto::handshake::{SmpClientHello, SmpServerHandshakeResponse, SmpServerHello};
use smp_proto::transmission::{Transmission, TransmissionParams};
use ntf_proto::command::NtfCommand;
use ntf_proto::handshake::{NtfClientHello, NtfServerHello};
use ntf_proto::push::PnMessages;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::response::NtfResponse;
use ntf_proto::store_log::{LastNtfRecord, StoreLogRecord};
use ntf_proto::token::DeviceToken;

use crate::codecs::{from_hex, Codec, CodecError, Ctx, Kat, Typed};

/// The NTF version of a context (newest when absent).
fn ntf_v(ctx: &Ctx<'_>) -> Version {
    ctx.version.map_or(ntf_proto::version::CURRENT, Version)
}

static NTF_COMMAND: Typed<NtfCommand> = Typed::new(
    "ntf.command",
    |b, c| Ok(NtfCommand::decode(b, ntf_v(c))?),
    |v, c| Ok(v.to_bytes(ntf_v(c))),
);

static NTF_RESPONSE: Typed<NtfResponse> = Typed::new(
    "ntf.response",
    |b, c| Ok(NtfResponse::decode(b, ntf_v(c))?),
    |v, c| Ok(v.to_bytes(ntf_v(c))),
);

static DEVICE_TOKEN_STR: Typed<DeviceToken> =
    Typed::new("device_token.str", |b, _| Ok(DeviceToken::from_text(b)?), |v, _| Ok(v.to_text()));

static SMP_QUEUE_STR: Typed<SmpQueueNtf> =
    Typed::new("smp_queue.str", |b, _| Ok(SmpQueueNtf::from_text(b)?), |v, _| Ok(v.to_text()));

static STORE_LOG_RECORD: Typed<StoreLogRecord> =
    Typed::new("store_log.record", |b, _| Ok(StoreLogRecord::decode(b)?), |v, _| Ok(v.to_bytes()));

static STORE_LOG_LAST_NTF: Typed<LastNtfRecord> =
    Typed::new("store_log.last_ntf", |b, _| Ok(LastNtfRecord::decode(b)?), |v, _| Ok(v.to_bytes()));

static PN_MESSAGES: Typed<PnMessages> = Typed::new("pn.messages", |b, _| Ok(PnMessages::decode(b)?), |v, _| Ok(v.to_bytes()));

/// The SMP version of a context (newest when absent).
fn smp_v(ctx: &Ctx<'_>) -> Version {
    ctx.version.map_or(smp::CURRENT, Version)
}

static SMP_COMMAND: Typed<SmpCommand> = Typed::new(
    "smp.command",
    |b, c| Ok(SmpCommand::decode(b, smp_v(c))?),
    |v, c| Ok(v.to_vec(smp_v(c))),
);

static SMP_BROKER_MSG: Typed<BrokerMsg> = Typed::new(
    "smp.broker_msg",
    |b, c| Ok(BrokerMsg::decode(b, smp_v(c))?),
    |v, c| Ok(v.to_vec(smp_v(c))),
);

static NMSG_META: Typed<NMsgMeta> = Typed::new("nmsg.meta", |b, _| Ok(NMsgMeta::parse(b)?), |v, _| Ok(v.to_bytes()));

static SMP_SERVER_STR: Typed<SmpServer> =
    Typed::new("smp_server.str", |b, _| Ok(SmpServer::parse_text(b)?), |v, _| Ok(v.to_text()));

fn other(msg: impl Into<String>) -> CodecError {
    CodecError::Other(msg.into())
}

/// A hex byte-string parameter.
fn hex_param(params: &Value, key: &str) -> Result<Vec<u8>, CodecError> {
    let s = params.get(key).and_then(Value::as_str).ok_or_else(|| other(format!("missing params.{key}")))?;
    from_hex(s).map_err(|e| other(format!("params.{key}: {e}")))
}

fn bool_param(params: &Value, key: &str) -> Result<bool, CodecError> {
    params.get(key).and_then(Value::as_bool).ok_or_else(|| other(format!("missing params.{key}")))
}

fn transmission_params(params: &Value) -> Result<(Vec<u8>, bool), CodecError> {
    Ok((hex_param(params, "session_id")?, bool_param(params, "implied_session_id")?))
}

static TRANSMISSION: Typed<Transmission> = Typed::new(
    "transmission",
    |b, c| {
        let (sid, implied) = transmission_params(c.params)?;
        let p = TransmissionParams { session_id: &sid, implied_session_id: implied, service_auth: false };
        Ok(Transmission::decode(b, &p)?)
    },
    |v, c| {
        let (sid, implied) = transmission_params(c.params)?;
        let p = TransmissionParams { session_id: &sid, implied_session_id: implied, service_auth: false };
        let mut out = Vec::new();
        v.encode(&p, &mut out);
        Ok(out)
    },
);

fn block_params(params: &Value) -> Result<(usize, bool), CodecError> {
    let size = params.get("block_size").and_then(Value::as_u64).ok_or_else(|| other("missing params.block_size"))?;
    Ok((usize::try_from(size).map_err(|_| other("bad block_size"))?, bool_param(params, "batch")?))
}

static BLOCK: Typed<Block> = Typed::new(
    "block",
    |b, c| {
        let (size, batch) = block_params(c.params)?;
        Ok(Block::decode(b, size, batch)?)
    },
    |v, c| {
        let (size, batch) = block_params(c.params)?;
        v.encode(size, batch).map_err(|e| other(format!("cannot encode block: {e:?}")))
    },
);

static SMP_SERVER_HELLO: Typed<SmpServerHello> =
    Typed::new("smp.server_hello", |b, _| Ok(SmpServerHello::parse(b)?), |v, _| Ok(v.to_bytes()));

static SMP_CLIENT_HELLO: Typed<SmpClientHello> =
    Typed::new("smp.client_hello", |b, _| Ok(SmpClientHello::parse(b)?), |v, _| Ok(v.to_bytes()));

static SMP_HANDSHAKE_RESPONSE: Typed<SmpServerHandshakeResponse> = Typed::new(
    "smp.handshake_response",
    |b, _| Ok(SmpServerHandshakeResponse::parse(b)?),
    |v, _| Ok(v.to_bytes()),
);

static NTF_SERVER_HELLO: Typed<NtfServerHello> =
    Typed::new("ntf.server_hello", |b, _| Ok(NtfServerHello::parse(b)?), |v, _| Ok(v.to_bytes()));

static NTF_CLIENT_HELLO: Typed<NtfClientHello> =
    Typed::new("ntf.client_hello", |b, _| Ok(NtfClientHello::parse(b)?), |v, _| Ok(v.to_bytes()));

/// A hex field of a known-answer value.
fn hex_field(v: &Value, key: &str) -> Result<Vec<u8>, String> {
    let s = v.get(key).and_then(Value::as_str).ok_or_else(|| format!("missing value.{key}"))?;
    from_hex(s).map_err(|e| format!("value.{key}: {e}"))
}

fn array32(v: &Value, key: &str) -> Result<[u8; 32], String> {
    hex_field(v, key)?.try_into().map_err(|_| format!("value.{key} must be 32 bytes"))
}

fn expect_eq(what: &str, got: &[u8], expected: &[u8]) -> Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!("{what} differs: got {}, expected {}", crate::codecs::to_hex(got), crate::codecs::to_hex(expected)))
    }
}

static CRYPTO_CBOX: Kat = Kat::new("crypto.cbox", |v, hex, _| {
    let secret = crypto::dh(&array32(v, "public")?, &array32(v, "private")?);
    let nonce = crypto::cb_nonce(&hex_field(v, "nonce")?);
    let plaintext = hex_field(v, "plaintext")?;
    let (boxed, opened) = match v.get("padded_len").and_then(Value::as_u64) {
        Some(n) => {
            let n = usize::try_from(n).map_err(|_| "bad padded_len")?;
            let b = crypto::crypto_box_padded(&secret, &nonce, &plaintext, n).map_err(|e| format!("encrypt: {e:?}"))?;
            (b, crypto::crypto_box_open_padded(&secret, &nonce, hex).map_err(|e| format!("decrypt: {e:?}"))?)
        }
        None => {
            let b = crypto::crypto_box(&secret, &nonce, &plaintext);
            (b, crypto::crypto_box_open(&secret, &nonce, hex).map_err(|e| format!("decrypt: {e:?}"))?)
        }
    };
    expect_eq("ciphertext", &boxed, hex)?;
    expect_eq("decrypted plaintext", &opened, &plaintext)
});

static AUTH_SIGNATURE: Kat = Kat::new("auth.signature", |v, hex, _| {
    let seed = array32(v, "private")?;
    let mut authorized = Vec::new();
    smp_proto::coding::put_short(&mut authorized, &hex_field(v, "session_id")?);
    authorized.extend_from_slice(&hex_field(v, "transmission")?);
    let sig = crypto::sign_ed25519(&seed, &authorized);
    expect_eq("signature", &sig, hex)?;
    let sig: [u8; 64] = hex.try_into().map_err(|_| "signature must be 64 bytes")?;
    if crypto::verify_ed25519(&crypto::ed25519_public(&seed), &sig, &authorized) {
        Ok(())
    } else {
        Err("signature does not verify".into())
    }
});

static AUTH_AUTHENTICATOR: Kat = Kat::new("auth.authenticator", |v, hex, _| {
    let private = array32(v, "private")?;
    let public = array32(v, "public")?;
    let nonce = crypto::cb_nonce(&hex_field(v, "corr_id")?);
    let authorized = hex_field(v, "authorized")?;
    let a = crypto::cb_authenticate(&public, &private, &nonce, &authorized);
    expect_eq("authenticator", &a, hex)?;
    // the server's side: its private key with the client's public key
    let a: [u8; 80] = hex.try_into().map_err(|_| "authenticator must be 80 bytes")?;
    if crypto::cb_verify(&public, &private, &nonce, &a, &authorized) {
        Ok(())
    } else {
        Err("authenticator does not verify".into())
    }
});

/// `auth.service`: the authorization part of a service-signed transmission (`authTransmission`):
/// `short(queue signature over cert_hash ++ authorized) "1" short(service signature over
/// authorized)`, authorized = short(session_id) ++ transmission.
static AUTH_SERVICE: Kat = Kat::new("auth.service", |v, hex, _| {
    let queue = array32(v, "private")?;
    let service = array32(v, "service_private")?;
    let cert_hash = array32(v, "cert_hash")?;
    let mut authorized = Vec::new();
    smp_proto::coding::put_short(&mut authorized, &hex_field(v, "session_id")?);
    authorized.extend_from_slice(&hex_field(v, "transmission")?);
    let prefixed = smp_proto::service::queue_authorized(&cert_hash, &authorized);
    let qs = crypto::sign_ed25519(&queue, &prefixed);
    let ss = crypto::sign_ed25519(&service, &authorized);
    let mut out = Vec::new();
    smp_proto::transmission::encode_auth(true, Some(&qs), Some(&ss), &mut out);
    expect_eq("authorization", &out, hex)?;
    let service_public = crypto::ed25519_public(&service);
    if !smp_proto::service::check_service_signature(true, Some(&service_public), Some(&ss), &authorized)
        || !crypto::verify_ed25519(&crypto::ed25519_public(&queue), &qs, &prefixed)
    {
        return Err("signatures do not verify".into());
    }
    Ok(())
});

pub(crate) static CODECS: &[&dyn Codec] = &[
    &NTF_COMMAND,
    &NTF_RESPONSE,
    &DEVICE_TOKEN_STR,
    &SMP_QUEUE_STR,
    &PN_MESSAGES,
    &STORE_LOG_RECORD,
    &STORE_LOG_LAST_NTF,
    &SMP_COMMAND,
    &SMP_BROKER_MSG,
    &NMSG_META,
    &SMP_SERVER_STR,
    &TRANSMISSION,
    &BLOCK,
    &SMP_SERVER_HELLO,
    &SMP_CLIENT_HELLO,
    &SMP_HANDSHAKE_RESPONSE,
    &NTF_SERVER_HELLO,
    &NTF_CLIENT_HELLO,
    &CRYPTO_CBOX,
    &AUTH_SIGNATURE,
    &AUTH_AUTHENTICATOR,
    &AUTH_SERVICE,
];
