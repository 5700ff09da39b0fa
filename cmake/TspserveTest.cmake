# tspserve_add_test(name SOURCES ... DEPS ... [LABELS ...]): one GoogleTest binary registered with ctest.
# Tests labelled `gpu` need a device; they skip themselves (GTEST_SKIP) when none is present, and
# `ctest -LE gpu` leaves them out altogether. Every test runs with the source dir as TSPSERVE_SOURCE_DIR
# so it can find checked-in golden data.
function(tspserve_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  tspserve_target_warnings(${name})
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set(labels cpu)
  if(ARG_LABELS)
    set(labels ${ARG_LABELS})
  endif()
  set_tests_properties(${name} PROPERTIES
    LABELS "${labels}" TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "TSPSERVE_SOURCE_DIR=${PROJECT_SOURCE_DIR};TSPSERVE_BINARY_DIR=${PROJECT_BINARY_DIR}")
endfunction()
