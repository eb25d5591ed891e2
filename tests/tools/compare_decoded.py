#!/usr/bin/python3
"""Compare two decoded-signal CSVs (timestamp,interface,id,message,signal,
value), e.g. canopy-dbc's against decode_canmatrix.py's, frame by frame.

    compare_decoded.py LABEL CANOPY.csv REFERENCE.csv

A frame is a run of rows with the same timestamp, interface, id and
message; both files must hold the same frames in the same order, each with
the same set of signals. Values: two integers must be equal; otherwise the
numbers must agree within 1e-9 relative (1e-9 absolute below magnitude 1,
where a scaled zero may carry rounding residue); NaN equals NaN.

Prints "LABEL: frames N, signals N compared, M mismatches" and the first
mismatches; exits 1 on any mismatch.
"""
import math
import re
import sys

INT = re.compile(r"^-?\d+$")
REL = 1e-9


def frames(path):
    with open(path, "r", encoding="utf-8") as f:
        header = f.readline().rstrip("\n")
        if header != "timestamp,interface,id,message,signal,value":
            raise SystemExit("%s: unexpected header %r" % (path, header))
        key, sigs = None, {}
        for line in f:
            ts, ifname, ident, msg, sig, val = line.rstrip("\n").split(",")
            k = (ts, ifname, ident, msg)
            if k != key:
                if key is not None:
                    yield key, sigs
                key, sigs = k, {}
            sigs[sig] = val
        if key is not None:
            yield key, sigs


def same(a, b):
    if INT.match(a) and INT.match(b):
        return int(a) == int(b)
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= REL * max(abs(x), abs(y), 1.0)


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    label, mine, ref = sys.argv[1:]
    n_frames = n_signals = 0
    problems = []
    a_it, b_it = frames(mine), frames(ref)
    while True:
        a = next(a_it, None)
        b = next(b_it, None)
        if a is None and b is None:
            break
        if a is None or b is None or a[0] != b[0]:
            problems.append("frame sequence differs: canopy %s, reference %s"
                            % (a[0] if a else "end", b[0] if b else "end"))
            break
        n_frames += 1
        if set(a[1]) != set(b[1]):
            problems.append("%s: signals differ: only canopy %s, only reference %s" % (
                " ".join(a[0]), sorted(set(a[1]) - set(b[1])), sorted(set(b[1]) - set(a[1]))))
        for name, va in a[1].items():
            vb = b[1].get(name)
            if vb is None:
                continue
            n_signals += 1
            if not same(va, vb):
                problems.append("%s %s: canopy %s, reference %s" % (" ".join(a[0]), name, va, vb))
    print("%s: frames %d, signals %d compared, %d mismatches"
          % (label, n_frames, n_signals, len(problems)))
    for p in problems[:20]:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
