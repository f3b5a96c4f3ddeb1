use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn host(s: &str) -> TransportHost {
    TransportHost::parse(s.as_bytes()).unwrap()
}

fn proxy(s: &str) -> SocksProxy {
    s.parse().unwrap()
}

/// `SocksProxyWithAuth`'s `strP`: credentials first, then `@`, then none.
#[test]
fn socks_proxy_with_auth_forms() {
    let user = |u: &str, p: &str| SocksAuth::Username { username: u.into(), password: p.into() };
    for (v, addr, auth) in [
        ("127.0.0.1:9150", "127.0.0.1:9150", SocksAuth::Isolate),
        ("", "127.0.0.1:9050", SocksAuth::Isolate),
        ("@", "127.0.0.1:9050", SocksAuth::Null),
        ("@10.0.0.1", "10.0.0.1:9050", SocksAuth::Null),
        ("alice:secret@127.0.0.1:9150", "127.0.0.1:9150", user("alice", "secret")),
        ("alice:se:cret@", "127.0.0.1:9050", user("alice", "se:cret")),
        (":@:9000", "127.0.0.1:9000", user("", "")),
        ("[::1]:9050", "[::1]:9050", SocksAuth::Isolate),
        ("localhost:9051", "127.0.0.1:9051", SocksAuth::Isolate),
    ] {
        let p = proxy(v);
        assert_eq!((p.addr, &p.auth), (addr.parse().unwrap(), &auth), "{v}");
        assert_eq!(proxy(&p.to_string()), p, "{v} round trip");
    }
    for bad in ["tor.example:9050", "127.0.0.1:x", "a:b@tor.example"] {
        assert!(bad.parse::<SocksProxy>().is_err(), "{bad}");
    }
}

fn config(proxy: Option<&str>, host_mode: HostMode, required: bool) -> NetworkConfig {
    NetworkConfig {
        socks_proxy: proxy.map(|p| p.parse().unwrap()),
        host_mode,
        required_host_mode: required,
        ..NetworkConfig::default()
    }
}

/// `chooseTransportHost`: `HMPublic`, `HMOnionViaSocks` with and without a proxy, the
/// fallback to the first host and `requiredHostMode`.
#[test]
fn choose_transport_host() {
    let both = [host("relay.example"), host("abcdef.onion"), host("1.2.3.4")];
    let onion_first = [host("abcdef.onion"), host("1.2.3.4")];
    let onion_only = [host("abcdef.onion"), host("ghijkl.onion")];
    let public_only = [host("1.2.3.4")];
    let p = Some("127.0.0.1:9050");
    use HostMode::{Onion, Public};
    for (hosts, cfg, want) in [
        (&both[..], config(None, Public, false), Some("relay.example")),
        (&onion_first[..], config(p, Public, false), Some("1.2.3.4")),
        (&onion_first[..], config(p, Onion, false), Some("abcdef.onion")),
        (&both[..], config(p, Onion, false), Some("abcdef.onion")),
        // onion without a proxy is public
        (&onion_first[..], config(None, Onion, false), Some("1.2.3.4")),
        (&onion_only[..], config(None, Public, false), Some("abcdef.onion")),
        (&onion_only[..], config(None, Public, true), None),
        (&public_only[..], config(p, Onion, false), Some("1.2.3.4")),
        (&public_only[..], config(p, Onion, true), None),
        (&public_only[..], config(None, Onion, true), Some("1.2.3.4")),
    ] {
        let got = cfg.choose_host(hosts).map(ToString::to_string);
        assert_eq!(got.as_deref(), want, "{hosts:?} {cfg:?}");
    }
}

/// `useSocksProxy`: `SMAlways` for every host, `SMOnion` for onion hosts only.
#[test]
fn proxy_by_socks_mode() {
    let mut cfg = config(Some("127.0.0.1:9050"), HostMode::Public, false);
    let (public, onion) = (host("1.2.3.4"), host("abcdef.onion"));
    assert!(cfg.proxy_for(&public).is_none());
    assert!(cfg.proxy_for(&onion).is_some());
    cfg.socks_mode = SocksMode::Always;
    assert!(cfg.proxy_for(&public).is_some());
    cfg.socks_proxy = None;
    assert!(cfg.proxy_for(&onion).is_none());
}

/// `clientSocksCredentials` with user 1 and `TSMSession`; `show` of a `UTCTime`.
#[test]
fn isolating_credentials() {
    let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
    assert_eq!(show_utc_time(t), "2023-11-14 22:13:20.5 UTC");
    assert_eq!(show_utc_time(UNIX_EPOCH + Duration::from_secs(1_700_000_000)), "2023-11-14 22:13:20 UTC");
    assert_eq!(show_utc_time(UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_001)), "2023-11-14 22:13:20.000000001 UTC");
    // base64 (standard, padded) of SHA-256 of "1:2023-11-14 22:13:20.5 UTC"
    assert_eq!(isolation_username(t), "Sm3x6tc/bWg9DH37wELvLDrWVJF0gmXuG6k3l+4v2NY=");
    let mut cfg = config(Some("127.0.0.1:9050"), HostMode::Public, false);
    cfg.isolation_username = isolation_username(t);
    assert_eq!(cfg.credentials(), Some((isolation_username(t), String::new())));
    cfg.socks_proxy = Some(proxy("@127.0.0.1:9050"));
    assert_eq!(cfg.credentials(), None);
    cfg.socks_proxy = Some(proxy("u:p@127.0.0.1:9050"));
    assert_eq!(cfg.credentials(), Some(("u".into(), "p".into())));
}
