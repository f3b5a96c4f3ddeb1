//! `deploy/`: the systemd unit and the container file. What can run here runs: the unit goes
//! through `systemd-analyze verify` (when installed), its `ExecStart` and `Environment` drive
//! the built binary (init, start, the unit's `KillSignal`, exit 0 within `TimeoutStopSec`),
//! and the container file is checked for a non-root user and the same command and paths. The
//! image itself is built and run by `deploy/test-container.sh` where a container engine answers.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ntf-server");

fn deploy(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `[Service]` settings of the unit (later ones appended for repeated keys).
fn service(unit: &str) -> Vec<(String, String)> {
    let mut in_service = false;
    let mut out = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service && !line.starts_with('#') {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.to_string(), v.to_string()));
            }
        }
    }
    out
}

fn get<'a>(s: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    s.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
}

#[test]
fn unit_verifies_and_its_exec_start_runs_and_stops_on_its_kill_signal() {
    let unit = deploy("ntf-server.service");
    let s = service(&unit);
    let user = get(&s, "User");
    assert_eq!(user, ["ntf"], "runs as a dedicated non-root user");
    let exec = get(&s, "ExecStart")[0];
    assert_eq!(exec, "/usr/local/bin/ntf-server start");
    assert_eq!(get(&s, "KillSignal"), ["SIGTERM"]);
    let stop_timeout: u64 = get(&s, "TimeoutStopSec")[0].parse().unwrap();

    let tmp = tempfile::tempdir().unwrap();
    if Path::new("/usr/bin/systemd-analyze").exists() {
        // the same unit with the built binary in place of the installed one
        let unit_file = tmp.path().join("ntf-server.service");
        std::fs::write(&unit_file, unit.replace("/usr/local/bin/ntf-server", BIN)).unwrap();
        let o = Command::new("systemd-analyze").arg("verify").arg(&unit_file).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        // the unit's user need not exist on a build machine; anything else is a finding
        let findings: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty() && !l.to_lowercase().contains("user")).collect();
        assert!(o.status.success() && findings.is_empty(), "systemd-analyze verify: {err}");
    } else {
        eprintln!("systemd-analyze not installed: unit verification SKIPPED");
    }

    // the unit's environment, with its two directories moved into the temp dir
    let mut env: Vec<(String, PathBuf)> = Vec::new();
    for e in get(&s, "Environment") {
        let (k, v) = e.split_once('=').unwrap();
        env.push((k.to_string(), tmp.path().join(v.trim_start_matches('/'))));
    }
    assert_eq!(env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["NTF_SERVER_CFG_PATH", "NTF_SERVER_LOG_PATH"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cmd = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.args(args).envs(env.iter().map(|(k, v)| (k, v)));
        c
    };
    let o = cmd(&["init", "--port", &port.to_string()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(env[0].1.join("ntf-server.ini").exists() && env[0].1.join("server.crt").exists());

    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    let mut child = cmd(&args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.by_ref().map_while(Result::ok).any(|l| l.starts_with("Serving NTF protocol")));
    std::thread::spawn(move || lines.for_each(drop));
    let store = env[1].1.join("ntf-store.db");
    assert!(store.exists(), "state in NTF_SERVER_LOG_PATH");
    let t = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(stop_timeout), "not stopped within TimeoutStopSec");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn container_file_runs_the_same_command_as_a_non_root_user() {
    let f = deploy("Dockerfile");
    let last = |word: &str| f.lines().rev().find(|l| l.starts_with(word)).map(|l| l[word.len()..].trim().to_string());
    let user = last("USER ").unwrap();
    assert!(user != "root" && user != "0", "USER {user}");
    assert!(f.contains(&format!("useradd --system --uid 10001 --home-dir /var/opt/simplex-notifications --shell /usr/sbin/nologin {user}")));
    assert_eq!(last("ENTRYPOINT ").unwrap(), r#"["/usr/local/bin/ntf-server"]"#);
    assert_eq!(last("CMD ").unwrap(), r#"["start"]"#);
    assert_eq!(last("STOPSIGNAL ").unwrap(), "SIGTERM");
    // the directories the binary reads without --dir are the image's volumes
    for (var, dir) in [("NTF_SERVER_CFG_PATH", ref_server::server::config::DEFAULT_CFG_PATH), ("NTF_SERVER_LOG_PATH", ref_server::server::config::DEFAULT_LOG_PATH)] {
        assert!(f.contains(&format!("{var}={dir}")), "{var}");
        assert!(last("VOLUME ").unwrap().contains(dir), "{dir}");
    }
    assert!(f.contains("cargo build --release -p ref-server --bin ntf-server"));
}
