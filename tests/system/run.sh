#!/usr/bin/env bash
# tests/system/run.sh - the system test: qemu-system-aarch64 boots the
# firmware image (scripts/build-image) on the virt board; in the guest,
# canplayer replays a real trace at its recorded pace onto vcan0, canopy
# captures it through SocketCAN and uploads it over HTTPS to an nginx on the
# host's loopback; the host decodes what nginx stored and checks that every
# frame arrived exactly once, in order, with id, flags, length and payload
# unchanged, and that no drop counter moved. The guest reaches nothing but
# that server: user-mode networking with restrict=on and one guestfwd to
# tests/system/relay.py, which connects only to nginx's 127.0.0.1 port.
#
# Environment:
#   CANOPY_BIN, CANOPY_DECODE_BIN  the aarch64 binaries (default
#                      build/aarch64/canopy, build/aarch64/canopy-decode)
#   CANOPY_ECU_BIN     the aarch64 ecu-responder (default tests/ecu-responder
#                      beside CANOPY_BIN): canopy also polls that ECU over
#                      ISO-TP in the guest (OBD-II and UDS, docs/POLLING.md)
#                      and the decoded values are checked here
#   CANOPY_EMULATOR    command prefix to run canopy-decode on the host
#                      (default qemu-aarch64-static for an aarch64 binary)
#   CANOPY_DATA        shared data folder (default ../shared/data next to the
#                      repository); the test skips (77) without it
#   CANOPY_SYSTEM_TRACE    trace name under $CANOPY_DATA/traces, or a path
#                      (default toyota_rav4_2017_comma2k19.log)
#   CANOPY_SYSTEM_IFACES   trace interfaces to replay, comma separated, or
#                      "all" (default: the interface of the first frame);
#                      they become vcan0, vcan1, ... in order of appearance
#   CANOPY_SYSTEM_FRAMES   frames replayed: the first N of those interfaces
#                      (default 10000)
#   CANOPY_SYSTEM_TIMEOUT  seconds QEMU may run (default 300)
#   CANOPY_IMAGE_DIR   where the image is built (default build/image)
#   CANOPY_TEST_KEEP=1 keep the work folder (serial log, guest logs, storage)
#
# Exit status: 0 pass, 1 fail, 2 usage error, 77 skip.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"
# shellcheck source=tests/lib/tls.sh
. "$repo/tests/lib/tls.sh"
# shellcheck source=tests/lib/nginx.sh
. "$repo/tests/lib/nginx.sh"

test_start=$EPOCHREALTIME
# secs_since T0 [T1]: seconds between two $EPOCHREALTIME values
secs_since() { awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.1f", b - a }'; }

echo "=== system: qemu-system-aarch64 virt: canplayer -> vcan -> canopy (SocketCAN) -> HTTPS -> nginx"
echo "    and canopy polling OBD-II/UDS over ISO-TP (obd0) from ecu-responder"

# --- prerequisites ----------------------------------------------------------------
CANOPY_BIN=${CANOPY_BIN:-$repo/build/aarch64/canopy}
CANOPY_DECODE_BIN=${CANOPY_DECODE_BIN:-$repo/build/aarch64/canopy-decode}
CANOPY_ECU_BIN=${CANOPY_ECU_BIN:-$(dirname -- "$CANOPY_BIN")/tests/ecu-responder}
for v in CANOPY_BIN CANOPY_DECODE_BIN CANOPY_ECU_BIN; do
  if [[ ! -f "${!v}" ]]; then
    printf 'FAIL: %s=%s does not exist (build with cmake --preset aarch64 && cmake --build --preset aarch64)\n' "$v" "${!v}"
    exit 2
  fi
done
command -v qemu-system-aarch64 >/dev/null 2>&1 ||
  t_skip "qemu-system-aarch64 not installed (scripts/install-deps: qemu-system-arm)"
nginx_bin >/dev/null || t_skip "nginx not installed"
for tool in openssl timeout cpio dpkg-deb readelf; do
  command -v "$tool" >/dev/null 2>&1 || t_skip "$tool not installed (scripts/install-deps)"
done
python=/usr/bin/python3
[[ -x $python ]] || python=$(command -v python3) || t_skip "python3 not installed"

read -r -a emu <<<"${CANOPY_EMULATOR:-}"
if ((${#emu[@]} == 0)) && [[ $(uname -m) != aarch64 ]] &&
  readelf -h "$CANOPY_DECODE_BIN" | grep -q 'Machine:.*AArch64'; then
  command -v qemu-aarch64-static >/dev/null 2>&1 ||
    t_skip "qemu-aarch64-static not installed (needed to run canopy-decode)"
  emu=(qemu-aarch64-static)
fi

data=${CANOPY_DATA:-$repo/../shared/data}
[[ -d "$data" ]] || t_skip "data folder $data not found (set CANOPY_DATA)"
data=$(cd -- "$data" && pwd)
trace_src=${CANOPY_SYSTEM_TRACE:-toyota_rav4_2017_comma2k19.log}
[[ "$trace_src" == */* ]] || trace_src=$data/traces/$trace_src
[[ -f "$trace_src" ]] || t_skip "trace $trace_src not found"
n_frames=${CANOPY_SYSTEM_FRAMES:-10000}
qemu_timeout=${CANOPY_SYSTEM_TIMEOUT:-300}
image_dir=${CANOPY_IMAGE_DIR:-$repo/build/image}
vehicle=qemu-virt-1
[[ $n_frames =~ ^[1-9][0-9]*$ ]] || { echo "FAIL: CANOPY_SYSTEM_FRAMES=$n_frames is not a number"; exit 2; }
[[ $qemu_timeout =~ ^[1-9][0-9]*$ ]] || { echo "FAIL: CANOPY_SYSTEM_TIMEOUT=$qemu_timeout is not a number"; exit 2; }

work=''
t_mktemp_dir work system
share=$work/share
mkdir -p "$share/out" "$work/storage"
[[ $share != *,* ]] || t_die "the work folder $work contains a comma (QEMU options cannot take it)"
t_info "work dir $work"

# --- the trace: the first N frames of the chosen interfaces -----------------------------
ifaces=${CANOPY_SYSTEM_IFACES:-$(awk 'NR == 1 { print $2; exit }' "$trace_src")}
awk -v want="$ifaces" -v n="$n_frames" '
  BEGIN { k = split(want, w, ","); for (i = 1; i <= k; i++) ok[w[i]] = 1 }
  want == "all" || ($2 in ok) { print; if (++c == n) exit }' "$trace_src" >"$share/trace.log"
trace=$share/trace.log
[[ -s $trace ]] || t_die "no frames of interface(s) $ifaces in $trace_src"
# The real traces hold no remote, CAN FD or zero-length frames: unless
# CANOPY_SYSTEM_FLAG_FRAMES=0, a few follow the trace on its first interface,
# 10 ms apart (11- and 29-bit ids, RTR with and without a length, CAN FD with
# BRS/ESI flags from 0 to 64 bytes).
if [[ ${CANOPY_SYSTEM_FLAG_FRAMES:-1} == 1 ]]; then
  awk 'END { gsub(/[()]/, "", $1); split($1, t, ".")
    s = t[1]; u = t[2] + 0
    for (i = 0; i < 64; i++) d64 = d64 sprintf("%02X", (i * 37 + 11) % 256)
    n = split("123#R 1ABCDEF0#R 456#R3 00000001#1122 321# 7FF#0011223344556677 " \
      "123##0 123##1112233445566778899AABBCC 7FF##21122334455667788 " \
      "1ABCDEF0##3" d64, f, " ")
    for (i = 1; i <= n; i++) {
      u += 10000; if (u >= 1000000) { s++; u -= 1000000 }
      printf "(%d.%06d) %s %s\n", s, u, $2, f[i]
    } }' "$trace" >"$work/flags.log"
  cat "$work/flags.log" >>"$trace"
fi
got_frames=$(wc -l <"$trace")
mapfile -t trace_ifaces < <(awk '!seen[$2]++ { print $2 }' "$trace")
((${#trace_ifaces[@]} <= 8)) || t_die "the trace has ${#trace_ifaces[@]} interfaces; at most 8"
trace_span=$(awk 'NR == 1 { gsub(/[()]/, "", $1); a = $1 } END { gsub(/[()]/, "", $1); printf "%.3f", $1 - a }' "$trace")
t_info "trace $(basename "$trace_src"): $got_frames frames of ${trace_ifaces[*]} over $trace_span s ($(awk -v n="$got_frames" -v s="$trace_span" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }') frames/s)"

# --- polling: what canopy asks the guest's ECU (tests/system/ecu_responder.c) -----------------
# A DBC for its UDS identifiers: DID 0x0101, 40 bytes of data (six ISO-TP
# frames), and DID 0x0103, answered after a "response pending".
{
  printf 'VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_: BMS\n\n'
  printf 'BO_ 257 BatteryStatus: 40 BMS\n'
  printf ' SG_ SOC : 7|16@0+ (0.01,0) [0|100] "%%" Vector__XXX\n'
  printf ' SG_ PackVoltage : 23|16@0+ (0.1,0) [0|1000] "V" Vector__XXX\n'
  for i in $(seq 0 17); do
    printf ' SG_ Cell%02d : %d|16@0+ (0.001,0) [0|5] "V" Vector__XXX\n' $((i + 1)) $(((4 + 2 * i) * 8 + 7))
  done
  printf '\nBO_ 259 Odometer: 2 BMS\n'
  printf ' SG_ Total : 7|16@0+ (1,0) [0|65535] "km" Vector__XXX\n'
  printf '\nBO_ 514 Unsupported: 2 BMS\n'
  printf ' SG_ Never : 7|16@0+ (1,0) [0|65535] "" Vector__XXX\n'
} >"$share/uds.dbc"
cat >"$share/polling.json" <<'EOF'
{"interface": "obd0", "timeout_ms": 1000, "pending_timeout_ms": 3000, "dbc": "/share/uds.dbc",
 "requests": [
  {"service": "01", "pids": ["00", "0C", "0D", "05", "42", "2F"], "interval_ms": 1000},
  {"service": "01", "pid": "0D", "ids": 29, "interval_ms": 1000},
  {"service": "22", "did": "0103", "ids": 29, "addressing": "physical", "interval_ms": 5000},
  {"service": "03", "interval_ms": 600000},
  {"service": "07", "interval_ms": 600000},
  {"service": "09", "pid": "02", "interval_ms": 600000},
  {"service": "22", "dids": ["0101", "0103", "0202"], "interval_ms": 2000,
   "addressing": "physical"}]}
EOF

# --- the image ----------------------------------------------------------------------------
t=$EPOCHREALTIME
if ! "$repo/scripts/build-image" --canopy "$CANOPY_BIN" --decode "$CANOPY_DECODE_BIN" \
  --ecu "$CANOPY_ECU_BIN" --out "$image_dir" >"$work/build-image.log" 2>&1; then
  cat "$work/build-image.log"
  t_die "scripts/build-image failed"
fi
image_s=$(secs_since "$t")
t_info "image: $(tail -n 1 "$work/build-image.log" | sed 's/^build-image: //') in $image_s s"

# --- the server: nginx with a certificate for the address the guest uses ------------------------
tls_ca "$work/tls" ca || t_die "could not create the test CA"
tls_server_cert "$work/tls" server ca "IP:10.0.2.100,IP:127.0.0.1,DNS:localhost" ||
  t_die "could not create the server certificate"
cp "$work/tls/ca.pem" "$share/ca.pem"
nginx_start "$work/nginx" "$work/tls/server.pem" "$work/tls/server.key" "$work/storage" ||
  t_die "could not start nginx"
t_info "nginx pid $NGINX_PID on 127.0.0.1:$NGINX_PORT, storage $NGINX_STORAGE"
cp "$here/relay.py" "$work/relay.py"
export CANOPY_RELAY_LOG=$work/relay.log

# --- boot -------------------------------------------------------------------------------------
serial=$work/serial.log
qemu_pid=''
# shellcheck disable=SC2317  # called through t_on_exit
stop_qemu() {
  if [[ -n "$qemu_pid" ]] && t_pid_alive "$qemu_pid"; then
    kill -TERM "$qemu_pid" 2>/dev/null || true
    t_wait_pid_exit "$qemu_pid" 50 || kill -KILL "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  qemu_pid=''
}
t_on_exit stop_qemu
append="console=ttyAMA0 nokaslr quiet panic=-1 CANOPY_MODE=test CANOPY_VEHICLE=$vehicle"
append+=" CANOPY_PROBE=10.0.2.2:$NGINX_PORT"
# shellcheck disable=SC2054  # the commas are QEMU's
qemu_cmd=(qemu-system-aarch64 -M virt -cpu cortex-a53 -smp 2 -m 512M
  -nographic -no-reboot
  -kernel "$image_dir/vmlinuz" -initrd "$image_dir/initramfs.cpio.gz"
  -append "$append"
  -netdev "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:443-cmd:$python $work/relay.py $NGINX_PORT"
  -device virtio-net-pci,netdev=n0,romfile=
  -virtfs "local,path=$share,mount_tag=share,security_model=none,id=share")
printf '%q ' "${qemu_cmd[@]}" >"$work/qemu.cmd"
echo >>"$work/qemu.cmd"
qemu_start=$EPOCHREALTIME
timeout -k 10 "$qemu_timeout" "${qemu_cmd[@]}" >"$serial" 2>"$work/qemu.err" </dev/null &
qemu_pid=$!
t_info "QEMU pid $qemu_pid (timeout ${qemu_timeout} s; command in $work/qemu.cmd)"

# Watch the console for the boot marker, until QEMU exits (bounded by timeout).
boot_s=''
while t_pid_alive "$qemu_pid"; do
  if [[ -z $boot_s ]] && grep -q '^CANOPY-SYSTEM-TEST: INIT' "$serial" 2>/dev/null; then
    boot_s=$(secs_since "$qemu_start")
  fi
  sleep 0.1
done
qemu_rc=0
wait "$qemu_pid" || qemu_rc=$?
qemu_pid=''
qemu_s=$(secs_since "$qemu_start")
[[ -n $boot_s ]] || ! grep -q '^CANOPY-SYSTEM-TEST: INIT' "$serial" || boot_s=$qemu_s

echo "--- guest console (markers)"
grep -a '^CANOPY-SYSTEM-TEST:' "$serial" | tr -d '\r' || true
echo "---"
marker() { { grep -a "^CANOPY-SYSTEM-TEST: $1" "$serial" || true; } | tr -d '\r' | tail -n 1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# --- checks: the run ----------------------------------------------------------------------------
if ((qemu_rc == 124 || qemu_rc == 137)); then
  t_fail "QEMU did not power off within $qemu_timeout s"
  tail -n 30 "$serial" | tr -d '\r'
elif ((qemu_rc != 0)); then
  t_fail "QEMU exited $qemu_rc: $(tail -n 5 "$work/qemu.err")"
fi
if grep -aq 'Kernel panic' "$serial"; then
  t_fail "the guest kernel panicked: $(grep -a -m 1 'Kernel panic' "$serial" | tr -d '\r')"
fi
if [[ -n $boot_s ]]; then
  t_pass "the guest booted to /init in $boot_s s (guest uptime $(field uptime "$(marker INIT)") s)"
else
  t_fail "the guest never reached /init"
  tail -n 30 "$serial" | tr -d '\r'
fi
result=$(marker RESULT)
if [[ $result == *"RESULT ok"* ]]; then
  t_pass "the guest reports RESULT ok"
else
  t_fail "the guest reports: ${result:-no RESULT marker}"
  for f in canopy-capture.log canopy-drain.log canplayer.log; do
    if [[ -s $share/out/$f ]]; then
      echo "--- last lines of the guest's $f"
      tail -n 15 "$share/out/$f"
    fi
  done
fi
if [[ -n $(marker 'ISOLATION ok') ]]; then
  t_pass "isolation: the guest could not reach the host's nginx port directly (10.0.2.2:$NGINX_PORT)"
else
  t_fail "isolation: no ISOLATION ok marker"
fi
replay=$(marker REPLAY-END)
replay_s=$(field seconds "$replay")
[[ -n $replay ]] && t_info "replay: canplayer ran $replay_s s for a $trace_span s trace"

# --- checks: what nginx stored -----------------------------------------------------------------------
mapfile -t objects < <(cd "$NGINX_STORAGE" && find . -type f | sed 's|^\./||' | sort)
t_info "nginx stored ${#objects[@]} object(s), $(du -sb "$NGINX_STORAGE" | cut -f1) bytes ($(wc -c <"$trace") bytes of candump text)"
bad_keys=$(printf '%s\n' "${objects[@]}" | grep -Ev "^$vehicle/[0-9a-f]+/[0-9a-fA-F]{8}-[0-9a-fA-F]{12}\.cnp$" | head -n 3 || true)
if ((${#objects[@]} == 0)); then
  t_fail "nginx stored nothing"
  tail -n 5 "$NGINX_ACCESS_LOG" 2>/dev/null || true
elif [[ -n $bad_keys ]]; then
  t_fail "objects not named $vehicle/<spool id>/<boot>-<seq>.cnp: $(tr '\n' ' ' <<<"$bad_keys")"
else
  t_pass "all ${#objects[@]} objects are named $vehicle/<spool id>/<boot>-<seq>.cnp"
fi

decoded=$work/decoded.log
rc=0
"${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$NGINX_STORAGE" >"$decoded" 2>"$work/decode.err" || rc=$?
if ((rc == 0)); then
  t_pass "canopy-decode verified every stored batch (structure, SHA-256)"
else
  t_fail "canopy-decode exited $rc: $(head -n 3 "$work/decode.err")"
fi

# The frames, interface by interface (trace interface i -> vcan<i>): the
# ID#DATA field carries id (3 or 8 digits: 11 or 29 bits), RTR (R), CAN FD
# (##<flags>), length and payload; timestamps and names are the new capture's.
for i in "${!trace_ifaces[@]}"; do
  src=${trace_ifaces[i]} dst=vcan$i
  awk -v i="$src" '$2 == i { print $3 }' "$trace" >"$work/want.$i"
  awk -v i="$dst" '$2 == i { print $3 }' "$decoded" >"$work/got.$i"
  want_n=$(wc -l <"$work/want.$i") got_n=$(wc -l <"$work/got.$i")
  if cmp -s "$work/want.$i" "$work/got.$i"; then
    t_pass "$dst: all $want_n frames of $src arrived exactly once, in order, id/flags/length/payload unchanged"
  else
    first=$(cmp "$work/want.$i" "$work/got.$i" 2>&1 | head -n 1 || true)
    missing=$(comm -23 <(sort "$work/want.$i") <(sort "$work/got.$i") | wc -l)
    extra=$(comm -13 <(sort "$work/want.$i") <(sort "$work/got.$i") | wc -l)
    t_fail "$dst: $got_n frames decoded for $want_n replayed from $src ($missing missing, $extra extra or duplicated; first difference: $first)"
    diff "$work/want.$i" "$work/got.$i" | head -n 6 || true
  fi
done
other=$(awk -v n="${#trace_ifaces[@]}" '{ sub(/^vcan/, "", $2) } !($2 ~ /^[0-9]+$/ && $2 < n)' "$decoded" | wc -l)
if ((other == 0)); then
  t_pass "no frames from any other interface ($(wc -l <"$decoded") frames decoded in all)"
else
  t_fail "$other decoded frames came from interfaces outside vcan0..vcan$((${#trace_ifaces[@]} - 1))"
fi

# The capture's own timestamps: kernel receive times, in order, and as far
# apart as the trace's (the replay was paced, not a burst).
if [[ -s $decoded ]]; then
  read -r cap_span backwards < <(awk '{ gsub(/[()]/, "", $1); t = $1 + 0
      if (NR == 1) a = t; else if (t < last[$2]) back++
      last[$2] = t; b = t }
    END { printf "%.3f %d\n", b - a, back }' "$decoded")
  if ((backwards == 0)); then
    t_pass "capture timestamps never go backwards on an interface"
  else
    t_fail "capture timestamps go backwards $backwards time(s)"
  fi
  if awk -v c="$cap_span" -v t="$trace_span" 'BEGIN { exit !(t < 2 || (c >= 0.9 * t && c <= 1.1 * t + 1)) }'; then
    t_pass "paced replay: the capture spans $cap_span s for the trace's $trace_span s"
  else
    t_fail "the capture spans $cap_span s but the trace $trace_span s: the replay was not paced"
  fi
fi

# --- checks: counters ------------------------------------------------------------------------------------
summary=$(marker SUMMARY)
s_frames=$(field frames "$summary")
if [[ $s_frames == "$got_frames" ]]; then
  t_pass "canopy's summary: frames=$s_frames, as replayed"
else
  t_fail "canopy's summary: frames=${s_frames:-?} for $got_frames replayed (${summary:-no SUMMARY marker})"
fi
s_malformed=$(field malformed "$summary")
if [[ $s_malformed == 0 ]]; then
  t_pass "canopy's summary: malformed=0"
else
  t_fail "canopy's summary: malformed=${s_malformed:-?}"
fi
# Manifests: plain JSON after the 16-byte header; every "dropped" count is 0.
drops=$(cd "$NGINX_STORAGE" && find . -name '*.cnp' -exec grep -aoh '"dropped":{[^}]*}' {} + || true)
n_manifests=$(grep -c . <<<"$drops" || true)
nonzero=$(grep -oE '"[a-z_]+":[1-9][0-9]*' <<<"$drops" | sort | uniq -c | tr '\n' ' ' || true)
if ((n_manifests != ${#objects[@]})); then
  t_fail "found a \"dropped\" object in $n_manifests of ${#objects[@]} manifests"
elif [[ -n $nonzero ]]; then
  t_fail "manifests report drops: $nonzero"
else
  t_pass "every manifest reports zero drops ($(head -n 1 <<<"$drops"))"
fi
# The kernel's view of canopy's sockets: the CAN core's receive lists count
# the frames handed to each socket ("matches") before its queue can drop
# them; frames canopy read = matches = frames replayed means the kernel
# dropped nothing on the way.
matches=0 receivers=0
for i in "${!trace_ifaces[@]}"; do
  r=$(marker "RCVLIST vcan$i ")
  matches=$((matches + $(field matches "$r" | grep -E '^[0-9]+$' || echo 0)))
  receivers=$((receivers + $(field receivers "$r" | grep -E '^[0-9]+$' || echo 0)))
done
if ((receivers == 0)); then
  t_fail "kernel: no receive-list entry for canopy's sockets (RCVLIST markers: $(grep -ac 'RCVLIST' "$serial" || true))"
elif [[ $matches == "$got_frames" && $s_frames == "$matches" ]]; then
  t_pass "kernel: all $matches frames reached canopy's socket(s) and canopy read all of them: no kernel drops"
else
  t_fail "kernel: $matches frames handed to canopy's sockets, $got_frames replayed, ${s_frames:-?} read by canopy ($((matches - ${s_frames:-0})) dropped in the socket queue)"
fi
# The socket's drop counter (SO_RXQ_OVFL) as canopy reports it: a
# "kernel..." count in the manifests' "dropped" or a kernel...dropped count
# in its log.
kd_manifest=$({ grep -oE '"kernel[a-z_]*":[0-9]+' <<<"$drops" || true; } | awk -F: '{ s += $2 } END { if (NR) print s }')
kd_log=$(marker KERNEL-DROPS)
kd_log=$(sed -n 's/.*KERNEL-DROPS \(.*\) uptime=.*/\1/p' <<<"$kd_log")
if [[ -n $kd_manifest ]]; then
  if [[ $kd_manifest == 0 ]]; then
    t_pass "kernel drop counter (manifests): 0"
  else
    t_fail "kernel drop counter (manifests): $kd_manifest frames dropped by the kernel"
  fi
elif [[ -n $kd_log && $kd_log != not-reported ]]; then
  if [[ $kd_log =~ [^0-9]0$ ]]; then
    t_pass "kernel drop counter (canopy's log): $kd_log"
  else
    t_fail "kernel drop counter (canopy's log): $kd_log"
  fi
else
  t_info "canopy reports no kernel drop counter (SO_RXQ_OVFL) in its manifests or summary; checked through the receive lists above"
fi
for i in "${!trace_ifaces[@]}"; do
  v=$(marker "VCAN vcan$i ")
  if [[ -n $v && $(field rx_dropped "$v") == 0 && $(field tx_dropped "$v") == 0 ]]; then
    t_pass "vcan$i: the interface dropped nothing (rx_packets=$(field rx_packets "$v"))"
  else
    t_fail "vcan$i: interface counters: ${v:-not reported}"
  fi
done
drain=$(marker "DRAIN status")
if [[ $(field status "$drain") == 0 && $(field spool_left "$drain") == 0 ]]; then
  t_pass "the spool drained: every batch acknowledged by nginx"
else
  t_fail "drain: ${drain:-no DRAIN marker}"
fi
puts=$(grep -c '"PUT ' "$NGINX_ACCESS_LOG" 2>/dev/null || true)
t_info "nginx saw ${puts:-0} PUT(s); the relay carried $(grep -c 'connected to' "$CANOPY_RELAY_LOG" 2>/dev/null || true) connection(s)"

# --- checks: active polling -----------------------------------------------------------------------
isotp=$(marker ISOTP)
if [[ $(field loaded "$isotp") == 1 ]]; then
  t_pass "the guest kernel loaded can-isotp ($(field via "$isotp"): $(field description "$isotp" | tr _ ' '))"
else
  t_fail "can-isotp: ${isotp:-no ISOTP marker}"
fi
t_info "ecu-responder: $(marker ECU-EXIT)"
rc=0
"${emu[@]}" "$CANOPY_DECODE_BIN" --signals "$NGINX_STORAGE" >"$work/signals.csv" 2>"$work/signals.err" || rc=$?
"${emu[@]}" "$CANOPY_DECODE_BIN" --events "$NGINX_STORAGE" >"$work/events.jsonl" 2>>"$work/signals.err" || rc=$?
((rc == 0)) || t_fail "canopy-decode --signals/--events exited $rc: $(head -n 3 "$work/signals.err")"
# Every polled value, computed here from the ECU's bytes with the same
# formulas (raw * scale + offset in IEEE doubles, printed with 17 digits).
if "$python" - "$work/signals.csv" "$work/events.jsonl" >"$work/polling.check" 2>&1 <<'EOF'
import csv, json, sys
want = {  # (message, signal): (raw, scale, offset)
    ("OBD2", "PIDsSupported_01_20"): (0xBE1FA813, 1, 0),
    ("OBD2", "EngineSpeed"): (0x1AF8, 0.25, 0),
    ("OBD2", "VehicleSpeed"): (0x3C, 1, 0),
    ("OBD2", "EngineCoolantTemperature"): (0x7B, 1, -40),
    ("OBD2", "ControlModuleVoltage"): (0x30D4, 0.001, 0),
    ("OBD2", "FuelTankLevel"): (0x80, 100.0 / 255.0, 0),
    ("OBD2", "StoredDTCCount"): (3, 1, 0),
    ("OBD2", "PendingDTCCount"): (1, 1, 0),
    ("BatteryStatus", "SOC"): (0x1F40, 0.01, 0),
    ("BatteryStatus", "PackVoltage"): (0x0E74, 0.1, 0),
    ("Odometer", "Total"): (0x1234, 1, 0),
}
for i in range(18):
    want[("BatteryStatus", "Cell%02d" % (i + 1))] = (3900 + 10 * i, 0.001, 0)
def text(raw, scale, offset):
    if scale == 1 and offset == 0:
        return str(raw)
    return "%.17g" % (float(raw) * scale + offset)
seen, bad = {}, []
with open(sys.argv[1]) as f:
    for row in csv.DictReader(f):
        if row["interface"] != "obd0":
            continue
        key = (row["message"], row["signal"])
        seen[key] = seen.get(key, 0) + 1
        if key not in want:
            bad.append("unexpected signal %s.%s" % key)
        elif row["value"] != text(*want[key]):
            bad.append("%s.%s = %s, want %s" % (key + (row["value"], text(*want[key]))))
for key in want:
    if key not in seen:
        bad.append("no sample of %s.%s" % key)
events = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
vin = [e for e in events if e.get("type") == "vin"]
dtc = {e["service"]: e["codes"] for e in events if e.get("type") == "dtc"}
poll = [e for e in events if e.get("type") == "poll"]
if [e["vin"] for e in vin] != ["JT3HN87R2V9012345"]:
    bad.append("VIN events: %r" % vin)
if dtc != {"03": ["P0301", "U0100", "C0123"], "07": ["B0001"]}:
    bad.append("DTC events: %r" % dtc)
neg = [e for e in poll if e["outcome"] == "negative"]
if [(e["request"], e["nrc"], e["interface"]) for e in neg] != [("22 0202", "0x31", "obd0")]:
    bad.append("negative-response events: %r" % neg)
if any(e["outcome"] == "timeout" for e in poll):
    bad.append("timeouts: %r" % [e for e in poll if e["outcome"] == "timeout"])
print("%d samples of %d signals, %d events (VIN, DTCs, %d poll outcome)" %
      (sum(seen.values()), len(seen), len(events), len(poll)))
for b in bad[:10]:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF
then
  t_pass "polling: every value decoded exactly at the host: $(head -n 1 "$work/polling.check")"
else
  t_fail "polling: $(tr '\n' ' ' <"$work/polling.check" | head -c 800)"
fi
# The manifests' "polling" counts add up to what the ECU saw: every request
# arrived, each ended in an answer or a negative response (one may still
# have been in flight at SIGTERM), none timed out.
read -r p_req p_resp p_to p_neg < <(cd "$NGINX_STORAGE" &&
  find . -name '*.cnp' -exec grep -aoh '"polling":{[^}]*}' {} + |
  sed 's/[^0-9,]//g' | awk -F, '{ r += $1; a += $2; t += $3; n += $4 } END { print r + 0, a + 0, t + 0, n + 0 }')
ecu_exit=$(marker ECU-EXIT)
ecu_req=$(field requests "$ecu_exit")
if [[ $(field requests29 "$ecu_exit") -gt 0 ]]; then
  t_pass "polling: the ECU answered $(field requests29 "$ecu_exit") requests with 29-bit ids (functional 18DB33F1 and physical 18DA10F1)"
else
  t_fail "polling: no request with 29-bit ids reached the ECU (${ecu_exit:-no ECU-EXIT marker})"
fi
if [[ $p_req -gt 0 && $p_req == "$ecu_req" && $p_to == 0 && $p_neg -ge 1 &&
      $((p_req - p_resp - p_neg)) -ge 0 && $((p_req - p_resp - p_neg)) -le 1 ]]; then
  t_pass "polling: the manifests count $p_req requests (the ECU saw $ecu_req), $p_resp answers, $p_neg negative, $p_to timeouts"
else
  t_fail "polling: the manifests count requests=$p_req responses=$p_resp timeouts=$p_to negative=$p_neg; the ECU saw ${ecu_req:-?} requests"
fi

nginx_stop
echo "--- times: image $image_s s, boot $boot_s s (QEMU start to /init), replay ${replay_s:-?} s, QEMU $qemu_s s, whole test $(secs_since "$test_start") s"
t_finish "system: all checks passed"
