# PipInstall: `pip install --no-build-isolation --no-index .` (pyproject.toml,
# setup.py) into a temporary target, reusing this build's module
# (KVSTASH_BUILD_DIR), then imports it from there: nothing is downloaded.
# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK=... -DPYTHON=... -P pip_install_test.cmake
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${CMAKE_COMMAND} -E env KVSTASH_BUILD_DIR=${BUILD_DIR}
                        ${PYTHON} -m pip install --no-build-isolation --no-deps --no-index
                        --disable-pip-version-check --target ${WORK} ${SOURCE_DIR}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pip install failed (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E env PYTHONPATH=${WORK} ${PYTHON} -c
                        "import kvstash, os; print(os.path.dirname(kvstash.__file__)); kvstash.Store(device='cpu').close()"
                WORKING_DIRECTORY ${WORK}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "${WORK}/kvstash")
  message(FATAL_ERROR "import of the pip-installed module failed: ${out}${err}")
endif()
file(REMOVE_RECURSE ${WORK})
