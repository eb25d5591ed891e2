#!/usr/bin/env bash
# tests/integration/format_reference.sh - docs/FORMAT.md is precise enough
# for a second decoder: tests/tools/cnpb_reference.py, written from that
# document alone and sharing no code with canopy, must give back byte for
# byte what went into the agent: a log with every kind of frame and
# spelling (signed and unsigned batches), and every shared trace.
#
# Environment: CANOPY_BIN (required), CANOPY_EMULATOR, CANOPY_DATA.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== format_reference: an independent decoder written from docs/FORMAT.md"
: "${CANOPY_BIN:?}"
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
py=/usr/bin/python3
[[ -x $py ]] || py=$(command -v python3)
t_mktemp_dir w fmtref

# Every kind of frame and spelling canopy keeps.
{
  printf '(1700000000.000100) can0 123#1122334455667788\n'
  printf '(1700000000.000200) can0 18FEF100#0102\n'
  printf '(1700000000.000300) can1 7FF#R\n'
  printf '(1700000000.000400) can1 123#R8\n'
  printf '(1700000000.000500) can0 20000080#0000000000000000\n'
  printf '(1700000000.000600) can2 123##3001122334455667788990011\n'
  printf '(1700000000.000700) can2 1FFFFFFF##0%0128d\n' 0
  printf '(1700000000.000800) can0 123#1122334455667788_C\n'
  printf '(0000046408.584930) can0 260#08fffb0000001884\n'
  printf '(1699999999.000900) can0 123#\r\n'
  for i in $(seq 1 2000); do
    printf '(1700000001.%06d) can%d %03X#%02X%02X00000000%02X\n' $((i * 400)) $((i % 2)) $((0x100 + i % 9)) $((i % 5)) $((i / 256 % 256)) $((i % 256))
  done
  printf '(1700000002.000000) can0 123#11'
} >"$w/kinds.log"

install -m 600 "$repo/tests/data/keys/test-only-p256-a.key.pem" "$w/key.pem"
run() { # run NAME LOG [EXTRA-JSON]
  local d=$w/$1
  mkdir -p "$d"
  cat >"$d/config.json" <<JSON
{"vehicle_id": "ref", "sources": [{"type": "candump", "path": "$2"}],
 "batch": {"max_bytes": 65536}, "spool": {"dir": "$d/spool"},
 "endpoints": [{"url": "file://$d/bucket"}]${3:-}}
JSON
  if ! timeout 300 "${emu[@]}" "$CANOPY_BIN" --config "$d/config.json" --exit-when-drained 2>"$d/agent.log"; then
    t_fail "$1: canopy failed: $(tail -n 2 "$d/agent.log")"
    return
  fi
  if "$py" "$repo/tests/tools/cnpb_reference.py" "$d/bucket" >"$d/decoded.log" 2>"$d/ref.err" &&
     cmp -s "$d/decoded.log" "$2"; then
    t_pass "$1: the reference decoder gives back $(wc -l <"$2") frames byte for byte"
  else
    t_fail "$1: reference decoder output differs: $(head -c 300 "$d/ref.err") $(cmp "$d/decoded.log" "$2" 2>&1 | head -n 1)"
  fi
}
run kinds "$w/kinds.log"
run kinds-signed "$w/kinds.log" ", \"signing_key\": \"$w/key.pem\""
data=${CANOPY_DATA:-$repo/../shared/data}
if compgen -G "$data/traces/*.log" >/dev/null; then
  for trace in "$data"/traces/*.log; do
    run "$(basename "$trace" .log)" "$trace"
  done
else
  t_info "no shared traces in $data: only the synthetic log was checked"
fi
t_finish
