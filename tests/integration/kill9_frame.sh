#!/usr/bin/env bash
# tests/integration/kill9_frame.sh - a frame at a batch boundary survives a
# kill -9 exactly once, raw frame and samples (capture.mode raw+signals).
#
# What a frame makes (its raw frame, then its signals' samples) must go
# into one batch: the frame journal assigns each frame to one batch, and
# after a crash the frames journaled for the open batch are decoded again.
# Here every frame has 32 signals, so the signal section fills before the
# frame section: each batch ends in the middle of what a frame makes unless
# the agent keeps the frame together. The trace is 300 frames 1 ms apart,
# then one an hour later; replayed at recorded speed, the agent has stored
# the first batches and has the rest open (journaled) while it waits for the
# last frame. It is killed then (SIGKILL), and a second run drains the rest.
# The bucket must hold each frame of the trace once and the samples of an
# uninterrupted run, each once.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_TEST_KEEP=1.
# Exit status: 0 pass, 1 fail, 77 skip.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== kill9_frame: a frame at a batch boundary, kill -9, each frame and sample once"
t_require_bins CANOPY_BIN CANOPY_DECODE_BIN
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
t_mktemp_dir w kill9-frame

# One message, 32 two-bit signals.
{
  printf 'VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_: ECU\n\nBO_ 256 MANY: 8 ECU\n'
  for ((i = 0; i < 32; i++)); do
    printf ' SG_ S%02d : %d|2@1+ (1,0) [0|3] "" Vector__XXX\n' "$i" $((2 * i))
  done
  printf '\n'
} >"$w/many.dbc"
# 300 frames 1 ms apart with changing bits, then one 3600 s later.
awk 'BEGIN { t = 1700000000000000
  for (i = 0; i < 300; i++) {
    x = (i * 2654435761) % 4294967296
    printf "(%d.%06d) can0 100#%08X%08X\n", int((t + i * 1000) / 1000000), (t + i * 1000) % 1000000, x, (x * 7 + i) % 4294967296
  }
  t += 3600000000
  printf "(%d.%06d) can0 100#0102030405060708\n", int(t / 1000000), t % 1000000 }' >"$w/trace.log"

# config NAME PACE: $w/NAME.json, its run in $w/NAME/.
config() {
  cat >"$w/$1.json" <<JSON
{
  "vehicle_id": "kill9-frame",
  "sources": [{"type": "candump", "path": "$w/trace.log", "pace": $2}],
  "capture": {"mode": "raw+signals",
              "dbc": [{"interface": "can0", "path": "$w/many.dbc", "strict": true}]},
  "batch": {"max_bytes": 4096, "max_age_ms": 600000},
  "spool": {"dir": "$w/${3:-$1}/spool"},
  "endpoints": [{"url": "file://$w/${3:-$1}/bucket"}],
  "operations": {"status_file": "$w/${3:-$1}/status.json", "status_interval_ms": 100}
}
JSON
}
config clean '"max"'
config paced 1 killed
config drain '"max"' killed

# The reference: an uninterrupted run.
timeout 300 "${emu[@]}" "$CANOPY_BIN" --config "$w/clean.json" --exit-when-drained \
  2>"$w/clean.err" || t_die "the uninterrupted run failed: $(tail -n 3 "$w/clean.err")"
"${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$w/clean/bucket" >"$w/clean.frames"
"${emu[@]}" "$CANOPY_DECODE_BIN" --signals "$w/clean/bucket" | sort >"$w/clean.samples"
nb=$(find "$w/clean/bucket" -name '*.cnp' | wc -l)
cmp -s "$w/trace.log" "$w/clean.frames" || t_die "the uninterrupted run did not deliver the trace"
((nb >= 3)) || t_die "only $nb batches: the test needs batch boundaries"
t_pass "uninterrupted run: the trace in $nb batches, $(wc -l <"$w/clean.samples") samples"

# The paced run, killed while it waits for the last frame.
"${emu[@]}" "$CANOPY_BIN" --config "$w/paced.json" 2>"$w/killed.err" &
pid=$!
t_on_exit '[[ -n "${pid:-}" ]] && kill -9 "$pid" 2>/dev/null; true'
got_all() {
  [[ -f $w/killed/status.json ]] &&
    /usr/bin/python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["input"]["frames"] != 300)' \
      "$w/killed/status.json" 2>/dev/null
}
t_wait_until 600 0.5 got_all || t_die "the paced run did not take the first 300 frames: $(tail -n 3 "$w/killed.err")"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pid=
stored=$(find "$w/killed/spool" "$w/killed/bucket" -name '*.cnp' ! -name '.*' 2>/dev/null | wc -l)
((stored >= 2)) || t_die "only $stored batches stored before the kill"
t_info "killed with $stored batches stored and the rest of the 300 frames open"

timeout 300 "${emu[@]}" "$CANOPY_BIN" --config "$w/drain.json" --exit-when-drained \
  2>"$w/drain.err" || t_die "the run after the kill failed: $(tail -n 3 "$w/drain.err")"
grep -q 'journal: recovered [1-9]' "$w/drain.err" ||
  t_fail "the run after the kill recovered no frames from the journal: $(grep journal "$w/drain.err" | head -n 2)"
"${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$w/killed/bucket" | sort >"$w/killed.frames"
"${emu[@]}" "$CANOPY_DECODE_BIN" --signals "$w/killed/bucket" | sort >"$w/killed.samples"
sort "$w/trace.log" >"$w/trace.sorted"
if cmp -s "$w/trace.sorted" "$w/killed.frames"; then
  t_pass "after the kill: every frame of the trace once"
else
  t_fail "after the kill: frames differ from the trace ($(comm -13 "$w/trace.sorted" "$w/killed.frames" | wc -l) extra, $(comm -23 "$w/trace.sorted" "$w/killed.frames" | wc -l) missing)"
fi
if cmp -s "$w/clean.samples" "$w/killed.samples"; then
  t_pass "after the kill: the samples of the uninterrupted run, each once"
else
  t_fail "after the kill: samples differ ($(comm -13 "$w/clean.samples" "$w/killed.samples" | wc -l) extra, $(comm -23 "$w/clean.samples" "$w/killed.samples" | wc -l) missing)"
fi
t_finish
