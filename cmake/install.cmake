# `cmake --install`: the libraries, their public headers, the kvstash
# binary, and a CMake package, so that a downstream project writes
#   find_package(kvstash REQUIRED)
#   target_link_libraries(app PRIVATE kvstash::store)
# (tests/install/ builds one against an installed tree).
include(CMakePackageConfigHelpers)

set(KVSTASH_LIBRARIES kvstash_serde kvstash_store kvstash_gc kvstash_engine kvstash_safetensors
                      kvstash_tokenizer)
foreach(lib ${KVSTASH_LIBRARIES})
  string(REPLACE "kvstash_" "" export_name ${lib})
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${export_name})
endforeach()

install(TARGETS ${KVSTASH_LIBRARIES} EXPORT kvstashTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS kvstash RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# Public headers only: `_internal.h` headers are the modules' own.
foreach(module serde store gc engine)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${module}/
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kvstash/${module}
          FILES_MATCHING PATTERN "*.h" PATTERN "*_internal.h" EXCLUDE)
endforeach()

set(KVSTASH_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/kvstash)
install(EXPORT kvstashTargets NAMESPACE kvstash:: DESTINATION ${KVSTASH_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/kvstashConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/kvstashConfig.cmake
                              INSTALL_DESTINATION ${KVSTASH_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/kvstashConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/kvstashConfig.cmake
              ${PROJECT_BINARY_DIR}/kvstashConfigVersion.cmake
        DESTINATION ${KVSTASH_CMAKE_DIR})
