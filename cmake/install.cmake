# SPDX-License-Identifier: BSD-3-Clause
# Install rules for libcvmpi (included at the end of src/CMakeLists.txt, where its targets live):
# the shared and static library, cvmpi.h, a CMake package (find_package(cvmpi): cvmpi::cvmpi
# and cvmpi::cvmpi_static) and a pkg-config file (cvmpi.pc; --static for the archive).
include(CMakePackageConfigHelpers)

set(CV_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/cvmpi)
install(FILES ${PROJECT_SOURCE_DIR}/src/cvmpi.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS cvmpi_shared EXPORT cvmpiTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS cvmpi_static EXPORT cvmpiStaticTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
# Two export sets: the static target is only defined once its dependencies are found.
install(EXPORT cvmpiTargets NAMESPACE cvmpi:: DESTINATION ${CV_CMAKE_DIR})
install(EXPORT cvmpiStaticTargets NAMESPACE cvmpi:: DESTINATION ${CV_CMAKE_DIR})

# The features this build was made with decide what the static library needs.
foreach(opt CV_WITH_JXL CV_WITH_FPZIP CV_WITH_ZFP CV_WITH_DRACO CV_WITH_CURL CV_WITH_BLOSC)
  if(${opt})
    set(${opt}_VALUE ON)
  else()
    set(${opt}_VALUE OFF)
  endif()
endforeach()
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/cvmpiConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cvmpiConfig.cmake INSTALL_DESTINATION ${CV_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cvmpiConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cvmpiConfig.cmake ${PROJECT_BINARY_DIR}/cvmpiConfigVersion.cmake
  DESTINATION ${CV_CMAKE_DIR})

# pkg-config: the prefix is found from the .pc file's own place, so `cmake --install --prefix`
# gives a working file too. The archive's dependencies go in Libs.private as link flags, not as
# Requires.private modules: `pkg-config --static` would then demand the static closure of
# libcurl & co. (zstd, ldap, ...), while the archive only needs its direct dependencies, shared.
set(PC_LIBS_PRIVATE -lcjson ${DEFLATE_LDFLAGS} ${BROTLI_LDFLAGS} -lturbojpeg -ljpeg ${SPNG_LDFLAGS})
if(CV_WITH_JXL)
  list(APPEND PC_LIBS_PRIVATE ${JXL_LDFLAGS})
endif()
if(CV_WITH_FPZIP)
  list(APPEND PC_LIBS_PRIVATE -lfpzip)
endif()
if(CV_WITH_ZFP)
  list(APPEND PC_LIBS_PRIVATE -lzfp)
endif()
if(CV_WITH_DRACO)
  list(APPEND PC_LIBS_PRIVATE -ldraco -lstdc++)
endif()
if(CV_WITH_CURL)
  list(APPEND PC_LIBS_PRIVATE -lcurl -lcrypto)
  if(CV_WITH_BLOSC)
    list(APPEND PC_LIBS_PRIVATE ${BLOSC_LDFLAGS})
  endif()
endif()
list(APPEND PC_LIBS_PRIVATE -lm -lpthread)
list(REMOVE_DUPLICATES PC_LIBS_PRIVATE)
list(JOIN PC_LIBS_PRIVATE " " PC_LIBS_PRIVATE)
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH pc_up "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" pc_up "${pc_up}")
  set(PC_PREFIX "\${pcfiledir}/${pc_up}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/cvmpi.pc.in ${PROJECT_BINARY_DIR}/cvmpi.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cvmpi.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
