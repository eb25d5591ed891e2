#!/usr/bin/env bash
# tests/integration/gnss.sh - the "gnss" source against Debian's real gpsd,
# fed by gpsfake from NMEA logs this test writes (RMC, GGA, GSA and GSV
# sentences with their checksums, 2 x 20 fixes). gpsfake runs single-
# stepped (-i) from a FIFO, so no sentence is fed before canopy watches:
#
#   1. gpsfake A (its own gpsd on a loopback port) holds the first sentence;
#      canopy starts, connects, watches; the test releases log A and waits
#      until A's last fix is in the bucket.
#   2. gpsd A is stopped (SIGTERM) while canopy runs: canopy logs the loss.
#   3. gpsfake B starts a new gpsd on the same port; canopy reconnects by
#      itself; the test releases log B and waits for its last fix.
#   4. The decoded samples (canopy-decode --signals) hold every fix of A and
#      B with latitude and longitude exactly as computed here from the NMEA
#      text (not from gpsd's output), and altitude, heading, speed in km/h
#      and satellite counts as expected; nothing else.
#
# Skips (77) when gpsd or gpsfake is absent (packages gpsd, gpsd-clients).
# Every wait is a bounded poll. Environment: CANOPY_BIN, CANOPY_DECODE_BIN,
# CANOPY_EMULATOR, CANOPY_TEST_KEEP=1 keeps the temp dir.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== gnss: canopy reads Debian's gpsd fed by gpsfake, across a gpsd restart"
t_require_bins CANOPY_BIN CANOPY_DECODE_BIN
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
gpsd_bin=$(command -v gpsd || true)
[[ -n "$gpsd_bin" ]] || gpsd_bin=$( [[ -x /usr/sbin/gpsd ]] && echo /usr/sbin/gpsd || true)
[[ -n "$gpsd_bin" ]] || t_skip "gpsd is not installed (Debian package gpsd; scripts/install-deps)"
command -v gpsfake >/dev/null || t_skip "gpsfake is not installed (Debian package gpsd-clients)"
command -v python3 >/dev/null || t_skip "python3 is not installed"
# gpsfake starts "gpsd" from PATH.
PATH=$PATH:$(dirname "$gpsd_bin")
t_mktemp_dir work gnss
port=$(t_free_port) || t_die "no free port"

# --- the NMEA logs and what must come out of them -----------------------------
python3 - "$work" <<'PY'
import json, sys
from decimal import Decimal
from datetime import datetime, timezone
work = sys.argv[1]

def sentence(body):
    cs = 0
    for ch in body:
        cs ^= ord(ch)
    return "$%s*%02X\r\n" % (body, cs)

def fix(i):
    # Minutes in multiples of 0.0006 make degrees = deg + min/60 a short
    # exact decimal, which gpsd prints to 9 places unchanged.
    south = i >= 20 and i % 2 == 1      # log B: both hemispheres
    lat_deg, lat_min = 48, Decimal("7.0380") + Decimal("0.0060") * i
    lon_deg, lon_min = 11, Decimal("31.0020") + Decimal("0.0120") * i
    lat = (lat_deg + lat_min / 60) * (-1 if south else 1)
    lon = (lon_deg + lon_min / 60) * (-1 if south else 1)
    t = datetime(2024, 3, 1, 12, i // 60, i % 60, tzinfo=timezone.utc)
    knots = Decimal("10.0") + Decimal("0.5") * i
    track = Decimal("84.4") + i
    msl, sep = Decimal("545.4") + i, Decimal("46.9")
    hms = t.strftime("%H%M%S") + ".00"
    la = "%02d%07.4f" % (lat_deg, lat_min)
    lo = "%03d%07.4f" % (lon_deg, lon_min)
    ns, ew = ("S", "W") if south else ("N", "E")
    text = sentence("GPRMC,%s,A,%s,%s,%s,%s,%s,%s,%s,003.1,W" %
                    (hms, la, ns, lo, ew, knots, track, t.strftime("%d%m%y")))
    text += sentence("GPGGA,%s,%s,%s,%s,%s,1,08,0.9,%s,M,%s,M,," % (hms, la, ns, lo, ew, msl, sep))
    text += sentence("GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1")
    text += sentence("GPGSV,2,1,08,01,40,083,46,02,17,308,41,12,07,344,39,14,22,228,45")
    text += sentence("GPGSV,2,2,08,04,40,083,46,05,17,308,41,09,07,344,39,24,22,228,45")
    # gpsd: m/s = knots x 1852/3600, printed to 3 places; canopy: x 3.6.
    mps = (knots * 1852 / 3600).quantize(Decimal("0.001"))
    want = {"ts": "%d.000000" % int(t.timestamp()), "lat": str(lat), "lon": str(lon),
            "alt": str(msl + sep), "track": str(track), "mps": str(mps), "log": "AB"[i >= 20]}
    return text, want

wants = []
for name, rng in (("a", range(0, 20)), ("b", range(20, 40))):
    with open("%s/%s.nmea" % (work, name), "w", newline="") as f:
        for i in rng:
            text, want = fix(i)
            f.write(text)
            wants.append(want)
json.dump(wants, open(work + "/want.json", "w"))
PY
last_a=$(python3 -c 'import json,sys; w=json.load(open(sys.argv[1])); print(w[19]["ts"])' "$work/want.json")
last_b=$(python3 -c 'import json,sys; w=json.load(open(sys.argv[1])); print(w[39]["ts"])' "$work/want.json")
lines_a=$(grep -c '^\$' "$work/a.nmea")
lines_b=$(grep -c '^\$' "$work/b.nmea")

cat >"$work/config.json" <<JSON
{
  "vehicle_id": "gnss-test",
  "sources": [{"type": "gnss", "gpsd": "127.0.0.1:$port", "reopen_ms": 200}],
  "capture": {"mode": "raw"},
  "batch": {"max_bytes": 262144, "max_age_ms": 300},
  "spool": {"dir": "$work/spool"},
  "endpoints": [{"url": "file://$work/bucket"}]
}
JSON

# --- processes ------------------------------------------------------------------
agent_pid=""
gf_pid=""
stop_gpsfake() {
  # gpsd first (gpsfake's child: this is "gpsd goes away"), then gpsfake,
  # which survives SIGTERM by design (its handler only stops gpsd).
  [[ -n "$gf_pid" ]] || return 0
  local c
  for c in $(t_children "$gf_pid"); do
    kill -TERM "$c" 2>/dev/null || true
    t_wait_pid_exit "$c" 100 || kill -KILL "$c" 2>/dev/null || true
  done
  kill -TERM "$gf_pid" 2>/dev/null || true
  t_wait_pid_exit "$gf_pid" 20 || kill -KILL "$gf_pid" 2>/dev/null || true
  wait "$gf_pid" 2>/dev/null || true
  gf_pid=""
}
stop_agent() {
  [[ -n "$agent_pid" ]] || return 0
  kill -TERM "$agent_pid" 2>/dev/null || true
  t_wait_pid_exit "$agent_pid" 600 || kill -KILL "$agent_pid" 2>/dev/null || true
  wait "$agent_pid" 2>/dev/null || true
  agent_pid=""
}
t_on_exit stop_agent
t_on_exit stop_gpsfake

# Starts gpsfake single-stepped on log $1 with its stdin on FIFO $2 (kept
# open on fd 7 by this shell), and waits until it holds the first sentence.
# -n: gpsd opens the device when gpsfake adds it, so that canopy gets its
# reports even when it connected in between (then it watches 0 devices).
start_gpsfake() {
  local log=$1 fifo=$2 out=$3
  rm -f "$fifo"
  mkfifo "$fifo"
  exec 7<>"$fifo"
  gpsfake -1 -i -n -q -P "$port" "$log" <"$fifo" >"$out" 2>&1 &
  gf_pid=$!
  t_wait_until 600 0.1 grep -q 'GPRMC' "$out" ||
    t_die "gpsfake did not reach its first sentence within 60 s: $(tail -c 400 "$out")"
}
# Lets gpsfake feed all $2 sentences of log $1, then waits until the fix
# stamped $3 (its last) is in the bucket.
release() {
  local i
  for ((i = 0; i < $2 + 5; i++)); do printf '\n'; done >&7
  if t_wait_until 300 0.2 has_fix "$3"; then
    t_pass "the last fix of log $1 is in the bucket"
  else
    t_fail "the last fix of log $1 ($3) did not arrive within 60 s: $(tail -n 5 "$work/agent.log")"
  fi
}
watching() { [[ $(grep -c "is watching [0-9]* devices* for us" "$work/agent.log") -ge $1 ]]; }
has_fix() {
  "${emu[@]}" "$CANOPY_DECODE_BIN" --signals --format csv "$work/bucket" 2>/dev/null |
    grep -q "^$1,gnss,TPV,Vehicle.CurrentLocation.Latitude,"
}

# --- 1: gpsd A, log A -----------------------------------------------------------
start_gpsfake "$work/a.nmea" "$work/fifo-a" "$work/gpsfake-a.out"
"${emu[@]}" "$CANOPY_BIN" --config "$work/config.json" 2>"$work/agent.log" &
agent_pid=$!
if t_wait_until 600 0.1 watching 1; then
  t_pass "canopy connected to gpsd and watches its device"
else
  t_die "canopy did not start watching within 60 s: $(tail -n 5 "$work/agent.log")"
fi
release A "$lines_a" "$last_a"

# --- 2: gpsd goes away ------------------------------------------------------------
stop_gpsfake
exec 7>&-
if t_wait_until 300 0.1 grep -q "gpsd at 127.0.0.1:$port .*retrying" "$work/agent.log"; then
  t_pass "canopy noticed that gpsd went away"
else
  t_fail "no lost-connection message: $(tail -n 5 "$work/agent.log")"
fi

# --- 3: gpsd B on the same port, log B --------------------------------------------
start_gpsfake "$work/b.nmea" "$work/fifo-b" "$work/gpsfake-b.out"
if t_wait_until 600 0.1 watching 2; then
  t_pass "canopy reconnected to the new gpsd by itself"
else
  t_die "canopy did not watch the new gpsd within 60 s: $(tail -n 5 "$work/agent.log")"
fi
release B "$lines_b" "$last_b"
stop_agent
stop_gpsfake
exec 7>&-

# --- 4: what arrived ----------------------------------------------------------------
"${emu[@]}" "$CANOPY_DECODE_BIN" --signals --format csv "$work/bucket" >"$work/got.csv" \
  2>"$work/decode.err" || t_fail "canopy-decode failed: $(head -n 3 "$work/decode.err")"
if python3 - "$work/want.json" "$work/got.csv" <<'PY'
import csv, json, sys
from decimal import Decimal
wants = json.load(open(sys.argv[1]))
by_ts = {w["ts"]: w for w in wants}
rows = [r for r in csv.DictReader(open(sys.argv[2])) if r["interface"] == "gnss"]
errors = []
seen = {}
expect = {
    "Vehicle.CurrentLocation.Latitude": lambda w: float(w["lat"]),
    "Vehicle.CurrentLocation.Longitude": lambda w: float(w["lon"]),
    "Vehicle.CurrentLocation.Altitude": lambda w: float(w["alt"]),
    "Vehicle.CurrentLocation.Heading": lambda w: float(w["track"]),
    "Vehicle.Speed": lambda w: float(w["mps"]) * 3.6,
}
for r in rows:
    name, ts, v = r["signal"], r["timestamp"], float(r["value"])
    if name in expect:
        w = by_ts.get(ts)
        if w is None:
            errors.append("%s at %s: no fix was sent with that time" % (name, ts))
        elif v != expect[name](w):
            errors.append("%s at %s: %r, sent %r" % (name, ts, v, expect[name](w)))
        else:
            seen.setdefault(name, set()).add(ts)
    elif name == "GNSS.SatellitesUsed" and v != 5:
        errors.append("SatellitesUsed %r, sent 5" % v)
    elif name == "GNSS.SatellitesVisible" and v != 8:
        errors.append("SatellitesVisible %r, sent 8" % v)
    elif name == "GNSS.FixMode" and v not in (2, 3):
        errors.append("FixMode %r" % v)
for name in ("Vehicle.CurrentLocation.Latitude", "Vehicle.CurrentLocation.Longitude",
             "Vehicle.CurrentLocation.Altitude", "Vehicle.Speed"):
    missing = [w["log"] + ":" + w["ts"] for w in wants if w["ts"] not in seen.get(name, ())]
    if missing:
        errors.append("%s: %d fixes missing: %s" % (name, len(missing), " ".join(missing[:5])))
units = {(r["signal"], r["unit"]) for r in rows}
for want in (("Vehicle.Speed", "km/h"), ("Vehicle.CurrentLocation.Latitude", "degrees"),
             ("GNSS.SatellitesVisible", "")):
    if want not in units:
        errors.append("no %s in %s" % (want[1] or "unitless", want[0]))
for e in errors[:20]:
    print("  " + e)
print("INFO: %d GNSS samples, %d of %d fixes with exact positions"
      % (len(rows), len(seen.get("Vehicle.CurrentLocation.Latitude", ())), len(wants)))
sys.exit(1 if errors else 0)
PY
then
  t_pass "every fix of both gpsd runs arrived, positions exactly as sent"
else
  t_fail "the decoded GNSS samples differ from what was sent (above)"
fi
if grep -q "malformed=0" "$work/agent.log"; then
  t_pass "no malformed report lines"
else
  t_fail "malformed lines: $(grep -m1 'summary' "$work/agent.log" || true)"
fi
t_finish "gnss: gpsd's fixes arrive exactly, across a gpsd restart"
