#!/bin/sh
# kbuild.sh SRCDIR WORKDIR KDIR OUTPUT.ko — build an out-of-tree module with
# kbuild in WORKDIR (kbuild writes next to its sources, meson wants outputs
# in the build tree) and copy the .ko to OUTPUT. Any compiler warning fails
# the build: the module must build warning-free (W=1).
set -eu
src=$1 work=$2 kdir=$3 out=$4
mkdir -p "$work"
cp "$src"/*.c "$src"/Makefile "$work"/
for h in "$src"/*.h; do [ -e "$h" ] && cp "$h" "$work"/; done
log=$work/build.log
if ! make -C "$kdir" M="$work" W=1 modules >"$log" 2>&1; then
	cat "$log" >&2
	exit 1
fi
if grep -E 'warning:' "$log" >&2; then
	echo "kbuild.sh: warnings building $(basename "$out") (see above)" >&2
	exit 1
fi
cp "$work/$(basename "$out")" "$out"
