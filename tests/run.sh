#!/usr/bin/env bash
# tests/run.sh — the whole test suite, from a fresh Debian 12 machine (root).
# Sets up what is missing (tests/guest/setup.sh), builds with warnings as
# errors, builds the libFuzzer targets with clang, then runs unit tests, a
# short fuzz pass per parser and the end-to-end tests on a real QEMU guest
# with the real crash and drgn. The last line is "N passed, N failed, N skipped",
# also when setup or a build fails (then "0 passed, 1 failed, 0 skipped").
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }

stop() {
	[ -z "$*" ] || echo "run.sh: $*" >&2
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
}

bash tests/guest/setup.sh || stop # its last line says which step failed and why
envfile=${HVDUMP_CACHE:-${HOME:-/root}/.cache/hvdump}/env.sh
# shellcheck source=/dev/null
. "$envfile" || stop "cannot read $envfile"

bash tests/guest/build.sh || stop "build failed (tests/guest/build.sh)"
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Dwerror=true >&2 || stop "fuzz build: meson setup build-fuzz failed"
fi
meson compile -C build-fuzz >&2 || stop "fuzz build failed (meson compile -C build-fuzz)"
# the concurrency test again under ThreadSanitizer (only that target is built)
if [ ! -f build-tsan/build.ninja ]; then
	meson setup build-tsan -Db_sanitize=thread -Dwerror=true >&2 || stop "tsan build: meson setup build-tsan failed"
fi
meson compile -C build-tsan tests/test-concurrency >&2 || stop "tsan build failed (meson compile -C build-tsan tests/test-concurrency)"

export HVDUMP_BIN=$root/build/hostd/hvdump
# The runner prints the summary line last; should it die before that, say so
# and still end with a summary (its results so far, plus one failure).
last="" passed=0 failed=0 skipped=0
while IFS= read -r line; do
	printf '%s\n' "$line"
	last=$line
	case "$line" in
	"PASS "*) passed=$((passed + 1)) ;;
	"FAIL "*) failed=$((failed + 1)) ;;
	"SKIP "*) skipped=$((skipped + 1)) ;;
	esac
done < <(/usr/bin/python3 -u tests/runner.py "$@")
wait $! 2>/dev/null
rc=$?
if ! [[ $last =~ ^[0-9]+\ passed,\ [0-9]+\ failed,\ [0-9]+\ skipped$ ]]; then
	echo "run.sh: tests/runner.py ended (exit $rc) without its summary line" >&2
	echo "$passed passed, $((failed + 1)) failed, $skipped skipped"
	exit 1
fi
exit $rc
