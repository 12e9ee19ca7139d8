# Build-time man page: run a tool's `--man` (roff printed from the tables its
# --help reads) into OUT, then OUT.gz (gzip -9n: reproducible, as lintian wants).
# cmake -DTOOL=path/to/tool -DOUT=path/to/page.1 -P man.cmake
execute_process(COMMAND ${TOOL} --man OUTPUT_FILE ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${TOOL} --man failed (${rc})")
endif()
execute_process(COMMAND gzip -9nc ${OUT} OUTPUT_FILE ${OUT}.gz RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gzip ${OUT} failed (${rc})")
endif()
