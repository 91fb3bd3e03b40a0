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
#   hvdump.action=null|bug  oops through /proc/hvdump_crashtest in a child
#                        process, print HVDUMP-SURVIVED, tick 3 times, power off
#   hvdump.action=modloop   insmod/rmmod hvdump_crashtest (baseline) then
#                        hvdump_guest 50 times each, report Slab and sysfs,
#                        then load pvpanic + pvpanic-mmio and panic
#   hvdump.action=sysrq  panic through /proc/sysrq-trigger (the default)
#   hvdump.action=tick   stay up, print "HVDUMP-TICK n" every second
#   hvdump.action=poweroff  power off cleanly
#   hvdump.fill_mb=N     before the action, write N MiB of non-zero data to
#                        the RAM-backed root (benchmarks), then print
#                        "HVDUMP-FILLED N"
# Rebuilt only when its inputs change (a stamp holds their checksum).
set -euo pipefail

kver=$1
out=$2
shift 2
extra=("$@")
here=$(cd "$(dirname "$0")" && pwd)
moddir=/lib/modules/$kver/kernel
mods=("$moddir/drivers/misc/pvpanic/pvpanic.ko" "$moddir/drivers/misc/pvpanic/pvpanic-mmio.ko" "${extra[@]}")

stamp_input() {
	cat "$0" /bin/busybox "${mods[@]}" | sha256sum | cut -d' ' -f1
}
want=$(stamp_input)
if [ -s "$out" ] && [ -f "$out.stamp" ] && [ "$(cat "$out.stamp")" = "$want" ]; then
	exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
cp /bin/busybox "$root/bin/busybox"
for m in "${mods[@]}"; do
	cp "$m" "$root/lib/modules/"
done
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
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
fill=$(arg hvdump.fill_mb 0)
if [ "$fill" -gt 0 ] 2>/dev/null; then
	dd if=/dev/zero bs=1M count="$fill" 2>/dev/null | tr '\000' 'h' >/fill
	echo "HVDUMP-FILLED $fill"
fi
for f in /sys/kernel/hvdump/*; do
	[ -e "$f" ] && echo "HVDUMP-SYSFS ${f##*/}=$(cat "$f")"
done
echo "HVDUMP-GUEST-READY"
case "$(arg hvdump.action sysrq)" in
sysrq)
	echo c >/proc/sysrq-trigger
	;;
tick)
	tick ""
	;;
null | bug)
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
