#!/usr/bin/env bash
# tests/integration/duration.sh - sources[].duration_s ends a capture: an
# endlessly looping candump replay with duration_s stops after that much log
# time, the agent drains and exits by itself (--exit-when-drained), and the
# stored frames are exactly those stamped before first + duration_s.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR
# (command prefix for cross builds), CANOPY_TEST_KEEP=1 keeps the temp dir.
# Exit status: 0 pass, 1 fail.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== duration: a looping replay with duration_s drains and exits"
: "${CANOPY_BIN:?}" "${CANOPY_DECODE_BIN:?}"
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
t_mktemp_dir work duration

# 10 frames 0.1 s apart; looped, each pass is shifted by the log's span plus
# 1 ms (0.901 s), so 2.5 s hold 10 + 10 + 7 frames.
for i in 0 1 2 3 4 5 6 7 8 9; do
  printf '(1700000000.%d00000) can0 1%02X#%02X\n' "$i" "$i" "$i"
done >"$work/in.log"
cat >"$work/config.json" <<JSON
{
  "vehicle_id": "duration",
  "sources": [{"type": "candump", "path": "$work/in.log", "loop": true, "duration_s": 2.5}],
  "capture": {"mode": "raw"},
  "batch": {"max_bytes": 262144, "max_age_ms": 10000},
  "spool": {"dir": "$work/spool"},
  "endpoints": [{"url": "file://$work/bucket"}]
}
JSON
# Expected: every looped frame stamped before 1700000002.5.
awk '{ print }' "$work/in.log" >"$work/want.log"
for pass in 1 2; do
  off=$((pass * 901))
  while read -r ts rest; do
    t=${ts#(}; t=${t%)}
    us=$(( ${t%.*} * 1000000 + 10#${t#*.} + off * 1000 ))
    (( us < 1700000002500000 )) && printf '(%d.%06d) %s\n' $((us / 1000000)) $((us % 1000000)) "$rest"
  done <"$work/in.log"
done >>"$work/want.log"

if timeout 60 "${emu[@]}" "$CANOPY_BIN" --config "$work/config.json" --exit-when-drained \
    2>"$work/agent.log"; then
  t_pass "canopy exited by itself after duration_s"
else
  t_fail "canopy did not exit cleanly within 60 s: $(tail -n 3 "$work/agent.log")"
fi
if grep -q "in.log: duration_s reached after 27 frames" "$work/agent.log"; then
  t_pass "the end is logged, naming the source"
else
  t_fail "no 'duration_s reached after 27 frames' in the log: $(tail -n 3 "$work/agent.log")"
fi
"${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$work/bucket" >"$work/got.log" \
  2>"$work/decode.err" || t_fail "canopy-decode failed: $(head -n 3 "$work/decode.err")"
if cmp -s "$work/want.log" "$work/got.log"; then
  t_pass "exactly the $(wc -l <"$work/want.log") frames stamped within duration_s stored"
else
  t_fail "stored frames differ: $(diff "$work/want.log" "$work/got.log" | head -n 4 | tr '\n' ' ')"
fi
t_finish
