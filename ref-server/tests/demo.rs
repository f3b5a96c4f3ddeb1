//! `ref-server demo` end to end, with each push provider: the mock APNS (the default) and the
//! mock Web Push service (`--provider webpush`). Each run registers a token, decrypts the
//! verification push on the simulated device, subscribes a queue, and decrypts the message
//! notification; `run` fails on any step that does not do what it should.

use ref_server::demo::{run, DemoProvider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_with_the_mock_apns() {
    run(DemoProvider::Apns).await.unwrap();
}

/// The branch `dev-wp`'s path (`wpPushProviderClient`): a `WP` token for the mock push
/// service, RFC 8291 bodies the device decrypts with its own keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_with_the_mock_web_push_service() {
    run(DemoProvider::WebPush).await.unwrap();
}
