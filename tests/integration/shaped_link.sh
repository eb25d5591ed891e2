#!/usr/bin/env bash
# tests/integration/shaped_link.sh - a real trace uploaded over a bad link.
#
# The test makes two network namespaces of its own, "car" (the agent) and
# "server" (the S3 receiver, tests/servers/s3_receiver.py, TLS, SigV4
# checked by botocore), joined by a veth pair. The link between them:
#   - 64 kbit/s each way: tc's tbf qdisc on both ends;
#   - 10 % packet loss each way: an nftables rule in each namespace drops
#     every tenth packet at random (numgen random mod 10) coming in from
#     the veth;
#   - 300 ms of delay each way: this kernel has no netem, so the agent
#     talks to a relay in the server namespace (tests/servers/delay_relay.py)
#     that holds every byte 300 ms in each direction before passing it on
#     to the receiver on that namespace's loopback.
# The agent uploads the first lines of a real trace through it and must
# drain its spool; then the fault-matrix invariant: the frames decoded from
# the bucket equal the trace's (none missing, none twice) and no drop is
# reported. The loss rule's counter and the shaper's statistics show the
# faults were there.
#
# Needs root (network namespaces), ip and tc (iproute2) and nft (nftables);
# skips with a message otherwise.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR,
# CANOPY_DATA, CANOPY_TEST_TRACE, SHAPED_LINK_LINES (trace lines, 4000: a
# longer soak is e.g. SHAPED_LINK_LINES=20000 SHAPED_LINK_TIMEOUT=3600),
# SHAPED_LINK_TIMEOUT (seconds the agent may take, 600), SHAPED_LINK_KIND
# (s3 or https, default s3), S3_PYTHON.
#
# Exit status: 0 pass, 1 fail, 77 skip.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# The server's certificate must name the address the agent dials.
srv_ip=10.77.0.2 car_ip=10.77.0.1
TLS_SAN_LOCAL="IP:127.0.0.1,IP:$srv_ip,DNS:localhost"
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"
# shellcheck source=tests/lib/tls.sh
. "$repo/tests/lib/tls.sh"
# shellcheck source=tests/lib/receiver.sh
. "$repo/tests/lib/receiver.sh"

echo "=== shaped_link: 64 kbit/s, 10 % loss, 300 ms delay, in network namespaces"

receiver_require
lines=${SHAPED_LINK_LINES:-4000}
run_timeout=${SHAPED_LINK_TIMEOUT:-600}
kind=${SHAPED_LINK_KIND:-s3}
[[ "$(id -u)" == 0 ]] || t_skip "network namespaces need root"
for c in ip tc nft; do
  command -v "$c" >/dev/null 2>&1 ||
    t_skip "$c not installed (scripts/install-deps: iproute2, nftables)"
done

ns_car=canopy-car-$$ ns_srv=canopy-srv-$$
ns_cleanup() {
  ip netns del "$ns_car" 2>/dev/null || true
  ip netns del "$ns_srv" 2>/dev/null || true
}
t_on_exit ns_cleanup
if ! err=$(ip netns add "$ns_car" 2>&1); then
  t_skip "network namespaces not available here: $err"
fi
ip netns add "$ns_srv" || t_die "cannot create a second network namespace"
in_car() { ip netns exec "$ns_car" "$@"; }
in_srv() { ip netns exec "$ns_srv" "$@"; }
if ! err=$(ip link add veth-car netns "$ns_car" type veth peer name veth-srv netns "$ns_srv" 2>&1); then
  t_skip "no veth pairs here: $err"
fi
in_car ip addr add "$car_ip/24" dev veth-car
in_srv ip addr add "$srv_ip/24" dev veth-srv
for ns in "$ns_car" "$ns_srv"; do
  ip -n "$ns" link set lo up
done
in_car ip link set veth-car up
in_srv ip link set veth-srv up

# The link: 64 kbit/s each way (a queue of up to 1 s), 10 % random loss on
# what arrives over the veth, each way.
shape() {
  local ns=$1 dev=$2 err
  if ! err=$(ip netns exec "$ns" tc qdisc add dev "$dev" root tbf rate 64kbit burst 1600 \
    latency 1000ms 2>&1); then
    t_skip "tc tbf not available: $err"
  fi
  if ! err=$(ip netns exec "$ns" nft -f - 2>&1 <<EOF
table inet canopy_loss {
  chain in {
    type filter hook input priority 0; policy accept;
    iifname "$dev" numgen random mod 10 0 counter drop
  }
}
EOF
  ); then
    t_skip "nftables numgen not available in a namespace: $err"
  fi
}
shape "$ns_car" veth-car
shape "$ns_srv" veth-srv

work=''
t_mktemp_dir work shaped_link
t_info "work dir $work; namespaces $ns_car, $ns_srv"
tls_setup "$work/tls" >/dev/null || t_die "could not create the test certificates"
receiver_work "$lines"

rcv_wrap=(ip netns exec "$ns_srv")
extra=()
[[ "$kind" == https ]] && extra=(--anonymous)
receiver_start receiver "${extra[@]}"

relay_pid=''
relay_stop() {
  t_stop_pid "$relay_pid"
  relay_pid=''
}
t_on_exit relay_stop
ip netns exec "$ns_srv" "$py" "$repo/tests/servers/delay_relay.py" --listen "$srv_ip:0" \
  --target "127.0.0.1:$rcv_port" --delay-ms 300 --port-file "$work/relay.port" \
  --log "$work/relay.log" 2>"$work/relay.err" &
relay_pid=$!
t_wait_until 100 0.1 test -s "$work/relay.port" || {
  cat "$work/relay.err" >&2
  t_die "the delay relay did not start"
}
relay_port=$(cat "$work/relay.port")
t_info "agent -> $srv_ip:$relay_port (relay, +300 ms each way) -> receiver 127.0.0.1:$rcv_port"

if [[ "$kind" == s3 ]]; then
  ep="{\"url\": \"s3://$bucket/$prefix\", \"endpoint_url\": \"https://$srv_ip:$relay_port\",
    \"region\": \"us-east-1\", \"addressing\": \"path\", \"credentials_file\": \"$creds\",
    \"ca_file\": \"$TLS_CA\"}"
else
  ep="{\"url\": \"https://$srv_ip:$relay_port/$bucket/$prefix\", \"ca_file\": \"$TLS_CA\"}"
fi
spool=$work/spool
cat >"$work/config.json" <<EOF
{
  "vehicle_id": "$vehicle",
  "sources": [{"type": "candump", "path": "$trace", "pace": "max"}],
  "batch": {"max_bytes": 4096, "max_age_ms": 10000},
  "spool": {"dir": "$spool"},
  "endpoints": [$ep],
  "upload": {"backoff_base_ms": 200, "backoff_cap_ms": 5000,
             "stall_timeout_ms": 30000, "connect_timeout_ms": 20000}
}
EOF

rc=0
in_car timeout -k 10 "$run_timeout" "${emu[@]}" "$CANOPY_BIN" --config "$work/config.json" \
  --exit-when-drained >"$work/agent.out" 2>"$work/agent.err" </dev/null || rc=$?
if ((rc != 0)); then
  tail -n 20 "$work/agent.err"
  t_die "canopy exited $rc over the shaped link (timeout $run_timeout s)"
fi
t_pass "the agent drained its spool over the shaped link"

# The faults were there.
dropped_pkts() {
  ip netns exec "$1" nft list table inet canopy_loss | grep -o 'packets [0-9]*' | awk '{print $2}'
}
tbf_stats() { ip netns exec "$1" tc -s qdisc show dev "$2" | tr '\n' ' ' | grep -o 'Sent [0-9]* bytes [0-9]* pkt (dropped [0-9]*, overlimits [0-9]*'; }
lost_up=$(dropped_pkts "$ns_srv") lost_down=$(dropped_pkts "$ns_car")
up_stats=$(tbf_stats "$ns_car" veth-car)
overlimits=$(grep -o 'overlimits [0-9]*' <<<"$up_stats" | awk '{print $2}')
# The relay logs a connection when it ends: the agent's last one closes
# as it exits, and the relay passes the close on 300 ms later.
t_wait_until 100 0.1 test -s "$work/relay.log" || true
delayed=$("$py" -c 'import json,sys; print(sum(json.loads(l)["up"] for l in open(sys.argv[1])))' \
  "$work/relay.log" 2>/dev/null || echo 0)
# Some 200 packets cross the link: the chance that 10 % loss drops none of
# them is below 1e-9.
if ((lost_up + lost_down > 0)); then
  t_pass "packets lost on the link: $lost_up toward the server, $lost_down toward the car"
else
  t_fail "the loss rules dropped nothing ($lost_up up, $lost_down down)"
fi
if ((overlimits > 0)); then
  t_pass "the 64 kbit/s shaper held packets back (car side: $up_stats)"
else
  t_fail "the shaper never throttled ($up_stats)"
fi
if ((delayed > 0)); then
  t_pass "the relay delayed $delayed bytes of requests by 300 ms ($(wc -l <"$work/relay.log") connection(s))"
else
  t_fail "nothing went through the delay relay"
fi

# The invariant.
objects=$rcv_root/$bucket/$prefix/$vehicle
n_spool=$({ find "$spool" -name '*.cnp' 2>/dev/null || true; } | wc -l)
if ! "${emu[@]}" "$CANOPY_DECODE_BIN" --format candump "$objects" >"$work/bucket.log" \
  2>"$work/decode.err"; then
  t_die "canopy-decode of the bucket failed: $(head -n 2 "$work/decode.err")"
fi
drops=$("$py" "$repo/tests/tools/manifest_drops.py" "$objects")
sort "$work/bucket.log" >"$work/got.sorted"
if cmp -s "$work/trace.sorted" "$work/got.sorted" && ((n_spool == 0)) && [[ "$drops" == "0 0" ]]; then
  t_pass "invariant: $(wc -l <"$work/bucket.log") frames in the bucket ($(find "$objects" -name '*.cnp' | wc -l) batches) = the trace, none missing, none twice, no drop reported; spool empty"
else
  t_fail "invariant broken: $(comm -23 "$work/trace.sorted" "$work/got.sorted" | wc -l) frames missing, $(comm -13 "$work/trace.sorted" "$work/got.sorted" | wc -l) extra; $n_spool batch(es) left in the spool; drops reported: $drops"
fi
n_fail=$(grep -c 'batch kept in the spool' "$work/agent.err" || true)
t_info "$(rlog_count 'e.get("op") == "put_object"') PutObject request(s) reached the receiver; $n_fail failed attempt(s) retried by the agent"

t_finish "shaped_link: all checks passed"
