#!/usr/bin/env bash
# tests/guest/mkinitramfs.sh KVER OUT [EXTRA.ko...]
#
# Builds the busybox test initramfs for kernel KVER into OUT (gzip cpio).
# It carries Debian's own pvpanic.ko + pvpanic-mmio.ko and any EXTRA modules; its /init is
# driven by the kernel command line:
#   hvdump.modules=a,b   insmod /lib/modules/a.ko then b.ko (names without .ko;
#                        default pvpanic,pvpanic-mmio; "none" loads nothing);
#                        "a.param=value" words on the command line are passed
#                        to insmod of a, as modprobe would
#   hvdump.action=null|bug|warn|panic|spin  through /proc/hvdump_crashtest
#                        in a child process (oops, BUG(), WARN(), panic with
#                        a message, a busy loop with interrupts off); if it
#                        returns print HVDUMP-SURVIVED, tick 3 times, power off
#   hvdump.action=modloop   insmod/rmmod hvdump_crashtest (baseline) then
#                        hvdump_guest 50 times each, report Slab and sysfs,
#                        then load pvpanic + pvpanic-mmio and panic
#   hvdump.action=sysrq  panic through /proc/sysrq-trigger (the default)
#   hvdump.action=tick   stay up, print "HVDUMP-TICK n" every second
#   hvdump.action=poweroff  power off cleanly
#   hvdump.fill_mb=N     before the action, write N MiB of non-zero data to
#                        the RAM-backed root (benchmarks), then print
#                        "HVDUMP-FILLED N"
#   hvdump.mix=1         before the action, a realistic memory mix scaled by
#                        hvdump.mix_mb=M (default 32): M MiB from /dev/urandom
#                        in a file (incompressible page cache), M MiB of text
#                        lines in a file (page cache), two processes holding
#                        M/2 MiB of heap each (anonymous memory, half random,
#                        half text: /bin/memhog), M MiB written and deleted
#                        (freed memory that is not zero); then
#                        "HVDUMP-MIX-READY ..." with the guest's meminfo
#   hvdump.meminfo=1     right before the action: /proc/meminfo on the
#                        console, "HVDUMP-MEMINFO <line>" each, then
#                        "HVDUMP-MEMINFO-END" (the free-page oracle)
#   /etc/hvdump/hooks/*  sourced after the modules are loaded, if an archive
#                        appended to this one brings any (tests/bench/mkkdump.sh)
# MEMHOG (environment) is the static memhog binary to include, if set.
# Debian's 6.12 ships its modules as .ko.xz: they are decompressed on the way
# (busybox insmod reads plain .ko only).
# Rebuilt only when its inputs change (a stamp holds their checksum).
set -euo pipefail

kver=$1
out=$2
shift 2
extra=("$@")
here=$(cd "$(dirname "$0")" && pwd)
moddir=/lib/modules/$kver/kernel
pv() { # the module file, plain or xz
	if [ -f "$moddir/drivers/misc/pvpanic/$1.ko" ]; then
		echo "$moddir/drivers/misc/pvpanic/$1.ko"
	else
		echo "$moddir/drivers/misc/pvpanic/$1.ko.xz"
	fi
}
mods=("$(pv pvpanic)" "$(pv pvpanic-mmio)" "${extra[@]}")
memhog=${MEMHOG:-}

stamp_input() {
	cat "$0" /bin/busybox "${mods[@]}" ${memhog:+"$memhog"} | sha256sum | cut -d' ' -f1
}
want=$(stamp_input)
if [ -s "$out" ] && [ -f "$out.stamp" ] && [ "$(cat "$out.stamp")" = "$want" ]; then
	exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
cp /bin/busybox "$root/bin/busybox"
[ -z "$memhog" ] || cp "$memhog" "$root/bin/memhog"
for m in "${mods[@]}"; do
	case "$m" in
	*.ko.xz) xz -dc "$m" >"$root/lib/modules/$(basename "$m" .xz)" ;;
	*) cp "$m" "$root/lib/modules/" ;;
	esac
done
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "HVDUMP-BOOTED"
arg() {
	for w in $(cat /proc/cmdline); do
		case "$w" in "$1="*) echo "${w#*=}"; return ;; esac
	done
	echo "$2"
}
params() {
	p=$(echo "$1" | tr '-' '_')
	for w in $(cat /proc/cmdline); do
		case "$w" in "$p."*=*) echo "${w#*.}" ;; esac
	done
}
slab() { sed -n 's/^Slab: *\([0-9]*\) kB/\1/p' /proc/meminfo; }
tick() {
	n=0
	while [ -z "$1" ] || [ $n -lt "$1" ]; do
		n=$((n + 1))
		echo "HVDUMP-TICK $n"
		sleep 1
	done
}
for m in $(arg hvdump.modules "pvpanic,pvpanic-mmio" | tr ',' ' '); do
	[ "$m" = none ] && continue
	if insmod "/lib/modules/$m.ko" $(params "$m"); then
		echo "HVDUMP-MODULE-LOADED $m"
	else
		echo "HVDUMP-MODULE-FAILED $m"
	fi
done
# hooks added by an appended archive (tests/bench/mkkdump.sh: in-guest kdump)
for h in /etc/hvdump/hooks/*; do
	[ -f "$h" ] && . "$h"
done
fill=$(arg hvdump.fill_mb 0)
if [ "$fill" -gt 0 ] 2>/dev/null; then
	dd if=/dev/zero bs=1M count="$fill" 2>/dev/null | tr '\000' 'h' >/fill
	echo "HVDUMP-FILLED $fill"
fi
if [ "$(arg hvdump.mix 0)" = 1 ]; then
	m=$(arg hvdump.mix_mb 32)
	dd if=/dev/urandom of=/mix-random bs=1M count="$m" 2>/dev/null
	# 1 MiB of varied text lines, repeated: each page compresses like text
	awk 'BEGIN { for (i = 0; i < 16000; i++) printf "%06d kernel: line %d of the log, value=%d status=%s\n", i, i, (i * 7919) % 100003, (i % 7) ? "ok" : "retry" }' >/mix-text1
	i=0
	while [ $i -lt "$m" ]; do cat /mix-text1; i=$((i + 1)); done >/mix-text
	rm -f /mix-text1
	if [ -x /bin/memhog ]; then
		/bin/memhog $((m / 2 + 1)) /memhog-1.ready &
		/bin/memhog $((m / 2 + 1)) /memhog-2.ready &
	fi
	dd if=/dev/urandom of=/mix-freed bs=1M count="$m" 2>/dev/null
	rm -f /mix-freed
	i=0
	while [ -x /bin/memhog ] && [ $i -lt 600 ] && ! { [ -e /memhog-1.ready ] && [ -e /memhog-2.ready ]; }; do
		sleep 1
		i=$((i + 1))
	done
	echo "HVDUMP-MIX-READY random=${m}M text=${m}M anon=$((2 * (m / 2 + 1)))M freed=${m}M $(grep -E '^(MemFree|Cached|AnonPages):' /proc/meminfo | tr -s ' ' | tr '\n' ' ')"
fi
for f in /sys/kernel/hvdump/*; do
	[ -e "$f" ] && echo "HVDUMP-SYSFS ${f##*/}=$(cat "$f")"
done
echo "HVDUMP-GUEST-READY"
if [ "$(arg hvdump.meminfo 0)" = 1 ]; then
	# the free-page oracle: what the kernel counts, just before the action
	sed 's/^/HVDUMP-MEMINFO /' /proc/meminfo
	echo "HVDUMP-MEMINFO-END"
fi
case "$(arg hvdump.action sysrq)" in
sysrq)
	echo c >/proc/sysrq-trigger
	;;
tick)
	tick ""
	;;
null | bug | warn | panic | spin)
	insmod /lib/modules/hvdump_crashtest.ko
	sh -c "echo $(arg hvdump.action) >/proc/hvdump_crashtest"
	echo "HVDUMP-SURVIVED $?"
	tick 3
	poweroff -f
	;;
modloop)
	# baseline: what 50 load/unload cycles of a trivial module cost
	cycles() {
		ok=0
		i=0
		while [ $i -lt 50 ]; do
			i=$((i + 1))
			insmod "/lib/modules/$1.ko" && rmmod "$1" && ok=$((ok + 1))
		done
		sleep 2
	}
	b0=$(slab)
	cycles hvdump_crashtest
	b1=$(slab)
	cycles hvdump_guest
	echo "HVDUMP-MODLOOP cycles=$ok baseline_growth=$((b1 - b0)) slab_before=$b1 slab_after=$(slab) sysfs=$([ -e /sys/kernel/hvdump ] && echo present || echo gone)"
	insmod /lib/modules/pvpanic.ko
	insmod /lib/modules/pvpanic-mmio.ko
	echo c >/proc/sysrq-trigger
	;;
poweroff)
	poweroff -f
	;;
esac
echo "HVDUMP-INIT-FELL-THROUGH"
sleep 3600
EOF
chmod 755 "$root/init"
mkdir -p "$(dirname "$out")"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
echo "$want" >"$out.stamp"
echo "mkinitramfs: built $out" >&2
