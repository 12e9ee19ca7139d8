#!/bin/sh
# Static checks, run as a ctest: clang-format, banned C functions (after
# curl's checksrc), shellcheck on every script, cppcheck and clang-tidy on
# every C file.  Usage: tests/lint.sh BUILD_DIR (for compile_commands.json).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: lint.sh BUILD_DIR}
cd "$top"
status=0
problem() { echo "lint: $*" >&2; status=1; }

csrc=$(git ls-files -co --exclude-standard -- '*.c' '*.h')
scripts=$(git ls-files -co --exclude-standard -- '*.sh' tests/run .ci/run tests/fleet/fleet)

for f in $csrc; do
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || problem "$f is not clang-formatted (clang-format -i $f)"
done

# sprintf/strcpy/strcat/strtok/atoi/gets: unbounded or error-blind.
# shellcheck disable=SC2086 # file lists are split on purpose
if grep -nE '(^|[^_[:alnum:]])(v?sprintf|strcpy|strcat|strtok|atoi|atol|gets)[[:space:]]*\(' $csrc; then
	problem "banned function above; use snprintf, memcpy with a length, strtoul with end checks"
fi

# shellcheck disable=SC2086,SC2046
shellcheck -s sh -S warning $(grep -l '^#!/bin/sh' $scripts) || problem "shellcheck (sh) found issues"
bash_scripts=$(grep -l '^#!/usr/bin/env bash\|^#!/bin/bash' $scripts || true)
# shellcheck disable=SC2086
[ -z "$bash_scripts" ] || shellcheck -S warning -x $bash_scripts || problem "shellcheck (bash) found issues"

# shellcheck disable=SC2086
cppcheck -q --error-exitcode=1 --enable=warning,portability,performance \
	--inline-suppr --suppress=missingIncludeSystem -I common $csrc ||
	problem "cppcheck found issues"

srcs=$(echo "$csrc" | grep '\.c$' | grep -v '^tests/fuzz/' || true)
# shellcheck disable=SC2086
# The fortify wrappers confuse the analyzer (false valist.Uninitialized).
clang-tidy -p "$build" --quiet --extra-arg=-U_FORTIFY_SOURCE $srcs >"$build/clang-tidy.log" 2>&1 ||
	{ grep -E 'warning:|error:' "$build/clang-tidy.log" | head -50 >&2; problem "clang-tidy found issues ($build/clang-tidy.log)"; }

[ "$status" = 0 ] && echo "lint: clean"
exit "$status"
