//! The `oracle` command as a driver uses it: a long-running process answering line by line.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn answers_each_line_before_the_next_is_written() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ref-client"))
        .args(["oracle", "--type", "ntf.command"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // one line at a time, stdin kept open: each answer must arrive without more input
    for (input, want) in [
        ("50494e47", r#"{"canonical_hex":"50494e47","ok":{"tag":"PING"}}"#),
        ("5443524e2000", r#""kind":"Truncated""#),
        ("x", r#"{"error":{"kind":"hex""#),
    ] {
        writeln!(stdin, "{input}").unwrap();
        stdin.flush().unwrap();
        let got = rx.recv_timeout(Duration::from_secs(10)).expect("an answer without more input");
        assert!(got.contains(want), "{input}: {got}");
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert!(rx.recv_timeout(Duration::from_secs(5)).is_err());
}

#[test]
fn refuses_unknown_and_known_answer_types() {
    for ty in ["no.such.type", "auth.signature"] {
        let out = Command::new(env!("CARGO_BIN_EXE_ref-client"))
            .args(["oracle", "--type", ty])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{ty}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
    }
}
