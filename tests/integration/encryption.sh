#!/usr/bin/env bash
# tests/integration/encryption.sh - encryption at rest end to end: an agent
# with encrypt_to keeps nothing of the trace in clear in its spool (no
# candump text, no payload bytes, no zlib stream that inflates); the
# receiver's canopy-decode --decrypt-key gives the trace back byte for byte,
# and an independent decryptor written from docs/FORMAT.md
# (tests/tools/cnpb_decrypt.py, python3-cryptography) agrees; signatures and
# the chain check without the key; the wrong key and a tampered ciphertext
# are refused with messages that say which; bad encrypt_to files are named.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR,
# CANOPY_DATA (a real trace is scanned too when present).
# Exit status: 0 pass, 1 fail, 77 skip.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== encryption: encrypt_to, --decrypt-key, nothing in clear on flash"
t_require_bins CANOPY_BIN CANOPY_DECODE_BIN
py=/usr/bin/python3
[[ -x $py ]] || py=$(command -v python3)
"$py" -c 'import cryptography' 2>/dev/null || t_skip "python3-cryptography is not installed"
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
t_mktemp_dir w encryption
keys=$repo/tests/data/keys
data=${CANOPY_DATA:-$repo/../shared/data}

canopy() { "${emu[@]}" "$CANOPY_BIN" "$@"; }
decode() { "${emu[@]}" "$CANOPY_DECODE_BIN" "$@"; }

# A trace with distinctive payloads on two interfaces.
for i in $(seq 0 1999); do
  printf '(1700000000.%06d) can0 %03X#C0FFEE%02X%02X%02X5A17\n' $((i * 400)) $((0x200 + i % 11)) \
    $((i % 256)) $((i / 256)) $((i % 13))
  printf '(1700000000.%06d) can1 18DA%02XF1#0%d62F190%02X%02X\n' $((i * 400 + 200)) $((i % 5)) $((i % 8)) \
    $((i % 97)) $((i % 256))
done >"$w/trace.log"
traces=("$w/trace.log")
real=$data/traces/honda_civic_type_r_2019.log
if [[ -r $real ]]; then
  head -n 20000 "$real" >"$w/real.log"
  traces+=("$w/real.log")
else
  t_info "no shared trace at $real: scanning the synthetic trace only"
fi

install -m 600 "$keys/test-only-p256-a.key.pem" "$w/device.key.pem"
install -m 600 "$keys/test-only-p256-b.key.pem" "$w/receiver.key.pem"
install -m 600 "$keys/test-only-p256-a.key.pem" "$w/other.key.pem"
receiver_pub=$keys/test-only-p256-b.pub.pem
device_pub=$keys/test-only-p256-a.pub.pem

config() { # config FILE TRACE SPOOL URL [EXTRA]
  cat >"$1" <<JSON
{
  "vehicle_id": "enc-1",
  "sources": [{"type": "candump", "path": "$2", "pace": "max"}],
  "batch": {"max_bytes": 8192, "max_age_ms": 1000},
  "spool": {"dir": "$3", "max_bytes": 16777216},
  "endpoints": [{"url": "$4"}],
  "signing_key": "$w/device.key.pem",
  "encrypt_to": "${5:-$receiver_pub}"
}
JSON
}

n=0
for trace in "${traces[@]}"; do
  n=$((n + 1))
  # 1. The endpoint cannot store: every batch stays in the spool.
  touch "$w/not-a-dir"
  config "$w/stuck$n.json" "$trace" "$w/spool$n" "file://$w/not-a-dir/bucket"
  # It reads the whole trace, then is stopped (SIGTERM seals the open
  # batch): wait for the source to finish, however slow the emulator is.
  "${emu[@]}" "$CANOPY_BIN" --config "$w/stuck$n.json" --exit-when-drained \
    >"$w/stuck$n.log" 2>&1 &
  pid=$!
  t_wait_until 600 0.5 grep -q "source 0 (.*) finished" "$w/stuck$n.log" ||
    t_fail "$(basename "$trace"): the source did not finish within 300 s"
  kill -TERM "$pid" 2>/dev/null || true
  t_wait_pid_exit "$pid" 600 || { kill -KILL "$pid" 2>/dev/null || true; t_fail "$(basename "$trace"): no exit 60 s after SIGTERM"; }
  wait "$pid" 2>/dev/null || true
  spooled=$(find "$w/spool$n" -name '*.cnp' | wc -l)
  if [[ $spooled -ge 2 ]] && grep -q "encrypting batches to the P-256 public key" "$w/stuck$n.log"; then
    t_pass "$(basename "$trace"): $spooled encrypted batches kept in the spool"
  else
    t_fail "$(basename "$trace"): expected encrypted batches in the spool, found $spooled: $(tail -n 3 "$w/stuck$n.log")"
  fi
  if "$py" "$repo/tests/tools/plaintext_scan.py" "$trace" "$w/spool$n" >"$w/scan$n.txt"; then
    t_pass "$(basename "$trace"): no plaintext anywhere in the spool ($(tail -n 1 "$w/scan$n.txt"))"
  else
    t_fail "$(basename "$trace"): plaintext in the spool: $(head -n 3 "$w/scan$n.txt")"
  fi
  # The control: the same trace unencrypted is found by the scan.
  if [[ $n -eq 1 ]]; then
    sed '/encrypt_to/d; s/device\.key\.pem",/device.key.pem"/' "$w/stuck$n.json" >"$w/clear.json"
    sed -i "s|$w/spool$n|$w/spool-clear|" "$w/clear.json"
    timeout -s TERM 10 "${emu[@]}" "$CANOPY_BIN" --config "$w/clear.json" --exit-when-drained \
      >"$w/clear.log" 2>&1 || true
    if ! "$py" "$repo/tests/tools/plaintext_scan.py" "$trace" "$w/spool-clear" >"$w/scan-clear.txt"; then
      t_pass "control: the scan finds the trace in an unencrypted spool"
    else
      t_fail "control: the scan finds nothing in an unencrypted spool: $(tail -n 1 "$w/scan-clear.txt")"
    fi
  fi

  # A crash (SIGKILL) with the batch still open: with encrypt_to the frame
  # journal is off unless asked for, so nothing is left in clear; asked for,
  # it is (the control that the scan would see it).
  if [[ $n -eq 1 ]]; then
    for j in default true; do
      config "$w/kill-$j.json" "$trace" "$w/spool-kill-$j" "file://$w/not-a-dir/bucket"
      [[ $j == true ]] && sed -i "s|\"dir\": \"$w/spool-kill-$j\"|&, \"journal\": true|" "$w/kill-$j.json"
      # One open batch, read at a twentieth of the recorded speed (16 s):
      # killed once a few hundred frames are in.
      sed -i 's|"max_bytes": 8192, "max_age_ms": 1000|"max_bytes": 262144, "max_age_ms": 600000|; s|"pace": "max"|"pace": 0.05|' "$w/kill-$j.json"
      "${emu[@]}" "$CANOPY_BIN" --config "$w/kill-$j.json" >"$w/kill-$j.log" 2>&1 &
      pid=$!
      t_wait_until 300 0.2 grep -q "source 0 (.*) resum\|encrypting batches" "$w/kill-$j.log" || true
      sleep 4
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      if "$py" "$repo/tests/tools/plaintext_scan.py" "$trace" "$w/spool-kill-$j" >"$w/scan-kill-$j.txt"; then
        found=no
      else
        found=yes
      fi
      if [[ $j == default && $found == no ]] && grep -q "frame journal off with encrypt_to" "$w/kill-$j.log"; then
        t_pass "killed with the batch open: journal off by default, nothing in clear"
      elif [[ $j == true && $found == yes ]] && grep -q "kept in clear in the spool's journal" "$w/kill-$j.log"; then
        t_pass "control: journal asked for by name is warned about and seen by the scan"
      else
        t_fail "journal=$j: plaintext found=$found: $(head -n 2 "$w/scan-kill-$j.txt"); $(grep -i journal "$w/kill-$j.log" | head -n 2)"
      fi
    done
  fi

  # 2. A good endpoint: everything delivered; only the receiver's key reads it.
  : >"$w/empty.log"
  config "$w/drain$n.json" "$w/empty.log" "$w/spool$n" "file://$w/bucket$n"
  t_expect "$(basename "$trace"): restart delivers the spool" 0 "summary: .*uploaded_batches=$spooled " \
    -- canopy --config "$w/drain$n.json" --exit-when-drained
  if decode --decrypt-key "$w/receiver.key.pem" --verify-key "$device_pub" "$w/bucket$n" |
    cmp -s - "$trace"; then
    t_pass "$(basename "$trace"): --decrypt-key gives the trace back byte for byte"
  else
    t_fail "$(basename "$trace"): decrypted bucket differs from the trace"
  fi
done

b=$w/bucket1
t_expect "the chain checks without the private key" 0 "OK" -- decode --check --verify-key "$device_pub" "$b"
t_expect "frames need the private key" 1 "is encrypted: it needs the receiver's private key" -- decode "$b"
t_expect "the wrong private key is named" 1 "cannot decrypt: section 0: encrypted to another key" \
  -- decode --decrypt-key "$w/other.key.pem" "$b"
install -m 644 "$keys/test-only-p256-b.key.pem" "$w/open.key.pem"
t_expect "a readable private key is refused" 2 "mode 0644 is too open" \
  -- decode --decrypt-key "$w/open.key.pem" "$b"

# An independent decryptor written from docs/FORMAT.md agrees.
mkdir "$w/plain"
mapfile -t files < <(find "$b" -name '*.cnp' | sort)
if "$py" "$repo/tests/tools/cnpb_decrypt.py" "$w/receiver.key.pem" "$w/plain" "${files[@]}" &&
  "$py" "$repo/tests/tools/cnpb_reference.py" "$w/plain" | cmp -s - "$w/trace.log"; then
  t_pass "tests/tools/cnpb_decrypt.py (python3-cryptography) decrypts to the trace"
else
  t_fail "the independent decryptor disagrees"
fi

# Tampered ciphertext (the digest recomputed, so only decryption sees it).
mkdir "$w/tampered"
cp "${files[0]}" "$w/tampered/x.cnp"
"$py" - "$w/tampered/x.cnp" <<'PY'
import hashlib, struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
m = struct.unpack_from("<I", b, 8)[0]
b[16 + m + 16 + 73 + 10] ^= 0x01
b[-32:] = hashlib.sha256(bytes(b[:-32])).digest()
open(p, "wb").write(b)
PY
t_expect "tampered ciphertext is refused" 1 "x.cnp: cannot decrypt: section 0: authentication failed" \
  -- decode --decrypt-key "$w/receiver.key.pem" "$w/tampered"
t_expect "tampered ciphertext breaks the signature" 1 "x.cnp: signature does not match" \
  -- decode --verify-key "$device_pub" "$w/tampered"

# Bad encrypt_to files: named, the agent does not start.
config "$w/missing.json" "$w/trace.log" "$w/spool-m" "file://$w/bucket-m" "$w/no-such.pem"
t_expect "missing encrypt_to is named" 1 "encrypt_to $w/no-such.pem: cannot open" \
  -- canopy --config "$w/missing.json" --exit-when-drained
config "$w/priv.json" "$w/trace.log" "$w/spool-p" "file://$w/bucket-p" "$w/receiver.key.pem"
t_expect "a private key as encrypt_to is refused" 1 "encrypt_to .*this is a private key" \
  -- canopy --config "$w/priv.json" --exit-when-drained
[[ ! -e $w/spool-m && ! -e $w/spool-p ]] && t_pass "no spool was started with a bad encrypt_to" ||
  t_fail "a spool was created despite a bad encrypt_to"

t_finish
