#!/usr/bin/env python3
"""Differential driver for two decoder oracles (see `ref-client oracle` and spec/conformance.md).

Both oracles get the same inputs, one hex line each, and must answer one JSON line each:
{"ok": VALUE, "canonical_hex": HEX} or {"error": {...}}. An input is a difference when one side
accepts and the other rejects, or both accept with different values or canonical encodings
(with --strict-errors, also when both reject with a different error kind).

Inputs: --inputs FILE (hex lines), and/or seeds taken from conformance vector files of the
type (--vectors FILE...) mutated --mutations times each (byte flips, truncations, insertions,
splices; deterministic with --seed).

    tools/oracle-diff.py --type ntf.command --vectors spec/vectors/ntf.json --mutations 2000 \\
        --a "target/release/ref-client oracle --type ntf.command" \\
        --b "your-oracle --type ntf.command"

Prints each difference (input hex and both answers, at most --show), then a summary line;
exits 0 when there is none, 1 otherwise, 2 on a usage or oracle failure.
"""

import argparse
import json
import random
import shlex
import subprocess
import sys
import threading


def seeds_from_vectors(paths, ty):
    out = []
    for p in paths:
        with open(p) as f:
            for v in json.load(f):
                if v.get("type") == ty and "hex" in v:
                    out.append(bytes.fromhex(v["hex"]))
    return out


def mutate(rng, data, pool):
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and b:  # flip a byte
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1 and b:  # truncate
            del b[rng.randrange(len(b)):]
        elif op == 2:  # insert a byte (often a separator or a length)
            b.insert(rng.randrange(len(b) + 1), rng.choice([0x20, 0x2C, 0x00, 0xFF, rng.randrange(256)]))
        elif op == 3 and b:  # delete a byte
            del b[rng.randrange(len(b))]
        elif op == 4 and pool:  # splice with another seed
            other = rng.choice(pool)
            cut = rng.randrange(len(b) + 1)
            b = b[:cut] + other[rng.randrange(len(other) + 1):]
        elif op == 5 and b:  # set a byte to a boundary value
            b[rng.randrange(len(b))] = rng.choice([0, 1, 0x7F, 0x80, 0xFF])
    return bytes(b)


def run_oracle(cmd, lines):
    """Feeds the lines on a thread (so neither pipe fills up) and returns the answer lines."""
    p = subprocess.Popen(shlex.split(cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def feed():
        try:
            for line in lines:
                p.stdin.write(line + "\n")
            p.stdin.close()
        except BrokenPipeError:
            pass

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    answers = p.stdout.read().splitlines()
    t.join()
    if p.wait() != 0:
        sys.exit(f"error: oracle {cmd!r} exited with {p.returncode}")
    if len(answers) != len(lines):
        sys.exit(f"error: oracle {cmd!r} gave {len(answers)} answers to {len(lines)} inputs")
    return answers


def differs(a, b, strict_errors):
    try:
        ja, jb = json.loads(a), json.loads(b)
    except json.JSONDecodeError as e:
        return f"not JSON: {e}"
    if ("ok" in ja) != ("ok" in jb):
        return "one accepts, the other rejects"
    if "ok" in ja:
        if ja["ok"] != jb["ok"]:
            return "different values"
        if ja.get("canonical_hex") != jb.get("canonical_hex"):
            return "different canonical encodings"
        return None
    if strict_errors and ja["error"].get("kind") != jb["error"].get("kind"):
        return "different error kinds"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="first oracle command line")
    ap.add_argument("--b", required=True, help="second oracle command line")
    ap.add_argument("--type", help="vector type whose seeds to take from --vectors")
    ap.add_argument("--vectors", nargs="*", default=[], help="conformance vector files (JSON arrays)")
    ap.add_argument("--inputs", help="file of hex lines")
    ap.add_argument("--mutations", type=int, default=100, help="mutants per seed (default 100)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--strict-errors", action="store_true", help="also compare error kinds")
    ap.add_argument("--show", type=int, default=20, help="differences to print (default 20)")
    args = ap.parse_args()

    inputs = []
    if args.inputs:
        with open(args.inputs) as f:
            inputs += [l.strip() for l in f if l.strip() or l == "\n"]
    if args.vectors:
        if not args.type:
            sys.exit("error: --vectors needs --type")
        seeds = seeds_from_vectors(args.vectors, args.type)
        if not seeds:
            sys.exit(f"error: no vectors of type {args.type} with hex in {args.vectors}")
        rng = random.Random(args.seed)
        inputs += [s.hex() for s in seeds]
        inputs += [mutate(rng, s, seeds).hex() for s in seeds for _ in range(args.mutations)]
    if not inputs:
        sys.exit("error: no inputs (give --inputs or --vectors)")

    answers = {}
    threads = [threading.Thread(target=lambda k=k, c=c: answers.__setitem__(k, run_oracle(c, inputs)))
               for k, c in (("a", args.a), ("b", args.b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if len(answers) != 2:
        sys.exit(2)

    n_diff = 0
    for line, a, b in zip(inputs, answers["a"], answers["b"]):
        why = differs(a, b, args.strict_errors)
        if why:
            n_diff += 1
            if n_diff <= args.show:
                print(f"DIFF {why}: input {line}\n  a: {a}\n  b: {b}")
    accepted = sum(1 for a in answers["a"] if "ok" in json.loads(a))
    print(f"{len(inputs)} inputs, {accepted} accepted by a, {n_diff} differences")
    return 1 if n_diff else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
            sys.exit(2)
        raise
