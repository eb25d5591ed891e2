# FindMbedTLS: Debian's mbedTLS 2.28 ships neither a CMake package file nor a
# pkg-config file, so look for the headers and the three libraries directly.
#
# Defines MbedTLS_FOUND, MbedTLS_INCLUDE_DIR and the imported targets
# MbedTLS::mbedcrypto, MbedTLS::mbedx509 and MbedTLS::mbedtls.
find_path(MbedTLS_INCLUDE_DIR NAMES mbedtls/version.h)
find_library(MbedTLS_CRYPTO_LIBRARY NAMES mbedcrypto)
find_library(MbedTLS_X509_LIBRARY NAMES mbedx509)
find_library(MbedTLS_TLS_LIBRARY NAMES mbedtls)

if(MbedTLS_INCLUDE_DIR AND EXISTS "${MbedTLS_INCLUDE_DIR}/mbedtls/build_info.h")
  set(_mbedtls_version_header "${MbedTLS_INCLUDE_DIR}/mbedtls/build_info.h")
elseif(MbedTLS_INCLUDE_DIR)
  set(_mbedtls_version_header "${MbedTLS_INCLUDE_DIR}/mbedtls/version.h")
endif()
if(_mbedtls_version_header)
  file(STRINGS "${_mbedtls_version_header}" _mbedtls_version_line
       REGEX "^#define[ \t]+MBEDTLS_VERSION_STRING[ \t]+\"[0-9.]+\"")
  string(REGEX REPLACE ".*\"([0-9.]+)\".*" "\\1" MbedTLS_VERSION "${_mbedtls_version_line}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(MbedTLS
  REQUIRED_VARS MbedTLS_CRYPTO_LIBRARY MbedTLS_X509_LIBRARY MbedTLS_TLS_LIBRARY MbedTLS_INCLUDE_DIR
  VERSION_VAR MbedTLS_VERSION)

if(MbedTLS_FOUND)
  foreach(_lib IN ITEMS crypto x509 tls)
    string(TOUPPER ${_lib} _LIB)
    if(_lib STREQUAL "crypto")
      set(_name mbedcrypto)
    elseif(_lib STREQUAL "x509")
      set(_name mbedx509)
    else()
      set(_name mbedtls)
    endif()
    if(NOT TARGET MbedTLS::${_name})
      add_library(MbedTLS::${_name} UNKNOWN IMPORTED)
      set_target_properties(MbedTLS::${_name} PROPERTIES
        IMPORTED_LOCATION "${MbedTLS_${_LIB}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${MbedTLS_INCLUDE_DIR}")
    endif()
  endforeach()
  set_property(TARGET MbedTLS::mbedx509 APPEND PROPERTY INTERFACE_LINK_LIBRARIES MbedTLS::mbedcrypto)
  set_property(TARGET MbedTLS::mbedtls APPEND PROPERTY INTERFACE_LINK_LIBRARIES MbedTLS::mbedx509)
endif()
mark_as_advanced(MbedTLS_INCLUDE_DIR MbedTLS_CRYPTO_LIBRARY MbedTLS_X509_LIBRARY MbedTLS_TLS_LIBRARY)
