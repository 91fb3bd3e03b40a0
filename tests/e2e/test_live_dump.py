"""`hvdump dump` of a running (and of a paused) guest: the guest keeps
running, the dump opens in crash, its bytes are QEMU's, FILE is never
overwritten without --force, and a full disk leaves nothing behind."""
import os
import re
import shutil
import subprocess
import tempfile
import time

from hvtest import (KVER, Guest, Tap, crash, elf_loads, one_line_error, read_phys, run_hvdump)


def xp_bytes(qmp, paddr, n):
    text = qmp.hmp("xp /%dbx 0x%x" % (n, paddr))
    vals = re.findall(r"0x([0-9a-f]{2})\b", text.split(":", 1)[1] if ":" in text else "")
    return bytes(int(v, 16) for v in vals[:n])


def main():
    t = Tap()
    g = Guest(action="tick")
    work = tempfile.mkdtemp(prefix="hvdump-e2e-live-")
    try:
        if not t.ok(g.wait_for("HVDUMP-TICK 3"), "tick guest boots", g.console()[-2000:]):
            return t.done()
        path = os.path.join(work, "live.vmcore")
        r = run_hvdump(["dump", "-v", "--qmp", g.sock, path])
        t.ok(r.returncode == 0 and os.path.exists(path), "dump of a running guest succeeds",
             r.stderr)
        before = g.ticks()
        status = g.status()
        t.ok(status == "running", "the guest is running again after the dump", status)
        deadline = time.time() + 30
        while g.ticks() < before + 2 and time.time() < deadline:
            time.sleep(0.2)
        t.ok(g.ticks() >= before + 2, "the guest keeps printing ticks after the dump",
             g.console()[-500:])

        # the bytes in the dump are QEMU's: compare kernel text (stable while running)
        loads = elf_loads(path) if os.path.exists(path) else []
        kimage = [l for l in loads if l[1] >= 0xffffffff80000000]
        if kimage:
            paddr = kimage[0][2] + 0x1000
            got = read_phys(path, paddr, 64)
            want = xp_bytes(g.qmp, paddr, 64)
            t.ok(got == want and len(want) == 64, "dump bytes equal QEMU's view of guest memory",
                 "dump %r\nqemu %r" % (got, want))
        else:
            t.ok(False, "dump bytes equal QEMU's view of guest memory", "no kernel segment: %r" % loads)

        # (crash 8.0.2's `ps` lists only active tasks on 6.1, for QEMU's own
        # dumps too, so the check is sys + bt -a)
        c = crash(path, ["sys", "bt -a"])
        t.ok("RELEASE: " + KVER in c and 'PANIC: ""' in c and
             all(re.search(r"PID: \d+ +TASK: [0-9a-f]+ +CPU: %d " % i, c) for i in (0, 1)) and
             re.search(r"#\d+ \[[0-9a-f]+\] \w+ at ", c) is not None,
             "crash opens the live dump: sys, and bt -a of both vCPUs", c[:3000])

        r = run_hvdump(["dump", "--qmp", g.sock, path])
        t.ok(r.returncode != 0 and "--force" in r.stderr and one_line_error(r),
             "an existing FILE is refused without --force (one-line error)", r.stderr)
        size = os.path.getsize(path)
        r = run_hvdump(["dump", "--force", "--qmp", g.sock, path])
        t.ok(r.returncode == 0 and os.path.getsize(path) == size, "--force overwrites FILE",
             r.stderr)

        g.qmp.cmd("stop")
        r = run_hvdump(["dump", "--qmp", g.sock, os.path.join(work, "paused.vmcore")])
        t.ok(r.returncode == 0 and g.status() == "paused",
             "a paused guest is dumped and left paused", r.stderr + g.status())
        g.qmp.cmd("cont")

        # disk full: a 16 MiB tmpfs cannot hold the ~80 MiB of guest data
        full = os.path.join(work, "full")
        os.mkdir(full)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", full],
                           capture_output=True, text=True)
        if m.returncode == 0:
            try:
                target = os.path.join(full, "x.vmcore")
                r = run_hvdump(["dump", "--qmp", g.sock, target])
                t.ok(r.returncode != 0 and "No space left" in r.stderr and one_line_error(r),
                     "disk full gives a one-line error and a non-zero exit", r.stderr)
                t.ok(os.listdir(full) == [], "disk full leaves neither FILE nor FILE.part",
                     os.listdir(full))
                t.ok(g.status() == "running", "the guest runs on after a failed dump", g.status())
            finally:
                subprocess.run(["umount", full])
        else:
            for name in ("disk full gives a one-line error", "disk full leaves nothing",
                         "guest runs on after a failed dump"):
                t.skip(name, "cannot mount tmpfs here: " + m.stderr.strip())
    finally:
        g.close()

    # a file-backed guest (memory-backend-file on tmpfs) is read the same way
    backing = os.path.join("/dev/shm", "hvdump-e2e-%d.ram" % os.getpid())
    g = Guest(action="tick", backend_file=backing)
    try:
        path = os.path.join(work, "file-backed.vmcore")
        booted = g.wait_for("HVDUMP-TICK 2")
        r = run_hvdump(["dump", "--qmp", g.sock, path])
        c = crash(path, ["sys"]) if r.returncode == 0 else ""
        t.ok(booted and r.returncode == 0 and "RELEASE: " + KVER in c,
             "a memory-backend-file guest is dumped and opens in crash", r.stderr + c[:1500])
    finally:
        g.close()
        if os.path.exists(backing):
            os.unlink(backing)
        shutil.rmtree(work, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
