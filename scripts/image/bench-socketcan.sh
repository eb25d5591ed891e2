# shellcheck shell=sh disable=SC2034,SC1091,SC2046,SC2086  # VEHICLE, ENDPOINT, CA, CANOPY_BATCH_AGE_MS are read by /init's write_config; word splitting is meant
# scripts/image/bench-socketcan.sh - the guest half of
# scripts/bench-socketcan-guest (busybox sh). /init runs it in CANOPY_MODE=bench
# (as /share/bench.sh, in a subshell that has /init's functions: mark, fail,
# vcan_up, iflist, write_config, stop_pid, value, uptime_s; $SHARE, $TAG).
#
# Input on the 9p share:
#   rates.txt  lines "RATE LOG": LOG (a candump -l file on the share, paced
#              at RATE frames/s on average) is replayed in that order
#   bench.env  optional settings: BENCH_RCVBUF (socket receive buffer asked
#              for, default 4194304, canopy's default), BENCH_BATCH_AGE_MS
#              (default 10000, canopy's default), BENCH_SETTLE_MAX (seconds
#              to wait for canopy to catch up after a replay, default 60),
#              BENCH_STOP_AFTER (stop after this many rates in a row with
#              drops, default 2), BENCH_FANOUT (K > 1: the kernel's CAN
#              gateway copies every replayed frame onto K interfaces, see
#              below; needs can-gw.ko and cangw on the share)
#
# For each rate: a fresh canopy (spool and file:// bucket on tmpfs) captures
# vcan0.. through SocketCAN; canplayer replays LOG at its recorded pace
# (vcanN=<N-th interface of LOG>); then, once canopy is idle again (it has
# read what the socket queues held), the CAN core's per-socket delivery
# count ("matches" in /proc/net/can/rcvlist_*) is read and canopy is stopped.
# With BENCH_FANOUT=K, canplayer replays onto vsrc0.. instead and can-gw
# copies each frame to K of canopy's interfaces: canopy receives K times the
# replayed rate while the generator's cost stays that of the replay.
# delivered - captured = frames the sockets' receive queues dropped (what
# SO_RXQ_OVFL counts; kernel_dropped= is canopy's own count of it, from its
# summary line, empty if this canopy does not print one). Prints one
# marker per rate:
#   CANOPY-BENCH: RATE rate= frames= span_s= replay_s= canplayer= matches=
#     captured= drops= settled= settle_s= cpu_replay= cpu_total= busy=
#     idle_cpu_pct= cpu_player= vcan_drops= exit= malformed= stored_bytes=
#     uploaded_bytes= kernel_dropped=
# cpu_replay and cpu_total are canopy's utime+stime in seconds (from
# /proc/PID/stat): during the replay, and from the replay's start until
# canopy was idle again; idle_cpu_pct is canopy's CPU use before the replay
# (idle sockets, over 4 s from 1 s after it is ready), in % of one vCPU; cpu_player is canplayer's CPU
# time; busy is the whole guest's CPU use during the replay, in % of all
# its vCPUs.

[ -f "$SHARE/bench.env" ] && . "$SHARE/bench.env"
RCVBUF=${BENCH_RCVBUF:-4194304}
CANOPY_BATCH_AGE_MS=${BENCH_BATCH_AGE_MS:-10000}
SETTLE_MAX=${BENCH_SETTLE_MAX:-60}
STOP_AFTER=${BENCH_STOP_AFTER:-2}
FANOUT=${BENCH_FANOUT:-1}
VEHICLE=bench-virt
ENDPOINT=file:///var/lib/canopy/bucket
CA=""
HZ=100 # USER_HZ: the unit of /proc/PID/stat's times on Linux

[ -f "$SHARE/rates.txt" ] || { fail "no $SHARE/rates.txt"; exit 1; }
specs=$(awk 'NF == 2 { print $1 ":" $2 }' "$SHARE/rates.txt")
[ -n "$specs" ] || { fail "$SHARE/rates.txt lists no rate"; exit 1; }

# The interfaces: those of the first log, in order of appearance -> vcan0..
first=$(echo "$specs" | head -n 1)
awk '!seen[$2]++ { print $2 }' "$SHARE/${first#*:}" >/tmp/bench.ifaces
nif=$(wc -l </tmp/bench.ifaces)
[ "$nif" -ge 1 ] && [ "$nif" -le 8 ] || { fail "the logs have $nif interfaces"; exit 1; }
map="" n=0
if [ "$FANOUT" -le 1 ]; then
  FANOUT=1
  ncap=$nif
  while read -r ifn; do
    map="$map vcan$n=$ifn"
    n=$((n + 1))
  done </tmp/bench.ifaces
  vcan_up "$ncap"
else
  # Fan-out: canplayer replays onto vsrc0.. (nobody reads them); can-gw
  # (the kernel's CAN gateway, module and cangw from the share) copies each
  # frame of vsrcI to vcan(K*nif+I) for K = 0..FANOUT-1, in the kernel,
  # with echo (-e), so that canopy's sockets on vcan0.. receive it.
  ncap=$((nif * FANOUT))
  [ "$ncap" -le 8 ] || { fail "fan-out $FANOUT x $nif interfaces: canopy reads at most 8"; exit 1; }
  insmod "$SHARE/can-gw.ko" max_hops=1 || { fail "insmod can-gw.ko failed"; exit 1; }
  cp "$SHARE/cangw" /tmp/cangw && chmod 755 /tmp/cangw || { fail "no cangw on the share"; exit 1; }
  while read -r ifn; do
    ip link add dev "vsrc$n" type vcan && ip link set "vsrc$n" mtu 72 && ip link set "vsrc$n" up ||
      { fail "cannot create vsrc$n"; exit 1; }
    map="$map vsrc$n=$ifn"
    n=$((n + 1))
  done </tmp/bench.ifaces
  vcan_up "$ncap"
  i=0
  while [ $i -lt "$nif" ]; do
    k=0
    while [ $k -lt "$FANOUT" ]; do
      d=vcan$((k * nif + i))
      # one rule for classic frames, one for CAN FD frames
      /tmp/cangw -A -s "vsrc$i" -d "$d" -e && /tmp/cangw -A -s "vsrc$i" -d "$d" -e -X ||
        { fail "cangw vsrc$i -> $d failed"; exit 1; }
      k=$((k + 1))
    done
    i=$((i + 1))
  done
  /tmp/cangw -L >"$SHARE/out/cangw-rules.txt" 2>&1
fi
write_config /tmp/bench.json "{\"type\": \"socketcan\", \"interfaces\": [$(iflist "$ncap")], \"rcvbuf_bytes\": $RCVBUF}"
cp /tmp/bench.json "$SHARE/out/" 2>/dev/null
mark "SETUP interfaces=$ncap fanout=$FANOUT map=$(echo $map | tr ' ' ',') rcvbuf=$RCVBUF cpus=$(grep -c '^processor' /proc/cpuinfo)"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# CPU time of this shell's waited-for children (canplayer's, around it)
read -r self _ </proc/self/stat
child_ticks() { awk '{ print $16 + $17 }' "/proc/$self/stat"; }
# busy and idle jiffies of the whole guest
guest_cpu() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }
matches() { cat /proc/net/can/rcvlist_* 2>/dev/null | awk '$1 ~ /^vcan/ { s += $6 } END { print s + 0 }'; }
# frames the kernel's per-CPU input backlogs dropped (netif_rx)
softnet_drops() {
  s=0
  while read -r _ d _; do s=$((s + 0x$d)); done </proc/net/softnet_stat
  echo "$s"
}
vcan_drops() {
  s=0
  for d in /sys/class/net/vcan*/statistics; do
    s=$((s + $(cat "$d/rx_dropped") + $(cat "$d/tx_dropped")))
  done
  echo "$s"
}
secs() { awk -v a="$1" -v b="$2" -v hz="${3:-1}" 'BEGIN { printf "%.2f", (b - a) / hz }'; }

run_rate() { # RATE LOG
  rate=$1 log=$SHARE/$2
  rm -rf /var/spool/canopy /var/lib/canopy/bucket /tmp/trace.log
  mkdir -p /var/spool/canopy /var/lib/canopy
  cp "$log" /tmp/trace.log || { fail "rate $rate: cannot copy $log"; return 1; }
  played=$(wc -l </tmp/trace.log)
  frames=$((played * FANOUT)) # what canopy's sockets should receive
  span=$(awk 'NR == 1 { gsub(/[()]/, "", $1); a = $1 } END { gsub(/[()]/, "", $1); printf "%.3f", $1 - a }' /tmp/trace.log)
  clog=/var/log/canopy-bench-$rate.log
  canopy --config /tmp/bench.json >"$clog" 2>&1 </dev/null &
  pid=$!
  t=0
  while [ $t -lt 600 ]; do
    kill -0 "$pid" 2>/dev/null || break
    ok=1 n=0
    while [ $n -lt "$ncap" ]; do
      grep -q "vcan$n: receiving" "$clog" 2>/dev/null || ok=0
      n=$((n + 1))
    done
    [ $ok = 1 ] && break
    sleep 0.1
    t=$((t + 1))
  done
  if [ "$ok" != 1 ]; then
    fail "rate $rate: canopy not ready: $(tail -n 3 "$clog" | tr '\n' ' ')"
    stop_pid "$pid" 50
    return 1
  fi
  # canopy's idle cost over 4 s, from 1 s after it is ready (start-up
  # work, the first status file and state, is not idle cost)
  sleep 1
  c=$(cpu_ticks "$pid")
  sleep 4
  idle=$(($(cpu_ticks "$pid") - c))
  vd0=$(vcan_drops)
  sd0=$(softnet_drops)
  c0=$(cpu_ticks "$pid")
  set -- $(guest_cpu)
  b0=$1 i0=$2
  p0=$(child_ticks)
  t0=$(uptime_s)
  # shellcheck disable=SC2086  # $map is a word list
  canplayer -I /tmp/trace.log $map </dev/null >/var/log/canplayer-bench.log 2>&1
  prc=$?
  t1=$(uptime_s)
  p1=$(child_ticks)
  c1=$(cpu_ticks "$pid")
  set -- $(guest_cpu)
  b1=$1 i1=$2
  # Catch-up: while canopy reads a backlog it runs flat out (100 % of a
  # vCPU); idle it polls (5 to 20 % under emulation, by host load). It has
  # caught up once it used at most half a vCPU in 0.5 s, twice in a row.
  settled=0 quiet=0 prev=$c1 w=0
  while [ $w -lt $((SETTLE_MAX * 2)) ]; do
    sleep 0.5
    w=$((w + 1))
    cur=$(cpu_ticks "$pid")
    if [ $((cur - prev)) -le $((HZ / 4)) ]; then quiet=$((quiet + 1)); else quiet=0; fi
    prev=$cur
    [ $quiet -ge 2 ] && { settled=1; break; }
  done
  t2=$(uptime_s)
  c2=$(cpu_ticks "$pid")
  m=$(matches)
  vd1=$(vcan_drops)
  sd1=$(softnet_drops)
  stop_pid "$pid" 600
  st=$?
  summary=$(grep 'summary:' "$clog" | tail -n 1)
  f=$(value frames "$summary")
  [ -n "$f" ] || f=0
  busy=$(awk -v b="$((b1 - b0))" -v i="$((i1 - i0))" 'BEGIN { printf "%.0f", (b + i) ? 100 * b / (b + i) : 0 }')
  mark "RATE rate=$rate frames=$frames played=$played fanout=$FANOUT span_s=$span replay_s=$(secs "$t0" "$t1") canplayer=$prc" \
    "matches=$m captured=$f drops=$((m - f)) settled=$settled settle_s=$(secs "$t1" "$t2")" \
    "cpu_replay=$(secs "$c0" "$c1" $HZ) cpu_total=$(secs "$c0" "$c2" $HZ) busy=$busy idle_cpu_pct=$(secs 0 "$idle" 4) cpu_player=$(secs "$p0" "$p1" $HZ)" \
    "vcan_drops=$((vd1 - vd0)) softnet_drops=$((sd1 - sd0)) exit=$st malformed=$(value malformed "$summary")" \
    "kernel_dropped=$(value kernel_dropped "$summary")" \
    "stored_bytes=$(value stored_bytes "$summary") uploaded_bytes=$(value uploaded_bytes "$summary")"
  cp "$clog" /var/log/canplayer-bench.log "$SHARE/out/" 2>/dev/null
  # the gateway's counters (handled, dropped) since the start
  [ "$FANOUT" -gt 1 ] && /tmp/cangw -L >"$SHARE/out/cangw-$rate.txt" 2>&1
  rm -f /tmp/trace.log
  [ "$prc" = 0 ] && [ "$m" = "$frames" ] && [ "$f" = "$m" ] && [ $settled = 1 ]
}

bad=0
for spec in $specs; do
  if run_rate "${spec%%:*}" "${spec#*:}"; then bad=0; else bad=$((bad + 1)); fi
  if [ $bad -ge "$STOP_AFTER" ]; then
    mark "STOP after $bad rates in a row with drops or errors"
    break
  fi
done
mark "BENCH-END"
exit 0
