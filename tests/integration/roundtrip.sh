#!/usr/bin/env bash
# tests/integration/roundtrip.sh - every real trace in $CANOPY_DATA/traces
# goes through `canopy --exit-when-drained` into a file:// endpoint and comes
# back out of `canopy-decode --format candump` byte for byte.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR
# (command prefix for cross builds), CANOPY_DATA (default ../shared/data
# beside the repository), CANOPY_TEST_KEEP=1 keeps the temp dir.
# Exit status: 0 pass, 1 fail, 77 skip (no data).
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== roundtrip: every shared trace through canopy and canopy-decode"
: "${CANOPY_BIN:?}" "${CANOPY_DECODE_BIN:?}"
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
data=${CANOPY_DATA:-$repo/../shared/data}
[[ -d "$data/traces" ]] || t_skip "no traces in $data (set CANOPY_DATA)"

t_mktemp_dir work roundtrip
shopt -s nullglob
traces=("$data"/traces/*.log)
[[ ${#traces[@]} -gt 0 ]] || t_skip "no *.log traces in $data/traces"
for trace in "${traces[@]}"; do
  name=$(basename "$trace" .log)
  dir=$work/$name
  mkdir -p "$dir"
  cat >"$dir/config.json" <<JSON
{
  "vehicle_id": "rt-$name",
  "sources": [{"type": "candump", "path": "$trace", "pace": "max"}],
  "capture": {"mode": "raw"},
  "batch": {"max_bytes": 262144, "max_age_ms": 10000},
  "spool": {"dir": "$dir/spool"},
  "endpoints": [{"url": "file://$dir/bucket"}]
}
JSON
  if ! timeout 300 "${emu[@]}" "$CANOPY_BIN" --config "$dir/config.json" --exit-when-drained \
      2>"$dir/agent.log"; then
    t_fail "$name: canopy exited non-zero: $(tail -n 3 "$dir/agent.log")"
    continue
  fi
  if ! "${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$dir/bucket" >"$dir/decoded.log" \
      2>"$dir/decode.err"; then
    t_fail "$name: canopy-decode failed: $(head -n 3 "$dir/decode.err")"
    continue
  fi
  if cmp -s "$trace" "$dir/decoded.log"; then
    stored=$(find "$dir/bucket" -name '*.cnp' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    t_pass "$name: $(wc -l <"$trace") frames byte for byte; $(wc -c <"$trace") text bytes -> $stored stored"
  else
    t_fail "$name: decoded text differs from the trace: $(cmp "$trace" "$dir/decoded.log" 2>&1 | head -n 1)"
  fi
  if find "$dir/spool" -name '*.cnp' | grep . >/dev/null; then
    t_fail "$name: spool not empty after --exit-when-drained"
  fi
done

# A file:// agent never loads libcurl (platform/curl/http.c loads it on the
# first https:// or s3:// endpoint): the dynamic loader lists what it maps.
if LD_DEBUG=files timeout 300 "${emu[@]}" "$CANOPY_BIN" --config "$dir/config.json" \
    --exit-when-drained 2>"$dir/ld.log" >/dev/null; then
  if ! grep -q 'file=libz' "$dir/ld.log"; then
    t_info "LD_DEBUG gives no loader trace here: libcurl check not made"
  elif grep -q 'file=libcurl' "$dir/ld.log"; then
    t_fail "a file:// agent loaded libcurl: $(grep -m1 'file=libcurl' "$dir/ld.log")"
  else
    t_pass "a file:// agent does not load libcurl"
  fi
else
  t_fail "canopy under LD_DEBUG=files exited non-zero: $(tail -n 3 "$dir/ld.log")"
fi
t_finish
