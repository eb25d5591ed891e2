#!/usr/bin/env bash
# tests/integration/gnss_kill9.sh - GNSS samples survive kill -9 through the
# frame journal (docs/DELIVERY.md), as CAN frames do.
#
#   1. A stand-in gpsd on loopback (python3, stdlib) sends 30 TPV and 30 SKY
#      reports in gpsd 3.22's form and hangs up. canopy (journal on, batch
#      age 1 h: nothing is sealed) reads them all: its log says gpsd closed
#      the connection, which it notices only after the last report.
#   2. kill -9: the open batch was never sealed, nothing is in the bucket.
#   3. canopy starts again (gpsd gone, the source ends after 2 s,
#      --exit-when-drained): the journal puts the samples back, and the
#      decoded batch holds every fix's latitude and longitude exactly as
#      sent, each once, and every satellite count.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN, CANOPY_EMULATOR,
# CANOPY_TEST_KEEP=1 keeps the temp dir.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== gnss_kill9: GNSS samples of the open batch survive kill -9"
t_require_bins CANOPY_BIN CANOPY_DECODE_BIN
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
command -v python3 >/dev/null || t_skip "python3 is not installed"
t_mktemp_dir work gnss_kill9
n=30

# --- the stand-in gpsd: n fixes, then it hangs up ------------------------------
python3 - "$work/port" "$n" "$work/want.csv" >"$work/server.log" 2>&1 <<'PY' &
import os, socket, sys
port_file, n, want = sys.argv[1], int(sys.argv[2]), sys.argv[3]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
open(port_file + ".tmp", "w").write(str(srv.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
srv.settimeout(300)
c, _ = srv.accept()
c.settimeout(300)
c.recv(4096)  # the WATCH
out = ['{"class":"VERSION","release":"3.22","proto_major":3,"proto_minor":14}\r\n',
       '{"class":"DEVICES","devices":[{"class":"DEVICE","path":"/dev/ttyACM0"}]}\r\n',
       '{"class":"WATCH","enable":true,"json":true}\r\n']
rows = []
for i in range(n):
    lat, lon = "48.%09d" % (117300000 + 1234 * i), "-11.%09d" % (516700000 + 4321 * i)
    ts = "2024-03-01T12:00:%02d.000Z" % i
    out.append('{"class":"TPV","device":"/dev/ttyACM0","mode":3,"time":"%s",'
               '"lat":%s,"lon":%s,"altHAE":%d.5,"track":%d.25,"speed":%d.125}\r\n'
               % (ts, lat, lon, 500 + i, 10 + i, i))
    out.append('{"class":"SKY","device":"/dev/ttyACM0","time":"%s","nSat":%d,"uSat":%d}\r\n'
               % (ts, 12, 3 + i % 5))
    rows.append("%d.000000,%s,%s" % (1709294400 + i, lat, lon))
open(want, "w").write("\n".join(rows) + "\n")
c.sendall("".join(out).encode())
c.shutdown(socket.SHUT_RDWR)
c.close()
PY
server=$!
t_on_exit "kill $server 2>/dev/null || true"
t_wait_until 300 0.1 test -s "$work/port" || t_die "the stand-in gpsd did not start"
port=$(cat "$work/port")

config() { # DURATION_S
  cat <<JSON
{
  "vehicle_id": "gnss-kill9",
  "sources": [{"type": "gnss", "gpsd": "127.0.0.1:$port", "reopen_ms": 200,
               "duration_s": $1}],
  "capture": {"mode": "raw"},
  "batch": {"max_bytes": 262144, "max_age_ms": 3600000},
  "spool": {"dir": "$work/spool", "journal": true, "sync_interval_ms": 1000},
  "endpoints": [{"url": "file://$work/bucket"}]
}
JSON
}

# --- 1 and 2: read everything, then kill -9 --------------------------------------
config 0 >"$work/config1.json"
"${emu[@]}" "$CANOPY_BIN" --config "$work/config1.json" 2>"$work/agent1.log" &
agent=$!
t_on_exit "kill -KILL $agent 2>/dev/null || true"
if t_wait_until 600 0.1 grep -q "closed the connection" "$work/agent1.log"; then
  t_pass "canopy read every report (gpsd hung up after the last)"
else
  t_die "canopy did not read the reports within 60 s: $(tail -n 5 "$work/agent1.log")"
fi
kill -KILL "$agent"
wait "$agent" 2>/dev/null || true
if [[ -z $(find "$work/bucket" -name '*.cnp' 2>/dev/null) ]]; then
  t_pass "nothing was sealed before the kill"
else
  t_fail "a batch was sealed before the kill: the test proves nothing"
fi

# --- 3: restart: the journal puts the samples back --------------------------------
config 2 >"$work/config2.json"
if ! timeout 300 "${emu[@]}" "$CANOPY_BIN" --config "$work/config2.json" --exit-when-drained \
    2>"$work/agent2.log"; then
  t_die "the restarted canopy failed: $(tail -n 5 "$work/agent2.log")"
fi
if grep -q "put back $((n * 9)) samples of source 0 (gnss)" "$work/agent2.log"; then
  t_pass "the journal put back $((n * 9)) samples"
else
  t_fail "no samples put back: $(grep journal "$work/agent2.log" | head -n 3)"
fi
"${emu[@]}" "$CANOPY_DECODE_BIN" --signals --format csv "$work/bucket" >"$work/got.csv" \
  2>"$work/decode.err" || t_fail "canopy-decode failed: $(head -n 3 "$work/decode.err")"
# Latitude and longitude per fix, as text exactly as sent (%.9f of the
# decoded double gives back gpsd's 9 places).
awk -F, '$4 == "Vehicle.CurrentLocation.Latitude" { lat[$1] = $5; nl[$1]++ }
         $4 == "Vehicle.CurrentLocation.Longitude" { lon[$1] = $5; no[$1]++ }
         END { for (t in lat) if (nl[t] == 1 && no[t] == 1)
                 printf "%s,%.9f,%.9f\n", t, lat[t], lon[t] }' "$work/got.csv" |
  sort >"$work/got-fixes.csv"
sort "$work/want.csv" >"$work/want-sorted.csv"
if cmp -s "$work/want-sorted.csv" "$work/got-fixes.csv"; then
  t_pass "all $n fixes arrived once each, positions exactly as sent"
else
  t_fail "fixes differ: $(diff "$work/want-sorted.csv" "$work/got-fixes.csv" | head -n 4 | tr '\n' ' ')"
fi
used=$(grep -c ',GNSS.SatellitesUsed,' "$work/got.csv" || true)
if [[ $used -eq $n ]]; then
  t_pass "all $n satellite counts arrived"
else
  t_fail "$used satellite counts, expected $n"
fi
t_finish "gnss_kill9: GNSS samples survive kill -9"
