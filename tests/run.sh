#!/usr/bin/env bash
# tests/run.sh — the whole test suite, from a fresh Debian 12 machine (root).
# Sets up what is missing (tests/guest/setup.sh), builds with warnings as
# errors, builds the libFuzzer targets with clang, then runs unit tests, a
# short fuzz pass per parser and the end-to-end tests on a real QEMU guest
# with the real crash and drgn. The last line is "N passed, N failed, N skipped".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

fail_setup() {
	echo "setup: $*" >&2
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
}

env_out=$(bash tests/guest/setup.sh --print-env) || fail_setup "tests/guest/setup.sh failed"
eval "$env_out"
export HVDUMP_KVER HVDUMP_KERNEL HVDUMP_VMLINUX HVDUMP_INITRD HVDUMP_KHEADERS HVDUMP_CHECKPATCH HVDUMP_KHEADERS_612

bash tests/guest/build.sh || fail_setup "build failed (tests/guest/build.sh)"
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Dwerror=true >&2 || fail_setup "meson setup build-fuzz"
fi
meson compile -C build-fuzz >&2 || fail_setup "fuzz build failed"

export HVDUMP_BIN=$root/build/hostd/hvdump
exec /usr/bin/python3 tests/runner.py "$@"
