#!/usr/bin/env python3
"""Writes the seed corpus fuzz/corpus/<target>/ from conformance vector files.

Usage: fuzz/seed_corpus.py [VECTOR_FILE...]
Default files: ../shared/conformance/vectors/public.json and spec/vectors/*.json (relative to
the repository root), those that exist. Each vector's wire bytes become one seed of the target
that fuzzes its type, with the prefix bytes that target reads first (version byte, transmission
parameters, block config; see smp-proto/src/fuzzing.rs and ntf-proto/src/fuzzing.rs). A few
fixed seeds are added for targets without vectors. At most CAP seeds per target are kept, spread
evenly over the vectors. Each target's directory is rewritten; file names are the SHA-1 of the
content, as libFuzzer names them, so re-running the script is idempotent. Standard library only.
"""
import glob
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

NTF_MIN, NTF_MAX = 1, 3
SMP_MIN, SMP_MAX = 6, 18
SMP_BLOCK = 16384
# most seeds per target, to keep the committed corpus small
CAP = 24


def ntf_version_byte(vec):
    return vec.get("version", NTF_MAX) - NTF_MIN


def smp_version_byte(vec):
    return vec.get("version", SMP_MAX) - SMP_MIN


def transmission_seed(vec, wire):
    p = vec.get("params", {})
    sid = bytes.fromhex(p.get("session_id", ""))
    flags = (1 if p.get("implied_session_id", True) else 0) | (2 if p.get("service_auth", False) else 0)
    return bytes([flags, len(sid)]) + sid + wire


def block_seed(vec, wire):
    p = vec.get("params", {})
    size = p.get("block_size", 512)
    cfg = (1 if size == SMP_BLOCK else 0) | (2 if p.get("batch", True) else 0)
    if len(wire) == size:
        # the target pads with '#' up to the block size: drop that padding to keep seeds small
        return bytes([cfg]) + wire.rstrip(b"#")
    return bytes([cfg | 4]) + wire


def cbox_seed(vec, wire):
    v = vec["value"]
    # flag bit 0: the secret is dh(public, private)
    return bytes([1]) + bytes.fromhex(v["public"]) + bytes.fromhex(v["private"]) + bytes.fromhex(v["nonce"]) + wire


def seeds_for(vec):
    """(target, bytes) pairs for one vector."""
    t = vec["type"]
    wire = bytes.fromhex(vec["hex"])
    out = []
    if t == "ntf.command":
        out.append(("ntf_command", bytes([ntf_version_byte(vec)]) + wire))
    elif t == "ntf.response":
        out.append(("ntf_response", bytes([ntf_version_byte(vec)]) + wire))
    elif t == "smp.command":
        out.append(("smp_command", bytes([smp_version_byte(vec)]) + wire))
    elif t == "smp.broker_msg":
        out.append(("smp_broker_msg", bytes([smp_version_byte(vec)]) + wire))
    elif t == "nmsg.meta":
        out.append(("nmsg_meta", wire))
    elif t == "pn.messages":
        out.append(("pn_messages_text", wire))
    elif t == "device_token.str":
        out.append(("device_token_text", wire))
    elif t == "smp_server.str":
        out.append(("smp_server_text", wire))
        if vec.get("valid", True):
            for h in vec["value"]["hosts"]:
                out.append(("transport_host_text", h.encode("latin-1")))
    elif t == "smp_queue.str":
        out.append(("smp_queue_text", wire))
    elif t == "transmission":
        out.append(("transmission", transmission_seed(vec, wire)))
    elif t == "block":
        out.append(("block", block_seed(vec, wire)))
    elif t == "ntf.server_hello":
        out.append(("ntf_server_hello", wire))
    elif t == "ntf.client_hello":
        out.append(("ntf_client_hello", wire))
    elif t == "smp.server_hello":
        out.append(("smp_server_hello", wire))
    elif t == "smp.client_hello":
        out.append(("smp_client_hello", wire))
    elif t == "crypto.cbox":
        out.append(("crypto_box", cbox_seed(vec, wire)))
    return out


def fixed_seeds():
    """Seeds for targets without vectors: deterministic bytes."""
    out = [
        ("smp_handshake_response", b"R\x03abc"),
        ("smp_handshake_response", b"R\x00"),
        ("smp_handshake_response", b"EBLOCK"),
        ("smp_handshake_response", b"EHANDSHAKE IDENTITY"),
        ("transport_host_text", b"\x0b192.168.1.1"),
        ("transport_host_text", b"[fe80::1]"),
    ]
    for i in range(8):
        stream = b"".join(hashlib.sha256(b"%s/%d/%d" % (b"seed", i, j)).digest() for j in range(2 + 4 * i))
        out.append(("block_decrypt", stream))
        out.append(("smp_typed", bytes([i]) + stream))
        out.append(("ntf_typed", bytes([i]) + stream))
        out.append(("crypto_box", bytes([i * 2]) + stream))
    return out


def main(argv):
    files = argv[1:]
    if not files:
        files = [os.path.join(ROOT, "..", "shared", "conformance", "vectors", "public.json")]
        files += sorted(glob.glob(os.path.join(ROOT, "spec", "vectors", "*.json")))
        files = [f for f in files if os.path.exists(f)]
    seeds = []
    for f in files:
        with open(f) as fh:
            for vec in json.load(fh):
                seeds.extend(seeds_for(vec))
    seeds.extend(fixed_seeds())
    by_target = {}
    for target, data in seeds:
        lst = by_target.setdefault(target, [])
        if data not in lst:
            lst.append(data)
    total = 0
    for target, lst in sorted(by_target.items()):
        if len(lst) > CAP:
            # spread evenly over the list (the reference's vectors come first)
            lst = [lst[i * len(lst) // CAP] for i in range(CAP)]
        d = os.path.join(CORPUS, target)
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            os.remove(os.path.join(d, old))
        for data in lst:
            with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as fh:
                fh.write(data)
        total += len(lst)
    print(f"{len(files)} vector files, {len(seeds)} seeds, {total} files in {CORPUS}")

if __name__ == "__main__":
    main(sys.argv)
