#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/agentless.sh [N]: bring up an N-server test fleet (default 15), run
# bench_agentless_push in its controller namespace, print the figures, tear
# the fleet down.  Figures only, nothing asserted.  Env: PV_BUILD (build dir).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${PV_BUILD:-$src/build}
bin=$build/bench/bench_agentless_push
[[ -x $bin ]] || { echo "agentless.sh: build $bin first" >&2; exit 1; }
dir=$(mktemp -d /tmp/pv-bench-agentless.XXXXXX)
cleanup() {
	"$src/tests/fleet/fleet" down "$dir" >/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
"$src/tests/fleet/fleet" up -n "${1:-15}" "$dir" >&2
# shellcheck source=/dev/null
. "$dir/env"
ip netns exec "$FLEET_NS_CTL" "$bin" --fleet "$dir/servers.json" --identity "$dir/id_ed25519" \
	--known-hosts "$dir/known_hosts" "${@:2}"
