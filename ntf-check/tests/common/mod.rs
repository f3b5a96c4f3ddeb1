//! What the tests share: the checker's mock APNS and our server's push client pointed at it.

use std::path::Path;

use ntf_check::apns::{self, MockApns};
use ref_server::apns::{ApnsClient, ApnsConfig, ApnsSigningKey, PushClients};

/// The checker's mock APNS (identity in `dir`) and an `AT` push client that trusts it through
/// the CA file the checker wrote, as a server's `[apns_test]` would.
pub async fn mock_and_push(dir: &Path) -> (MockApns, PushClients, bool) {
    let (mock, made) = apns::start("127.0.0.1:0".parse().unwrap(), dir, &[]).await.unwrap();
    let endpoint = ref_server::apns::ApnsEndpoint {
        host: "127.0.0.1".into(),
        port: mock.addr().port(),
        ca: ref_server::apns::CaSource::Pem(std::fs::read(apns::ca_file(dir)).unwrap()),
    };
    let push = PushClients {
        test: Some(ApnsClient::new(endpoint, ApnsConfig::default(), ApnsSigningKey::generate().unwrap()).unwrap()),
        ..PushClients::default()
    };
    (mock, push, made)
}
