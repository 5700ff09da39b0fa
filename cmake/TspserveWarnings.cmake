# tspserve_target_warnings(target): the project's warning set, errors on in CI (TSPSERVE_WERROR).
option(TSPSERVE_WERROR "Treat warnings as errors" OFF)
function(tspserve_target_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wno-unused-parameter>)
  if(TSPSERVE_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
  endif()
endfunction()

# tspserve_library(name SOURCES ... DEPS ...): one static library per folder.
function(tspserve_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  tspserve_target_warnings(${name})
endfunction()

# tspserve_add_subdirectories(dir ...): adds each listed folder that has a CMakeLists.txt.
macro(tspserve_add_subdirectories)
  foreach(dir ${ARGN})
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/CMakeLists.txt)
      add_subdirectory(${dir})
    endif()
  endforeach()
endmacro()
