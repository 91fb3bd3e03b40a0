#!/usr/bin/env bash
# tests/demo.sh — set up if needed, build, then the main job on the built-in
# demo guest: boot the Debian kernel under QEMU with hvdump_guest.ko loaded,
# panic it (sysrq c), capture it from the host with `hvdump run`, and show
# what crash says: the panic string and the backtrace; the same dump as
# kdump-tools would keep it (kdump-zstd, dump level 31); then the same crash
# as the host service sees it (hvdumpd watching a QMP socket directory:
# dump, JSON report, the policy's poweroff). Idempotent; the vmcores are
# replaced on each run.
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

echo "== what kdump-tools would keep: hvdump convert --format kdump-zstd --dump-level 31"
rm -f "$out/demo.kdump"
"$root/build/hostd/hvdump" convert --format kdump-zstd --dump-level 31 -v "$out/demo.vmcore" "$out/demo.kdump" 2>&1 |
	sed 's/^/   /'
echo "== hvdump info $out/demo.kdump"
"$root/build/hostd/hvdump" info "$out/demo.kdump" | grep -v '^VMCOREINFO' | sed 's/^/   /'
printf 'sys\nquit\n' | crash -s "$HVDUMP_VMLINUX" "$out/demo.kdump" | grep -E 'PANIC|DUMPFILE' | sed 's/^/   crash: /'

# The same crash as a host service sees it: hvdumpd watches a socket
# directory; a guest started with its QMP socket there panics; the daemon
# dumps it, writes the report, applies the policy (here: power it off).
echo "== hvdumpd: a second demo guest panics while the daemon watches $out/qmp"
svc=$out/service
rm -rf "$svc" "$out/qmp"
mkdir -p "$svc/dumps" "$out/qmp"
cat >"$svc/hvdumpd.conf" <<CONF
[daemon]
socket-dir=$out/qmp
control-socket=$svc/control.sock
state-dir=$svc/state

[policy demo]
match=*
format=kdump-zstd
dump-level=31
output-dir=$svc/dumps
post-action=poweroff
CONF
"$root/build/hostd/hvdumpd" --config "$svc/hvdumpd.conf" 2>"$svc/hvdumpd.log" &
daemon=$!
qemu=""
cleanup() {
	[ -z "$qemu" ] || kill "$qemu" 2>/dev/null || true
	kill "$daemon" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT
timeout -s KILL 300 qemu-system-x86_64 -accel "${HVDUMP_ACCEL:-tcg}" -name demo-svc -m 1G -smp 2 \
	-display none -serial "file:$svc/console.log" -no-reboot \
	-object memory-backend-memfd,id=mem0,size=1G,share=on -machine memory-backend=mem0 \
	-device pvpanic -device vmcoreinfo -action panic=pause \
	-qmp "unix:$out/qmp/demo-svc.sock,server=on,wait=off" \
	-kernel "$HVDUMP_KERNEL" -initrd "$HVDUMP_INITRD" \
	-append "console=ttyS0 quiet panic=0 hvdump.modules=hvdump_guest hvdump.action=sysrq" &
qemu=$!
# poweroff is the policy's post-action: QEMU ends once the dump is on disk
wait "$qemu" || true
qemu=""
sleep 1
sed 's/^/   /' "$svc/hvdumpd.log"
report=$(ls "$svc"/dumps/*.vmcore.json 2>/dev/null | head -n 1)
if [ -z "$report" ]; then
	echo "demo: hvdumpd wrote no dump (log: $svc/hvdumpd.log)" >&2
	exit 1
fi
echo "== report $report"
sed 's/^/   /' "$report"
printf 'sys\nquit\n' | crash -s "$HVDUMP_VMLINUX" "${report%.json}" | grep -E 'PANIC|RELEASE' | sed 's/^/   crash: /'
