#!/usr/bin/env bash
# tests/demo.sh — set up if needed, build, then the main job on the built-in
# demo guest: boot the Debian kernel under QEMU with hvdump_guest.ko loaded,
# panic it (sysrq c), capture it from the host with `hvdump run`, and show
# what crash says: the panic string and the backtrace. Idempotent; the
# vmcore is replaced on each run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${HVDUMP_DEMO_DIR:-/var/tmp/hvdump-demo}

echo "== setting up (packages, guest kernel, debug vmlinux, checkpatch, 6.12 headers)"
bash tests/guest/setup.sh || exit 1 # its last line says which step failed and why
# shellcheck source=/dev/null
. "${HVDUMP_CACHE:-${HOME:-/root}/.cache/hvdump}/env.sh"
mkdir -p "$out"
echo "== building hvdump, hvdump_guest.ko and the test initramfs (log: $out/build.log)"
bash tests/guest/build.sh >"$out/build.log" 2>&1 || {
	tail -n 30 "$out/build.log" >&2
	echo "demo: build failed (tests/guest/build.sh; log: $out/build.log)" >&2
	exit 1
}

echo "== booting the demo guest (Debian $HVDUMP_KVER under QEMU ${HVDUMP_ACCEL:-tcg}, hvdump_guest.ko loaded); it panics itself"
set +e
"$root/build/hostd/hvdump" run --out "$out" --name demo --force --timeout 300 -- \
	qemu-system-x86_64 -accel "${HVDUMP_ACCEL:-tcg}" -m 1G -smp 2 -nographic -no-reboot \
	-kernel "$HVDUMP_KERNEL" -initrd "$HVDUMP_INITRD" \
	-append "console=ttyS0 quiet panic=0 hvdump.modules=hvdump_guest hvdump.action=sysrq" >"$out/console.log"
rc=$?
set -e
grep -E '^(HVDUMP-|\[ *[0-9.]+\] (Kernel panic|sysrq))' "$out/console.log" | sed 's/^/   guest: /' || true
if [ $rc -ne 3 ]; then
	echo "demo: hvdump run exited $rc (3 means: panic captured); console in $out/console.log" >&2
	exit 1
fi
echo "== vmcore: $out/demo.vmcore ($(du -h "$out/demo.vmcore" | cut -f1) on disk, $(du -h --apparent-size "$out/demo.vmcore" | cut -f1) apparent)"
echo "== crash $HVDUMP_VMLINUX $out/demo.vmcore"
printf 'sys\nbt\nquit\n' | crash -s "$HVDUMP_VMLINUX" "$out/demo.vmcore" |
	grep -v '^WARNING: active task .* not found in PID hash'
