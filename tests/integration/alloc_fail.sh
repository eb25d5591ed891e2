#!/usr/bin/env bash
# tests/integration/alloc_fail.sh - the allocation-failure pass: a
# representative agent run (configuration load, DBC load, candump replay in
# raw+signals, batch sealing, signing, spool, file:// upload, drained exit)
# is repeated with its Nth allocation failing (CANOPY_ALLOC_FAIL_AT=N,
# firmware/alloc.h), for N over the run's allocations. Each run must end
# cleanly: exit 0, or exit 1 with an "error:" line that says what failed;
# never a crash, a hang, a sanitizer report or a leak (LeakSanitizer: this
# test needs a build with -fsanitize=address, the asan preset, and skips
# elsewhere). A run that exits 0 must have delivered the whole trace, byte
# for byte (canopy-decode of the bucket equals the trace): a failed
# allocation may stop the agent, never lose data silently.
#
# How many: the baseline run counts its allocations (CANOPY_ALLOC_REPORT=1).
# With CANOPY_ALLOC_FAIL_RUNS=0 every one of them is failed in turn;
# otherwise (default 120) the first half of the budget fails allocations
# 1, 2, 3, ... (startup: configuration, DBC, key, spool) and the rest are
# spread evenly over the remainder of the run; the test says which.
# Allocations are counted across threads, so the index of a given
# allocation can move a little from run to run; each run is still a run
# with one allocation failed.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN, CANOPY_SIM_BIN (required),
# CANOPY_SANITIZE (the build's sanitizers), CANOPY_ALLOC_FAIL_RUNS,
# CANOPY_TEST_KEEP=1. Exit status: 0 pass, 1 fail, 77 skip.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== alloc_fail: each allocation of a representative run fails in turn"
t_require_bins CANOPY_BIN CANOPY_DECODE_BIN CANOPY_SIM_BIN
[[ ${CANOPY_SANITIZE:-} == *address* ]] ||
  t_skip "needs a build with AddressSanitizer/LeakSanitizer (ctest --preset asan)"
[[ -z ${CANOPY_EMULATOR:-} ]] || t_skip "not under an emulator (the asan preset is native)"
budget=${CANOPY_ALLOC_FAIL_RUNS:-120}
[[ $budget =~ ^[0-9]+$ ]] || t_die "CANOPY_ALLOC_FAIL_RUNS must be a number"
# tmpfs when there is one: every batch is written with fsync, hundreds of
# runs.
[[ -d /dev/shm && -w /dev/shm ]] && export TMPDIR=/dev/shm
t_mktemp_dir w alloc-fail

# The run: 1 s of the simulated EV's traffic as a candump log, decoded with
# its DBC, in batches small enough that several are sealed, signed and
# uploaded.
"$CANOPY_SIM_BIN" --profile ev --seed 11 --duration 1 --out "$w/trace.log"
install -m 600 "$repo/tests/data/keys/test-only-p256-a.key.pem" "$w/device.key.pem"
cat >"$w/config.json" <<JSON
{
  "vehicle_id": "alloc-fail",
  "sources": [{"type": "candump", "path": "$w/trace.log", "pace": "max"}],
  "capture": {"mode": "raw+signals",
              "dbc": [{"interface": "can0", "path": "$repo/tools/sim/ev.dbc", "strict": true}]},
  "batch": {"max_bytes": 16384, "max_age_ms": 60000},
  "spool": {"dir": "$w/run/spool", "max_bytes": 16777216},
  "endpoints": [{"url": "file://$w/run/bucket"}],
  "signing_key": "$w/device.key.pem",
  "operations": {"status_file": "$w/run/status.json"}
}
JSON

# LeakSanitizer and ASan report with exit status 86, UBSan stops at its
# first report: none of them can pass for the agent's own exit 1.
export ASAN_OPTIONS=detect_leaks=1:exitcode=86:abort_on_error=0
export LSAN_OPTIONS=exitcode=86
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# run_once N: the agent with allocation N failing (0: none); sets rc and
# leaves its stderr in $w/err.
run_once() {
  rm -rf -- "$w/run"
  mkdir -p "$w/run"
  rc=0
  CANOPY_ALLOC_FAIL_AT=$1 CANOPY_ALLOC_REPORT=1 timeout 300 "$CANOPY_BIN" \
    --config "$w/config.json" --exit-when-drained >/dev/null 2>"$w/err" || rc=$?
}

delivered_all() {
  "$CANOPY_DECODE_BIN" "$w/run/bucket" >"$w/decoded.log" 2>/dev/null &&
    cmp -s "$w/trace.log" "$w/decoded.log"
}

run_once 0
total=$(sed -n 's/^canopy: allocations: \([0-9]*\) .*/\1/p' "$w/err" | tail -n 1)
if [[ $rc -ne 0 || -z $total ]]; then
  t_die "the baseline run failed (exit $rc): $(tail -n 5 "$w/err")"
fi
delivered_all || t_die "the baseline run did not deliver the trace"
t_pass "baseline: exit 0, the whole trace delivered, $total allocations"

# Which allocations to fail.
ns=()
if [[ $budget -eq 0 || $total -le $budget ]]; then
  for ((n = 1; n <= total; n++)); do ns+=("$n"); done
  how="all $total"
else
  head=$((budget / 2))
  for ((n = 1; n <= head; n++)); do ns+=("$n"); done
  rest=$((budget - head))
  for ((k = 1; k <= rest; k++)); do ns+=($((head + (total - head) * k / rest))); done
  how="$budget of $total (1..$head, then $rest spread evenly up to $total; CANOPY_ALLOC_FAIL_RUNS=0 for all)"
fi
t_info "failing $how"

bad=0 errors=0 clean=0
for n in "${ns[@]}"; do
  run_once "$n"
  why=""
  if grep -Eq 'Sanitizer|runtime error:' "$w/err"; then
    why="sanitizer report: $(grep -E -m 3 'ERROR|SUMMARY|runtime error' "$w/err" | tr '\n' ' ')"
  elif [[ $rc -eq 0 ]]; then
    if delivered_all; then clean=$((clean + 1)); else why="exit 0 but the trace was not delivered in full"; fi
  elif [[ $rc -eq 1 ]]; then
    if grep -q 'error:' "$w/err"; then errors=$((errors + 1)); else why="exit 1 without an error message: $(grep -v '^canopy: allocations' "$w/err" | tail -n 2 | tr '\n' ' ')"; fi
  else
    why="exit $rc: $(grep -v '^canopy: allocations' "$w/err" | tail -n 3 | tr '\n' ' ')"
  fi
  if [[ -n $why ]]; then
    bad=$((bad + 1))
    cp "$w/err" "$w/failed-$n.err"
    t_fail "allocation $n failed: ${why:0:900}"
    [[ $bad -lt 10 ]] || t_die "stopping after 10 failures"
  fi
done
if [[ $bad -eq 0 ]]; then
  t_pass "${#ns[@]} runs each with one allocation failed: $clean recovered and delivered everything, $errors stopped with an error message; no crash, leak or sanitizer report"
fi
t_finish
