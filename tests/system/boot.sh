#!/usr/bin/env bash
# tests/system/boot.sh - the firmware image boots under qemu-system-aarch64
# with canopy started by its init at boot, as the packaged service runs it:
# an unprivileged user with no capabilities, reading SocketCAN (vcan0 in the
# guest, traffic from cangen). The guest then runs `canopy status`; the test
# checks on the serial console that the agent is alive as that user with an
# empty capability set, that the status says data flows with every frame
# counted, and that SIGTERM ends it cleanly.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (aarch64 builds), CANOPY_IMAGE_DIR.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== boot: firmware image, canopy started at boot by init (user canopy, no capabilities)"
t_require_bins CANOPY_BIN CANOPY_DECODE_BIN
command -v qemu-system-aarch64 >/dev/null 2>&1 ||
  t_skip "qemu-system-aarch64 not installed (scripts/install-deps: qemu-system-arm)"
image_dir=${CANOPY_IMAGE_DIR:-$repo/build/aarch64/image}
t_mktemp_dir work boot
if ! "$repo/scripts/build-image" --canopy "$CANOPY_BIN" --decode "$CANOPY_DECODE_BIN" \
    --out "$image_dir" >"$work/build-image.log" 2>&1; then
  grep -q 'not found\|download' "$work/build-image.log" &&
    t_skip "cannot build the image here: $(tail -n 1 "$work/build-image.log")"
  t_die "scripts/build-image failed: $(tail -n 5 "$work/build-image.log")"
fi
console=$work/console.log
timeout 240 "$repo/scripts/run-image" --no-build --image "$image_dir" --mode agent \
  --append "CANOPY_CHECK=6 CANOPY_VCAN=1" </dev/null >"$console" 2>&1 || true
tr -d '\r' <"$console" >"$work/console.txt"
c=$work/console.txt

grep -q 'CANOPY-IMAGE: AGENT-START pid=[0-9]* user=canopy' "$c" &&
  t_pass "init started canopy at boot: $(grep -o 'AGENT-START.*config=[^ ]*' "$c")" ||
  t_die "canopy was not started at boot: $(tail -n 20 "$c")"
alive=$(grep -o 'AGENT-ALIVE [^u]*uid=[0-9]* caps=[0-9a-f]*' "$c" || true)
if [[ $alive =~ state=[RS].*uid=990.*caps=0+$ ]]; then
  t_pass "running as uid 990 with no capabilities: $alive"
else
  t_fail "agent not alive unprivileged: ${alive:-no AGENT-ALIVE marker}"
fi
status=$(sed -n '/STATUS-BEGIN/,/STATUS-END/p' "$c")
frames=$(sed -n 's/^input: .* \([0-9]*\) frames (.*/\1/p' <<<"$status")
if grep -q 'STATUS-END exit=0' <<<"$status" && grep -q '^verdict:  OK: data flowing' <<<"$status" &&
   [[ ${frames:-0} -eq 400 ]]; then
  t_pass "canopy status in the guest: $(grep '^verdict' <<<"$status" | cut -c1-70)...; $frames of 400 frames"
else
  t_fail "canopy status in the guest: $status"
fi
grep -q 'CANOPY-IMAGE: AGENT-EXIT status=0' "$c" && grep -q 'CANOPY-IMAGE: RESULT ok' "$c" &&
  t_pass "SIGTERM: agent exited 0, guest powered off" ||
  t_fail "agent exit: $(grep -E 'AGENT-EXIT|RESULT' "$c")"
t_finish
