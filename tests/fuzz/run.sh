#!/bin/sh
# Builds every libFuzzer target with clang (ASan+UBSan) into BUILD/fuzz and runs
# each for PV_FUZZ_SECONDS (default 5, the suite's share; set it for a longer
# hunt) from its seed corpus.  A crash, leak or sanitizer report fails the run
# and leaves the reproducer in BUILD/fuzz.
# Usage: tests/fuzz/run.sh BUILD_DIR
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)/fuzz
secs=${PV_FUZZ_SECONDS:-5}

CC=clang cmake -S "$top" -B "$out" -DPV_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
targets=$(for src in "$top"/tests/fuzz/fuzz_*.c; do basename "$src" .c; done)
# shellcheck disable=SC2086 # one word per target
cmake --build "$out" -j "$(nproc)" --target $targets >/dev/null
status=0
for src in "$top"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	corpus="$out/corpus/$name"
	mkdir -p "$corpus"
	[ -d "$top/tests/fuzz/corpus/$name" ] && cp "$top/tests/fuzz/corpus/$name"/* "$corpus/"
	echo "fuzz: $name for ${secs}s"
	if ! (cd "$out" && "$out/tests/fuzz/$name" -max_total_time="$secs" -max_len=8192 \
		-print_final_stats=1 "$corpus" >"$out/$name.log" 2>&1); then
		tail -40 "$out/$name.log" >&2
		echo "fuzz: $name FAILED (log $out/$name.log)" >&2
		status=1
	else
		grep -E 'stat::number_of_executed_units' "$out/$name.log" || true
	fi
done
exit "$status"
