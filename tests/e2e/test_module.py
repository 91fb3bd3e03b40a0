"""hvdump_guest.ko on the real Debian guest: panic/oops/BUG capture without a
pvpanic driver, the descriptor found from registers, DATE from the panic
time, both load orders against Debian's pvpanic, dump_on_oops on a guest
that keeps running, VMCOREINFO published to QEMU's own dumps, load/unload
without leaks, and descriptors damaged on purpose."""
import datetime
import os
import re
import shutil
import struct
import tempfile
import zlib

from hvtest import (KVER, Guest, Tap, crash, drgn, run_hvdump, run_panic)

SYSRQ = "Kernel panic - not syncing: sysrq triggered crash"
ISO_RE = re.compile(r"guest (panic|oops) on CPU (\d+) at (\S+): (.*)")
DESC_FMT = "<QIIIIQQII"  # hvdump_desc.h header up to nr_cpus


def event_time(stderr):
    m = ISO_RE.search(stderr)
    if not m:
        return None
    return datetime.datetime.fromisoformat(m.group(3).replace("Z", "+00:00"))


def crash_date(c):
    m = re.search(r"DATE: \w+ (\w+ +\d+ [\d:]+) \w+ (\d+)", c)
    if not m:
        return None
    return datetime.datetime.strptime("%s %s" % (m.group(1), m.group(2)),
                                      "%b %d %H:%M:%S %Y").replace(tzinfo=datetime.timezone.utc)


def check_panic_capture(t, label, out, modules, extra_args=()):
    r, path = run_panic(out, label, extra_append="hvdump.modules=%s" % modules, extra_args=extra_args)
    t.ok(r.returncode == 3, "%s: panic captured (exit 3)" % label, r.stderr + r.stdout[-2500:])
    t.ok("descriptor at" in r.stderr and "from the signalling vCPU's registers, no scan" in r.stderr,
         "%s: descriptor found from the vCPU's registers, without a scan" % label, r.stderr)
    if not os.path.exists(path):
        return None
    c = crash(path, ["sys", "bt"])
    et, cd = event_time(r.stderr), crash_date(c)
    t.ok(et is not None and cd is not None and abs((cd - et).total_seconds()) <= 2,
         "%s: crash sys DATE is the panic time (+-2 s)" % label, "event %s crash %s\n%s" % (et, cd, c[:1200]))
    t.ok('PANIC: "%s"' % SYSRQ in c and re.search(r"\] sysrq_handle_crash at", c) is not None,
         "%s: crash shows the panic string and bt through sysrq_handle_crash" % label, c[:3000])
    return r


def main():
    t = Tap()
    out = tempfile.mkdtemp(prefix="hvdump-e2e-mod-")
    try:
        # 1. the module alone: no pvpanic driver in the guest
        r = check_panic_capture(t, "module-only", out, "hvdump_guest")
        if r is not None:
            t.ok("HVDUMP-SYSFS device=isa 0x505" in r.stdout and "HVDUMP-SYSFS published=fw_cfg" in r.stdout
                 and re.search(r"HVDUMP-SYSFS descriptor=0x[0-9a-f]+", r.stdout) is not None,
                 "module-only: /sys/kernel/hvdump shows descriptor, device and publication",
                 "\n".join(l for l in r.stdout.splitlines() if "HVDUMP" in l))
        # 2. both load orders against Debian's in-tree pvpanic (both at INT_MAX)
        check_panic_capture(t, "pvpanic-first", out, "pvpanic,pvpanic-mmio,hvdump_guest")
        check_panic_capture(t, "module-first", out, "hvdump_guest,pvpanic,pvpanic-mmio")
        # the PCI pvpanic device (MMIO) instead of the ISA port
        r = check_panic_capture(t, "pvpanic-pci", out, "hvdump_guest", extra_args=["-device", "pvpanic-pci"])
        t.ok(r is not None and re.search(r"HVDUMP-SYSFS device=pci [0-9a-f:.]+", r.stdout) is not None,
             "pvpanic-pci: the module signals through the PCI device",
             "" if r is None else "\n".join(l for l in r.stdout.splitlines() if "HVDUMP" in l))

        # 3. NULL dereference and BUG() with panic_on_oops
        for kind, frame in (("null", "crashtest_write"), ("bug", "crashtest_write")):
            r, path = run_panic(out, "oops-" + kind, action=kind,
                                extra_append="oops=panic hvdump.modules=hvdump_guest")
            c = crash(path, ["sys", "bt"]) if os.path.exists(path) else ""
            t.ok(r.returncode == 3 and re.search(r"exception RIP: %s\+" % frame, c) is not None and
                 re.search(r'PANIC: "(Oops|kernel BUG at)', c) is not None,
                 "%s with panic_on_oops: captured, bt shows the faulting %s" % (kind, frame),
                 r.stderr + c[:3000])

        # 4. dump_on_oops=1, panic_on_oops=0: a dump, and the guest goes on
        r, path = run_panic(out, "live-oops", action="null",
                            extra_append="hvdump.modules=hvdump_guest hvdump_guest.dump_on_oops=1")
        oops_path = os.path.join(out, "live-oops.oops1.vmcore")
        t.ok(r.returncode == 6 and os.path.exists(oops_path) and not os.path.exists(path),
             "dump_on_oops: NAME.oops1.vmcore written, no panic dump, exit 6", r.stderr)
        after = r.stdout[r.stdout.find("vmcore: " + oops_path):]
        t.ok("HVDUMP-SURVIVED" in after and "HVDUMP-TICK 3" in after,
             "dump_on_oops: the guest keeps running after the dump (console after it)", r.stdout[-1500:])
        c = crash(oops_path, ["sys", "bt"]) if os.path.exists(oops_path) else ""
        t.ok(re.search(r"exception RIP: crashtest_write\+", c) is not None and "RELEASE: " + KVER in c,
             "dump_on_oops: crash bt of the oopsing task starts at the fault", c[:3000])

        # 5. QEMU's own dump-guest-memory now carries VMCOREINFO (no fw_cfg driver in the guest)
        g = Guest(action="tick", extra_append="hvdump.modules=hvdump_guest")
        try:
            g.wait_for("HVDUMP-TICK 2")
            qpath = os.path.join(out, "qemu.vmcore")
            g.qmp.cmd("dump-guest-memory", paging=False, protocol="file:" + qpath)
            notes = elf_note_names(qpath)
            t.ok("VMCOREINFO" in notes, "QEMU dump-guest-memory contains the VMCOREINFO note", notes)
            c = crash(qpath, ["sys", "help -n"])
            t.ok("RELEASE: " + KVER in c and re.search(r"^\s+OSRELEASE=" + re.escape(KVER), c, re.M),
                 "crash opens QEMU's dump and finds its VMCOREINFO", c[:1500])
            # QEMU writes no kernel-virtual segments (paging=false): drgn needs
            # its libkdumpfile path, which lives on the VMCOREINFO
            d, err = drgn(qpath, env_extra={"DRGN_USE_LIBKDUMPFILE_FOR_ELF": "1"})
            t.ok(d is not None and d["release"] == KVER, "drgn reads QEMU's dump through its VMCOREINFO", err)
        finally:
            g.close()

        # 6. insmod/rmmod 50 times: no leak, notifiers and sysfs gone
        r, path = run_panic(out, "modloop", action="modloop", extra_append="hvdump.modules=none")
        m = re.search(r"HVDUMP-MODLOOP cycles=(\d+) baseline_growth=(-?\d+) slab_before=(\d+) "
                      r"slab_after=(\d+) sysfs=(\w+)", r.stdout)
        t.ok(m is not None and m.group(1) == "50" and m.group(5) == "gone",
             "50 insmod/rmmod cycles succeed and /sys/kernel/hvdump goes away",
             m.group(0) if m else r.stdout[-1500:])
        # Slab moves with any module load (kernfs, RCU-deferred frees): compare
        # with 50 cycles of a trivial module; a leaked kobject, page or
        # descriptor per cycle would add >= 50 x 1 kB on top
        t.ok(m is not None and int(m.group(4)) - int(m.group(3)) < max(int(m.group(2)), 0) + 48,
             "Slab grows no more than for a trivial module over 50 cycles", m.group(0) if m else "")
        t.ok(r.returncode == 3 and "guest module descriptor" not in r.stderr,
             "a panic after the unloads is captured, no stale notifier or descriptor", r.stderr)

        # 7. descriptors damaged on purpose: ignored with a warning, the dump still valid
        damaged_descriptors(t, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return t.done()


def elf_note_names(path):
    names = []
    with open(path, "rb") as f:
        eh = f.read(64)
        phoff, = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(phoff)
        for _ in range(phnum):
            ph = f.read(phentsize)
            if struct.unpack_from("<I", ph, 0)[0] == 4:
                off, _, _, size = struct.unpack_from("<QQQQ", ph, 8)
                f.seek(off)
                data = f.read(size)
                pos = 0
                while pos + 12 <= len(data):
                    nsz, dsz, _ = struct.unpack_from("<III", data, pos)
                    names.append(data[pos + 12:pos + 12 + nsz].rstrip(b"\0").decode(errors="replace"))
                    pos += 12 + ((nsz + 3) & ~3) + ((dsz + 3) & ~3)
                break
    return names


def damaged_descriptors(t, out):
    g = Guest(action="sysrq", extra_append="hvdump.modules=hvdump_guest")
    try:
        if not t.ok(g.wait_status("guest-panicked"), "damage: module guest panicked", g.console()[-1500:]):
            return
        m = re.search(r"HVDUMP-SYSFS descriptor=0x([0-9a-f]+)", g.console())
        paddr = int(m.group(1), 16)
        ram = g.ram_fd_path()
        with open(ram, "r+b") as f:
            f.seek(paddr)
            orig = f.read(1176)

        def put(data):
            with open(ram, "r+b") as f:
                f.seek(paddr)
                f.write(data)

        def sealed(b):
            b = bytearray(b)
            b[16:20] = b"\0\0\0\0"
            b[16:20] = struct.pack("<I", zlib.crc32(bytes(b)))
            return bytes(b)

        def patch(b, off, fmt, val):
            b = bytearray(b)
            struct.pack_into(fmt, b, off, val)
            return bytes(b)

        cases = [
            ("bad checksum", patch(orig, 0x248, "<B", orig[0x248] ^ 1), "checksum"),
            ("huge size", sealed(patch(orig, 12, "<I", 0x7fffffff)), "bad size"),
            ("huge message length", sealed(patch(orig, 0x244, "<I", 0x7fffffff)), "message length"),
            ("VMCOREINFO pointer outside RAM", sealed(patch(orig, 32, "<Q", 0xfff00000000)),
             "announced address"),
        ]
        for name, data, needle in cases:
            put(data)
            path = os.path.join(out, "damaged.vmcore")
            r = run_hvdump(["dump", "-v", "--force", "--qmp", g.sock, path])
            c = crash(path, ["sys"]) if r.returncode == 0 else ""
            t.ok(r.returncode == 0 and needle in r.stderr and "warning:" in r.stderr and
                 'PANIC: "%s"' % SYSRQ in c,
                 "damaged descriptor (%s): warning, and still a valid dump" % name, r.stderr + c[:800])
        put(orig)
    finally:
        g.close()


if __name__ == "__main__":
    raise SystemExit(main())
