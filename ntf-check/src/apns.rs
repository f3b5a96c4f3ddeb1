//! The checker's mock APNS: the `AT` (APNS test) provider of the server under test pushes to
//! it, and the checker reads the pushes as a device would. Its TLS identity is kept in a
//! directory, so the server is configured once: `[apns_test]` with the listen address and the
//! CA file `DIR/apns-ca.pem`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
pub use ref_server::apns::mock::MockApns;
use ref_server::apns::mock::{MockConfig, MockIdentity};

/// The file names in the identity directory.
const CA: &str = "apns-ca.pem";
const CERT: &str = "apns-cert.pem";
const KEY: &str = "apns-key.pem";

/// The CA file the server's `[apns_test]` must name.
pub fn ca_file(dir: &Path) -> PathBuf {
    dir.join(CA)
}

/// Loads the identity kept in `dir`, or makes one for `names` (valid 10 years) and writes it
/// there; returns it and whether it was made now.
///
/// # Errors
/// A file that cannot be read or written, or OpenSSL failing.
pub fn identity(dir: &Path, names: &[&str]) -> anyhow::Result<(MockIdentity, bool)> {
    let read = |f: &str| std::fs::read(dir.join(f));
    if let (Ok(ca_pem), Ok(cert_pem), Ok(key_pem)) = (read(CA), read(CERT), read(KEY)) {
        return Ok((MockIdentity { ca_pem, cert_pem, key_pem }, false));
    }
    let id = MockIdentity::generate(names, 3650).context("mock APNS certificate")?;
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    for (f, b) in [(CA, &id.ca_pem), (CERT, &id.cert_pem), (KEY, &id.key_pem)] {
        std::fs::write(dir.join(f), b).with_context(|| format!("{}", dir.join(f).display()))?;
    }
    Ok((id, true))
}

/// Starts the mock on `listen` with the identity kept in `dir` (made for `localhost`,
/// `127.0.0.1`, the listen address and `names` when there is none).
///
/// # Errors
/// As [`identity`], or the address cannot be bound.
pub async fn start(listen: SocketAddr, dir: &Path, names: &[String]) -> anyhow::Result<(MockApns, bool)> {
    let ip = listen.ip().to_string();
    let mut all: Vec<&str> = vec!["localhost", "127.0.0.1"];
    if !listen.ip().is_unspecified() {
        all.push(&ip);
    }
    all.extend(names.iter().map(String::as_str));
    let (id, made) = identity(dir, &all)?;
    let mock = MockApns::start_on(MockConfig::default(), listen, Some(&id))
        .await
        .with_context(|| format!("mock APNS on {listen}"))?;
    Ok((mock, made))
}
