"""Bad input to hvdump: each a one-line error naming what is wrong and a
non-zero exit, with no file left under the final name."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from hvtest import (HVDUMP, Guest, Tap, one_line_error, qemu_args, run_hvdump)


class FakeServer:
    """A unix socket that is not QMP: it sends `banner` (or nothing)."""

    def __init__(self, path, banner):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.bind(path)
        self.s.listen(4)
        self.banner = banner
        self.conns = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.s.accept()
            except OSError:
                return
            self.conns.append(c)
            if self.banner:
                c.sendall(self.banner)

    def close(self):
        self.s.close()
        for c in self.conns:
            c.close()


def main():
    t = Tap()
    work = tempfile.mkdtemp(prefix="hvdump-e2e-err-")
    out = os.path.join(work, "out.vmcore")
    try:
        r = run_hvdump(["dump", "--qmp", os.path.join(work, "missing.sock"), out])
        t.ok(r.returncode == 1 and one_line_error(r) and "missing.sock" in r.stderr and
             not os.path.exists(out), "missing socket: one-line error naming it, exit 1", r.stderr)

        srv = FakeServer(os.path.join(work, "ssh.sock"), b"SSH-2.0-OpenSSH_9.2p1\r\n")
        r = run_hvdump(["dump", "--timeout", "3", "--qmp", os.path.join(work, "ssh.sock"), out])
        srv.close()
        t.ok(r.returncode == 1 and one_line_error(r) and "not a QMP socket" in r.stderr and
             not os.path.exists(out), "a socket that is not QMP is refused", r.stderr)

        srv = FakeServer(os.path.join(work, "silent.sock"), None)
        r = run_hvdump(["dump", "--timeout", "2", "--qmp", os.path.join(work, "silent.sock"), out])
        srv.close()
        t.ok(r.returncode == 1 and one_line_error(r) and "no greeting" in r.stderr,
             "a silent socket times out with a one-line error", r.stderr)

        r = run_hvdump(["dump", out])
        t.ok(r.returncode == 2 and "usage" in r.stderr, "dump without --qmp is a usage error",
             r.stderr)
        r = run_hvdump(["frobnicate"])
        t.ok(r.returncode == 2 and one_line_error(r), "an unknown command is a usage error",
             r.stderr)
        r = run_hvdump(["--help"])
        r2 = run_hvdump(["dump", "--help"])
        r3 = run_hvdump(["run", "--help"])
        t.ok(r.returncode == 0 and "dump --qmp" in r.stdout and r2.returncode == 0 and
             "--force" in r2.stdout and r3.returncode == 0 and "--out" in r3.stdout,
             "--help of hvdump, dump and run", r.stdout + r2.stdout + r3.stdout)

        # RAM that is not shared: plain -m, no memfd backend (firmware only):
        # QEMU's own dump-guest-memory, one line says so and names the fix
        g = Guest(memfd=False, kernel=False, mem="256M")
        try:
            r = run_hvdump(["dump", "--qmp", g.sock, out])
            fb = [l for l in r.stderr.splitlines() if "fell back" in l]
            t.ok(r.returncode == 0 and len(fb) == 1 and "share=on" in fb[0] and
                 "memory-backend-memfd" in fb[0] and os.path.exists(out) and
                 not os.path.exists(out + ".part"),
                 "unshared guest RAM: QEMU's own dump, one line names the QEMU option that fixes it",
                 r.stderr)
            t.ok(g.status() == "running", "the VM is resumed after the fallback dump", g.status())
        finally:
            g.close()
            if os.path.exists(out):
                os.unlink(out)

        r = run_hvdump(["run", "--out", work, "--", "qemu-system-x86_64", "-no-such-option"],
                       timeout=60)
        t.ok(r.returncode == 1 and "QEMU exited" in r.stderr,
             "run: QEMU that cannot start gives exit 1", r.stderr)
        r = run_hvdump(["run", "--out", work, "--", "/nonexistent/qemu"], timeout=60)
        t.ok(r.returncode == 1 and one_line_error(r), "run: a missing QEMU binary gives exit 1",
             r.stderr)
        r = run_hvdump(["run", "--out", os.path.join(work, "nodir"), "--"] + qemu_args("sysrq"))
        t.ok(r.returncode == 2 and one_line_error(r), "run: a missing --out directory is refused",
             r.stderr)

        r = run_hvdump(["run", "--out", work, "--name", "clean", "--timeout", "200", "--"] +
                       qemu_args("poweroff"))
        t.ok(r.returncode == 0 and not os.path.exists(os.path.join(work, "clean.vmcore")),
             "run: a guest that powers off gives exit 0 and no vmcore", r.stderr)
        r = run_hvdump(["run", "--out", work, "--name", "slow", "--timeout", "8",
                        "--no-hang-dump", "--"] + qemu_args("tick"))
        t.ok(r.returncode == 5 and not os.path.exists(os.path.join(work, "slow.vmcore")),
             "run: --timeout --no-hang-dump stops QEMU and exits 5", r.stderr)
        full = os.path.join(work, "full")
        os.mkdir(full)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", full]).returncode == 0:
            try:
                # the guest is kept paused for the user; stopping hvdump run ends it
                errf = os.path.join(work, "nospace.err")
                p = subprocess.Popen([HVDUMP, "run", "--out", full, "--name", "nospace",
                                      "--timeout", "200", "--"] + qemu_args("sysrq"),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(errf, "w"))
                deadline = time.time() + 200
                while (p.poll() is None and time.time() < deadline and
                       "hvdump dump --qmp" not in open(errf).read()):
                    time.sleep(0.2)
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                err = open(errf).read()
                t.ok(p.returncode == 4 and "capture failed" in err and "No space left" in err
                     and "kept paused" in err and os.listdir(full) == [],
                     "run: a capture that fails (disk full) keeps the guest paused until stopped, "
                     "exits 4 and leaves no file", err)
            finally:
                subprocess.run(["umount", full])
        else:
            t.skip("run: a capture that fails exits 4", "cannot mount tmpfs here")
        open(os.path.join(work, "taken.vmcore"), "w").close()
        r = run_hvdump(["run", "--out", work, "--name", "taken", "--"] + qemu_args("sysrq"))
        t.ok(r.returncode == 2 and "already exists" in r.stderr and one_line_error(r) and
             os.path.getsize(os.path.join(work, "taken.vmcore")) == 0,
             "run: an existing vmcore is refused before QEMU starts", r.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
