# toolchain.cmake: cross builds of canopy on Debian 12 (install the parts
# with scripts/install-deps first).
#
#   cmake -B build-arm64 --toolchain toolchain.cmake                 # aarch64
#   cmake -B build-armhf --toolchain toolchain.cmake \
#         -DCANOPY_TARGET=arm-linux-gnueabihf                         # armhf
#
# CANOPY_TARGET (cache variable, or environment variable of that name):
#   aarch64-linux-gnu (default; also "aarch64", "arm64")
#     Debian multiarch: the :arm64 -dev packages live in /usr/lib/aarch64-linux-gnu
#     and /usr/include/aarch64-linux-gnu beside the native ones.
#   arm-linux-gnueabihf (also "armhf")
#     A sysroot unpacked from armhf .debs, at CANOPY_ARMHF_SYSROOT (cache or
#     environment variable, default /opt/canopy/sysroot-armhf).
#
# Tests run under user-mode QEMU through CMAKE_CROSSCOMPILING_EMULATOR
# (binfmt_misc is not relied on), so ctest works as on the host.
#
# CMake reads this file again for every try_compile project, where only the
# variables listed in CMAKE_TRY_COMPILE_PLATFORM_VARIABLES are passed on; the
# choice is also kept in the environment of the CMake process as a fallback.

# --- which target ---------------------------------------------------------------
if(DEFINED CANOPY_TARGET AND NOT CANOPY_TARGET STREQUAL "")
  set(_canopy_target "${CANOPY_TARGET}")
elseif(DEFINED ENV{CANOPY_TARGET} AND NOT "$ENV{CANOPY_TARGET}" STREQUAL "")
  set(_canopy_target "$ENV{CANOPY_TARGET}")
else()
  set(_canopy_target aarch64-linux-gnu)
endif()
if(_canopy_target MATCHES "^(aarch64|arm64)(-linux-gnu)?$")
  set(_canopy_target aarch64-linux-gnu)
elseif(_canopy_target MATCHES "^(armhf|arm-linux-gnueabihf)$")
  set(_canopy_target arm-linux-gnueabihf)
else()
  message(FATAL_ERROR
    "toolchain.cmake: CANOPY_TARGET='${_canopy_target}' is not supported; "
    "use aarch64-linux-gnu or arm-linux-gnueabihf")
endif()
# A build folder is bound to one target: CMake keeps the compiler it found
# first, so switching later would mix two architectures.
if(DEFINED CACHE{_CANOPY_CONFIGURED_TARGET}
   AND NOT _CANOPY_CONFIGURED_TARGET STREQUAL _canopy_target)
  message(FATAL_ERROR
    "toolchain.cmake: this build folder is for ${_CANOPY_CONFIGURED_TARGET}; "
    "CANOPY_TARGET=${_canopy_target} needs a new build folder")
endif()
set(_CANOPY_CONFIGURED_TARGET "${_canopy_target}" CACHE INTERNAL "")
set(CANOPY_TARGET "${_canopy_target}" CACHE STRING
    "Cross target: aarch64-linux-gnu or arm-linux-gnueabihf" FORCE)
set_property(CACHE CANOPY_TARGET PROPERTY STRINGS aarch64-linux-gnu arm-linux-gnueabihf)
set(ENV{CANOPY_TARGET} "${_canopy_target}")

if(_canopy_target STREQUAL "arm-linux-gnueabihf")
  if(DEFINED CANOPY_ARMHF_SYSROOT AND NOT CANOPY_ARMHF_SYSROOT STREQUAL "")
    set(_canopy_sysroot "${CANOPY_ARMHF_SYSROOT}")
  elseif(DEFINED ENV{CANOPY_ARMHF_SYSROOT} AND NOT "$ENV{CANOPY_ARMHF_SYSROOT}" STREQUAL "")
    set(_canopy_sysroot "$ENV{CANOPY_ARMHF_SYSROOT}")
  else()
    set(_canopy_sysroot /opt/canopy/sysroot-armhf)
  endif()
  set(CANOPY_ARMHF_SYSROOT "${_canopy_sysroot}" CACHE PATH
      "armhf sysroot made by scripts/install-deps")
  set(ENV{CANOPY_ARMHF_SYSROOT} "${_canopy_sysroot}")
  if(NOT EXISTS "${_canopy_sysroot}/usr/lib/arm-linux-gnueabihf/libcurl.so")
    message(FATAL_ERROR
      "toolchain.cmake: no armhf sysroot at ${_canopy_sysroot}; "
      "run scripts/install-deps (or set CANOPY_ARMHF_SYSROOT)")
  endif()
endif()

foreach(_v IN ITEMS CANOPY_TARGET CANOPY_ARMHF_SYSROOT)
  if(NOT _v IN_LIST CMAKE_TRY_COMPILE_PLATFORM_VARIABLES)
    list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES ${_v})
  endif()
endforeach()

# --- compilers --------------------------------------------------------------------
set(CMAKE_SYSTEM_NAME Linux)
if(_canopy_target STREQUAL "aarch64-linux-gnu")
  set(CMAKE_SYSTEM_PROCESSOR aarch64)
  set(_canopy_qemu qemu-aarch64-static)
else()
  set(CMAKE_SYSTEM_PROCESSOR arm)
  set(_canopy_qemu qemu-arm-static)
endif()
set(CMAKE_LIBRARY_ARCHITECTURE ${_canopy_target})

find_program(_canopy_cc ${_canopy_target}-gcc NO_CACHE)
if(NOT _canopy_cc)
  message(FATAL_ERROR
    "toolchain.cmake: ${_canopy_target}-gcc not found; run scripts/install-deps")
endif()
set(CMAKE_C_COMPILER ${_canopy_cc})
find_program(_canopy_cxx ${_canopy_target}-g++ NO_CACHE)
if(_canopy_cxx)
  set(CMAKE_CXX_COMPILER ${_canopy_cxx})
endif()

# --- where the target's headers and libraries are -------------------------------------
if(_canopy_target STREQUAL "aarch64-linux-gnu")
  # Multiarch: the target's files are under / in the aarch64-linux-gnu
  # folders. CMAKE_LIBRARY_ARCHITECTURE makes find_library look in
  # /usr/lib/aarch64-linux-gnu (and never in /usr/lib/x86_64-linux-gnu);
  # the explicit paths put the target folders first.
  set(CMAKE_FIND_ROOT_PATH /)
  list(APPEND CMAKE_LIBRARY_PATH /usr/lib/aarch64-linux-gnu /lib/aarch64-linux-gnu)
  list(APPEND CMAKE_INCLUDE_PATH /usr/include/aarch64-linux-gnu)
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
  set(_canopy_emulator_args "")
else()
  # A real sysroot: --sysroot for compiling and linking, find_* re-rooted
  # into it, and -rpath-link so that ld resolves the DT_NEEDED entries of
  # libcurl (libssl, libnghttp2, ...) inside the sysroot.
  set(CMAKE_SYSROOT "${_canopy_sysroot}")
  set(CMAKE_FIND_ROOT_PATH "${_canopy_sysroot}")
  set(_canopy_rpath_link
      "-Wl,-rpath-link,${_canopy_sysroot}/lib/arm-linux-gnueabihf -Wl,-rpath-link,${_canopy_sysroot}/usr/lib/arm-linux-gnueabihf")
  set(CMAKE_EXE_LINKER_FLAGS_INIT "${_canopy_rpath_link}")
  set(CMAKE_SHARED_LINKER_FLAGS_INIT "${_canopy_rpath_link}")
  set(CMAKE_MODULE_LINKER_FLAGS_INIT "${_canopy_rpath_link}")
  set(ENV{PKG_CONFIG_LIBDIR}
      "${_canopy_sysroot}/usr/lib/arm-linux-gnueabihf/pkgconfig:${_canopy_sysroot}/usr/share/pkgconfig")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${_canopy_sysroot}")
  # QEMU's -L is QEMU_LD_PREFIX: the loader and libraries come from the sysroot.
  set(_canopy_emulator_args -L "${_canopy_sysroot}")
endif()
# A PKG_CONFIG_PATH from the caller's shell would add host .pc files.
set(ENV{PKG_CONFIG_PATH} "")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# --- running target binaries (ctest, try_run, custom commands) ------------------------
find_program(_canopy_qemu_path ${_canopy_qemu} NO_CACHE)
if(_canopy_qemu_path)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${_canopy_qemu_path} ${_canopy_emulator_args})
else()
  message(WARNING
    "toolchain.cmake: ${_canopy_qemu} not found (package qemu-user-static); "
    "cross-built tests cannot run")
endif()
