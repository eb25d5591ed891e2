#!/usr/bin/env bash
# tests/integration/mirror.sh - two endpoints, one of them down.
#
#   1. "policy": "failover", the first endpoint down (a loopback port
#      nobody listens on): everything goes to the second; the agent drains
#      and exits.
#   2. "policy": "mirror", the second endpoint down: every batch reaches the
#      first, and the spool keeps them all for the second (a marker per
#      batch records the first's acknowledgement). The agent is then killed
#      (SIGKILL), the second endpoint comes up on its port, and a restarted
#      agent sends the batches to the second only: the first is not sent
#      any batch again. The spool ends empty.
#   Invariant, for each bucket that must have everything: the decoded
#   frames equal the trace's, none missing, none twice, no drop reported.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR,
# CANOPY_DATA, CANOPY_TEST_TRACE, MIRROR_LINES (6000), S3_PYTHON.
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

echo "=== mirror: failover and mirror with one of two endpoints down"
receiver_require
lines=${MIRROR_LINES:-6000}

work=''
t_mktemp_dir work mirror
tls_setup "$work/tls" >/dev/null || t_die "could not create the test certificates"
head -n "$lines" "$trace" >"$work/trace.log"
trace=$work/trace.log
sort "$trace" >"$work/trace.sorted"
: >"$work/empty.log"

agent_pid=
kill_agent() {
  if [[ -n "$agent_pid" ]] && t_pid_alive "$agent_pid"; then
    kill -KILL "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  agent_pid=
}
t_on_exit kill_agent

# A second receiver, started by hand (receiver.sh keeps one).
r2_pid=
r2_stop() {
  t_stop_pid "$r2_pid"
  r2_pid=
}
t_on_exit r2_stop

# write_config FILE SOURCE SPOOL POLICY URL1 URL2
write_config() {
  cat >"$1" <<EOF
{
  "vehicle_id": "$vehicle",
  "sources": [{"type": "candump", "path": "$2", "pace": "max"}],
  "batch": {"max_bytes": 4096, "max_age_ms": 10000},
  "spool": {"dir": "$3"},
  "endpoints": [{"url": "$5", "ca_file": "$TLS_CA"}, {"url": "$6", "ca_file": "$TLS_CA"}],
  "upload": {"policy": "$4", "backoff_base_ms": 100, "backoff_cap_ms": 1000,
             "connect_timeout_ms": 2000}
}
EOF
}

# check_bucket WHAT ROOT: the invariant for a bucket that must hold it all.
check_bucket() {
  local what=$1 objects=$2/$bucket/$prefix/$vehicle out=$work/$1.log
  if ! "${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$objects" >"$out" 2>"$out.err"; then
    t_fail "$what: canopy-decode failed: $(head -n 2 "$out.err")"
    return
  fi
  local drops
  drops=$("$py" "$repo/tests/tools/manifest_drops.py" "$objects")
  if cmp -s "$work/trace.sorted" <(sort "$out") && [[ "$drops" == "0 0" ]]; then
    t_pass "$what: $(wc -l <"$out") frames, equal to the trace, none twice, no drop reported"
  else
    t_fail "$what: frames differ from the trace ($(wc -l <"$out") decoded, $(comm -3 "$work/trace.sorted" <(sort "$out") | wc -l) lines differ), drops $drops"
  fi
}

count_cnp() { { find "$1" -maxdepth 1 -name '*.cnp' 2>/dev/null || true; } | wc -l; }

# --- 1. failover ---------------------------------------------------------------------------
echo "--- 1. failover: the first endpoint down"
receiver_start failover --anonymous
dead=$(t_free_port) || t_die "no free port"
write_config "$work/failover.json" "$trace" "$work/spool1" failover \
  "https://127.0.0.1:$dead/$bucket/$prefix" "https://127.0.0.1:$rcv_port/$bucket/$prefix"
rc=0
timeout -k 10 300 "${emu[@]}" "$CANOPY_BIN" --config "$work/failover.json" --exit-when-drained \
  >/dev/null 2>"$work/failover.err" </dev/null || rc=$?
if ((rc == 0 && $(count_cnp "$work/spool1") == 0)); then
  t_pass "failover: canopy drained the spool and exited 0"
else
  t_fail "failover: exit $rc, $(count_cnp "$work/spool1") batches left: $(tail -n 2 "$work/failover.err")"
fi
check_bucket failover "$rcv_root"
receiver_stop

# --- 2. mirror -----------------------------------------------------------------------------
echo "--- 2. mirror: the second endpoint down, then back"
receiver_start mirror-a --anonymous
a_root=$rcv_root a_log=$rcv_log a_port=$rcv_port
b_port=$(t_free_port) || t_die "no free port"
spool=$work/spool2
write_config "$work/mirror.json" "$trace" "$spool" mirror \
  "https://127.0.0.1:$a_port/$bucket/$prefix" "https://127.0.0.1:$b_port/$bucket/$prefix"
"${emu[@]}" "$CANOPY_BIN" --config "$work/mirror.json" --exit-when-drained >/dev/null \
  2>"$work/mirror.err" </dev/null &
agent_pid=$!
# Until the source is done and the first endpoint has every spooled batch.
ok=0
for ((i = 0; i < 1200; i++)); do # 120 s at most
  t_pid_alive "$agent_pid" || break
  if grep -q 'source 0 (candump) finished' "$work/mirror.err"; then
    n_spool=$(count_cnp "$spool")
    n_a=$({ find "$a_root" -name '*.cnp' || true; } | wc -l)
    n_mark=$({ find "$spool" -maxdepth 1 -name '*.cnp.ack-*' || true; } | wc -l)
    if ((n_spool > 0 && n_a == n_spool && n_mark == n_spool)); then
      ok=1
      break
    fi
  fi
  sleep 0.1
done
if ((ok)); then
  t_pass "mirror: the first endpoint has all $n_a batches; the spool keeps them for the second, with $n_mark acknowledgement markers"
else
  t_fail "mirror: the first endpoint did not get every batch while the second was down: $(tail -n 3 "$work/mirror.err")"
fi
kill_agent
n_put_a=$(rlog_count 'e.get("op") == "put_object" and e.get("status") == 200')

"$py" "$repo/tests/servers/s3_receiver.py" --root "$work/mirror-b/storage" \
  --port-file "$work/mirror-b.port" --port "$b_port" --anonymous \
  --bucket "$bucket" --access-key "$key_id" --secret "$secret" --region us-east-1 \
  --tls-cert "$TLS_SERVER_CERT" --tls-key "$TLS_SERVER_KEY" \
  --log "$work/mirror-b.log" 2>"$work/mirror-b.err" &
r2_pid=$!
t_wait_until 100 0.1 test -s "$work/mirror-b.port" || t_die "the second receiver did not start: $(cat "$work/mirror-b.err")"
write_config "$work/mirror2.json" "$work/empty.log" "$spool" mirror \
  "https://127.0.0.1:$a_port/$bucket/$prefix" "https://127.0.0.1:$b_port/$bucket/$prefix"
rc=0
timeout -k 10 300 "${emu[@]}" "$CANOPY_BIN" --config "$work/mirror2.json" --exit-when-drained \
  >/dev/null 2>"$work/mirror2.err" </dev/null || rc=$?
n_left=$(count_cnp "$spool")
n_mark=$({ find "$spool" -maxdepth 1 -name '*.ack-*' || true; } | wc -l)
if ((rc == 0 && n_left == 0 && n_mark == 0)); then
  t_pass "mirror: after a kill -9 and a restart with both endpoints up, the spool drained (no batch, no marker left) and canopy exited 0"
else
  t_fail "mirror: exit $rc, $n_left batches and $n_mark markers left: $(tail -n 3 "$work/mirror2.err")"
fi
# The batches the first endpoint acknowledged before the kill are not sent
# to it again: any new PUT there is of a batch sealed after the restart.
again=$(rlog 'e.get("op") == "put_object" and e.get("status") == 200' |
  "$py" -c 'import collections, json, sys
c = collections.Counter(json.loads(l)["key"] for l in sys.stdin)
print(sum(1 for v in c.values() if v > 1))')
if ((again == 0)); then
  t_pass "mirror: no batch sent twice to the first endpoint ($n_put_a before the kill, $(rlog_count 'e.get("op") == "put_object" and e.get("status") == 200') in all)"
else
  t_fail "mirror: $again batch(es) sent to the first endpoint again after the restart"
fi
check_bucket mirror-first "$a_root"
check_bucket mirror-second "$work/mirror-b/storage"
r2_stop
receiver_stop
t_finish "mirror: all checks passed"
