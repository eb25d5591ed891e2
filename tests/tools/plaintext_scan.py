#!/usr/bin/env python3
"""Looks for plaintext of a candump trace in files (the spool of an agent
that encrypts): candump text of frames, their payload bytes, and any zlib
stream that inflates (a compressed plaintext section would be one).

usage: plaintext_scan.py TRACE PATH...   (exit 1 and a line per finding)
"""
import os
import re
import sys
import zlib


def needles(trace):
    """Distinctive pieces of the trace: 'ID#DATA' texts and payloads of at
    least 6 bytes, taken from frames whose payload is not trivial."""
    texts, payloads = set(), set()
    for line in open(trace, encoding="ascii", errors="replace"):
        m = re.match(r"\(\d+\.\d+\) \S+ ([0-9A-Fa-f]+)#([0-9A-Fa-f]{12,16})\s*$", line)
        if not m:
            continue
        data = bytes.fromhex(m.group(2))
        if len(set(data)) < 4:  # 00 00 00 ... would match anything
            continue
        texts.add((m.group(1) + "#" + m.group(2)).encode())
        payloads.add(data)
        if len(payloads) >= 200:
            break
    return texts, payloads


def files(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                for n in names:
                    yield os.path.join(root, n)
        else:
            yield p


def main():
    texts, payloads = needles(sys.argv[1])
    if len(payloads) < 10:
        print("too few distinctive frames in the trace to scan for")
        return 2
    found = scanned = 0
    for f in files(sys.argv[2:]):
        data = open(f, "rb").read()
        scanned += 1
        for n in texts | payloads:
            if n in data:
                print("%s: plaintext %r" % (f, n))
                found += 1
                break
        for i in (m.start() for m in re.finditer(b"\x78[\x01\x5e\x9c\xda]", data)):
            try:
                out = zlib.decompressobj().decompress(data[i:], 4096)
            except zlib.error:
                continue
            if len(out) >= 16:
                print("%s: a zlib stream at %d inflates (%d bytes)" % (f, i, len(out)))
                found += 1
                break
    print("scanned %d files for %d texts and %d payloads: %d findings"
          % (scanned, len(texts), len(payloads), found))
    return 1 if found or scanned == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
