#!/usr/bin/env bash
# tests/bench/bench.sh [--ram 4G] [--fill 300] [--record tests/bench/RESULTS.md]
# hvdump vs QEMU dump-guest-memory on the same paused guest (not part of the
# test run: timings belong in a table, not in assertions).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bash tests/guest/setup.sh || exit 1 # its last line says which step failed and why
# shellcheck source=/dev/null
. "${HVDUMP_CACHE:-$HOME/.cache/hvdump}/env.sh"
bash tests/guest/build.sh
export HVDUMP_BIN=$root/build/hostd/hvdump
exec /usr/bin/python3 tests/bench/bench.py "$@"
