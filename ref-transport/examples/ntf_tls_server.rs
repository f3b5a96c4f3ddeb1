//! A throwaway NTF TLS endpoint for manual checks (`openssl s_client`): generates credentials,
//! prints the server address, and runs the TLS and NTF handshakes for each connection.
//!
//! ```text
//! cargo run -p ref-transport --example ntf_tls_server -- 127.0.0.1:5223
//! openssl s_client -connect 127.0.0.1:5223 -tls1_3 -alpn ntf/1
//! ```

use ref_transport::{ntf_server_handshake, ServerCredentials, TlsServerConfig};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5223".into());
    let (_, creds) = ServerCredentials::generate("127.0.0.1")?;
    let cfg = TlsServerConfig::new(&creds, &[ntf_proto::version::ALPN])?;
    let l = TcpListener::bind(&addr).await?;
    println!("ntf://{}@{}", creds.key_hash(), l.local_addr()?);
    loop {
        let (tcp, peer) = l.accept().await?;
        let cfg = cfg.clone();
        tokio::spawn(async move {
            let r = async {
                let tls = cfg.accept(tcp).await?;
                println!(
                    "{peer}: tls ok, alpn {:?}",
                    tls.info.alpn.as_deref().map(String::from_utf8_lossy)
                );
                ntf_server_handshake(tls, &cfg, ntf_proto::version::SUPPORTED).await
            }
            .await;
            match r {
                Ok(s) => println!("{peer}: NTF v{}", s.agreement.version.0),
                Err(e) => println!("{peer}: {e}"),
            }
        });
    }
}
