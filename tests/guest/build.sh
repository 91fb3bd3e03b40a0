#!/usr/bin/env bash
# tests/guest/build.sh — after setup.sh: build hvdump and the guest modules
# (meson, warnings are errors) and the busybox test initramfs that carries
# them. Takes setup.sh's variables (HVDUMP_KVER, HVDUMP_KHEADERS,
# HVDUMP_INITRD) from the environment, or else from the env file setup.sh
# wrote ($HVDUMP_CACHE/env.sh, default ~/.cache/hvdump/env.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if [ -z "${HVDUMP_KVER:-}" ]; then
	envfile=${HVDUMP_CACHE:-${HOME:-/root}/.cache/hvdump}/env.sh
	[ -r "$envfile" ] || { echo "build.sh: no HVDUMP_KVER and no $envfile: run tests/guest/setup.sh first" >&2; exit 1; }
	# shellcheck source=/dev/null
	. "$envfile"
fi
if [ ! -f build/build.ninja ]; then
	meson setup build -Dwerror=true -Dguest_kdir="$HVDUMP_KHEADERS" >&2
else
	meson configure build -Dguest_kdir="$HVDUMP_KHEADERS" >&2
fi
meson compile -C build >&2
for ko in build/guest-module/hvdump_guest.ko build/tests/hvdump_crashtest.ko; do
	[ -s "$ko" ] || { echo "build.sh: $ko was not built" >&2; exit 1; }
done
[ -x build/tests/memhog ] || { echo "build.sh: build/tests/memhog was not built" >&2; exit 1; }
MEMHOG=$root/build/tests/memhog bash tests/guest/mkinitramfs.sh "$HVDUMP_KVER" "$HVDUMP_INITRD" \
	build/guest-module/hvdump_guest.ko build/tests/hvdump_crashtest.ko >&2
# Debian 12's 6.12 guest: the module built against its headers, its own initramfs
if [ -n "${HVDUMP_KVER_612:-}" ] && [ -d "${HVDUMP_KHEADERS_612:-}" ]; then
	mkdir -p build/guest-612
	if [ ! -s build/guest-612/hvdump_guest.ko ] ||
		[ -n "$(find guest-module -newer build/guest-612/hvdump_guest.ko -type f)" ]; then
		sh guest-module/kbuild.sh "$root/guest-module" "$root/build/guest-612/kbuild" \
			"$HVDUMP_KHEADERS_612" "$root/build/guest-612/hvdump_guest.ko" >&2
	fi
	# the crash triggers too: triage's titles are tested on 6.12 as well
	if [ ! -s build/guest-612/hvdump_crashtest.ko ] ||
		[ -n "$(find tests/guest/crashtest -newer build/guest-612/hvdump_crashtest.ko -type f)" ]; then
		sh guest-module/kbuild.sh "$root/tests/guest/crashtest" "$root/build/guest-612/crashtest" \
			"$HVDUMP_KHEADERS_612" "$root/build/guest-612/hvdump_crashtest.ko" >&2
	fi
	MEMHOG=$root/build/tests/memhog bash tests/guest/mkinitramfs.sh "$HVDUMP_KVER_612" \
		"$HVDUMP_INITRD_612" build/guest-612/hvdump_guest.ko build/guest-612/hvdump_crashtest.ko >&2
fi
