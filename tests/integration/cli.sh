#!/usr/bin/env bash
# tests/integration/cli.sh - the command line and bad input: every refusal
# names what was wrong and where, exits non-zero, and costs no data that
# was already in the spool.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR.
# Exit status: 0 pass, 1 fail.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== cli: options, bad configuration, bad input, corrupt batches"
: "${CANOPY_BIN:?}" "${CANOPY_DECODE_BIN:?}"
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
t_mktemp_dir w cli

canopy() { "${emu[@]}" "$CANOPY_BIN" "$@"; }
decode() { "${emu[@]}" "$CANOPY_DECODE_BIN" "$@"; }


# A small trace made here (the shared data is not needed for this test).
trace=$w/trace.log
for i in $(seq 0 299); do
  printf '(1700000000.%06d) can0 %03X#%02X%02X0000DEADBEEF\n' $((i * 1000)) $((0x100 + i % 7)) $((i % 256)) $((i / 256))
  printf '(1700000000.%06d) can1 18FEF1%02X#%02X\n' $((i * 1000 + 500)) $((i % 3)) $((i % 256))
done >"$trace"

config() { # config FILE TRACE SPOOL URL [EXTRA]
  cat >"$1" <<JSON
{
  "vehicle_id": "cli-1",
  "sources": [{"type": "candump", "path": "$2", "pace": "max"}],
  "batch": {"max_bytes": 4096, "max_age_ms": 1000},
  "spool": {"dir": "$3", "max_bytes": 1048576},
  "endpoints": [{"url": "$4"}]${5:-}
}
JSON
}

# --- options ---------------------------------------------------------------
t_expect "--help" 0 "usage: canopy --config FILE" -- canopy --help
t_expect "--version" 0 "^canopy [0-9]+\.[0-9]+\.[0-9]+" -- canopy --version
t_expect "no arguments" 2 "--config FILE is required" -- canopy
t_expect "unknown option" 2 "unknown or incomplete option \"--frobnicate\"" -- canopy --frobnicate
t_expect "decode --help" 0 "usage: canopy-decode" -- decode --help
t_expect "decode unknown format" 2 "unknown format" -- decode --format xml "$w"

# --- configuration -----------------------------------------------------------
config "$w/good.json" "$trace" "$w/spool-good" "file://$w/bucket-good"
t_expect "valid config" 0 "configuration is valid" -- canopy --config "$w/good.json" --check-config
t_expect "missing config" 1 "$w/nope.json: cannot read the configuration" -- canopy --config "$w/nope.json"
printf '{\n  "vehicle_id": "x",\n  "sources": [,]\n}\n' >"$w/syntax.json"
t_expect "JSON syntax error names line and column" 1 "syntax.json: line 3, column [0-9]+: invalid JSON" \
  -- canopy --config "$w/syntax.json" --check-config
config "$w/unknown.json" "$trace" "$w/spool-u" "file://$w/bucket-u" ', "colour": "blue"'
t_expect "unknown key warned, config still valid" 0 'warning: .*unknown.json: \$\.colour: unknown key' \
  -- canopy --config "$w/unknown.json" --check-config
sed 's/"max_bytes": 4096/"max_bytes": "big"/' "$w/good.json" >"$w/type.json"
t_expect "wrong type names the JSON path" 1 '\$\.batch\.max_bytes: expected a whole number' \
  -- canopy --config "$w/type.json" --check-config
sed 's/"pace": "max"/"pace": "fast"/' "$w/good.json" >"$w/pace.json"
t_expect "bad pace names the JSON path" 1 '\$\.sources\[0\]\.pace: expected "max", "recorded"' \
  -- canopy --config "$w/pace.json" --check-config
sed 's/"vehicle_id": "cli-1",//' "$w/good.json" >"$w/novehicle.json"
t_expect "missing vehicle_id" 1 '\$\.vehicle_id: required' -- canopy --config "$w/novehicle.json" --check-config
config "$w/http.json" "$trace" "$w/spool-h" "http://127.0.0.1:9/x"
t_expect "plain http refused without allow_insecure" 1 'allow_insecure' -- canopy --config "$w/http.json" --check-config

# --- the spool keeps what it has through bad runs ------------------------------
# 1. An endpoint that cannot store (a path below a regular file): batches stay.
touch "$w/not-a-dir"
config "$w/stuck.json" "$trace" "$w/spool" "file://$w/not-a-dir/bucket"
timeout -s TERM 5 "${emu[@]}" "$CANOPY_BIN" --config "$w/stuck.json" --exit-when-drained \
  >"$w/stuck.log" 2>&1 || true
n_spooled=$(find "$w/spool" -maxdepth 1 -name '*.cnp' | wc -l)
if [[ $n_spooled -ge 2 ]] && grep -q "upload of .* failed" "$w/stuck.log"; then
  t_pass "failed uploads keep $n_spooled batches in the spool"
else
  t_fail "expected batches kept after failed uploads, found $n_spooled: $(tail -n 3 "$w/stuck.log")"
fi
# 2. An unreadable trace: refused with its path, spool untouched.
config "$w/missing-trace.json" "$w/no-such-trace.log" "$w/spool" "file://$w/bucket"
t_expect "unreadable trace names the file" 1 "no-such-trace.log: cannot open the candump log" \
  -- canopy --config "$w/missing-trace.json" --exit-when-drained
n_after=$(find "$w/spool" -maxdepth 1 -name '*.cnp' | wc -l)
[[ $n_after -eq $n_spooled ]] && t_pass "spool still holds $n_after batches" \
  || t_fail "spool lost batches: $n_spooled -> $n_after"
# 3. A good endpoint: everything is delivered, byte for byte.
: >"$w/empty.log"
config "$w/drain.json" "$w/empty.log" "$w/spool" "file://$w/bucket"
t_expect "restart drains the spool" 0 "summary: .*uploaded_batches=$n_spooled " \
  -- canopy --config "$w/drain.json" --exit-when-drained
if decode --format candump "$w/bucket" | cmp -s - "$trace"; then
  t_pass "batches kept through failures decode to the trace byte for byte"
else
  t_fail "decoded bucket differs from the trace"
fi

# --- malformed candump lines: skipped, counted, named ---------------------------
bad=$w/bad.log
{ head -n 10 "$trace"; echo "(1700000001.000000) can0 12#11"; echo "garbage"; tail -n +11 "$trace"; } >"$bad"
config "$w/bad.json" "$bad" "$w/spool-bad" "file://$w/bucket-bad"
t_expect "malformed lines named by file:line" 0 "bad.log:11:[0-9]+: malformed candump line skipped: identifier must have 3 or 8" \
  -- canopy --config "$w/bad.json" --exit-when-drained
if decode "$w/bucket-bad" | cmp -s - "$trace"; then
  t_pass "the good lines around malformed ones all arrive"
else
  t_fail "frames around malformed lines were lost or changed"
fi
if grep -aq '"malformed_input":2' "$w"/bucket-bad/*/*/*.cnp; then
  t_pass "manifest reports dropped.malformed_input = 2"
else
  t_fail "no manifest reports malformed_input 2"
fi

# --- corrupt batches given to canopy-decode -------------------------------------
mapfile -t objs < <(find "$w/bucket" -name '*.cnp' | sort)
cp "${objs[0]}" "$w/flipped.cnp"
printf '\x55' | dd of="$w/flipped.cnp" bs=1 seek=100 conv=notrunc status=none
head -c 200 "${objs[0]}" >"$w/truncated.cnp"
echo "hello" >"$w/text.cnp"
t_expect "flipped bit: file named, digest mismatch" 1 "flipped.cnp: SHA-256 digest mismatch" \
  -- decode "$w/flipped.cnp"
t_expect "truncated batch refused" 1 "truncated.cnp: .*(truncated|digest)" -- decode "$w/truncated.cnp"
t_expect "not a batch" 1 "text.cnp: not a canopy batch" -- decode "$w/text.cnp"
t_expect "missing path" 1 "nope.cnp: No such file" -- decode "$w/nope.cnp"
out=$(decode "$w/flipped.cnp" "${objs[1]}" 2>/dev/null || true)
[[ -n "$out" ]] && t_pass "valid batches still print beside a corrupt one" \
  || t_fail "a corrupt batch suppressed the valid ones"
t_expect "decode --check on a good bucket" 0 "^cli-1/[0-9a-f]{16}: $n_spooled batches, 600 frames, .*: OK$" \
  -- decode --check "$w/bucket"

t_finish
