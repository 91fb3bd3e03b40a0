"""tests/bench/compare.py — hvdump vs in-guest kdump vs QEMU's dump-guest-memory.

The same Debian 6.1 test guest (busybox initramfs, hvdump_guest loaded, a
realistic memory mix: incompressible and text page cache, anonymous memory,
freed memory; --mix-mb per GiB of RAM) panics through sysrq, and is dumped
six ways:

  kdump-mdf   in-guest kdump as Debian's kdump-tools sets it up: the guest
              boots with crashkernel=R, `kexec -p` loads the capture kernel
              (reset_devices nr_cpus=1 irqpoll), which runs makedumpfile
              -c -d 31 /proc/vmcore onto an ext4 file system on a virtio
              disk, syncs and reboots (tests/bench/mkkdump.sh)
  kdump-copy  the same capture kernel copying /proc/vmcore (cp), after the
              makedumpfile run of the same panic (first run of each size)
  qemu-elf    QEMU's dump-guest-memory, ELF (virsh dump --memory-only)
  qemu-zlib   QEMU's dump-guest-memory, kdump-zlib
  hvdump-elf  hvdump dump, ELF -d 1 (sparse file)
  hvdump-zstd hvdump dump, kdump-zstd -d 31

The host-side ways dump one paused guest after another (its RAM does not
change while it is paused); their order rotates from run to run, and each is
measured from the same panic.  Per way, size and run:

  time to dump  from the panic (the console's "sysrq: Trigger a crash", read
                by this harness as QEMU prints it) to a complete dump on the
                host's disk: for the host-side ways the GUEST_PANICKED event
                plus the dumper's own time including fsync of its file; for
                kdump the capture kernel's "done" line, printed after sync
                (virtio disk, cache=writeback: the guest's flush reaches the
                host's disk)
  downtime      from the panic to the guest's next boot reaching its init:
                kdump reboots by itself; the host-side ways reset the guest
                after their dump (hvdumpd's post-action) — the reset-to-init
                time is measured once per boot and added
  dump size     blocks allocated on disk (the ext4 file's for kdump)
  reserved      guest RAM lost to crashkernel= (the kernel's own count)
  host memory   growth of the host's Shmem (memfd pages of guest RAM first
                touched) plus the dumper's anonymous memory peak; for kdump
                the Shmem growth from the panic to the dump
  crash bt      crash 8.0.2 with the debug vmlinux opens the dump and `bt`
                of the panic task shows panic and sysrq_handle_crash (checked
                on each way's first good dump of each size)

Before the runs, the smallest crashkernel= that dumps (makedumpfile) is
searched on a ladder of reservations for each size, and the step below it
is shown failing with what happened (capture kernel panic, OOM, hang).
Every failure is a row: nothing is dropped.

Output (--out): compare.md (tables), compare.json (every measurement),
compare.dat + compare.gp (gnuplot), compare.png and compare.svg, and the
console log of every failed run.  --record also puts the tables into
tests/bench/RESULTS.md and the README's "Why hvdump" section.

Usage: compare.py [--sizes 1G,4G] [--runs 3] [--mix-mb 64] [--out DIR]
                  [--reservation auto|SIZE] [--ladder 64,96,...] [--record]
"""
import argparse
import datetime
import json
import os
import platform
import queue
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from hvtest import ACCEL, HVDUMP, INITRD, KERNEL, KVER, QEMU, VMLINUX  # noqa: E402
from bench import allocated, fsync_file, shmem_bytes  # noqa: E402  (tests/bench/bench.py)

MIB = 1 << 20
WAYS = [
    ("kdump-mdf", "in-guest kdump: makedumpfile -c -d 31"),
    ("kdump-copy", "in-guest kdump: cp /proc/vmcore"),
    ("qemu-elf", "QEMU dump-guest-memory: ELF"),
    ("qemu-zlib", "QEMU dump-guest-memory: kdump-zlib"),
    ("hvdump-elf", "hvdump: ELF -d 1 (sparse)"),
    ("hvdump-zstd", "hvdump: kdump-zstd -d 31"),
]
LABEL = dict(WAYS)
HOST_WAYS = ["hvdump-elf", "hvdump-zstd", "qemu-elf", "qemu-zlib"]
PANIC_LINE = "sysrq: Trigger a crash"


def parse_size(s):
    m = re.fullmatch(r"(\d+)([KMGT]?)i?B?", s.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError("bad size %r" % s)
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m.group(2).upper()]


def fmt_size(b):
    return "%dG" % (b >> 30) if b % (1 << 30) == 0 else "%dM" % (b >> 20)


def rss_anon(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakAnon:
    """Samples a process's RssAnon every 20 ms; .peak once stopped."""

    def __init__(self, pid):
        self.pid, self.peak, self.base = pid, 0, rss_anon(pid)
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while not self.stop_ev.is_set():
            self.peak = max(self.peak, rss_anon(self.pid))
            self.stop_ev.wait(0.02)

    def stop(self):
        self.stop_ev.set()
        self.t.join()
        return max(0, self.peak - self.base)


class Vm:
    """One QEMU: console on a pipe read by a thread that timestamps every
    line, a QMP socket for this harness (events timestamped too) and one for
    hvdump.  Killed by pid at close; `timeout` bounds it in any case."""

    def __init__(self, workdir, name, mem, append, disk=None, limit=1800):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "harness.sock")
        self.hv_sock = os.path.join(self.dir, "hvdump.sock")
        self.lines = []  # (monotonic time, text)
        self.events = []  # (monotonic time, name)
        self.cv = threading.Condition()
        args = ["timeout", "-s", "KILL", str(limit), QEMU, "-accel", ACCEL, "-machine", "pc",
                "-m", fmt_size(mem), "-smp", "2", "-display", "none", "-monitor", "none",
                "-serial", "stdio", "-kernel", KERNEL, "-initrd", INITRD_KDUMP, "-append", append,
                "-object", "memory-backend-memfd,id=mem0,size=%s,share=on" % fmt_size(mem),
                "-machine", "memory-backend=mem0",
                "-qmp", "unix:%s,server=on,wait=off" % self.sock,
                "-qmp", "unix:%s,server=on,wait=off" % self.hv_sock,
                "-device", "pvpanic", "-device", "vmcoreinfo", "-action", "panic=pause"]
        if disk:
            args += ["-drive", "file=%s,format=raw,if=virtio,cache=writeback" % disk]
        self.p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        threading.Thread(target=self._console, daemon=True).start()
        self.qmp = None
        self.replies = queue.Queue()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.sock)
                self.qmp = s
                break
            except OSError:
                s.close()
                if self.p.poll() is not None:
                    break
                time.sleep(0.05)
        if self.qmp is None:
            raise RuntimeError("QEMU did not start: %s" % self.text()[-500:])
        self.qemu_pid = child_qemu_pid(self.p.pid)
        self.qf = self.qmp.makefile("rwb")
        json.loads(self.qf.readline())
        threading.Thread(target=self._qmp_reader, daemon=True).start()
        self.cmd("qmp_capabilities")

    def _console(self):
        buf = b""
        while True:
            chunk = self.p.stdout.read1(65536) if hasattr(self.p.stdout, "read1") else self.p.stdout.read(1)
            if not chunk:
                break
            now = time.monotonic()
            buf += chunk
            *done, buf = buf.split(b"\n")
            with self.cv:
                for ln in done:
                    self.lines.append((now, ln.decode(errors="replace").rstrip("\r")))
                self.cv.notify_all()
        with self.cv:
            if buf:
                self.lines.append((time.monotonic(), buf.decode(errors="replace")))
            self.lines.append((time.monotonic(), None))  # end of output
            self.cv.notify_all()

    def _qmp_reader(self):
        for raw in self.qf:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if "event" in msg:
                with self.cv:
                    self.events.append((time.monotonic(), msg["event"]))
                    self.cv.notify_all()
            else:
                self.replies.put(msg)
        self.replies.put({"error": {"desc": "QMP closed"}})

    def cmd(self, name, timeout=60, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.qf.write(json.dumps(msg).encode() + b"\r\n")
        self.qf.flush()
        r = self.replies.get(timeout=timeout)
        if "error" in r:
            raise RuntimeError("QMP %s: %s" % (name, r["error"].get("desc")))
        return r.get("return")

    def text(self):
        with self.cv:
            return "\n".join(t for _, t in self.lines if t is not None)

    def wait_line(self, pred, start=0, timeout=300, idle=None, fail=None):
        """Waits for a console line from index `start` on for which pred(text)
        holds: (index, time, text).  Raises Failed on a line matching `fail`,
        QEMU's exit, `timeout` seconds, or `idle` seconds without output."""
        deadline = time.monotonic() + timeout
        i = start
        with self.cv:
            while True:
                while i < len(self.lines):
                    t, txt = self.lines[i]
                    if txt is None:
                        raise Failed("QEMU exited (%s)" % self.last_words())
                    if pred(txt):
                        return i, t, txt
                    if fail is not None:
                        why = fail(txt)
                        if why:
                            raise Failed(why)
                    i += 1
                now = time.monotonic()
                last = self.lines[-1][0] if self.lines else now
                if now >= deadline:
                    raise Failed("no result within %d s (%s)" % (timeout, self.last_words()))
                if idle is not None and now - last >= idle:
                    raise Failed("hung: no console output for %d s (%s)" % (idle, self.last_words()))
                self.cv.wait(min(1.0, deadline - now))

    def wait_event(self, name, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for t, ev in self.events:
                    if ev == name:
                        return t
                if time.monotonic() >= deadline:
                    raise Failed("no %s event within %d s" % (name, timeout))
                self.cv.wait(1.0)

    def last_words(self):
        with self.cv:
            tail = [t for _, t in self.lines[-40:] if t]
        tail = [t for t in tail if t.strip()]
        return "last console line: %r" % (tail[-1][-160:] if tail else "")

    def close(self):
        """QEMU ends with this harness's VM: SIGTERM to `timeout`, which
        passes it on to QEMU and exits with it (SIGKILL to `timeout` would
        orphan QEMU, still running); QEMU itself is killed by pid if it has
        not gone within 20 s."""
        try:
            self.qmp.close()
        except (OSError, AttributeError):
            pass
        if self.p.poll() is None:
            self.p.terminate()
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            if self.qemu_pid != self.p.pid:
                try:
                    os.kill(self.qemu_pid, 9)
                except OSError:
                    pass
            self.p.kill()
            self.p.wait(timeout=30)

    def save_console(self, path):
        with open(path, "w") as f:
            with self.cv:
                for t, txt in self.lines:
                    if txt is not None:
                        f.write("%9.3f %s\n" % (t - self.lines[0][0], txt))


class Failed(Exception):
    pass


def capture_failure(txt):
    """A line of the capture kernel's console that ends the attempt."""
    if "Kernel panic - not syncing" in txt:
        return "capture kernel panicked: " + txt.split("]", 1)[-1].strip()[:160]
    if "HVDUMP-KDUMP-FAILED" in txt:
        return txt.strip()
    return None


def guest_append(mix_mb, extra=""):
    return ("console=ttyS0 panic=0 hvdump.action=sysrq hvdump.modules=hvdump_guest "
            "hvdump.mix=1 hvdump.mix_mb=%d %s" % (mix_mb, extra)).strip()


def mix_for(a, mem):
    return max(8, a.mix_mb * mem // (1 << 30))


def new_result(size, way, run, **kw):
    r = {"size": size, "way": way, "run": run, "ok": False, "error": None, "time_to_dump": None,
         "downtime": None, "disk_bytes": None, "apparent_bytes": None, "reserved_bytes": 0,
         "host_mem_bytes": None, "crash_bt": None, "crash_note": None, "path": None}
    r.update(kw)
    return r


def boot_timeouts(mem):
    gib = max(1, mem >> 30)
    # TCG: the guest boots in ~10 s and writes its mix at ~20 MiB/s
    return {"panic": 240 + 60 * gib, "capture_boot": 240, "mdf": 120 + 60 * gib, "copy": 120 + 150 * gib,
            "reboot": 120}


def debugfs(img, req):
    return subprocess.run(["debugfs", "-R", req, img], capture_output=True, text=True, timeout=600)


def kdump_run(a, work, mem, reservation, ways, run, tag, search=False):
    """One panic with in-guest kdump loaded: a result per way.  A search
    attempt's good dump is always opened with crash (unless --crash-check
    none): the attempt that becomes run 1 is not known in advance."""
    results = {w: new_result(mem, w, run, reserved_bytes=reservation) for w in ways}
    img = os.path.join(work, "kdump-disk.img")
    if os.path.exists(img):
        os.unlink(img)
    with open(img, "wb") as f:
        f.truncate(mem + 512 * MIB)
    subprocess.run(["mkfs.ext4", "-F", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", img],
                   check=True, capture_output=True)
    to = boot_timeouts(mem)
    vm = Vm(work, tag, mem, guest_append(mix_for(a, mem), "crashkernel=%dM hvdump.kdump=%s" % (reservation >> 20,
                                                                              ",".join(w[6:] for w in ways))),
            disk=img)
    try:
        try:
            _, _, loaded = vm.wait_line(lambda s: s.startswith("HVDUMP-KDUMP-LOADED"), timeout=to["panic"])
            m = re.search(r"rc=(\d+) reserved=(\d+)", loaded)
            if not m or m.group(1) != "0" or "loaded=1" not in loaded:
                said = [ln.split(":", 1)[1].strip() for ln in vm.text().splitlines()
                        if ln.startswith("HVDUMP-KDUMP-KEXEC:")]
                raise Failed("kexec -p could not load the capture kernel into %dM (exit %s)%s" % (
                    reservation >> 20, m.group(1) if m else "?", ": " + "; ".join(said)[:200] if said else ""))
            for r in results.values():
                r["reserved_bytes"] = int(m.group(2))
            ip, t_panic, _ = vm.wait_line(lambda s: PANIC_LINE in s, timeout=to["panic"])
            shm0 = shmem_bytes()
            # the capture kernel starts (its own "Linux version"), then its init
            i, _, _ = vm.wait_line(lambda s: "Linux version" in s, start=ip, timeout=to["capture_boot"],
                                   idle=90)
            i, _, _ = vm.wait_line(lambda s: s.startswith("HVDUMP-KDUMP-BOOTED"), start=i,
                                   timeout=to["capture_boot"], idle=90, fail=capture_failure)
            t_last = None
            for w in ways:
                W = w[6:].upper()
                i, t_done, done = vm.wait_line(lambda s: s.startswith("HVDUMP-KDUMP-%s-DONE" % W), start=i,
                                               timeout=to[w[6:]], idle=to[w[6:]] if w == "kdump-copy" else 90,
                                               fail=capture_failure)
                res = results[w]
                rc = re.search(r"rc=(\d+)", done).group(1)
                if rc != "0":
                    oom = [t for t in vm.text().splitlines()[-200:] if "Out of memory" in t or "oom-kill" in t]
                    res["error"] = ("%s exited %s%s" % ("makedumpfile" if w == "kdump-mdf" else "cp", rc,
                                                        ": " + oom[-1].split("]", 1)[-1].strip()[:120]
                                                        if oom else ""))
                else:
                    res["ok"] = True
                res["time_to_dump"] = t_done - t_panic
                res["host_mem_bytes"] = max(0, shmem_bytes() - shm0)
                t_last = t_done
            i, _, _ = vm.wait_line(lambda s: "HVDUMP-KDUMP-REBOOT" in s, start=i, timeout=60)
            _, t_back, _ = vm.wait_line(lambda s: s.startswith("HVDUMP-BOOTED"), start=i, timeout=to["reboot"])
            for r in results.values():
                if r["time_to_dump"] is not None:
                    r["downtime"] = r["time_to_dump"] + (t_back - t_last)
        except Failed as e:
            for r in results.values():
                if not r["ok"] and not r["error"]:
                    r["error"] = str(e)
    finally:
        vm.close()
        if any(not r["ok"] for r in results.values()):
            vm.save_console(os.path.join(a.out, "console-%s.log" % tag))
    for w, r in results.items():
        if not r["ok"]:
            continue
        name = "/vmcore." + w[6:]
        st = debugfs(img, "stat " + name)
        m = re.search(r"Blockcount: (\d+)", st.stdout)
        sz = re.search(r"Size: (\d+)", st.stdout)
        if not m or not sz:
            r["ok"], r["error"] = False, "no %s on the dump disk: %s" % (name, st.stderr.strip()[-200:])
            continue
        r["disk_bytes"], r["apparent_bytes"] = int(m.group(1)) * 512, int(sz.group(1))
        if (a.crash_check != "none") if search else a.check_crash(mem, w):
            out = os.path.join(work, w + ".vmcore")
            d = debugfs(img, "dump -p %s %s" % (name, out))
            if d.returncode != 0 or not os.path.exists(out):
                r["crash_bt"], r["crash_note"] = False, "debugfs could not copy it out"
            else:
                check_crash(r, out)
                os.unlink(out)
    os.unlink(img)
    return list(results.values())


def host_run(a, work, mem, run, tag, order):
    """One panic dumped by each host-side way in `order`."""
    results = {w: new_result(mem, w, run) for w in order}
    to = boot_timeouts(mem)
    vm = Vm(work, tag, mem, guest_append(mix_for(a, mem)))
    paths = []
    try:
        try:
            ip, t_panic, _ = vm.wait_line(lambda s: PANIC_LINE in s, timeout=to["panic"])
            t_event = vm.wait_event("GUEST_PANICKED", timeout=120)
        except Failed as e:
            for r in results.values():
                r["error"] = "the guest did not panic: %s" % e
            vm.save_console(os.path.join(a.out, "console-%s.log" % tag))
            return list(results.values())
        qemu_pid = vm.qemu_pid
        for w in order:
            r = results[w]
            path = os.path.join(work, "%s-%s.vmcore" % (tag, w))
            paths.append(path)
            shm0 = shmem_bytes()
            t0 = time.monotonic()
            try:
                if w.startswith("hvdump"):
                    fmt = ["--format", "elf", "--dump-level", "1"] if w == "hvdump-elf" else \
                        ["--format", "kdump-zstd", "--dump-level", "31"]
                    p = subprocess.Popen([HVDUMP, "dump", "--quiet", "--qmp", vm.hv_sock] + fmt + [path],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
                    peak = PeakAnon(p.pid)
                    try:
                        _, err = p.communicate(timeout=1800)
                    finally:
                        grow = peak.stop()
                    if p.returncode != 0:
                        raise Failed("hvdump exited %d: %s" % (p.returncode, err.strip()[-200:]))
                else:
                    peak = PeakAnon(qemu_pid)
                    try:
                        args = {"paging": False, "protocol": "file:" + path, "detach": True}
                        if w == "qemu-zlib":
                            args["format"] = "kdump-zlib"
                        vm.cmd("dump-guest-memory", **args)
                        deadline = time.monotonic() + 1800
                        while True:
                            st = vm.cmd("query-dump")
                            if st["status"] != "active":
                                break
                            if time.monotonic() > deadline:
                                raise Failed("dump-guest-memory still active after 1800 s")
                            time.sleep(0.05)
                    finally:
                        grow = peak.stop()
                    if st["status"] != "completed":
                        raise Failed("dump-guest-memory: %s" % st["status"])
                fsync_file(path)
                r["time_to_dump"] = (t_event - t_panic) + (time.monotonic() - t0)
                r["host_mem_bytes"] = max(0, shmem_bytes() - shm0) + grow
                r["disk_bytes"], r["apparent_bytes"] = allocated(path)
                r["ok"], r["path"] = True, path
            except (Failed, RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                r["error"] = str(e)
        # the guest back: reset as hvdumpd's post-action does, time to its init
        try:
            t0 = time.monotonic()
            vm.cmd("system_reset")
            vm.cmd("cont")
            _, t_back, _ = vm.wait_line(lambda s: s.startswith("HVDUMP-BOOTED"), start=ip,
                                        timeout=to["reboot"])
            for r in results.values():
                if r["ok"]:
                    r["downtime"] = r["time_to_dump"] + (t_back - t0)
        except (Failed, RuntimeError) as e:
            for r in results.values():
                r["downtime_note"] = "reset failed: %s" % e
    finally:
        vm.close()
    for r in results.values():
        if r["ok"] and a.check_crash(mem, r["way"]):
            check_crash(r, r["path"])
    for p in paths:
        if os.path.exists(p):
            os.unlink(p)
    if any(not r["ok"] for r in results.values()):
        vm.save_console(os.path.join(a.out, "console-%s.log" % tag))
    return list(results.values())


def child_qemu_pid(timeout_pid):
    """QEMU runs under coreutils timeout: its pid is timeout's child."""
    try:
        with open("/proc/%d/task/%d/children" % (timeout_pid, timeout_pid)) as f:
            kids = f.read().split()
        return int(kids[0]) if kids else timeout_pid
    except OSError:
        return timeout_pid


def check_crash(r, path):
    """crash opens the dump and bt of the panic task goes through the panic."""
    try:
        c = subprocess.run(["crash", "-s", VMLINUX, path], input="bt\nquit\n", capture_output=True,
                           text=True, errors="replace", timeout=600)
        out = c.stdout
        ok = c.returncode == 0 and " panic at " in out and "sysrq_handle_crash" in out
        r["crash_bt"] = ok
        if not ok:
            err = [ln for ln in (c.stderr + c.stdout).splitlines() if ln.strip()]
            r["crash_note"] = (err[0] if err else "no bt through panic")[:160]
    except subprocess.TimeoutExpired:
        r["crash_bt"], r["crash_note"] = False, "crash did not finish in 600 s"


def search_reservation(a, work, mem, results):
    """The smallest crashkernel= on the ladder that dumps, found by stepping
    down from a guess while it works (or up while it does not), so the step
    below it is seen failing.  Returns (reservation, its successful result):
    that result is kdump-mdf's first measured run.  Every attempt is kept."""
    ladder = sorted(a.ladder)
    gib = max(1, mem >> 30)
    start = min(range(len(ladder)), key=lambda i: abs(ladder[i] - (64 + 16 * gib) * MIB))
    got = {}

    def attempt(i):
        res = kdump_run(a, work, mem, ladder[i], ["kdump-mdf"], 1,
                           "search-%s-%dM" % (fmt_size(mem), ladder[i] >> 20), search=True)
        r = res[0]
        r["searched"] = r["search"] = True  # a row of the search table only, unless chosen
        results.append(r)
        got[i] = r
        log("  crashkernel=%dM: %s" % (ladder[i] >> 20, "dumped in %.1f s" % r["time_to_dump"] if r["ok"]
                                       else "FAILED: " + str(r["error"])))
        return r["ok"]

    i = start
    if attempt(i):
        while i > 0 and attempt(i - 1):
            i -= 1
    else:
        while i + 1 < len(ladder) and not attempt(i + 1):
            i += 1
        i += 1
        if i >= len(ladder):
            return None, None
    got[i]["search"] = False
    return ladder[i], got[i]


T0 = time.monotonic()


def log(msg):
    print("[%5.0f s] %s" % (time.monotonic() - T0, msg), flush=True)


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def summarize(a, results, sizes, reservations):
    """Markdown tables, the plot's data, the ratios."""
    rows, dat = [], []
    lines = ["| guest RAM | way | runs ok | time panic → dump on disk, s | guest downtime, s | "
             "dump on disk, MiB | guest RAM reserved, MiB | host memory growth, MiB | crash bt | failures |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    summary = {}
    for mem in sizes:
        summary[mem] = {}
        drow = [fmt_size(mem)]
        for w, label in WAYS:
            rs = [r for r in results if r["size"] == mem and r["way"] == w and not r.get("search")]
            good = [r for r in rs if r["ok"]]
            t, dt = med([r["time_to_dump"] for r in good]), med([r["downtime"] for r in good])
            disk, hm = med([r["disk_bytes"] for r in good]), med([r["host_mem_bytes"] for r in good])
            res = med([r["reserved_bytes"] for r in rs])
            bts = [r["crash_bt"] for r in good if r["crash_bt"] is not None]
            notes = sorted({r["crash_note"] for r in good if r["crash_note"]})
            errs = sorted({r["error"] for r in rs if not r["ok"] and r["error"]})
            bt = "—" if not bts else ("yes" if all(bts) else "NO: " + "; ".join(notes))
            summary[mem][w] = {"time": t, "downtime": dt, "disk": disk, "ok": len(good), "runs": len(rs)}
            lines.append("| %s | %s | %d/%d | %s | %s | %s | %s | %s | %s | %s |" % (
                fmt_size(mem), label, len(good), len(rs), num(t, 2), num(dt, 1),
                num(disk / MIB if disk is not None else None, 1), num((res or 0) / MIB, 0),
                num(hm / MIB if hm is not None else None, 0), bt, "; ".join(errs) or ""))
            drow += [num(t, 3, "?"), num(disk / MIB if disk else None, 2, "?")]
        dat.append(" ".join('"%s"' % c if i == 0 else c for i, c in enumerate(drow)))
    lines.append("")
    # the reservation search
    srch = [r for r in results if r.get("searched")]
    if srch:
        lines += ["Smallest `crashkernel=` that dumps (makedumpfile -c -d 31), searched per guest size:", "",
                  "| guest RAM | crashkernel= | result |", "|---|---:|---|"]
        for r in sorted(srch, key=lambda r: (r["size"], r["reserved_bytes"])):
            lines.append("| %s | %dM | %s |" % (fmt_size(r["size"]), r["reserved_bytes"] >> 20,
                                                "dump in %.1f s" % r["time_to_dump"] if r["ok"]
                                                else "**failed**: " + str(r["error"])))
        lines.append("")
    for mem in sizes:
        s = summary[mem]
        res = reservations.get(mem)
        parts = []

        def ratio(x, y):
            if s[x]["time"] and s[y]["time"]:
                return s[y]["time"] / s[x]["time"]
            return None
        for mine, theirs, target in (("hvdump-zstd", "kdump-mdf", 5), ("hvdump-elf", "qemu-elf", 10),
                                     ("hvdump-zstd", "qemu-zlib", None)):
            q = ratio(mine, theirs)
            if q is not None:
                parts.append("%s %.1f× faster than %s%s" % (LABEL[mine], q, LABEL[theirs],
                                                             " (target ≥ %d×: %s)" % (target, "met" if q >= target
                                                                                      else "NOT met")
                                                             if target else ""))
        lines.append("- %s guest: %s; kdump needs crashkernel=%s, hvdump 0." % (
            fmt_size(mem), "; ".join(parts) or "no ratios (a way failed every run)",
            "%dM" % (res >> 20) if res else "(none on the ladder worked)"))
    return "\n".join(lines) + "\n", dat, summary


def num(v, digits, missing="—"):
    return missing if v is None else "%.*f" % (digits, v)


def plot(out_dir, dat, gnuplot=True):
    datp = os.path.join(out_dir, "compare.dat")
    with open(datp, "w") as f:
        f.write("# guest " + " ".join("%s_s %s_MiB" % (w, w) for w, _ in WAYS) + "\n")
        f.write("\n".join(dat) + "\n")
    titles = [LABEL[w] for w, _ in WAYS]
    gp = ["set datafile missing '?'", "set style data histograms", "set style histogram clustered gap 1",
          "set style fill solid 0.85 border -1", "set boxwidth 0.9", "set logscale y", "set grid ytics",
          "set key outside below center horizontal maxrows 2 font ',9' spacing 1.2", "set xlabel 'guest RAM'",
          "set yrange [0.1:*]"]

    def panel(col, ylabel, title):
        cmds = ["set ylabel '%s'" % ylabel, "set title '%s'" % title]
        series = []
        for k, t in enumerate(titles):
            c = 2 + 2 * k + col
            series.append("'%s' using %d:xtic(1) title '%s'" % (datp, c, t.replace("'", "")))
        return cmds + ["plot " + ", \\\n     ".join(series)]

    body = ["set multiplot layout 1,2 title 'hvdump vs in-guest kdump vs QEMU dump-guest-memory "
            "(lower is better, log scale)'"]
    body += panel(0, "seconds (median)", "time from panic to a complete dump on the host disk")
    body += panel(1, "MiB on disk (median)", "dump size on disk")
    body += ["unset multiplot"]
    script = os.path.join(out_dir, "compare.gp")
    with open(script, "w") as f:
        f.write("# gnuplot compare.gp (written by tests/bench/compare.py)\n")
        f.write("\n".join(gp) + "\n")
        for term, name in (("pngcairo size 1400,620 font ',10'", "compare.png"),
                           ("svg size 1400,620 dynamic font ',10'", "compare.svg")):
            f.write("set terminal %s\nset output '%s'\n" % (term, os.path.join(out_dir, name)))
            f.write("\n".join(body) + "\nset output\n")
    if gnuplot:
        g = subprocess.run(["gnuplot", script], capture_output=True, text=True, timeout=120)
        if g.returncode != 0:
            raise SystemExit("compare: gnuplot failed: %s" % g.stderr.strip()[-300:])


def replace_block(path, begin, end, text):
    with open(path) as f:
        s = f.read()
    i, j = s.find(begin), s.find(end)
    if i < 0 or j < i:
        raise SystemExit("compare: %s has no %s ... %s block" % (path, begin, end))
    with open(path, "w") as f:
        f.write(s[:i + len(begin)] + "\n" + text + s[j:])


def main():
    global INITRD_KDUMP
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1G,4G", help="guest RAM sizes (default 1G,4G)")
    ap.add_argument("--runs", type=int, default=3, help="runs per way and size (default 3); medians")
    ap.add_argument("--mix-mb", type=int, default=64,
                    help="memory mix per GiB of guest RAM (default 64: ~1/4 of RAM touched)")
    ap.add_argument("--reservation", default="auto",
                    help="crashkernel= for kdump's runs: auto (search the ladder) or a size")
    ap.add_argument("--ladder", default="64M,96M,128M,160M,192M,256M,384M,512M",
                    help="reservations the search may try")
    ap.add_argument("--copy-runs", type=int, default=1,
                    help="runs that also copy /proc/vmcore (the slowest way; default 1)")
    ap.add_argument("--crash-check", choices=("first", "all", "none"), default="first",
                    help="which good dumps crash opens (default: each way's first per size)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results directory")
    ap.add_argument("--work", default="/var/tmp", help="where dumps and disks go while measured")
    ap.add_argument("--record", action="store_true",
                    help="also put the tables into tests/bench/RESULTS.md and the README")
    a = ap.parse_args()
    sizes = [parse_size(s) for s in a.sizes.split(",")]
    a.ladder = [parse_size(s) for s in a.ladder.split(",")]
    os.makedirs(a.out, exist_ok=True)
    for f in os.listdir(a.out):
        if f.startswith("console-"):
            os.unlink(os.path.join(a.out, f))
    checked = set()

    def check(mem, way):
        if a.crash_check == "none":
            return False
        if a.crash_check == "all":
            return True
        if (mem, way) in checked:
            return False
        checked.add((mem, way))
        return True
    a.check_crash = check

    # the test initramfs with in-guest kdump appended (kexec, capture kernel)
    add = os.path.join(os.path.dirname(INITRD), "kdump-add.cpio.gz")
    subprocess.run(["bash", os.path.join(HERE, "mkkdump.sh"), KVER, add], check=True)
    work = tempfile.mkdtemp(prefix="hvdump-compare-", dir=a.work)
    INITRD_KDUMP = os.path.join(work, "initrd-kdump.cpio.gz")
    with open(INITRD_KDUMP, "wb") as o:
        for part in (INITRD, add):
            with open(part, "rb") as i:
                shutil.copyfileobj(i, o)
    results, reservations = [], {}
    try:
        for mem in sizes:
            log("guest %s" % fmt_size(mem))
            found = None
            if a.reservation == "auto":
                log(" searching the smallest crashkernel=")
                reservations[mem], found = search_reservation(a, work, mem, results)
                if found and found["crash_bt"] is not None:
                    checked.add((mem, "kdump-mdf"))  # run 1 is that dump, already opened
            else:
                reservations[mem] = parse_size(a.reservation)
            for run in range(1, a.runs + 1):
                res = reservations[mem]
                rs = []
                if res:
                    # the search's dump at the chosen size is kdump-mdf's run 1
                    ways = ([] if run == 1 and found else ["kdump-mdf"]) + \
                        (["kdump-copy"] if run <= a.copy_runs else [])
                    if ways:
                        rs = kdump_run(a, work, mem, res, ways, run, "kdump-%s-%d" % (fmt_size(mem), run))
                    if run == 1 and found:
                        rs = [found] + rs
                else:
                    rs = [new_result(mem, w, run, error="no crashkernel= on the ladder dumped")
                          for w in ["kdump-mdf"] + (["kdump-copy"] if run <= a.copy_runs else [])]
                results += [r for r in rs if r is not found]
                # the order rotates: the first QEMU dump faults the guest's
                # untouched RAM in (host memory), the second finds it there
                order = HOST_WAYS if run % 2 else HOST_WAYS[1::-1] + HOST_WAYS[:1:-1]
                rs2 = host_run(a, work, mem, run, "host-%s-%d" % (fmt_size(mem), run), order)
                results += rs2
                for r in rs + rs2:
                    log("  run %d %-11s %s" % (run, r["way"], "%.2f s, %.1f MiB" % (
                        r["time_to_dump"], r["disk_bytes"] / MIB) if r["ok"] else "FAILED: %s" % r["error"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table, dat, summary = summarize(a, results, sizes, reservations)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    cmd = " ".join(["tests/bench/compare.sh"] + [shlex.quote(x) for x in sys.argv[1:] if x != "--record"])
    head = ("Measured %s on %s, %d cores, QEMU accel %s; guest Debian %s, mix %d MiB per GiB; "
            "%d runs per way (medians). Reproduce: `%s`.\n\n" % (
                stamp, platform.platform(), os.cpu_count(), ACCEL, KVER, a.mix_mb, a.runs, cmd))
    with open(os.path.join(a.out, "compare.md"), "w") as f:
        f.write("# hvdump vs in-guest kdump vs QEMU dump-guest-memory\n\n" + head + table +
                "\n![comparison](compare.png)\n")
    with open(os.path.join(a.out, "compare.json"), "w") as f:
        json.dump({"measured": stamp, "accel": ACCEL, "kernel": KVER, "runs": a.runs, "mix_mb_per_gib": a.mix_mb,
                   "reservations": {fmt_size(k): v for k, v in reservations.items()},
                   "results": [{k: v for k, v in r.items() if k != "path"} for r in results]}, f, indent=1)
    plot(a.out, dat)
    print(head + table)
    if a.record:
        block = head + table
        replace_block(os.path.join(HERE, "RESULTS.md"), "<!-- compare:begin -->", "<!-- compare:end -->", block)
        replace_block(os.path.join(ROOT, "README.md"), "<!-- compare:begin -->", "<!-- compare:end -->",
                      block + "\n![hvdump vs kdump vs QEMU](tests/bench/results/compare.png)\n")
    bad = [r for r in results if not r["ok"] and not r.get("search")]
    log("done: %d measurements, %d failed (failures are rows of the table)" % (len(results), len(bad)))
    return 0


INITRD_KDUMP = None

if __name__ == "__main__":
    raise SystemExit(main())
