#!/usr/bin/env bash
# tests/integration/conn_reuse.sh - connection and TLS session reuse.
#
# The agent keeps one libcurl handle per endpoint (platform/curl/http.c;
# curl_easy_reset keeps its connection and TLS session caches). Proved on
# a real nginx (tests/lib/nginx.sh) whose reuse log records per request the
# connection's serial number, the requests so far on it and whether the TLS
# session was resumed ($ssl_session_reused). nginx closes each connection
# after `keepalive_requests` requests, so the agent must open new ones:
#   - several batches go over one connection (keep-alive reuse): no
#     connection carries fewer requests than the limit except the last;
#   - every connection after the first resumes the TLS session (no full
#     handshake), for TLS 1.3 (session tickets) and for TLS 1.2 (session
#     IDs: the server needs a session cache, see below).
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR,
# CANOPY_DATA, CANOPY_TEST_TRACE, CANOPY_TEST_TIMEOUT (120), NGINX_BIN.
#
# Exit status: 0 pass, 1 fail, 77 skip.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"
# shellcheck source=tests/lib/tls.sh
. "$repo/tests/lib/tls.sh"
# shellcheck source=tests/lib/nginx.sh
. "$repo/tests/lib/nginx.sh"

echo "=== conn_reuse: keep-alive and TLS session resumption to one endpoint"

nginx_require_trace
run_timeout=${CANOPY_TEST_TIMEOUT:-120}
per_conn=3

work=''
t_mktemp_dir work conn_reuse
tls_setup "$work/tls" >/dev/null || t_die "could not create the test certificates"
head -n 2000 "$trace" >"$work/trace.log"
sort "$work/trace.log" >"$work/trace.sorted"

# run PROTO [CONF]: one agent run against a fresh nginx speaking only
# PROTO, with CONF added to its server block.
run() {
  local proto=$1 dir=$work/$1 rc=0
  mkdir -p "$dir"
  NGINX_SSL_PROTOCOLS=$proto NGINX_EXTRA_SERVER_CONF="keepalive_requests $per_conn; ${2:-}" \
    nginx_start "$dir/nginx" "$TLS_SERVER_CERT" "$TLS_SERVER_KEY" "$dir/storage" ||
    t_die "nginx did not start"
  cat >"$dir/config.json" <<EOF
{
  "vehicle_id": "demo-1",
  "sources": [{"type": "candump", "path": "$work/trace.log", "pace": "max"}],
  "batch": {"max_bytes": 4096},
  "spool": {"dir": "$dir/spool"},
  "endpoints": [{"url": "$NGINX_INGEST_URL", "ca_file": "$TLS_CA"}]
}
EOF
  timeout -k 10 "$run_timeout" "${emu[@]}" "$CANOPY_BIN" --config "$dir/config.json" \
    --exit-when-drained >/dev/null 2>"$dir/agent.err" </dev/null || rc=$?
  nginx_stop
  if ((rc != 0)); then
    tail -n 10 "$dir/agent.err"
    t_fail "$proto: canopy exited $rc"
    return
  fi
  if "${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$dir/storage" 2>"$dir/decode.err" |
    sort | cmp -s - "$work/trace.sorted"; then
    t_pass "$proto: every frame delivered once"
  else
    t_fail "$proto: the stored frames differ from the trace"
  fi
  # Lines: connection requests reused status "request"; PUTs only.
  grep '"PUT ' "$NGINX_REUSE_LOG" >"$dir/puts" || true
  "$(command -v python3)" - "$dir/puts" "$per_conn" "$proto" <<'PY' >"$dir/verdict"
import sys
rows = [l.split() for l in open(sys.argv[1])]
per = int(sys.argv[2])
conns = {}
for r in rows:
    conns.setdefault(int(r[0]), []).append((int(r[1]), r[2], r[3]))
order = sorted(conns)
short = [c for c in order[:-1] if len(conns[c]) < per]
fresh = [c for c in order[1:] if conns[c][0][1] != "r"]
ok = rows and len(order) >= 2 and not short and not fresh
print("PASS" if ok else "FAIL",
      f"{len(rows)} PUTs over {len(order)} connections "
      f"(requests each: {[len(conns[c]) for c in order]}); "
      f"TLS sessions resumed on {len(order) - 1 - len(fresh)} of the {len(order) - 1} "
      f"connections after the first; connections closed early: {len(short)}")
PY
  local verdict
  verdict=$(cat "$dir/verdict")
  if [[ "$verdict" == PASS* ]]; then
    t_pass "$proto: ${verdict#PASS }"
  else
    t_fail "$proto: ${verdict#FAIL } (nginx reuse log: $(head -n 4 "$dir/puts" | tr '\n' ';'))"
  fi
}

run TLSv1.3
# With TLS 1.2 libcurl asks for no session ticket (its OpenSSL back-end
# sets SSL_OP_NO_TICKET; `curl -v` shows no NewSessionTicket): it resumes
# by session ID, which needs the server's session cache. nginx has none
# unless configured; most servers have one.
run TLSv1.2 "ssl_session_cache shared:canopy:1m;"

t_finish "conn_reuse: all checks passed"
