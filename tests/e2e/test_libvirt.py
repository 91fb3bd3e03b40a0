"""hvdump on libvirt domains, with a real libvirtd started by the test:
`hvdump list` says which domains can be dumped and why not; `hvdump dump
DOMAIN FILE` (by name, UUID or id) writes a vmcore crash opens and leaves a
running domain running; --live, --bypass-cache, --reset and --crash do what
they say; a domain without shared RAM gets QEMU's own dump, with one line
saying so; errors are one line with exit 1, usage errors exit 2.

No libvirtd here is a failure, not a skip."""
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time

from hvtest import KVER, Tap, crash, one_line_error, run_hvdump
from libvirt_env import URI, Domain, GuestFiles, Libvirtd


def is_elf_core(path):
    try:
        with open(path, "rb") as f:
            h = f.read(18)
    except OSError:
        return False
    return len(h) == 18 and h[:4] == b"\x7fELF" and h[16:18] == b"\x04\x00"


def crash_ok(path, panic='PANIC: ""'):
    c = crash(path, ["sys"])
    return "RELEASE: " + KVER in c and panic in c, c[:2500]


def resident_mib(path):
    """Page-cache pages of path (fincore), in MiB, or None."""
    r = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path],
                       capture_output=True, text=True)
    try:
        return int(r.stdout.split()[0]) / (1 << 20)
    except (IndexError, ValueError):
        return None


def timed_dump(args, timings, label):
    t0 = time.time()
    r = run_hvdump(["dump"] + args)
    timings.append((label, time.time() - t0))
    return r


def keeps_ticking(dom, n=2, timeout=30):
    before = dom.ticks()
    deadline = time.time() + timeout
    while dom.ticks() < before + n and time.time() < deadline:
        time.sleep(0.2)
    return dom.ticks() >= before + n


def main():
    t = Tap()
    env = Libvirtd()
    files = None
    doms = []
    work = tempfile.mkdtemp(prefix="hvdump-e2e-libvirt-")
    timings = []
    try:
        t0 = time.time()
        try:
            env.start()
            up = True
            why = ""
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            up = False
            why = str(e)
        timings.append(("libvirtd up" + (" (failed)" if not up else " (started here)"
                                         if env.started_any else " (already running)"),
                        time.time() - t0))
        if not t.ok(up, "libvirtd runs and answers on " + URI, why):
            return t.done()

        files = GuestFiles()
        t0 = time.time()
        a = Domain(files, "shared", action="tick")
        doms.append(a)
        timings.append(("virsh create", time.time() - t0))
        b = Domain(files, "noshare", action="tick", shared=False)
        doms.append(b)
        c = Domain(files, "panic", action="sysrq")
        doms.append(c)
        booted = a.wait_for("HVDUMP-TICK 3") and b.wait_for("HVDUMP-TICK 2")
        if not t.ok(booted, "the shared and the non-shared tick domains boot",
                    a.console()[-1500:] + b.console()[-1500:] + a.qemu_log()[-1500:]):
            return t.done()

        # ---- hvdump list
        r = run_hvdump(["list"])
        rows = {}
        for line in r.stdout.splitlines():
            cols = line.split()
            if len(cols) >= 4 and cols[1].startswith("hvdump-test-"):
                rows[cols[1]] = cols
        t.ok(r.returncode == 0 and rows.get(a.name, [""])[-1] == "yes" and
             rows.get(a.name, [""])[0] == a.id() and "running" in " ".join(rows.get(a.name, [])),
             "hvdump list: the memfd-shared domain is running and dumpable (yes)", r.stdout + r.stderr)
        notes = r.stdout.split(b.name + " (dump: fallback):", 1)
        t.ok(rows.get(b.name, [""])[-1] == "fallback" and len(notes) == 2 and
             "RAM not shared" in notes[1] and
             "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>" in notes[1],
             "hvdump list: the non-shared domain is 'fallback', with the memoryBacking reason and XML",
             r.stdout)
        r = run_hvdump(["list", "-c", URI, "--json"])
        try:
            listed = {d["name"]: d for d in json.loads(r.stdout)}
        except ValueError:
            listed = {}
        t.ok(r.returncode == 0 and listed.get(a.name, {}).get("uuid") == a.uuid and
             listed.get(a.name, {}).get("reasons") == [] and
             listed.get(b.name, {}).get("dump") == "fallback",
             "hvdump list -c URI --json: UUIDs, verdicts and reasons", r.stdout + r.stderr)

        # ---- dump a running domain by name
        path = os.path.join(work, "byname.vmcore")
        r = timed_dump(["-v", a.name, path], timings, "dump by name (512 MiB, running)")
        mode = stat.S_IMODE(os.stat(path).st_mode) if os.path.exists(path) else None
        t.ok(r.returncode == 0 and mode == 0o600, "dump DOMAIN FILE of a running domain: "
             "written, mode 0600", "rc %d mode %s\n%s" % (r.returncode, oct(mode or 0), r.stderr))
        t.ok(a.state() == "running (unpaused)" and keeps_ticking(a),
             "the domain runs on after the dump (libvirt says running, the console ticks)",
             "%s\n%s" % (a.state(), a.console()[-300:]))
        if os.path.exists(path):
            t0 = time.time()
            good, text = crash_ok(path)
            timings.append(("crash sys on it", time.time() - t0))
            t.ok(good, "crash opens it: release, no panic", text)
        else:
            t.ok(False, "crash opens it: release, no panic", "no file")

        # ---- by UUID and by id
        for how, dom_arg in (("UUID", a.uuid), ("id", a.id())):
            p = os.path.join(work, "by%s.vmcore" % how)
            r = timed_dump([dom_arg, p], timings, "dump by " + how)
            t.ok(r.returncode == 0 and is_elf_core(p) and a.state() == "running (unpaused)",
                 "dump by %s (%s) works" % (how, dom_arg), r.stderr)

        # ---- --live: paused only while the registers are read
        p = os.path.join(work, "live.vmcore")
        r = timed_dump(["-c", URI, "--live", "-v", a.name, p], timings, "dump --live")
        good, text = crash_ok(p) if r.returncode == 0 else (False, r.stderr)
        t.ok(r.returncode == 0 and "paused while its registers are read" in r.stderr and good and
             a.state() == "running (unpaused)", "--live: the dump opens in crash, the domain runs",
             r.stderr + text)

        # ---- --bypass-cache: the written pages leave the page cache
        p = os.path.join(work, "nocache.vmcore")
        r = timed_dump(["--bypass-cache", a.name, p], timings, "dump --bypass-cache")
        res = resident_mib(p) if r.returncode == 0 else None
        res_plain = resident_mib(os.path.join(work, "byUUID.vmcore"))
        t.ok(r.returncode == 0 and is_elf_core(p) and res is not None and res < 4,
             "--bypass-cache: written, and at most 4 MiB of it left in the page cache",
             "rc %d, resident %s MiB (without: %s MiB)\n%s" % (r.returncode, res, res_plain, r.stderr))
        print("# page cache after a dump: %s MiB; with --bypass-cache: %s MiB" % (
            None if res_plain is None else round(res_plain, 1),
            None if res is None else round(res, 1)), flush=True)

        # ---- no shared RAM: QEMU's own dump, one line says so
        p = os.path.join(work, "fallback.vmcore")
        r = timed_dump([b.name, p], timings, "fallback dump (QEMU's, 512 MiB)")
        lines = [l for l in r.stderr.splitlines() if "fell back" in l]
        t.ok(r.returncode == 0 and len(lines) == 1 and lines[0].startswith("hvdump: RAM not shared (") and
             "fell back to QEMU's dump-guest-memory (slower)" in lines[0] and
             "<memoryBacking>" in lines[0], "non-shared RAM: the fallback, one line with reason and fix",
             r.stderr)
        good, text = crash_ok(p) if is_elf_core(p) else (False, "not an ELF core")
        t.ok(good and stat.S_IMODE(os.stat(p).st_mode) == 0o600,
             "the fallback dump is an ELF core (mode 0600) crash opens", text)
        t.ok(b.state() == "running (unpaused)" and keeps_ticking(b),
             "the non-shared domain runs on after the fallback dump", "%s" % b.state())

        # ---- errors
        r = run_hvdump(["dump", "hvdump-test-no-such-domain", os.path.join(work, "x.vmcore")])
        t.ok(r.returncode == 1 and one_line_error(r) and "hvdump-test-no-such-domain" in r.stderr,
             "an unknown domain: one-line error, exit 1", r.stderr)
        t.ok(not os.path.exists(os.path.join(work, "x.vmcore")) and
             not os.path.exists(os.path.join(work, "x.vmcore.part")), "... and no file left")
        r = run_hvdump(["dump", a.name])
        t.ok(r.returncode == 2 and one_line_error(r), "a missing FILE: usage error, exit 2", r.stderr)
        r = run_hvdump(["dump", "--reset", "--crash", a.name, os.path.join(work, "y.vmcore")])
        t.ok(r.returncode == 2 and one_line_error(r), "--reset with --crash: usage error, exit 2",
             r.stderr)

        # ---- a panicked domain: dumped as it is, then --reset boots it again
        panicked = c.wait_state("crashed (panicked)", 180)
        r = run_hvdump(["list"])
        t.ok(panicked and re.search(r"%s +crashed \(panicked\) +yes" % re.escape(c.name), r.stdout),
             "a panicked domain: hvdump list says 'crashed (panicked)', dumpable",
             "%s\n%s\n%s" % (c.state(), r.stdout, c.console()[-800:]))
        p = os.path.join(work, "panic.vmcore")
        boots = c.boots()
        r = timed_dump(["--reset", c.name, p], timings, "dump --reset of a panicked domain")
        good, text = crash_ok(p, 'PANIC: "Kernel panic - not syncing: sysrq triggered crash"') \
            if r.returncode == 0 else (False, r.stderr)
        t.ok(r.returncode == 0 and good, "dump --reset of the panicked domain: crash shows the panic",
             r.stderr + text)
        t.ok(c.wait_for("Linux version", 120, count=boots + 1),
             "--reset: the guest boots again (a second boot on the console)",
             "%s\n%s" % (c.state(), c.console()[-1500:]))

        # ---- --crash: the domain is destroyed after the dump
        p = os.path.join(work, "crash.vmcore")
        r = timed_dump(["--crash", a.name, p], timings, "dump --crash")
        gone = a.state() in (None, "shut off (destroyed)")
        t.ok(r.returncode == 0 and is_elf_core(p) and gone,
             "--crash: written, then the domain is destroyed (transient: gone)",
             "%s\n%s" % (a.state(), r.stderr))
    finally:
        for d in doms:
            d.destroy()
        if files is not None:
            files.close()
        env.stop()
        shutil.rmtree(work, ignore_errors=True)
        for label, secs in timings:
            print("# timing: %-40s %6.2f s" % (label, secs), flush=True)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
