//! Codec and crypto throughput of the NTF and SMP codecs, against a memcpy floor.
//!
//! ```text
//! cargo bench -p benches -- --warm-up-time 1 --measurement-time 3
//! cargo run -p benches --bin bench-report     # table and target ratios
//! ```
//!
//! Every benchmark reports `Throughput::Bytes` of the wire (or text) bytes it handles, so each
//! reads as a ratio to `floor/memcpy/*`. Fixtures: `benches::fixtures`; measured paths:
//! `benches::hot`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;

use benches::fixtures::{Fixtures, NTF_V, PUSH_PADDED_LEN, SMP_V};
use benches::hot::{decode_ntf_block, decode_smp_nmsg_block, verify_transmission};
use ntf_proto::command::{NewNtfSubscriptionRef, NtfCommand};
use ntf_proto::push::PnMessages;
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::response::NtfResponse;
use ntf_proto::token::DeviceToken;
use smp_proto::block::{decode_block, NTF_BLOCK_SIZE, SMP_BLOCK_SIZE};
use smp_proto::broker::{BrokerMsg, NmsgRef};
use smp_proto::command::SmpCommand;
use smp_proto::crypto::{cb_nonce, crypto_box_padded};
use smp_proto::keys::PublicKey;
use smp_proto::server::SmpServer;
use smp_proto::text::put_base64url;
use smp_proto::transmission::RawTransmission;

/// Drops a decoded value inside the timed routine and returns only whether it decoded.
///
/// Criterion's `iter` passes a routine's return value through its own `black_box`, a volatile
/// read of the whole value that copies inline byte arrays one byte at a time: for the owned
/// decoders, whose values hold ids, keys and hashes inline, that copy would cost about as much
/// as the decoding. `std::hint::black_box` of a reference keeps the value computed.
fn decoded<T, E>(r: Result<T, E>) -> bool {
    black_box(&r);
    r.is_ok()
}

fn fixtures() -> Fixtures {
    match Fixtures::new() {
        Ok(f) => f,
        Err(e) => panic!("benchmark fixtures: {e}"),
    }
}

/// The floor: copying the bytes of a block.
///
/// `memcpy/N` copies into a destination whose address differs from the source's by half a
/// page modulo 4096: the physical limit. `memcpy_aliased/N` copies between two plain `Vec`s,
/// which the allocator places at nearly the same page offset; on this machine's AMD EPYC
/// (KVM) glibc's `rep movsb` copy is then many times slower (4K aliasing), so it is shown but
/// not used as the floor.
fn floor(c: &mut Criterion) {
    let mut g = c.benchmark_group("floor");
    for n in [SMP_BLOCK_SIZE, NTF_BLOCK_SIZE] {
        let src = vec![0x5au8; n];
        let mut dst = vec![0u8; n];
        let mut big = vec![0u8; n + 8192];
        let want = (src.as_ptr() as usize + 2048) % 4096;
        let start = (want + 4096 - big.as_ptr() as usize % 4096) % 4096;
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_function(BenchmarkId::new("memcpy", n), |b| {
            b.iter(|| {
                big[start..start + n].copy_from_slice(black_box(&src));
                black_box(&mut big);
            })
        });
        g.bench_function(BenchmarkId::new("memcpy_aliased", n), |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&src));
                black_box(&mut dst);
            })
        });
    }
    g.finish();
}

fn ntf_codec(c: &mut Criterion) {
    let f = fixtures();
    let mut out = Vec::with_capacity(1024);
    let mut g = c.benchmark_group("ntf_command");
    for (tag, cmd) in &f.commands {
        let bytes = cmd.to_bytes(NTF_V);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(BenchmarkId::new("encode", tag), |b| {
            b.iter(|| {
                out.clear();
                black_box(cmd).encode(NTF_V, &mut out);
                black_box(&out);
            })
        });
        g.bench_function(BenchmarkId::new("decode", tag), |b| {
            b.iter(|| decoded(NtfCommand::decode(black_box(&bytes), NTF_V)))
        });
        if *tag == "SNEW" {
            // the borrowed view a server can validate and route on before copying anything
            g.bench_function(BenchmarkId::new("decode_ref", tag), |b| {
                b.iter(|| {
                    NewNtfSubscriptionRef::parse(black_box(&bytes))
                        .map(|s| s.map(|s| s.queue.notifier_id.len()))
                })
            });
        }
    }
    g.finish();
    let mut g = c.benchmark_group("ntf_response");
    for (tag, resp) in &f.responses {
        let bytes = resp.to_bytes(NTF_V);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(BenchmarkId::new("encode", tag), |b| {
            b.iter(|| {
                out.clear();
                black_box(resp).encode(NTF_V, &mut out);
                black_box(&out);
            })
        });
        g.bench_function(BenchmarkId::new("decode", tag), |b| {
            b.iter(|| decoded(NtfResponse::decode(black_box(&bytes), NTF_V)))
        });
    }
    g.finish();
}

fn smp_codec(c: &mut Criterion) {
    let f = fixtures();
    let mut out = Vec::with_capacity(1024);
    let mut g = c.benchmark_group("smp");
    let nkey = f.nkey.to_vec(SMP_V);
    g.throughput(Throughput::Bytes(nkey.len() as u64));
    g.bench_function(BenchmarkId::new("encode", "NKEY"), |b| {
        b.iter(|| {
            out.clear();
            black_box(&f.nkey).encode(SMP_V, &mut out);
            black_box(&out);
        })
    });
    g.bench_function(BenchmarkId::new("decode", "NKEY"), |b| {
        b.iter(|| decoded(SmpCommand::decode(black_box(&nkey), SMP_V)))
    });
    for (tag, msg) in &f.broker_msgs {
        let bytes = msg.to_vec(SMP_V);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(BenchmarkId::new("encode", tag), |b| {
            b.iter(|| {
                out.clear();
                black_box(msg).encode(SMP_V, &mut out);
                black_box(&out);
            })
        });
        g.bench_function(BenchmarkId::new("decode", tag), |b| {
            b.iter(|| decoded(BrokerMsg::decode(black_box(&bytes), SMP_V)))
        });
        if *tag == "NMSG" {
            g.bench_function(BenchmarkId::new("parse_ref", tag), |b| {
                b.iter(|| NmsgRef::parse(black_box(&bytes)).map(|m| m.map(|m| m.enc_meta.len())))
            });
        }
    }
    g.finish();
}

/// `crypto_box` open with nothing around it: X25519, HSalsa20, XSalsa20-Poly1305 over the
/// 64-byte body of an 80-byte authenticator, on the stack.
fn bare_box_open(public: &[u8; 32], private: &[u8; 32], nonce: &[u8; 24], packet: &[u8]) -> bool {
    let shared = x25519_dalek::x25519(*private, *public);
    bare_box_open_afternm(&shared, nonce, packet)
}

/// The same after the DH: HSalsa20 key derivation and the authenticated decryption.
fn bare_box_open_afternm(shared: &[u8; 32], nonce: &[u8; 24], packet: &[u8]) -> bool {
    let k = salsa20::hsalsa::<crypto_secretbox::consts::U10>(shared.into(), &[0u8; 16].into());
    let mut tag = [0u8; 16];
    let mut body = [0u8; 64];
    if packet.len() != 80 {
        return false;
    }
    tag.copy_from_slice(&packet[..16]);
    body.copy_from_slice(&packet[16..]);
    XSalsa20Poly1305::new(&k)
        .decrypt_in_place_detached(nonce.into(), b"", &mut body, (&tag).into())
        .is_ok()
}

fn auth(c: &mut Criterion) {
    use ed25519_dalek::Verifier;
    let f = fixtures();
    let p = f.ntf_params();
    let mut buf = Vec::with_capacity(512);
    let mut g = c.benchmark_group("auth");

    // Ed25519: the server's path against the bare verification of the same bytes
    let t = &f.ed25519_transmission;
    let key = PublicKey::Ed25519(f.token_key.public);
    let sig_bytes: [u8; 64] = match RawTransmission::decode(t, &p) {
        Ok(raw) => raw.authorization.try_into().unwrap_or([0; 64]),
        Err(e) => panic!("fixture: {e:?}"),
    };
    let sig = ed25519_dalek::Signature::from_bytes(&sig_bytes);
    let vk = match ed25519_dalek::VerifyingKey::from_bytes(&f.token_key.public) {
        Ok(k) => k,
        Err(e) => panic!("fixture key: {e}"),
    };
    g.throughput(Throughput::Bytes(t.len() as u64));
    g.bench_function(BenchmarkId::new("ed25519", "transmission"), |b| {
        b.iter(|| verify_transmission(black_box(t), &p, &key, None, &mut buf))
    });
    g.bench_function(BenchmarkId::new("ed25519", "bare_verify"), |b| {
        b.iter(|| {
            ed25519_dalek::VerifyingKey::from_bytes(black_box(&f.token_key.public))
                .is_ok_and(|k| k.verify(black_box(&f.authorized), &sig).is_ok())
        })
    });
    g.bench_function(
        BenchmarkId::new("ed25519", "bare_verify_prepared_key"),
        |b| {
            b.iter(|| {
                black_box(&vk)
                    .verify(black_box(&f.authorized), &sig)
                    .is_ok()
            })
        },
    );

    // X25519 authenticator: the server's path against the bare crypto_box open
    let t = &f.x25519_transmission;
    let key = PublicKey::X25519(f.client_auth_key.public);
    let sk = f.server_session_key.private;
    let packet: Vec<u8> = match RawTransmission::decode(t, &p) {
        Ok(raw) => raw.authorization.to_vec(),
        Err(e) => panic!("fixture: {e:?}"),
    };
    let nonce = cb_nonce(&f.corr_id);
    let shared = x25519_dalek::x25519(sk, f.client_auth_key.public);
    g.throughput(Throughput::Bytes(t.len() as u64));
    g.bench_function(BenchmarkId::new("x25519", "transmission"), |b| {
        b.iter(|| verify_transmission(black_box(t), &p, &key, Some(&sk), &mut buf))
    });
    g.bench_function(BenchmarkId::new("x25519", "bare_box_open"), |b| {
        b.iter(|| bare_box_open(&f.client_auth_key.public, &sk, &nonce, black_box(&packet)))
    });
    g.bench_function(BenchmarkId::new("x25519", "bare_box_open_afternm"), |b| {
        b.iter(|| bare_box_open_afternm(&shared, &nonce, black_box(&packet)))
    });
    g.finish();
}

fn blocks(c: &mut Criterion) {
    let f = fixtures();
    let mut g = c.benchmark_group("block");
    let ntf = f.ntf_params();
    g.throughput(Throughput::Bytes(NTF_BLOCK_SIZE as u64));
    g.bench_function(
        BenchmarkId::new(format!("ntf_512_x{}", f.ntf_block_count), "decode"),
        |b| b.iter(|| decode_ntf_block(black_box(&f.ntf_block), &ntf, NTF_V)),
    );
    let smp = f.smp_params();
    g.throughput(Throughput::Bytes(SMP_BLOCK_SIZE as u64));
    g.bench_function(BenchmarkId::new("smp_16384_nmsg", "decode"), |b| {
        b.iter(|| decode_smp_nmsg_block(black_box(&f.smp_block), &smp))
    });
    // parts and the owned alternative, to explain the total
    g.bench_function(BenchmarkId::new("smp_16384_nmsg", "split_only"), |b| {
        b.iter(|| {
            decode_block(black_box(&f.smp_block), SMP_BLOCK_SIZE, true)
                .map(|ts| ts.map(<[u8]>::len).sum::<usize>())
        })
    });
    g.bench_function(BenchmarkId::new("smp_16384_nmsg", "decode_owned"), |b| {
        b.iter(|| -> Result<usize, smp_proto::DecodeError> {
            let mut n = 0;
            for t in decode_block(black_box(&f.smp_block), SMP_BLOCK_SIZE, true)? {
                let raw = RawTransmission::decode(t, &smp)?;
                n += usize::from(matches!(
                    BrokerMsg::decode(raw.command, SMP_V)?,
                    BrokerMsg::Nmsg { .. }
                ));
            }
            Ok(n)
        })
    });
    g.finish();
}

fn push(c: &mut Criterion) {
    let f = fixtures();
    let text = f.pn_messages.to_bytes();
    let mut out = Vec::with_capacity(8192);
    let mut g = c.benchmark_group("push");
    g.throughput(Throughput::Bytes(PUSH_PADDED_LEN as u64));
    g.bench_function(
        BenchmarkId::new("crypto_box_padded", PUSH_PADDED_LEN),
        |b| {
            b.iter(|| {
                crypto_box_padded(
                    &f.push_secret,
                    &f.push_nonce,
                    black_box(&text),
                    PUSH_PADDED_LEN,
                )
            })
        },
    );
    g.bench_function(BenchmarkId::new("apns_payload", PUSH_PADDED_LEN), |b| {
        b.iter(|| {
            out.clear();
            black_box(&f.pn_messages).encode(&mut out);
            if let Ok(ct) = crypto_box_padded(&f.push_secret, &f.push_nonce, &out, PUSH_PADDED_LEN)
            {
                out.clear();
                put_base64url(&mut out, &ct);
            }
            black_box(&out);
        })
    });
    g.finish();
}

fn text(c: &mut Criterion) {
    let f = fixtures();
    let mut out = Vec::with_capacity(4096);
    let mut g = c.benchmark_group("text");

    let s = f.smp_server.to_text();
    g.throughput(Throughput::Bytes(s.len() as u64));
    g.bench_function(BenchmarkId::new("smp_server", "encode"), |b| {
        b.iter(|| {
            out.clear();
            black_box(&f.smp_server).put_text(&mut out);
            black_box(&out);
        })
    });
    g.bench_function(BenchmarkId::new("smp_server", "decode"), |b| {
        b.iter(|| decoded(SmpServer::parse_text(black_box(&s))))
    });

    let q = f.queue.to_text();
    g.throughput(Throughput::Bytes(q.len() as u64));
    g.bench_function(BenchmarkId::new("smp_queue", "encode"), |b| {
        b.iter(|| {
            out.clear();
            black_box(&f.queue).encode_text(&mut out);
            black_box(&out);
        })
    });
    g.bench_function(BenchmarkId::new("smp_queue", "decode"), |b| {
        b.iter(|| decoded(SmpQueueNtf::from_text(black_box(&q))))
    });

    let t = f.apns_token.to_text();
    g.throughput(Throughput::Bytes(t.len() as u64));
    g.bench_function(BenchmarkId::new("device_token", "encode"), |b| {
        b.iter(|| {
            out.clear();
            black_box(&f.apns_token).encode_text(&mut out);
            black_box(&out);
        })
    });
    g.bench_function(BenchmarkId::new("device_token", "decode"), |b| {
        b.iter(|| decoded(DeviceToken::from_text(black_box(&t))))
    });

    let m = f.pn_messages.to_bytes();
    g.throughput(Throughput::Bytes(m.len() as u64));
    g.bench_function(BenchmarkId::new("pn_messages_x6", "encode"), |b| {
        b.iter(|| {
            out.clear();
            black_box(&f.pn_messages).encode(&mut out);
            black_box(&out);
        })
    });
    g.bench_function(BenchmarkId::new("pn_messages_x6", "decode"), |b| {
        b.iter(|| decoded(PnMessages::decode(black_box(&m))))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
}

criterion_group! {
    name = throughput;
    config = config();
    targets = floor, ntf_codec, smp_codec, auth, blocks, push, text
}
criterion_main!(throughput);
