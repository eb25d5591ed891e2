#!/usr/bin/env bash
# tests/integration/economics.sh - scripts/economics end to end on a short
# simulation: the page has a row per input and capture mode, the numbers
# hold together (canopy below candump text, costs = GB x price), the SVG is
# a plot, and a missing price is refused.
#
# Environment: CANOPY_BIN (its folder is the build folder), CANOPY_DATA.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== economics: scripts/economics writes the fleet economics page"
t_require_bins CANOPY_BIN
[[ -z ${CANOPY_EMULATOR:-} ]] || t_skip "host builds only (the report runs the agent natively)"
command -v gnuplot >/dev/null || t_skip "gnuplot not installed (scripts/install-deps)"
t_mktemp_dir work economics
build=$(dirname -- "$CANOPY_BIN")
t_expect "prices are required" 2 'required' -- "$repo/scripts/economics" --build "$build"
if ! "$repo/scripts/economics" --build "$build" --cell-usd-per-gb 2 \
    --storage-usd-per-gb-month 0.5 --fleet 1000 --sim-seconds 20 --gnss-seconds 60 --out "$work" \
    >"$work/out.log" 2>&1; then
  t_die "scripts/economics failed: $(tail -n 5 "$work/out.log")"
fi
page=$work/ECONOMICS.md
for row in "sim-ev | raw" "sim-ev | signals" "sim-ev | triggered" "sim-ice | raw" \
           "sim-ice | signals" "sim-ice | triggered"; do
  grep -q "^| $row |" "$page" || t_fail "no row '$row'"
done
# canopy's bytes below the text's; cost columns = GB x prices x fleet.
if awk -F'|' '/^\| sim-.* MB \|/ { t = $4 + 0; c = $6 + 0; if (!(c > 0 && c < t)) bad++ }
              /^\| sim-[a-z]* \| [a-z]* \| [0-9.]* \| [0-9.]* \| [0-9.]* \|/ {
                g = $4 + 0; cell = $5 + 0; st = $6 + 0; fl = $7 + 0
                if (cell - 2 * g > 0.002 || 2 * g - cell > 0.002) bad++
                if (st - 0.5 * g > 0.001 || 0.5 * g - st > 0.001) bad++
                if (fl - 1000 * 2.5 * g > 3 || 1000 * 2.5 * g - fl > 3) bad++
                n++ }
              END { exit !(bad == 0 && n >= 6) }' "$page"; then
  t_pass "page: every simulator row, bytes and costs consistent"
else
  t_fail "page numbers inconsistent: $(grep '^| sim-' "$page" | head -n 4)"
fi
# Sources beside CAN: GNSS always (python3's stand-in gpsd), UDS polling
# when the Leaf trace is there. Alone above added above zero; bytes per
# sample = added / samples; GB / month = added x 50 h; fleet = GB x 2.5 x 1000.
extra_rows() {
  awk -F'|' -v want="$1" '
    function n(x) { gsub(/[ ,]/, "", x); return x + 0 }
    $2 ~ "^ " want " " {
      smp = n($3); alone = n($4); added = n($5) * 1e3; per = n($6); g = n($7); fl = n($8)
      if (!(added > 0 && smp > 0)) exit 1
      if ($4 !~ /not measured/ && !(alone * 1e3 > added)) exit 1
      if (per - added / smp > 0.01 || added / smp - per > 0.01) exit 1
      if (g - added * 50 / 1e9 > 0.0001 || added * 50 / 1e9 - g > 0.0001) exit 1
      if (fl - g * 2500 > 1 || g * 2500 - fl > 1) exit 1
      ok = 1 }
    END { exit !ok }' "$page"
}
if extra_rows gnss; then
  t_pass "page: the gnss row (alone, added, per sample, month, fleet) holds together"
else
  t_fail "no consistent gnss row: $(grep '^| gnss' "$page" || echo none)"
fi
if [[ -f ${CANOPY_DATA:-$repo/../shared/data}/traces/nissan_leaf_2019_uds_canedge.log ]]; then
  if extra_rows uds-polling && extra_rows 'obd-polling \(computed\)'; then
    t_pass "page: the uds-polling and computed obd-polling rows hold together"
  else
    t_fail "polling rows inconsistent: $(grep -E '^\| (uds|obd)-polling' "$page" || echo none)"
  fi
else
  echo "SKIP: no Leaf trace in CANOPY_DATA: no uds-polling row to check"
fi
svg=$work/economics.svg
if [[ $(grep -o 'id="gnuplot_plot_[0-9]"' "$svg" | sort -u | wc -l) -eq 3 ]] &&
   grep -q '>candump + gzip -9<' "$svg" && [[ $(grep -c '<path' "$svg") -ge 30 ]]; then
  t_pass "economics.svg: three series (text, gzip, canopy), $(grep -c '<path' "$svg") paths"
else
  t_fail "economics.svg is not the expected plot"
fi
t_finish
