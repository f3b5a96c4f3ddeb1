//! The NTF suite: a notification server's TLS profile and identity, its handshake at each
//! version, each command's success and error answers, batching, X25519 authenticators, and
//! the verification push end to end through the checker's mock APNS.
//!
//! The rules are those of the reference (simplexmq 6.5.5.0); each case names the function it
//! comes from. Tokens use the `AT` provider (APNS test) with random device tokens, so the
//! pushes go to the mock when the server's `[apns_test]` points at it. Subscriptions name a
//! relay that does not exist (`127.0.0.1:1`), so no relay is needed; every token the suite
//! makes is deleted by the case that made it.

use std::net::SocketAddr;
use std::time::Duration;

use ntf_proto::command::{NewNtfSubscription, NewNtfToken, NtfCommand, NtfEntityId};
use ntf_proto::queue::SmpQueueNtf;
use ntf_proto::response::NtfResponse;
use ntf_proto::token::{DeviceToken, NtfRegCode, NtfTknStatus, PushProvider};
use ntf_proto::version::{self, Version};
use ref_client::client::{ClientError, NtfClient, NtfClientConfig, Reply};
use ref_client::device::{Device, DevicePush};
use ref_transport::random_array;
use smp_proto::crypto::{ed25519_public, x25519_public};
use smp_proto::error_type::{CommandError, ErrorType};
use smp_proto::keys::{AuthPrivateKey, AuthPublicKey, PrivateKey, PublicKey, X25519PublicKey};
use smp_proto::server::{KeyHash, SmpServer, TransportHost};

use crate::apns::MockApns;
use crate::probe::{check_alpn, check_chain, check_profile, first_bytes, hello_content, probe, Probe};
use crate::{hex, Case, CaseResult, Failure};

/// The server under test and what the cases need.
pub struct NtfEnv {
    /// The server's socket address.
    pub addr: SocketAddr,
    /// Its identity (the key hash of its address).
    pub key_hash: KeyHash,
    /// The limit of each step (a connection, a command, a push).
    pub timeout: Duration,
    /// The mock APNS the server pushes to (`AT` tokens), when running.
    pub mock: Option<MockApns>,
}

/// A case from its id, rule, reference function (and `push` when it needs the mock APNS) and
/// its async function of the environment.
#[macro_export]
macro_rules! case {
    ($id:expr, $rule:literal, $reference:literal, $f:ident) => {
        $crate::Case { id: $id.to_string(), rule: $rule, reference: $reference, needs_push: false, run: Box::new(|e| Box::pin($f(e))) }
    };
    ($id:expr, $rule:literal, $reference:literal, push, $f:ident) => {
        $crate::Case { id: $id.to_string(), rule: $rule, reference: $reference, needs_push: true, run: Box::new(|e| Box::pin($f(e))) }
    };
}

/// The suite, in order.
pub fn suite() -> Vec<Case<NtfEnv>> {
    vec![
        case!("ntf.tls.profile", "offered TLS 1.2-1.3 and every cipher, the server picks TLS 1.3 with TLS_CHACHA20_POLY1305_SHA256", "Simplex.Messaging.Transport.defaultSupportedParams", tls_profile),
        case!("ntf.tls.alpn", "the server selects ALPN ntf/1 when the client offers it", "Simplex.Messaging.Notifications.Transport.alpnSupportedNTFHandshakes", tls_alpn),
        case!("ntf.tls.chain", "the server's chain is 2-4 certificates whose identity certificate's SHA-256 is the address's key hash", "Simplex.Messaging.Transport.Client.validateCertificateChain", tls_chain),
        case!("ntf.tls.unique", "the server hello's session id is tls-unique of the connection (the client's Finished)", "Simplex.Messaging.Notifications.Transport.ntfClientHandshake (sessionId check), Transport.withTlsUnique", tls_unique),
        case!("ntf.hs.range", "with ALPN the server offers NTF 1-3 and a session key signed by its certificate key", "Simplex.Messaging.Notifications.Transport.ntfServerHandshake, supportedServerNTFVRange", hs_range),
        case!("ntf.hs.no-alpn", "without ALPN the server offers only NTF 1, and a client gets version 1", "Simplex.Messaging.Notifications.Transport.legacyServerNTFVRange", hs_no_alpn),
        case!("ntf.hs.v1", "a client offering NTF 1 only agrees on version 1 and is served", "Simplex.Messaging.Notifications.Transport.ntfServerHandshake (compatibleVRange)", hs_v1),
        case!("ntf.hs.v2", "a client offering NTF 1-2 agrees on version 2 and is served", "Simplex.Messaging.Notifications.Transport.ntfServerHandshake (compatibleVRange)", hs_v2),
        case!("ntf.hs.v3", "a client offering NTF 1-3 agrees on version 3 and is served", "Simplex.Messaging.Notifications.Transport.ntfServerHandshake (compatibleVRange)", hs_v3),
        case!("ntf.cmd.ping", "PING without authorization or entity -> PONG with an empty entity id", "Simplex.Messaging.Notifications.Server.client (NtfReqPing)", cmd_ping),
        case!("ntf.cmd.ping.auth", "PING with an authorization -> ERR CMD HAS_AUTH", "Simplex.Messaging.Notifications.Protocol.checkCredentials (PING)", cmd_ping_auth),
        case!("ntf.cmd.ping.entity", "PING with an entity id -> ERR CMD HAS_AUTH", "Simplex.Messaging.Notifications.Protocol.checkCredentials (PING)", cmd_ping_entity),
        case!("ntf.cmd.unknown", "an unknown command tag -> ERR CMD UNKNOWN", "Simplex.Messaging.Protocol.tDecodeParseValidate (NtfCmdTag)", cmd_unknown),
        case!("ntf.cmd.syntax", "a known tag whose fields do not parse (TCRN with one byte) -> ERR CMD SYNTAX", "Simplex.Messaging.Protocol.tDecodeParseValidate (protocolP)", cmd_syntax),
        case!("ntf.cmd.tnew", "TNEW -> IDTKN with a token id and the server's X25519 key", "Simplex.Messaging.Notifications.Server.client (NtfReqNew TNEW)", cmd_tnew),
        case!("ntf.cmd.tnew.no-auth", "TNEW without authorization -> ERR CMD NO_AUTH", "Simplex.Messaging.Notifications.Protocol.checkCredentials (sigNoEntity)", cmd_tnew_no_auth),
        case!("ntf.cmd.tnew.entity", "TNEW with an entity id -> ERR CMD HAS_AUTH", "Simplex.Messaging.Notifications.Protocol.checkCredentials (sigNoEntity)", cmd_tnew_entity),
        case!("ntf.cmd.tnew.wrong-key", "TNEW signed with a key other than its verify key -> ERR AUTH", "Simplex.Messaging.Notifications.Server.verifyNtfTransmission (TNEW)", cmd_tnew_wrong_key),
        case!("ntf.cmd.tnew.repeat", "TNEW again with the same token, key and DH key -> the same token id and server key", "Simplex.Messaging.Notifications.Server.client (TNEW registered token)", cmd_tnew_repeat),
        case!("ntf.cmd.tnew.repeat-dh", "TNEW again with the same token and key but another DH key -> ERR AUTH", "Simplex.Messaging.Notifications.Server.client (TNEW: tknDhSecret /= dhSecret)", cmd_tnew_repeat_dh),
        case!("ntf.cmd.tchk", "TCHK of a new token -> TKN REGISTERED or CONFIRMED", "Simplex.Messaging.Notifications.Server.client (TCHK)", cmd_tchk),
        case!("ntf.cmd.tchk.wrong-key", "TCHK signed with another key than the token's -> ERR AUTH", "Simplex.Messaging.Notifications.Server.verifyNtfTransmission (verifyToken)", cmd_tchk_wrong_key),
        case!("ntf.cmd.tchk.unknown", "TCHK of a token id the server does not know -> ERR AUTH", "Simplex.Messaging.Notifications.Server.verifyNtfTransmission (err AUTH, dummyVerifyCmd)", cmd_tchk_unknown),
        case!("ntf.cmd.tchk.no-auth", "TCHK without authorization -> ERR CMD NO_AUTH", "Simplex.Messaging.Notifications.Protocol.checkCredentials", cmd_tchk_no_auth),
        case!("ntf.cmd.tchk.no-entity", "TCHK without an entity id -> ERR CMD NO_AUTH", "Simplex.Messaging.Notifications.Protocol.checkCredentials", cmd_tchk_no_entity),
        case!("ntf.cmd.tvfy.wrong-code", "TVFY with a wrong code -> ERR AUTH", "Simplex.Messaging.Notifications.Server.client (TVFY)", cmd_tvfy_wrong_code),
        case!("ntf.cmd.tcrn.bounds", "TCRN 0, 20 and 65535 -> OK; TCRN 1 and 19 -> ERR QUOTA", "Simplex.Messaging.Notifications.Server.client (TCRN)", cmd_tcrn_bounds),
        case!("ntf.cmd.snew.unverified", "SNEW for a token that is not verified -> ERR AUTH", "Simplex.Messaging.Notifications.Server.Store.Postgres.findNtfSubscription (allowNtfSubCommands)", cmd_snew_unverified),
        case!("ntf.cmd.snew.unknown-token", "SNEW naming a token the server does not know -> ERR AUTH", "Simplex.Messaging.Notifications.Server.verifyNtfTransmission (SNEW)", cmd_snew_unknown_token),
        case!("ntf.cmd.schk.unknown", "SCHK of a subscription id the server does not know -> ERR AUTH", "Simplex.Messaging.Notifications.Server.verifyNtfTransmission (getNtfSubscription)", cmd_schk_unknown),
        case!("ntf.cmd.tdel", "TDEL -> OK; then TCHK and TDEL of the token -> ERR AUTH", "Simplex.Messaging.Notifications.Server.client (TDEL)", cmd_tdel),
        case!("ntf.batch", "from v2 several transmissions in one block are each answered, by correlation id", "Simplex.Messaging.Notifications.Server.receive (tGetServer), Transport.batchTransmissions", batch),
        case!("ntf.batch.v1", "at v1 each transmission travels in its own block and is answered", "Simplex.Messaging.Transport.tPut (no batching before authBatchCmdsNTFVersion)", batch_v1),
        case!("ntf.auth.x25519", "a token with an X25519 verify key: commands authorized by crypto_box authenticators with the server's session key are accepted", "Simplex.Messaging.Protocol.verifyCmdAuthorization (TAAuthenticator)", auth_x25519),
        case!("ntf.auth.x25519.wrong", "an authenticator made with another X25519 key than the token's -> ERR AUTH", "Simplex.Messaging.Protocol.verifyCmdAuthorization (TAAuthenticator)", auth_x25519_wrong),
        case!("ntf.push.verification", "TNEW sends a verification push to the device token; the device decrypts the registration code with its DH secret", "Simplex.Messaging.Notifications.Server.client (pushNotification PNVerification), Push.APNS.apnsNotification", push, push_verification),
        case!("ntf.cmd.tvfy", "TVFY with the pushed code -> OK and TCHK -> ACTIVE; TVFY again -> OK", "Simplex.Messaging.Notifications.Server.client (TVFY, setTokenActive)", push, cmd_tvfy),
        case!("ntf.cmd.trpl", "TRPL -> OK, a new verification push to the new device token, TCHK -> REGISTERED/CONFIRMED, TVFY with the new code -> OK", "Simplex.Messaging.Notifications.Server.client (TRPL)", push, cmd_trpl),
        case!("ntf.cmd.snew", "SNEW on an active token -> IDSUB; SCHK -> SUB with a status", "Simplex.Messaging.Notifications.Server.client (NtfReqNew SNEW, SCHK)", push, cmd_snew),
        case!("ntf.cmd.snew.repeat", "SNEW again for the same queue and notifier key -> the same id; with another notifier key -> ERR AUTH", "Simplex.Messaging.Notifications.Server.client (SNEW existing subscription)", push, cmd_snew_repeat),
        case!("ntf.cmd.snew.wrong-key", "SNEW signed with another key than the token's -> ERR AUTH", "Simplex.Messaging.Notifications.Server.verifyNtfTransmission (verifyToken)", push, cmd_snew_wrong_key),
        case!("ntf.cmd.sdel", "SDEL -> OK; then SCHK and SDEL of the subscription -> ERR AUTH", "Simplex.Messaging.Notifications.Server.client (SDEL)", push, cmd_sdel),
        case!("ntf.cmd.tdel.subs", "TDEL deletes the token's subscriptions: their SCHK -> ERR AUTH", "Simplex.Messaging.Notifications.Server.client (TDEL, deleteNtfToken)", push, cmd_tdel_subs),
    ]
}

// ---- helpers ----

/// A client of the server at versions `lo..=hi`; when the connection fails, what the server
/// sent after TLS.
async fn connect_with(env: &NtfEnv, lo: u16, hi: u16, alpn: bool) -> Result<NtfClient, Failure> {
    let mut cfg = NtfClientConfig::with_versions(lo, hi).ok_or_else(|| Failure::new("bad version range"))?;
    cfg.alpn = alpn;
    cfg.timeout = env.timeout;
    match NtfClient::connect_addr(env.addr, &env.key_hash, &cfg).await {
        Ok(c) => Ok(c),
        Err(e) => {
            let alpn = alpn.then_some(version::ALPN);
            let seen = first_bytes(env.addr, alpn, version::BLOCK_SIZE, env.timeout).await;
            Err(Failure { message: format!("connection at NTF {lo}-{hi}: {e}; {}", seen.message), seen: seen.seen })
        }
    }
}

pub(crate) async fn connect(env: &NtfEnv) -> Result<NtfClient, Failure> {
    connect_with(env, 1, 3, true).await
}

/// A registration as an app makes it: keys and a random `AT` device token.
pub(crate) struct Reg {
    pub(crate) key: AuthPrivateKey,
    public: PublicKey,
    pub(crate) dh_private: [u8; 32],
    pub(crate) token: DeviceToken,
}

impl Reg {
    fn new(ed25519: bool) -> Result<Self, Failure> {
        let seed = random_array::<32>()?;
        let (key, public) = if ed25519 {
            (PrivateKey::Ed25519(seed), PublicKey::Ed25519(ed25519_public(&seed)))
        } else {
            (PrivateKey::X25519(seed), PublicKey::X25519(x25519_public(&seed)))
        };
        Ok(Self {
            key: AuthPrivateKey::new(key).ok_or_else(|| Failure::new("key"))?,
            public,
            dh_private: random_array::<32>()?,
            token: random_token()?,
        })
    }

    fn new_token(&self) -> Result<NewNtfToken, Failure> {
        Ok(NewNtfToken {
            token: self.token.clone(),
            verify_key: AuthPublicKey::new(self.public).ok_or_else(|| Failure::new("key"))?,
            dh_key: X25519PublicKey(x25519_public(&self.dh_private)),
        })
    }
}

fn random_token() -> Result<DeviceToken, Failure> {
    let text = hex(&random_array::<32>()?);
    DeviceToken::new(PushProvider::ApnsTest, text.into_bytes()).ok_or_else(|| Failure::new("token"))
}

fn token_text(t: &DeviceToken) -> String {
    String::from_utf8_lossy(t.apns_token().unwrap_or_default()).into_owned()
}

pub(crate) fn ed25519_key() -> Result<AuthPrivateKey, Failure> {
    AuthPrivateKey::new(PrivateKey::Ed25519(random_array::<32>()?)).ok_or_else(|| Failure::new("key"))
}

fn random_id() -> Result<NtfEntityId, Failure> {
    NtfEntityId::new(random_array::<24>()?.to_vec()).ok_or_else(|| Failure::new("id"))
}

/// A reply described for a failure line (and the bytes when it did not decode).
fn describe<T: std::fmt::Debug>(r: &Result<T, ClientError>) -> String {
    match r {
        Ok(v) => format!("{v:?}"),
        Err(ClientError::Server(e)) => format!("ERR {e}"),
        Err(e) => e.to_string(),
    }
}

/// `what` must have failed with `ERR want`.
pub(crate) fn expect_err<T: std::fmt::Debug>(what: &str, r: Result<T, ClientError>, want: ErrorType) -> Result<(), Failure> {
    match &r {
        Err(ClientError::Server(e)) if *e == want => Ok(()),
        _ => Err(Failure::new(format!("{what}: expected ERR {want}, got {}", describe(&r)))),
    }
}

/// A step that must succeed.
pub(crate) fn ok<T>(what: &str, r: Result<T, ClientError>) -> Result<T, Failure> {
    r.map_err(|e| match e {
        ClientError::Server(e) => Failure::new(format!("{what}: got ERR {e}")),
        e => Failure::new(format!("{what}: {e}")),
    })
}

/// Sends one transmission as given (any key, entity and command bytes) and returns the reply.
async fn raw(c: &NtfClient, key: Option<&AuthPrivateKey>, entity: &[u8], command: &[u8]) -> Result<Reply, Failure> {
    let t = ok("encode", c.encode_transmission(key, entity, command))?;
    let mut rs = ok("send", c.send_raw(vec![t]).await)?;
    ok("reply", rs.pop().unwrap_or(Err(ClientError::Closed)))
}

/// The reply must be `ERR want` with the command's entity id.
fn expect_reply_err(what: &str, reply: &Reply, entity: &[u8], want: ErrorType) -> Result<(), Failure> {
    match &reply.response {
        Ok(NtfResponse::Err(e)) if *e == want => {
            if reply.entity_id == entity {
                Ok(())
            } else {
                Err(Failure::new(format!("{what}: ERR {e} with entity id {} (expected {})", hex(&reply.entity_id), hex(entity))))
            }
        }
        Ok(r) => Err(Failure::new(format!("{what}: expected ERR {want}, got {r:?}"))),
        Err(e) => Err(Failure::new(format!("{what}: expected ERR {want}, got an undecodable reply: {e}"))),
    }
}

/// Registers `reg`: the token id and the server's DH key.
async fn register(c: &NtfClient, reg: &Reg) -> Result<(NtfEntityId, X25519PublicKey), Failure> {
    ok("TNEW", c.tnew(&reg.key, reg.new_token()?).await)
}

fn mock(env: &NtfEnv) -> Result<&MockApns, Failure> {
    env.mock.as_ref().ok_or_else(|| Failure::new("no mock APNS"))
}

/// The next push to `token`, decrypted as the device would with the secret of `reg`'s DH key
/// and the server's.
pub(crate) async fn next_push(env: &NtfEnv, reg: &Reg, token: &DeviceToken, server_dh: &X25519PublicKey) -> Result<DevicePush, Failure> {
    let text = token_text(token);
    let push = tokio::time::timeout(env.timeout, mock(env)?.next_push_for(&text))
        .await
        .map_err(|_| Failure::new(format!("no push to the mock APNS for token {}... within {:?}", &text[..8], env.timeout)))?;
    let device = Device::from_idtkn(&reg.dh_private, &PublicKey::X25519(server_dh.0))
        .map_err(|e| Failure::new(format!("device key: {e}")))?;
    device
        .receive(&push.body)
        .map_err(|e| Failure::with_bytes(format!("the push does not decrypt as a device would: {e}"), push.body.clone()))
}

async fn verification_code(env: &NtfEnv, reg: &Reg, token: &DeviceToken, server_dh: &X25519PublicKey) -> Result<NtfRegCode, Failure> {
    match next_push(env, reg, token, server_dh).await? {
        DevicePush::Verification(code) => Ok(code),
        other => Err(Failure::new(format!("expected a verification push, got {other:?}"))),
    }
}

/// A registered and verified (ACTIVE) token, and the server's DH key for it.
pub(crate) async fn active_token_dh(env: &NtfEnv, c: &NtfClient) -> Result<(Reg, NtfEntityId, X25519PublicKey), Failure> {
    let reg = Reg::new(true)?;
    let (id, server_dh) = register(c, &reg).await?;
    let verified = async {
        let code = verification_code(env, &reg, &reg.token, &server_dh).await?;
        ok("TVFY with the pushed code", c.tvfy(&reg.key, &id, code).await)
    }
    .await;
    if let Err(f) = verified {
        cleanup(c, &reg, &id).await;
        return Err(f);
    }
    Ok((reg, id, server_dh))
}

/// A registered and verified (ACTIVE) token.
async fn active_token(env: &NtfEnv, c: &NtfClient) -> Result<(Reg, NtfEntityId), Failure> {
    active_token_dh(env, c).await.map(|(r, i, _)| (r, i))
}

/// A subscription request for a queue on a relay that does not exist.
fn new_sub(token_id: &NtfEntityId, notifier_key: &AuthPrivateKey) -> Result<NewNtfSubscription, Failure> {
    let relay = SmpServer::new(vec![TransportHost::Ipv4([127, 0, 0, 1])], "1", KeyHash::from(random_array::<32>()?))
        .ok_or_else(|| Failure::new("relay address"))?;
    Ok(NewNtfSubscription {
        token_id: token_id.clone(),
        queue: SmpQueueNtf::new(relay, random_array::<24>()?.to_vec()).ok_or_else(|| Failure::new("queue"))?,
        notifier_key: notifier_key.clone(),
    })
}

/// Deletes a token the case made (its failure does not fail the case).
pub(crate) async fn cleanup(c: &NtfClient, reg: &Reg, id: &NtfEntityId) {
    let _ = c.tdel(&reg.key, id).await;
}

// ---- TLS and handshake ----

async fn ntf_probe(env: &NtfEnv, alpn: bool) -> Result<Probe, Failure> {
    probe(env.addr, alpn.then_some(version::ALPN), version::BLOCK_SIZE, env.timeout).await
}

async fn tls_profile(env: &NtfEnv) -> CaseResult {
    check_profile(&ntf_probe(env, true).await?)
}

async fn tls_alpn(env: &NtfEnv) -> CaseResult {
    check_alpn(&ntf_probe(env, true).await?, version::ALPN)
}

async fn tls_chain(env: &NtfEnv) -> CaseResult {
    check_chain(&ntf_probe(env, true).await?, env.key_hash.as_bytes())
}

/// The server hello of a probe, parsed.
fn server_hello(p: &Probe) -> Result<ntf_proto::handshake::NtfServerHello, Failure> {
    let content = hello_content(p)?;
    ntf_proto::handshake::NtfServerHello::parse(content)
        .map_err(|e| Failure::with_bytes(format!("the server hello does not parse: {e}"), content.to_vec()))
}

async fn tls_unique(env: &NtfEnv) -> CaseResult {
    let p = ntf_probe(env, true).await?;
    let hello = server_hello(&p)?;
    if hello.session_id != p.tls_unique {
        return Err(Failure::new(format!("session id {} but tls-unique is {}", hex(&hello.session_id), hex(&p.tls_unique))));
    }
    Ok(format!("{} bytes", p.tls_unique.len()))
}

async fn hs_range(env: &NtfEnv) -> CaseResult {
    let p = ntf_probe(env, true).await?;
    let hello = server_hello(&p)?;
    let r = hello.version_range;
    if (r.min(), r.max()) != (Version(1), Version(3)) {
        return Err(Failure::new(format!("offers NTF {}-{}", r.min().0, r.max().0)));
    }
    if hello.signed_key.is_none() {
        return Err(Failure::new("no session key in the server hello"));
    }
    // the key's signature is checked by the client's handshake
    let c = connect_with(env, 1, 3, true).await?;
    if c.server_key().is_none() {
        return Err(Failure::new("the client did not get a verified session key"));
    }
    Ok("1-3, signed key".into())
}

async fn hs_no_alpn(env: &NtfEnv) -> CaseResult {
    let p = ntf_probe(env, false).await?;
    let hello = server_hello(&p)?;
    let r = hello.version_range;
    if (r.min(), r.max()) != (Version(1), Version(1)) {
        return Err(Failure::new(format!("without ALPN offers NTF {}-{}", r.min().0, r.max().0)));
    }
    let c = connect_with(env, 1, 3, false).await?;
    if c.version() != Version(1) {
        return Err(Failure::new(format!("agreed on version {}", c.version().0)));
    }
    ok("PING at v1", c.ping().await)?;
    Ok("v1".into())
}

async fn hs_version(env: &NtfEnv, v: u16) -> CaseResult {
    let c = connect_with(env, 1, v, true).await?;
    if c.version() != Version(v) {
        return Err(Failure::new(format!("agreed on version {}", c.version().0)));
    }
    ok("PING", c.ping().await)?;
    Ok(format!("session id {} bytes", c.session_id().len()))
}

async fn hs_v1(env: &NtfEnv) -> CaseResult {
    hs_version(env, 1).await
}

async fn hs_v2(env: &NtfEnv) -> CaseResult {
    hs_version(env, 2).await
}

async fn hs_v3(env: &NtfEnv) -> CaseResult {
    hs_version(env, 3).await
}

// ---- commands ----

async fn cmd_ping(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reply = raw(&c, None, b"", b"PING").await?;
    match (&reply.response, reply.entity_id.is_empty()) {
        (Ok(NtfResponse::Pong), true) => Ok("PONG".into()),
        (r, _) => Err(Failure::new(format!("got {r:?} with entity id {}", hex(&reply.entity_id)))),
    }
}

async fn cmd_ping_auth(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reply = raw(&c, Some(&ed25519_key()?), b"", b"PING").await?;
    expect_reply_err("signed PING", &reply, b"", ErrorType::Cmd(CommandError::HasAuth))?;
    Ok("ERR CMD HAS_AUTH".into())
}

async fn cmd_ping_entity(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let id = random_id()?;
    let reply = raw(&c, None, id.as_bytes(), b"PING").await?;
    expect_reply_err("PING with an entity id", &reply, id.as_bytes(), ErrorType::Cmd(CommandError::HasAuth))?;
    Ok("ERR CMD HAS_AUTH".into())
}

async fn cmd_unknown(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let id = random_id()?;
    let reply = raw(&c, Some(&ed25519_key()?), id.as_bytes(), b"TXYZ").await?;
    expect_reply_err("TXYZ", &reply, id.as_bytes(), ErrorType::Cmd(CommandError::Unknown))?;
    Ok("ERR CMD UNKNOWN".into())
}

async fn cmd_syntax(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let id = random_id()?;
    let reply = raw(&c, Some(&ed25519_key()?), id.as_bytes(), b"TCRN \x00").await?;
    expect_reply_err("TCRN with one byte", &reply, id.as_bytes(), ErrorType::Cmd(CommandError::Syntax))?;
    Ok("ERR CMD SYNTAX".into())
}

async fn cmd_tnew(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let (id, _dh) = register(&c, &reg).await?;
    cleanup(&c, &reg, &id).await;
    Ok(format!("token id {} bytes", id.as_bytes().len()))
}

async fn cmd_tnew_no_auth(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let cmd = NtfCommand::Tnew(reg.new_token()?).to_bytes(c.version());
    let reply = raw(&c, None, b"", &cmd).await?;
    expect_reply_err("unsigned TNEW", &reply, b"", ErrorType::Cmd(CommandError::NoAuth))?;
    Ok("ERR CMD NO_AUTH".into())
}

async fn cmd_tnew_entity(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let id = random_id()?;
    let cmd = NtfCommand::Tnew(reg.new_token()?).to_bytes(c.version());
    let reply = raw(&c, Some(&reg.key), id.as_bytes(), &cmd).await?;
    expect_reply_err("TNEW with an entity id", &reply, id.as_bytes(), ErrorType::Cmd(CommandError::HasAuth))?;
    Ok("ERR CMD HAS_AUTH".into())
}

async fn cmd_tnew_wrong_key(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    expect_err("TNEW signed with another key", c.tnew(&ed25519_key()?, reg.new_token()?).await, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

async fn cmd_tnew_repeat(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let (id, dh) = register(&c, &reg).await?;
    let again = register(&c, &reg).await;
    cleanup(&c, &reg, &id).await;
    let (id2, dh2) = again?;
    if (id2.as_bytes(), dh2) != (id.as_bytes(), dh) {
        return Err(Failure::new(format!("first IDTKN {} {}, then {} {}", hex(id.as_bytes()), hex(&dh.0), hex(id2.as_bytes()), hex(&dh2.0))));
    }
    Ok("same id and key".into())
}

async fn cmd_tnew_repeat_dh(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let (id, _) = register(&c, &reg).await?;
    let mut t = reg.new_token()?;
    t.dh_key = X25519PublicKey(x25519_public(&random_array::<32>()?));
    let r = c.tnew(&reg.key, t).await;
    cleanup(&c, &reg, &id).await;
    expect_err("TNEW with another DH key", r, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

async fn cmd_tchk(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let (id, _) = register(&c, &reg).await?;
    let s = c.tchk(&reg.key, &id).await;
    cleanup(&c, &reg, &id).await;
    match ok("TCHK", s)? {
        s @ (NtfTknStatus::Registered | NtfTknStatus::Confirmed) => Ok(format!("TKN {s}")),
        s => Err(Failure::new(format!("TKN {s}"))),
    }
}

async fn cmd_tchk_wrong_key(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let (id, _) = register(&c, &reg).await?;
    let r = c.tchk(&ed25519_key()?, &id).await;
    cleanup(&c, &reg, &id).await;
    expect_err("TCHK signed with another key", r, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

async fn cmd_tchk_unknown(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    expect_err("TCHK of an unknown token", c.tchk(&ed25519_key()?, &random_id()?).await, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

async fn cmd_tchk_no_auth(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let (id, _) = register(&c, &reg).await?;
    let reply = raw(&c, None, id.as_bytes(), b"TCHK").await;
    cleanup(&c, &reg, &id).await;
    expect_reply_err("unsigned TCHK", &reply?, id.as_bytes(), ErrorType::Cmd(CommandError::NoAuth))?;
    Ok("ERR CMD NO_AUTH".into())
}

async fn cmd_tchk_no_entity(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reply = raw(&c, Some(&ed25519_key()?), b"", b"TCHK").await?;
    expect_reply_err("TCHK without entity", &reply, b"", ErrorType::Cmd(CommandError::NoAuth))?;
    Ok("ERR CMD NO_AUTH".into())
}

async fn cmd_tvfy_wrong_code(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let (id, _) = register(&c, &reg).await?;
    let code = NtfRegCode::new(random_array::<32>()?.to_vec()).ok_or_else(|| Failure::new("code"))?;
    let r = c.tvfy(&reg.key, &id, code).await;
    cleanup(&c, &reg, &id).await;
    expect_err("TVFY with a wrong code", r, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

async fn cmd_tcrn_bounds(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let (id, _) = register(&c, &reg).await?;
    let mut out = Ok("0, 20, 65535 OK; 1, 19 QUOTA".to_string());
    for (m, good) in [(0u16, true), (1, false), (19, false), (20, true), (65535, true), (0, true)] {
        let r = c.tcrn(&reg.key, &id, m).await;
        let step = if good { ok(&format!("TCRN {m}"), r).map(|_| ()) } else { expect_err(&format!("TCRN {m}"), r, ErrorType::Quota) };
        if let Err(f) = step {
            out = Err(f);
            break;
        }
    }
    cleanup(&c, &reg, &id).await;
    out
}

async fn cmd_snew_unverified(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let (id, _) = register(&c, &reg).await?;
    let r = c.snew(&reg.key, new_sub(&id, &ed25519_key()?)?).await;
    cleanup(&c, &reg, &id).await;
    expect_err("SNEW for a registered, not verified token", r, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

async fn cmd_snew_unknown_token(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let r = c.snew(&ed25519_key()?, new_sub(&random_id()?, &ed25519_key()?)?).await;
    expect_err("SNEW for an unknown token", r, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

async fn cmd_schk_unknown(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    expect_err("SCHK of an unknown subscription", c.schk(&ed25519_key()?, &random_id()?).await, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

async fn cmd_tdel(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let (id, _) = register(&c, &reg).await?;
    ok("TDEL", c.tdel(&reg.key, &id).await)?;
    expect_err("TCHK after TDEL", c.tchk(&reg.key, &id).await, ErrorType::Auth)?;
    expect_err("TDEL after TDEL", c.tdel(&reg.key, &id).await, ErrorType::Auth)?;
    Ok("OK, then ERR AUTH".into())
}

/// PING, TCHK, TCHK signed with another key, TCRN 20, PING: one batch (one block from v2).
async fn batch_at(env: &NtfEnv, v: u16) -> CaseResult {
    let c = connect_with(env, 1, v, true).await?;
    let reg = Reg::new(true)?;
    let (id, _) = register(&c, &reg).await?;
    let other = ed25519_key()?;
    let e = id.as_bytes();
    let cmds = [
        (None, &b""[..], NtfCommand::Ping),
        (Some(&reg.key), e, NtfCommand::Tchk),
        (Some(&other), e, NtfCommand::Tchk),
        (Some(&reg.key), e, NtfCommand::Tcrn(20)),
        (None, &b""[..], NtfCommand::Ping),
    ];
    let mut ts = Vec::new();
    for (k, ent, cmd) in &cmds {
        ts.push(ok("encode", c.encode_transmission(*k, ent, &cmd.to_bytes(c.version())))?);
    }
    let replies = c.send_raw(ts).await;
    cleanup(&c, &reg, &id).await;
    let replies = ok("batch", replies)?;
    let mut got = Vec::new();
    for (i, r) in replies.into_iter().enumerate() {
        let r = ok(&format!("item {i}"), r)?;
        got.push(r.response.map_err(|e| Failure::new(format!("item {i}: {e}")))?);
    }
    let fine = matches!(got.as_slice(), [
        NtfResponse::Pong,
        NtfResponse::Tkn(NtfTknStatus::Registered | NtfTknStatus::Confirmed),
        NtfResponse::Err(ErrorType::Auth),
        NtfResponse::Ok,
        NtfResponse::Pong
    ]);
    if !fine {
        return Err(Failure::new(format!("answers {got:?}")));
    }
    Ok(format!("5 answers at v{}", c.version().0))
}

async fn batch(env: &NtfEnv) -> CaseResult {
    batch_at(env, 3).await
}

async fn batch_v1(env: &NtfEnv) -> CaseResult {
    batch_at(env, 1).await
}

async fn auth_x25519(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(false)?;
    let (id, _) = register(&c, &reg).await?;
    let s = c.tchk(&reg.key, &id).await;
    let del = c.tdel(&reg.key, &id).await;
    ok("TCHK with an authenticator", s)?;
    ok("TDEL with an authenticator", del)?;
    Ok("TNEW, TCHK, TDEL".into())
}

async fn auth_x25519_wrong(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(false)?;
    let (id, _) = register(&c, &reg).await?;
    let other = AuthPrivateKey::new(PrivateKey::X25519(random_array::<32>()?)).ok_or_else(|| Failure::new("key"))?;
    let r = c.tchk(&other, &id).await;
    cleanup(&c, &reg, &id).await;
    expect_err("TCHK with another key's authenticator", r, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

// ---- with the mock APNS ----

async fn push_verification(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let (id, dh) = register(&c, &reg).await?;
    let code = verification_code(env, &reg, &reg.token, &dh).await;
    cleanup(&c, &reg, &id).await;
    Ok(format!("code of {} bytes", code?.as_bytes().len()))
}

async fn cmd_tvfy(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let reg = Reg::new(true)?;
    let (id, dh) = register(&c, &reg).await?;
    let r = async {
        let code = verification_code(env, &reg, &reg.token, &dh).await?;
        ok("TVFY", c.tvfy(&reg.key, &id, code.clone()).await)?;
        let s = ok("TCHK", c.tchk(&reg.key, &id).await)?;
        if s != NtfTknStatus::Active {
            return Err(Failure::new(format!("after TVFY: TKN {s}")));
        }
        ok("TVFY again", c.tvfy(&reg.key, &id, code).await)?;
        Ok("ACTIVE".to_string())
    }
    .await;
    cleanup(&c, &reg, &id).await;
    r
}

async fn cmd_trpl(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let (reg, id, dh) = active_token_dh(env, &c).await?;
    let r = async {
        let new_token = random_token()?;
        ok("TRPL", c.trpl(&reg.key, &id, new_token.clone()).await)?;
        let s = ok("TCHK after TRPL", c.tchk(&reg.key, &id).await)?;
        if !matches!(s, NtfTknStatus::Registered | NtfTknStatus::Confirmed) {
            return Err(Failure::new(format!("after TRPL: TKN {s}")));
        }
        // the token keeps its keys: the push is encrypted with the same DH secret
        let code = verification_code(env, &reg, &new_token, &dh).await?;
        ok("TVFY with the new code", c.tvfy(&reg.key, &id, code).await)?;
        Ok("new push, verified again".to_string())
    }
    .await;
    cleanup(&c, &reg, &id).await;
    r
}

async fn cmd_snew(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let (reg, id) = active_token(env, &c).await?;
    let r = async {
        let sub = ok("SNEW", c.snew(&reg.key, new_sub(&id, &ed25519_key()?)?).await)?;
        let s = ok("SCHK", c.schk(&reg.key, &sub).await)?;
        Ok(format!("SUB {s}"))
    }
    .await;
    cleanup(&c, &reg, &id).await;
    r
}

async fn cmd_snew_repeat(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let (reg, id) = active_token(env, &c).await?;
    let r = async {
        let nkey = ed25519_key()?;
        let req = new_sub(&id, &nkey)?;
        let sub = ok("SNEW", c.snew(&reg.key, req.clone()).await)?;
        let again = ok("SNEW again", c.snew(&reg.key, req.clone()).await)?;
        if again != sub {
            return Err(Failure::new(format!("IDSUB {} then {}", hex(sub.as_bytes()), hex(again.as_bytes()))));
        }
        let mut other = req;
        other.notifier_key = ed25519_key()?;
        expect_err("SNEW with another notifier key", c.snew(&reg.key, other).await, ErrorType::Auth)?;
        Ok("same id; ERR AUTH".to_string())
    }
    .await;
    cleanup(&c, &reg, &id).await;
    r
}

async fn cmd_snew_wrong_key(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let (reg, id) = active_token(env, &c).await?;
    let r = c.snew(&ed25519_key()?, new_sub(&id, &ed25519_key()?)?).await;
    cleanup(&c, &reg, &id).await;
    expect_err("SNEW signed with another key", r, ErrorType::Auth)?;
    Ok("ERR AUTH".into())
}

async fn cmd_sdel(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let (reg, id) = active_token(env, &c).await?;
    let r = async {
        let sub = ok("SNEW", c.snew(&reg.key, new_sub(&id, &ed25519_key()?)?).await)?;
        ok("SDEL", c.sdel(&reg.key, &sub).await)?;
        expect_err("SCHK after SDEL", c.schk(&reg.key, &sub).await, ErrorType::Auth)?;
        expect_err("SDEL after SDEL", c.sdel(&reg.key, &sub).await, ErrorType::Auth)?;
        Ok("OK, then ERR AUTH".to_string())
    }
    .await;
    cleanup(&c, &reg, &id).await;
    r
}

async fn cmd_tdel_subs(env: &NtfEnv) -> CaseResult {
    let c = connect(env).await?;
    let (reg, id) = active_token(env, &c).await?;
    let subs = async {
        let a = ok("SNEW", c.snew(&reg.key, new_sub(&id, &ed25519_key()?)?).await)?;
        let b = ok("SNEW", c.snew(&reg.key, new_sub(&id, &ed25519_key()?)?).await)?;
        Ok::<_, Failure>([a, b])
    }
    .await;
    let del = c.tdel(&reg.key, &id).await;
    let subs = subs?;
    ok("TDEL", del)?;
    for s in &subs {
        expect_err("SCHK after TDEL", c.schk(&reg.key, s).await, ErrorType::Auth)?;
    }
    Ok("2 subscriptions gone".into())
}
