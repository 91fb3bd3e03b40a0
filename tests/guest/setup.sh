#!/usr/bin/env bash
# tests/guest/setup.sh — make this Debian 12 machine able to build hvdump and
# run its demo and test guests. Idempotent: every step checks before it acts.
#
#   * Debian packages (build deps, QEMU, crash, drgn, makedumpfile, the guest
#     kernel and headers, busybox);
#   * the guest kernel ABI, resolved from apt at run time (never hard-coded);
#   * the debug vmlinux of that kernel, extracted alone from the -dbg .deb and
#     cached under $HVDUMP_CACHE (default ~/.cache/hvdump);
#   (the busybox test initramfs is built after the modules: tests/guest/build.sh).
#
# Prints shell assignments on stdout when called with --print-env, so callers
# can `eval "$(tests/guest/setup.sh --print-env)"`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${HVDUMP_CACHE:-$HOME/.cache/hvdump}
print_env=0
[ "${1:-}" = "--print-env" ] && print_env=1

log() { echo "setup: $*" >&2; }

# apt-get download PKG into DIR, refreshing the package lists once if needed.
apt_download() {
	(cd "$2" && apt-get download "$1" >&2) || {
		apt-get update -q >&2
		(cd "$2" && apt-get download "$1" >&2)
	}
}

packages=(
	build-essential meson ninja-build pkg-config clang
	libjson-c-dev libglib2.0-dev libelf-dev zlib1g-dev
	qemu-system-x86 qemu-utils
	crash python3-drgn makedumpfile
	busybox-static cpio kmod
	linux-image-amd64 linux-headers-amd64
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done
# libFuzzer runtime: clang's compiler-rt (package name follows clang's version).
clang_major=""
if command -v clang >/dev/null; then
	clang_major=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
fi
if [ ${#missing[@]} -gt 0 ]; then
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	apt-get install -y -q "${missing[@]}" >&2
	clang_major=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
fi
if [ -n "$clang_major" ] && ! dpkg-query -W -f '${Status}\n' "libclang-rt-$clang_major-dev" 2>/dev/null | grep -q 'ok installed'; then
	log "installing libclang-rt-$clang_major-dev (libFuzzer)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "libclang-rt-$clang_major-dev" >&2 || {
		apt-get update -q >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "libclang-rt-$clang_major-dev" >&2
	}
fi

# The guest kernel ABI: what the installed linux-image-amd64 meta package points at.
kpkg=$(dpkg-query -W -f '${Depends}\n' linux-image-amd64 | tr ',|' '\n\n' |
	sed -n 's/^ *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -1)
[ -n "$kpkg" ] || { echo "setup: cannot resolve the kernel package behind linux-image-amd64" >&2; exit 1; }
kver=${kpkg#linux-image-}
kimage=/boot/vmlinuz-$kver
kheaders=/usr/src/linux-headers-$kver
[ -r "$kimage" ] || { echo "setup: $kimage missing after installing $kpkg" >&2; exit 1; }
if [ ! -d "$kheaders" ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "linux-headers-$kver" >&2
fi

# Debug vmlinux, extracted alone and cached outside the source tree.
mkdir -p "$cache/$kver"
vmlinux=$cache/$kver/vmlinux
if [ ! -s "$vmlinux" ]; then
	log "fetching debug vmlinux for $kver"
	tmp=$(mktemp -d /var/tmp/hvdump-dbg.XXXXXX)
	chown _apt "$tmp" 2>/dev/null || true
	trap 'rm -rf "$tmp"' EXIT
	apt_download "linux-image-$kver-dbg" "$tmp"
	deb=$(ls "$tmp"/linux-image-"$kver"-dbg_*.deb)
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "./usr/lib/debug/boot/vmlinux-$kver"
	mv "$tmp/usr/lib/debug/boot/vmlinux-$kver" "$vmlinux.tmp"
	mv "$vmlinux.tmp" "$vmlinux"
	rm -rf "$tmp"
	trap - EXIT
fi

# The module must also build for Debian 12's newer kernel line (6.12): its
# headers, the newest available, resolved at run time.
kheaders612=$(ls -d /usr/src/linux-headers-6.12.*+deb12-amd64 2>/dev/null | sort -V | tail -1)
if [ -z "$kheaders612" ]; then
	pkg612=$(apt-cache search --names-only '^linux-headers-6\.12\.[0-9]+\+deb12-amd64$' | sed 's/ .*//' | sort -V | tail -1)
	if [ -n "$pkg612" ]; then
		log "installing $pkg612 (portability build of the guest module)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg612" >&2 || true
		kheaders612=/usr/src/linux-headers-${pkg612#linux-headers-}
	fi
fi

# checkpatch.pl (kernel style of the guest module): only in linux-source's
# tarball; the three files it needs are extracted once and cached.
cp_dir=$cache/checkpatch
if [ ! -s "$cp_dir/checkpatch.pl" ]; then
	log "fetching checkpatch.pl from linux-source"
	tmp=$(mktemp -d /var/tmp/hvdump-src.XXXXXX)
	chown _apt "$tmp" 2>/dev/null || true
	srcpkg=$(apt-cache depends linux-source 2>/dev/null | sed -n 's/.*Depends: \(linux-source-[0-9.]*\)$/\1/p' | head -1)
	apt_download "${srcpkg:-linux-source-6.1}" "$tmp"
	mkdir -p "$tmp/x" "$cp_dir"
	dpkg-deb --fsys-tarfile "$tmp"/linux-source-*.deb |
		tar -x -C "$tmp/x" --wildcards './usr/src/linux-source-*.tar.xz'
	tar -xJf "$tmp"/x/usr/src/linux-source-*.tar.xz -C "$tmp/x" --wildcards \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch'
	cp "$tmp"/x/linux-source-*/scripts/{checkpatch.pl,spelling.txt,const_structs.checkpatch} "$cp_dir/"
	rm -rf "$tmp"
fi

initrd=$cache/$kver/initramfs.cpio.gz

if [ $print_env = 1 ]; then
	printf 'HVDUMP_KVER=%q\nHVDUMP_KERNEL=%q\nHVDUMP_VMLINUX=%q\nHVDUMP_INITRD=%q\nHVDUMP_KHEADERS=%q\nHVDUMP_CHECKPATCH=%q\nHVDUMP_KHEADERS_612=%q\n' \
		"$kver" "$kimage" "$vmlinux" "$initrd" "$kheaders" "$cp_dir/checkpatch.pl" "${kheaders612:-}"
fi
