#!/usr/bin/env bash
# tests/integration/tls_policy.sh - the TLS policy against a real nginx on
# loopback: a wrong CA, an expired certificate, a wrong host name, a pin
# mismatch, a missing client certificate, a rejected one and a server that
# offers only TLS 1.0/1.1 are each refused with a message that says which; nothing is uploaded and no batch
# leaves the spool; once the configuration is fixed (right CA, right pin
# as a hash and as a key file, right client certificate) every batch is
# delivered and decodes to the trace. Also: a client key others can read is
# refused by name and mode, and plain http:// needs allow_insecure, which
# logs a warning at every start.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR,
# NGINX_BIN. Exit status: 0 pass, 1 fail, 77 skip (no nginx or openssl).
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"
# shellcheck source=tests/lib/tls.sh
. "$repo/tests/lib/tls.sh"
# shellcheck source=tests/lib/nginx.sh
. "$repo/tests/lib/nginx.sh"

echo "=== tls_policy: CA, expiry, host name, pinning, mutual TLS, plain http"
t_require_bins CANOPY_BIN CANOPY_DECODE_BIN
nginx_bin >/dev/null || t_skip "nginx not installed (apt-get install nginx)"
command -v openssl >/dev/null 2>&1 || t_skip "openssl not installed"
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
t_mktemp_dir w tls-policy

agent_pid=
kill_agent() {
  if [[ -n "$agent_pid" ]] && t_pid_alive "$agent_pid"; then
    kill -KILL "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  agent_pid=
}
t_on_exit kill_agent

tls_setup_all "$w/pki" >/dev/null || t_die "could not create the test certificates"
pki=$w/pki
# A client certificate from the server's CA, which the client CA check rejects.
tls_client_cert "$pki" stranger ca >/dev/null || t_die "could not create the stranger cert"
# SHA-256 pins (curl's sha256// form) of the server's key and of another key.
pin_of() {
  openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | openssl dgst -sha256 -binary | base64
}
server_pin="sha256//$(pin_of "$TLS_SERVER_KEY")"
other_pin="sha256//$(pin_of "$TLS_CLIENT_KEY")"
openssl pkey -in "$TLS_SERVER_KEY" -pubout -out "$pki/server.pub.pem" 2>/dev/null
openssl pkey -in "$TLS_CLIENT_KEY" -pubout -out "$pki/other.pub.pem" 2>/dev/null

for i in $(seq 0 2999); do
  printf '(1700000000.%06d) can0 %03X#11223344%02X%02X6677\n' $((i * 300)) $((0x100 + i % 9)) \
    $((i % 256)) $((i / 256))
done >"$w/trace.log"
: >"$w/empty.log"
spool=$w/spool

config() { # config FILE SOURCE ENDPOINT_JSON_EXTRA
  cat >"$1" <<JSON
{
  "vehicle_id": "tls-1",
  "sources": [{"type": "candump", "path": "$2", "pace": "max"}],
  "batch": {"max_bytes": 4096, "max_age_ms": 1000},
  "spool": {"dir": "$spool", "max_bytes": 16777216},
  "upload": {"backoff_base_ms": 200, "backoff_cap_ms": 1000},
  "endpoints": [{"url": "$NGINX_INGEST_URL"$3}]
}
JSON
}

spooled() { { find "$spool" -maxdepth 1 -name '*.cnp' 2>/dev/null || true; } | wc -l; }
stored() { { find "$NGINX_STORAGE" -type f -name '*.cnp' 2>/dev/null || true; } | wc -l; }

# refused NAME SOURCE EXTRA PATTERN: the agent logs PATTERN (bounded wait),
# uploads nothing, keeps every batch; SIGTERM ends it.
refused() {
  local name=$1 source=$2 extra=$3 pattern=$4 log=$w/$1.log before
  before=$(spooled)
  config "$w/$name.json" "$source" "$extra"
  "${emu[@]}" "$CANOPY_BIN" --config "$w/$name.json" >"$log" 2>&1 </dev/null &
  agent_pid=$!
  # Both the refusal and the end of the source (all of it is spooled);
  # bounded generously: under a loaded CI machine a start can take long.
  t_wait_until 1200 0.1 grep -Eq -- "$pattern" "$log" || true
  t_wait_until 1200 0.1 grep -q "source 0 .* finished" "$log" || true
  kill -TERM "$agent_pid" 2>/dev/null || true
  t_wait_pid_exit "$agent_pid" 300 || true
  kill_agent
  if ! grep -Eq -- "$pattern" "$log"; then
    t_fail "$name: no /$pattern/ in the log: $(grep -m 3 -i 'upload\|tls' "$log" || tail -n 3 "$log")"
  elif [[ $(stored) -ne 0 ]]; then
    t_fail "$name: nginx stored $(stored) objects"
  elif [[ $(spooled) -lt $before || $(spooled) -lt 2 ]]; then
    t_fail "$name: the spool lost batches: $before -> $(spooled)"
  else
    t_pass "$name: refused ($(grep -Eo -m 1 -- "$pattern" "$log")), $(spooled) batches kept"
  fi
}

# delivered NAME EXTRA: a draining agent delivers the whole spool.
delivered() {
  local name=$1 extra=$2 n
  n=$(spooled)
  config "$w/$name.json" "$w/empty.log" "$extra"
  t_expect "$name: delivers the $n kept batches" 0 "uploaded_batches=$n " \
    -- timeout 120 "${emu[@]}" "$CANOPY_BIN" --config "$w/$name.json" --exit-when-drained
  "${emu[@]}" "$CANOPY_DECODE_BIN" "$NGINX_STORAGE" >"$w/$name.decoded" 2>&1 || true
  if [[ $(spooled) -eq 0 ]] && cmp -s "$w/$name.decoded" "$w/trace.log"; then
    t_pass "$name: the spool is empty and the stored batches decode to the trace"
  else
    t_fail "$name: $(spooled) batches left, or the stored batches differ from the trace: $(cmp "$w/$name.decoded" "$w/trace.log" 2>&1 | head -c 300)"
  fi
}

restart_nginx() { # CERT KEY [CLIENT_CA]
  nginx_stop
  rm -rf -- "$w/nginx" "$w/storage"
  nginx_start "$w/nginx" "$1" "$2" "$w/storage" "${3:-}" || t_die "could not start nginx"
}

# --- server certificate checks ------------------------------------------------
restart_nginx "$TLS_SERVER_CERT" "$TLS_SERVER_KEY"
refused wrong-ca "$w/trace.log" ", \"ca_file\": \"$TLS_WRONG_CA\"" \
  "TLS: the server's certificate is not signed by a CA in ca_file"
refused pin-mismatch "$w/empty.log" ", \"ca_file\": \"$TLS_CA\", \"pinned_pubkey\": \"$other_pin\"" \
  "TLS: the server's public key does not match pinned_pubkey"
refused pin-file-mismatch "$w/empty.log" ", \"ca_file\": \"$TLS_CA\", \"pinned_pubkey\": \"$pki/other.pub.pem\"" \
  "TLS: the server's public key does not match pinned_pubkey"
restart_nginx "$TLS_EXPIRED_CERT" "$TLS_EXPIRED_KEY"
refused expired "$w/empty.log" ", \"ca_file\": \"$TLS_CA\"" \
  "TLS: the server's certificate has expired"
restart_nginx "$TLS_WRONG_HOST_CERT" "$TLS_WRONG_HOST_KEY"
refused wrong-host "$w/empty.log" ", \"ca_file\": \"$TLS_CA\"" \
  "TLS: the server's certificate is not for this host name"

# --- mutual TLS ------------------------------------------------------------------
restart_nginx "$TLS_SERVER_CERT" "$TLS_SERVER_KEY" "$TLS_CLIENT_CA"
refused no-client-cert "$w/empty.log" ", \"ca_file\": \"$TLS_CA\"" \
  "TLS: the server requires a client certificate"
refused client-cert-rejected "$w/empty.log" \
  ", \"ca_file\": \"$TLS_CA\", \"client_cert\": \"$pki/stranger.pem\", \"client_key\": \"$pki/stranger.key\"" \
  "TLS: the server rejected the client certificate"
install -m 644 "$TLS_CLIENT_KEY" "$w/open-client.key"
config "$w/open-key.json" "$w/empty.log" \
  ", \"ca_file\": \"$TLS_CA\", \"client_cert\": \"$TLS_CLIENT_CERT\", \"client_key\": \"$w/open-client.key\""
t_expect "a client key others can read is refused by name and mode" 1 \
  "client_key $w/open-client.key: mode 0644" \
  -- "${emu[@]}" "$CANOPY_BIN" --config "$w/open-key.json" --exit-when-drained
config "$w/half.json" "$w/empty.log" ", \"client_cert\": \"$TLS_CLIENT_CERT\""
t_expect "client_cert without client_key is a configuration error" 1 \
  'endpoints\[0\]\.client_key: client_cert and client_key go together' \
  -- "${emu[@]}" "$CANOPY_BIN" --config "$w/half.json" --check-config
config "$w/badpin.json" "$w/empty.log" ", \"pinned_pubkey\": \"sha256//tooshort\""
t_expect "a malformed pin is a configuration error" 1 'endpoints\[0\]\.pinned_pubkey: expected "sha256//"' \
  -- "${emu[@]}" "$CANOPY_BIN" --config "$w/badpin.json" --check-config
[[ $(spooled) -ge 2 ]] && t_pass "the spool still holds all $(spooled) batches" ||
  t_fail "the spool lost batches"

# --- fixed: delivered, with the pin (hash and file) and the client certificate ---
delivered fixed-mtls ", \"ca_file\": \"$TLS_CA\", \"client_cert\": \"$TLS_CLIENT_CERT\", \"client_key\": \"$TLS_CLIENT_KEY\", \"pinned_pubkey\": \"$other_pin;$server_pin\""
if grep -q 'PUT /ingest/.* 20[01] .*TLSv1\.[23] SUCCESS' "$NGINX_ACCESS_LOG"; then
  t_pass "nginx logged the uploads with TLS 1.2+ and a verified client certificate"
else
  t_fail "nginx's access log lacks verified TLS uploads: $(tail -n 2 "$NGINX_ACCESS_LOG")"
fi
# A pin given as a key file, on a server without client certificates.
restart_nginx "$TLS_SERVER_CERT" "$TLS_SERVER_KEY"
# A new trace file: the agent's journal remembers how far it read the old one.
cp "$w/trace.log" "$w/trace2.log"
refused refill "$w/trace2.log" ", \"ca_file\": \"$TLS_WRONG_CA\"" "TLS: "
delivered fixed-pin-file ", \"ca_file\": \"$TLS_CA\", \"pinned_pubkey\": \"$pki/server.pub.pem\""

# --- a server that offers only TLS 1.0 and 1.1 -------------------------------------
# canopy asks for TLS 1.2 at least (CURLOPT_SSLVERSION); OpenSSL 3 would not
# offer the old versions at its default security level, so nginx is told
# @SECLEVEL=0. A control with openssl s_client proves that this nginx
# really speaks TLS 1.1 and refuses 1.2, so the refusal is the client's.
NGINX_SSL_PROTOCOLS="TLSv1 TLSv1.1" NGINX_SSL_CIPHERS="DEFAULT:@SECLEVEL=0" \
  restart_nginx "$TLS_SERVER_CERT" "$TLS_SERVER_KEY"
s_client() { # s_client VERSION_FLAG: "ok" when a handshake of exactly that version succeeds
  openssl s_client -connect "127.0.0.1:$NGINX_PORT" "$1" -cipher 'DEFAULT:@SECLEVEL=0' \
    -CAfile "$TLS_CA" </dev/null 2>/dev/null |
    grep -E '^New, .*Cipher is ' | grep -vq '(NONE)' && echo ok
}
old=$(s_client -tls1_1 || true)
new=$(s_client -tls1_2 || true)
if [[ $old != ok || -n $new ]]; then
  t_info "this openssl/nginx cannot make a TLS 1.1-only server (TLS 1.1: '${old}', TLS 1.2: '${new}'): old-TLS check skipped"
else
  t_pass "control: nginx speaks TLS 1.1 and refuses TLS 1.2"
  cp "$w/trace.log" "$w/trace3.log"
  refused old-tls "$w/trace3.log" ", \"ca_file\": \"$TLS_CA\"" \
    "TLS: no common TLS version \(canopy requires TLS 1.2 or later\)"
  if grep -q 'TLSv1\.1' "$NGINX_ACCESS_LOG" 2>/dev/null; then
    t_fail "nginx logged a request over TLS 1.1: $(grep -m 1 'TLSv1\.1' "$NGINX_ACCESS_LOG")"
  fi
  restart_nginx "$TLS_SERVER_CERT" "$TLS_SERVER_KEY"
  delivered old-tls-fixed ", \"ca_file\": \"$TLS_CA\""
fi

# --- plain http:// ------------------------------------------------------------------
cat >"$w/http.json" <<JSON
{
  "vehicle_id": "tls-1",
  "sources": [{"type": "candump", "path": "$w/empty.log", "pace": "max"}],
  "spool": {"dir": "$w/spool-http"},
  "endpoints": [{"url": "http://127.0.0.1:9/ingest", "allow_insecure": true}]
}
JSON
t_expect "allow_insecure warns at start" 0 "warning: .*allow_insecure is set: batches go unencrypted" \
  -- timeout 20 "${emu[@]}" "$CANOPY_BIN" --config "$w/http.json" --exit-when-drained
sed -i 's/, "allow_insecure": true//' "$w/http.json"
t_expect "plain http:// without allow_insecure is refused" 1 "allow_insecure" \
  -- "${emu[@]}" "$CANOPY_BIN" --config "$w/http.json" --check-config

t_finish
