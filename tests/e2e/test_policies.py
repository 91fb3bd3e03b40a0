#!/usr/bin/env python3
"""hvdumpd's policies on real files, driven by scripted QEMU stand-ins
(tests/peer/qmp_peer.py: a QMP server with a memfd guest that panics again
each time it is resumed): retention per VM, the directory's byte budget,
free-space degradation on a small tmpfs, the crash-loop rate limit, config
errors with FILE:LINE, unknown keys, and SIGHUP reload."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import hvtest
from hvdaemon import HVDUMPD, Daemon, dumps, parts, wait_until

t = hvtest.Tap()
PEER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "peer",
                    "qmp_peer.py")


class Peer:
    def __init__(self, sock, events, fill=4, interval=0.3, scenario="panic"):
        self.log = sock + ".log"
        self.proc = subprocess.Popen([sys.executable, PEER, "--listen", sock, "--scenario", scenario,
                                      "--events", str(events), "--interval", str(interval),
                                      "--panic-after", "0.5", "--fill", str(fill),
                                      "--lifetime", "150", "--log", self.log],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def commands(self, name):
        try:
            return sum(1 for line in open(self.log) if json.loads(line).get("cmd") == name)
        except FileNotFoundError:
            return 0

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def scenario(name, policy, events, fill=4, mount=None, kind="panic"):
    """A daemon with one policy and one peer that panics `events` times."""
    work = tempfile.mkdtemp(prefix="hvdumpd-pol-")
    sockdir = os.path.join(work, "qmp")
    out = os.path.join(work, "dumps")
    os.makedirs(sockdir)
    os.makedirs(out)
    if mount:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + mount, "tmpfs", out], check=True)
    d = Daemon("socket-dir=%s\n\n[policy p]\nmatch=*\noutput-dir=%s\npost-action=resume\n%s\n"
               % (sockdir, out, policy)).start()
    p = Peer(os.path.join(sockdir, name + ".sock"), events, fill, scenario=kind)
    return work, out, d, p


def finish(work, d, p, mounted=False):
    p.close()
    d.close()
    if mounted:
        subprocess.run(["umount", os.path.join(work, "dumps")])
    subprocess.run(["rm", "-rf", work])


def settle(p, resumes, timeout=90):
    return wait_until(lambda: p.commands("cont") >= resumes, timeout)


def retention():
    work, out, d, p = scenario("keeper", "keep=2", 5)
    try:
        settle(p, 5)
        time.sleep(1)
        t.ok(len(dumps(out)) == 2 and d.log().count("dump written") == 5,
             "keep=2: five panics, five dumps written, the two newest kept", (os.listdir(out), d.log()))
        t.ok(d.log().count("(keep 2 per VM)") == 3, "each removal is logged", d.log())
        t.ok(all(os.path.exists(os.path.join(out, f + ".json")) for f in dumps(out)) and
             len([f for f in os.listdir(out) if f.endswith(".json")]) == 2,
             "reports go with their dumps", os.listdir(out))
    finally:
        finish(work, d, p)


def budget():
    work, out, d, p = scenario("budget", "max-bytes=10M", 4, fill=4)
    try:
        settle(p, 4)
        time.sleep(1)
        used = sum(os.stat(os.path.join(out, f)).st_blocks * 512 for f in dumps(out))
        t.ok(0 < used <= 10 << 20 and len(dumps(out)) >= 1 and "directory budget" in d.log(),
             "max-bytes=10M: old dumps removed to stay within the budget (%d KiB kept)" % (used >> 10),
             (os.listdir(out), d.log()))
        newest = sorted(dumps(out))[-1] if dumps(out) else None
        t.ok(newest is not None and d.log().rstrip().count(newest) >= 1,
             "the newest dump is never the one removed", d.log())
    finally:
        finish(work, d, p)


def low_space():
    work, out, d, p = scenario("tight", "min-free=12M\non-low-space=degrade", 2, fill=4,
                               mount="16m")
    try:
        settle(p, 2)
        time.sleep(1)
        # the first panic: the ELF would not fit above min-free, so the ladder
        # writes kdump-zstd -d 31 within the 4 MiB left; the guest's 4 MiB of
        # random data do not compress, so it ends flagged incomplete (kept);
        # the second panic finds less than 4 MiB left: skipped, with the reason
        log = d.log()
        written = dumps(out)
        t.ok(len(written) == 1 and not parts(out) and "degraded:" in log and
             "written as kdump-zstd -d 31 within 4 MiB" in log and "min-free is 12 MiB" in log,
             "16 MiB tmpfs, min-free=12M: the first panic is degraded to kdump-zstd -d 31 within the "
             "space left", (os.listdir(out), log))
        if written:
            with open(os.path.join(out, written[0]), "rb") as f:
                h = f.read(432)
            rep = json.load(open(os.path.join(out, written[0] + ".json")))
            t.ok(h[:8] == b"KDUMP   " and os.stat(os.path.join(out, written[0])).st_size <= 4 << 20 and
                 rep.get("dump_format") == "kdump-zstd" and "degraded" in rep and
                 rep.get("complete") == (not int.from_bytes(h[424:428], "little") & 8),
                 "... a kdump file within the limit; its report says degraded and whether complete",
                 rep)
        t.ok(log.count("dump skipped") >= 1 and "not even 4 MiB for a degraded dump" in log,
             "the second panic, with under 4 MiB above min-free: skipped with the reason", log)
        t.ok(p.commands("cont") >= 2, "... and the post-action still runs (resume)")
        st = d.vm("tight")
        t.ok(st is not None and st["skipped_low_space"] == 1 and st["dumps"] == 1,
             "status counts the degraded dump and the skip", st)
    finally:
        finish(work, d, p, mounted=True)


def rate_limit():
    work, out, d, p = scenario("looper", "max-dumps-per-hour=2", 5)
    try:
        settle(p, 5)
        time.sleep(1)
        st = d.vm("looper")
        t.ok(len(dumps(out)) == 2 and d.log().count("max-dumps-per-hour") == 3,
             "max-dumps-per-hour=2: a crash loop of 5 panics gives 2 dumps", (os.listdir(out), d.log()))
        t.ok(p.commands("cont") == 5 and st is not None and st["skipped_rate_limit"] == 3,
             "beyond the limit the post-action alone runs, and is counted", st)
        # the limit survives a daemon restart (a crash loop goes on meanwhile)
        d.kill9()
        p.close()
        for f in ("looper.sock", "looper.sock.log"):
            try:
                os.unlink(os.path.join(work, "qmp", f))
            except FileNotFoundError:
                pass
        p2 = Peer(os.path.join(work, "qmp", "looper.sock"), 1)
        d.start()
        settle(p2, 1)
        time.sleep(1)
        t.ok(len(dumps(out)) == 2 and d.log().count("max-dumps-per-hour") == 4,
             "after a restart the same VM is still rate-limited", d.log())
        p2.close()
    finally:
        finish(work, d, p)


def config_errors():
    work = tempfile.mkdtemp(prefix="hvdumpd-conf-")
    try:
        conf = os.path.join(work, "bad.conf")
        with open(conf, "w") as f:
            f.write("[daemon]\nworkers=2\n\n[policy a]\npost-action=explode\n")
        r = subprocess.run([HVDUMPD, "--config", conf], capture_output=True, text=True, timeout=30)
        t.ok(r.returncode == 2 and (conf + ":5:") in r.stderr and len(r.stderr.splitlines()) == 1,
             "a bad value: exit 2, one line naming FILE:LINE", r.stderr)
        with open(conf, "w") as f:
            f.write("[daemon]\nworkers=2\nthis is not a key\n")
        r = subprocess.run([HVDUMPD, "--config", conf], capture_output=True, text=True, timeout=30)
        t.ok(r.returncode == 2 and (conf + ":3:") in r.stderr, "a syntax error: exit 2, FILE:LINE",
             r.stderr)
        with open(conf, "w") as f:
            f.write("[daemon]\nworkers=2\nfrobnicate=1\n")
        r = subprocess.run([HVDUMPD, "--config", conf, "--check"], capture_output=True, text=True,
                           timeout=30)
        t.ok(r.returncode == 0 and (conf + ":3:") in r.stderr and "unknown key" in r.stderr,
             "an unknown key is warned about with FILE:LINE, not fatal", r.stderr)
        r = subprocess.run([HVDUMPD, "--config", os.path.join(work, "missing.conf")],
                           capture_output=True, text=True, timeout=30)
        t.ok(r.returncode == 2 and "missing.conf" in r.stderr, "a missing config: exit 2", r.stderr)
    finally:
        subprocess.run(["rm", "-rf", work])


def reload():
    work, out, d, p = scenario("reloaded", "keep=3", 4, fill=1)
    try:
        settle(p, 1)
        with open(d.conf) as f:
            good = f.read()
        with open(d.conf, "a") as f:
            f.write("[broken\n")
        d.proc.send_signal(signal.SIGHUP)
        t.ok(d.wait_log("reload refused", 20), "SIGHUP with a broken config: refused, old one stays",
             d.log())
        with open(d.conf, "w") as f:
            f.write(good.replace("keep=3", "keep=1"))
        d.proc.send_signal(signal.SIGHUP)
        t.ok(d.wait_log("configuration reloaded", 20), "SIGHUP reloads", d.log())
        settle(p, 4)
        time.sleep(1)
        t.ok(len(dumps(out)) == 1 and d.proc.poll() is None,
             "the reloaded policy (keep=1) applies to the next dumps", (os.listdir(out), d.log()))
    finally:
        finish(work, d, p)


def unit_file():
    # the shipped systemd unit: valid, and its sandbox as tight as systemd rates it
    tool = shutil.which("systemd-analyze")
    if tool is None:
        t.skip("hvdumpd.service passes systemd-analyze verify", "no systemd-analyze here")
        return
    work = tempfile.mkdtemp(prefix="hvdumpd-unit-")
    try:
        src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "hostd", "hvdumpd.service")
        unit = os.path.join(work, "hvdumpd.service")
        with open(src) as f, open(unit, "w") as g:
            g.write(f.read().replace("/usr/sbin/hvdumpd", HVDUMPD))
        r = subprocess.run([tool, "verify", unit], capture_output=True, text=True, timeout=60)
        problems = [l for l in (r.stdout + r.stderr).splitlines() if l and "Command 'man " not in l]
        t.ok(not problems, "hvdumpd.service passes systemd-analyze verify", r.stdout + r.stderr)
        r = subprocess.run([tool, "security", "--offline=true", unit], capture_output=True,
                           text=True, timeout=60)
        m = re.search(r"exposure level for hvdumpd.service: ([0-9.]+)", r.stdout + r.stderr)
        t.ok(m is not None and float(m.group(1)) <= 5.0,
             "its sandbox: systemd's exposure level %s (<= 5.0)" % (m.group(1) if m else "?"),
             r.stdout[-2000:] + r.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def oops():
    # the guest module asks for a dump of each oops and goes on: dumped
    # (named by the event), resumed; a second oops within 10 s is not dumped
    work, out, d, p = scenario("ooper", "post-action=poweroff", 2, kind="oops")
    try:
        settle(p, 2)
        time.sleep(1)
        names = dumps(out)
        t.ok(len(names) == 1 and "-oops" in names[0] and
             json.load(open(os.path.join(out, names[0]) + ".json")).get("event") == "oops",
             "an oops the guest asks to have dumped: one dump, named and reported as oops",
             (names, d.log()))
        t.ok(p.commands("cont") == 2 and p.commands("quit") == 0 and
             "less than 10 s ago" in d.log(),
             "both oopses resumed (not the panic policy's poweroff); the second not dumped",
             d.log())
    finally:
        finish(work, d, p)


def on_demand():
    # hvdump dump --daemon: the running daemon pauses, dumps and resumes a VM
    work, out, d, p = scenario("idler", "", 0, kind="idle")
    try:
        wait_until(lambda: d.vm("idler") and d.vm("idler")["state"] == "running", 30)
        target = os.path.join(work, "ondemand.vmcore")
        r = subprocess.run([hvtest.HVDUMP, "dump", "--daemon", "idler", "--control", d.control,
                            target], capture_output=True, text=True, timeout=120)
        t.ok(r.returncode == 0 and os.path.exists(target) and
             hvtest.elf_loads(target) and not os.path.exists(target + ".part"),
             "hvdump dump --daemon VM FILE: the daemon writes FILE", r.stderr + d.log())
        t.ok(p.commands("stop") == 1 and p.commands("cont") == 1 and
             d.vm("idler")["state"] == "running", "... pausing the VM for it and resuming it",
             d.log())
        r = subprocess.run([hvtest.HVDUMP, "dump", "--daemon", "nosuchvm", "--control", d.control,
                            target + "2"], capture_output=True, text=True, timeout=60)
        t.ok(r.returncode == 1 and "no VM 'nosuchvm'" in r.stderr and len(r.stderr.splitlines()) == 1,
             "an unknown VM: one line, exit 1", r.stderr)
        r = subprocess.run([hvtest.HVDUMP, "dump", "--daemon", "idler", "--control", d.control,
                            target], capture_output=True, text=True, timeout=60)
        t.ok(r.returncode == 1 and "exists" in r.stderr and p.commands("stop") == 1,
             "an existing FILE is refused before the VM is paused", r.stderr)
    finally:
        finish(work, d, p)


for fn in (config_errors, unit_file, retention, budget, low_space, rate_limit, reload, oops, on_demand):
    try:
        fn()
    except Exception:
        import traceback
        t.ok(False, fn.__name__ + " raised", traceback.format_exc())
sys.exit(t.done())
