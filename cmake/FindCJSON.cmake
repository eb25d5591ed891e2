# FindCJSON: Debian's libcjson-dev ships a CMake package file whose paths are
# absolute host paths, which breaks cross builds against a sysroot; finding the
# header and library directly works for native, multiarch and sysroot builds.
#
# Defines CJSON_FOUND and the imported target CJSON::cjson.
find_path(CJSON_INCLUDE_DIR NAMES cjson/cJSON.h)
find_library(CJSON_LIBRARY NAMES cjson)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CJSON REQUIRED_VARS CJSON_LIBRARY CJSON_INCLUDE_DIR)
if(CJSON_FOUND AND NOT TARGET CJSON::cjson)
  add_library(CJSON::cjson UNKNOWN IMPORTED)
  set_target_properties(CJSON::cjson PROPERTIES
    IMPORTED_LOCATION "${CJSON_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CJSON_INCLUDE_DIR}")
endif()
mark_as_advanced(CJSON_INCLUDE_DIR CJSON_LIBRARY)
