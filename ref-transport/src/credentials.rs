//! Server credentials: the offline CA (identity) certificate, the online server certificate it
//! signs, and their PEM files.
//!
//! ```text
//! ca.crt      self-signed Ed25519 CA, basicConstraints critical CA:true   (identity)
//! ca.key      its PKCS#8 private key (offline: not needed to run the server)
//! server.crt  Ed25519 leaf signed by the CA, CA:false, serverAuth         (TLS, online)
//! server.key  its PKCS#8 private key
//! fingerprint base64url SHA-256 of the CA certificate DER (the server's key hash)
//! ```
//!
//! The file names and extensions follow the reference's `createServerX509` (which defaults to
//! Ed448; here both keys are Ed25519, the only signature algorithm the codecs verify).

use std::fs;
use std::io::Write as _;
use std::path::Path;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use smp_proto::crypto::Certificate;
use smp_proto::server::KeyHash;

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
    /// The CA private key (Ed25519).
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
    /// Generates a self-signed Ed25519 CA certificate (`CN = common_name, O = SimpleX`).
    ///
    /// # Errors
    /// [`Error::OpenSsl`].
    pub fn generate(common_name: &str) -> Result<Self, Error> {
        let key = PKey::generate_ed25519()?;
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

    /// Issues a new online server certificate (`CN = common_name`) with a fresh Ed25519 key.
    ///
    /// # Errors
    /// [`Error::OpenSsl`].
    pub fn issue_server(&self, common_name: &str) -> Result<ServerCredentials, Error> {
        let key = PKey::generate_ed25519()?;
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
    if key.id() != Id::ED25519 {
        return Err(Error::Credentials(format!(
            "{}: only Ed25519 keys are supported",
            path.display()
        )));
    }
    Ok(key)
}

impl ServerCredentials {
    /// Generates a CA and a server certificate signed by it.
    ///
    /// # Errors
    /// [`Error::OpenSsl`].
    pub fn generate(common_name: &str) -> Result<(CaCredentials, Self), Error> {
        let ca = CaCredentials::generate("SMP server CA")?;
        let server = ca.issue_server(common_name)?;
        Ok((ca, server))
    }

    /// Creates all files of a new server identity in `dir` (`ntf-server init`): the CA, the
    /// server certificate, their keys and the fingerprint file.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::OpenSsl`].
    pub fn init_dir(dir: &Path, common_name: &str) -> Result<(CaCredentials, Self), Error> {
        fs::create_dir_all(dir)?;
        let (ca, server) = Self::generate(common_name)?;
        ca.save(dir)?;
        server.save(dir)?;
        Ok((ca, server))
    }

    /// Assembles credentials from certificates and a key.
    ///
    /// # Errors
    /// [`Error::Credentials`] when the key is not Ed25519, does not match the certificate, or
    /// the certificate is not signed by the CA.
    pub fn new(ca_cert: X509, cert: X509, key: PKey<Private>) -> Result<Self, Error> {
        if key.id() != Id::ED25519 {
            return Err(Error::Credentials("server key must be Ed25519".into()));
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

    /// The Ed25519 seed of the online key, which signs the handshake's session key.
    ///
    /// # Errors
    /// [`Error::OpenSsl`] or [`Error::Credentials`] when the key is not a 32-byte Ed25519 key.
    pub fn signing_seed(&self) -> Result<[u8; 32], Error> {
        self.key
            .raw_private_key()?
            .try_into()
            .map_err(|_| Error::Credentials("server key is not Ed25519".into()))
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
        let (ca, server) = ServerCredentials::init_dir(dir.path(), "localhost").unwrap();
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
        let seed = server.signing_seed().unwrap();
        assert_eq!(
            chain[0].public_key().unwrap().raw(),
            &smp_proto::crypto::ed25519_public(&seed)[..]
        );
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
