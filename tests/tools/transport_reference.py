#!/usr/bin/python3
"""Independent reference for canopy's passive transport reassembly
(docs/TRANSPORT.md), used by tests/integration/transport.sh.

    transport_reference.py isotp LOG IFACE IDHEX [--length-prefix] > MESSAGES.log
        Reassembles the ISO-TP messages of one 11-bit id of a candump log
        (normal addressing, classic frames) and writes each complete one as
        a candump-style line "(ts) IFACE ID#HEX" (any length), stamped with
        the frame that completed it. Prints the counts as JSON on stderr:
        {"messages": N, "broken": {"missing_frame": N, ...}}.

    transport_reference.py j1939 DIR
        Writes DIR/j1939.log (a candump log of J1939 BAM and RTS/CTS sessions,
        some broken on purpose), DIR/j1939.dbc (the messages they carry),
        DIR/messages.log (the messages that must come out whole, as above)
        and DIR/counts.json (what canopy must count).

Written from the standards' rules (ISO 15765-2, SAE J1939-21), not from
canopy's code.
"""
import json
import random
import re
import sys

LINE = re.compile(r"^\((\d+\.\d{6})\) (\S+) ([0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})#([0-9A-Fa-f]*)$")
N_CR = 1.0  # ISO 15765-2 N_Cr, seconds
REASONS = ["missing_frame", "wrong_sequence", "timeout", "abort", "replaced", "malformed",
           "too_long", "stray", "no_slot"]


def isotp(args):
    log, iface, idhex = args[0], args[1], args[2].upper()
    prefix = "--length-prefix" in args[3:]
    broken = dict.fromkeys(REASONS, 0)
    messages = 0
    session = None  # [expected length, bytes so far, next SN, last time]
    out = sys.stdout
    with open(log, encoding="ascii") as f:
        for line in f:
            m = LINE.match(line.strip())
            if not m:
                continue
            ts, ifname, ident, hexdata = m.groups()
            t = float(ts)
            if session and t - session[3] > N_CR + 1e-9:
                broken["timeout"] += 1
                session = None
            if ifname != iface or ident.upper() != idhex:
                continue
            data = bytes.fromhex(hexdata)
            kind = data[0] >> 4
            if kind in (0, 1) and session:
                broken["replaced"] += 1
                session = None
            if kind == 0:
                n = data[0] & 15
                payload = data[1:1 + n]
            elif kind == 1:
                n = (data[0] & 15) << 8 | data[1]
                session = [n, bytearray(data[2:]), 1, t]
                continue
            elif kind == 2:
                if not session:
                    broken["stray"] += 1
                    continue
                sn = data[0] & 15
                if sn != session[2]:
                    one_ahead = sn == (session[2] + 1) % 16
                    broken["missing_frame" if one_ahead else "wrong_sequence"] += 1
                    session = None
                    continue
                session[1] += data[1:]
                session[2] = (sn + 1) % 16
                session[3] = t
                if len(session[1]) < session[0]:
                    continue
                n, payload = session[0], bytes(session[1][:session[0]])
                session = None
            else:
                continue
            messages += 1
            body = (bytes([n & 0xFF]) if prefix else b"") + payload
            out.write("(%s) %s %s#%s\n" % (ts, iface, idhex, body.hex().upper()))
    print(json.dumps({"messages": messages, "broken": broken}), file=sys.stderr)
    return 0


DBC = """VERSION ""

NS_ :

BS_:

BU_:

BO_ 2566834942 TransportBig: 20 Vector__XXX
 SG_ Alpha : 0|16@1+ (0.5,0) [0|0] "" Vector__XXX
 SG_ Beta : 16|32@1+ (1,0) [0|0] "" Vector__XXX
 SG_ Gamma : 71|16@0+ (0.01,-100) [0|0] "" Vector__XXX
 SG_ Omega : 152|8@1- (1,0) [0|0] "" Vector__XXX

BO_ 2564358398 TransportPeer: 23 Vector__XXX
 SG_ First : 0|8@1+ (1,0) [0|0] "" Vector__XXX
 SG_ Middle : 80|24@1+ (0.1,0) [0|0] "" Vector__XXX
 SG_ Last : 176|8@1+ (1,-40) [0|0] "" Vector__XXX

BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","reserved","J1939PG";
BA_DEF_ "ProtocolType" STRING;
BA_DEF_DEF_ "VFrameFormat" "J1939PG";
BA_DEF_DEF_ "ProtocolType" "";
BA_ "ProtocolType" "J1939";
BA_ "VFrameFormat" BO_ 2566834942 3;
BA_ "VFrameFormat" BO_ 2564358398 3;
"""
BIG_PGN = 0xFECA    # PDU2, 20 bytes: BAM
PEER_PGN = 0xD900   # PDU1, 23 bytes: RTS/CTS (DA in PS)


class Log:
    def __init__(self):
        self.t = 1700000000 * 1000000  # microseconds
        self.lines = []
        self.messages = []

    def frame(self, dt, ident, data):
        self.t += round(dt * 1e6)
        self.lines.append("(%s) can0 %08X#%s" % (self.ts(), ident, bytes(data).hex().upper()))

    def ts(self):
        return "%d.%06d" % divmod(self.t, 1000000)

    def message(self, ident, payload):
        self.messages.append("(%s) can0 %08X#%s" % (self.ts(), ident, payload.hex().upper()))


def jid(prio, pf, ps, sa):
    return prio << 26 | pf << 16 | ps << 8 | sa


def cm(log, dt, sa, da, body, pgn):
    log.frame(dt, jid(7, 0xEC, da, sa), bytes(body) + pgn.to_bytes(3, "little"))


def dt_frame(log, dt, sa, da, payload, sn):
    chunk = payload[7 * (sn - 1):7 * sn]
    log.frame(dt, jid(7, 0xEB, da, sa), bytes([sn]) + chunk + b"\xff" * (7 - len(chunk)))


def bam(log, sa, payload, pgn, sns, gaps=None):
    size = len(payload)
    cm(log, 0.010, sa, 0xFF, [32, size & 255, size >> 8, (size + 6) // 7, 0xFF], pgn)
    for i, sn in enumerate(sns):
        dt_frame(log, gaps[i] if gaps else 0.050, sa, 0xFF, payload, sn)


def j1939(args):
    d = args[0]
    rnd = random.Random(1939)
    log = Log()
    counts = dict.fromkeys(REASONS, 0)
    good = 0

    def big():
        return bytes(rnd.randrange(256) for _ in range(20))

    def peer():
        return bytes(rnd.randrange(256) for _ in range(23))

    def noise():  # a frame of another PGN: not transport
        log.frame(0.003, jid(3, 0xF0, 0x04, 0x00), bytes(rnd.randrange(256) for _ in range(8)))

    # 1-3: whole BAMs, two of them interleaved.
    for sa in (0x00, 0x03):
        p = big()
        bam(log, sa, p, BIG_PGN, [1, 2, 3])
        log.message(jid(7, 0xFE, 0xCA, sa), p)
        good += 1
        noise()
    p1, p2 = big(), big()
    cm(log, 0.010, 0x21, 0xFF, [32, 20, 0, 3, 0xFF], BIG_PGN)
    cm(log, 0.010, 0x27, 0xFF, [32, 20, 0, 3, 0xFF], BIG_PGN)
    for sn in (1, 2, 3):
        dt_frame(log, 0.020, 0x21, 0xFF, p1, sn)
        if sn == 3:
            log.message(jid(7, 0xFE, 0xCA, 0x21), p1)
        dt_frame(log, 0.020, 0x27, 0xFF, p2, sn)
        if sn == 3:
            log.message(jid(7, 0xFE, 0xCA, 0x27), p2)
    good += 2
    # A packet missing; a sequence number repeated; a gap past T1 (750 ms:
    # the late packet is then stray); a BAM restarted over an open one.
    bam(log, 0x00, big(), BIG_PGN, [1, 3])
    counts["missing_frame"] += 1
    bam(log, 0x00, big(), BIG_PGN, [1, 1])
    counts["wrong_sequence"] += 1
    bam(log, 0x00, big(), BIG_PGN, [1, 2], gaps=[0.050, 0.760])
    counts["timeout"] += 1
    counts["stray"] += 1
    bam(log, 0x00, big(), BIG_PGN, [1])
    p = big()
    bam(log, 0x00, p, BIG_PGN, [1, 2, 3])
    log.message(jid(7, 0xFE, 0xCA, 0x00), p)
    counts["replaced"] += 1
    good += 1
    noise()
    # RTS/CTS 0x21 -> 0x00, two packets per CTS, acknowledged.
    p = peer()
    cm(log, 0.010, 0x21, 0x00, [16, 23, 0, 4, 2], PEER_PGN)
    cm(log, 0.010, 0x00, 0x21, [17, 2, 1, 0xFF, 0xFF], PEER_PGN)
    dt_frame(log, 0.010, 0x21, 0x00, p, 1)
    dt_frame(log, 0.010, 0x21, 0x00, p, 2)
    cm(log, 0.010, 0x00, 0x21, [17, 2, 3, 0xFF, 0xFF], PEER_PGN)
    dt_frame(log, 0.010, 0x21, 0x00, p, 3)
    noise()
    dt_frame(log, 0.010, 0x21, 0x00, p, 4)
    cm(log, 0.010, 0x00, 0x21, [19, 23, 0, 4, 0xFF], PEER_PGN)
    log.message(jid(7, 0xD9, 0x00, 0x21), p)
    good += 1
    # Aborted by the receiver after one packet.
    p = peer()
    cm(log, 0.010, 0x21, 0x00, [16, 23, 0, 4, 0xFF], PEER_PGN)
    cm(log, 0.010, 0x00, 0x21, [17, 4, 1, 0xFF, 0xFF], PEER_PGN)
    dt_frame(log, 0.010, 0x21, 0x00, p, 1)
    cm(log, 0.010, 0x00, 0x21, [255, 3, 0xFF, 0xFF, 0xFF], PEER_PGN)
    counts["abort"] += 1
    # Every packet, but no EoMA within T3 (1250 ms): the next frame, later,
    # times it out.
    p = peer()
    cm(log, 0.010, 0x21, 0x03, [16, 23, 0, 4, 0xFF], PEER_PGN)
    cm(log, 0.010, 0x03, 0x21, [17, 4, 1, 0xFF, 0xFF], PEER_PGN)
    for sn in (1, 2, 3, 4):
        dt_frame(log, 0.010, 0x21, 0x03, p, sn)
    log.t += 1300000
    noise()
    counts["timeout"] += 1
    # A retransmission asked for by a second CTS, then acknowledged.
    p = peer()
    cm(log, 0.010, 0x27, 0x00, [16, 23, 0, 4, 0xFF], PEER_PGN)
    cm(log, 0.010, 0x00, 0x27, [17, 4, 1, 0xFF, 0xFF], PEER_PGN)
    for sn in (1, 2, 3, 4):
        dt_frame(log, 0.010, 0x27, 0x00, p, sn)
    cm(log, 0.010, 0x00, 0x27, [17, 1, 2, 0xFF, 0xFF], PEER_PGN)
    dt_frame(log, 0.010, 0x27, 0x00, p, 2)
    cm(log, 0.010, 0x00, 0x27, [19, 23, 0, 4, 0xFF], PEER_PGN)
    log.message(jid(7, 0xD9, 0x00, 0x27), p)
    good += 1
    noise()

    with open(d + "/j1939.log", "w") as f:
        f.write("\n".join(log.lines) + "\n")
    with open(d + "/messages.log", "w") as f:
        f.write("\n".join(log.messages) + "\n")
    with open(d + "/j1939.dbc", "w") as f:
        f.write(DBC)
    with open(d + "/counts.json", "w") as f:
        json.dump({"messages": good, "broken": counts}, f)
    return 0


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "isotp":
        return isotp(sys.argv[2:])
    if len(sys.argv) == 3 and sys.argv[1] == "j1939":
        return j1939(sys.argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
