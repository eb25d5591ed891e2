# canopy: in-vehicle CAN telemetry uploader, built with the project's own
# CMake (the same build as the .deb). Copy this recipe into a layer
# (recipes-connectivity/canopy/) and add "canopy" to IMAGE_INSTALL.
# docs/BOARDS.md walks through it.
SUMMARY = "In-vehicle CAN telemetry uploader"
DESCRIPTION = "Samples CAN through SocketCAN, packs frames into compressed, \
signed batches, spools them crash-safe and uploads them to file://, https:// \
or s3:// endpoints."
HOMEPAGE = "https://example.invalid/canopy"
SECTION = "net"
LICENSE = "CLOSED"
# Replace with the project's licence and its checksum once it has one, e.g.
# LICENSE = "Apache-2.0"
# LIC_FILES_CHKSUM = "file://LICENSE;md5=..."

# Point SRC_URI at your canopy repository and SRCREV at a commit.
SRC_URI = "git://git.example.invalid/canopy.git;protocol=https;branch=main"
SRCREV = "${AUTOREV}"
PV = "0.1.0+git${SRCPV}"
S = "${WORKDIR}/git"

DEPENDS = "curl mbedtls zlib cjson"
RDEPENDS:${PN} = "libcurl"

inherit cmake pkgconfig systemd useradd

# The same CMake build as on Debian; tests are built and run on the host
# side of the project, not in the image.
EXTRA_OECMAKE = "-DCANOPY_BUILD_TESTS=OFF -DCANOPY_WERROR=OFF"

# The unit and config are installed by CMake (cmake/Packaging.cmake) into
# /usr/lib/systemd/system and /etc/canopy.
SYSTEMD_SERVICE:${PN} = "canopy.service"
SYSTEMD_AUTO_ENABLE = "enable"
FILES:${PN} += "${systemd_system_unitdir}/canopy.service ${nonarch_libdir}/sysctl.d/60-canopy.conf"
CONFFILES:${PN} = "${sysconfdir}/canopy/canopy.json"

# The service's own user (the unit runs as User=canopy).
USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --user-group --home-dir /var/lib/canopy --no-create-home --shell /sbin/nologin canopy"

do_install:append() {
	# CMake installs the unit under ${prefix}/lib; move it where this
	# distro's systemd looks, if that differs.
	if [ "${prefix}/lib/systemd/system" != "${systemd_system_unitdir}" ] && \
	   [ -f ${D}${prefix}/lib/systemd/system/canopy.service ]; then
		install -d ${D}${systemd_system_unitdir}
		mv ${D}${prefix}/lib/systemd/system/canopy.service ${D}${systemd_system_unitdir}/
	fi
	chown root:canopy ${D}${sysconfdir}/canopy/canopy.json
	chmod 0640 ${D}${sysconfdir}/canopy/canopy.json
}
