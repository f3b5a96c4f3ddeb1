//! A raw look at a server: TCP, then TLS with no identity check and the client offering more
//! than the protocol's profile (TLS 1.2 and 1.3, every cipher suite), then the first block the
//! server sends, as received. Used for the TLS cases and to show what a server sent when the
//! handshake fails.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

use crate::Failure;

/// What the probe saw.
#[derive(Debug)]
pub struct Probe {
    /// The negotiated TLS version (`TLSv1.3`).
    pub version: String,
    /// The negotiated cipher suite (OpenSSL's name, `TLS_CHACHA20_POLY1305_SHA256`).
    pub cipher: String,
    /// The ALPN protocol the server selected.
    pub alpn: Option<Vec<u8>>,
    /// The server's chain, leaf first.
    pub chain: Vec<X509>,
    /// `tls-unique` of the connection (the client's Finished in TLS 1.3).
    pub tls_unique: Vec<u8>,
    /// The first `block_size` bytes the server sent after TLS (fewer when it closed or went
    /// quiet), and whether the block came whole.
    pub first_block: Vec<u8>,
    /// Whether `first_block` is a whole block.
    pub whole_block: bool,
}

/// Connects to `addr` offering `alpn` and reads one block of `block_size` bytes, each step
/// within `timeout`.
///
/// # Errors
/// A [`Failure`] naming the step that failed.
pub async fn probe(
    addr: SocketAddr,
    alpn: Option<&[u8]>,
    block_size: usize,
    timeout: Duration,
) -> Result<Probe, Failure> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Failure::new(format!("TCP connect to {addr}: no answer in {timeout:?}")))?
        .map_err(|e| Failure::new(format!("TCP connect to {addr}: {e}")))?;
    let mut b = SslConnector::builder(SslMethod::tls_client())?;
    b.set_verify(SslVerifyMode::NONE);
    b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    if let Some(p) = alpn {
        let mut wire = vec![u8::try_from(p.len()).unwrap_or(0)];
        wire.extend_from_slice(p);
        b.set_alpn_protos(&wire)?;
    }
    let mut cfg = b.build().configure()?;
    cfg.set_use_server_name_indication(false);
    cfg.set_verify_hostname(false);
    let ssl = cfg.into_ssl("")?;
    let mut s = SslStream::new(ssl, tcp)?;
    tokio::time::timeout(timeout, Pin::new(&mut s).connect())
        .await
        .map_err(|_| Failure::new(format!("TLS handshake: no answer in {timeout:?}")))?
        .map_err(|e| Failure::new(format!("TLS handshake: {e}")))?;
    let ssl = s.ssl();
    let version = ssl.version_str().to_string();
    let cipher = ssl.current_cipher().map(|c| c.name().to_string()).unwrap_or_default();
    let alpn = ssl.selected_alpn_protocol().map(<[u8]>::to_vec);
    let chain = ssl
        .peer_cert_chain()
        .map(|st| st.iter().map(|c| c.to_owned()).collect())
        .unwrap_or_default();
    let mut fin = [0u8; 64];
    let n = ssl.finished(&mut fin).min(fin.len());
    let tls_unique = fin[..n].to_vec();
    let (first_block, whole_block) = read_some(&mut s, block_size, timeout).await;
    Ok(Probe {
        version,
        cipher,
        alpn,
        chain,
        tls_unique,
        first_block,
        whole_block,
    })
}

/// Up to `n` bytes: stops at `n`, at the end of the stream, on an error, or after `timeout`.
async fn read_some(
    s: &mut (impl tokio::io::AsyncRead + Unpin),
    n: usize,
    timeout: Duration,
) -> (Vec<u8>, bool) {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + timeout;
    while got < n {
        match tokio::time::timeout_at(deadline, s.read(&mut buf[got..])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(k)) => got += k,
        }
    }
    buf.truncate(got);
    (buf, got == n)
}

/// A line about what a server sends after TLS, for the failure of a case whose connection
/// did not come up: the bytes of its first block, or that it sent none.
pub async fn first_bytes(addr: SocketAddr, alpn: Option<&[u8]>, block_size: usize, timeout: Duration) -> Failure {
    match probe(addr, alpn, block_size, timeout).await {
        Err(f) => f,
        Ok(p) if p.first_block.is_empty() => Failure::new(format!(
            "after TLS ({}, {}) the server sent nothing within {timeout:?}",
            p.version, p.cipher
        )),
        Ok(p) => Failure::with_bytes(
            format!(
                "after TLS the server sent {} bytes{}",
                p.first_block.len(),
                if p.whole_block { "" } else { " (not a whole block)" }
            ),
            p.first_block,
        ),
    }
}

/// TLS 1.3 with `TLS_CHACHA20_POLY1305_SHA256` (`defaultSupportedParams`).
///
/// # Errors
/// What was negotiated instead.
pub fn check_profile(p: &Probe) -> Result<String, Failure> {
    if p.version != "TLSv1.3" || p.cipher != "TLS_CHACHA20_POLY1305_SHA256" {
        return Err(Failure::new(format!("negotiated {} with {}", p.version, p.cipher)));
    }
    Ok(format!("{} {}", p.version, p.cipher))
}

/// The ALPN protocol `want` was selected.
///
/// # Errors
/// What was selected instead.
pub fn check_alpn(p: &Probe, want: &[u8]) -> Result<String, Failure> {
    match p.alpn.as_deref() {
        Some(a) if a == want => Ok(String::from_utf8_lossy(a).into_owned()),
        a => Err(Failure::new(format!("selected ALPN {:?}", a.map(String::from_utf8_lossy)))),
    }
}

/// The chain validates against the key hash (`validateCertificateChain`).
///
/// # Errors
/// The failed check.
pub fn check_chain(p: &Probe, key_hash: &[u8]) -> Result<String, Failure> {
    ref_transport::validate_server_chain(&p.chain, key_hash)
        .map_err(|e| Failure::new(format!("chain of {} certificates: {e}", p.chain.len())))?;
    Ok(format!("{} certificates", p.chain.len()))
}

/// The content of the first block (the server hello), unpadded.
///
/// # Errors
/// Not a whole block, or bad padding, with the bytes.
pub fn hello_content(p: &Probe) -> Result<&[u8], Failure> {
    if !p.whole_block {
        return Err(Failure::with_bytes(
            format!("the server hello is not a whole block ({} bytes came)", p.first_block.len()),
            p.first_block.clone(),
        ));
    }
    smp_proto::block::unpad(&p.first_block)
        .map_err(|e| Failure::with_bytes(format!("the server hello block does not unpad: {e}"), p.first_block.clone()))
}
