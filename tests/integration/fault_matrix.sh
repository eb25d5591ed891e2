#!/usr/bin/env bash
# tests/integration/fault_matrix.sh - the server fault matrix of issue 5.
#
# A real trace (its first lines, so that the matrix stays within a minute or
# two) is uploaded through a receiver on loopback (tests/servers/
# s3_receiver.py, TLS) that injects one fault per scenario into some of the
# uploads, once for an s3:// endpoint (SigV4, S3's XML errors) and once for
# an https:// endpoint (plain PUT; --anonymous). Scenarios: 500, 503, 429
# with Retry-After, 408, 400, 403, 413, a reset in the middle of the body,
# a stall without an answer (the agent's upload.stall_timeout_ms must fire),
# and a close right after the response headers.
#
# Every scenario is checked by the same invariant: the frames decoded from
# the bucket plus those of the quarantined batches equal the trace's (none
# missing, none twice), the bucket's manifests report exactly the
# quarantined batches' frames as dropped (dropped.corrupt_batch) and nothing
# else, and the spool is empty. Then what the issue prescribes per status:
# 5xx, 408, 429, resets, stalls and cut answers retried (nothing
# quarantined; Retry-After waited); 400 and 413 quarantined, counted and
# logged with the URL and the status; 403 logged loudly, retried at the
# backoff cap, never dropped.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR,
# CANOPY_DATA, CANOPY_TEST_TRACE (default honda_civic_type_r_2019.log),
# FAULT_MATRIX_LINES (trace lines used, 6000), CANOPY_TEST_TIMEOUT (seconds
# per run, 120), S3_PYTHON (default /usr/bin/python3, with python3-botocore).
#
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

echo "=== fault_matrix: 500 503 429 408 400 403 413 reset stall close, s3:// and https://"

receiver_require
run_timeout=${CANOPY_TEST_TIMEOUT:-120}
lines=${FAULT_MATRIX_LINES:-6000}
cap_ms=1000
stall_ms=2000

work=''
t_mktemp_dir work fault_matrix
t_info "work dir $work"
tls_setup "$work/tls" >/dev/null || t_die "could not create the test certificates"
receiver_work "$lines"

# write_config FILE KIND SPOOL
write_config() {
  local ep
  if [[ "$2" == s3 ]]; then
    ep="{\"url\": \"s3://$bucket/$prefix\", \"endpoint_url\": \"https://127.0.0.1:$rcv_port\",
      \"region\": \"us-east-1\", \"addressing\": \"path\", \"credentials_file\": \"$creds\",
      \"ca_file\": \"$TLS_CA\"}"
  else
    ep="{\"url\": \"https://127.0.0.1:$rcv_port/$bucket/$prefix\", \"ca_file\": \"$TLS_CA\"}"
  fi
  cat >"$1" <<EOF
{
  "vehicle_id": "$vehicle",
  "sources": [{"type": "candump", "path": "$trace", "pace": "max"}],
  "batch": {"max_bytes": 4096, "max_age_ms": 10000},
  "spool": {"dir": "$3"},
  "endpoints": [$ep],
  "upload": {"backoff_base_ms": 100, "backoff_cap_ms": $cap_ms,
             "stall_timeout_ms": $stall_ms, "connect_timeout_ms": 5000}
}
EOF
}


# same_key_gaps STATUS: for each request answered STATUS, the seconds until
# the next request for the same key; the smallest, or -1.
min_gap_after() {
  rlog 'True' | "$py" -c '
import json, sys
status = int(sys.argv[1])
es = [json.loads(l) for l in sys.stdin]
gaps = []
for i, e in enumerate(es):
    if e.get("status") == status or e.get("fault") == sys.argv[2]:
        nxt = next((n for n in es[i + 1:] if n.get("key") == e.get("key")), None)
        if nxt is not None:
            gaps.append(nxt["t"] - e["t"])
print(round(min(gaps), 3) if gaps else -1)' "$1" "${2:-none}"
}

# scenario KIND NAME RULE EXPECT_QUARANTINED
scenario() {
  local kind=$1 name=$2 rule=$3 want_q=$4 what="$1 $2"
  local dir=$work/$kind-$name rc=0
  local extra=()
  [[ "$kind" == https ]] && extra=(--anonymous)
  receiver_start "$kind-$name" "${extra[@]}"
  printf '[%s]\n' "$rule" >"$rcv_control"
  local spool=$dir/spool log=$dir/agent.err
  write_config "$dir/config.json" "$kind" "$spool"
  timeout -k 10 "$run_timeout" "${emu[@]}" "$CANOPY_BIN" --config "$dir/config.json" \
    --exit-when-drained >"$dir/agent.out" 2>"$log" </dev/null || rc=$?
  local faults
  faults=$(rlog_count 'e.get("fault")')
  if ((rc != 0)); then
    t_fail "$what: canopy exited $rc"
    tail -n 15 "$log"
    receiver_stop
    return
  fi
  if ((faults == 0)); then
    t_fail "$what: no fault was injected (rule $rule)"
  fi

  # The invariant.
  local objects=$rcv_root/$bucket/$prefix/$vehicle
  local n_spool n_q
  n_spool=$({ find "$spool" -maxdepth 1 -name '*.cnp' 2>/dev/null || true; } | wc -l)
  n_q=$({ find "$spool/quarantine" -name '*.cnp' 2>/dev/null || true; } | wc -l)
  : >"$dir/quarantined.log"
  if ((n_q > 0)); then
    "${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$spool/quarantine" \
      >"$dir/quarantined.log" 2>"$dir/decode-q.err" ||
      t_fail "$what: canopy-decode of the quarantine failed: $(head -n 2 "$dir/decode-q.err")"
  fi
  if ! "${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$objects" >"$dir/bucket.log" \
    2>"$dir/decode.err"; then
    t_fail "$what: canopy-decode of the bucket failed: $(head -n 2 "$dir/decode.err")"
    receiver_stop
    return
  fi
  sort "$dir/bucket.log" "$dir/quarantined.log" >"$dir/got.sorted"
  local lost
  lost=$(wc -l <"$dir/quarantined.log")
  read -r corrupt other < <("$py" "$repo/tests/tools/manifest_drops.py" "$objects")
  if cmp -s "$work/trace.sorted" "$dir/got.sorted" && ((n_spool == 0)) &&
    ((corrupt == lost && other == 0)); then
    t_pass "$what: invariant: $(wc -l <"$dir/bucket.log") frames in the bucket + $lost reported dropped ($n_q batch(es) quarantined) = the trace, none twice; spool empty ($faults fault(s) injected)"
  else
    t_fail "$what: invariant broken: $(comm -23 "$work/trace.sorted" "$dir/got.sorted" | wc -l) frames missing, $(comm -13 "$work/trace.sorted" "$dir/got.sorted" | wc -l) extra; $n_spool batch(es) left in the spool; manifests report corrupt_batch=$corrupt (quarantined frames $lost), other drops=$other"
  fi
  if ((n_q == want_q)); then
    t_pass "$what: $n_q batch(es) quarantined, as prescribed"
  else
    t_fail "$what: $n_q batch(es) quarantined, expected $want_q"
    tail -n 15 "$log"
  fi
  scenario_checks "$kind" "$name" "$log"
  receiver_stop
}

# The checks particular to one scenario, on the agent's log and the
# receiver's.
scenario_checks() {
  local kind=$1 name=$2 log=$3 what="$1 $2" url="127.0.0.1:$rcv_port"
  case $name in
    400 | 413)
      if grep 'refused by' "$log" | grep "HTTP $name" | grep -q "$url"; then
        t_pass "$what: logged with the URL and status: $(grep -m 1 'refused by' "$log" | cut -c 1-160)..."
      else
        t_fail "$what: no log line names the refusal with the URL and HTTP $name"
      fi
      ;;
    403)
      local gap
      gap=$(min_gap_after 403)
      if grep 'AUTHENTICATION' "$log" | grep 'HTTP 403' | grep -q "$url"; then
        t_pass "$what: logged loudly with the URL: $(grep -m 1 AUTHENTICATION "$log" | cut -c 1-120)..."
      else
        t_fail "$what: no AUTHENTICATION error naming HTTP 403 and the URL"
      fi
      if "$py" -c "import sys; sys.exit(0 if $gap >= $cap_ms / 1000 - 0.05 else 1)"; then
        t_pass "$what: retried at the backoff cap (smallest gap $gap s, cap $cap_ms ms)"
      else
        t_fail "$what: retried after $gap s, before the backoff cap ($cap_ms ms)"
      fi
      ;;
    429)
      local gap
      gap=$(min_gap_after 429)
      if "$py" -c "import sys; sys.exit(0 if 2.95 <= $gap <= 60 else 1)"; then
        t_pass "$what: Retry-After: 3 honoured (next try $gap s later)"
      else
        t_fail "$what: next try $gap s after a 429 with Retry-After: 3"
      fi
      ;;
    stall)
      local gap
      gap=$(min_gap_after 0 stall)
      if grep -Eqi 'too slow|timed out|timeout' "$log" &&
        "$py" -c "import sys; sys.exit(0 if $gap >= $stall_ms / 1000 - 0.05 else 1)"; then
        t_pass "$what: the agent's stall timeout fired ($(grep -Eim 1 -o 'operation too slow[^;]*|timed out[^;]*' "$log" | head -n 1)); retried $gap s after the stalled request"
      else
        t_fail "$what: no stall timeout in canopy's log, or a retry only $gap s after the stall"
      fi
      ;;
    *)
      local n_warn
      n_warn=$(grep -c 'batch kept in the spool' "$log" || true)
      if ((n_warn >= 1)); then
        t_pass "$what: failed attempts logged and retried ($n_warn): $(grep -m 1 'batch kept in the spool' "$log" | cut -c 1-140)..."
      else
        t_fail "$what: no retried failure in canopy's log"
      fi
      ;;
  esac
}

for kind in s3 https; do
  echo "--- $kind://"
  scenario "$kind" 500 '{"op": "put_object", "action": "status", "status": 500, "skip": 1, "count": 2}' 0
  scenario "$kind" 503 '{"op": "put_object", "action": "status", "status": 503, "skip": 1, "count": 2}' 0
  scenario "$kind" 429 '{"op": "put_object", "action": "status", "status": 429, "retry_after": 3, "skip": 1, "count": 1}' 0
  scenario "$kind" 408 '{"op": "put_object", "action": "status", "status": 408, "skip": 1, "count": 2}' 0
  scenario "$kind" 400 '{"op": "put_object", "action": "status", "status": 400, "skip": 1, "count": 1}' 1
  scenario "$kind" 403 '{"op": "put_object", "action": "status", "status": 403, "skip": 1, "count": 3}' 0
  scenario "$kind" 413 '{"op": "put_object", "action": "status", "status": 413, "skip": 2, "count": 1}' 1
  scenario "$kind" reset '{"op": "put_object", "action": "reset", "skip": 1, "count": 2}' 0
  scenario "$kind" stall '{"op": "put_object", "action": "stall", "seconds": 60, "skip": 1, "count": 1}' 0
  scenario "$kind" close '{"op": "put_object", "action": "close_after_headers", "skip": 1, "count": 2}' 0
done

t_finish "fault_matrix: all checks passed"
