#!/usr/bin/env bash
# tests/integration/remote_schemes.sh - remote collection schemes against a
# local server (tests/servers/schemes_server.py on loopback, plain http with
# schemes_allow_insecure). The server answers the agent's polls from a
# script: a signed document v1; v1 again (the agent's conditional GET must
# get 304); v2 signed by another key; v3 unsigned; v4 signed but naming a
# signal the DBC lacks; v5 signed and valid. Checked:
#  - v1 and then v5 are applied; every batch names one scheme version and
#    its samples are those of that version's signal; v2, v3 and v4 are
#    refused, each reported as a "schemes_refused" event with its reason;
#  - the second poll carried If-None-Match with v1's ETag and got 304;
#  - v5 is kept on flash; an agent restarted with the server gone applies
#    it from there (rollback to the last good document), and one whose kept
#    copy was altered ignores it and falls back to the local schemes.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR,
# CANOPY_TEST_KEEP=1. Needs openssl (signing) and python3 (the server).
# Exit status: 0 pass, 1 fail, 77 skip.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== remote_schemes: signed scheme documents polled from a local server"
: "${CANOPY_BIN:?}" "${CANOPY_DECODE_BIN:?}"
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
command -v openssl >/dev/null || t_skip "openssl is not installed"
py=$(command -v python3) || t_skip "python3 is not installed"
keys=$repo/tests/data/keys
t_mktemp_dir work remote-schemes

doc() { # doc VERSION SIGNAL
  printf '{"version": "%s", "schemes": [{"name": "remote", "signals": [{"name": "%s"}]}]}\n' "$1" "$2"
}
sign() { # sign KEY FILE: hex DER ECDSA signature of FILE's SHA-256
  openssl dgst -sha256 -sign "$1" "$2" | od -An -v -tx1 | tr -d ' \n'
}
script=$work/script
mkdir -p "$script"
doc v1 VCU_DriveState >"$script/step-0.json"
sign "$keys/test-only-p256-a.key.pem" "$script/step-0.json" >"$script/step-0.sig"
cp "$script/step-0.json" "$script/step-1.json"
cp "$script/step-0.sig" "$script/step-1.sig"
doc v2 VCU_DriveState >"$script/step-2.json"
sign "$keys/test-only-p256-b.key.pem" "$script/step-2.json" >"$script/step-2.sig"
doc v3 VCU_DriveState >"$script/step-3.json"
doc v4 NoSuchSignal >"$script/step-4.json"
sign "$keys/test-only-p256-a.key.pem" "$script/step-4.json" >"$script/step-4.sig"
doc v5 VCU_TorqueRequestRear >"$script/step-5.json"
sign "$keys/test-only-p256-a.key.pem" "$script/step-5.json" >"$script/step-5.sig"

"$py" "$repo/tests/servers/schemes_server.py" "$script" "$work/port" "$work/server.log" &
server=$!
t_on_exit "kill $server 2>/dev/null || true"
t_wait_until 100 0.1 test -s "$work/port" || t_die "the scheme server did not start"
port=$(cat "$work/port")

# run NAME URL DURATION_S: the agent with the simulator paced in real time
run() {
  local name=$1 url=$2 duration=$3 dir=$work/$1
  mkdir -p "$dir"
  cat >"$dir/config.json" <<JSON
{
  "vehicle_id": "remote-test",
  "sources": [{"type": "sim", "profile": "ev", "seed": 3, "duration_s": $duration,
               "pace": "recorded"}],
  "capture": {"mode": "signals",
              "dbc": [{"interface": "can0", "path": "$repo/tools/sim/ev.dbc"}],
              "schemes": [{"name": "local", "signals": [{"name": "VCU_DriveCommand_Counter"}]}],
              "schemes_url": "$url", "schemes_key": "$keys/test-only-p256-a.pub.pem",
              "schemes_allow_insecure": true, "schemes_poll_ms": 200},
  "batch": {"max_age_ms": 300},
  "spool": {"dir": "$work/spool"},
  "endpoints": [{"url": "file://$dir/bucket"}]
}
JSON
  timeout 300 "${emu[@]}" "$CANOPY_BIN" --config "$dir/config.json" --exit-when-drained \
    2>"$dir/agent.log"
}

# versions DIR: "version signal..." per batch in order, from the decoded batches
versions() {
  "$py" - "$1/bucket" "$CANOPY_DECODE_BIN" "${emu[@]}" <<'PY'
import json, os, subprocess, sys
bucket, decode, emu = sys.argv[1], sys.argv[2], sys.argv[3:]
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(bucket) for f in fs if f.endswith(".cnp"))
for path in files:
    data = open(path, "rb").read()
    mlen = int.from_bytes(data[8:12], "little")
    manifest = json.loads(data[16:16 + mlen])
    out = subprocess.run(emu + [decode, "--signals", path], capture_output=True, text=True).stdout
    sigs = sorted({line.split(",")[3] for line in out.splitlines()[1:]})
    print(manifest.get("schemes", "-"), " ".join(sigs) or "(none)")
PY
}

if ! run first "http://127.0.0.1:$port/schemes" 6; then
  t_fail "agent failed: $(tail -n 3 "$work/first/agent.log")"
fi
versions "$work/first" >"$work/first/versions.txt"
uniq -c "$work/first/versions.txt" | sed 's/^/  /'
seen=$(cut -d' ' -f1 "$work/first/versions.txt" | uniq | tr '\n' ' ')
if [[ $seen == "- v1 v5 " || $seen == "v1 v5 " ]]; then
  t_pass "the agent applied v1, then v5, and nothing in between"
else
  t_fail "scheme versions of the batches, in order: $seen (expected [-] v1 v5)"
fi
if grep -v '^- ' "$work/first/versions.txt" | grep -qv -e '^v1 VCU_DriveState$' -e '^v5 VCU_TorqueRequestRear$' -e ' (none)$'; then
  t_fail "a batch holds samples of another version's signal: $(grep -v '^- ' "$work/first/versions.txt" | grep -v -e '^v1 VCU_DriveState$' -e '^v5 VCU_TorqueRequestRear$' | head -n 1)"
else
  t_pass "each batch holds the samples of its own scheme version only"
fi
"${emu[@]}" "$CANOPY_DECODE_BIN" --events "$work/first/bucket" >"$work/first/events.jsonl"
refusals=$(grep -c '"type":"schemes_refused"' "$work/first/events.jsonl" || true)
if [[ $refusals -eq 3 ]] &&
   grep '"schemes_refused"' "$work/first/events.jsonl" | sed -n 1p | grep -q 'does not verify' &&
   grep '"schemes_refused"' "$work/first/events.jsonl" | sed -n 2p | grep -q 'unsigned' &&
   grep '"schemes_refused"' "$work/first/events.jsonl" | sed -n 3p | grep -q 'schemes\[0\]\.signals\[0\]\.name: no signal \\"NoSuchSignal\\"'; then
  t_pass "v2 (other key), v3 (unsigned) and v4 (bad signal) refused and reported as events"
else
  t_fail "expected 3 refusal events (bad signature, unsigned, bad field), got $refusals: $(head -c 600 "$work/first/events.jsonl")"
fi
etag1=$(sha256sum <"$script/step-0.json" | cut -c1-64)
if sed -n 2p "$work/server.log" | grep -q "^step 1 inm=\"$etag1\" 304$"; then
  t_pass "the second poll was a conditional GET with v1's ETag, answered 304"
else
  t_fail "second request: $(sed -n 2p "$work/server.log") (expected If-None-Match v1 and 304)"
fi
if cmp -s "$work/spool/schemes.json" "$script/step-5.json"; then
  t_pass "v5 is kept on flash"
else
  t_fail "the kept document is not v5"
fi

# Rollback: the server is gone; the agent starts with the last good document.
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
dead=$(t_free_port)
if ! run second "http://127.0.0.1:$dead/schemes" 2; then
  t_fail "agent failed without the server: $(tail -n 3 "$work/second/agent.log")"
fi
versions "$work/second" >"$work/second/versions.txt"
if [[ -s "$work/second/versions.txt" ]] && ! grep -qv '^v5 VCU_TorqueRequestRear$' "$work/second/versions.txt" &&
   grep -q "using the last good scheme document v5" "$work/second/agent.log"; then
  t_pass "without the server, the agent runs the kept v5 from its first frame"
else
  t_fail "restart without the server: $(tr '\n' ';' <"$work/second/versions.txt")"
fi
# An altered kept copy is ignored: the local schemes run.
sed -i 's/VCU_TorqueRequestRear/VCU_DriveState/' "$work/spool/schemes.json"
if ! run third "http://127.0.0.1:$dead/schemes" 2; then
  t_fail "agent failed with an altered kept document: $(tail -n 3 "$work/third/agent.log")"
fi
versions "$work/third" >"$work/third/versions.txt"
if grep -q "the kept scheme document is not usable (the signature does not verify" "$work/third/agent.log" &&
   ! grep -qv '^- VCU_DriveCommand_Counter$' "$work/third/versions.txt"; then
  t_pass "an altered kept document is refused; the local schemes run"
else
  t_fail "altered kept document: $(tr '\n' ';' <"$work/third/versions.txt") $(grep -i kept "$work/third/agent.log" | head -n 1)"
fi
t_finish
