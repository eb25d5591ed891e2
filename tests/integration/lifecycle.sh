#!/usr/bin/env bash
# tests/integration/lifecycle.sh - the agent as a service, with frame
# accounting (the frames decoded from every place a batch can be equal the
# trace, byte for byte):
#   1. SIGHUP reload during a slow replay: the endpoint moves from bucket A
#      to bucket B and the log level to debug; a changed source is named as
#      needing a restart; an invalid file changes nothing; A + B decode to
#      the whole trace
#   2. SIGTERM during a slow replay with a long batch age: exit 0 at once,
#      the open batch is in the spool; bucket + spool decode to exactly the
#      first N lines of the trace, N = frames the agent read
#   3. sd_notify over $NOTIFY_SOCKET (a datagram listener in this test):
#      READY=1, WATCHDOG=1 at WATCHDOG_USEC/2, STATUS= with the verdict,
#      STOPPING=1 on SIGTERM; no WATCHDOG=1 when WATCHDOG_PID names another
#      process
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR,
# CANOPY_DATA.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== lifecycle: SIGHUP reload, SIGTERM flush, sd_notify"
t_require_bins CANOPY_BIN CANOPY_DECODE_BIN
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
data=${CANOPY_DATA:-$repo/../shared/data}
trace=$data/traces/nissan_leaf_2019_uds_canedge.log
[[ -f "$trace" ]] || t_skip "no trace $trace (set CANOPY_DATA)"
t_mktemp_dir work lifecycle
total=$(wc -l <"$trace")

# config NAME BUCKET PACE AGE_MS [EXTRA]: writes $work/NAME.json atomically.
config() {
  cat >"$work/$1.json.tmp" <<JSON
{
  "vehicle_id": "life-$1",
  "sources": [{"type": "candump", "path": "$trace", "pace": $3}],
  "batch": {"max_age_ms": $4},
  "spool": {"dir": "$work/$1/spool"},
  "endpoints": [{"url": "file://$2"}],
  "operations": {"status_file": "$work/$1/status.json", "status_interval_ms": 200}${5:-}
}
JSON
  mv "$work/$1.json.tmp" "$work/$1.json"
}
frames_of() { sed -n 's/.*"frames":[[:space:]]*\([0-9]*\).*/\1/p' "$work/$1/status.json" 2>/dev/null |
              head -n 1; }
frames_over() { [[ $(frames_of "$1") -gt $2 ]]; }
# stop PID: SIGTERM, then at most 30 s.
stop() {
  kill -TERM "$1"
  t_wait_pid_exit "$1" 300 || { t_fail "agent ignored SIGTERM for 30 s"; kill -9 "$1"; }
}

# --- 1. SIGHUP reload -----------------------------------------------------------
config hup "$work/hup/bucketA" 8 1000
"${emu[@]}" "$CANOPY_BIN" --config "$work/hup.json" --exit-when-drained 2>"$work/hup.log" &
pid=$!
t_on_exit "kill $pid 2>/dev/null || true"
if t_wait_until 200 0.1 frames_over hup 100; then
  # New endpoint and log level (live), a new pace (a source: needs a restart).
  config hup "$work/hup/bucketB" 16 1000 ', "log_level": "debug"'
  kill -HUP "$pid"
  t_wait_until 100 0.1 grep -q 'reload: done' "$work/hup.log" || true
  at_reload=$(frames_of hup)
  cp "$work/hup.json" "$work/hup.good"
  echo '{"vehicle_id": ' >"$work/hup.json"
  kill -HUP "$pid"
  t_wait_until 100 0.1 grep -q 'is invalid' "$work/hup.log" || true
  mv "$work/hup.good" "$work/hup.json"
fi
if wait "$pid"; then
  grep -q 'reload: \$.sources changed, which needs a restart' "$work/hup.log" &&
    t_pass "changed source named: $(grep -o 'reload: \$.sources changed[^;]*' "$work/hup.log")" ||
    t_fail "no message about the changed source: $(grep reload "$work/hup.log")"
  grep -q 'reload: 1 endpoints and the upload settings applied' "$work/hup.log" &&
    grep -q 'debug: uploaded' "$work/hup.log" &&
    t_pass "endpoint and log level applied live (debug lines after the reload)" ||
    t_fail "endpoint/log level not applied: $(grep reload "$work/hup.log")"
  grep -q 'running configuration stays' "$work/hup.log" &&
    t_pass "invalid file on SIGHUP: $(grep -o 'reload: .*is invalid.*' "$work/hup.log" | head -n1 | sed "s|$work/||")" ||
    t_fail "invalid configuration on reload not reported"
  a=$(find "$work/hup/bucketA" -name '*.cnp' | wc -l)
  b=$(find "$work/hup/bucketB" -name '*.cnp' 2>/dev/null | wc -l)
  "${emu[@]}" "$CANOPY_DECODE_BIN" "$work/hup/bucketA" "$work/hup/bucketB" >"$work/hup.decoded" \
    2>"$work/hup.decode.err" || true
  if [[ $a -gt 0 && $b -gt 0 ]] && cmp -s "$trace" "$work/hup.decoded"; then
    t_pass "no frame lost across reloads: $total frames byte for byte ($a batches in A, $b in B, reload at frame ${at_reload:-?})"
  else
    t_fail "reload lost or changed frames: A=$a B=$b batches; $(wc -l <"$work/hup.decoded") of $total frames decoded; $(head -c 200 "$work/hup.decode.err")"
  fi
else
  t_fail "agent exited non-zero after reloads: $(tail -n 3 "$work/hup.log")"
fi

# --- 2. SIGTERM flush -----------------------------------------------------------
config term "$work/term/bucket" 8 60000
"${emu[@]}" "$CANOPY_BIN" --config "$work/term.json" 2>"$work/term.log" &
pid=$!
t_on_exit "kill $pid 2>/dev/null || true"
if t_wait_until 200 0.1 frames_over term 300; then
  stop "$pid"
  rc=0
  wait "$pid" || rc=$?
  n=$(sed -n 's/.*summary: frames=\([0-9]*\).*/\1/p' "$work/term.log" | tail -n 1)
  "${emu[@]}" "$CANOPY_DECODE_BIN" "$work/term/bucket" "$work/term/spool" >"$work/term.decoded" \
    2>"$work/term.decode.err" || true
  inspool=$(find "$work/term/spool" -maxdepth 1 -name '*.cnp' | wc -l)
  if [[ $rc -ne 0 ]]; then
    t_fail "SIGTERM: exit status $rc: $(tail -n 3 "$work/term.log")"
  elif [[ -n "$n" && $n -gt 0 && $n -lt $total ]] &&
       cmp -s <(head -n "$n" "$trace") "$work/term.decoded"; then
    t_pass "SIGTERM: exit 0, the $n frames read are all kept (open batch sealed: $inspool batch(es) left in the spool)"
  else
    t_fail "SIGTERM lost frames: read ${n:-?}, decoded $(wc -l <"$work/term.decoded"); $(head -c 200 "$work/term.decode.err")"
  fi
else
  t_fail "term: no frames seen: $(tail -n 3 "$work/term.log")"
fi

# --- 3. sd_notify ---------------------------------------------------------------
listener() { # SOCKET OUT SECONDS: collect datagrams, one per line
  python3 - "$@" <<'PY'
import socket, sys, time
path, out, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.2)
end = time.time() + secs
with open(out, "w") as f:
    while time.time() < end:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            continue
        f.write(msg.replace("\n", " ") + "\n")
        f.flush()
        if msg.startswith("STOPPING=1"):
            break
PY
}
config notify "$work/notify/bucket" 8 1000
sock=$work/notify.sock
listener "$sock" "$work/notify.msgs" 60 &
lpid=$!
t_on_exit "kill $lpid 2>/dev/null || true"
t_wait_until 50 0.1 test -S "$sock" || true
NOTIFY_SOCKET=$sock WATCHDOG_USEC=400000 \
  "${emu[@]}" "$CANOPY_BIN" --config "$work/notify.json" 2>"$work/notify.log" &
pid=$!
t_on_exit "kill $pid 2>/dev/null || true"
if t_wait_until 200 0.1 frames_over notify 200; then
  sleep 1.5
  stop "$pid"
  wait "$pid" || true
  wait "$lpid" || true
  msgs=$work/notify.msgs
  wd=$(grep -c '^WATCHDOG=1' "$msgs" || true)
  if [[ $(head -n 1 "$msgs") == "READY=1" ]] && [[ $wd -ge 3 ]] &&
     grep -q '^STATUS=OK: data flowing' "$msgs" && [[ $(tail -n 1 "$msgs") == "STOPPING=1" ]]; then
    t_pass "sd_notify: READY=1 first, $wd x WATCHDOG=1, STATUS=$(grep -m1 '^STATUS=OK' "$msgs" | cut -c8-40)..., STOPPING=1 last"
  else
    t_fail "sd_notify messages wrong: $(sort "$msgs" | uniq -c | head -n 8)"
  fi
else
  t_fail "notify: no frames seen: $(tail -n 3 "$work/notify.log")"
fi
rm -f "$sock"
listener "$sock" "$work/notify2.msgs" 30 &
lpid=$!
t_wait_until 50 0.1 test -S "$sock" || true
NOTIFY_SOCKET=$sock WATCHDOG_USEC=200000 WATCHDOG_PID=1 \
  "${emu[@]}" "$CANOPY_BIN" --config "$work/notify.json" 2>"$work/notify2.log" &
pid=$!
t_on_exit "kill $pid 2>/dev/null || true"
t_wait_until 100 0.1 grep -q '^STATUS=' "$work/notify2.msgs" || true
sleep 1
stop "$pid"
wait "$pid" || true
wait "$lpid" || true
if grep -q '^READY=1' "$work/notify2.msgs" && ! grep -q '^WATCHDOG=1' "$work/notify2.msgs"; then
  t_pass "WATCHDOG_PID of another process: no WATCHDOG=1 sent"
else
  t_fail "WATCHDOG_PID not honoured: $(sort "$work/notify2.msgs" | uniq -c | head -n 5)"
fi
t_finish
