"""A hostile guest, a broken QEMU and a shared dump directory, played by the
scripted QMP peer (tests/peer/qmp_peer.py: a QMP server holding the guest's
RAM in a memfd, as QEMU does). Each check names the harm it guards against."""
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from hvtest import HVDUMP, Tap, one_line_error, run_hvdump

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(os.path.dirname(HERE), "peer", "qmp_peer.py")
PY = sys.executable


def peer_cmd(scenario, log, *extra):
    return [PY, PEER, "--scenario", scenario, "--log", log] + list(extra)


def peer_log(log):
    try:
        with open(log) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def commands(log):
    return [e["cmd"] for e in peer_log(log) if "cmd" in e]


def run_with_peer(out, scenario, name, hv_args=(), peer_args=(), timeout=60, logdir=None):
    log = os.path.join(logdir or os.path.dirname(out), name + ".peer.log")
    r = run_hvdump(["run", "--out", out, "--name", name] + list(hv_args) + ["--"] +
                   peer_cmd(scenario, log, *peer_args), timeout=timeout)
    return r, log


class Standalone:
    """The peer serving a socket of its own, for `hvdump dump`."""
    n = 0

    def __init__(self, work, scenario, *extra):
        Standalone.n += 1
        self.sock = os.path.join(work, "%s-%d.sock" % (scenario, Standalone.n))
        self.log = os.path.join(work, "%s-%d.peer.log" % (scenario, Standalone.n))
        self.proc = subprocess.Popen(peer_cmd(scenario, self.log, "--listen", self.sock,
                                              "--panic-after", "-1", *extra),
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 20
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("qmp_peer did not start")
            time.sleep(0.05)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def main():
    t = Tap()
    work = tempfile.mkdtemp(prefix="hvdump-e2e-hostile-")
    try:
        check_oops_flood(t, work)
        check_scan_descriptor_cannot_resume(t, work)
        check_stale_oops_number(t, work)
        check_event_behind_an_answer(t, work)
        check_unwritable_out_dir(t, work)
        check_planted_part_at_start(t, work)
        check_failed_panic_capture_keeps_vm(t, work)
        check_failed_oops_capture_resumes(t, work)
        check_forged_notes(t, work)
        check_forged_descriptors(t, work)
        check_fifo_backend(t, work)
        check_escapes(t, work)
        check_dump_signals(t, work)
        check_signal_edges(t, work)
        check_shared_dir_part(t, work)
    finally:
        subprocess.run(["umount", "-l", os.path.join(work, "tiny")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return t.done()


def check_oops_flood(t, work):
    d = os.path.join(work, "flood")
    os.mkdir(d)
    r, log = run_with_peer(d, "oops", "flood", peer_args=["--events", "300"], timeout=120)
    dumps = sorted(f for f in os.listdir(d) if f.endswith(".vmcore"))
    conts = commands(log).count("cont")
    t.ok(r.returncode == 6 and dumps == ["flood.oops1.vmcore"] and conts == 300,
         "a guest forging 300 oops dump requests in a burst gets one dump (default "
         "--oops-interval 10), every one resumed",
         "rc %d dumps %r conts %d\n%s" % (r.returncode, dumps, conts, r.stderr[-1500:]))
    t.ok("299 within --oops-interval" in r.stderr and len(r.stderr.splitlines()) < 20,
         "skipped oops dumps are counted in a summary naming the option; the log stays short",
         r.stderr[-1500:])
    d = os.path.join(work, "flood-cap")
    os.mkdir(d)
    r, log = run_with_peer(d, "oops", "cap", hv_args=["--oops-interval", "0"],
                           peer_args=["--events", "50"], timeout=120)
    dumps = sorted(f for f in os.listdir(d) if f.endswith(".vmcore"))
    t.ok(r.returncode == 6 and len(dumps) == 3 and "47 over --max-oops-dumps" in r.stderr,
         "--max-oops-dumps (default 3) caps oops dumps when no interval applies",
         "rc %d %r\n%s" % (r.returncode, dumps, r.stderr[-1500:]))
    d = os.path.join(work, "flood-rate")
    os.mkdir(d)
    r, log = run_with_peer(d, "oops", "rate", hv_args=["--max-oops-dumps", "100",
                                                       "--oops-interval", "3600"],
                           peer_args=["--events", "20"], timeout=120)
    dumps = sorted(f for f in os.listdir(d) if f.endswith(".vmcore"))
    t.ok(r.returncode == 6 and dumps == ["rate.oops1.vmcore"] and "--oops-interval 3600" in r.stderr,
         "--oops-interval: a second oops dump within the interval is skipped and said",
         "rc %d %r\n%s" % (r.returncode, dumps, r.stderr[-1500:]))


def check_scan_descriptor_cannot_resume(t, work):
    d = os.path.join(work, "scan")
    os.mkdir(d)
    r, log = run_with_peer(d, "scan-oops", "scan")
    t.ok(r.returncode == 3 and os.listdir(d).count("scan.vmcore") == 1 and
         "cont" not in commands(log),
         "a descriptor found only by scan cannot turn a panic into 'oops, resume'",
         "rc %d %r %r\n%s" % (r.returncode, os.listdir(d), commands(log), r.stderr[-1500:]))


def check_event_behind_an_answer(t, work):
    d = os.path.join(work, "behind")
    os.mkdir(d)
    r, log = run_with_peer(d, "panic", "behind", hv_args=["--timeout", "20"],
                           peer_args=["--panic-after", "30", "--panic-behind-status"])
    t.ok(r.returncode == 3 and os.path.exists(os.path.join(d, "behind.vmcore")),
         "a panic event read together with an answer (already buffered) is not missed",
         "rc %d\n%s" % (r.returncode, r.stderr[-1500:]))


def check_stale_oops_number(t, work):
    d = os.path.join(work, "stale")
    os.mkdir(d)
    open(os.path.join(d, "st.oops1.vmcore"), "w").close()
    r, log = run_with_peer(d, "oops", "st")
    t.ok(r.returncode == 6 and os.path.getsize(os.path.join(d, "st.oops1.vmcore")) == 0 and
         os.path.exists(os.path.join(d, "st.oops2.vmcore")),
         "an earlier run's oops1.vmcore is kept; the next free number is taken",
         "rc %d %r\n%s" % (r.returncode, os.listdir(d), r.stderr[-1500:]))


def tiny_dir(work):
    """A 1 MiB tmpfs: too small for the peer's 24 MiB of random guest data."""
    tiny = os.path.join(work, "tiny")
    if not os.path.isdir(tiny):
        os.mkdir(tiny)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", tiny],
                           capture_output=True, text=True)
        if m.returncode != 0:
            return None
    return tiny


def check_planted_part_at_start(t, work):
    d = os.path.join(work, "planted")
    os.mkdir(d)
    os.mkfifo(os.path.join(d, "pl.vmcore.part"))
    r, log = run_with_peer(d, "panic", "pl", logdir=work)
    t.ok(r.returncode == 2 and one_line_error(r) and "FIFO" in r.stderr and peer_log(log) == [],
         "run refuses a NAME.vmcore.part planted in --out before starting QEMU",
         "rc %d\n%s" % (r.returncode, r.stderr))


def check_unwritable_out_dir(t, work):
    ro = os.path.join(work, "ro")
    os.mkdir(ro)
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro],
                       capture_output=True, text=True)
    if m.returncode != 0:
        t.skip("run refuses an output directory it cannot write", "cannot mount tmpfs")
        return
    try:
        r, log = run_with_peer(ro, "panic", "ro", logdir=work)
        t.ok(r.returncode == 2 and one_line_error(r) and "not writable" in r.stderr and
             peer_log(log) == [],
             "run refuses an output directory it cannot write before starting QEMU",
             "rc %d\n%s" % (r.returncode, r.stderr[-800:]))
    finally:
        subprocess.run(["umount", ro])


def check_failed_panic_capture_keeps_vm(t, work):
    tiny = tiny_dir(work)
    if tiny is None:
        t.skip("a failed panic capture leaves the VM paused", "cannot mount tmpfs")
        return
    log = os.path.join(work, "keep.peer.log")
    errf = os.path.join(work, "keep.stderr")
    p = subprocess.Popen([HVDUMP, "run", "--out", tiny, "--name", "keep", "--"] +
                         peer_cmd("panic", log, "--fill", "24"),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(errf, "w"))
    sock = None
    later = None
    try:
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None and sock is None:
            time.sleep(0.2)
            m = re.search(r"hvdump dump --qmp (\S+)", open(errf).read())
            if m:
                sock = m.group(1)
        if sock is not None:
            # the advice works: the user dumps the paused guest elsewhere
            later = run_hvdump(["dump", "--qmp", sock, os.path.join(work, "later.vmcore")],
                               timeout=60)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = open(errf).read()
    cmds = commands(log)
    t.ok(sock is not None and "No space left" in err and later is not None and
         later.returncode == 0 and os.path.exists(os.path.join(work, "later.vmcore")),
         "a panic whose capture fails leaves the VM paused and says how to dump it; "
         "that advice works", "%r\n%s\n%s" % (cmds, err[-1500:], later.stderr if later else ""))
    events = peer_log(log)
    connects = [i for i, e in enumerate(events) if e.get("peer") == "client connected"]
    quits = [i for i, e in enumerate(events) if e.get("cmd") == "quit"]
    # QEMU is quit once, by hvdump run's own (third) connection, after the rescue dump's
    t.ok(p.returncode == 4 and len(connects) == 3 and len(quits) == 1 and quits[0] > connects[2] and
         os.listdir(tiny) == [],
         "... QEMU is quit only when hvdump run is stopped; exit 4; nothing left in the full "
         "directory", "rc %s %r %r" % (p.returncode, cmds, os.listdir(tiny)))


def check_failed_oops_capture_resumes(t, work):
    tiny = tiny_dir(work)
    if tiny is None:
        t.skip("a failed oops capture resumes the guest", "cannot mount tmpfs")
        return
    r, log = run_with_peer(tiny, "oops", "oopsfull", peer_args=["--fill", "24"], logdir=work)
    cmds = commands(log)
    t.ok(r.returncode == 0 and "cont" in cmds and "quit" not in cmds and os.listdir(tiny) == [] and
         "free" in r.stderr,
         "an oops dump that does not fit is skipped with a reason and the guest resumed",
         "rc %d %r\n%s" % (r.returncode, cmds, r.stderr[-1500:]))


def check_forged_notes(t, work):
    p = Standalone(work, "forged-notes")
    try:
        out = os.path.join(work, "forged-notes.vmcore")
        r = run_hvdump(["dump", "-v", "--qmp", p.sock, out], timeout=60)
        t.ok(r.returncode == 0 and "kernel 6.1.0-synthetic" in r.stderr and
             "verified against page tables" in r.stderr,
             "40 forged VMCOREINFO notes placed before the real one do not strip it from the dump",
             r.stderr[-2000:])
    finally:
        p.close()


def check_forged_descriptors(t, work):
    p = Standalone(work, "forged-descs")
    try:
        out = os.path.join(work, "forged-descs.vmcore")
        r = run_hvdump(["dump", "--qmp", p.sock, out], timeout=60)
        t.ok(r.returncode == 0 and "descriptor at 0x200000 (found by scan)" in r.stderr,
             "pages with the descriptor magic before the real descriptor do not hide it",
             r.stderr[-2000:])
    finally:
        p.close()


def check_fifo_backend(t, work):
    d = os.path.join(work, "fifo")
    os.mkdir(d)
    p = Standalone(d, "fifo")
    try:
        r = None
        try:
            r = run_hvdump(["dump", "--qmp", p.sock, os.path.join(d, "x.vmcore")], timeout=30)
        except subprocess.TimeoutExpired:
            pass
        # hvdump then falls back to QEMU's own dump, which the peer cannot do:
        # that one line, then the one error
        lines = [l for l in r.stderr.splitlines() if l.strip()] if r else []
        t.ok(r is not None and r.returncode == 1 and "mem0" in r.stderr and
             (one_line_error(r) or (len(lines) == 2 and "fell back" in lines[0] and
                                    lines[1].startswith("hvdump: "))),
             "a RAM backend that is a FIFO is refused, not opened (no hang with the VM paused)",
             r.stderr if r else "hvdump hung for 30 s")
        t.ok(commands(p.log).count("stop") == commands(p.log).count("cont"),
             "... and the VM is resumed", commands(p.log))
    finally:
        p.close()


def check_escapes(t, work):
    p = Standalone(work, "escape")
    try:
        r = run_hvdump(["dump", "--qmp", p.sock, os.path.join(work, "esc.vmcore")], timeout=30)
        t.ok(r.returncode == 1 and "\x1b" not in r.stderr and "\x07" not in r.stderr and
             "no memdev" in r.stderr and one_line_error(r),
             "terminal escapes in QEMU's error text never reach the terminal", repr(r.stderr))
    finally:
        p.close()


def start_dump(sock, out, *extra):
    return subprocess.Popen([HVDUMP, "dump"] + list(extra) + ["--qmp", sock, out],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait_for_command(log, text, timeout=20):
    """Until the peer has received a command containing text."""
    deadline = time.time() + timeout
    while time.time() < deadline and text not in json.dumps(peer_log(log)):
        time.sleep(0.1)


def interrupt(h, sig, timeout=20):
    """Sends sig to a running hvdump; its stderr (killed if it hangs)."""
    h.send_signal(sig)
    try:
        return h.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        h.kill()
        return "still running %d s after %s\n" % (timeout, signal.Signals(sig).name) + \
            h.communicate()[1]


def check_dump_signals(t, work):
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        p = Standalone(work, "slow")
        name = signal.Signals(sig).name
        out = os.path.join(work, "sig-%s.vmcore" % name)
        try:
            h = start_dump(p.sock, out)
            wait_for_command(p.log, "info registers -a")
            err = interrupt(h, sig)
            cmds = commands(p.log)
            # the peer started panicked: a VM we did not pause is not resumed either
            t.ok(h.returncode == 128 + sig and not os.path.exists(out) and
                 not os.path.exists(out + ".part") and "cont" not in cmds and
                 "interrupted" in err,
                 "dump interrupted by %s: exits %d, removes FILE.part, leaves a VM it did "
                 "not pause as it was" % (name, 128 + sig), "rc %s %r\n%s" % (h.returncode, cmds, err))
        finally:
            p.close()
    # a running VM paused by hvdump is resumed when the dump is interrupted
    p = Standalone(work, "slow", "--panic-after", "3600")
    try:
        out = os.path.join(work, "sig-running.vmcore")
        h = start_dump(p.sock, out)
        wait_for_command(p.log, "info registers -a")
        err = interrupt(h, signal.SIGINT)
        cmds = commands(p.log)
        t.ok(h.returncode == 130 and "stop" in cmds and cmds[-1] == "cont" and
             not os.path.exists(out + ".part"),
             "Ctrl-C mid-dump resumes the VM hvdump paused and removes FILE.part",
             "rc %s %r\n%s" % (h.returncode, cmds, err))
    finally:
        p.close()


def check_signal_edges(t, work):
    # a signal during the greeting wait ends it at once, not after --timeout
    silent = os.path.join(work, "silent.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(silent)
    srv.listen(1)
    try:
        h = start_dump(silent, os.path.join(work, "greet.vmcore"), "--timeout", "60")
        time.sleep(1)
        t0 = time.time()
        err = interrupt(h, signal.SIGINT)
        t.ok(h.returncode == 130 and time.time() - t0 < 5 and "interrupted" in err and
             not os.path.exists(os.path.join(work, "greet.vmcore.part")),
             "Ctrl-C while waiting for QEMU's greeting ends the dump at once",
             "rc %s after %.1f s\n%s" % (h.returncode, time.time() - t0, err))
    finally:
        srv.close()
    # a signal the caller ignores (nohup) stays ignored
    p = Standalone(work, "slow")
    try:
        h = subprocess.Popen([HVDUMP, "dump", "--timeout", "3", "--qmp", p.sock,
                              os.path.join(work, "nohup.vmcore")], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
        time.sleep(1)
        h.send_signal(signal.SIGHUP)
        _, err = h.communicate(timeout=30)
        t.ok(h.returncode == 1 and "timed out" in err and "interrupted" not in err,
             "SIGHUP ignored by the caller (nohup) does not interrupt a dump",
             "rc %s\n%s" % (h.returncode, err))
    finally:
        p.close()


def check_shared_dir_part(t, work):
    """Another user of a shared dump directory plants FILE.part."""
    d = os.path.join(work, "shared")
    os.mkdir(d)
    os.chmod(d, 0o1777)
    nobody = pwd.getpwnam("nobody").pw_uid
    p = Standalone(d, "panic")
    try:
        out = os.path.join(d, "a.vmcore")
        with open(out + ".part", "w") as f:
            f.write("planted")
        os.chown(out + ".part", nobody, nobody)
        r = run_hvdump(["dump", "--qmp", p.sock, out], timeout=60)
        st = os.stat(out) if os.path.exists(out) else None
        t.ok(r.returncode == 1 and st is None and one_line_error(r) and "a.vmcore.part" in r.stderr,
             "a FILE.part planted by another user is refused, never written into",
             "rc %d owner %s\n%s" % (r.returncode, st.st_uid if st else None, r.stderr))

        out = os.path.join(d, "b.vmcore")
        os.mkfifo(out + ".part")
        r = None
        try:
            r = run_hvdump(["dump", "--qmp", p.sock, out], timeout=20)
        except subprocess.TimeoutExpired:
            pass
        t.ok(r is not None and r.returncode == 1 and one_line_error(r),
             "a FIFO planted at FILE.part is refused (no hang)", r.stderr if r else "hung")

        out = os.path.join(d, "c.vmcore")
        victim = os.path.join(d, "victim")
        with open(victim, "w") as f:
            f.write("precious")
        os.link(victim, out + ".part")
        r = run_hvdump(["dump", "--qmp", p.sock, out], timeout=60)
        t.ok(r.returncode == 1 and open(victim).read() == "precious",
             "a hard link planted at FILE.part is refused; its target is untouched",
             r.stderr)

        out = os.path.join(d, "d.vmcore")
        with open(out + ".part", "w") as f:
            f.write("stale, ours")
        r = run_hvdump(["dump", "--qmp", p.sock, out], timeout=60)
        st = os.stat(out) if os.path.exists(out) else None
        t.ok(r.returncode == 0 and st is not None and st.st_uid == 0 and
             (st.st_mode & 0o777) == 0o600 and not os.path.exists(out + ".part"),
             "our own stale FILE.part from an interrupted run is replaced (0600, ours)", r.stderr)
    finally:
        p.close()


if __name__ == "__main__":
    raise SystemExit(main())
