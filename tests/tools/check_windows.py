#!/usr/bin/python3
"""Checks a trigger's events and windows against an independent computation.

    check_windows.py TRACE REF_CSV IFACE MESSAGE SIGNAL THRESHOLD BEFORE_MS AFTER_MS \
                     CANDUMP_OUT SIGNALS_CSV EVENTS_JSONL

The trigger under test is "MESSAGE.SIGNAL > THRESHOLD", rising edge, no
minimum interval, with a window of BEFORE_MS before and AFTER_MS after, raw
frames and that one signal. From REF_CSV (the signal's values as
decode_canmatrix.py decodes them, timestamp,interface,id,message,signal,value)
this script computes when the trigger fires (each time the value goes from
not above the threshold, or no value yet, to above it), which trace lines
fall in the windows [T - BEFORE, T + AFTER], and which samples. Then:

- the events (EVENTS_JSONL, from canopy-decode --events) fire at exactly
  those timestamps, with those window bounds;
- the raw frames canopy stored (CANDUMP_OUT, canopy-decode's candump text)
  are exactly the trace's lines in the windows, byte for byte, each once;
- the samples (SIGNALS_CSV, canopy-decode --signals) are exactly the
  signal's values in the windows: same timestamps, values equal within
  1e-9 relative.
Prints one summary line; exit status 1 on any difference.
"""
import json
import re
import sys

(trace, ref, iface, message, signal, threshold, before_ms, after_ms,
 candump_out, signals_csv, events_jsonl) = sys.argv[1:12]
threshold = float(threshold)
before, after = int(before_ms) * 1000, int(after_ms) * 1000
line_re = re.compile(r"^\((\d+)\.(\d{6})\) (\S+) ")


def us(text):
    s, f = text.split(".")
    return int(s) * 1000000 + int(f)


values = []  # (ts_us, value) in trace order
with open(ref) as f:
    next(f)
    for row in f:
        ts, ifn, _id, msg, sig, val = row.rstrip("\n").split(",")
        if ifn == iface and msg == message and sig == signal:
            values.append((us(ts), float(val)))

fires = []
prev = False
for ts, v in values:
    cur = v > threshold
    if cur and not prev:
        fires.append(ts)
    prev = cur
windows = [(t - before, t + after) for t in fires]


def in_window(ts):
    return any(lo <= ts <= hi for lo, hi in windows)


errors = []
events = [json.loads(line) for line in open(events_jsonl) if line.strip()]
got_fires = [e["ts_us"] for e in events]
if got_fires != fires:
    errors.append(f"events at {got_fires[:5]}..., expected {fires[:5]}... "
                  f"({len(got_fires)} vs {len(fires)})")
for e in events:
    if (e["from_us"], e["to_us"]) != (e["ts_us"] - before, e["ts_us"] + after):
        errors.append(f"event {e['ts_us']}: window {e['from_us']}..{e['to_us']}")
        break

want_lines = []
with open(trace, newline="") as f:
    for line in f:
        m = line_re.match(line)
        if m and in_window(int(m.group(1)) * 1000000 + int(m.group(2))):
            want_lines.append(line)
got_lines = open(candump_out, newline="").readlines()
if sorted(got_lines) != sorted(want_lines):
    extra = set(got_lines) - set(want_lines)
    missing = set(want_lines) - set(got_lines)
    errors.append(f"raw frames: {len(got_lines)} stored, {len(want_lines)} expected; "
                  f"{len(extra)} extra, {len(missing)} missing, e.g. "
                  f"{sorted(missing)[:1] or sorted(extra)[:1]}")
elif len(set(got_lines)) != len(got_lines) and len(set(want_lines)) == len(set(got_lines)):
    errors.append("raw frames stored twice")

want_samples = [(ts, v) for ts, v in values if in_window(ts)]
got_samples = []
with open(signals_csv) as f:
    next(f)
    for row in f:
        ts, ifn, msg, sig, val, _unit = row.rstrip("\n").split(",")
        if (ifn, msg, sig) != (iface, message, signal):
            errors.append(f"a sample of another signal: {row.strip()}")
            break
        got_samples.append((us(ts), float(val)))
got_samples.sort()
if len(got_samples) != len(want_samples):
    errors.append(f"samples: {len(got_samples)} stored, {len(want_samples)} expected")
else:
    for (gt, gv), (wt, wv) in zip(got_samples, sorted(want_samples)):
        if gt != wt or abs(gv - wv) > 1e-9 * max(abs(wv), 1e-300) and gv != wv:
            errors.append(f"sample at {gt}: {gv}, expected {wt}: {wv}")
            break

if errors:
    print(f"{message}.{signal} > {threshold}: " + "; ".join(errors))
    sys.exit(1)
print(f"{message}.{signal} > {threshold}: {len(fires)} triggers at the expected frames, "
      f"{len(want_lines)} raw frames and {len(want_samples)} samples in their windows, "
      f"exactly")
