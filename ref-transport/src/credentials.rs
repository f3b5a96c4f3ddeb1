//! Server credentials: the offline CA (identity) certificate, the online server certificate it
//! signs, and their PEM files.
//!
//! ```text
//! ca.crt      self-signed Ed448/Ed25519 CA, basicConstraints critical CA:true  (identity)
//! ca.key      its PKCS#8 private key (offline: not needed to run the server)
//! server.crt  Ed448/Ed25519 leaf signed by the CA, CA:false, serverAuth        (TLS, online)
//! server.key  its PKCS#8 private key; signs the handshakes' session keys
//! fingerprint base64url SHA-256 of the CA certificate DER (the server's key hash)
//! ```
//!
//! The file names, extensions and the algorithm choice follow the reference's
//! `createServerX509` and its `--sign-algorithm ED448|ED25519`: [`ServerCredentials::init_dir`]
//! takes a [`SignAlgorithm`], whose default is Ed448 as in the reference (`ntf-server init` and
//! `smp-server init` use it), so a directory made here looks like one made by the reference and
//! either can be loaded by the other. Both algorithms load, serve TLS (signature schemes ed448
//! and ed25519) and sign the session key ([`crate::signing::sign_key`]); the CA and the leaf
//! may differ. [`ServerCredentials::generate`] (in-process tests and demos) stays Ed25519,
//! which is faster and verifiable by the codecs alone.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use smp_proto::crypto::{Certificate, SignedKey};
use smp_proto::server::KeyHash;

use crate::signing::{sign_key, SignAlgorithm};
use crate::Error;

/// File name of the CA (identity) certificate.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the CA private key.
pub const CA_KEY_FILE: &str = "ca.key";
/// File name of the server (TLS leaf) certificate.
pub const SERVER_CERT_FILE: &str = "server.crt";
/// File name of the server private key.
pub const SERVER_KEY_FILE: &str = "server.key";
/// File name of the key hash (base64url), as the reference writes it.
pub const FINGERPRINT_FILE: &str = "fingerprint";

/// Validity of generated certificates in days (the reference's `-days 999999`).
const VALIDITY_DAYS: u32 = 999_999;

/// The offline CA: its self-signed certificate and private key.
pub struct CaCredentials {
    /// The CA certificate.
    pub cert: X509,
    /// The CA private key (Ed25519 or Ed448).
    pub key: PKey<Private>,
}

impl std::fmt::Debug for CaCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaCredentials(..)")
    }
}

/// What a running server needs: the CA certificate, the online certificate and its key.
#[derive(Clone)]
pub struct ServerCredentials {
    ca_cert: X509,
    cert: X509,
    key: PKey<Private>,
}

impl std::fmt::Debug for ServerCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerCredentials(key hash {})", self.key_hash())
    }
}

fn name(common_name: &str, org: Option<&str>) -> Result<openssl::x509::X509Name, Error> {
    let mut n = X509NameBuilder::new()?;
    n.append_entry_by_text("CN", common_name)?;
    if let Some(o) = org {
        n.append_entry_by_text("O", o)?;
    }
    Ok(n.build())
}

fn builder(
    subject: &openssl::x509::X509NameRef,
    key: &PKey<Private>,
) -> Result<X509Builder, Error> {
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(subject)?;
    b.set_pubkey(key)?;
    let not_before = Asn1Time::days_from_now(0)?;
    let not_after = Asn1Time::days_from_now(VALIDITY_DAYS)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    Ok(b)
}

impl CaCredentials {
    /// Generates a self-signed CA certificate (`CN = common_name, O = SimpleX`) with a new
    /// `alg` key.
    ///
    /// # Errors
    /// [`Error::OpenSsl`].
    pub fn generate(common_name: &str, alg: SignAlgorithm) -> Result<Self, Error> {
        let key = alg.generate()?;
        let subject = name(common_name, Some("SimpleX"))?;
        let mut b = builder(&subject, &key)?;
        b.set_issuer_name(&subject)?;
        let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
        b.append_extension(ski)?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(None, None))?;
        b.append_extension(aki)?;
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.sign(&key, MessageDigest::null())?;
        Ok(Self {
            cert: b.build(),
            key,
        })
    }

    /// The server identity: SHA-256 of the CA certificate DER.
    ///
    /// # Errors
    /// [`Error::OpenSsl`] when the certificate does not encode.
    pub fn key_hash(&self) -> Result<KeyHash, Error> {
        Ok(KeyHash::from(smp_proto::crypto::sha256(
            &self.cert.to_der()?,
        )))
    }

    /// Issues a new online server certificate (`CN = common_name`) with a fresh `alg` key.
    ///
    /// # Errors
    /// [`Error::OpenSsl`].
    pub fn issue_server(
        &self,
        common_name: &str,
        alg: SignAlgorithm,
    ) -> Result<ServerCredentials, Error> {
        let key = alg.generate()?;
        let subject = name(common_name, None)?;
        let mut b = builder(&subject, &key)?;
        b.set_issuer_name(self.cert.subject_name())?;
        b.append_extension(BasicConstraints::new().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .digital_signature()
                .non_repudiation()
                .key_agreement()
                .build()?,
        )?;
        b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
        b.sign(&self.key, MessageDigest::null())?;
        Ok(ServerCredentials {
            ca_cert: self.cert.clone(),
            cert: b.build(),
            key,
        })
    }

    /// Writes `ca.crt` and `ca.key` (mode 0600) into `dir`.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::OpenSsl`].
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        fs::write(dir.join(CA_CERT_FILE), self.cert.to_pem()?)?;
        write_private(
            &dir.join(CA_KEY_FILE),
            &self.key.private_key_to_pem_pkcs8()?,
        )
    }

    /// Loads `ca.crt` and `ca.key` from `dir`.
    ///
    /// # Errors
    /// [`Error::Io`], or [`Error::Credentials`] for malformed files or a key that does not
    /// match the certificate.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let cert = read_cert(&dir.join(CA_CERT_FILE))?;
        let key = read_key(&dir.join(CA_KEY_FILE))?;
        if !cert.public_key()?.public_eq(&key) {
            return Err(Error::Credentials("ca.key does not match ca.crt".into()));
        }
        Ok(Self { cert, key })
    }
}

fn write_private(path: &Path, pem: &[u8]) -> Result<(), Error> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(pem)?;
    Ok(())
}

fn read_cert(path: &Path) -> Result<X509, Error> {
    let pem = fs::read(path)?;
    X509::from_pem(&pem)
        .map_err(|e| Error::Credentials(format!("{}: not a PEM certificate: {e}", path.display())))
}

fn read_key(path: &Path) -> Result<PKey<Private>, Error> {
    let pem = fs::read(path)?;
    let key = PKey::private_key_from_pem(&pem).map_err(|e| {
        Error::Credentials(format!("{}: not a PEM private key: {e}", path.display()))
    })?;
    if SignAlgorithm::of_key(&key).is_none() {
        return Err(Error::Credentials(format!(
            "{}: only Ed25519 and Ed448 keys are supported",
            path.display()
        )));
    }
    Ok(key)
}

impl ServerCredentials {
    /// Generates an Ed25519 CA and an Ed25519 server certificate signed by it (in-process
    /// servers of tests and demos; see [`ServerCredentials::generate_with`]).
    ///
    /// # Errors
    /// [`Error::OpenSsl`].
    pub fn generate(common_name: &str) -> Result<(CaCredentials, Self), Error> {
        Self::generate_with(common_name, SignAlgorithm::Ed25519)
    }

    /// Generates a CA and a server certificate signed by it, both with `alg` keys.
    ///
    /// # Errors
    /// [`Error::OpenSsl`].
    pub fn generate_with(
        common_name: &str,
        alg: SignAlgorithm,
    ) -> Result<(CaCredentials, Self), Error> {
        let ca = CaCredentials::generate("SMP server CA", alg)?;
        let server = ca.issue_server(common_name, alg)?;
        Ok((ca, server))
    }

    /// Creates all files of a new server identity in `dir` (`ntf-server init`, `smp-server
    /// init`): the CA, the server certificate, their `alg` keys and the fingerprint file.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::OpenSsl`].
    pub fn init_dir(
        dir: &Path,
        common_name: &str,
        alg: SignAlgorithm,
    ) -> Result<(CaCredentials, Self), Error> {
        fs::create_dir_all(dir)?;
        let (ca, server) = Self::generate_with(common_name, alg)?;
        ca.save(dir)?;
        server.save(dir)?;
        Ok((ca, server))
    }

    /// Assembles credentials from certificates and a key.
    ///
    /// # Errors
    /// [`Error::Credentials`] when the key is neither Ed25519 nor Ed448, does not match the
    /// certificate, or the certificate is not signed by the CA.
    pub fn new(ca_cert: X509, cert: X509, key: PKey<Private>) -> Result<Self, Error> {
        if SignAlgorithm::of_key(&key).is_none() {
            return Err(Error::Credentials(
                "server key must be Ed25519 or Ed448".into(),
            ));
        }
        if !cert.public_key()?.public_eq(&key) {
            return Err(Error::Credentials(
                "server key does not match the certificate".into(),
            ));
        }
        let ca_key = ca_cert.public_key()?;
        if !cert.verify(&ca_key)? {
            return Err(Error::Credentials(
                "server certificate is not signed by the CA".into(),
            ));
        }
        Ok(Self { ca_cert, cert, key })
    }

    /// Loads `ca.crt`, `server.crt` and `server.key` from `dir` (the CA key is not needed).
    ///
    /// # Errors
    /// [`Error::Io`] for missing files, [`Error::Credentials`] as [`ServerCredentials::new`].
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let ca_cert = read_cert(&dir.join(CA_CERT_FILE))?;
        let cert = read_cert(&dir.join(SERVER_CERT_FILE))?;
        let key = read_key(&dir.join(SERVER_KEY_FILE))?;
        Self::new(ca_cert, cert, key)
    }

    /// Writes `ca.crt`, `server.crt`, `server.key` (mode 0600) and `fingerprint` into `dir`.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::OpenSsl`].
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        fs::write(dir.join(CA_CERT_FILE), self.ca_cert.to_pem()?)?;
        fs::write(dir.join(SERVER_CERT_FILE), self.cert.to_pem()?)?;
        write_private(
            &dir.join(SERVER_KEY_FILE),
            &self.key.private_key_to_pem_pkcs8()?,
        )?;
        fs::write(dir.join(FINGERPRINT_FILE), format!("{}\n", self.key_hash()))?;
        Ok(())
    }

    /// The server identity: SHA-256 of the CA certificate DER (`smp://<key hash>@...`).
    pub fn key_hash(&self) -> KeyHash {
        // a parsed certificate always re-encodes
        let der = self.ca_cert.to_der().unwrap_or_default();
        KeyHash::from(smp_proto::crypto::sha256(&der))
    }

    /// The CA certificate.
    pub fn ca_cert(&self) -> &X509 {
        &self.ca_cert
    }

    /// The online (TLS leaf) certificate.
    pub fn cert(&self) -> &X509 {
        &self.cert
    }

    /// The online private key.
    pub fn key(&self) -> &PKey<Private> {
        &self.key
    }

    /// The algorithm of the online key.
    pub fn sign_algorithm(&self) -> SignAlgorithm {
        // checked when the credentials were made
        SignAlgorithm::of_key(&self.key).unwrap_or(SignAlgorithm::Ed25519)
    }

    /// Signs a handshake's session key with the online key (`signX509`), the signature the
    /// client checks against the TLS leaf certificate.
    ///
    /// # Errors
    /// [`Error::OpenSsl`] when signing fails.
    pub fn sign_key(&self, key: &smp_proto::keys::PublicKey) -> Result<SignedKey, Error> {
        sign_key(&self.key, key)
    }

    /// The chain the server presents (leaf, CA) in the codecs' form.
    ///
    /// # Errors
    /// [`Error::OpenSsl`], or [`Error::Credentials`] when a certificate does not parse.
    pub fn chain(&self) -> Result<Vec<Certificate>, Error> {
        [&self.cert, &self.ca_cert]
            .into_iter()
            .map(|c| {
                Certificate::from_der(&c.to_der()?)
                    .map_err(|_| Error::Credentials("certificate does not parse".into()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_save_load() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, server) =
            ServerCredentials::init_dir(dir.path(), "localhost", SignAlgorithm::Ed25519).unwrap();
        assert_eq!(ca.key_hash().unwrap(), server.key_hash());
        let loaded = ServerCredentials::load(dir.path()).unwrap();
        assert_eq!(loaded.key_hash(), server.key_hash());
        assert_eq!(
            loaded.cert().to_der().unwrap(),
            server.cert().to_der().unwrap()
        );
        let fp = fs::read_to_string(dir.path().join(FINGERPRINT_FILE)).unwrap();
        assert_eq!(fp.trim(), server.key_hash().to_string());
        let ca2 = CaCredentials::load(dir.path()).unwrap();
        assert_eq!(ca2.key_hash().unwrap(), server.key_hash());
        let chain = server.chain().unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(
            chain[1].fingerprint().to_vec(),
            server.key_hash().as_bytes()
        );
        // the leaf key signs what verifies against the leaf certificate's key
        let dh = smp_proto::keys::PublicKey::X25519([1; 32]);
        let sk = server.sign_key(&dh).unwrap();
        assert_eq!(sk.verify(&chain[0].public_key().unwrap()), Ok(dh));
    }

    #[test]
    fn ed448_credentials_like_the_reference() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, server) =
            ServerCredentials::init_dir(dir.path(), "localhost", SignAlgorithm::default()).unwrap();
        assert_eq!(server.sign_algorithm(), SignAlgorithm::Ed448);
        assert_eq!(ca.key.id(), openssl::pkey::Id::ED448);
        let loaded = ServerCredentials::load(dir.path()).unwrap();
        assert_eq!(loaded.key_hash(), server.key_hash());
        assert_eq!(loaded.sign_algorithm(), SignAlgorithm::Ed448);
        assert_eq!(
            CaCredentials::load(dir.path()).unwrap().key_hash().unwrap(),
            server.key_hash()
        );
        // certificates signed with Ed448 (1.3.101.113), keys parsed as Ed448 by the codecs
        let chain = loaded.chain().unwrap();
        for c in [loaded.cert(), loaded.ca_cert()] {
            let nid = c.signature_algorithm().object().nid();
            assert_eq!(nid.short_name().unwrap(), "ED448");
        }
        let leaf_key = chain[0].public_key().unwrap();
        assert_eq!(leaf_key.algorithm(), smp_proto::keys::KeyAlgorithm::Ed448);
        let dh = smp_proto::keys::PublicKey::X25519([2; 32]);
        let sk = loaded.sign_key(&dh).unwrap();
        assert_eq!(
            sk.verify_with(&leaf_key, &crate::signing::OpenSslVerifier),
            Ok(dh)
        );
        // a new leaf of the other algorithm under the same CA is accepted too
        let mixed = ca
            .issue_server("localhost", SignAlgorithm::Ed25519)
            .unwrap();
        assert_eq!(mixed.key_hash(), server.key_hash());
        assert_eq!(mixed.sign_algorithm(), SignAlgorithm::Ed25519);
    }

    /// Runs the openssl command line as the reference's `createServerX509` does; `false` when
    /// there is no `openssl` binary.
    fn reference_init(dir: &Path, alg: &str) -> bool {
        let ca_conf = "[req]\ndistinguished_name = dn\nprompt = no\n\n[dn]\nCN = SMP server CA\nO = SimpleX\n\n[v3]\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\nbasicConstraints = critical,CA:true\n";
        let srv_conf = "[req]\ndistinguished_name = dn\nprompt = no\n\n[dn]\nCN = localhost\n\n[v3]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature, nonRepudiation, keyAgreement\nextendedKeyUsage = serverAuth\n";
        fs::write(dir.join("ca.conf"), ca_conf).unwrap();
        fs::write(dir.join("server.conf"), srv_conf).unwrap();
        let cmds: [&[&str]; 5] = [
            &["genpkey", "-algorithm", alg, "-out", "ca.key"],
            &[
                "req",
                "-new",
                "-x509",
                "-days",
                "999999",
                "-config",
                "ca.conf",
                "-extensions",
                "v3",
                "-key",
                "ca.key",
                "-out",
                "ca.crt",
            ],
            &["genpkey", "-algorithm", alg, "-out", "server.key"],
            &[
                "req",
                "-new",
                "-config",
                "server.conf",
                "-reqexts",
                "v3",
                "-key",
                "server.key",
                "-out",
                "server.csr",
            ],
            &[
                "x509",
                "-req",
                "-days",
                "999999",
                "-extfile",
                "server.conf",
                "-extensions",
                "v3",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
            ],
        ];
        for args in cmds {
            match std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
            {
                Ok(o) => assert!(o.status.success(), "openssl {args:?}: {o:?}"),
                Err(_) => return false,
            }
        }
        true
    }

    #[test]
    fn loads_files_made_like_the_reference() {
        for alg in ["ED448", "ED25519"] {
            let dir = tempfile::tempdir().unwrap();
            if !reference_init(dir.path(), alg) {
                eprintln!("no openssl binary: skipped");
                return;
            }
            let loaded = ServerCredentials::load(dir.path()).unwrap();
            assert_eq!(loaded.sign_algorithm(), alg.parse().unwrap());
            let ca = CaCredentials::load(dir.path()).unwrap();
            assert_eq!(ca.key_hash().unwrap(), loaded.key_hash());
            let leaf_key = loaded.chain().unwrap()[0].public_key().unwrap();
            let dh = smp_proto::keys::PublicKey::X25519([3; 32]);
            let sk = loaded.sign_key(&dh).unwrap();
            assert_eq!(
                sk.verify_with(&leaf_key, &crate::signing::OpenSslVerifier),
                Ok(dh)
            );
        }
        // an X448 key (not a signature key) is refused
        let dir = tempfile::tempdir().unwrap();
        let (_, server) = ServerCredentials::generate("x").unwrap();
        server.save(dir.path()).unwrap();
        fs::write(
            dir.path().join(SERVER_KEY_FILE),
            PKey::generate_x448()
                .unwrap()
                .private_key_to_pem_pkcs8()
                .unwrap(),
        )
        .unwrap();
        assert!(matches!(
            ServerCredentials::load(dir.path()),
            Err(Error::Credentials(_))
        ));
    }

    #[test]
    fn rejects_foreign_certificate() {
        let (_, a) = ServerCredentials::generate("a").unwrap();
        let (_, b) = ServerCredentials::generate("b").unwrap();
        let e = ServerCredentials::new(a.ca_cert().clone(), b.cert().clone(), b.key().clone());
        assert!(matches!(e, Err(Error::Credentials(_))));
        let e = ServerCredentials::new(b.ca_cert().clone(), b.cert().clone(), a.key().clone());
        assert!(matches!(e, Err(Error::Credentials(_))));
    }
}
