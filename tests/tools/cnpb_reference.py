#!/usr/bin/env python3
"""An independent reader of canopy batches, written from docs/FORMAT.md alone.

It shares no code with canopy: it checks that the format document is precise
enough for a second decoder. Reads batch files (or directories, recursively),
verifies the digest, decodes codecs 1, 2 and 5, and prints the frames as candump
text in (vehicle, spool, boot, seq) order.

usage: cnpb_reference.py PATH...
"""
import hashlib
import json
import os
import struct
import sys
import zlib


def varint(b, i):
    v = shift = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if not x & 0x80:
            return v, i


def unzz(v):
    return (v >> 1) ^ -(v & 1)


def frame_text(f, ifname):
    ts, fid, flags, fdf, length, dlc, style, data = f
    sec, usec = divmod(ts, 1000000)
    width = style & 0x1F
    s = "(%0*d.%06d) %s " % (width, sec, usec, ifname) if width else "(%d.%06d) %s " % (sec, usec, ifname)
    hexd = lambda x: ("%02x" if style & 0x20 else "%02X") % x
    if flags & 8:
        ident = "%08X" % (fid | 0x20000000)
    elif flags & 1:
        ident = "%08X" % fid
    else:
        ident = "%03X" % fid
    if style & 0x20:
        ident = ident.lower()
    s += ident + "#"
    if flags & 4:
        s += "R" + (("%x" if style & 0x20 else "%X") % dlc if dlc else "")
    else:
        if flags & 2:
            s += "#" + (("%x" if style & 0x20 else "%X") % fdf)
        s += "".join(hexd(x) for x in data[:length])
        if dlc:
            s += "_" + (("%x" if style & 0x20 else "%X") % dlc)
    if not style & 0x80:
        s += "\r\n" if style & 0x40 else "\n"
    return s


def codec1(raw, count):
    out, i, ts = [], 0, 0
    for _ in range(count):
        z, i = varint(raw, i)
        ts += unzz(z)
        iface, fl, style = raw[i], raw[i + 1], raw[i + 2]
        i += 3
        fid, i = varint(raw, i)
        length, dlc = raw[i], raw[i + 1]
        i += 2
        data = raw[i:i + length]
        i += length
        out.append((iface, (ts, fid, fl & 15, fl >> 4, length, dlc, style, data)))
    assert i == len(raw), "rows: trailing bytes"
    return out


def checksum(data, kind, k):
    """Codec 5: the checksum of data (its checksum bits zero) as it belongs
    in the last byte: the whole byte (kind 2) or its low nibble (kind 1)."""
    body = data[:-1]
    if kind == 2:
        return (k + sum(body)) & 255
    nibbles = sum((x & 15) + (x >> 4) for x in body) + (data[-1] >> 4)
    return (k - nibbles) & 15


def codec2(raw, count, v5=False):
    i = 0
    n, i = varint(raw, i)
    ns, i = varint(raw, i)
    unit, i = varint(raw, i)
    t0, i = varint(raw, i)
    k, i = varint(raw, i)
    dic = []
    for _ in range(k):
        v, i = varint(raw, i)
        dic.append(v + dic[-1] if v5 and dic else v)
    assert n == count
    streams, key = [], 0
    for _ in range(ns):
        d, i = varint(raw, i)
        key += d
        cnt, i = varint(raw, i)
        m, mask = raw[i], raw[i + 1]
        i += 2
        vary, stored = mask & 15, mask >> 4
        const = {0: m, 1: 0, 2: 0, 3: 0}
        for bit in range(4):
            if stored & (1 << bit):
                const[bit] = raw[i]
                i += 1
        ck = ck_k = ctr = None
        if v5:
            c = raw[i]
            i += 1
            ck, ck_k = c & 3, c >> 4
            if ck == 2:
                ck_k = raw[i]
                i += 1
            if c & 4:
                ctr = (raw[i] & 15, raw[i] >> 4, raw[i + 1])  # width, low bit, byte
                i += 2
        streams.append(dict(iface=key >> 40, flags=(key >> 32) & 15, id=key & 0xFFFFFFFF,
                            count=cnt, m=m, vary=vary, const=const, ck=ck, ck_k=ck_k, ctr=ctr))
    wide = ns > 256
    order = []
    for _ in range(n):
        if wide:
            order.append(raw[i] | raw[i + 1] << 8)
            i += 2
        else:
            order.append(raw[i])
            i += 1
    syms = raw[i:i + max(n - 1, 0)]
    i += max(n - 1, 0)
    nbits = 0
    for s in syms:
        if s == 254:
            nbits += 64
        elif k + 16 <= s < k + 160:
            nbits += (s - k - 16) // 4 + 2
    bitbytes = raw[i:i + (nbits + 7) // 8]
    i += (nbits + 7) // 8
    bitval = int.from_bytes(bitbytes, "little")
    bitpos = 0
    for st in streams:
        nv = bin(st["vary"]).count("1")
        st["attrs"] = raw[i:i + st["count"] * nv]
        i += st["count"] * nv
    for st in streams:
        if st["m"] == 0:
            continue
        st["syms"] = raw[i:i + st["count"]]
        i += st["count"]
        st["nlit"] = sum(1 for x in st["syms"] if x == 255)
        st["lits"] = raw[i:i + st["nlit"] * st["m"]]
        i += st["nlit"] * st["m"]
    assert i == len(raw), "cols: trailing bytes"
    for st in streams:
        st.update(seen=0, lit=0, mtf=[], prev=bytes(st["m"]))
    out, ts = [], t0
    for j in range(n):
        st = streams[order[j]]
        if j > 0:
            s = syms[j - 1]
            if s < k:
                z = dic[s]
            elif s < k + 16:
                z = s - k
            elif s == 254:
                z = (bitval >> bitpos) & ((1 << 64) - 1)
                bitpos += 64
            else:
                t = s - k - 16
                b = t // 4 + 5
                low = (bitval >> bitpos) & ((1 << (b - 3)) - 1)
                bitpos += b - 3
                z = (1 << (b - 1)) | ((t % 4) << (b - 3)) | low
            ts += unzz(z) * unit
        attrs = dict(st["const"])
        nv = bin(st["vary"]).count("1")
        a = st["attrs"][st["seen"] * nv:(st["seen"] + 1) * nv]
        p = 0
        for bit in range(4):
            if st["vary"] & (1 << bit):
                attrs[bit] = a[p]
                p += 1
        length = attrs[0]
        data = b""
        if st["m"]:
            sym = st["syms"][st["seen"]]
            if sym == 255:
                col = [(st["lits"][c * st["nlit"] + st["lit"]] + st["prev"][c]) & 255
                       for c in range(st["m"])]
                data = bytes(col)
                st["lit"] += 1
                st["mtf"].insert(0, data)
                del st["mtf"][8:]
            else:
                data = st["mtf"].pop(sym)
                st["mtf"].insert(0, data)
            st["prev"] = data
            data = bytearray(data[:length])
            if st["ctr"]:
                w, lo, pos = st["ctr"]
                mask = (1 << w) - 1
                v = (data[pos] >> lo) & mask
                if st["seen"] > 0:
                    v = (v + st["ctr_prev"] + 1) & mask
                data[pos] = (data[pos] & ~(mask << lo) & 255) | (v << lo)
                st["ctr_prev"] = v
            if st["ck"]:
                c = checksum(data, st["ck"], st["ck_k"])
                data[-1] = c if st["ck"] == 2 else (data[-1] & 0xF0) | c
            data = bytes(data)
        st["seen"] += 1
        out.append((st["iface"], (ts, st["id"], st["flags"], attrs[2], length, attrs[1], attrs[3],
                                  data[:length])))
    return out


def read_batch(path):
    b = open(path, "rb").read()
    assert b[:4] == b"CNPB" and b[4] == 1, "not a version 1 batch"
    assert hashlib.sha256(b[:-32]).digest() == b[-32:], "digest mismatch"
    flags, mlen, nsec = struct.unpack("<HII", b[6:16])
    man = json.loads(b[16:16 + mlen])
    i = 16 + mlen
    frames = []
    for _ in range(nsec):
        kind, codec, sflags, count, rawlen, stored = struct.unpack("<BBHIII", b[i:i + 16])
        body = b[i + 16:i + 16 + stored]
        i += 16 + stored
        if kind != 1:
            continue
        raw = zlib.decompress(body)
        assert len(raw) == rawlen
        frames += codec1(raw, count) if codec == 1 else codec2(raw, count, codec == 5)
    if flags & 1:
        typ, res, siglen = struct.unpack("<BBH", b[i:i + 4])
        i += 4 + siglen
    assert i == len(b) - 32, "bytes before the digest"
    names = [x["name"] for x in man["interfaces"]]
    return man, "".join(frame_text(f, names[iface]) for iface, f in frames)


def main():
    files = []
    for p in sys.argv[1:]:
        if os.path.isdir(p):
            for root, _, fs in os.walk(p):
                files += [os.path.join(root, f) for f in fs if f.endswith(".cnp") and not f.startswith(".")]
        else:
            files.append(p)
    batches = []
    for f in files:
        man, text = read_batch(f)
        batches.append(((man["vehicle"], man["spool"], man["boot"], man["seq"]), text))
    batches.sort(key=lambda x: x[0])
    sys.stdout.write("".join(t for _, t in batches))


if __name__ == "__main__":
    main()
