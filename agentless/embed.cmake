# Turn remote.sh into C arrays (cmake -P):
#   const char al_remote_script[]   the script itself;
#   const char al_remote_command[]  the SSH exec command that runs it:
#     exec /bin/sh -c '<script, each ' written '\''>'
# so the script runs under /bin/sh (dash on Debian: half the wall time and
# ~30% less CPU per batch than under root's login bash, measured), whatever
# the login shell is.  Both are constants: no data ever joins a command line.
file(READ ${IN} script)
string(REPLACE "'" "'\\''" quoted "${script}")
set(command "exec /bin/sh -c '${quoted}'")
function(pv_hex_array var text out)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/embed-${var}.tmp "${text}")
  file(READ ${CMAKE_CURRENT_BINARY_DIR}/embed-${var}.tmp hex HEX)
  file(REMOVE ${CMAKE_CURRENT_BINARY_DIR}/embed-${var}.tmp)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
  set(${out} "extern const char ${var}[];\nconst char ${var}[] = {${body}0x00};\n" PARENT_SCOPE)
endfunction()
pv_hex_array(al_remote_script "${script}" script_c)
pv_hex_array(al_remote_command "${command}" command_c)
file(WRITE ${OUT} "/* Generated from agentless/remote.sh by embed.cmake; do not edit. */\n"
                  "${script_c}${command_c}")
