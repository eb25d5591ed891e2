#!/usr/bin/env bash
# tests/integration/sim_dbc.sh - every frame the simulator sends decodes with
# the project's own DBC files (tools/sim/ev.dbc, tools/sim/ice.dbc), checked
# by an independent decoder: Debian's python3-canmatrix.
#
# For each profile: the committed DBC equals `canopy-sim --dbc`; then on a
# generated log every identifier is in the DBC, on the interface its SimBus
# attribute names, with the DBC's length and CAN FD format; every signal of
# every frame decodes without error and inside the DBC's [min, max]; every
# message of the DBC is sent; counters roll by one; checksums verify; speeds
# stay within 0..200 km/h and cell voltages within 2.5..4.3 V; the wheel
# speeds agree with the vehicle speed and the cells add up to the pack
# voltage.
#
# Environment: CANOPY_SIM_BIN (required), CANOPY_EMULATOR (command prefix
# for cross builds), CANOPY_TEST_KEEP=1 keeps the temp dir.
# Exit status: 0 pass, 1 fail, 77 skip (python3-canmatrix not installed).
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== sim_dbc: simulator traffic against its own DBC files (python3-canmatrix)"
: "${CANOPY_SIM_BIN:?}"
read -r -a emu <<<"${CANOPY_EMULATOR:-}"

# Debian's interpreter first: a python3 earlier in PATH (pyenv, venv) may
# not see Debian's packages.
py=""
for p in /usr/bin/python3 python3; do
  if command -v "$p" >/dev/null 2>&1 &&
     "$p" -c 'import logging; logging.disable(logging.CRITICAL); import canmatrix.formats' \
       >/dev/null 2>&1; then
    py=$p
    break
  fi
done
[[ -n "$py" ]] || t_skip "python3-canmatrix is not installed (apt-get install python3-canmatrix)"

t_mktemp_dir work sim-dbc
cat >"$work/check.py" <<'PY'
import logging
import sys

logging.disable(logging.CRITICAL)  # canmatrix chats about formats it lacks
import canmatrix.formats  # noqa: E402


def crc8_j1850(data):
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1D) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc ^ 0xFF


dbc_path, log_path, profile = sys.argv[1:4]
db = canmatrix.formats.loadp_flat(dbc_path)
frames = {(f.arbitration_id.id, f.arbitration_id.extended): f for f in db.frames}
errors = []


def err(msg):
    if len(errors) < 20:
        print("  error:", msg)
    errors.append(msg)


seen, last_counter, cells = set(), {}, {}
n = decoded_signals = pack_checks = wheel_checks = 0
speed_max = 0.0
vmin, vmax = 99.0, 0.0
vehicle_speed = None
for line in open(log_path):
    n += 1
    ts, iface, rest = line.split()
    fd = "##" in rest
    idhex, d = rest.split("##" if fd else "#")
    data = bytes.fromhex(d[1:] if fd else d)
    cid, ext = int(idhex, 16), len(idhex) == 8
    fr = frames.get((cid, ext))
    if fr is None:
        err(f"line {n}: id {idhex} on {iface} is not in the DBC")
        continue
    seen.add((cid, ext))
    if fr.size != len(data):
        err(f"line {n}: {fr.name}: {len(data)} bytes, the DBC says {fr.size}")
        continue
    if bool(fr.is_fd) != fd:
        err(f"line {n}: {fr.name}: CAN FD {fd}, the DBC says {bool(fr.is_fd)}")
    if fr.attributes.get("SimBus") != iface:
        err(f"line {n}: {fr.name} on {iface}, the DBC says {fr.attributes.get('SimBus')}")
    try:
        dec = fr.decode(data)
    except Exception as e:  # any decoding error fails the test
        err(f"line {n}: {fr.name}: decoding failed: {e!r}")
        continue
    for name, ds in dec.items():
        decoded_signals += 1
        sig = ds.signal
        phys = float(ds.phys_value)
        if not (float(sig.min) - 1e-9 <= phys <= float(sig.max) + 1e-9):
            err(f"line {n}: {fr.name}.{name} = {phys} outside [{sig.min}, {sig.max}]")
        if name.endswith("_Counter"):
            raw = int(ds.raw_value)
            key = (iface, cid)
            if key in last_counter and raw != (last_counter[key] + 1) % (1 << sig.size):
                err(f"line {n}: {fr.name}: counter {raw} after {last_counter[key]}")
            last_counter[key] = raw
        elif name.endswith("_CRC") or name.endswith("_Checksum"):
            k = sig.start_bit // 8  # one whole byte, Intel or Motorola
            others = bytes(b for i, b in enumerate(data) if i != k)
            idb = bytes([cid & 0xFF, (cid >> 8) & 0xFF])
            want = (crc8_j1850(idb + others) if name.endswith("_CRC")
                    else (len(data) + sum(idb) + sum(others)) & 0xFF)
            if data[k] != want:
                err(f"line {n}: {fr.name}: checksum {data[k]:02X}, expected {want:02X}")
        elif name.endswith("VehicleSpeed") or name[-12:-2].endswith("WheelSpeed"):
            if not 0 <= phys <= 200:
                err(f"line {n}: {fr.name}.{name} = {phys} km/h, not within 0..200")
            speed_max = max(speed_max, phys)
            if name in ("ESP_VehicleSpeed", "ABS_VehicleSpeed"):
                vehicle_speed = phys
        elif name.startswith("BMS_Cell") and name.endswith("_V"):
            if not 2.5 <= phys <= 4.3:
                err(f"line {n}: {name} = {phys} V, not within 2.5..4.3")
            vmin, vmax = min(vmin, phys), max(vmax, phys)
            cells[name] = phys
    if fr.name in ("ESP_WheelSpeeds", "ABS_WheelSpeeds") and vehicle_speed is not None:
        wheels = [float(v.phys_value) for k, v in dec.items()
                  if k[-12:-2].endswith("WheelSpeed")]  # ..._WheelSpeedFL etc.
        if abs(sum(wheels) / len(wheels) - vehicle_speed) > 3:
            err(f"line {n}: wheel speeds {wheels} against vehicle speed {vehicle_speed}")
        wheel_checks += 1
    if fr.name == "BMS_PackStatus" and len(cells) == 108:
        pack = float(dec["BMS_PackVoltage"].phys_value)
        total = sum(cells.values())
        if abs(pack - total) > 0.02 * total:
            err(f"line {n}: pack voltage {pack} V, the cells add up to {total:.2f} V")
        pack_checks += 1

missing = sorted(f.name for k, f in frames.items() if k not in seen)
if missing:
    err(f"{len(missing)} DBC messages never sent: {', '.join(missing[:8])}")
if speed_max < 10:
    err(f"the car never drove faster than {speed_max} km/h: the speed checks saw nothing")
if wheel_checks == 0:
    err("no wheel speed frame checked")
if profile == "ev" and (pack_checks == 0 or vmax == 0):
    err("no cell voltage or pack voltage checked")
print(f"  {profile}: {n} frames, {decoded_signals} signals decoded, {len(seen)} of "
      f"{len(frames)} messages seen, top speed {speed_max:.1f} km/h"
      + (f", cells {vmin:.3f}..{vmax:.3f} V, {pack_checks} pack checks" if vmax else "")
      + f", {len(errors)} errors")
sys.exit(1 if errors else 0)
PY

for profile in ev ice; do
  case $profile in
    ev) duration=20 ;;   # about 62,000 frames
    ice) duration=120 ;; # about 55,000 frames
  esac
  if ! "${emu[@]}" "$CANOPY_SIM_BIN" --profile "$profile" --dbc --out "$work/$profile.dbc"; then
    t_fail "$profile: canopy-sim --dbc failed"
    continue
  fi
  if cmp -s "$work/$profile.dbc" "$repo/tools/sim/$profile.dbc"; then
    t_pass "$profile: tools/sim/$profile.dbc is what the model describes"
  else
    t_fail "$profile: tools/sim/$profile.dbc differs from canopy-sim --profile $profile --dbc"
  fi
  if ! "${emu[@]}" "$CANOPY_SIM_BIN" --profile "$profile" --seed 3 --duration "$duration" \
      --out "$work/$profile.log"; then
    t_fail "$profile: canopy-sim failed"
    continue
  fi
  if "$py" "$work/check.py" "$repo/tools/sim/$profile.dbc" "$work/$profile.log" "$profile"; then
    t_pass "$profile: every frame of $duration s decodes with tools/sim/$profile.dbc"
  else
    t_fail "$profile: frames that do not match tools/sim/$profile.dbc (above)"
  fi
done
t_finish
