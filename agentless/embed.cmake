# Turn a script into C arrays (cmake -P):
#   with -DNAME=X: const char X[], the script (the bootstrap, for the controller);
#   without (remote.sh):
#     const char al_remote_script[]   the script itself;
#     const char al_remote_command[]  the SSH exec command that runs it:
#       exec /bin/sh -c '<script, each ' written '\''>'
#     so the script runs under /bin/sh (dash on Debian: half the wall time and
#     ~30% less CPU per batch than under root's login bash, measured), whatever
#     the login shell is.  Both are constants: no data ever joins a command line.
file(READ ${IN} script)
function(pv_hex_array var text out)
  file(WRITE ${OUT}.${var}.tmp "${text}")
  file(READ ${OUT}.${var}.tmp hex HEX)
  file(REMOVE ${OUT}.${var}.tmp)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
  set(${out} "extern const char ${var}[];\nconst char ${var}[] = {${body}0x00};\n" PARENT_SCOPE)
endfunction()
if(DEFINED NAME)
  pv_hex_array(${NAME} "${script}" arrays)
else()
  string(REPLACE "'" "'\\''" quoted "${script}")
  pv_hex_array(al_remote_script "${script}" script_c)
  pv_hex_array(al_remote_command "exec /bin/sh -c '${quoted}'" command_c)
  set(arrays "${script_c}${command_c}")
endif()
file(WRITE ${OUT} "/* Generated from ${IN} by embed.cmake; do not edit. */\n" "${arrays}")
