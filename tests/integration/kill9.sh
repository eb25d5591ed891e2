#!/usr/bin/env bash
# tests/integration/kill9.sh - kill -9 matrix: a real trace replayed into a
# file:// bucket, the agent killed with SIGKILL at random instants (seeded)
# at least CANOPY_KILLS times and restarted each time until drained. While
# it is down once, two spooled batches are damaged on flash (one truncated,
# one with a flipped byte). The invariant: the frames decoded from the
# bucket plus the frames of the two damaged batches are exactly the frames
# of the trace (none missing, none twice), and the manifests' drop counts
# say exactly how many were lost and why (corrupt_batch = the damaged
# batches' frames, nothing else).
#
# The bucket is blocked (a plain file where its directory should be) for
# the first half of the kills, so batches pile up in the spool and the
# start-up scan, eviction-free back-pressure and journal recovery all run
# under kills; then it is unblocked and the kills go on while uploading.
#
# The kills hit a replay paced at recorded speed (the trace lasts longer
# than the kill phase); the last run drains the rest at full speed.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_DATA,
# CANOPY_KILLS (default 110), CANOPY_SEED (default 5), CANOPY_TEST_KEEP=1.
# Exit status: 0 pass, 1 fail, 77 skip (no data).
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== kill9: SIGKILL at random instants, restart until drained, exactly once"
t_require_bins CANOPY_BIN CANOPY_DECODE_BIN
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
data=${CANOPY_DATA:-$repo/../shared/data}
trace=$data/traces/honda_civic_type_r_2019.log
[[ -f "$trace" ]] || t_skip "no trace $trace (set CANOPY_DATA)"
kills=${CANOPY_KILLS:-110}
seed=${CANOPY_SEED:-5}
RANDOM=$seed
t_info "seed $seed, $kills kills, trace $(basename "$trace") ($(wc -l <"$trace") frames)"

t_mktemp_dir work kill9
bucket=$work/bucket
cat >"$work/config.json" <<JSON
{
  "vehicle_id": "kill9",
  "sources": [{"type": "candump", "path": "$trace", "pace": 1}],
  "batch": {"max_bytes": 8192, "max_age_ms": 500},
  "spool": {"dir": "$work/spool", "sync_interval_ms": 100},
  "endpoints": [{"url": "file://$bucket"}],
  "upload": {"backoff_base_ms": 20, "backoff_cap_ms": 200}
}
JSON
# The last run, after the kills, replays the rest at full speed: same log,
# so it resumes where the journal says.
sed 's/"pace": 1/"pace": "max"/' "$work/config.json" >"$work/drain.json"
: >"$bucket" # blocked: the endpoint cannot create its directory
: >"$work/missing.log"

pid=
t_on_exit '[[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null; true'

# Damages two spooled batches while the agent is down; their frames are
# recorded first (they are valid until then) as the ones expected missing.
damage() {
  local files=()
  # Stored batches only: a .tmp-*.cnp is one a kill cut short, which the
  # next start discards (its frames come back from the journal).
  mapfile -t files < <(find "$work/spool" -maxdepth 1 -name '*.cnp' ! -name '.*' | sort)
  ((${#files[@]} >= 3)) || return 1 # not yet: try again after the next kill
  local a=${files[0]} b=${files[$((${#files[@]} / 2))]}
  "${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$a" "$b" >>"$work/missing.log"
  local size
  size=$(stat -c %s "$a")
  truncate -s $((size / 2)) "$a"
  size=$(stat -c %s "$b")
  printf '\xff' | dd of="$b" bs=1 seek=$((size * 3 / 4)) conv=notrunc status=none
  t_info "damaged $(basename "$a") (truncated) and $(basename "$b") (a byte flipped): $(wc -l <"$work/missing.log") frames"
}

killed=0 runs=0 exited=0 statuses=
while ((killed < kills && runs < 3 * kills)); do
  runs=$((runs + 1))
  "${emu[@]}" "$CANOPY_BIN" --config "$work/config.json" --exit-when-drained \
    2>>"$work/agent.log" &
  pid=$!
  # 20 to 320 ms: from inside start-up to well into a batch.
  delay=$((20 + RANDOM % 300))
  sleep "$(printf '0.%03d' "$delay")"
  kill -9 "$pid" 2>/dev/null || true
  st=0
  wait "$pid" 2>/dev/null || st=$?
  # 137: died of the SIGKILL; anything else: it had ended by itself.
  if ((st == 137)); then
    killed=$((killed + 1))
  else
    exited=$((exited + 1))
    statuses+=" $st"
  fi
  pid=
  if ((killed >= kills / 3)) && [[ ! -s "$work/missing.log" ]]; then
    damage || true
  fi
  if ((killed >= kills / 2)) && [[ -f "$bucket" && -s "$work/missing.log" ]]; then
    rm -f "$bucket"
    t_info "bucket unblocked after $killed kills"
  fi
done
t_info "$killed kills in $runs runs ($exited runs ended by themselves, exit statuses:${statuses:- none})"
recovered=$(grep -c 'journal: recovered [1-9]' "$work/agent.log" || true)
stale=$(grep -c 'journal: its [0-9]* frames are in batch' "$work/agent.log" || true)
torn=$(grep -c 'journal .*: cut a torn' "$work/agent.log" || true)
t_info "restarts that recovered journaled frames: $recovered; found them stored already: $stale; torn journal tails cut: $torn"
((recovered > 0)) || t_fail "no restart recovered frames from the journal: the kills missed the open batch"
((killed >= kills)) || t_fail "only $killed of $kills kills hit a running agent"
if [[ ! -s "$work/missing.log" ]]; then
  # A slow build (sanitizers, emulation) sealed too few batches during the
  # kills: let one run fill the spool (bucket still blocked), then damage.
  t_info "too few batches spooled during the kills; filling the spool for the damage case"
  timeout -s KILL 5 "${emu[@]}" "$CANOPY_BIN" --config "$work/drain.json" \
    2>>"$work/agent.log" || true
  damage || t_fail "fewer than 3 batches in the spool to damage"
fi
[[ -f "$bucket" ]] && rm -f "$bucket"

if ! timeout 300 "${emu[@]}" "$CANOPY_BIN" --config "$work/drain.json" --exit-when-drained \
    2>>"$work/agent.log"; then
  t_die "the last run did not drain: $(tail -n 3 "$work/agent.log")"
fi
if find "$work/spool" -maxdepth 1 -name '*.cnp' | grep . >/dev/null; then
  t_fail "spool not empty after the last run"
fi

"${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$bucket" >"$work/decoded.log" \
  2>"$work/decode.err" || t_die "canopy-decode failed: $(head -n 3 "$work/decode.err")"
missing=$(wc -l <"$work/missing.log")
((missing > 0)) || t_fail "no damaged batch: the corruption case did not run"
sort "$trace" >"$work/trace.sorted"
sort "$work/decoded.log" "$work/missing.log" >"$work/got.sorted"
if cmp -s "$work/trace.sorted" "$work/got.sorted"; then
  t_pass "bucket + damaged batches == trace: $(wc -l <"$work/decoded.log") delivered + $missing lost to damage, none twice"
else
  t_fail "frames differ from the trace: $(comm -3 "$work/trace.sorted" "$work/got.sorted" | wc -l) lines missing or extra ($(comm -13 "$work/trace.sorted" "$work/got.sorted" | wc -l) extra)"
fi

# Drop counts in the manifests: exactly the damaged batches' frames.
read -r corrupt other < <(python3 "$repo/tests/tools/manifest_drops.py" "$bucket")
if ((corrupt == missing && other == 0)); then
  t_pass "manifests report dropped.corrupt_batch = $corrupt = frames of the damaged batches, no other drops"
else
  t_fail "manifests report corrupt_batch=$corrupt (expected $missing), other drops=$other (expected 0)"
fi
nq=$( (find "$work/spool/quarantine" -name '*.cnp' 2>/dev/null || true) | wc -l)
[[ $nq -eq 2 ]] && t_pass "both damaged batches quarantined" || t_fail "$nq batches in quarantine, expected 2"
t_finish
