#!/usr/bin/env bash
# tests/bench/bench.sh [--ram 4G] [--fill 300] [--record tests/bench/RESULTS.md]
#   hvdump vs QEMU dump-guest-memory (ELF) on the same paused guest;
# tests/bench/bench.sh --formats [--ram 4G] [--mix-mb 300] [--record ...]
#   kdump-compressed dumps: hvdump vs QEMU's kdump-zlib vs makedumpfile.
# Not part of the test run: timings belong in a table, not in assertions.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bash tests/guest/setup.sh || exit 1 # its last line says which step failed and why
# shellcheck source=/dev/null
. "${HVDUMP_CACHE:-$HOME/.cache/hvdump}/env.sh"
bash tests/guest/build.sh
export HVDUMP_BIN=$root/build/hostd/hvdump
if [ "${1:-}" = --formats ]; then
	shift
	exec /usr/bin/python3 tests/bench/bench_formats.py "$@"
fi
exec /usr/bin/python3 tests/bench/bench.py "$@"
