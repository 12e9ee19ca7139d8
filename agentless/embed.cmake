# Turn remote.sh into a C array (cmake -P): const char al_remote_script[].
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "/* Generated from agentless/remote.sh by embed.cmake; do not edit. */\n"
                  "extern const char al_remote_script[];\n"
                  "const char al_remote_script[] = {${body}0x00};\n")
