//! The decoder oracle: a long-running decoder for differential fuzzing. Another implementation
//! feeds the same inputs to its decoder and to this one, and compares the answers line by line.
//!
//! ```text
//! input  = *(hex LF)                    ; one input per line; an empty line is the empty input;
//!                                       ; a CR before the LF and spaces around the hex are ignored
//! output = *(answer LF)                 ; one answer per input line, in order
//! answer = {"ok":VALUE,"canonical_hex":HEX}
//!        / {"error":{"kind":KIND,"offset":N,"expected":WHAT}}   ; the input does not decode
//!        / {"error":{"kind":"hex","message":MSG}}               ; the line is not hex
//!        / {"error":{"kind":"other","message":MSG}}             ; anything else
//! ```
//!
//! `VALUE` is the JSON form of the conformance vectors (`spec/conformance.md`), printed
//! canonically: no whitespace, object keys in byte order. `canonical_hex` is the value encoded
//! again (lowercase), so a decoder that accepts a non-canonical form can be told apart from one
//! that normalizes it. `KIND` is the decode error kind (`Truncated`, `UnknownTag`, `BadLength`,
//! `BadValue`, `TrailingBytes`, ...), `N` its byte offset, `WHAT` the field expected there; a
//! differential harness normally compares only whether both sides failed, as other decoders
//! will not report the same offsets.
//!
//! Output is buffered and flushed whenever every line read so far has been answered and no
//! more input is waiting: a driver that writes one line and waits for its answer gets it at
//! once, and a driver that streams many lines gets them in large writes.

use std::io::{self, BufRead, BufReader, Read, Write};

use serde_json::json;

use crate::codecs::{from_hex, to_hex, Codec, CodecError, Ctx};

/// What an oracle run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OracleStats {
    /// Lines answered.
    pub lines: u64,
    /// Of those, inputs that decoded.
    pub ok: u64,
}

/// The answer to one input line (without the line feed).
pub fn answer(codec: &dyn Codec, ctx: &Ctx<'_>, line: &[u8]) -> (bool, String) {
    let text = match std::str::from_utf8(line) {
        Ok(t) => t.trim(),
        Err(_) => return (false, other_error("hex", "the line is not UTF-8")),
    };
    let bytes = match from_hex(text) {
        Ok(b) => b,
        Err(e) => return (false, other_error("hex", e)),
    };
    let value = match codec.decode(&bytes, ctx) {
        Ok(v) => v,
        Err(CodecError::Decode(e)) => {
            let v = json!({"error": {
                "kind": format!("{:?}", e.kind),
                "offset": e.offset,
                "expected": e.expected,
            }});
            return (false, v.to_string());
        }
        Err(e) => return (false, other_error("other", &e.to_string())),
    };
    match codec.encode(&value, ctx) {
        Ok(canonical) => {
            // serde_json's objects are ordered maps: the keys come out sorted
            let v = json!({"ok": value, "canonical_hex": to_hex(&canonical)});
            (true, v.to_string())
        }
        Err(e) => (
            false,
            other_error("other", &format!("decoded but does not encode again: {e}")),
        ),
    }
}

fn other_error(kind: &str, message: &str) -> String {
    json!({"error": {"kind": kind, "message": message}}).to_string()
}

/// Answers every line of `input` on `output` until the end of the input (see the module
/// documentation for the forms and the flushing).
///
/// # Errors
/// Reading or writing failed (a closed output pipe ends the run with `BrokenPipe`).
pub fn run(
    codec: &dyn Codec,
    ctx: &Ctx<'_>,
    input: &mut BufReader<impl Read>,
    mut output: impl Write,
) -> io::Result<OracleStats> {
    let mut stats = OracleStats::default();
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let (ok, a) = answer(codec, ctx, &line);
        stats.lines += 1;
        stats.ok += u64::from(ok);
        output.write_all(a.as_bytes())?;
        output.write_all(b"\n")?;
        // nothing more read ahead (checked without reading): the driver may be waiting
        if input.buffer().is_empty() {
            output.flush()?;
        }
    }
    output.flush()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::find;
    use serde_json::Value;

    fn ntf() -> &'static dyn Codec {
        find("ntf.command").unwrap()
    }

    const NULL: Value = Value::Null;

    fn ctx() -> Ctx<'static> {
        Ctx {
            version: None,
            params: &NULL,
        }
    }

    #[test]
    fn answers_each_line_in_order() {
        // PING, TCRN 20, TCRN truncated, not hex, empty, upper-case hex with CRLF
        let input = b"50494e47\n5443524e200014\n5443524e2000\nzz\n\n50494E47\r\n";
        let mut out = Vec::new();
        let stats = run(ntf(), &ctx(), &mut BufReader::new(&input[..]), &mut out).unwrap();
        assert_eq!(stats, OracleStats { lines: 6, ok: 3 });
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0], json!({"ok": {"tag": "PING"}, "canonical_hex": "50494e47"}));
        assert_eq!(lines[1]["ok"]["tag"], "TCRN");
        assert_eq!(lines[1]["canonical_hex"], "5443524e200014");
        assert_eq!(lines[2]["error"]["kind"], "Truncated");
        assert!(lines[2]["error"]["offset"].is_u64());
        assert_eq!(lines[3]["error"]["kind"], "hex");
        // the empty input is not a command
        assert_eq!(lines[4]["error"]["kind"], "UnknownTag");
        assert_eq!(lines[5], lines[0]);
    }

    #[test]
    fn canonical_output_has_sorted_keys_and_no_spaces() {
        let (ok, a) = answer(find("ntf.response").unwrap(), &ctx(), b"544b4e20414354495645");
        assert!(ok);
        assert_eq!(a, r#"{"canonical_hex":"544b4e20414354495645","ok":{"status":"ACTIVE","tag":"TKN"}}"#);
    }

    #[test]
    fn last_line_without_line_feed() {
        let mut out = Vec::new();
        let stats = run(ntf(), &ctx(), &mut BufReader::new(&b"50494e47"[..]), &mut out).unwrap();
        assert_eq!(stats.lines, 1);
        assert!(out.ends_with(b"}\n"));
    }
}
