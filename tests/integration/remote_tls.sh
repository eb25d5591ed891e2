#!/usr/bin/env bash
# tests/integration/remote_tls.sh - the remote scheme fetch (capture.
# schemes_url, firmware/remote.c) under the endpoints' TLS policy, against a
# real nginx on loopback that serves a signed scheme document:
#  - schemes_pinned_pubkey that does not match the server's key: refused,
#    the log says so, the document is not applied;
#  - nginx requiring a client certificate, none configured: refused, the
#    log says so; schemes_client_cert/schemes_client_key: applied;
#  - a schemes_client_key others can read is refused by name and mode;
#  - the right pin: applied.
#
# Environment: CANOPY_BIN (required), CANOPY_EMULATOR, NGINX_BIN.
# Exit status: 0 pass, 1 fail, 77 skip (no nginx or openssl).
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"
# shellcheck source=tests/lib/tls.sh
. "$repo/tests/lib/tls.sh"
# shellcheck source=tests/lib/nginx.sh
. "$repo/tests/lib/nginx.sh"

echo "=== remote_tls: schemes_url with a pinned key and mutual TLS"
t_require_bins CANOPY_BIN
nginx_bin >/dev/null || t_skip "nginx not installed (apt-get install nginx)"
command -v openssl >/dev/null 2>&1 || t_skip "openssl not installed"
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
t_mktemp_dir w remote-tls
keys=$repo/tests/data/keys

tls_setup_all "$w/pki" >/dev/null || t_die "could not create the test certificates"
pin_of() {
  openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | openssl dgst -sha256 -binary | base64
}
server_pin="sha256//$(pin_of "$TLS_SERVER_KEY")"
other_pin="sha256//$(pin_of "$TLS_CLIENT_KEY")"

# The signed document nginx serves, its signature in X-Canopy-Signature.
printf '{"version": "tls-v1", "schemes": [{"name": "remote", "signals": [{"name": "VCU_DriveState"}]}]}\n' \
  >"$w/doc.json"
sig=$(openssl dgst -sha256 -sign "$keys/test-only-p256-a.key.pem" "$w/doc.json" | od -An -v -tx1 | tr -d ' \n')
export NGINX_EXTRA_SERVER_CONF="location = /schemes.json { alias \"$w/doc.json\"; add_header X-Canopy-Signature \"$sig\"; }"
start_nginx() { # [CLIENT_CA]
  nginx_stop
  rm -rf -- "$w/nginx" "$w/storage"
  nginx_start "$w/nginx" "$TLS_SERVER_CERT" "$TLS_SERVER_KEY" "$w/storage" "${1:-}" ||
    t_die "could not start nginx"
}

# run NAME EXTRA_CAPTURE_JSON: 8 s of simulated traffic; the agent's log in $w/NAME.log
run() {
  local name=$1 extra=$2 dir=$w/$1
  mkdir -p "$dir"
  cat >"$dir/config.json" <<JSON
{
  "vehicle_id": "remote-tls",
  "sources": [{"type": "sim", "profile": "ev", "seed": 3, "duration_s": 8, "pace": "recorded"}],
  "capture": {"mode": "signals",
              "dbc": [{"interface": "can0", "path": "$repo/tools/sim/ev.dbc"}],
              "schemes_url": "$NGINX_BASE_URL/schemes.json",
              "schemes_key": "$keys/test-only-p256-a.pub.pem",
              "schemes_ca_file": "$TLS_CA", "schemes_poll_ms": 500$extra},
  "spool": {"dir": "$dir/spool"},
  "endpoints": [{"url": "file://$dir/bucket"}]
}
JSON
  rc=0
  timeout 300 "${emu[@]}" "$CANOPY_BIN" --config "$dir/config.json" --exit-when-drained \
    >"$w/$name.log" 2>&1 || rc=$?
}
applied() { grep -q "document tls-v1 verified and compiled; applying it" "$w/$1.log"; }

start_nginx
run pin-mismatch ", \"schemes_pinned_pubkey\": \"$other_pin\""
if grep -q "schemes_url .*TLS: the server's public key does not match pinned_pubkey" "$w/pin-mismatch.log" &&
   ! applied pin-mismatch; then
  t_pass "a pin mismatch is refused by name, the document not applied"
else
  t_fail "pin mismatch (exit $rc): $(grep -m 2 'schemes_url' "$w/pin-mismatch.log" || tail -n 3 "$w/pin-mismatch.log")"
fi
run pin-right ", \"schemes_pinned_pubkey\": \"$other_pin;$server_pin\""
applied pin-right && t_pass "the right pin: applied" ||
  t_fail "right pin (exit $rc): $(grep -m 2 'schemes_url' "$w/pin-right.log" || tail -n 3 "$w/pin-right.log")"

start_nginx "$TLS_CLIENT_CA"
run no-client-cert ""
if grep -q "schemes_url .*TLS: the server requires a client certificate" "$w/no-client-cert.log" &&
   ! applied no-client-cert; then
  t_pass "a server that wants a client certificate: refused by name without one"
else
  t_fail "no client certificate (exit $rc): $(grep -m 2 'schemes_url' "$w/no-client-cert.log" || tail -n 3 "$w/no-client-cert.log")"
fi
install -m 600 "$TLS_CLIENT_KEY" "$w/client.key"
run client-cert ", \"schemes_client_cert\": \"$TLS_CLIENT_CERT\", \"schemes_client_key\": \"$w/client.key\""
applied client-cert && t_pass "with schemes_client_cert and schemes_client_key: applied" ||
  t_fail "client certificate (exit $rc): $(grep -m 2 'schemes_url' "$w/client-cert.log" || tail -n 3 "$w/client-cert.log")"
chmod 644 "$w/client.key"
run open-key ", \"schemes_client_cert\": \"$TLS_CLIENT_CERT\", \"schemes_client_key\": \"$w/client.key\""
if [[ $rc -eq 1 ]] && grep -q "schemes_client_key $w/client.key: .*mode 0644" "$w/open-key.log"; then
  t_pass "a schemes_client_key others can read is refused by name and mode"
else
  t_fail "open key (exit $rc): $(tail -n 3 "$w/open-key.log")"
fi
# Configuration mistakes, named by their JSON path.
run_check() { # run_check NAME EXTRA
  mkdir -p "$w/$1"
  sed "s#\"schemes_poll_ms\": 500#\"schemes_poll_ms\": 500$2#" "$w/pin-right/config.json" >"$w/$1/config.json"
  "${emu[@]}" "$CANOPY_BIN" --config "$w/$1/config.json" --check-config
}
t_expect "schemes_client_cert without schemes_client_key is a configuration error" 1 \
  'capture\.schemes_client_key: schemes_client_cert and schemes_client_key go together' \
  -- run_check half ", \"schemes_client_cert\": \"$TLS_CLIENT_CERT\""
t_expect "a malformed schemes_pinned_pubkey is a configuration error" 1 \
  'capture\.schemes_pinned_pubkey: expected "sha256//"' \
  -- run_check badpin ", \"schemes_pinned_pubkey\": \"sha256//short\""
t_finish
