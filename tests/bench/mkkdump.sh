#!/usr/bin/env bash
# tests/bench/mkkdump.sh KVER OUT
#
# Builds OUT, a cpio archive (gzip) to append to the test initramfs of kernel
# KVER (Linux unpacks concatenated archives in order), that makes the test
# guest an in-guest kdump guest as Debian's kdump-tools sets one up:
#
#   /etc/hvdump/hooks/kdump   sourced by the test initramfs's /init after
#                             its modules are loaded: when the kernel has a crashkernel=
#                             reservation and the command line says
#                             hvdump.kdump=WAYS, `kexec -p` loads this same
#                             kernel with the capture initramfs below and
#                             kdump-tools' command line (reset_devices
#                             nr_cpus=1 irqpoll); prints HVDUMP-KDUMP-LOADED
#                             rc=N reserved=BYTES
#   /sbin/kexec + its libraries (Debian's kexec-tools)
#   /boot/vmlinuz             the kernel (bzImage) for the capture kernel
#   /boot/capture.img         the capture initramfs: busybox, Debian's
#                             makedumpfile with its libraries, virtio and
#                             ext4 modules; its /init mounts the ext4 file
#                             system on /dev/vda and, for each of WAYS in
#                             order, writes /proc/vmcore there:
#                               mdf   makedumpfile -c -d 31 → /vmcore.mdf
#                               copy  cp /proc/vmcore → /vmcore.copy
#                             printing HVDUMP-KDUMP-<WAY>-START and
#                             HVDUMP-KDUMP-<WAY>-DONE rc=N bytes=N after
#                             each (synced), then HVDUMP-KDUMP-REBOOT and
#                             reboots (kdump-tools' default).
#
# Rebuilt only when its inputs change (a stamp holds their checksum).
set -euo pipefail

kver=$1
out=$2
kernel=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
for f in /usr/sbin/kexec /usr/bin/makedumpfile /bin/busybox "$kernel" "$moddir/modules.dep"; do
	[ -e "$f" ] || { echo "mkkdump.sh: $f is missing (setup installs kexec-tools, makedumpfile)" >&2; exit 1; }
done

# modules in load order: each one after what modules.dep says it needs
want_mods=(virtio_pci virtio_blk crc32c_generic ext4)
declare -A seen=()
order=()
add_mod() { # path relative to $moddir
	local rel=$1 dep
	[ -n "${seen[$rel]:-}" ] && return
	seen[$rel]=1
	for dep in $(awk -v m="$rel:" '$1 == m { $1 = ""; print }' "$moddir/modules.dep"); do
		add_mod "$dep"
	done
	order+=("$rel")
}
for m in "${want_mods[@]}"; do
	rel=$(awk -F: -v n="/$m.ko" 'index($1, n) && substr($1, length($1) - length(n) + 1) == n { print $1; exit }' \
		"$moddir/modules.dep")
	rel=${rel:-$(awk -F: -v n="/$m.ko.xz" 'index($1, n) { print $1; exit }' "$moddir/modules.dep")}
	[ -n "$rel" ] || { echo "mkkdump.sh: module $m not in $moddir/modules.dep" >&2; exit 1; }
	add_mod "$rel"
done

libs_of() { ldd "$1" | awk '/=>/ { print $3 } /^\t\/lib64\// { print $1 }' | grep '^/'; }

stamp_input() {
	{
		cat "$0" /usr/sbin/kexec /usr/bin/makedumpfile /bin/busybox "$kernel"
		for m in "${order[@]}"; do cat "$moddir/$m"; done
		for l in $(libs_of /usr/sbin/kexec) $(libs_of /usr/bin/makedumpfile); do cat "$l"; done
	} | sha256sum | cut -d' ' -f1
}
want=$(stamp_input)
if [ -s "$out" ] && [ -f "$out.stamp" ] && [ "$(cat "$out.stamp")" = "$want" ]; then
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
copy_bin() { # binary, root: the binary and its shared libraries
	local l
	mkdir -p "$2$(dirname "$1")"
	cp -L "$1" "$2$1"
	for l in $(libs_of "$1"); do
		mkdir -p "$2$(dirname "$l")"
		cp -L "$l" "$2$l"
	done
}

# the capture initramfs
cap=$work/capture
mkdir -p "$cap"/{bin,dev,proc,sys,mnt,tmp,lib/modules}
cp /bin/busybox "$cap/bin/busybox"
copy_bin /usr/bin/makedumpfile "$cap"
: >"$cap/lib/modules/order"
for m in "${order[@]}"; do
	b=$(basename "$m")
	case "$b" in
	*.ko.xz) xz -dc "$moddir/$m" >"$cap/lib/modules/${b%.xz}"; b=${b%.xz} ;;
	*) cp "$moddir/$m" "$cap/lib/modules/$b" ;;
	esac
	echo "$b" >>"$cap/lib/modules/order"
done
cat >"$cap/init" <<'EOF'
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
finish() {
	umount /mnt 2>/dev/null
	echo "HVDUMP-KDUMP-REBOOT"
	reboot -f
	sleep 3600
}
echo "HVDUMP-KDUMP-BOOTED $(grep -E '^MemTotal' /proc/meminfo | tr -s ' ')"
while read -r m; do
	insmod "/lib/modules/$m" || echo "HVDUMP-KDUMP-INSMOD-FAILED $m"
done </lib/modules/order
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if ! mount -t ext4 /dev/vda /mnt; then
	echo "HVDUMP-KDUMP-FAILED no file system on /dev/vda"
	finish
fi
for w in $(arg hvdump.kdump mdf | tr ',' ' '); do
	W=$(echo "$w" | tr a-z A-Z)
	echo "HVDUMP-KDUMP-$W-START"
	case "$w" in
	mdf) makedumpfile -c -d 31 --message-level 1 /proc/vmcore /mnt/vmcore.mdf ;;
	copy) cp /proc/vmcore /mnt/vmcore.copy ;;
	*) false ;;
	esac
	rc=$?
	sync
	echo "HVDUMP-KDUMP-$W-DONE rc=$rc bytes=$(stat -c %s "/mnt/vmcore.$w" 2>/dev/null || echo 0)"
done
finish
EOF
chmod 755 "$cap/init"
mkdir -p "$work/add/boot" "$work/add/etc/hvdump/hooks"
(cd "$cap" && find . | cpio -o -H newc --quiet | gzip -6) >"$work/add/boot/capture.img"
cp "$kernel" "$work/add/boot/vmlinuz"
copy_bin /usr/sbin/kexec "$work/add"
cat >"$work/add/etc/hvdump/hooks/kdump" <<'EOF'
# sourced by /init (its arg() at hand): load the capture kernel as
# kdump-tools' `kdump-config load` does
ways=$(arg hvdump.kdump "")
size=$(cat /sys/kernel/kexec_crash_size 2>/dev/null || echo 0)
if [ -n "$ways" ] && [ "$size" = 0 ]; then
	echo "HVDUMP-KDUMP-LOADED rc=1 reserved=0 (no crashkernel= reservation)"
elif [ -n "$ways" ]; then
	said=$(/usr/sbin/kexec -p /boot/vmlinuz --initrd=/boot/capture.img \
		--append="console=ttyS0 reset_devices nr_cpus=1 irqpoll panic=0 hvdump.kdump=$ways" 2>&1)
	rc=$?
	[ -z "$said" ] || echo "$said" | sed 's/^/HVDUMP-KDUMP-KEXEC: /'
	echo "HVDUMP-KDUMP-LOADED rc=$rc reserved=$size loaded=$(cat /sys/kernel/kexec_crash_loaded)"
fi
EOF
chmod 755 "$work/add/etc/hvdump/hooks/kdump"
mkdir -p "$(dirname "$out")"
(cd "$work/add" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
echo "$want" >"$out.stamp"
echo "mkkdump: built $out ($(du -h "$work/add/boot/capture.img" | cut -f1) capture initramfs, modules: ${order[*]##*/})" >&2
