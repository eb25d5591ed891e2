#!/usr/bin/env bash
# tests/integration/transport.sh - passive transport reassembly through the
# whole agent (docs/TRANSPORT.md), against independent references:
#
# - J1939: tests/tools/transport_reference.py writes a candump log of BAM
#   and RTS/CTS sessions, some broken on purpose (a packet missing, a
#   sequence number repeated, T1 and T3 timeouts, an abort, a BAM restarted
#   over an open one), the DBC of what they carry and the exact counts
#   canopy must report. The agent's status file must hold those counts,
#   and the decoded messages must equal python3-canmatrix's decoding of the
#   messages the generator knows were sent whole, value by value.
# - ISO-TP: the Nissan Leaf trace in $CANOPY_DATA (UDS answers on 0x7BB,
#   whose DBC describes the reassembled payload with its length byte
#   first): the agent's decoded values must equal python3-canmatrix's
#   decoding of the reference's own reassembly; then the same on a copy of
#   the trace damaged by the test (a CF deleted, a sequence number changed,
#   an answer's last CF deleted), where the broken sessions must be counted
#   as the reference counts them and none may be decoded. With raw+signals
#   the frames themselves are kept byte for byte.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN, CANOPY_EMULATOR, CANOPY_DATA
# (default ../shared/data beside the repository), CANOPY_PYTHON (a python3
# with canmatrix; default /usr/bin/python3).
# Exit status: 0 pass, 1 fail, 77 skip (no canmatrix).
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== transport: ISO-TP and J1939 reassembly through the agent"
: "${CANOPY_BIN:?}" "${CANOPY_DECODE_BIN:?}"
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
py=${CANOPY_PYTHON:-/usr/bin/python3}
data=${CANOPY_DATA:-$repo/../shared/data}
ref=$repo/tests/tools/transport_reference.py
"$py" -c 'import canmatrix.formats' 2>/dev/null ||
  t_skip "$py has no canmatrix (apt-get install python3-canmatrix)"
t_mktemp_dir work transport

# run_agent DIR MODE LOG DBC-ENTRY: one candump source, status file at the end.
run_agent() {
  local dir=$1 mode=$2 log=$3 dbc=$4
  mkdir -p "$dir"
  cat >"$dir/config.json" <<JSON
{
  "vehicle_id": "transport-test",
  "sources": [{"type": "candump", "path": "$log", "pace": "max"}],
  "capture": {"mode": "$mode", "dbc": [$dbc]},
  "spool": {"dir": "$dir/spool"},
  "operations": {"status_file": "$dir/status.json", "status_interval_ms": 60000},
  "endpoints": [{"url": "file://$dir/bucket"}]
}
JSON
  timeout 600 "${emu[@]}" "$CANOPY_BIN" --config "$dir/config.json" --exit-when-drained \
    2>"$dir/agent.log"
}

# same_counts LABEL DIR PROTO WANT.json: the status file's transport counters,
# and the sums of the "transport" objects of the batches' manifests (each
# batch counts what happened since the one before; a reason absent is 0).
same_counts() {
  local label=$1 dir=$2 proto=$3 want=$4 got sums
  got=$("$py" - "$dir/status.json" "$proto" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
t = st.get("transport", {}).get(sys.argv[2])
print(json.dumps({"messages": t["messages"], "broken": t["broken"]}, sort_keys=True) if t else "none")
PY
)
  sums=$("$py" - "$dir/bucket" "$proto" "$want" <<'PY'
import glob, json, os, struct, sys
want = json.load(open(sys.argv[3]))
tot = {"messages": 0, "broken": {r: 0 for r in want["broken"]}}
batches = with_tp = 0
for path in glob.glob(os.path.join(sys.argv[1], "**", "*.cnp"), recursive=True):
    b = open(path, "rb").read()
    (n,) = struct.unpack_from("<I", b, 8)
    m = json.loads(b[16:16 + n])
    batches += 1
    t = m.get("transport", {}).get(sys.argv[2])
    if t is None:
        continue
    with_tp += 1
    tot["messages"] += t["messages"]
    for r, v in t["broken"].items():
        tot["broken"][r] = tot["broken"].get(r, 0) + v
print(json.dumps(tot, sort_keys=True) if batches and with_tp == batches else
      "%d of %d batches with transport counters" % (with_tp, batches))
PY
)
  want=$("$py" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))' "$want")
  if [[ "$got" == "$want" ]]; then
    t_pass "$label: counts as expected: $got"
  else
    t_fail "$label: counts $got, expected $want"
  fi
  if [[ "$sums" == "$want" ]]; then
    t_pass "$label: every batch's manifest counts its part, together the same"
  else
    t_fail "$label: the manifests' transport counters add up to $sums, expected $want"
  fi
}

# same_values LABEL DIR DBC MESSAGES.log: canopy's decoded samples against
# canmatrix's decoding of the reference messages (the id column blanked:
# canopy's CSV names the message, not the id).
same_values() {
  local label=$1 dir=$2 dbc=$3 msgs=$4
  if ! "${emu[@]}" "$CANOPY_DECODE_BIN" --signals "$dir/bucket" >"$dir/signals.csv" \
      2>"$dir/decode.err"; then
    t_fail "$label: canopy-decode --signals failed: $(head -n 3 "$dir/decode.err")"
    return
  fi
  awk -F, -v OFS=, 'NR == 1 {print "timestamp,interface,id,message,signal,value"; next}
                    {print $1, $2, "-", $3, $4, $5}' "$dir/signals.csv" >"$dir/canopy.csv"
  "$py" "$repo/tests/tools/decode_canmatrix.py" "$dbc" "$msgs" 2>"$dir/canmatrix.err" |
    awk -F, -v OFS=, 'NR > 1 {$3 = "-"} {print}' >"$dir/reference.csv"
  local n
  n=$(($(wc -l <"$dir/reference.csv") - 1))
  if [[ "$n" -lt 10 ]]; then
    t_fail "$label: only $n reference values"
  elif "$py" "$repo/tests/tools/compare_decoded.py" "$label" "$dir/canopy.csv" \
      "$dir/reference.csv" >"$dir/compare.out" 2>&1; then
    t_pass "$(tail -n 1 "$dir/compare.out")"
  else
    t_fail "$label: values differ: $(head -n 4 "$dir/compare.out" | tr '\n' ' ')"
  fi
}

# --- J1939 BAM and RTS/CTS, built here ----------------------------------------
dir=$work/j1939
mkdir -p "$dir"
"$py" "$ref" j1939 "$dir"
if run_agent "$dir" signals "$dir/j1939.log" \
    "{\"interface\": \"can0\", \"path\": \"$dir/j1939.dbc\", \"j1939\": true}"; then
  same_counts "j1939" "$dir" j1939 "$dir/counts.json"
  same_values "j1939 sessions" "$dir" "$dir/j1939.dbc" "$dir/messages.log"
else
  t_fail "j1939: canopy failed: $(tail -n 3 "$dir/agent.log")"
fi
# Without "j1939": true the same frames are not reassembled (and TP.CM,
# TP.DT are in no DBC message: nothing decoded).
dir=$work/j1939-off
if run_agent "$dir" signals "$work/j1939/j1939.log" \
    "{\"interface\": \"can0\", \"path\": \"$work/j1939/j1939.dbc\"}"; then
  if grep -q '"transport"' "$dir/status.json" ||
     grep -rqa '"transport"' --include='*.cnp' "$dir/bucket"; then
    t_fail "j1939 off: the status file or a manifest reports transport counters"
  else
    t_pass "j1939 off: no reassembly unless configured"
  fi
else
  t_fail "j1939 off: canopy failed: $(tail -n 3 "$dir/agent.log")"
fi

# --- ISO-TP on the Nissan Leaf trace ----------------------------------------------
leaf=$data/traces/nissan_leaf_2019_uds_canedge
if [[ ! -f "$leaf.log" || ! -f "$leaf.dbc" ]]; then
  t_info "no $leaf.log: ISO-TP trace checks skipped (set CANOPY_DATA)"
  t_finish
fi
isotp_entry="{\"interface\": \"can0\", \"path\": \"$leaf.dbc\",
  \"isotp\": {\"ids\": [{\"id\": \"0x7BB\"}], \"length_prefix\": true}}"

check_leaf() {
  local label=$1 log=$2 dir=$3
  mkdir -p "$dir"
  "$py" "$ref" isotp "$log" can0 7BB --length-prefix >"$dir/messages.log" \
    2>"$dir/counts.json"
  if ! run_agent "$dir" raw+signals "$log" "$isotp_entry"; then
    t_fail "$label: canopy failed: $(tail -n 3 "$dir/agent.log")"
    return
  fi
  same_counts "$label" "$dir" isotp "$dir/counts.json"
  same_values "$label" "$dir" "$leaf.dbc" "$dir/messages.log"
  "${emu[@]}" "$CANOPY_DECODE_BIN" "$dir/bucket" >"$dir/raw.log"
  if cmp -s "$log" "$dir/raw.log"; then
    t_pass "$label: raw+signals keeps every frame byte for byte"
  else
    t_fail "$label: the raw frames differ from the log"
  fi
}

check_leaf "leaf" "$leaf.log" "$work/leaf"
n=$(wc -l <"$work/leaf/messages.log")
if [[ "$n" -eq 26 ]]; then
  t_pass "leaf: 26 UDS answers reassembled (the 26 requests on 0x79B)"
else
  t_fail "leaf: $n answers reassembled, expected 26"
fi

# The damaged copy: the 2nd answer loses its CF 0x23 (missing frame), the
# 3rd answer's 0x25 becomes 0x2A (wrong sequence; its last two CFs are then
# stray)
# and the 4th answer's CF 0x24, its last, is gone (timeout: the GNSS frames
# of can1 keep the clock going).
awk '/ can0 7BB#23/ {n23++; if (n23 == 2) next}
     / can0 7BB#25/ {n25++; if (n25 == 2) sub(/7BB#25/, "7BB#2A")}
     / can0 7BB#1/ {ff++}
     / can0 7BB#24/ && ff == 4 {next}
     {print}' "$leaf.log" >"$work/leaf-damaged.log"
check_leaf "leaf damaged" "$work/leaf-damaged.log" "$work/leaf-damaged"
"$py" - "$work/leaf-damaged/counts.json" <<'PY' || t_fail "leaf damaged: the damage is not what the test meant"
import json, sys
c = json.load(open(sys.argv[1]))
b = c["broken"]
assert c["messages"] == 23, c
assert b["missing_frame"] == 1 and b["wrong_sequence"] == 1 and b["timeout"] == 1, c
assert b["stray"] == 2 and sum(b.values()) == 5, c
PY
t_finish
