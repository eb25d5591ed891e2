#!/usr/bin/env bash
# tests/lib/receiver.sh - start and query tests/servers/s3_receiver.py from
# an integration test. Source after common.sh and tls.sh (tls_setup done).
#
# The caller sets: py (python3 with botocore), work (temp dir), bucket,
# key_id, secret. receiver_start NAME [ARG...] gives rcv_pid, rcv_port,
# rcv_root, rcv_log, rcv_control (a JSON list of fault rules, '[]' to
# start); receiver_stop ends it (registered with t_on_exit). The array
# rcv_wrap, empty by default, prefixes the receiver's command (for example
# `ip netns exec NS` to run it in a network namespace).

rcv_pid='' rcv_port='' rcv_root='' rcv_log='' rcv_control=''
rcv_wrap=()

# receiver_require: sets py (S3_PYTHON, default /usr/bin/python3), data
# (CANOPY_DATA), trace (CANOPY_TEST_TRACE under data/traces, default
# honda_civic_type_r_2019.log), emu (CANOPY_EMULATOR as an array) and the
# receiver's names (vehicle, bucket, prefix, key_id, secret); skips the
# test when the binaries, botocore, openssl, timeout or the trace are
# missing.
receiver_require() {
  read -r -a emu <<<"${CANOPY_EMULATOR:-}"
  vehicle=demo-1
  bucket=canopy-test
  prefix=fleet/eu
  key_id=AKIDCANOPYTEST0000001
  secret='wJalrXUtnFEMI/K7MDENG+bPxRfiCYcanopyTEST'
  t_require_bins CANOPY_BIN CANOPY_DECODE_BIN
  py=${S3_PYTHON:-/usr/bin/python3}
  [[ -x "$py" ]] || py=$(command -v python3 || true)
  [[ -n "$py" ]] || t_skip "python3 not installed"
  "$py" -c 'import botocore.auth' 2>/dev/null ||
    t_skip "botocore not importable by $py (apt-get install python3-botocore)"
  command -v openssl >/dev/null 2>&1 || t_skip "openssl not installed"
  command -v timeout >/dev/null 2>&1 || t_skip "timeout (coreutils) not installed"
  t_require_trace
}

# receiver_work LINES: in $work (made, with tls_setup done), trace.log
# (the first LINES lines of $trace; trace is set to it, full_trace keeps
# the original), trace.sorted and a credentials file for the receiver's
# key (creds).
receiver_work() {
  full_trace=$trace
  trace=$work/trace.log
  head -n "$1" "$full_trace" >"$trace"
  sort "$trace" >"$work/trace.sorted"
  t_info "trace: the first $(wc -l <"$trace") frames of $full_trace"
  creds=$work/credentials
  (umask 077 && printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
    "$key_id" "$secret" >"$creds")
}

receiver_stop() {
  t_stop_pid "$rcv_pid"
  rcv_pid=''
}
t_on_exit receiver_stop

# receiver_start NAME [ARG...]: a fresh receiver with its own storage, log
# and control file under $work/NAME; ARGs go to the receiver.
receiver_start() {
  local dir=$work/$1
  shift
  mkdir -p "$dir"
  rcv_root=$dir/storage rcv_log=$dir/receiver.log rcv_control=$dir/control.json
  echo '[]' >"$rcv_control"
  rm -f "$dir/port"
  "${rcv_wrap[@]}" "$py" "$repo/tests/servers/s3_receiver.py" --root "$rcv_root" --port-file "$dir/port" \
    --bucket "$bucket" --access-key "$key_id" --secret "$secret" --region us-east-1 \
    --tls-cert "$TLS_SERVER_CERT" --tls-key "$TLS_SERVER_KEY" \
    --control "$rcv_control" --log "$rcv_log" --min-part-bytes 1024 "$@" \
    2>"$dir/receiver.err" &
  rcv_pid=$!
  if ! t_wait_until 100 0.1 test -s "$dir/port"; then
    cat "$dir/receiver.err" >&2 || true
    t_die "the S3 receiver did not start"
  fi
  rcv_port=$(cat "$dir/port")
  t_info "receiver pid $rcv_pid on https://127.0.0.1:$rcv_port (${dir##*/})"
}

# rlog EXPR: the receiver's log entries (JSON lines) for which the Python
# expression EXPR over the entry `e` is true; rlog_count EXPR counts them.
rlog() {
  "$py" - "$rcv_log" "$1" <<'PY'
import json, sys
expr = compile(sys.argv[2], "filter", "eval")
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        e = json.loads(line)
        if eval(expr, {}, {"e": e}):
            print(line.rstrip())
PY
}
rlog_count() { rlog "$1" | wc -l; }
