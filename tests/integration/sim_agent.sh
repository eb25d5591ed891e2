#!/usr/bin/env bash
# tests/integration/sim_agent.sh - the simulator through the whole agent:
# canopy with a "sim" source (60 s of simulated time, pace "max") uploads
# into a file:// endpoint, canopy-decode prints the batches as candump text,
# and that text equals byte for byte the log canopy-sim writes for the same
# profile, seed and duration. Both profiles.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN, CANOPY_SIM_BIN (required),
# CANOPY_EMULATOR (command prefix for cross builds), CANOPY_TEST_KEEP=1
# keeps the temp dir.
# Exit status: 0 pass, 1 fail.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== sim_agent: simulator -> canopy -> file:// -> canopy-decode == canopy-sim"
: "${CANOPY_BIN:?}" "${CANOPY_DECODE_BIN:?}" "${CANOPY_SIM_BIN:?}"
read -r -a emu <<<"${CANOPY_EMULATOR:-}"

t_mktemp_dir work sim-agent
seed=20231114
duration=60
for profile in ev ice; do
  dir=$work/$profile
  mkdir -p "$dir"
  cat >"$dir/config.json" <<JSON
{
  "vehicle_id": "sim-$profile",
  "sources": [{"type": "sim", "profile": "$profile", "seed": $seed,
               "duration_s": $duration, "pace": "max"}],
  "capture": {"mode": "raw"},
  "batch": {"max_bytes": 262144, "max_age_ms": 10000},
  "spool": {"dir": "$dir/spool"},
  "endpoints": [{"url": "file://$dir/bucket"}]
}
JSON
  start=$(date +%s.%N)
  if ! timeout 600 "${emu[@]}" "$CANOPY_BIN" --config "$dir/config.json" --exit-when-drained \
      2>"$dir/agent.log"; then
    t_fail "$profile: canopy exited non-zero: $(tail -n 3 "$dir/agent.log")"
    continue
  fi
  took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if ! "${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$dir/bucket" >"$dir/decoded.log" \
      2>"$dir/decode.err"; then
    t_fail "$profile: canopy-decode failed: $(head -n 3 "$dir/decode.err")"
    continue
  fi
  if ! "${emu[@]}" "$CANOPY_SIM_BIN" --profile "$profile" --seed "$seed" --duration "$duration" \
      --out "$dir/expected.log"; then
    t_fail "$profile: canopy-sim failed"
    continue
  fi
  frames=$(wc -l <"$dir/expected.log")
  if [[ "$frames" -lt 10000 ]]; then
    t_fail "$profile: only $frames frames in $duration s"
  elif cmp -s "$dir/expected.log" "$dir/decoded.log"; then
    stored=$(find "$dir/bucket" -name '*.cnp' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    t_pass "$profile: $frames frames byte for byte ($(wc -c <"$dir/expected.log") text bytes ->" \
           "$stored stored, agent ${took} s)"
  else
    t_fail "$profile: decoded upload differs from canopy-sim's log:" \
           "$(cmp "$dir/expected.log" "$dir/decoded.log" 2>&1 | head -n 1)"
  fi
done
t_finish
