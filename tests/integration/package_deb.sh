#!/usr/bin/env bash
# tests/integration/package_deb.sh - the Debian package of this build:
#   1. `cpack -G DEB` makes canopy_VERSION_ARCH.deb for this build's
#      architecture (amd64, arm64 or armhf)
#   2. its content (dpkg-deb -c / -I): binaries, /etc/canopy/canopy.json as a
#      conffile, the systemd unit, the sysctl drop-in, docs, maintainer
#      scripts, Depends
#   3. the unit from the package passes `systemd-analyze verify`
#   4. arm64 builds only: the package installs with the real dpkg into a
#      Debian 12 arm64 root (scripts/make-arm64-root: debootstrap, second
#      stage under proot + qemu-aarch64-static); there, in a chroot under
#      qemu-aarch64-static, `canopy --version` and `--check-config` of the
#      packaged configuration work, the user and the state directory exist;
#      purge removes them
#
# Environment: CANOPY_BUILD_DIR (the build folder, required), CANOPY_BIN.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
# shellcheck source=tests/lib/common.sh
. "$repo/tests/lib/common.sh"

echo "=== package_deb: cpack -G DEB, content, unit, install into an arm64 root"
: "${CANOPY_BUILD_DIR:?}"
for t in cpack dpkg-deb; do
  command -v "$t" >/dev/null || t_skip "$t not installed"
done
t_mktemp_dir work package
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$CANOPY_BUILD_DIR/CPackConfig.cmake")
arch=$(sed -n 's/^set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "\(.*\)")$/\1/p' "$CANOPY_BUILD_DIR/CPackConfig.cmake")

# --- 1. build ---------------------------------------------------------------------
if ! (cd "$CANOPY_BUILD_DIR" && cpack -G DEB -B "$work/out") >"$work/cpack.log" 2>&1; then
  t_die "cpack failed: $(tail -n 5 "$work/cpack.log")"
fi
deb=$work/out/canopy_${version}_${arch}.deb
[[ -f $deb ]] || t_die "no $(basename "$deb"): $(ls "$work/out")"
t_pass "cpack made $(basename "$deb") ($(stat -c %s "$deb") bytes)"

# --- 2. content -------------------------------------------------------------------
dpkg-deb -c "$deb" >"$work/content.txt"
missing=()
for f in ./usr/bin/canopy ./usr/bin/canopy-decode ./usr/bin/canopy-sim ./usr/bin/canopy-dbc \
         ./etc/canopy/canopy.json ./usr/lib/systemd/system/canopy.service \
         ./usr/lib/sysctl.d/60-canopy.conf ./usr/share/doc/canopy/OPERATIONS.md \
         ./usr/share/doc/canopy/BOARDS.md; do
  grep -q " $f\$" "$work/content.txt" || missing+=("$f")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  t_pass "content: binaries, conffile, unit, sysctl drop-in, docs"
else
  t_fail "missing from the package: ${missing[*]}"
fi
grep -Eq '^-rw-r----- root/root .* ./etc/canopy/canopy.json$' "$work/content.txt" &&
  t_pass "configuration is not world-readable (0640)" ||
  t_fail "configuration mode: $(grep canopy.json "$work/content.txt")"
if grep -q ' ./usr/local/' "$work/content.txt"; then
  t_fail "files under /usr/local in the package"
fi
dpkg-deb -e "$deb" "$work/control"
info=$(dpkg-deb -I "$deb")
if grep -q "^ Architecture: $arch$" <<<"$info" && grep -q '^ Depends: .*libcurl4.*adduser' <<<"$info" &&
   [[ $(cat "$work/control/conffiles") == /etc/canopy/canopy.json ]] &&
   [[ -x $work/control/postinst && -x $work/control/postrm && -x $work/control/prerm ]]; then
  t_pass "control: Architecture $arch, Depends, conffiles, maintainer scripts"
else
  t_fail "control wrong: $info $(cat "$work/control/conffiles")"
fi
for s in postinst prerm postrm; do
  sh -n "$work/control/$s" || t_fail "$s: shell syntax error"
done

# --- 3. systemd-analyze verify ------------------------------------------------------
mkdir -p "$work/pkg"
dpkg-deb -x "$deb" "$work/pkg"
if command -v systemd-analyze >/dev/null; then
  # verify checks that ExecStart= names an executable: point it at the
  # packaged binary (any architecture is fine for that check).
  mkdir -p "$work/unit"
  sed "s|/usr/bin/canopy|$work/pkg/usr/bin/canopy|g" "$work/pkg/usr/lib/systemd/system/canopy.service" \
    >"$work/unit/canopy.service"
  if SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$work/unit/canopy.service" \
      >"$work/verify.log" 2>&1 && ! grep -v -e '^$' "$work/verify.log" | grep -q .; then
    t_pass "systemd-analyze verify: clean"
  else
    t_fail "systemd-analyze verify: $(head -c 800 "$work/verify.log")"
  fi
  if systemd-analyze security --offline=yes "$work/unit/canopy.service" >"$work/security.log" 2>&1; then
    t_info "systemd-analyze security: $(tail -n 1 "$work/security.log")"
  fi
else
  t_info "systemd-analyze not installed: unit not verified here (scripts/install-deps installs systemd)"
fi

# --- 4. install into an arm64 root ---------------------------------------------------
if [[ $arch != arm64 ]]; then
  t_finish "package checks passed ($arch: install test runs in the aarch64 build)"
fi
for t in proot qemu-aarch64-static debootstrap; do
  command -v "$t" >/dev/null || { t_info "$t missing: arm64 install not tested"; t_finish; }
done
[[ $(id -u) -eq 0 ]] || { t_info "not root: arm64 install not tested"; t_finish; }
base=${CANOPY_ARM64_ROOT:-/opt/canopy/arm64-root}
if ! "$repo/scripts/make-arm64-root" "$base" >"$work/root.log" 2>&1; then
  t_fail "cannot make the arm64 root: $(tail -n 5 "$work/root.log")"
  t_finish
fi
root=$work/root
cp -a "$base" "$root"
cp "$deb" "$root/tmp/canopy.deb"
in_root() { proot -0 -q qemu-aarch64-static -r "$root" -w / -b /dev -b /proc "$@"; }
if in_root /usr/bin/dpkg -i /tmp/canopy.deb >"$work/dpkg.log" 2>&1; then
  t_pass "dpkg -i in the arm64 root: $(grep -m1 'Setting up canopy' "$work/dpkg.log")"
else
  t_fail "dpkg -i failed: $(tail -n 8 "$work/dpkg.log")"
fi
# A real chroot, the binary under qemu-aarch64-static.
cp "$(command -v qemu-aarch64-static)" "$root/usr/bin/qemu-aarch64-static"
in_chroot() { chroot "$root" /usr/bin/qemu-aarch64-static "$@"; }
ver=$(in_chroot /usr/bin/canopy --version 2>&1) || true
[[ $ver == "canopy $version" ]] && t_pass "chroot + qemu-aarch64-static: '$ver'" ||
  t_fail "canopy --version in the arm64 root: $ver"
out=$(in_chroot /usr/bin/canopy --config /etc/canopy/canopy.json --check-config 2>&1) || true
grep -q 'configuration is valid' <<<"$out" && t_pass "packaged configuration: $out" ||
  t_fail "--check-config in the arm64 root: $out"
uid=$(awk -F: '$1 == "canopy" {print $3 ":" $7}' "$root/etc/passwd")
owner=$(stat -c '%U %a' "$root/var/lib/canopy" 2>/dev/null || true)
conf=$(stat -c '%G %a' "$root/etc/canopy/canopy.json" 2>/dev/null || true)
# stat names users by the host's passwd: compare ids with the root's.
cid=$(awk -F: '$1 == "canopy" {print $3}' "$root/etc/passwd")
gid=$(awk -F: '$1 == "canopy" {print $3}' "$root/etc/group")
if [[ -n $uid && $(stat -c '%u %a' "$root/var/lib/canopy") == "$cid 750" &&
      $(stat -c '%g %a' "$root/etc/canopy/canopy.json") == "$gid 640" ]]; then
  t_pass "system user canopy ($uid), /var/lib/canopy owned by it (750), config root:canopy 640"
else
  t_fail "user/state dir wrong: passwd '$uid', state '$owner', config '$conf'"
fi
[[ -L $root/etc/systemd/system/multi-user.target.wants/canopy.service ]] &&
  t_pass "unit enabled (multi-user.target.wants)" ||
  t_fail "unit not enabled: $(ls "$root/etc/systemd/system/multi-user.target.wants" 2>&1)"
if in_root /usr/bin/dpkg --purge canopy >"$work/purge.log" 2>&1 &&
   ! grep -q '^canopy:' "$root/etc/passwd" && [[ ! -e $root/var/lib/canopy ]] &&
   [[ ! -e $root/usr/bin/canopy ]]; then
  t_pass "dpkg --purge removes binaries, spool and user"
else
  t_fail "purge incomplete: $(tail -n 3 "$work/purge.log")"
fi
t_finish
