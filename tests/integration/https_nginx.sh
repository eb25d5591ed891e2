#!/usr/bin/env bash
# tests/integration/https_nginx.sh - canopy uploads a real CAN trace over
# HTTPS to a private nginx (WebDAV PUT), losslessly, and keeps its batches
# while the server's certificate does not verify.
#
# Environment:
#   CANOPY_BIN         path of the canopy binary (required)
#   CANOPY_DECODE_BIN  path of canopy-decode (required)
#   CANOPY_EMULATOR    command prefix for both binaries, e.g.
#                      "qemu-aarch64-static -L /usr/aarch64-linux-gnu"
#                      (word-split; empty for native builds)
#   CANOPY_DATA        shared data folder (default: ../shared/data next to
#                      the repository)
#   CANOPY_TEST_TRACE  trace to use: a name under $CANOPY_DATA/traces or a
#                      path (default honda_civic_type_r_2019.log, 1.2 MB)
#   CANOPY_TEST_TIMEOUT    seconds allowed per draining agent run (120)
#   CANOPY_TEST_TERM_AFTER seconds the wrong-CA run lasts at least before
#                      SIGTERM (8); it lasts longer (max 60 s) until the
#                      certificate error is logged and the spool is stable
#   CANOPY_TEST_KEEP=1 keep the temp dir (its path is printed)
#   NGINX_BIN          nginx to use (default: from PATH or /usr/sbin)
#
# Exit status: 0 pass, 1 fail, 2 usage error, 77 skip (no nginx, openssl,
# or data folder).
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"
# shellcheck source=tests/lib/tls.sh
. "$repo/tests/lib/tls.sh"
# shellcheck source=tests/lib/nginx.sh
. "$repo/tests/lib/nginx.sh"

echo "=== https_nginx: canopy -> HTTPS PUT -> nginx"

# --- prerequisites ----------------------------------------------------------
nginx_require_trace
run_timeout=${CANOPY_TEST_TIMEOUT:-120}
term_after=${CANOPY_TEST_TERM_AFTER:-8}
vehicle=demo-1

t_info "trace $trace ($(wc -c <"$trace") bytes, $(wc -l <"$trace") frames)"
t_info "canopy ${CANOPY_EMULATOR:+via $CANOPY_EMULATOR }$CANOPY_BIN"

# --- helpers -----------------------------------------------------------------
agent_pid=
kill_agent() {
  if [[ -n "$agent_pid" ]] && t_pid_alive "$agent_pid"; then
    kill -KILL "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  agent_pid=
}

# write_config FILE SOURCE SPOOL CA
write_config() {
  cat >"$1" <<EOF
{
  "vehicle_id": "$vehicle",
  "sources": [{"type": "candump", "path": "$2", "pace": "max"}],
  "capture": {"mode": "raw"},
  "batch": {"max_bytes": 65536, "max_age_ms": 10000},
  "spool": {"dir": "$3", "max_bytes": 104857600},
  "endpoints": [{"url": "$NGINX_INGEST_URL", "ca_file": "$4"}]
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

# decode_cmp WHAT OUT PATH... : decode PATHs, compare with the trace
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
  t_fail "$what: decoded output differs from the trace: $(cmp -- "$out" "$trace" 2>&1 | head -n 1) (decoded $(wc -c <"$out") bytes / $(wc -l <"$out") lines, trace $(wc -c <"$trace") / $(wc -l <"$trace"))"
  return 1
}

# check_spool_drained WHAT SPOOL
check_spool_drained() {
  local n tmps
  n=$(count_files "$2" '*.cnp')
  tmps=$(count_files "$2" '.tmp*')
  if ((n == 0)); then
    t_pass "$1: spool holds no .cnp files"
  else
    t_fail "$1: spool still holds $n .cnp file(s)"
  fi
  if ((tmps == 0)); then
    t_pass "$1: spool holds no .tmp files"
  else
    t_fail "$1: spool holds $tmps leftover .tmp file(s)"
  fi
}

# check_stored WHAT : objects in nginx's storage are all under <vehicle>/,
# named *.cnp, and there are some; prints the count and bytes
check_stored() {
  local n bytes stray
  n=$(count_files "$NGINX_STORAGE" '*.cnp')
  bytes=$(find "$NGINX_STORAGE" -type f -name '*.cnp' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  stray=$(find "$NGINX_STORAGE" -type f ! -path "$NGINX_STORAGE/$vehicle/*.cnp" | head -n 3 || true)
  t_info "$1: nginx stored $n object(s), $bytes bytes"
  if ((n == 0)); then
    t_fail "$1: nothing was stored by nginx"
    show_tail "$NGINX_ACCESS_LOG"
    return 1
  fi
  if [[ -n "$stray" ]]; then
    t_fail "$1: objects outside /ingest/$vehicle/*.cnp: $(tr '\n' ' ' <<<"$stray")"
  else
    t_pass "$1: all objects stored as /ingest/$vehicle/<batch>.cnp"
  fi
  stored_objects=$n
}

# run_drain WHAT CONFIG LOG : canopy --exit-when-drained, expect exit 0
run_drain() {
  local what=$1 cfg=$2 log=$3 rc=0 start=$SECONDS
  timeout -k 10 "$run_timeout" "${emu[@]}" "$CANOPY_BIN" --config "$cfg" \
    --exit-when-drained >"$log.out" 2>"$log" </dev/null || rc=$?
  if ((rc == 0)); then
    t_pass "$what: canopy --exit-when-drained exited 0 after $((SECONDS - start)) s"
  elif ((rc == 124 || rc == 137)); then
    t_fail "$what: canopy did not exit within ${run_timeout} s (timeout status $rc)"
    show_tail "$log"
  else
    t_fail "$what: canopy exited $rc"
    show_tail "$log"
  fi
  return 0
}

# --- setup ---------------------------------------------------------------------
work=''
t_mktemp_dir work https-nginx
t_on_exit kill_agent
t_info "work dir $work"

tls_setup "$work/tls" || t_die "could not create the test certificates"
nginx_start "$work/nginx" "$TLS_SERVER_CERT" "$TLS_SERVER_KEY" "$work/storage" ||
  t_die "could not start nginx"
t_info "nginx pid $NGINX_PID at $NGINX_INGEST_URL, storage $NGINX_STORAGE"

# --- 1. upload with the right CA ----------------------------------------------------
echo "--- 1. upload with the right CA"
spool1=$work/spool1
mkdir -p "$spool1"
write_config "$work/run1.json" "$trace" "$spool1" "$TLS_CA"
run_drain "right CA" "$work/run1.json" "$work/run1.err"
check_spool_drained "right CA" "$spool1"
stored_objects=0
if check_stored "right CA"; then
  if ((stored_objects >= 2)); then
    t_pass "right CA: the trace was split into $stored_objects batches"
  else
    t_fail "right CA: only $stored_objects batch for a $(wc -c <"$trace")-byte trace with batch.max_bytes 65536"
  fi
  decode_cmp "right CA (storage)" "$work/decoded1.log" "$NGINX_STORAGE" || true
fi

# --- 2. wrong CA: nothing uploaded, batches kept, SIGTERM exits 0 ---------------------
echo "--- 2. wrong CA, then SIGTERM"
rm -rf -- "${NGINX_STORAGE:?}"/*
spool2=$work/spool2
mkdir -p "$spool2"
write_config "$work/run2.json" "$trace" "$spool2" "$TLS_WRONG_CA"
log2=$work/run2.err
start=$SECONDS
"${emu[@]}" "$CANOPY_BIN" --config "$work/run2.json" --exit-when-drained \
  >"$work/run2.out" 2>"$log2" </dev/null &
agent_pid=$!
# Wait (bounded) until the agent has logged the certificate failure and the
# spool has stopped changing, and at least $term_after seconds have passed.
last_state='' stable_since=$SECONDS exited_early=0
for ((i = 0; i < 600; i++)); do # 600 x 0.1 s = 60 s at most
  if ! t_pid_alive "$agent_pid"; then
    exited_early=1
    break
  fi
  state="$(count_files "$spool2" '*.cnp')/$(count_files "$spool2" '.tmp*')"
  if [[ "$state" != "$last_state" ]]; then
    last_state=$state
    stable_since=$SECONDS
  fi
  if ((SECONDS - start >= term_after && SECONDS - stable_since >= 2)) &&
    grep -qi certificate "$log2" && [[ "$state" == */0 && "$state" != 0/* ]]; then
    break
  fi
  sleep 0.1
done
rc2=0
if ((exited_early)); then
  wait "$agent_pid" || rc2=$?
  agent_pid=
  t_fail "wrong CA: canopy exited by itself (status $rc2) before SIGTERM; it must keep retrying"
  show_tail "$log2"
else
  t_info "wrong CA: sending SIGTERM after $((SECONDS - start)) s (spool: $last_state .cnp/.tmp files)"
  kill -TERM "$agent_pid" 2>/dev/null || true
  if t_wait_pid_exit "$agent_pid" 300; then
    wait "$agent_pid" || rc2=$?
    agent_pid=
    if ((rc2 == 0)); then
      t_pass "wrong CA: canopy exited 0 on SIGTERM"
    else
      t_fail "wrong CA: canopy exited $rc2 on SIGTERM (expected 0)"
      show_tail "$log2"
    fi
  else
    t_fail "wrong CA: canopy still running 30 s after SIGTERM; killed"
    kill_agent
  fi
fi
n_stored=$(find "$NGINX_STORAGE" -type f | wc -l)
if ((n_stored == 0)); then
  t_pass "wrong CA: nginx stored nothing"
else
  t_fail "wrong CA: nginx stored $n_stored file(s) although the server certificate does not verify"
fi
if grep -qi certificate "$log2"; then
  t_pass "wrong CA: stderr mentions the certificate: $(grep -i -m 1 certificate "$log2")"
  if grep -i certificate "$log2" | grep -F "127.0.0.1:$NGINX_PORT" >/dev/null; then
    t_pass "wrong CA: the certificate error line names the URL"
  else
    t_fail "wrong CA: no certificate error line names the URL (127.0.0.1:$NGINX_PORT)"
  fi
else
  t_fail "wrong CA: stderr never mentions \"certificate\""
  show_tail "$log2"
fi
mapfile -t spooled < <(find "$spool2" -type f -name '*.cnp' | sort)
n_tmp=$(count_files "$spool2" '.tmp*')
if ((${#spooled[@]} > 0)); then
  t_pass "wrong CA: spool keeps ${#spooled[@]} .cnp batch(es)"
  decode_cmp "wrong CA (spool after SIGTERM)" "$work/decoded2.log" "${spooled[@]}" ||
    t_info "(if the agent had not read the whole trace yet, raise CANOPY_TEST_TERM_AFTER)"
else
  t_fail "wrong CA: spool holds no .cnp batch"
fi
if ((n_tmp == 0)); then
  t_pass "wrong CA: spool holds no .tmp files after SIGTERM"
else
  t_fail "wrong CA: spool holds $n_tmp leftover .tmp file(s) after SIGTERM"
fi

# --- 3. restart with the right CA: the kept batches drain ---------------------------
# The source is an empty log so that only what the spool kept gets uploaded
# (the agent is not required to remember how far it read the trace).
echo "--- 3. restart with the right CA"
: >"$work/empty.log"
write_config "$work/run3.json" "$work/empty.log" "$spool2" "$TLS_CA"
run_drain "restart" "$work/run3.json" "$work/run3.err"
check_spool_drained "restart" "$spool2"
stored_objects=0
if check_stored "restart"; then
  decode_cmp "restart (storage)" "$work/decoded3.log" "$NGINX_STORAGE" || true
fi

nginx_stop
t_finish "https_nginx: all checks passed"
