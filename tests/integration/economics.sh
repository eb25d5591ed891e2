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
    --storage-usd-per-gb-month 0.5 --fleet 1000 --sim-seconds 20 --out "$work" \
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
svg=$work/economics.svg
if [[ $(grep -o 'id="gnuplot_plot_[0-9]"' "$svg" | sort -u | wc -l) -eq 3 ]] &&
   grep -q '>candump + gzip -9<' "$svg" && [[ $(grep -c '<path' "$svg") -ge 30 ]]; then
  t_pass "economics.svg: three series (text, gzip, canopy), $(grep -c '<path' "$svg") paths"
else
  t_fail "economics.svg is not the expected plot"
fi
t_finish
