#!/usr/bin/env bash
# tests/guest/build.sh — after setup.sh: build hvdump and the guest modules
# (meson, warnings are errors) and the busybox test initramfs that carries
# them. Expects setup.sh's variables (HVDUMP_KVER, HVDUMP_KHEADERS,
# HVDUMP_INITRD) in the environment.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
: "${HVDUMP_KVER:?run tests/guest/setup.sh first}"
if [ ! -f build/build.ninja ]; then
	meson setup build -Dwerror=true -Dguest_kdir="$HVDUMP_KHEADERS" >&2
else
	meson configure build -Dguest_kdir="$HVDUMP_KHEADERS" >&2
fi
meson compile -C build >&2
for ko in build/guest-module/hvdump_guest.ko build/tests/hvdump_crashtest.ko; do
	[ -s "$ko" ] || { echo "build.sh: $ko was not built" >&2; exit 1; }
done
bash tests/guest/mkinitramfs.sh "$HVDUMP_KVER" "$HVDUMP_INITRD" \
	build/guest-module/hvdump_guest.ko build/tests/hvdump_crashtest.ko >&2
