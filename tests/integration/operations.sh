#!/usr/bin/env bash
# tests/integration/operations.sh - what an operator sees while canopy runs:
#   1. live counters: the agent replays a real trace slowly (recorded timing
#      x 8) into a file:// endpoint; `canopy status` read twice while it
#      runs shows frames growing and "data flowing" (exit 0); `--json` is
#      the file; at the end the file says "stopped" with every frame
#   2. a failing endpoint (nothing listens on a loopback port): the verdict
#      says NOT FLOWING and why, exit 1; the URL's password and query
#      appear neither in the status nor in the log
#   3. journald: with JOURNAL_STREAM naming stderr, lines carry <N> priorities
#   4. a stale status file (agent gone) is reported as not running, exit 1
#
# Environment: CANOPY_BIN (required), CANOPY_EMULATOR, CANOPY_DATA.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== operations: status file, canopy status, verdicts, journald"
t_require_bins CANOPY_BIN
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
data=${CANOPY_DATA:-$repo/../shared/data}
trace=$data/traces/nissan_leaf_2019_uds_canedge.log
[[ -f "$trace" ]] || t_skip "no trace $trace (set CANOPY_DATA)"
canopy() { "${emu[@]}" "$CANOPY_BIN" "$@"; }

t_mktemp_dir work operations
total=$(wc -l <"$trace")

# --- 1. live counters ---------------------------------------------------------
cat >"$work/live.json" <<JSON
{
  "vehicle_id": "ops-live",
  "sources": [{"type": "candump", "path": "$trace", "pace": 8}],
  "batch": {"max_age_ms": 1000},
  "spool": {"dir": "$work/live/spool"},
  "endpoints": [{"url": "file://$work/live/bucket"}],
  "operations": {"status_file": "$work/live/run/status.json", "status_interval_ms": 200,
                 "summary_interval_s": 1}
}
JSON
# In the background: the binary itself, not the function (so $! is its pid).
"${emu[@]}" "$CANOPY_BIN" --config "$work/live.json" --exit-when-drained 2>"$work/live.log" &
pid=$!
t_on_exit "kill $pid 2>/dev/null || true"

frames_now() { canopy status --status-file "$work/live/run/status.json" --json |
               sed -n 's/.*"frames":[[:space:]]*\([0-9]*\).*/\1/p' | head -n 1; }
status_ok() { canopy status --status-file "$work/live/run/status.json" >"$work/status.txt" 2>&1 &&
              [[ $(frames_now) -gt 0 ]]; }
if t_wait_until 100 0.1 status_ok; then
  first=$(frames_now)
  cp "$work/status.txt" "$work/status1.txt"
  sleep 1.5
  second=$(frames_now)
  if [[ $second -gt $first && $second -lt $total ]]; then
    t_pass "live counters grow while it runs: $first then $second frames (of $total)"
  else
    t_fail "frames did not grow while running: $first then $second (of $total)"
  fi
  if grep -q '^verdict:  OK: data flowing' "$work/status1.txt" &&
     grep -q '^endpoint: file://.*: healthy' "$work/status1.txt" &&
     grep -Eq '^uploads:  [0-9]+ batches' "$work/status1.txt"; then
    t_pass "canopy status: $(grep '^verdict' "$work/status1.txt")"
  else
    t_fail "canopy status output unexpected: $(cat "$work/status1.txt")"
  fi
  canopy status --config "$work/live.json" --json >"$work/status.json" || true
  if /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
assert d["state"]=="running" and d["verdict"]["flowing"] is True
for k in ("input","dropped","batches","spool","upload","endpoints"): assert k in d, k
assert set(d["upload"]["failures"])=={"total","transient","auth","rejected"}' "$work/status.json"; then
    t_pass "--json (found through --config) has every section"
  else
    t_fail "--json status incomplete: $(head -c 400 "$work/status.json")"
  fi
else
  t_fail "canopy status never showed frames: $(cat "$work/status.txt" 2>/dev/null) $(tail -n 3 "$work/live.log")"
fi
if wait "$pid"; then
  if grep -q 'info: summary: frames=[1-9]' "$work/live.log"; then
    t_pass "periodic summary lines logged ($(grep -c 'info: summary:' "$work/live.log") lines)"
  else
    t_fail "no periodic summary line in the log"
  fi
  canopy status --status-file "$work/live/run/status.json" --json >"$work/final.json" || true
  if grep -q '"state":[[:space:]]*"stopped"' "$work/final.json" &&
     grep -q "\"frames\":[[:space:]]*$total," "$work/final.json"; then
    t_pass "final status: stopped with all $total frames"
  else
    t_fail "final status wrong: $(head -c 300 "$work/final.json")"
  fi
else
  t_fail "agent exited non-zero: $(tail -n 3 "$work/live.log")"
fi

# --- 2. failing endpoint, secrets ---------------------------------------------
port=$(t_free_port)
cat >"$work/down.json" <<JSON
{
  "vehicle_id": "ops-down",
  "sources": [{"type": "candump", "path": "$trace", "pace": 8}],
  "batch": {"max_age_ms": 500},
  "spool": {"dir": "$work/down/spool"},
  "endpoints": [{"url": "http://fleet:s3cretpw@127.0.0.1:$port/up?token=t0psecret",
                 "allow_insecure": true}],
  "upload": {"backoff_base_ms": 100, "backoff_cap_ms": 300},
  "operations": {"status_file": "$work/down/status.json", "status_interval_ms": 200}
}
JSON
"${emu[@]}" "$CANOPY_BIN" --config "$work/down.json" 2>"$work/down.log" &
dpid=$!
t_on_exit "kill $dpid 2>/dev/null || true"
down_seen() {
  ! canopy status --status-file "$work/down/status.json" >"$work/down.txt" 2>&1 &&
  grep -q 'NOT FLOWING: uploads failing' "$work/down.txt"
}
if t_wait_until 100 0.1 down_seen; then
  t_pass "failing endpoint: exit 1, $(grep '^verdict' "$work/down.txt" | cut -c1-150)"
else
  t_fail "failing endpoint not reported: $(cat "$work/down.txt")"
fi
kill -TERM "$dpid"
t_wait_pid_exit "$dpid" 300 || { t_fail "agent ignored SIGTERM for 30 s"; kill -9 "$dpid"; }
wait "$dpid" || true
if grep -Eq 's3cretpw|t0psecret' "$work/down.log" "$work/down/status.json" "$work/down.txt"; then
  t_fail "a secret from the URL was printed: $(grep -Eh 's3cretpw|t0psecret' "$work/down.log" \
    "$work/down/status.json" | head -n 2)"
elif grep -q "http://127.0.0.1:$port/up" "$work/down/status.json"; then
  t_pass "URL password and query are in neither status nor log"
else
  t_fail "status does not name the endpoint: $(grep -i url "$work/down/status.json")"
fi

# --- 3. journald priorities ---------------------------------------------------
: >"$work/journal.log"
stream=$(stat -c '%d:%i' "$work/journal.log")
JOURNAL_STREAM=$stream canopy --config "$work/live.json" --check-config >/dev/null \
  2>>"$work/journal.log" || true
sed 's/"pace": 8/"pace": 8, "bogus": 1/' "$work/live.json" >"$work/warn.json"
JOURNAL_STREAM=$stream canopy --config "$work/warn.json" --check-config >/dev/null \
  2>>"$work/journal.log" || true
if grep -q '^<4>warning: .*bogus' "$work/journal.log"; then
  t_pass "under journald: '$(head -n 1 "$work/journal.log" | cut -c1-60)...'"
else
  t_fail "no <4> priority prefix with JOURNAL_STREAM: $(cat "$work/journal.log")"
fi
JOURNAL_STREAM=1:2 canopy --config "$work/warn.json" --check-config >/dev/null \
  2>"$work/plain.log" || true
if grep -q '^canopy: warning: ' "$work/plain.log"; then
  t_pass "JOURNAL_STREAM for another stream: plain 'canopy: warning:' lines"
else
  t_fail "plain prefix expected: $(cat "$work/plain.log")"
fi

# --- 4. stale status file -----------------------------------------------------
sed 's/"state":[[:space:]]*"stopped"/"state": "running"/;
     s/"updated_unix_ms":[[:space:]]*[0-9]*/"updated_unix_ms": 1000/' \
  "$work/live/run/status.json" >"$work/stale.json"
if ! canopy status --status-file "$work/stale.json" >"$work/stale.txt" 2>&1 &&
   grep -q 'NOT RUNNING OR STUCK' "$work/stale.txt"; then
  t_pass "stale status file: $(grep '^verdict' "$work/stale.txt" | cut -c1-90)..."
else
  t_fail "stale status not reported: $(cat "$work/stale.txt")"
fi
sed 's/"status_interval_ms": 200/"status_interval_ms": 5/' "$work/live.json" >"$work/bad.json"
t_expect "bad status interval" 1 'operations.status_interval_ms: expected 0 \(off\) or at least 100' -- \
  canopy --config "$work/bad.json" --check-config
sed 's/"summary_interval_s": 1/"summary_interval_s": "often"/' "$work/live.json" >"$work/bad.json"
t_expect "bad summary interval" 1 'operations.summary_interval_s: expected a whole number' -- \
  canopy --config "$work/bad.json" --check-config
t_expect "no status file" 3 'cannot read .*no such file' -- \
  canopy status --status-file "$work/nothing.json"
t_expect "not a status file" 3 'not a canopy status file' -- \
  canopy status --status-file "$work/live.json"
t_finish
