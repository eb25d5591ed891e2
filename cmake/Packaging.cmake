# Installation of the service files and the Debian package (CPack DEB).
#
#   cmake --preset aarch64 && cmake --build --preset aarch64
#   cd build/aarch64 && cpack -G DEB     # -> canopy_VERSION_arm64.deb
#
# The same in build/host (amd64) and build/armhf (armhf). The package holds
# the binaries, /etc/canopy/canopy.json (a conffile), the hardened systemd
# unit, a sysctl drop-in, the docs, and maintainer scripts that create the
# `canopy` system user and its state directory /var/lib/canopy (the spool).

# Paths the unit and the package use. Debian's layout: binaries under /usr,
# configuration under /etc whatever the prefix.
set(CANOPY_BINDIR "/usr/bin")
set(CANOPY_CONFDIR "/etc/canopy")
configure_file(${PROJECT_SOURCE_DIR}/packaging/systemd/canopy.service.in
               ${PROJECT_BINARY_DIR}/canopy.service @ONLY)

install(FILES ${PROJECT_BINARY_DIR}/canopy.service DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/sysctl-canopy.conf
        DESTINATION lib/sysctl.d RENAME 60-canopy.conf)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/canopy.json
        DESTINATION ${CANOPY_CONFDIR} PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${PROJECT_SOURCE_DIR}/docs/OPERATIONS.md ${PROJECT_SOURCE_DIR}/docs/CONFIG.md
              ${PROJECT_SOURCE_DIR}/docs/BOARDS.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Debian architecture of this build (cross builds included).
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(_deb_arch arm64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^arm")
  set(_deb_arch armhf)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(_deb_arch amd64)
else()
  set(_deb_arch ${CMAKE_SYSTEM_PROCESSOR})
endif()

set(CPACK_PACKAGE_NAME canopy)
set(CPACK_PACKAGE_VENDOR "canopy project")
set(CPACK_PACKAGE_CONTACT "canopy maintainers <canopy@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "In-vehicle CAN telemetry uploader")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${_deb_arch})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "In-vehicle CAN telemetry uploader\n\
 canopy samples CAN through SocketCAN, packs frames into zlib-compressed,\n\
 signed batches, keeps them in a crash-safe spool and uploads them to\n\
 file://, https:// or s3:// endpoints. Runs as a hardened systemd service.")
# The libraries Debian 12 ships (named, not computed: dpkg-shlibdeps cannot
# read the armhf sysroot's libraries, which dpkg does not know about).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "libc6 (>= 2.36), libcurl4 (>= 7.88), libmbedcrypto7 (>= 2.28), libcjson1 (>= 1.7.15), zlib1g (>= 1:1.2.13), adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
  ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
  ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
  ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)
include(CPack)
