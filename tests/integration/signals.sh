#!/usr/bin/env bash
# tests/integration/signals.sh - capture modes "signals" and "raw+signals",
# and collection schemes, through the whole agent (file:// endpoint, then
# canopy-decode):
#  1. the simulator (both profiles) in "raw+signals": the frames are byte for
#     byte canopy-sim's log, and the signal samples are exactly what
#     canopy-dbc decodes from that log;
#  2. every shared trace with its DBC(s) in "signals": the samples in the
#     batches are exactly canopy-dbc's values (which tests/integration/
#     dbc_values.sh holds equal to python3-canmatrix's);
#  3. a scheme whose trigger fires on a real signal crossing a threshold:
#     the events, the raw frames and the samples of the windows are checked
#     exactly against an independent computation (tests/tools/
#     check_windows.py on python3-canmatrix's decoding of the trace);
#  4. a malformed scheme file: the agent refuses to start and names the file,
#     the JSON path and the column.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN, CANOPY_SIM_BIN (required;
# canopy-dbc is taken beside canopy), CANOPY_EMULATOR, CANOPY_DATA,
# CANOPY_PYTHON (a python3 with canmatrix), CANOPY_TEST_KEEP=1.
# Exit status: 0 pass, 1 fail.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== signals: decoded capture and collection schemes through the agent"
: "${CANOPY_BIN:?}" "${CANOPY_DECODE_BIN:?}" "${CANOPY_SIM_BIN:?}"
dbc_bin=$(dirname -- "$CANOPY_BIN")/canopy-dbc
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
py=${CANOPY_PYTHON:-/usr/bin/python3}
data=${CANOPY_DATA:-$repo/../shared/data}
t_mktemp_dir work signals

# run_agent DIR MODE SOURCES_JSON DBC_JSON [EXTRA_CAPTURE_JSON]
run_agent() {
  local dir=$1 mode=$2 sources=$3 dbcs=$4 extra=${5:-}
  mkdir -p "$dir"
  cat >"$dir/config.json" <<JSON
{
  "vehicle_id": "signals-test",
  "sources": $sources,
  "capture": {"mode": "$mode", "dbc": $dbcs $extra},
  "batch": {"max_bytes": 262144, "max_age_ms": 10000},
  "spool": {"dir": "$dir/spool"},
  "endpoints": [{"url": "file://$dir/bucket"}]
}
JSON
  timeout 600 "${emu[@]}" "$CANOPY_BIN" --config "$dir/config.json" --exit-when-drained \
    2>"$dir/agent.log"
}

# canopy-dbc's CSV (timestamp,interface,id,message,signal,value) and
# canopy-decode's (timestamp,interface,message,signal,value,unit) as the same
# sorted rows timestamp,interface,message,signal,value.
dbc_rows() { tail -n +2 "$1" | awk -F, -v OFS=, '{print $1, $2, $4, $5, $6}' | LC_ALL=C sort; }
batch_rows() { tail -n +2 "$1" | awk -F, -v OFS=, '{print $1, $2, $3, $4, $5}' | LC_ALL=C sort; }

# same_values LABEL DIR EXPECTED_CSV...: the batches' samples equal canopy-dbc's rows.
same_values() {
  local label=$1 dir=$2
  shift 2
  if ! "${emu[@]}" "$CANOPY_DECODE_BIN" --signals "$dir/bucket" >"$dir/signals.csv" \
      2>"$dir/decode.err"; then
    t_fail "$label: canopy-decode --signals failed: $(head -n 3 "$dir/decode.err")"
    return
  fi
  for f in "$@"; do dbc_rows "$f"; done | LC_ALL=C sort >"$dir/want.rows"
  batch_rows "$dir/signals.csv" >"$dir/got.rows"
  local n
  n=$(wc -l <"$dir/want.rows")
  if [[ "$n" -lt 1000 ]]; then
    t_fail "$label: only $n decoded values expected"
  elif cmp -s "$dir/want.rows" "$dir/got.rows"; then
    local stored
    stored=$(find "$dir/bucket" -name '*.cnp' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    t_pass "$label: $n samples equal canopy-dbc's values ($stored bytes of batches)"
  else
    t_fail "$label: samples differ from canopy-dbc's ($(wc -l <"$dir/got.rows") vs $n):" \
           "$(diff "$dir/want.rows" "$dir/got.rows" | head -n 3 | tr '\n' ' ')"
  fi
}

# 1. The simulator in raw+signals.
for profile in ev ice; do
  dir=$work/sim-$profile
  if ! run_agent "$dir" raw+signals \
      "[{\"type\": \"sim\", \"profile\": \"$profile\", \"seed\": 7, \"duration_s\": 30, \"pace\": \"max\"}]" \
      "[{\"interface\": \"can0\", \"path\": \"$repo/tools/sim/$profile.dbc\", \"strict\": true}]"; then
    t_fail "sim $profile: canopy failed: $(tail -n 3 "$dir/agent.log")"
    continue
  fi
  "${emu[@]}" "$CANOPY_SIM_BIN" --profile "$profile" --seed 7 --duration 30 --out "$dir/sim.log"
  "${emu[@]}" "$CANOPY_DECODE_BIN" "$dir/bucket" >"$dir/decoded.log"
  if cmp -s "$dir/sim.log" "$dir/decoded.log"; then
    t_pass "sim $profile: raw+signals keeps every frame byte for byte"
  else
    t_fail "sim $profile: the frames differ from canopy-sim's log"
  fi
  "${emu[@]}" "$dbc_bin" --quiet --interface can0 "$repo/tools/sim/$profile.dbc" "$dir/sim.log" \
    >"$dir/dbc.csv"
  same_values "sim $profile" "$dir" "$dir/dbc.csv"
done

# 2. The shared traces in signals mode, with every DBC they have.
if [[ -d "$data/traces" ]]; then
  for trace in "$data"/traces/*.log; do
    name=$(basename "$trace" .log)
    [[ -f "$data/traces/$name.dbc" ]] || continue
    dbcs="{\"interface\": \"can0\", \"path\": \"$data/traces/$name.dbc\"}"
    expected=()
    dir=$work/trace-$name
    mkdir -p "$dir"
    "${emu[@]}" "$dbc_bin" --quiet --interface can0 "$data/traces/$name.dbc" "$trace" \
      >"$dir/can0.csv" 2>/dev/null
    expected+=("$dir/can0.csv")
    if [[ -f "$data/traces/$name.can1.dbc" ]]; then
      dbcs+=", {\"interface\": \"can1\", \"path\": \"$data/traces/$name.can1.dbc\"}"
      "${emu[@]}" "$dbc_bin" --quiet --interface can1 "$data/traces/$name.can1.dbc" "$trace" \
        >"$dir/can1.csv" 2>/dev/null
      expected+=("$dir/can1.csv")
    fi
    if ! run_agent "$dir" signals \
        "[{\"type\": \"candump\", \"path\": \"$trace\", \"pace\": \"max\"}]" "[$dbcs]"; then
      t_fail "$name: canopy failed: $(tail -n 3 "$dir/agent.log")"
      continue
    fi
    same_values "$name" "$dir" "${expected[@]}"
  done
else
  t_info "no traces in $data: real-trace checks skipped (set CANOPY_DATA)"
fi

# 3. A trigger on a real signal crossing a threshold, windows checked exactly.
honda=$data/traces/honda_civic_type_r_2019
if [[ ! -f "$honda.log" ]]; then
  t_info "no $honda.log: trigger check skipped"
elif ! "$py" -c 'import canmatrix.formats' 2>/dev/null; then
  t_info "$py has no canmatrix: trigger check skipped (apt-get install python3-canmatrix)"
else
  dir=$work/trigger
  mkdir -p "$dir"
  cat >"$dir/schemes.json" <<'JSON'
{
  "version": "trigger-test-1",
  "ring_frames": 100000,
  "schemes": [{
    "name": "moving-off",
    "priority": 10,
    "triggers": [{
      "name": "speed-above-5",
      "condition": "ENGINE_DATA.XMISSION_SPEED > 5",
      "rising_edge": true,
      "before_ms": 2000,
      "after_ms": 1000,
      "raw": true,
      "signals": ["ENGINE_DATA.XMISSION_SPEED"]
    }]
  }]
}
JSON
  "$py" "$repo/tests/tools/decode_canmatrix.py" --interface can0 "$honda.dbc" "$honda.log" \
    >"$dir/ref.csv" 2>"$dir/ref.err" || t_fail "decode_canmatrix.py failed: $(tail -n 2 "$dir/ref.err")"
  if ! run_agent "$dir" signals "[{\"type\": \"candump\", \"path\": \"$honda.log\", \"pace\": \"max\"}]" \
      "[{\"interface\": \"can0\", \"path\": \"$honda.dbc\"}]" ", \"schemes_file\": \"$dir/schemes.json\""; then
    t_fail "trigger: canopy failed: $(tail -n 3 "$dir/agent.log")"
  else
    "${emu[@]}" "$CANOPY_DECODE_BIN" "$dir/bucket" >"$dir/frames.log"
    "${emu[@]}" "$CANOPY_DECODE_BIN" --signals "$dir/bucket" >"$dir/signals.csv"
    "${emu[@]}" "$CANOPY_DECODE_BIN" --events "$dir/bucket" >"$dir/events.jsonl"
    if out=$("$py" "$repo/tests/tools/check_windows.py" "$honda.log" "$dir/ref.csv" can0 \
        ENGINE_DATA XMISSION_SPEED 5 2000 1000 "$dir/frames.log" "$dir/signals.csv" \
        "$dir/events.jsonl"); then
      t_pass "trigger: $out"
    else
      t_fail "trigger: $out"
    fi
    if grep -q '"schemes":"trigger-test-1"' <(find "$dir/bucket" -name '*.cnp' -exec cat {} + | tr -d '\0'); then
      t_pass "trigger: the manifests name the scheme version"
    else
      t_fail "trigger: no manifest names the scheme version trigger-test-1"
    fi
    # A batch holding the scheme's events has its priority (for the
    # spool's eviction order); one without events has none (0).
    if out=$("$py" - "$dir/bucket" <<'PY'
import json, os, struct, sys
n_ev = bad = 0
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        if f.endswith(".cnp"):
            b = open(os.path.join(root, f), "rb").read()
            (mlen,) = struct.unpack_from("<I", b, 8)
            m = json.loads(b[16:16 + mlen])
            want = 10 if m.get("events", 0) else 0
            n_ev += bool(m.get("events", 0))
            bad += m.get("priority", 0) != want
print(f"{n_ev} batches with events have priority 10, the others none; {bad} wrong")
sys.exit(1 if bad or not n_ev else 0)
PY
    ); then
      t_pass "trigger: $out"
    else
      t_fail "trigger: manifest priorities: $out"
    fi
  fi
fi

# 4. A malformed scheme file is refused at start, by file, path and column.
dir=$work/bad
mkdir -p "$dir"
printf '{"schemes": [{"name": "x", "triggers": [{"name": "t", "condition": "Speed >> 3"}]}]}\n' \
  >"$dir/schemes.json"
if run_agent "$dir" signals "[{\"type\": \"sim\", \"profile\": \"ev\", \"duration_s\": 1, \"pace\": \"max\"}]" \
    "[{\"interface\": \"can0\", \"path\": \"$repo/tools/sim/ev.dbc\"}]" \
    ", \"schemes_file\": \"$dir/schemes.json\""; then
  t_fail "bad scheme: the agent started"
elif grep -q "$dir/schemes.json: \$.schemes\[0\].triggers\[0\].condition: column 1: no signal \"Speed\"" \
    "$dir/agent.log"; then
  t_pass "bad scheme: refused, naming the file, the JSON path and the column"
else
  t_fail "bad scheme: unexpected message: $(tail -n 2 "$dir/agent.log")"
fi
t_finish
