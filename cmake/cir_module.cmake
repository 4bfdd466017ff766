# cir_add_module(NAME SOURCES ... LINK ...): one static library per module, public headers in include/.
function(cir_add_module name)
  cmake_parse_arguments(M "" "" "SOURCES;LINK;PRIVATE_LINK" ${ARGN})
  if(NOT M_SOURCES)
    # A module whose sources are not written yet still configures (the tree grows in steps).
    set(M_SOURCES ${PROJECT_BINARY_DIR}/cir_empty_${name}.cpp)
    file(WRITE ${M_SOURCES} "// intentionally empty\n")
  endif()
  add_library(cir_${name} STATIC ${M_SOURCES})
  target_include_directories(cir_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(cir_${name} PUBLIC ${M_LINK} PRIVATE cir_warnings ${M_PRIVATE_LINK})
  set_target_properties(cir_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# cir_add_test(NAME SOURCES ... LINK ... LABELS ...): one GoogleTest binary registered with ctest.
function(cir_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LINK;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LINK} GTest::gtest GTest::gtest_main cir_warnings)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE CIR_SHARED_DIR="${CIR_SHARED_DIR}"
                                             CIR_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
endfunction()
