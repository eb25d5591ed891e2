#!/usr/bin/env bash
# tests/integration/s3.sh - canopy uploads a real CAN trace to an s3://
# endpoint: a receiver on loopback (tests/servers/s3_receiver.py, TLS) that
# checks every request's AWS Signature Version 4 with Debian's
# python3-botocore and stores objects, multipart uploads included.
#
#   1. upload: path-style, region us-east-1, credentials from a 0600
#      credentials file (a 0644 one is refused); a small multipart threshold
#      so that some batches go by multipart upload; the stored objects,
#      decoded with canopy-decode, equal the trace byte for byte; every
#      request's signature verified; the secret never logged.
#   2. wrong secret: 403 SignatureDoesNotMatch logged loudly, retried at the
#      backoff cap, nothing stored, nothing lost: the batches stay in the
#      spool and drain once the credentials are right.
#   3. an injected 400 on one PutObject: that batch is quarantined (logged
#      with the URL and status), the others are delivered; bucket plus
#      quarantine decode to the trace.
#   4. an injected 429 with Retry-After: the agent waits at least that long
#      before trying again (loose, bounded timing check).
#   5. kill -9 during a multipart upload (part 2 stalls): after a restart
#      the upload resumes from the journal in the spool (ListParts, part 1
#      not sent again) and completes.
#   6. the server's clock an hour ahead: 403 RequestTimeTooSkewed once, then
#      the agent signs with the server's time (from its Date header).
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR,
# CANOPY_DATA, CANOPY_TEST_TRACE (default honda_civic_type_r_2019.log),
# CANOPY_TEST_TIMEOUT (seconds per draining run, 120), CANOPY_TEST_KEEP=1,
# S3_PYTHON (default /usr/bin/python3: Debian's, with python3-botocore).
#
# Exit status: 0 pass, 1 fail, 2 usage error, 77 skip (no python3-botocore,
# openssl, or data folder).
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"
# shellcheck source=tests/lib/tls.sh
. "$repo/tests/lib/tls.sh"
# shellcheck source=tests/lib/receiver.sh
. "$repo/tests/lib/receiver.sh"

echo "=== s3: canopy -> s3:// (SigV4, multipart) -> botocore-checking receiver"

# --- prerequisites ------------------------------------------------------------
receiver_require
run_timeout=${CANOPY_TEST_TIMEOUT:-120}
wrong_secret='wJalrXUtnFEMI/K7MDENG+bPxRfiCYWRONGWRONG'
cap_ms=2000

t_info "trace $trace ($(wc -c <"$trace") bytes, $(wc -l <"$trace") frames)"
t_info "canopy ${CANOPY_EMULATOR:+via $CANOPY_EMULATOR }$CANOPY_BIN; receiver with $py"

# --- helpers -------------------------------------------------------------------
work=''
t_mktemp_dir work s3
t_info "work dir $work"

agent_pid=
kill_agent() {
  if [[ -n "$agent_pid" ]] && t_pid_alive "$agent_pid"; then
    kill -KILL "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  agent_pid=
}
t_on_exit kill_agent

# write_creds FILE SECRET
write_creds() {
  (umask 077 && cat >"$1" <<EOF
# canopy's test credentials
[default]
aws_access_key_id = AKIDNOTTHISONE
aws_secret_access_key = notthisone

[canopy]
aws_access_key_id = $key_id
aws_secret_access_key = $2
EOF
  )
  chmod 600 "$1"
}

# write_config FILE SOURCE SPOOL CREDS
write_config() {
  cat >"$1" <<EOF
{
  "vehicle_id": "$vehicle",
  "sources": [{"type": "candump", "path": "$2", "pace": "max"}],
  "batch": {"max_bytes": 65536, "max_age_ms": 10000},
  "spool": {"dir": "$3", "max_bytes": 104857600},
  "endpoints": [{
    "url": "s3://$bucket/$prefix",
    "endpoint_url": "https://127.0.0.1:$rcv_port",
    "region": "us-east-1",
    "addressing": "path",
    "credentials_file": "$4",
    "profile": "canopy",
    "ca_file": "$TLS_CA",
    "multipart_threshold_bytes": 8192,
    "part_bytes": 4096
  }],
  "upload": {"backoff_base_ms": 200, "backoff_cap_ms": $cap_ms}
}
EOF
}

count_files() { # DIR GLOB
  { find "$1" -type f -name "$2" 2>/dev/null || true; } | wc -l
}

show_tail() { # FILE [LINES]
  if [[ -s "$1" ]]; then
    printf -- '--- last lines of %s ---\n' "$1"
    tail -n "${2:-25}" -- "$1"
    printf -- '---\n'
  fi
}



# decode_cmp WHAT OUT PATH...
decode_cmp() {
  local what=$1 out=$2 rc=0
  shift 2
  "${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$@" >"$out" 2>"$out.err" || rc=$?
  if ((rc != 0)); then
    t_fail "$what: canopy-decode exited $rc"
    show_tail "$out.err"
    return 1
  fi
  if cmp -s -- "$out" "$trace"; then
    t_pass "$what: decoded output equals the trace byte for byte ($(wc -c <"$out") bytes)"
    return 0
  fi
  t_fail "$what: decoded output differs from the trace: $(cmp -- "$out" "$trace" 2>&1 | head -n 1) (decoded $(wc -l <"$out") lines, trace $(wc -l <"$trace"))"
  return 1
}

check_spool_drained() { # WHAT SPOOL
  local n
  n=$({ find "$2" -maxdepth 1 -type f -name '*.cnp' 2>/dev/null || true; } | wc -l)
  if ((n == 0)); then
    t_pass "$1: spool holds no batch"
  else
    t_fail "$1: spool still holds $n batch(es)"
  fi
  n=$({ find "$2" -maxdepth 1 -type f -name '*.s3-*.json' 2>/dev/null || true; } | wc -l)
  if ((n == 0)); then
    t_pass "$1: no multipart journal left in the spool"
  else
    t_fail "$1: $n multipart journal(s) left in the spool"
  fi
}

objects_dir() { printf '%s/%s/%s/%s' "$rcv_root" "$bucket" "$prefix" "$vehicle"; }

check_stored() { # WHAT: objects only under BUCKET/PREFIX/VEHICLE/SPOOLID/*.cnp
  local n stray
  n=$(count_files "$rcv_root/$bucket" '*.cnp')
  stray=$(find "$rcv_root/$bucket" -type f ! -path "$(objects_dir)/*/*.cnp" | head -n 3 || true)
  t_info "$1: receiver stored $n object(s)"
  if ((n == 0)); then
    t_fail "$1: nothing was stored"
    show_tail "$rcv_log"
    return 1
  fi
  if [[ -n "$stray" ]]; then
    t_fail "$1: objects outside $bucket/$prefix/$vehicle/<spool>/<batch>.cnp: $(tr '\n' ' ' <<<"$stray")"
  else
    t_pass "$1: all objects stored as $bucket/$prefix/$vehicle/<spool>/<batch>.cnp"
  fi
  stored=$n
}

check_no_secret() { # WHAT FILE...
  local what=$1
  shift
  if grep -F -q -e "$secret" -e "$wrong_secret" -- "$@"; then
    t_fail "$what: a secret access key appears in canopy's output"
  else
    t_pass "$what: no secret access key in canopy's output"
  fi
}

# run_drain WHAT CONFIG LOG: canopy --exit-when-drained, expect exit 0
run_drain() {
  local what=$1 cfg=$2 log=$3 rc=0 start=$SECONDS
  timeout -k 10 "$run_timeout" "${emu[@]}" "$CANOPY_BIN" --config "$cfg" \
    --exit-when-drained >"$log.out" 2>"$log" </dev/null || rc=$?
  if ((rc == 0)); then
    t_pass "$what: canopy --exit-when-drained exited 0 after $((SECONDS - start)) s"
  else
    t_fail "$what: canopy exited $rc"
    show_tail "$log"
  fi
}

# start_agent CONFIG LOG: in the background
start_agent() {
  "${emu[@]}" "$CANOPY_BIN" --config "$1" --exit-when-drained >"$2.out" 2>"$2" </dev/null &
  agent_pid=$!
}

# stop_agent WHAT: SIGTERM, expect exit 0 within 30 s
stop_agent() {
  local rc=0
  kill -TERM "$agent_pid" 2>/dev/null || true
  if t_wait_pid_exit "$agent_pid" 300; then
    wait "$agent_pid" || rc=$?
    agent_pid=
    if ((rc == 0)); then
      t_pass "$1: canopy exited 0 on SIGTERM"
    else
      t_fail "$1: canopy exited $rc on SIGTERM"
    fi
  else
    t_fail "$1: canopy still running 30 s after SIGTERM; killed"
    kill_agent
  fi
}

tls_setup "$work/tls" >/dev/null || t_die "could not create the test certificates"
creds=$work/credentials
write_creds "$creds" "$secret"
: >"$work/empty.log"

# --- 1. upload ---------------------------------------------------------------------------
echo "--- 1. upload (path-style, credentials file, multipart above 8192 bytes)"
receiver_start run1
spool1=$work/spool1
write_config "$work/run1.json" "$trace" "$spool1" "$creds"

open_creds=$work/credentials-open
write_creds "$open_creds" "$secret"
chmod 644 "$open_creds"
write_config "$work/run1-open.json" "$work/empty.log" "$work/spool-open" "$open_creds"
rc=0
timeout -k 10 60 "${emu[@]}" "$CANOPY_BIN" --config "$work/run1-open.json" --exit-when-drained \
  >/dev/null 2>"$work/run1-open.err" </dev/null || rc=$?
if ((rc != 0)) && grep -q "chmod 600" "$work/run1-open.err"; then
  t_pass "a credentials file readable by others is refused: $(grep -m 1 'chmod 600' "$work/run1-open.err")"
else
  t_fail "a 0644 credentials file was not refused (exit $rc)"
  show_tail "$work/run1-open.err"
fi

run_drain "upload" "$work/run1.json" "$work/run1.err"
check_spool_drained "upload" "$spool1"
stored=0
if check_stored "upload"; then
  decode_cmp "upload (bucket)" "$work/decoded1.log" "$(objects_dir)" || true
fi
n_put=$(rlog_count 'e.get("op") == "put_object" and e.get("status") == 200')
n_complete=$(rlog_count 'e.get("op") == "complete" and e.get("status") == 200')
n_parts=$(rlog_count 'e.get("op") == "upload_part" and e.get("status") == 200')
n_bad=$(rlog_count 'e.get("sig") != "ok"')
n_all=$(rlog_count 'True')
t_info "upload: $n_all requests: $n_put PutObject, $n_complete multipart uploads of $n_parts parts"
if ((n_put >= 1 && n_complete >= 1 && n_parts >= 2 * n_complete)); then
  t_pass "upload: batches went both by PutObject ($n_put) and by multipart upload ($n_complete)"
else
  t_fail "upload: expected both PutObject and multipart uploads (put $n_put, complete $n_complete, parts $n_parts)"
fi
if ((n_put + n_complete == stored)); then
  t_pass "upload: one object per batch ($stored), no duplicate writes"
else
  t_fail "upload: $stored objects but $n_put PutObject + $n_complete completes"
fi
if ((n_bad == 0 && n_all > 0)); then
  t_pass "upload: botocore verified the signature of all $n_all requests"
else
  t_fail "upload: $n_bad of $n_all requests were not verified as signed right"
  rlog 'e.get("sig") != "ok"' | head -n 3
fi
n_uploads=$(find "$rcv_root/.uploads" -mindepth 1 -maxdepth 1 | wc -l)
if ((n_uploads == 0)); then
  t_pass "upload: no multipart upload left unfinished on the server"
else
  t_fail "upload: $n_uploads multipart upload(s) left unfinished on the server"
fi
check_no_secret "upload" "$work/run1.err" "$work/run1-open.err"
receiver_stop

# --- 2. wrong secret ----------------------------------------------------------------------
echo "--- 2. wrong secret: 403 logged, retried at the cap, nothing lost"
receiver_start run2
spool2=$work/spool2
bad_creds=$work/credentials-wrong
write_creds "$bad_creds" "$wrong_secret"
write_config "$work/run2.json" "$trace" "$spool2" "$bad_creds"
log2=$work/run2.err
start=$SECONDS
start_agent "$work/run2.json" "$log2"
# Bounded: until the source is read, the 403 is logged, at least three
# attempts were refused and the spool is stable.
last='' stable_since=$SECONDS
for ((i = 0; i < 600; i++)); do # 60 s at most
  t_pid_alive "$agent_pid" || break
  state=$(count_files "$spool2" '*.cnp')
  if [[ "$state" != "$last" ]]; then
    last=$state
    stable_since=$SECONDS
  fi
  if ((SECONDS - stable_since >= 2)) && grep -q SignatureDoesNotMatch "$log2" &&
    (($(rlog_count 'e.get("code") == "SignatureDoesNotMatch"') >= 3)); then
    break
  fi
  sleep 0.1
done
if t_pid_alive "$agent_pid"; then
  stop_agent "wrong secret"
else
  wait "$agent_pid" || true
  agent_pid=
  t_fail "wrong secret: canopy exited by itself; it must keep retrying"
fi
if grep -q 'AUTHENTICATION' "$log2" && grep 'AUTHENTICATION' "$log2" | grep -q 'HTTP 403.*SignatureDoesNotMatch'; then
  t_pass "wrong secret: logged loudly: $(grep -m 1 AUTHENTICATION "$log2" | cut -c 1-220)..."
else
  t_fail "wrong secret: no loud 403 SignatureDoesNotMatch error in canopy's log"
  show_tail "$log2"
fi
if grep 'AUTHENTICATION' "$log2" | grep -q "127.0.0.1:$rcv_port"; then
  t_pass "wrong secret: the error names the URL"
else
  t_fail "wrong secret: the error does not name the URL (127.0.0.1:$rcv_port)"
fi
n_stored=$(count_files "$rcv_root/$bucket" '*')
if ((n_stored == 0)); then
  t_pass "wrong secret: nothing stored"
else
  t_fail "wrong secret: $n_stored object(s) stored with a wrong secret"
fi
# Retried at the cap: the refused attempts are at least the cap apart.
gaps=$(rlog 'e.get("code") == "SignatureDoesNotMatch"' | "$py" -c '
import json, sys
t = [json.loads(l)["t"] for l in sys.stdin]
print(min((b - a for a, b in zip(t, t[1:])), default=-1))')
if "$py" -c "import sys; sys.exit(0 if $gaps >= $cap_ms / 1000 - 0.1 else 1)"; then
  t_pass "wrong secret: refused attempts at least the backoff cap apart (smallest gap ${gaps} s, cap $((cap_ms / 1000)) s)"
else
  t_fail "wrong secret: attempts only ${gaps} s apart; expected the cap ($cap_ms ms)"
fi
mapfile -t spooled < <(find "$spool2" -maxdepth 1 -type f -name '*.cnp' | sort)
if ((${#spooled[@]} > 0)); then
  t_pass "wrong secret: spool keeps ${#spooled[@]} batch(es)"
  decode_cmp "wrong secret (spool)" "$work/decoded2.log" "${spooled[@]}" || true
else
  t_fail "wrong secret: spool holds no batch"
fi
check_no_secret "wrong secret" "$log2"
echo "--- 2b. right secret again: the kept batches drain"
write_config "$work/run2b.json" "$work/empty.log" "$spool2" "$creds"
run_drain "right secret" "$work/run2b.json" "$work/run2b.err"
check_spool_drained "right secret" "$spool2"
if check_stored "right secret"; then
  decode_cmp "right secret (bucket)" "$work/decoded2b.log" "$(objects_dir)" || true
fi
receiver_stop

# --- 3. 400: quarantined ------------------------------------------------------------------
echo "--- 3. an injected 400 Bad Request: that batch is quarantined"
receiver_start run3
echo '[{"op": "put_object", "action": "status", "status": 400, "count": 1}]' >"$rcv_control"
spool3=$work/spool3
write_config "$work/run3.json" "$trace" "$spool3" "$creds"
run_drain "400" "$work/run3.json" "$work/run3.err"
n_q=$(count_files "$spool3/quarantine" '*.cnp')
n_400=$(rlog_count 'e.get("status") == 400')
if ((n_q == 1 && n_400 == 1)); then
  t_pass "400: the refused batch is in the spool's quarantine"
else
  t_fail "400: $n_q batch(es) quarantined for $n_400 injected 400(s); expected 1"
fi
if grep -i 'refused' "$work/run3.err" | grep 'HTTP 400' | grep -q "127.0.0.1:$rcv_port"; then
  t_pass "400: logged with the URL and status: $(grep -m 1 -i refused "$work/run3.err" | cut -c 1-200)..."
else
  t_fail "400: no log line names the refusal with the URL and HTTP 400"
  show_tail "$work/run3.err"
fi
check_spool_drained "400" "$spool3"
if check_stored "400"; then
  decode_cmp "400 (bucket + quarantine)" "$work/decoded3.log" "$(objects_dir)" "$spool3/quarantine" || true
fi
receiver_stop

# --- 4. Retry-After ---------------------------------------------------------------------------
echo "--- 4. an injected 429 with Retry-After: 3"
receiver_start run4
echo '[{"action": "status", "status": 429, "retry_after": 3, "count": 1}]' >"$rcv_control"
spool4=$work/spool4
write_config "$work/run4.json" "$trace" "$spool4" "$creds"
run_drain "Retry-After" "$work/run4.json" "$work/run4.err"
wait_s=$(rlog 'True' | "$py" -c '
import json, sys
es = [json.loads(l) for l in sys.stdin]
i = next((i for i, e in enumerate(es) if e.get("status") == 429), None)
if i is None:
    print(-1)
else:
    nxt = next((e for e in es[i + 1:] if e.get("key") == es[i].get("key")), None)
    print(-1 if nxt is None else round(nxt["t"] - es[i]["t"], 3))')
if "$py" -c "import sys; sys.exit(0 if 2.95 <= $wait_s <= 60 else 1)"; then
  t_pass "Retry-After: the agent waited $wait_s s (>= 3 s) before trying again"
else
  t_fail "Retry-After: the agent tried again after $wait_s s (expected 3 s or more, bounded)"
fi
check_spool_drained "Retry-After" "$spool4"
if check_stored "Retry-After"; then
  decode_cmp "Retry-After (bucket)" "$work/decoded4.log" "$(objects_dir)" || true
fi
receiver_stop

# --- 5. kill -9 during a multipart upload, then resume -------------------------------------
echo "--- 5. kill -9 while part 2 of a multipart upload stalls; resume after restart"
receiver_start run5
echo '[{"op": "upload_part", "part": 2, "action": "stall", "seconds": 60, "count": 1}]' >"$rcv_control"
spool5=$work/spool5
write_config "$work/run5.json" "$trace" "$spool5" "$creds"
log5=$work/run5.err
start_agent "$work/run5.json" "$log5"
# Until the whole trace is sealed into the spool and part 2 is stalling.
ready=0
for ((i = 0; i < 600; i++)); do # 60 s at most
  t_pid_alive "$agent_pid" || break
  if grep -q 'finished' "$log5" && (($(rlog_count 'e.get("fault") == "stall"') >= 1)); then
    ready=1
    break
  fi
  sleep 0.1
done
sleep 1 # let the last batch reach the spool
kill_agent
stalled=$(rlog 'e.get("fault") == "stall"' | head -n 1)
upload_id=''
if [[ -n "$stalled" ]]; then
  upload_id=$("$py" -c 'import json, sys; print(json.loads(sys.argv[1]).get("upload_id", ""))' "$stalled")
fi
n_journal=$(count_files "$spool5" '*.s3-*.json')
if ((ready == 1)) && [[ -n "$upload_id" ]] && ((n_journal >= 1)); then
  t_pass "kill -9: killed during upload $upload_id with $n_journal multipart journal(s) in the spool"
else
  t_fail "kill -9: the stall was not reached (ready $ready, upload id '$upload_id', journals $n_journal)"
  show_tail "$log5"
fi
echo '[]' >"$rcv_control"
write_config "$work/run5b.json" "$work/empty.log" "$spool5" "$creds"
run_drain "resume" "$work/run5b.json" "$work/run5b.err"
if [[ -n "$upload_id" ]]; then
  sel="e.get(\"upload_id\") == \"$upload_id\""
  n_list=$(rlog_count "$sel and e.get(\"op\") == \"list_parts\" and e.get(\"status\") == 200")
  n_p1=$(rlog_count "$sel and e.get(\"op\") == \"upload_part\" and e.get(\"part\") == \"1\"")
  n_done=$(rlog_count "$sel and e.get(\"op\") == \"complete\" and e.get(\"status\") == 200")
  if ((n_list >= 1 && n_p1 == 1 && n_done == 1)); then
    t_pass "resume: the same upload was listed, part 1 was not sent again, and it completed"
  else
    t_fail "resume: list_parts $n_list, part-1 uploads $n_p1 (expected 1), completes $n_done"
    show_tail "$work/run5b.err"
  fi
  if grep -q 'resuming the multipart upload' "$work/run5b.err"; then
    t_pass "resume: $(grep -m 1 'resuming the multipart upload' "$work/run5b.err" | cut -c 1-200)"
  else
    t_fail "resume: canopy did not log the resumed multipart upload"
  fi
fi
check_spool_drained "resume" "$spool5"
if check_stored "resume"; then
  decode_cmp "resume (bucket)" "$work/decoded5.log" "$(objects_dir)" || true
fi
n_uploads=$(find "$rcv_root/.uploads" -mindepth 1 -maxdepth 1 | wc -l)
if ((n_uploads == 0)); then
  t_pass "resume: no multipart upload left unfinished on the server"
else
  t_fail "resume: $n_uploads multipart upload(s) left unfinished on the server"
fi
receiver_stop

# --- 6. clock skew ------------------------------------------------------------------------------
echo "--- 6. the server's clock one hour ahead of the device's"
receiver_start run6 --clock-offset-s 3600
spool6=$work/spool6
write_config "$work/run6.json" "$trace" "$spool6" "$creds"
run_drain "clock skew" "$work/run6.json" "$work/run6.err"
n_skew=$(rlog_count 'e.get("code") == "RequestTimeTooSkewed"')
if ((n_skew == 1)) && grep -Eq 'device clock is 3(59[89]|60[0-2]) s behind' "$work/run6.err"; then
  t_pass "clock skew: one RequestTimeTooSkewed, then corrected: $(grep -m 1 -o 'the device clock is [^;]*' "$work/run6.err")"
else
  t_fail "clock skew: $n_skew RequestTimeTooSkewed answer(s) (expected 1), or no correction logged"
  show_tail "$work/run6.err"
fi
check_spool_drained "clock skew" "$spool6"
if check_stored "clock skew"; then
  decode_cmp "clock skew (bucket)" "$work/decoded6.log" "$(objects_dir)" || true
fi
receiver_stop

t_finish "s3: all checks passed"
