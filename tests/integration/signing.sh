#!/usr/bin/env bash
# tests/integration/signing.sh - signed batches end to end, and what
# canopy-decode tells a receiver: the agent signs with signing_key;
# canopy-decode --verify-key accepts that key's batches and refuses
# unsigned, tampered and otherwise signed ones by file; --check reports
# gaps, duplicates and breaks in the chain; csv and jsonl output.
#
# Environment: CANOPY_BIN, CANOPY_DECODE_BIN (required), CANOPY_EMULATOR.
# Needs python3 (batch surgery) and openssl (an independent check of the
# signature as docs/FORMAT.md specifies it).
# Exit status: 0 pass, 1 fail, 77 skip.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== signing: signing_key, --verify-key, --check, csv and jsonl"
: "${CANOPY_BIN:?}" "${CANOPY_DECODE_BIN:?}"
command -v python3 >/dev/null || t_skip "python3 is not installed"
command -v openssl >/dev/null || t_skip "openssl is not installed"
read -r -a emu <<<"${CANOPY_EMULATOR:-}"
t_mktemp_dir w signing
keys=$repo/tests/data/keys

canopy() { "${emu[@]}" "$CANOPY_BIN" "$@"; }
decode() { "${emu[@]}" "$CANOPY_DECODE_BIN" "$@"; }


# trace FILE SALT: 600 frames on two interfaces, content varied by SALT.
trace() {
  local i
  for i in $(seq 0 299); do
    printf '(1700000000.%06d) can0 %03X#%02X%02X%02X00DEADBEEF\n' $((i * 1000)) $((0x100 + i % 7)) \
      $((i % 256)) $((i / 256)) "$2"
    printf '(1700000000.%06d) can1 18FEF1%02X#%02X\n' $((i * 1000 + 500)) $((i % 3)) $((i % 256))
  done >"$1"
}
trace "$w/trace.log" 0
trace "$w/trace-b.log" 1

config() { # config FILE TRACE SPOOL BUCKET [EXTRA]
  cat >"$1" <<JSON
{
  "vehicle_id": "sig-1",
  "sources": [{"type": "candump", "path": "$2", "pace": "max"}],
  "batch": {"max_bytes": 4096, "max_age_ms": 1000},
  "spool": {"dir": "$3", "max_bytes": 1048576},
  "endpoints": [{"url": "file://$4"}]${5:-}
}
JSON
}

# Git checks keys out 0644: the agent needs a private copy.
install -m 600 "$keys/test-only-p256-a.key.pem" "$w/device.key.pem"
install -m 644 "$keys/test-only-p256-a.key.pem" "$w/open.key.pem"
install -m 600 "$keys/test-only-p384.key.pem" "$w/p384.key.pem"
pub=$keys/test-only-p256-a.pub.pem
other=$keys/test-only-p256-b.pub.pem

# --- the agent signs -----------------------------------------------------------
config "$w/signed.json" "$w/trace.log" "$w/spool" "$w/bucket" ", \"signing_key\": \"device.key.pem\""
t_expect "agent with signing_key runs" 0 "signing batches with the P-256 key .*device.key.pem" \
  -- canopy --config "$w/signed.json" --exit-when-drained
mapfile -t objs < <(find "$w/bucket" -name '*.cnp' | sort)
n=${#objs[@]}
[[ $n -ge 4 ]] && t_pass "agent made $n batches" || t_fail "expected at least 4 batches, got $n"
flags=$(python3 - "${objs[@]}" <<'PY'
import sys
print(" ".join(str(open(p, "rb").read(8)[5:7].hex()) for p in sys.argv[1:]))
PY
)
if [[ -z "$(tr ' ' '\n' <<<"$flags" | grep -vx 0301 || true)" ]]; then
  t_pass "every batch is version 1.3 (codec 5) with the signed flag"
else
  t_fail "minor/flags bytes: $flags"
fi

# The signature as FORMAT.md specifies it, checked by OpenSSL: the DER in
# the block signs the SHA-256 of every byte before the block.
python3 - "${objs[0]}" "$w/signed-part.bin" "$w/sig.der" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
mlen, nsec = struct.unpack_from("<II", b, 8)
off = 16 + mlen
for _ in range(nsec):
    off += 16 + struct.unpack_from("<I", b, off + 12)[0]
typ, res, siglen = struct.unpack_from("<BBH", b, off)
assert typ == 1 and res == 0 and off + 4 + siglen == len(b) - 32, (typ, res, siglen)
open(sys.argv[2], "wb").write(b[:off])
open(sys.argv[3], "wb").write(b[off + 4:off + 4 + siglen])
PY
if openssl dgst -sha256 -verify "$pub" -signature "$w/sig.der" "$w/signed-part.bin" | grep -q "Verified OK"; then
  t_pass "OpenSSL verifies the signature block as specified"
else
  t_fail "OpenSSL does not verify the signature block"
fi

# --- canopy-decode --verify-key -------------------------------------------------------
if decode --verify-key "$pub" "$w/bucket" | cmp -s - "$w/trace.log"; then
  t_pass "--verify-key with the device's public key: the trace byte for byte"
else
  t_fail "--verify-key with the right key did not give back the trace"
fi
t_expect "--verify-key with the right key exits 0" 0 "" -- decode --verify-key "$pub" --check "$w/bucket"
out=$(decode --verify-key "$other" "$w/bucket" 2>&1 >/dev/null) && rc=0 || rc=$?
named=$(grep -c "signature does not match this key (tampered with after signing, or signed by another key); key .*test-only-p256-b.pub.pem" <<<"$out" || true)
if [[ $rc -eq 1 && $named -eq $n ]]; then
  t_pass "another key: every one of the $n batches refused by name, exit 1"
else
  t_fail "another key: exit $rc, $named of $n refused: $(head -c 400 <<<"$out")"
fi
t_expect "--verify-key with a private key file is a usage error" 2 "this is a private key" \
  -- decode --verify-key "$keys/test-only-p256-a.key.pem" "$w/bucket"
t_expect "--verify-key with a P-384 key is a usage error" 2 "secp384r1" \
  -- decode --verify-key "$keys/test-only-p384.pub.pem" "$w/bucket"
t_expect "--verify-key with a missing file" 2 "nope.pem: cannot open: No such file" \
  -- decode --verify-key "$w/nope.pem" "$w/bucket"

# Unsigned batches, when a key is required.
config "$w/unsigned.json" "$w/trace.log" "$w/spool-u" "$w/bucket-u"
canopy --config "$w/unsigned.json" --exit-when-drained >/dev/null 2>&1
t_expect "unsigned batches readable without a key" 0 "" -- decode --check "$w/bucket-u"
t_expect "unsigned batch refused with a key" 1 \
  "\.cnp: unsigned: the batch carries no signature, and --verify-key requires one" \
  -- decode --verify-key "$pub" "$w/bucket-u"

# Tampering: a changed byte, with and without a recomputed digest.
tamper() { # tamper IN OUT REDIGEST: vehicle "sig-1" becomes "sig-2"
  python3 - "$@" <<'PY'
import hashlib, sys
b = bytearray(open(sys.argv[1], "rb").read())
i = b.index(b'"sig-1"')
b[i + 5] = ord("2")
if sys.argv[3] == "1":
    b[-32:] = hashlib.sha256(b[:-32]).digest()
open(sys.argv[2], "wb").write(b)
PY
}
tamper "${objs[1]}" "$w/tampered-raw.cnp" 0
tamper "${objs[1]}" "$w/tampered.cnp" 1
t_expect "tampered, digest left: digest mismatch" 1 "tampered-raw.cnp: SHA-256 digest mismatch" \
  -- decode --verify-key "$pub" "$w/tampered-raw.cnp"
t_expect "tampered, digest redone: reads without a key" 0 "" -- decode "$w/tampered.cnp"
t_expect "tampered, digest redone: the signature catches it" 1 \
  "tampered.cnp: signature does not match this key \(tampered with" \
  -- decode --verify-key "$pub" "$w/tampered.cnp"
out=$(decode --verify-key "$pub" "$w/tampered.cnp" "${objs[0]}" 2>/dev/null || true)
[[ -n "$out" ]] && t_pass "a refused batch does not stop the valid ones" \
  || t_fail "valid batches were not printed beside a tampered one"

# --- the agent refuses a key it cannot use -------------------------------------------
config "$w/open.json" "$w/trace.log" "$w/spool-o" "$w/bucket-o" ", \"signing_key\": \"open.key.pem\""
t_expect "key file mode 0644 refused, naming file and mode" 1 \
  "signing_key .*/open.key.pem: mode 0644 is too open" -- canopy --config "$w/open.json" --exit-when-drained
[[ ! -e "$w/spool-o" ]] && t_pass "the refused agent did not start (no spool made)" \
  || t_fail "the agent made a spool before refusing its key"
config "$w/missing.json" "$w/trace.log" "$w/spool-m" "$w/bucket-m" ", \"signing_key\": \"no-such.pem\""
t_expect "missing key file refused by name" 1 "signing_key .*/no-such.pem: cannot open: No such file" \
  -- canopy --config "$w/missing.json" --exit-when-drained
config "$w/p384.json" "$w/trace.log" "$w/spool-p" "$w/bucket-p" ", \"signing_key\": \"p384.key.pem\""
t_expect "P-384 key refused" 1 "signing_key .*/p384.key.pem: an EC key on curve secp384r1" \
  -- canopy --config "$w/p384.json" --exit-when-drained
config "$w/badtype.json" "$w/trace.log" "$w/spool-t" "$w/bucket-t" ', "signing_key": 42'
t_expect "signing_key of the wrong type names the JSON path" 1 '\$\.signing_key: expected a string' \
  -- canopy --config "$w/badtype.json" --check-config

# --- --check: the chain ----------------------------------------------------------------
t_expect "--check on a complete chain" 0 "^sig-1/[0-9a-f]{16}: $n batches, 600 frames, .*0 gaps .*0 breaks.*all signatures valid: OK$" \
  -- decode --check --verify-key "$pub" "$w/bucket"

cp -r "$w/bucket" "$w/b-missing"
rm "$w/b-missing/${objs[1]#"$w/bucket/"}"
t_expect "--check: a missing batch is a gap" 1 "gap: boot 1 seq 1 missing, between .*000000000000.cnp and .*000000000002.cnp" \
  -- decode --check "$w/b-missing"
t_expect "--check: the gap counted in the summary, FAILED" 1 ": $((n - 1)) batches, .* 1 gaps \(1 batches missing\).*: FAILED$" \
  -- decode --check "$w/b-missing"
cp -r "$w/bucket" "$w/b-tail"
rm "$w/b-tail/${objs[0]#"$w/bucket/"}"
t_expect "--check: a missing first batch is a gap" 1 "gap: boot 1 seq 0 missing, before .*000000000001.cnp" \
  -- decode --check "$w/b-tail"

cp -r "$w/bucket" "$w/b-dup"
cp "${objs[2]}" "$w/b-dup/copy-of-seq-2.cnp"
t_expect "--check: an identical copy is reported (and is no failure)" 0 \
  "duplicate: .*(copy-of-seq-2.cnp is an identical copy of .*-000000000002.cnp|-000000000002.cnp is an identical copy of .*copy-of-seq-2.cnp) \(boot 1 seq 2\)" \
  -- decode --check "$w/b-dup"
t_expect "decode prints an identical copy once" 0 "" -- decode "$w/b-dup"
if decode "$w/b-dup" | cmp -s - "$w/trace.log"; then t_pass "with a copy: still the trace byte for byte"
else t_fail "an identical copy changed the output"; fi

# A fork: two agents start from copies of one spool (same spool id and
# boot), as after restoring a flash image. Their batches share numbers.
: >"$w/empty.log"
config "$w/init.json" "$w/empty.log" "$w/spool-f1" "$w/bucket-init"
canopy --config "$w/init.json" --exit-when-drained >/dev/null 2>&1
cp -r "$w/spool-f1" "$w/spool-f2"
config "$w/f1.json" "$w/trace.log" "$w/spool-f1" "$w/bucket-f1"
config "$w/f2.json" "$w/trace-b.log" "$w/spool-f2" "$w/bucket-f2"
canopy --config "$w/f1.json" --exit-when-drained >/dev/null 2>&1
canopy --config "$w/f2.json" --exit-when-drained >/dev/null 2>&1
mapfile -t f1 < <(find "$w/bucket-f1" -name '*.cnp' | sort)
mapfile -t f2 < <(find "$w/bucket-f2" -name '*.cnp' | sort)
if [[ ${#f1[@]} -ge 4 && "${f1[1]#"$w/bucket-f1/"}" == "${f2[1]#"$w/bucket-f2/"}" ]]; then
  t_pass "forked spools made batches with the same names"
else
  t_fail "fork setup: ${f1[1]:-none} vs ${f2[1]:-none}"
fi
cp -r "$w/bucket-f1" "$w/b-conflict"
cp "${f2[1]}" "$w/b-conflict/other-seq-1.cnp"
t_expect "--check: a different batch with the same numbers is a conflict" 1 \
  "conflict: .*(other-seq-1.cnp and .*-000000000001.cnp|-000000000001.cnp and .*other-seq-1.cnp) are different batches with the same boot 2 and seq 1" \
  -- decode --check "$w/b-conflict"
t_expect "decode: a conflicting copy is refused" 1 "differs from .* with the same numbers" \
  -- decode "$w/b-conflict"
cp -r "$w/bucket-f1" "$w/b-break"
cp "${f2[1]}" "$w/b-break/${f1[1]#"$w/bucket-f1/"}" # the other chain's batch, renamed
t_expect "--check: a batch of another chain is a break" 1 \
  "break: .*-000000000001.cnp \(boot 2 seq 1\) names another predecessor than .*-000000000000.cnp \(boot 2 seq 0\)" \
  -- decode --check "$w/b-break"
t_expect "--check: and the batch after it breaks too" 1 "break: .*-000000000002.cnp \(boot 2 seq 2\) names another predecessor" \
  -- decode --check "$w/b-break"
t_expect "--check: both breaks counted, FAILED" 1 " 0 gaps .* 2 breaks, .*: FAILED$" -- decode --check "$w/b-break"

# Reordered arrival: names that sort backwards change nothing.
mkdir "$w/b-reordered"
for ((i = 0; i < n; i++)); do cp "${objs[i]}" "$w/b-reordered/$(printf 'z%03d' $((n - i))).cnp"; done
t_expect "--check: reordered arrival is fine" 0 ": $n batches, 600 frames, .*: OK$" -- decode --check "$w/b-reordered"
if decode "$w/b-reordered" | cmp -s - "$w/trace.log"; then t_pass "reordered: the trace byte for byte"
else t_fail "reordered batches printed out of order"; fi

# --- csv and jsonl ----------------------------------------------------------------------
frames=$(wc -l <"$w/trace.log")
decode --format csv --verify-key "$pub" "$w/bucket" >"$w/out.csv"
decode --format jsonl --verify-key "$pub" "$w/bucket" >"$w/out.jsonl"
if [[ "$(head -n1 "$w/out.csv")" == "timestamp,interface,id,extended,fd,brs,esi,rtr,error,len,dlc,data" &&
      $(($(wc -l <"$w/out.csv") - 1)) -eq $frames ]]; then
  t_pass "csv: a header and $frames frame lines"
else
  t_fail "csv: $(head -n1 "$w/out.csv"), $(wc -l <"$w/out.csv") lines for $frames frames"
fi
if [[ "$(sed -n 2p "$w/out.csv")" == "1700000000.000000,can0,100,0,0,0,0,0,0,8,8,00000000DEADBEEF" &&
      "$(sed -n 3p "$w/out.csv")" == "1700000000.000500,can1,18FEF100,1,0,0,0,0,0,1,1,00" ]]; then
  t_pass "csv: the first frames, field by field"
else
  t_fail "csv lines: $(sed -n 2,3p "$w/out.csv")"
fi
[[ $(wc -l <"$w/out.jsonl") -eq $frames ]] && t_pass "jsonl: $frames lines" \
  || t_fail "jsonl: $(wc -l <"$w/out.jsonl") lines for $frames frames"
if python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
r = rows[1]
assert r == {"ts_us": 1700000000000500, "timestamp": "1700000000.000500", "interface": "can1",
             "id": 0x18FEF100, "extended": True, "fd": False, "brs": False, "esi": False,
             "rtr": False, "error": False, "len": 1, "dlc": 1, "data": "00"}, r
' "$w/out.jsonl"; then
  t_pass "jsonl: every line parses; fields as documented"
else
  t_fail "jsonl does not parse or its fields differ"
fi

# An interface name that CSV must quote and JSON escape (a manifest may say
# anything): header M and digest redone, so the batch is valid but unsigned.
python3 - "${objs[0]}" "$w/odd-name.cnp" <<'PY'
import hashlib, struct, sys
b = open(sys.argv[1], "rb").read()
mlen = struct.unpack_from("<I", b, 8)[0]
m = b[16:16 + mlen].replace(b'"name":"can1"', b'"name":"c,\\"\\u00011"')
flags = struct.unpack_from("<H", b, 6)[0]
end = len(b) - 32
if flags & 1:  # drop the signature block: the name change voids it anyway
    off = 16 + mlen
    for _ in range(struct.unpack_from("<I", b, 12)[0]):
        off += 16 + struct.unpack_from("<I", b, off + 12)[0]
    end = off
out = bytearray(b[:6] + b"\0\0" + struct.pack("<I", len(m)) + b[12:16] + m + b[16 + mlen:end])
out += hashlib.sha256(out).digest()
open(sys.argv[2], "wb").write(out)
PY
decode --format csv "$w/odd-name.cnp" >"$w/odd.csv"
decode --format jsonl "$w/odd-name.cnp" >"$w/odd.jsonl"
if [[ "$(sed -n 3p "$w/odd.csv")" == $'1700000000.000500,"c,""\x011",18FEF100,1,0,0,0,0,0,1,1,00' ]] &&
   python3 -c '
import json, sys
names = {json.loads(l)["interface"] for l in open(sys.argv[1])}
assert names == {"can0", "c,\"\x011"}, names' "$w/odd.jsonl"; then
  t_pass "csv quotes and jsonl escapes an odd interface name"
else
  t_fail "odd interface name: $(sed -n 3p "$w/odd.csv" | od -c | head -n 3)"
fi

t_finish
