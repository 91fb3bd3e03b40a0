#!/usr/bin/env bash
# tests/bench/compare.sh [compare.py options]
#   The comparison, one command: hvdump vs in-guest kdump vs QEMU's
#   dump-guest-memory on the same guest at 1 GiB and 4 GiB, 3 runs each
#   (about 30 minutes under TCG). Sets up what it needs (tests/guest/setup.sh:
#   packages incl. kexec-tools, e2fsprogs, gnuplot; the guest kernel and its
#   debug vmlinux), builds, runs tests/bench/compare.py, and records: the
#   table and plot in tests/bench/results/, the table in tests/bench/RESULTS.md
#   and in the README's "Why hvdump" section. Options go to compare.py
#   (--help lists them).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
case " $* " in *" --help "* | *" -h "*) exec /usr/bin/python3 tests/bench/compare.py --help ;; esac
bash tests/guest/setup.sh || exit 1 # its last line says which step failed and why
# shellcheck source=/dev/null
. "${HVDUMP_CACHE:-$HOME/.cache/hvdump}/env.sh"
bash tests/guest/build.sh
export HVDUMP_BIN=$root/build/hostd/hvdump
exec /usr/bin/python3 tests/bench/compare.py --record "$@"
