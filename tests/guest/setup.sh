#!/usr/bin/env bash
# tests/guest/setup.sh — make this Debian 12 machine able to build hvdump and
# run its demo and test guests. Idempotent: every step checks before it acts,
# so a second run installs nothing and takes a second or two.
#
#   * Debian packages (build deps, clang + libFuzzer runtime, QEMU, crash, drgn,
#     makedumpfile, the guest kernel and headers, busybox, and the commands
#     the tests run), installed with --no-install-recommends;
#   * the guest kernel ABI, resolved from apt at run time (never hard-coded);
#   * the debug vmlinux of that kernel, extracted alone from the -dbg .deb and
#     cached under $HVDUMP_CACHE (default ~/.cache/hvdump);
#   * checkpatch.pl from linux-source, cached the same way;
#   * Debian 12's newest 6.12 headers and kernel image: the guest module's
#     portability build and the second test guest kernel (none in the
#     archive is a recorded fact, not a failure);
#   (the busybox test initramfs is built after the modules: tests/guest/build.sh).
#
# Output: one progress line per step on stderr; apt's own output goes to
# $HVDUMP_CACHE/setup.log. On success the results are written atomically to
# $HVDUMP_CACHE/env.sh (export assignments of HVDUMP_KVER HVDUMP_KERNEL
# HVDUMP_VMLINUX HVDUMP_INITRD HVDUMP_KHEADERS HVDUMP_CHECKPATCH
# HVDUMP_KHEADERS_612 HVDUMP_KVER_612 HVDUMP_KERNEL_612 HVDUMP_INITRD_612). On failure the last line is `setup: <step>: <reason>`
# and the exit status is 1; env.sh is then not rewritten. Callers:
#
#   bash tests/guest/setup.sh || exit
#   . "${HVDUMP_CACHE:-$HOME/.cache/hvdump}/env.sh"

set -Eeuo pipefail
shopt -s inherit_errexit

cache=${HVDUMP_CACHE:-${HOME:-/root}/.cache/hvdump}

nsteps=8
stepno=0
step=""
t0=$SECONDS
tmpdirs=()
trap 'for d in "${tmpdirs[@]}"; do rm -rf "$d"; done' EXIT

begin() {
	stepno=$((stepno + 1))
	step=$1
	t0=$SECONDS
	printf 'setup: [%d/%d] %s ... ' "$stepno" "$nsteps" "$step" >&2
}
ok() {
	printf 'ok%s (%d s)\n' "${1:+, $1}" $((SECONDS - t0)) >&2
	step=""
}
fail() {
	[ -n "$step" ] && printf 'failed\n' >&2
	echo "setup: ${step:-setup}: $*" >&2
	exit 1
}
# Anything not checked explicitly still ends in one line naming the step
# (reported once, by the main shell, not by the subshell that failed).
trap 'rc=$?; [ "$BASHPID" = "$$" ] || exit $rc; fail "\`$BASH_COMMAND\` exited $rc"' ERR

mktmp() { # sets tmp to a new directory under /var/tmp, removed on exit
	tmp=$(mktemp -d "/var/tmp/hvdump-$1.XXXXXX" 2>/dev/null) || fail "cannot create a directory in /var/tmp"
	chown _apt "$tmp" 2>/dev/null || true # apt-get download's sandbox user
	tmpdirs+=("$tmp")
}

# ---- apt: output to the log, one `apt-get update` per run at most, done when
# the package lists are missing or after a command failed (stale lists).
log=$cache/setup.log
apt_opts=(-q -o DPkg::Lock::Timeout=600)
apt_updated=0
apt_error=""
export DEBIAN_FRONTEND=noninteractive

apt_reason() { # what failed, with apt's last error line and the log's path
	local e
	# the first error of the last command run
	e=$(awk '/^== /{e=""} /^E: /&&e==""{e=$0} END{print e}' "$log" 2>/dev/null || true)
	apt_error="$1 failed${e:+: $e} (log: $log)"
}
apt_update() {
	[ $apt_updated = 0 ] || return 1
	apt_updated=1
	echo "== apt-get update" >>"$log"
	apt-get "${apt_opts[@]}" update >>"$log" 2>&1 || { apt_reason "apt-get update"; return 1; }
}
lists_present() { compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }
apt_lists() { lists_present || apt_update; }
# apt_run DESC CMD...: run an apt command; on failure refresh the lists once and retry.
apt_run() {
	local desc=$1
	shift
	apt_lists || return 1
	echo "== $*" >>"$log"
	if "$@" >>"$log" 2>&1; then
		return 0
	fi
	apt_update || { [ -n "$apt_error" ] || apt_reason "$desc"; return 1; }
	echo "== $* (after apt-get update)" >>"$log"
	"$@" >>"$log" 2>&1 || { apt_reason "$desc"; return 1; }
}
apt_install() {
	apt_run "apt-get install $*" apt-get "${apt_opts[@]}" install -y --no-install-recommends "$@"
}
apt_download() { # PKG DIR
	apt_run "apt-get download $1" bash -c 'cd "$1" && shift && exec apt-get "$@"' _ "$2" \
		"${apt_opts[@]}" download "$1"
}
installed() { dpkg-query -W -f '${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

# ---- 1. cache directory and log
begin "cache directory $cache"
mkdir -p "$cache" 2>/dev/null || fail "cannot create $cache (set HVDUMP_CACHE to a writable directory)"
: >"$log" 2>/dev/null || fail "cannot write $log (set HVDUMP_CACHE to a writable directory)"
ok

# ---- 2. Debian packages
packages=(
	build-essential meson ninja-build pkg-config clang
	libjson-c-dev libglib2.0-dev libelf-dev zlib1g-dev libvirt-dev libsystemd-dev
	# kdump-compressed page codecs
	libzstd-dev liblzo2-dev libsnappy-dev
	# hvdumpd's libvirt tests start a real libvirtd (no systemd needed)
	libvirt-daemon-system libvirt-clients
	# systemd-analyze checks hvdumpd.service (systemd is not started)
	systemd
	qemu-system-x86 qemu-utils
	crash python3-drgn makedumpfile
	# the comparison harness (tests/bench/compare.sh): in-guest kdump's
	# kexec (a preseed keeps it from loading a kernel for the host's own
	# reboots), the ext4 disk its capture kernel writes to, the plot
	kexec-tools e2fsprogs gnuplot-nox
	# the fleet (issue 12): S3 through libcurl's SigV4, sftp through libssh;
	# the tests start a real one-node Ceph (mon, memstore osd, radosgw) and
	# a real sshd on the loopback
	libcurl4-openssl-dev libssh-dev ceph-mon ceph-osd radosgw openssh-server openssh-client
	# curl: s3server.sh waits for radosgw; test_fleet reads the bucket raw
	curl
	busybox-static cpio kmod
	linux-image-amd64 linux-headers-amd64
	# what the scripts and tests run: python3 (runner, e2e), mount/umount
	# (tmpfs in e2e), timeout (coreutils), ps/kill (procps), xz (linux-source
	# tarball, .ko.xz), git, perl (checkpatch.pl), apt-get download + dpkg-deb
	python3 util-linux mount procps coreutils xz-utils git perl tar gzip findutils
)
begin "Debian packages"
missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	# kexec-tools asks whether to handle the host's reboots: no
	echo "kexec-tools kexec-tools/load_kexec boolean false" | debconf-set-selections 2>/dev/null || true
	apt_install "${missing[@]}" || fail "$apt_error"
	ok "installed ${#missing[@]}: ${missing[*]}"
else
	ok "all ${#packages[@]} installed"
fi

# ---- 3. libFuzzer runtime: clang's compiler-rt, named after clang's version
begin "libFuzzer runtime"
clang_major=$(dpkg-query -W -f '${Depends}\n' clang | grep -o 'clang-[0-9]*' | head -1 | cut -d- -f2 || true)
[ -n "$clang_major" ] || fail "cannot tell clang's version from the clang package's dependencies"
rt=libclang-rt-$clang_major-dev
if installed "$rt"; then
	ok "$rt"
else
	apt_install "$rt" || fail "$apt_error"
	ok "installed $rt"
fi

# ---- 4. the guest kernel ABI: what the installed linux-image-amd64 points at
begin "guest kernel (linux-image-amd64)"
kpkg=$(dpkg-query -W -f '${Depends}\n' linux-image-amd64 | tr ',|' '\n\n' |
	sed -n 's/^ *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -1)
[ -n "$kpkg" ] || fail "cannot resolve the kernel package behind linux-image-amd64"
kver=${kpkg#linux-image-}
kimage=/boot/vmlinuz-$kver
kheaders=/usr/src/linux-headers-$kver
[ -r "$kimage" ] || fail "$kimage missing although $kpkg is installed"
if [ -d "$kheaders" ]; then
	ok "$kver"
else
	apt_install "linux-headers-$kver" || fail "$apt_error"
	[ -d "$kheaders" ] || fail "$kheaders missing after installing linux-headers-$kver"
	ok "$kver, installed linux-headers-$kver"
fi

# ---- 5. debug vmlinux, extracted alone and cached outside the source tree
begin "debug vmlinux for $kver"
mkdir -p "$cache/$kver"
vmlinux=$cache/$kver/vmlinux
if [ -s "$vmlinux" ]; then
	ok "cached"
else
	mktmp dbg
	apt_download "linux-image-$kver-dbg" "$tmp" || fail "$apt_error"
	debs=("$tmp"/linux-image-"$kver"-dbg_*.deb)
	[ -f "${debs[0]}" ] || fail "apt-get download left no linux-image-$kver-dbg .deb in $tmp"
	{ dpkg-deb --fsys-tarfile "${debs[0]}" | tar -x -C "$tmp" "./usr/lib/debug/boot/vmlinux-$kver"; } 2>>"$log" ||
		fail "cannot extract usr/lib/debug/boot/vmlinux-$kver from ${debs[0]##*/} (log: $log)"
	mv "$tmp/usr/lib/debug/boot/vmlinux-$kver" "$vmlinux.tmp"
	mv "$vmlinux.tmp" "$vmlinux"
	rm -rf "$tmp"
	ok "$(du -m "$vmlinux" | cut -f1) MB in $cache/$kver"
fi

# ---- 6. checkpatch.pl (kernel style of the guest module): only in
# linux-source's tarball; the three files it needs are extracted once.
begin "checkpatch.pl from linux-source"
cp_dir=$cache/checkpatch
if [ -s "$cp_dir/checkpatch.pl" ]; then
	ok "cached"
else
	apt_lists || fail "$apt_error"
	srcpkg=$(apt-cache depends linux-source 2>/dev/null | sed -n 's/.*Depends: \(linux-source-[0-9.]*\)$/\1/p' | head -1)
	srcpkg=${srcpkg:-linux-source-6.1}
	mktmp src
	apt_download "$srcpkg" "$tmp" || fail "$apt_error"
	mkdir -p "$tmp/x" "$cp_dir"
	{
		dpkg-deb --fsys-tarfile "$tmp"/linux-source-*.deb |
			tar -x -C "$tmp/x" --wildcards './usr/src/linux-source-*.tar.xz' &&
			tar -xJf "$tmp"/x/usr/src/linux-source-*.tar.xz -C "$tmp/x" --wildcards \
				'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch'
	} 2>>"$log" || fail "cannot extract scripts/checkpatch.pl from $srcpkg (log: $log)"
	# checkpatch.pl last: its presence means the set is complete
	cp "$tmp"/x/linux-source-*/scripts/{spelling.txt,const_structs.checkpatch} "$cp_dir/"
	cp "$tmp"/x/linux-source-*/scripts/checkpatch.pl "$cp_dir/checkpatch.pl.tmp"
	mv "$cp_dir/checkpatch.pl.tmp" "$cp_dir/checkpatch.pl"
	rm -rf "$tmp"
	ok "$srcpkg"
fi

# ---- 7. Debian 12's newest 6.12 headers and kernel (the module must build
# there, and dump levels are tested on it: its struct page changed), resolved
# at run time; none in the archive leaves HVDUMP_KHEADERS_612 empty.
begin "6.12 headers and kernel (second guest kernel)"
shopt -s nullglob
have612=(/usr/src/linux-headers-6.12.*+deb12-amd64)
shopt -u nullglob
kheaders612=""
if [ ${#have612[@]} -gt 0 ]; then
	kheaders612=$(printf '%s\n' "${have612[@]}" | sort -V | tail -1)
	ok "${kheaders612##*/}"
else
	apt_lists || fail "$apt_error"
	pkg612=$(apt-cache search --names-only '^linux-headers-6\.12\.[0-9]+\+deb12-amd64$' | sed 's/ .*//' | sort -V | tail -1)
	if [ -z "$pkg612" ]; then
		ok "none in the archive: portability build skipped"
	else
		apt_install "$pkg612" || fail "$apt_error"
		kheaders612=/usr/src/linux-headers-${pkg612#linux-headers-}
		[ -d "$kheaders612" ] || fail "$kheaders612 missing after installing $pkg612"
		ok "installed $pkg612"
	fi
fi
kver612="" kernel612="" initrd612=""
if [ -n "$kheaders612" ]; then
	kver612=${kheaders612##*/linux-headers-}
	kernel612=/boot/vmlinuz-$kver612
	if [ ! -r "$kernel612" ]; then
		step="6.12 kernel image"
		printf 'setup:       6.12 kernel image ... ' >&2
		apt_install "linux-image-$kver612" || fail "$apt_error"
		[ -r "$kernel612" ] || fail "$kernel612 missing after installing linux-image-$kver612"
		printf 'installed linux-image-%s\n' "$kver612" >&2
		step=""
	fi
	initrd612=$cache/$kver612/initramfs.cpio.gz
fi

# ---- 8. the results, for callers to source
begin "environment file"
envfile=$cache/env.sh
initrd=$cache/$kver/initramfs.cpio.gz
{
	echo "# written by tests/guest/setup.sh; source it after a successful setup run"
	printf 'export HVDUMP_KVER=%q\n' "$kver"
	printf 'export HVDUMP_KERNEL=%q\n' "$kimage"
	printf 'export HVDUMP_VMLINUX=%q\n' "$vmlinux"
	printf 'export HVDUMP_INITRD=%q\n' "$initrd"
	printf 'export HVDUMP_KHEADERS=%q\n' "$kheaders"
	printf 'export HVDUMP_CHECKPATCH=%q\n' "$cp_dir/checkpatch.pl"
	printf 'export HVDUMP_KHEADERS_612=%q\n' "$kheaders612"
	printf 'export HVDUMP_KVER_612=%q\n' "$kver612"
	printf 'export HVDUMP_KERNEL_612=%q\n' "$kernel612"
	printf 'export HVDUMP_INITRD_612=%q\n' "$initrd612"
} >"$envfile.tmp.$$"
mv "$envfile.tmp.$$" "$envfile"
ok "$envfile"
