use super::*;

/// What the reference's `ntf-server init` writes with its default options (see the file).
const REFERENCE_INIT: &str = include_str!("../../../tests/fixtures/reference-init.ini");

fn parse(text: &str) -> anyhow::Result<Config> {
    Config::from_ini_text(text, Path::new("/etc/x/ntf-server.ini"))
}

#[test]
fn reference_init_file_reads_with_the_reference_defaults() {
    let c = parse(REFERENCE_INIT).unwrap();
    // no db_backend: the reference's store, PostgreSQL, at its default connection
    assert_eq!(c.store.backend, StoreBackend::Postgres);
    assert_eq!(c.store.url, "postgresql://ntf@/ntf_server_store");
    assert_eq!(c.store.schema, "ntf_server");
    assert_eq!(c.store.pool_size, 10);
    assert!(c.store.store_log);
    assert_eq!(c.store.deleted_ttl, 86400 * 21);
    assert!(!c.store.log_stats);
    assert_eq!(c.store.prometheus_interval, None);
    assert_eq!((c.server.host.as_str(), c.server.ports.as_slice()), ("<hostnames>", &[443][..]));
    assert!(!c.server.log_tls_errors);
    assert_eq!(c.server.control_port, None);
    assert_eq!(c.auth, AuthSection::default());
    assert_eq!(c.subscriber, SubscriberSection::default());
    assert_eq!(c.inactive_clients, None);
    assert_eq!(c.apns, ApnsSection::default());
    assert_eq!(c.apns_test, None);
}

#[test]
fn every_reference_setting_is_read() {
    let text = "[STORE_LOG]\nenable = off\ndb_connection = postgresql://u@h:5/db\ndb_schema = s1\ndb_pool_size = 3\n\
        db_deleted_ttl = 7\nlog_stats = on\nprometheus_interval = 15\nprometheus_port = 9101\n\
        [AUTH]\ncontrol_port_admin_password = adm1n\ncontrol_port_user_password = us3r\n\
        [TRANSPORT]\nhost = ntf.example.com\nport = 5443\nlog_tls_errors = on\nwebsockets = off\ncontrol_port = 5227\n\
        [SUBSCRIBER]\nsocks_proxy = 127.0.0.1:9150\nsocks_mode = always\nhost_mode = onion\nrequired_host_mode = on\n\
        own_server_domains = simplex.im  example.org\nuse_service_credentials = on\n\
        [INACTIVE_CLIENTS]\ndisconnect = on\nttl = 600\ncheck_interval = 60\n";
    let c = parse(text).unwrap();
    assert_eq!(c.store.url, "postgresql://u@h:5/db");
    assert_eq!((c.store.schema.as_str(), c.store.pool_size, c.store.deleted_ttl), ("s1", 3, 7));
    assert!(!c.store.store_log && c.store.log_stats);
    assert_eq!((c.store.prometheus_interval, c.store.prometheus_http), (Some(15), Some("127.0.0.1:9101".parse().unwrap())));
    let c2 = parse("[TRANSPORT]\nport = 1\n[STORE_LOG]\nprometheus_port = 0.0.0.0:9100\n").unwrap();
    assert_eq!(c2.store.prometheus_http, Some("0.0.0.0:9100".parse().unwrap()));
    assert_eq!(c.auth.admin_password.as_deref(), Some("adm1n"));
    assert_eq!(c.auth.user_password.as_deref(), Some("us3r"));
    assert_eq!((c.server.host.as_str(), c.server.ports.as_slice(), c.server.log_tls_errors), ("ntf.example.com", &[5443][..], true));
    assert_eq!(c.server.control_port, Some(5227));
    let s = &c.subscriber;
    assert_eq!(s.socks_proxy.as_ref().map(|p| p.addr), Some("127.0.0.1:9150".parse().unwrap()));
    assert_eq!((s.socks_mode, s.host_mode, s.required_host_mode), (SocksMode::Always, HostMode::Onion, true));
    assert_eq!(s.own_server_domains, ["simplex.im", "example.org"]);
    assert!(s.use_service_credentials);
    assert_eq!(c.inactive_clients, Some(InactiveClients { ttl: 600, check_interval: 60 }));
}

#[test]
fn socks_proxy_forms() {
    for (v, want) in [
        ("127.0.0.1:9050", "127.0.0.1:9050"),
        ("127.0.0.1", "127.0.0.1:9050"),
        (":9150", "127.0.0.1:9150"),
        ("localhost:9050", "127.0.0.1:9050"),
        ("[::1]:9050", "[::1]:9050"),
        ("::1", "[::1]:9050"),
    ] {
        assert_eq!(v.parse::<SocksProxy>().map(|p| p.addr), Ok(want.parse().unwrap()), "{v}");
    }
    assert!("tor.example:9050".parse::<SocksProxy>().is_err());
    assert!("127.0.0.1:x".parse::<SocksProxy>().is_err());
}

#[test]
fn our_config_round_trips_through_ini() {
    let mut c = Config::new("ntf.example.com", 5443);
    c.apns_test = Some(ApnsTestSection { host: "127.0.0.1".into(), port: 9, ca_file: "ca.pem".into() });
    c.store.prometheus_interval = Some(5);
    c.store.prometheus_http = Some("127.0.0.1:0".parse().unwrap());
    c.server.listen = [127, 0, 0, 1].into();
    c.server.control_port = Some(5227);
    c.auth.admin_password = Some("pw".into());
    c.subscriber.socks_proxy = Some("tor:pw@127.0.0.1:9050".parse().unwrap());
    c.subscriber.own_server_domains = vec!["a.b".into(), "c".into()];
    c.inactive_clients = Some(InactiveClients { ttl: 10, check_interval: 2 });
    let dir = tempfile::tempdir().unwrap();
    c.save(dir.path()).unwrap();
    assert_eq!(Config::load(dir.path()).unwrap(), c);
    let fresh = Config::new("h", 1);
    assert_eq!(parse(&fresh.to_ini()).unwrap(), fresh);
}

#[test]
fn bad_settings_name_file_section_key_and_line() {
    for (text, want) in [
        ("[STORE_LOG]\nenable = yes\n[TRANSPORT]\nport=1\n", "[STORE_LOG] enable (line 2): expected on or off, found \"yes\""),
        ("[TRANSPORT]\nport = 1\nbogus = 2\n", "[TRANSPORT] bogus (line 3): unknown setting"),
        ("[TRANSPORT]\nport = 1\n[WEIRD]\n", "[WEIRD] (line 3): unknown section"),
        ("[TRANSPORT]\nhost = h\n", "[TRANSPORT] port: required setting is missing"),
        ("[TRANSPORT]\nport = 99999\n", "[TRANSPORT] port (line 2): expected a TCP port or ports separated by commas: 99999 is out of range"),
        ("[TRANSPORT]\nport = 1\nwebsockets = on\n", "[TRANSPORT] websockets (line 3)"),
        ("[TRANSPORT]\nport = 1\n[SUBSCRIBER]\nsocks_mode = sometimes\n", "[SUBSCRIBER] socks_mode (line 4): expected onion or always"),
        ("[TRANSPORT]\nport = 1\n[SUBSCRIBER]\nhost_mode = tor\n", "[SUBSCRIBER] host_mode (line 4)"),
        ("[TRANSPORT]\nport = 1\n[SUBSCRIBER]\nsocks_proxy = tor.example\n", "[SUBSCRIBER] socks_proxy (line 4)"),
        ("[TRANSPORT]\nport = 1\n[INACTIVE_CLIENTS]\ndisconnect = on\nttl = 5\n", "[INACTIVE_CLIENTS] check_interval: required"),
        ("[TRANSPORT]\nport = 1\n[STORE_LOG]\nprometheus_interval = 0\n", "[STORE_LOG] prometheus_interval (line 4)"),
        ("[TRANSPORT]\nport = 1\n[STORE_LOG]\ndb_schema = a;b\n", "[STORE_LOG] db_schema (line 4)"),
        ("[TRANSPORT]\nport = 1\n[AUTH]\ncontrol_port_admin_password = a b\n", "[AUTH] control_port_admin_password (line 4)"),
        ("[TRANSPORT]\nport = 1\nport = 2\n", "line 3: [TRANSPORT] port already given on line 2"),
    ] {
        let e = parse(text).unwrap_err().to_string();
        assert!(e.starts_with("/etc/x/ntf-server.ini: "), "{e}");
        assert!(e.contains(want), "{text:?}: {e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}

#[test]
fn missing_file_says_init_and_legacy_toml_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let e = Config::load(&dir.path().join("missing")).unwrap_err().to_string();
    assert!(e.contains("ntf-server init") && e.contains("ntf-server.ini"), "{e}");
    std::fs::write(
        dir.path().join(LEGACY_CONFIG_FILE),
        "[server]\nhost = \"h\"\nport = 7\n[store]\nbackend = \"sqlite\"\n",
    )
    .unwrap();
    let c = Config::load(dir.path()).unwrap();
    assert_eq!((c.server.host.as_str(), c.server.ports.as_slice(), c.store.backend), ("h", &[7][..], StoreBackend::Sqlite));
    std::fs::write(dir.path().join(LEGACY_CONFIG_FILE), "[server]\nhost='h'\nport=1\nbogus=2\n").unwrap();
    let e = Config::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("bad configuration") && e.contains("bogus"), "{e}");
}

/// `[SCALE_OUT]` (ours): absent by default; read with its defaults; refused without PostgreSQL
/// or with a renewal too slow for the lease.
#[test]
fn scale_out_section() {
    assert_eq!(parse(REFERENCE_INIT).unwrap().scale_out, None);
    let c = parse(&format!("{REFERENCE_INIT}\n[SCALE_OUT]\ninstance_id = ntf-a\n")).unwrap();
    assert_eq!(c.scale_out, Some(ScaleOutSection { instance_id: "ntf-a".into(), lease_ttl: 4, lease_renew: 1 }));
    let c = parse(&format!("{REFERENCE_INIT}\n[SCALE_OUT]\ninstance_id = b\nlease_ttl = 10\nlease_renew = 2\n")).unwrap();
    assert_eq!(c.scale_out.map(|s| (s.lease_ttl, s.lease_renew)), Some((10, 2)));
    let e = parse(&format!("{REFERENCE_INIT}\n[SCALE_OUT]\n")).unwrap_err().to_string();
    assert!(e.contains("instance_id"), "{e}");
    let e = parse(&format!("{REFERENCE_INIT}\n[SCALE_OUT]\ninstance_id = b\nlease_ttl = 4\nlease_renew = 3\n")).unwrap_err().to_string();
    assert!(e.contains("lease_renew"), "{e}");
    let sqlite = REFERENCE_INIT.replacen("[STORE_LOG]", "[STORE_LOG]\ndb_backend = sqlite", 1);
    let e = parse(&format!("{sqlite}\n[SCALE_OUT]\ninstance_id = b\n")).unwrap_err().to_string();
    assert!(e.contains("postgres"), "{e}");
    // written back as read
    let c = parse(&format!("{REFERENCE_INIT}\n[SCALE_OUT]\ninstance_id = ntf-a\n")).unwrap();
    assert_eq!(parse(&c.to_ini()).unwrap().scale_out, c.scale_out);
}

/// `[WEBPUSH]` (ours): absent -> no Web Push; an empty section takes every default; every key
/// read; written back by `save`; every bad value is one line naming file, section, key, line.
#[test]
fn webpush_section() {
    assert_eq!(parse("[TRANSPORT]\nport = 1\n").unwrap().webpush, None);
    let c = parse("[TRANSPORT]\nport = 1\n[WEBPUSH]\n").unwrap();
    assert_eq!(c.webpush, Some(WebPushSection::default()));
    assert_eq!(WebPushSection::default().allowed_hosts, ["*"]);
    let text = "[TRANSPORT]\nport = 1\n[WEBPUSH]\nvapid_key_file = keys/vapid.pem\n\
        allowed_hosts = fcm.googleapis.com  *.push.services.mozilla.com\nca_file = push-ca.pem\ntimeout = 3\n";
    let c = parse(text).unwrap();
    let w = c.webpush.clone().unwrap();
    assert_eq!(w.vapid_key_file, PathBuf::from("keys/vapid.pem"));
    assert_eq!(w.allowed_hosts, ["fcm.googleapis.com", "*.push.services.mozilla.com"]);
    assert_eq!(w.ca_file, Some(PathBuf::from("push-ca.pem")));
    assert_eq!(w.timeout, 3);
    // save writes the section back
    let dir = tempfile::tempdir().unwrap();
    c.save(dir.path()).unwrap();
    assert_eq!(Config::load(dir.path()).unwrap(), c);
    let mut no_ca = c.clone();
    no_ca.webpush.as_mut().unwrap().ca_file = None;
    assert_eq!(parse(&no_ca.to_ini()).unwrap(), no_ca);
    for (body, want) in [
        ("timeout = 0", "[WEBPUSH] timeout (line 4): expected a positive number of seconds, found \"0\""),
        ("timeout = ten", "[WEBPUSH] timeout (line 4): expected a positive number of seconds, found \"ten\""),
        ("timeout = -1", "[WEBPUSH] timeout (line 4)"),
        ("allowed_hosts = push.example *.*.bad", "[WEBPUSH] allowed_hosts (line 4): expected push host patterns"),
        ("allowed_hosts = host/path", "[WEBPUSH] allowed_hosts (line 4): expected push host patterns"),
        ("allowed_hosts = *   # any", "[WEBPUSH] allowed_hosts (line 4): expected push host patterns"),
        ("allowed_hosts =", "[WEBPUSH] allowed_hosts (line 4): expected push host patterns"),
        ("vapid_key_file =", "[WEBPUSH] vapid_key_file (line 4): expected a file name, found \"\""),
        ("ca_file =", "[WEBPUSH] ca_file (line 4): expected a file name"),
        ("vapid_key = k.pem", "[WEBPUSH] vapid_key (line 4): unknown setting"),
    ] {
        let e = parse(&format!("[TRANSPORT]\nport = 1\n[WEBPUSH]\n{body}\n")).unwrap_err().to_string();
        assert!(e.starts_with("/etc/x/ntf-server.ini: [WEBPUSH] "), "{body:?}: {e}");
        assert!(e.contains(want), "{body:?}: {e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}

/// `iniTransports`: `port` is split on commas and each port is served, in the order given.
#[test]
fn several_ports_read_in_order_and_write_back() {
    let c = parse("[TRANSPORT]\nhost = ntf.example.com\nport = 5223,443\n").unwrap();
    assert_eq!(c.server.ports.as_slice(), [5223, 443]);
    let addrs: Vec<String> = c.listen_addrs().iter().map(ToString::to_string).collect();
    assert_eq!(addrs, ["0.0.0.0:5223", "0.0.0.0:443"]);
    let c = parse("[TRANSPORT]\nport = 443, 5223 ,8443\nlisten = 127.0.0.1\n").unwrap();
    assert_eq!(c.listen_addrs(), ["127.0.0.1:443".parse().unwrap(), "127.0.0.1:5223".parse().unwrap(), "127.0.0.1:8443".parse().unwrap()]);
    assert!(c.to_ini().contains("\nport = 443,5223,8443\n"), "{}", c.to_ini());
    assert_eq!(parse(&c.to_ini()).unwrap(), c);
}

/// A malformed list: one line naming the file, section, key, line and value, and what is wrong.
#[test]
fn bad_port_lists_name_file_section_key_line_and_value() {
    for (value, why) in [
        ("443,", "port 2 of the list is empty"),
        ("443,,5223", "port 2 of the list is empty"),
        ("", "port 1 of the list is empty"),
        ("443,tls", "\"tls\" is not a port number"),
        ("443,5223,443", "443 is given twice (port 3 of the list)"),
        ("443,65536", "65536 is out of range (0 to 65535)"),
    ] {
        let text = format!("[STORE_LOG]\nenable = off\n\n[TRANSPORT]\nhost = h\nport = {value}\n");
        let e = parse(&text).unwrap_err().to_string();
        let want = format!(
            "/etc/x/ntf-server.ini: [TRANSPORT] port (line 6): expected a TCP port or ports separated by commas: {why}, found {value:?}"
        );
        assert_eq!(e, want, "{value:?}");
    }
}

/// `websockets`: the reference serves websockets on the ports of the list that are not TLS
/// ports (and on 80 for `on`); we serve none, so only what serves none there is taken.
#[test]
fn websockets_only_where_the_reference_serves_none() {
    for ok in ["off", "443", "5223,443"] {
        let text = format!("[TRANSPORT]\nport = 443,5223\nwebsockets = {ok}\n");
        assert!(parse(&text).is_ok(), "{ok}: {:?}", parse(&text).err());
    }
    for (bad, why) in [("on", "`on` serves them on port 80"), ("443,80", "port 80 is not one of `port`"), ("443,", "port 2 of the list is empty")] {
        let e = parse(&format!("[TRANSPORT]\nport = 443,5223\nwebsockets = {bad}\n")).unwrap_err().to_string();
        assert!(e.contains("[TRANSPORT] websockets (line 3)") && e.contains(why) && e.contains(&format!("found {bad:?}")), "{bad}: {e}");
    }
}
