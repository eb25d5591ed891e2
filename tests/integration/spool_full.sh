#!/usr/bin/env bash
# tests/integration/spool_full.sh - the spool fills while the endpoint is
# down; the drop policy evicts batches and the manifests count them exactly.
#
#   1. the endpoint is down (a loopback port nobody listens on): a real trace
#      (its first lines) is read into a spool capped at 64 KiB, far less
#      than the trace needs; the agent logs each eviction; SIGTERM stops it.
#   2. the endpoint is up (tests/servers/s3_receiver.py, https:// PUT): the
#      agent drains the spool and exits.
#   Invariant: every frame in the bucket is a frame of the trace, none twice,
#   and the trace's frames missing from the bucket are exactly the sum of
#   the manifests' dropped.spool_full (no other drop reported); the spool is
#   empty. Eviction order (oldest of the lowest priority first) is checked
#   by tests/unit/test_spool.c.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR,
# CANOPY_DATA, CANOPY_TEST_TRACE, SPOOL_FULL_LINES (20000), S3_PYTHON.
# Exit status: 0 pass, 1 fail, 77 skip.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"
# shellcheck source=tests/lib/tls.sh
. "$repo/tests/lib/tls.sh"
# shellcheck source=tests/lib/receiver.sh
. "$repo/tests/lib/receiver.sh"

echo "=== spool_full: endpoint down, spool capped: evictions counted to the frame"
receiver_require
lines=${SPOOL_FULL_LINES:-20000}

work=''
t_mktemp_dir work spool_full
tls_setup "$work/tls" >/dev/null || t_die "could not create the test certificates"
head -n "$lines" "$trace" >"$work/trace.log"
trace=$work/trace.log
: >"$work/empty.log"
spool=$work/spool

# check WHAT CMD...: passes when CMD succeeds.
check() {
  local what=$1
  shift
  if "$@"; then t_pass "$what"; else t_fail "$what"; fi
}

agent_pid=
kill_agent() {
  if [[ -n "$agent_pid" ]] && t_pid_alive "$agent_pid"; then
    kill -KILL "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  agent_pid=
}
t_on_exit kill_agent

# write_config FILE SOURCE URL
write_config() {
  cat >"$1" <<EOF
{
  "vehicle_id": "$vehicle",
  "sources": [{"type": "candump", "path": "$2", "pace": "max"}],
  "batch": {"max_bytes": 4096, "max_age_ms": 10000},
  "spool": {"dir": "$spool", "max_bytes": 65536},
  "endpoints": [{"url": "$3", "ca_file": "$TLS_CA"}],
  "upload": {"backoff_base_ms": 100, "backoff_cap_ms": 1000, "connect_timeout_ms": 2000}
}
EOF
}

echo "--- 1. endpoint down, the whole trace read into a 64 KiB spool"
dead_port=$(t_free_port) || t_die "no free port"
write_config "$work/down.json" "$trace" "https://127.0.0.1:$dead_port/$bucket/$prefix"
"${emu[@]}" "$CANOPY_BIN" --config "$work/down.json" >"$work/down.out" 2>"$work/down.err" </dev/null &
agent_pid=$!
t_wait_until 1200 0.1 grep -q 'source 0 (candump) finished' "$work/down.err" ||
  t_die "the source did not finish: $(tail -n 3 "$work/down.err")"
kill -TERM "$agent_pid"
t_wait_pid_exit "$agent_pid" 600 || t_die "canopy did not exit on SIGTERM"
rc=0
wait "$agent_pid" || rc=$?
agent_pid=
check "phase 1: canopy exited 0 on SIGTERM" test "$rc" -eq 0
n_evict=$(grep -c 'full; dropped' "$work/down.err" || true)
if ((n_evict > 0)); then
  t_pass "phase 1: $n_evict batches evicted, each logged: $(grep -m 1 'full; dropped' "$work/down.err" | cut -c 1-150)"
else
  t_fail "phase 1: no eviction logged; the spool never filled"
fi
bytes=$(find "$spool" -maxdepth 1 -name '*.cnp' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
# The cap holds, but for the one batch the uploader may hold.
check "phase 1: the spool holds $bytes bytes, within 64 KiB + one batch" test "$bytes" -le $((65536 + 8192))

echo "--- 2. endpoint up: drain"
receiver_start up --anonymous
write_config "$work/up.json" "$work/empty.log" "https://127.0.0.1:$rcv_port/$bucket/$prefix"
rc=0
timeout -k 10 300 "${emu[@]}" "$CANOPY_BIN" --config "$work/up.json" --exit-when-drained \
  >"$work/up.out" 2>"$work/up.err" </dev/null || rc=$?
check "phase 2: canopy --exit-when-drained exited 0" test "$rc" -eq 0
n_left=$({ find "$spool" -maxdepth 1 -name '*.cnp' || true; } | wc -l)
check "phase 2: the spool is empty" test "$n_left" -eq 0

objects=$rcv_root/$bucket/$prefix/$vehicle
"${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$objects" >"$work/bucket.log" \
  2>"$work/decode.err" || t_die "canopy-decode failed: $(head -n 2 "$work/decode.err")"
sort "$trace" >"$work/trace.sorted"
sort "$work/bucket.log" >"$work/bucket.sorted"
extra=$(comm -13 "$work/trace.sorted" "$work/bucket.sorted" | wc -l)
missing=$(comm -23 "$work/trace.sorted" "$work/bucket.sorted" | wc -l)
twice=$(uniq -d "$work/bucket.sorted" | wc -l)
read -r full other < <("$py" "$repo/tests/tools/manifest_drops.py" "$objects" spool_full)
if ((extra == 0 && twice == 0 && missing > 0 && full == missing && other == 0)); then
  t_pass "invariant: $(wc -l <"$work/bucket.log") frames delivered + $missing dropped = the trace; the manifests report dropped.spool_full = $full exactly, no other drop, none twice"
else
  t_fail "invariant broken: $missing missing, $extra not in the trace, $twice twice; manifests: spool_full=$full, other=$other"
fi
evicted=$({ grep -o 'full; dropped [^ ]* ([0-9]* frames' "$work/down.err" || true; } |
  awk -F'(' '{split($2, a, " "); s += a[1]} END {print s + 0}')
check "the evictions logged ($evicted frames) are the frames reported ($full)" test "$evicted" -eq "$full"
t_finish "spool_full: all checks passed"
