#!/usr/bin/env bash
# tests/integration/bandwidth.sh - upload.max_bytes_per_s paces uploads.
#
# A candump log the test writes (random payloads, so that batches stay
# large after compression) goes through the agent to an https:// endpoint
# on loopback (tests/servers/s3_receiver.py --anonymous) with
# upload.max_bytes_per_s set. The frames must all arrive, and the run cannot
# have been faster than the cap allows: libcurl may send the first 64 KiB
# of a request before its pacing starts, so the lower bound is, summed over
# the batches, (size - 64 KiB) / cap. A lower bound only: a loaded machine
# makes the run slower, never faster, so the check cannot flake; unpaced,
# the same upload on loopback takes well under a second.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR,
# S3_PYTHON (default /usr/bin/python3, with python3-botocore).
#
# Exit status: 0 pass, 1 fail, 77 skip.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"
# shellcheck source=tests/lib/tls.sh
. "$repo/tests/lib/tls.sh"
# shellcheck source=tests/lib/receiver.sh
. "$repo/tests/lib/receiver.sh"

echo "=== bandwidth: upload.max_bytes_per_s paces every upload"

receiver_require
cap=12288
frames=30000

work=''
t_mktemp_dir work bandwidth
t_info "work dir $work"
tls_setup "$work/tls" >/dev/null || t_die "could not create the test certificates"
trace=$work/trace.log
"$py" - "$trace" "$frames" <<'PY'
import random, sys
rng = random.Random(5)
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        # 5 s of capture time, 8 random bytes per frame
        us = 1700000000 * 1000000 + i * 100
        f.write("(%d.%06d) can0 %03X#%016X\n" % (us // 1000000, us % 1000000,
                                                0x100 + i % 16, rng.getrandbits(64)))
PY
sort "$trace" >"$work/trace.sorted"

receiver_start paced --anonymous
cat >"$work/config.json" <<EOF
{
  "vehicle_id": "$vehicle",
  "sources": [{"type": "candump", "path": "$trace", "pace": "max"}],
  "spool": {"dir": "$work/spool"},
  "endpoints": [{"url": "https://127.0.0.1:$rcv_port/$bucket/$prefix", "ca_file": "$TLS_CA"}],
  "upload": {"max_bytes_per_s": $cap}
}
EOF
t0=$(date +%s.%N)
rc=0
timeout -k 10 300 "${emu[@]}" "$CANOPY_BIN" --config "$work/config.json" --exit-when-drained \
  >"$work/agent.out" 2>"$work/agent.err" </dev/null || rc=$?
t1=$(date +%s.%N)
((rc == 0)) || { tail -n 15 "$work/agent.err"; t_die "canopy exited $rc"; }

objects=$rcv_root/$bucket/$prefix/$vehicle
"${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$objects" >"$work/bucket.log" \
  2>"$work/decode.err" || t_die "canopy-decode of the bucket failed: $(head -n 2 "$work/decode.err")"
if cmp -s "$work/trace.sorted" <(sort "$work/bucket.log"); then
  t_pass "all $frames frames arrived, none twice"
else
  t_fail "the bucket's frames differ from the trace"
fi

read -r n bytes bound < <(find "$objects" -type f -name '*.cnp' -printf '%s\n' |
  awk -v cap="$cap" '{ n++; b += $1; if ($1 > 65536) s += $1 - 65536 }
    END { printf "%d %d %.2f\n", n, b, s / cap }')
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
if ((n < 2)) || awk -v b="$bound" 'BEGIN { exit !(b < 3) }'; then
  t_fail "expected batches large enough to pace (got $n batches, $bytes bytes)"
elif awk -v t="$took" -v b="$bound" 'BEGIN { exit !(t >= b) }'; then
  t_pass "$n batches, $bytes bytes at $cap B/s took $took s (at least $bound s by the cap)"
else
  t_fail "$n batches, $bytes bytes took only $took s: the $cap B/s cap allows no less than $bound s"
fi
receiver_stop
t_finish "bandwidth: all checks passed"
