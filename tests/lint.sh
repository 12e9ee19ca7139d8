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

# One form of error check: `if ((r = f()) < 0)`, not `r = f(); if (r < 0)`.
# shellcheck disable=SC2086
python3 tests/error-form.py --check $csrc >&2 ||
	problem "error checks above: assign in the condition (tests/error-form.py --fix FILE, then clang-format -i FILE)"

# Pick the dialect from each script's first line only (heredocs hold shebangs too).
sh_scripts="" bash_scripts=""
for f in $scripts; do
	case $(head -n1 "$f") in
	'#!/bin/sh'*) sh_scripts="$sh_scripts $f" ;;
	*bash*) bash_scripts="$bash_scripts $f" ;;
	esac
done
# shellcheck disable=SC2086
shellcheck -s sh -S warning $sh_scripts || problem "shellcheck (sh) found issues"
# shellcheck disable=SC2086
shellcheck -S warning -x $bash_scripts || problem "shellcheck (bash) found issues"

# shellcheck disable=SC2086
cppcheck -q --error-exitcode=1 --enable=warning,portability,performance \
	--inline-suppr --suppress=missingIncludeSystem -I common $csrc ||
	problem "cppcheck found issues"

srcs=$(echo "$csrc" | grep '\.c$' | grep -v '^tests/fuzz/' || true)
# One clang-tidy per core, a few files each: it is the slowest check by far.
echo "$srcs" | xargs -P "$(nproc)" -n 8 clang-tidy -p "$build" --quiet >"$build/clang-tidy.log" 2>&1 ||
	{ grep -E 'warning:|error:' "$build/clang-tidy.log" | head -50 >&2; problem "clang-tidy found issues ($build/clang-tidy.log)"; }

[ "$status" = 0 ] && echo "lint: clean"
exit "$status"
