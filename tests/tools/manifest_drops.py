#!/usr/bin/python3
"""Sums the manifests' drop counters of every batch (*.cnp) under DIR.

    manifest_drops.py DIR [REASON]

Prints "N OTHER": N, the sum of dropped.REASON (default corrupt_batch),
and OTHER, the sum of every other dropped counter. Reads the manifest
straight from the batch (docs/FORMAT.md: its length at byte 8, the JSON
from byte 16), so that it needs neither canopy-decode nor a key.
"""
import json
import os
import struct
import sys


def main():
    top = sys.argv[1]
    reason = sys.argv[2] if len(sys.argv) > 2 else "corrupt_batch"
    mine = other = 0
    for root, _, files in os.walk(top):
        for f in files:
            if not f.endswith(".cnp") or f.startswith("."):
                continue
            with open(os.path.join(root, f), "rb") as fh:
                b = fh.read()
            (mlen,) = struct.unpack_from("<I", b, 8)
            m = json.loads(b[16:16 + mlen])
            for k, v in m.get("dropped", {}).items():
                if k == reason:
                    mine += v
                else:
                    other += v
    print(mine, other)


if __name__ == "__main__":
    main()
