#!/usr/bin/env bash
# tests/integration/secrets.sh - no secret ever reaches a log or `canopy
# status`: a full agent run with an s3:// endpoint carrying an access key
# secret and a session token, a second s3:// endpoint reading a credentials
# file, a signing key, an encryption key and a mutual-TLS client key, at
# log level debug, with uploads failing (nothing listens) so every error
# path logs; then --check-config, a SIGHUP reload and `canopy status`
# (text and --json). Every output is grepped for each secret string and
# for the private keys' PEM bodies.
#
# Environment: CANOPY_BIN (required), CANOPY_EMULATOR.
# Exit status: 0 pass, 1 fail.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== secrets: nothing secret in logs or canopy status"
t_require_bins CANOPY_BIN
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
t_mktemp_dir w secrets
keys=$repo/tests/data/keys

secret_key='SeCrEtAcCeSsKeY/canopyTEST+0123456789abcd'
token='SeSsIoNtOkEn//canopyTEST0123456789abcdefghijklmnopqrstuvwxyzTOKEN=='
file_secret='FiLeSeCrEt/canopyTEST+9876543210zyxwvutsrq'
install -m 600 "$keys/test-only-p256-a.key.pem" "$w/device.key.pem"
install -m 600 "$keys/test-only-p256-b.key.pem" "$w/client.key.pem"
printf '[default]\naws_access_key_id = AKIAFILEEXAMPLE\naws_secret_access_key = %s\n' \
  "$file_secret" >"$w/credentials"
chmod 600 "$w/credentials"
port=$(t_free_port)
for i in $(seq 0 499); do
  printf '(1700000000.%06d) can0 123#0102030405060708\n' $((i * 1000))
done >"$w/trace.log"

cat >"$w/config.json" <<JSON
{
  "vehicle_id": "sec-1",
  "log_level": "debug",
  "sources": [{"type": "candump", "path": "$w/trace.log", "pace": "max"}],
  "batch": {"max_bytes": 4096, "max_age_ms": 500},
  "spool": {"dir": "$w/spool"},
  "upload": {"backoff_base_ms": 100, "backoff_cap_ms": 300},
  "signing_key": "$w/device.key.pem",
  "encrypt_to": "$keys/test-only-p256-b.pub.pem",
  "operations": {"status_file": "$w/status.json", "status_interval_ms": 200},
  "endpoints": [
    {"url": "s3://bucket/prefix", "endpoint_url": "https://127.0.0.1:$port",
     "region": "us-east-1", "access_key_id": "AKIAINLINEEXAMPLE",
     "secret_access_key": "$secret_key", "session_token": "$token",
     "client_cert": "$keys/test-only-p256-b.pub.pem", "client_key": "$w/client.key.pem"},
    {"url": "s3://bucket2", "endpoint_url": "https://127.0.0.1:$port",
     "region": "us-east-1", "credentials_file": "$w/credentials"}
  ]
}
JSON

out=$w/outputs
mkdir "$out"
"${emu[@]}" "$CANOPY_BIN" --config "$w/config.json" --check-config >"$out/check.log" 2>&1 || true
"${emu[@]}" "$CANOPY_BIN" --config "$w/config.json" >"$out/agent.log" 2>&1 </dev/null &
pid=$!
t_on_exit "kill -KILL $pid 2>/dev/null || true"
t_wait_until 300 0.1 grep -q "source 0 .* finished" "$out/agent.log" || true
t_wait_until 300 0.1 grep -qi "upload of .* failed\|cannot\|refused" "$out/agent.log" || true
kill -HUP "$pid" 2>/dev/null || true
t_wait_until 100 0.1 grep -q "reload" "$out/agent.log" || true
t_wait_until 50 0.1 test -s "$w/status.json" || true
"${emu[@]}" "$CANOPY_BIN" status --status-file "$w/status.json" >"$out/status.txt" 2>&1 || true
"${emu[@]}" "$CANOPY_BIN" status --status-file "$w/status.json" --json >"$out/status.json" 2>&1 || true
cp "$w/status.json" "$out/status-file.json" 2>/dev/null || true
kill -TERM "$pid" 2>/dev/null || true
t_wait_pid_exit "$pid" 100 || kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true

lines=$(cat "$out"/* | wc -l)
if [[ $lines -ge 10 ]] && grep -q "debug" "$out/agent.log" && grep -qi "upload" "$out/agent.log"; then
  t_pass "collected $lines lines of logs and status (debug level, failed uploads)"
else
  t_fail "too little output to check ($lines lines): $(tail -n 3 "$out/agent.log")"
fi
[[ -s $out/status.txt ]] && t_pass "canopy status printed $(wc -l <"$out/status.txt") lines" ||
  t_fail "canopy status printed nothing: $(cat "$out/status.txt")"

# The control: the same grep finds the secrets where they are.
if grep -qF -- "$secret_key" "$w/config.json" && grep -qF -- "$file_secret" "$w/credentials"; then
  t_pass "control: the grep finds the secrets in the configuration and credentials files"
else
  t_fail "control: the grep does not find the secrets where they are"
fi
pem_body() { sed -n '2p' "$1"; } # the first line of base64 of a PEM key
for s in "$secret_key" "$token" "$file_secret" "$(pem_body "$w/device.key.pem")" \
  "$(pem_body "$w/client.key.pem")"; do
  if grep -rqF -- "$s" "$out"; then
    t_fail "a secret appears in the output: ${s:0:12}... in $(grep -rlF -- "$s" "$out" | xargs -n1 basename)"
  else
    t_pass "absent from every log and status output: ${s:0:12}..."
  fi
done
# Partial leaks: 16 characters of either secret.
if grep -rqF -e "${secret_key:4:16}" -e "${token:8:16}" -e "${file_secret:4:16}" "$out"; then
  t_fail "part of a secret appears in the output"
else
  t_pass "no 16-character piece of a secret appears either"
fi
t_finish
