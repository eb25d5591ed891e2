#!/usr/bin/python3
"""Decode a candump log with a DBC file using Debian's python3-canmatrix,
as an independent reference for canopy's decoder. Writes the CSV that
`canopy-dbc DBC LOG` writes:

    timestamp,interface,id,message,signal,value

    decode_canmatrix.py [--interface IF] DBC LOG

Everything that decides a value comes from canmatrix: the DBC reading, the
frame lookup (exact id, then the J1939 PGN when the database has J1939
frames), the bit extraction, sign, float, multiplexing and scaling (in
Decimal arithmetic). Only two things are done here:

- The candump text is parsed (a regular expression, not canopy's parser).
- Frames shorter than their message: canmatrix refuses them, canopy decodes
  the signals that fit. The frame is decoded twice, padded with 0x00 and
  with 0xFF; a signal is kept when both give it the same raw value, i.e.
  when it (and its multiplexor) does not depend on the missing bytes.
  Longer frames are cut to the message length.

An integer signal without scaling is printed as its integer raw value; any
other value as Python's shortest repr of the float nearest to canmatrix's
exact Decimal result. DBC files without BS_ or BU_ (canmatrix's DBC reader
is line based and may trip on them) are read from a temporary copy with
"BS_:" and "BU_:" inserted before the first BO_, as ../shared/data/MANIFEST.md
describes; the original is never changed.
"""
import contextlib
import io
import logging
import os
import re
import sys
import tempfile

logging.disable(logging.CRITICAL)
import canmatrix  # noqa: E402
import canmatrix.formats  # noqa: E402

LINE = re.compile(r"^\((\d+)\.(\d{6})\) (\S+) ([0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})#(.*)$")


def load(path):
    with open(path, "rb") as f:
        text = f.read()
    has_bs = re.search(rb"^[ \t]*BS_[ \t]*:", text, re.M)
    has_bu = re.search(rb"^[ \t]*BU_[ \t]*:", text, re.M)
    tmp = None
    if not (has_bs and has_bu):
        ins = (b"" if has_bs else b"BS_:\n\n") + (b"" if has_bu else b"BU_:\n\n")
        m = re.search(rb"^BO_ ", text, re.M)
        pos = m.start() if m else len(text)
        fd, tmp = tempfile.mkstemp(suffix=".dbc")
        with os.fdopen(fd, "wb") as f:
            f.write(text[:pos] + ins + text[pos:])
        print("decode_canmatrix: %s lacks BS_/BU_; read from a patched copy" % path,
              file=sys.stderr)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # canmatrix prints
            dbs = canmatrix.formats.loadp(tmp or path, import_type="dbc")
    finally:
        if tmp:
            os.unlink(tmp)
    return dbs[next(iter(dbs))]


def value_text(sig, dec):
    if not sig.is_float and sig.factor == 1 and sig.offset == 0:
        return str(int(dec.raw_value))
    return repr(float(dec.phys_value))


def main():
    args = sys.argv[1:]
    only_if = None
    if len(args) >= 2 and args[0] == "--interface":
        only_if = args[1]
        args = args[2:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    db = load(args[0])
    j1939 = db.contains_j1939
    cache = {}

    def lookup(ident, ext):
        key = (ident, ext)
        if key not in cache:
            frame = db.frame_by_id(canmatrix.ArbitrationId(ident, extended=ext))
            if frame is None and ext and j1939:
                frame = db.frame_by_pgn(canmatrix.ArbitrationId(ident, extended=True).pgn)
            cache[key] = frame
        return cache[key]

    out = sys.stdout
    out.write("timestamp,interface,id,message,signal,value\n")
    frames = matched = signals = 0
    with open(args[1], "r", encoding="ascii") as log:
        for line in log:
            m = LINE.match(line.rstrip("\r\n"))
            if not m:
                continue
            sec, usec, ifname, idhex, payload = m.groups()
            if only_if is not None and ifname != only_if:
                continue
            frames += 1
            ext = len(idhex) == 8
            ident = int(idhex, 16)
            if payload.startswith("R") or (ext and ident & 0x20000000):
                continue  # remote or error frame
            if payload.startswith("#"):
                payload = payload[2:]  # CAN FD: flags digit
            payload = payload.split("_")[0]
            data = bytes.fromhex(payload)
            frame = lookup(ident, ext)
            if frame is None:
                continue
            matched += 1
            size = frame.size
            if len(data) >= size:
                decoded = frame.decode(bytearray(data[:size]))
                keep = list(decoded.items())
            else:
                pad = size - len(data)
                lo = frame.decode(bytearray(data + b"\x00" * pad))
                hi = frame.decode(bytearray(data + b"\xff" * pad))
                keep = [(k, v) for k, v in lo.items()
                        if k in hi and repr(hi[k].raw_value) == repr(v.raw_value)]
            prefix = "%d.%s,%s,%s,%s," % (
                int(sec), usec, ifname, ("%08X" if ext else "%03X") % ident, frame.name)
            for name, dec in keep:
                out.write(prefix + name + "," + value_text(dec.signal, dec) + "\n")
                signals += 1
    print("decode_canmatrix: %s: frames %d, matched %d, signals %d"
          % (args[1], frames, matched, signals), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
