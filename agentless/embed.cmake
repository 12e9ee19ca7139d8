# Turn a script into a C array (cmake -P): const char NAME[] (default al_remote_script).
if(NOT DEFINED NAME)
  set(NAME al_remote_script)
endif()
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "/* Generated from ${IN} by embed.cmake; do not edit. */\n"
                  "extern const char ${NAME}[];\n"
                  "const char ${NAME}[] = {${body}0x00};\n")
