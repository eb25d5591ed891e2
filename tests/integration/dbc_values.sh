#!/usr/bin/env bash
# tests/integration/dbc_values.sh - DBC value conformance: every frame of
# every trace in $CANOPY_DATA/traces that its DBC covers (NAME.dbc for can0,
# NAME.can1.dbc for can1) is decoded by canopy-dbc and, independently, by
# Debian's python3-canmatrix (tests/tools/decode_canmatrix.py); the values
# must be equal for integers and within 1e-9 relative otherwise
# (tests/tools/compare_decoded.py). Prints frames and signals compared per
# trace and interface. The DBCs load in canopy's default (lenient) mode, as
# the agent loads them.
#
# canopy's own output must also be byte for byte what it is on x86_64 (the
# digests below, of the traces pinned in MANIFEST.md): run under qemu in
# the aarch64 and armhf builds, this proves that every architecture decodes
# the same doubles. A change to the decoder's output updates them.
#
# Environment: CANOPY_BIN (canopy-dbc is taken from the same folder) or
# CANOPY_DBC_BIN, CANOPY_EMULATOR (command prefix for cross builds),
# CANOPY_DATA (default ../shared/data beside the repository), CANOPY_PYTHON
# (a python3 with canmatrix; default /usr/bin/python3), CANOPY_TEST_KEEP=1
# keeps the temp dir.
# Exit status: 0 pass, 1 fail, 77 skip (no data, or no canmatrix).
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== dbc_values: canopy's DBC decoding against python3-canmatrix on the shared traces"
if [[ -z "${CANOPY_DBC_BIN:-}" ]]; then
  : "${CANOPY_BIN:?set CANOPY_BIN or CANOPY_DBC_BIN}"
  CANOPY_DBC_BIN=$(dirname -- "$CANOPY_BIN")/canopy-dbc
fi
[[ -x "$CANOPY_DBC_BIN" ]] || t_die "no canopy-dbc at $CANOPY_DBC_BIN"
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
py=${CANOPY_PYTHON:-/usr/bin/python3}
data=${CANOPY_DATA:-$repo/../shared/data}
[[ -d "$data/traces" ]] || t_skip "no traces in $data (set CANOPY_DATA)"
"$py" -c 'import canmatrix.formats' 2>/dev/null ||
  t_skip "$py has no canmatrix (apt-get install python3-canmatrix)"

# sha256 of `canopy-dbc --interface IF DBC LOG` on x86_64, per trace and IF
declare -A digest=(
  [honda_civic_type_r_2019.can0]=5ad9966cf98e5ee499a2df501673ddc9e71a175302c2de50af7b2a56a59bbc0d
  [hyundai_kona_ev_2019.can0]=5075aad7849395fd861eee6fd69b4738aa23800a50d7b0b47b9ae542e8b60438
  [hyundai_kona_ev_2019.can1]=38331c1424c25d880029b5ca283cfc47e8765e8b4dc38c5d6fdd70e24a440d97
  [j1939_stationary_canedge.can0]=8876f57522f4c1d72be61d918aa0da6f5c4d5c9af62fb2c084df6daba8000308
  [nissan_leaf_2019_uds_canedge.can0]=46637993fe0e22c22f44dcd13759a9695fa6f0c5733fe85004fd8e4521a92904
  [nissan_leaf_2019_uds_canedge.can1]=1c3d1ed66e8fcf0032192690a945271cec557e4f8261ef057bd0c282867731a9
  [toyota_rav4_2017_comma2k19.can0]=fc87f9cb2b6cb69a78af4e5de01037f72fe273fe57f2b41d07c7f8dae4cd10e9
  [toyota_rav4_2017_comma2k19.can1]=f1547295300c0d6526fdc795cb86e667428f9a28b09fcf123faae279d46f3b66
)

t_mktemp_dir work dbc_values
shopt -s nullglob
pairs=()
for trace in "$data"/traces/*.log; do
  name=$(basename "$trace" .log)
  [[ -f "$data/traces/$name.dbc" ]] && pairs+=("$name can0 $name.dbc")
  [[ -f "$data/traces/$name.can1.dbc" ]] && pairs+=("$name can1 $name.can1.dbc")
done
[[ ${#pairs[@]} -gt 0 ]] || t_skip "no trace with a DBC in $data/traces"

# canopy first (fast), then the reference decoders two at a time.
for pair in "${pairs[@]}"; do
  read -r name ifname dbc <<<"$pair"
  if ! "${emu[@]}" "$CANOPY_DBC_BIN" --quiet --interface "$ifname" "$data/traces/$dbc" \
      "$data/traces/$name.log" >"$work/$name.$ifname.canopy.csv" 2>"$work/$name.$ifname.canopy.err"; then
    t_fail "$name $ifname: canopy-dbc failed: $(tail -n 3 "$work/$name.$ifname.canopy.err")"
    continue
  fi
  want=${digest[$name.$ifname]:-}
  got=$(sha256sum <"$work/$name.$ifname.canopy.csv" | cut -c1-64)
  if [[ -z "$want" ]]; then
    t_info "$name $ifname: no recorded digest (a new trace?): $got"
  elif [[ "$got" == "$want" ]]; then
    t_pass "$name $ifname: canopy's output is byte for byte the x86_64 one"
  else
    t_fail "$name $ifname: canopy's output differs from the x86_64 digest (got $got)"
  fi
done
pids=()
for pair in "${pairs[@]}"; do
  read -r name ifname dbc <<<"$pair"
  while (($(jobs -rp | wc -l) >= 2)); do wait -n || true; done
  "$py" "$repo/tests/tools/decode_canmatrix.py" --interface "$ifname" "$data/traces/$dbc" \
    "$data/traces/$name.log" >"$work/$name.$ifname.ref.csv" 2>"$work/$name.$ifname.ref.err" &
  pids+=($!)
done
i=0
for pair in "${pairs[@]}"; do
  read -r name ifname dbc <<<"$pair"
  if ! wait "${pids[i]}"; then
    t_fail "$name $ifname: decode_canmatrix.py failed: $(tail -n 3 "$work/$name.$ifname.ref.err")"
  fi
  i=$((i + 1))
done

total_frames=0 total_signals=0
for pair in "${pairs[@]}"; do
  read -r name ifname dbc <<<"$pair"
  [[ -s "$work/$name.$ifname.canopy.csv" && -s "$work/$name.$ifname.ref.csv" ]] || continue
  t_info "$dbc: $(sed -n 's/^canopy-dbc: [^:]*: //p' "$work/$name.$ifname.canopy.err")"
  if out=$("$py" "$repo/tests/tools/compare_decoded.py" "$name $ifname" \
      "$work/$name.$ifname.canopy.csv" "$work/$name.$ifname.ref.csv"); then
    t_pass "$out"
    read -r f s <<<"$(sed -n 's/.*: frames \([0-9]*\), signals \([0-9]*\) compared.*/\1 \2/p' <<<"$out")"
    total_frames=$((total_frames + f)) total_signals=$((total_signals + s))
  else
    t_fail "$out"
  fi
done
t_finish "decoded values equal canmatrix's: $total_frames frames, $total_signals signals in ${#pairs[@]} trace/interface pairs"
