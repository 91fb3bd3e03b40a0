"""hvtest — helpers for hvdump's end-to-end tests on a real QEMU guest.

Every QEMU started here gets its own directory, QMP socket and a hard
timeout (coreutils timeout), and is killed by pid when its test ends.
Results are printed as TAP so tests/run.sh can count them.
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

KERNEL = os.environ["HVDUMP_KERNEL"]
INITRD = os.environ["HVDUMP_INITRD"]
VMLINUX = os.environ["HVDUMP_VMLINUX"]
KVER = os.environ["HVDUMP_KVER"]
HVDUMP = os.environ["HVDUMP_BIN"]
ACCEL = os.environ.get("HVDUMP_ACCEL", "tcg")
QEMU = os.environ.get("HVDUMP_QEMU", "qemu-system-x86_64")
SYSTEM_PYTHON = "/usr/bin/python3"  # the one python3-drgn is installed for
GUEST_TIMEOUT = 300
# Debian 12's 6.12 kernel, the second test guest (empty when the archive has none)
KERNEL_612 = os.environ.get("HVDUMP_KERNEL_612", "")
INITRD_612 = os.environ.get("HVDUMP_INITRD_612", "")
KVER_612 = os.environ.get("HVDUMP_KVER_612", "")


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print(("ok" if cond else "not ok") + " %d - %s" % (self.n, name), flush=True)
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines()[-40:]:
                    print("#   " + line, flush=True)
        return cond

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        return 1 if self.failed else 0


def append_line(action, extra=""):
    return "console=ttyS0 panic=0 hvdump.action=%s %s" % (action, extra)


def qemu_args(action="sysrq", mem="512M", smp=2, machine="pc", extra_append="", extra_args=()):
    return [QEMU, "-accel", ACCEL, "-machine", machine, "-m", mem, "-smp", str(smp),
            "-nographic", "-no-reboot", "-kernel", KERNEL, "-initrd", INITRD,
            "-append", append_line(action, extra_append)] + list(extra_args)


def run_hvdump(args, timeout=GUEST_TIMEOUT, **kw):
    return subprocess.run([HVDUMP] + args, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, errors="replace", timeout=timeout, **kw)


def run_panic(out, name, action="sysrq", timeout=240, **qemu_kw):
    """`hvdump run` of a guest that panics; returns (result, vmcore path)."""
    r = run_hvdump(["run", "--out", out, "--name", name, "--timeout", str(timeout), "--"] +
                   qemu_args(action, **qemu_kw), timeout=timeout + 60)
    return r, os.path.join(out, name + ".vmcore")


class Qmp:
    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg).encode() + b"\r\n")
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("QMP closed")
            r = json.loads(line)
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError(r["error"].get("desc"))
            return r["return"]

    def hmp(self, line):
        return self.cmd("human-monitor-command", **{"command-line": line})

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class Guest:
    """A QEMU started by the test itself (not by hvdump run)."""

    def __init__(self, action="tick", mem="512M", smp=2, machine="pc", memfd=True, kernel=True,
                 extra_append="", backend_file=None, qmp_path=None, name=None, extra_args=(),
                 no_reboot=True, kernel612=False):
        self.dir = tempfile.mkdtemp(prefix="hvdump-e2e-")
        # QEMU serves one client per QMP socket: one for the test, one for hvdump
        self.test_sock = os.path.join(self.dir, "test.sock")
        self.sock = qmp_path or os.path.join(self.dir, "qmp.sock")
        self.log = os.path.join(self.dir, "console.log")
        args = ["timeout", "-s", "KILL", str(GUEST_TIMEOUT), QEMU, "-accel", ACCEL,
                "-machine", machine, "-m", mem, "-smp", str(smp), "-display", "none",
                "-serial", "file:" + self.log,
                "-qmp", "unix:%s,server=on,wait=off" % self.test_sock,
                "-qmp", "unix:%s,server=on,wait=off" % self.sock, "-device", "pvpanic",
                "-device", "vmcoreinfo", "-action", "panic=pause"] + list(extra_args)
        if no_reboot:  # also turns QMP's system_reset into an exit
            args.append("-no-reboot")
        if name:
            args += ["-name", name]
        if backend_file:
            args += ["-object", "memory-backend-file,id=mem0,size=%s,share=on,mem-path=%s"
                     % (mem, backend_file), "-machine", "memory-backend=mem0"]
        elif memfd:
            args += ["-object", "memory-backend-memfd,id=mem0,size=%s,share=on" % mem,
                     "-machine", "memory-backend=mem0"]
        if kernel:
            args += ["-kernel", KERNEL_612 if kernel612 else KERNEL,
                     "-initrd", INITRD_612 if kernel612 else INITRD,
                     "-append", append_line(action, extra_append)]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "qemu.err"), "w"),
                                     start_new_session=True)
        deadline = time.time() + 30
        while not (os.path.exists(self.sock) and os.path.exists(self.test_sock)):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("QEMU did not start: " + open(os.path.join(self.dir, "qemu.err")).read())
            time.sleep(0.05)
        self.qmp = Qmp(self.test_sock)

    def qemu_pid(self):
        """QEMU's pid (self.proc is the `timeout` wrapper)."""
        with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
            return int(f.read().split()[0])

    def ram_fd_path(self):
        """/proc path of QEMU's memfd RAM backend (for tests that play a
        hostile or broken guest by writing guest RAM directly)."""
        pid = self.qemu_pid()
        for fd in os.listdir("/proc/%d/fd" % pid):
            path = "/proc/%d/fd/%s" % (pid, fd)
            try:
                if os.readlink(path).startswith("/memfd:"):
                    return path
            except OSError:
                pass
        return None

    def wait_status(self, status, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.status() == status:
                return True
            time.sleep(0.2)
        return False

    def console(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_for(self, text, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.console():
                return True
            time.sleep(0.2)
        return False

    def ticks(self):
        return sum(1 for line in self.console().splitlines() if line.startswith("HVDUMP-TICK"))

    def status(self):
        return self.qmp.cmd("query-status")["status"]

    def close(self):
        self.qmp.close()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def meminfo(console):
    """The guest's /proc/meminfo as the initramfs printed it (hvdump.meminfo=1):
    {key: kB}."""
    import re
    return {k: int(v) for k, v in re.findall(r"^HVDUMP-MEMINFO (\w+): *(\d+) kB", console, re.M)}


def crash(vmcore, commands, timeout=300):
    """Runs the real crash utility; returns its whole output."""
    script = "\n".join(commands + ["quit"]) + "\n"
    r = subprocess.run(["crash", "-s", VMLINUX, vmcore], input=script, capture_output=True,
                       text=True, errors="replace", timeout=timeout)
    return r.stdout + r.stderr


DRGN_SCRIPT = r'''
import json, sys, drgn
from drgn.helpers.linux.printk import get_dmesg
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
out = {"release": prog["init_uts_ns"].name.release.string_().decode()}
out["dmesg"] = get_dmesg(prog).decode(errors="replace")
print(json.dumps(out))
'''


def drgn(vmcore, timeout=300, env_extra=None):
    """drgn 0.0.22 on the dump, with no DRGN_* environment variable (but
    those in env_extra)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRGN")}
    env.update(env_extra or {})
    r = subprocess.run([SYSTEM_PYTHON, "-c", DRGN_SCRIPT, vmcore, VMLINUX], capture_output=True,
                       text=True, errors="replace", timeout=timeout, env=env)
    if r.returncode != 0:
        return None, r.stderr
    return json.loads(r.stdout), r.stderr


def elf_loads(path):
    """(p_offset, p_vaddr, p_paddr, p_filesz) of every PT_LOAD."""
    with open(path, "rb") as f:
        eh = f.read(64)
        phoff, = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(phoff)
        out = []
        for _ in range(phnum):
            ph = f.read(phentsize)
            p_type, = struct.unpack_from("<I", ph, 0)
            if p_type == 1:
                off, vaddr, paddr, filesz = struct.unpack_from("<QQQQ", ph, 8)
                out.append((off, vaddr, paddr, filesz))
        return out


def read_phys(path, paddr, n):
    for off, vaddr, p, size in elf_loads(path):
        if p <= paddr and paddr + n <= p + size:
            with open(path, "rb") as f:
                f.seek(off + paddr - p)
                return f.read(n)
    return None


def one_line_error(r):
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    return len(lines) == 1 and lines[0].startswith("hvdump: ")
