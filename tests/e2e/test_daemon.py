#!/usr/bin/env python3
"""hvdumpd end to end, with real TCG guests watched through a socket
directory: concurrent panics and their post-actions, the hook, restarts
(kill -9 while a guest sits panicked and mid-capture), an unwritable output
directory, a QEMU that dies mid-capture, a guest without shared RAM (QEMU's
own dump as the fallback) and the control socket's root-only rule."""
import glob
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time

import hvtest
from hvdaemon import Daemon, dumps, parts, wait_until

t = hvtest.Tap()
APPEND = "sysrq_always_enabled"


def hook_script(d):
    path = os.path.join(d, "hook.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\ncat > \"%s/event.$$.json\"\n" % d)
    os.chmod(path, 0o755)
    return path


def crash_sys_ok(path):
    out = hvtest.crash(path, ["sys"])
    return ("RELEASE: " + hvtest.KVER) in out and "PANIC:" in out, out


def panic(g):
    g.qmp.hmp("sendkey alt-sysrq-c")


def boots(g, n):
    return g.console().count("Linux version") >= n


def three_guests():
    work = tempfile.mkdtemp(prefix="hvdumpd-3-")
    sockdir = os.path.join(work, "qmp")
    out = os.path.join(work, "dumps")
    hooks = os.path.join(work, "hooks")
    os.makedirs(sockdir)
    os.makedirs(hooks)
    hook = hook_script(hooks)
    conf = ("socket-dir=%s\nworkers=3\n\n"
            "[policy resetter]\nmatch=vm-reset\noutput-dir=%s\npost-action=reset\nhook=%s\n\n"
            "[policy off]\nmatch=vm-off\noutput-dir=%s\npost-action=poweroff\nhook=%s\n\n"
            "[policy rest]\nmatch=*\noutput-dir=%s\npost-action=keep-paused\nhook=%s\n"
            % (sockdir, out, hook, out, hook, out, hook))
    d = Daemon(conf).start()
    guests = {}
    try:
        for name in ("vm-reset", "vm-off", "vm-keep"):
            guests[name] = hvtest.Guest(action="tick", extra_append=APPEND, name=name,
                                        qmp_path=os.path.join(sockdir, name + ".sock"),
                                        no_reboot=name != "vm-reset")
        up = all(g.wait_for("HVDUMP-TICK 1", 180) for g in guests.values())
        t.ok(up, "three guests boot", "\n".join(g.console()[-500:] for g in guests.values()))
        watched = wait_until(lambda: d.status() and len(d.status()["vms"]) == 3, 30)
        t.ok(watched, "hvdumpd watches the three sockets that appeared", d.log())
        for g in guests.values():
            panic(g)
        done = wait_until(lambda: len(dumps(out)) == 3, 240)
        t.ok(done, "three concurrent panics -> three dumps", d.log())
        for f in dumps(out):
            p = os.path.join(out, f)
            good, text = crash_sys_ok(p)
            t.ok(good and stat.S_IMODE(os.stat(p).st_mode) == 0o600,
                 "crash sys opens %s (mode 0600)" % f, text)
            rep = json.load(open(p + ".json"))
            t.ok(rep.get("result") == "dumped" and rep.get("vm", {}).get("name") in guests and rep.get("vm_name") in guests,
                 "report next to %s names its VM" % f, rep)
        t.ok(wait_until(lambda: boots(guests["vm-reset"], 2) and
                        guests["vm-reset"].console().count("HVDUMP-TICK 1") >= 2, 180),
             "reset policy: the guest boots again", guests["vm-reset"].console()[-800:])
        off = guests["vm-off"]
        t.ok(wait_until(lambda: off.proc.poll() is not None, 60),
             "poweroff policy: QEMU is gone", d.log())
        t.ok(guests["vm-keep"].status() == "guest-panicked",
             "keep-paused policy: the guest is still paused in its panic")
        events = wait_until(lambda: len(glob.glob(os.path.join(hooks, "event.*.json"))) >= 3, 60)
        evs = [json.load(open(p)) for p in glob.glob(os.path.join(hooks, "event.*.json"))]
        t.ok(events and sorted(e["vm"]["name"] for e in evs) == sorted(guests) and
             all(e["event"] == "panic" and e["result"] == "dumped" and os.path.exists(e["path"])
                 for e in evs),
             "the hook received 3 JSON events with their results", evs)
        acts = {e["vm"]["name"]: (e.get("post_action"), e.get("post_action_result")) for e in evs}
        t.ok(acts.get("vm-reset") == ("reset", "ok") and acts.get("vm-off") == ("poweroff", "ok")
             and acts.get("vm-keep") == ("keep-paused", "ok"),
             "each event names its post-action and its outcome", acts)
        st = d.vm("vm-keep")
        t.ok(st is not None and st["state"] == "kept-paused" and st["dumps"] == 1 and
             st.get("last_dump", "").startswith(out),
             "hvdump status: state and last dump of each VM", d.status())

        # kill -9 while a guest sits panicked and dumped: no second dump
        d.kill9()
        d.start()
        t.ok(d.wait_log("already handled before a restart", 60),
             "restart: the panicked guest's dump is not taken twice", d.log())
        time.sleep(2)
        t.ok(len([f for f in dumps(out) if f.startswith("vm-keep")]) == 1 and not parts(out),
             "restart: still exactly one dump of vm-keep, no .part", os.listdir(out))
    finally:
        for g in guests.values():
            g.close()
        d.close()
        subprocess.run(["rm", "-rf", work])


def restart_mid_capture():
    work = tempfile.mkdtemp(prefix="hvdumpd-mid-")
    sockdir = os.path.join(work, "qmp")
    out = os.path.join(work, "dumps")
    os.makedirs(sockdir)
    conf = ("socket-dir=%s\n\n[policy all]\nmatch=*\noutput-dir=%s\npost-action=keep-paused\n"
            % (sockdir, out))
    d = Daemon(conf)
    g = None
    try:
        # a guest that panicked while no daemon ran: found panicked at start
        g = hvtest.Guest(action="sysrq", mem="1G", extra_append="hvdump.fill_mb=400", name="vm-mid",
                         qmp_path=os.path.join(sockdir, "vm-mid.sock"))
        t.ok(g.wait_status("guest-panicked", 240), "guest fills 400 MiB and panics, no daemon yet",
             g.console()[-500:])
        d.start()
        seen = wait_until(lambda: parts(out), 120, step=0.002)
        d.kill9()
        t.ok(seen and parts(out) and not dumps(out), "kill -9 mid-capture leaves only a .part",
             (seen, os.listdir(out) if os.path.isdir(out) else None, d.log()))
        d.start()
        ok = wait_until(lambda: len(dumps(out)) == 1 and not parts(out), 180)
        t.ok(ok, "the restarted daemon cleans the .part and captures again", d.log())
        t.ok(d.wait_log("capture that did not finish", 5) and d.wait_log("dump written", 30) and
             d.log().count("dump written") == 1, "the log says what was cleaned and retried", d.log())
        if dumps(out):
            good, text = crash_sys_ok(os.path.join(out, dumps(out)[0]))
            t.ok(good, "the retried dump opens in crash", text)
            rep = json.load(open(os.path.join(out, dumps(out)[0]) + ".json"))
            # progress-interval=1: a capture that took 2 s or more logged progress
            t.ok(rep.get("seconds", 0) < 2 or "capturing:" in d.log(),
                 "a long capture logs progress lines (%.1f s)" % rep.get("seconds", 0), d.log())
        d.kill9()
        d.start()
        time.sleep(3)
        t.ok(len(dumps(out)) == 1, "a third start takes no second dump", os.listdir(out))
    finally:
        if g:
            g.close()
        d.close()
        subprocess.run(["rm", "-rf", work])


def failures():
    work = tempfile.mkdtemp(prefix="hvdumpd-fail-")
    sockdir = os.path.join(work, "qmp")
    ro = os.path.join(work, "ro")
    out = os.path.join(work, "dumps")
    os.makedirs(sockdir)
    os.makedirs(ro)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro], check=True)
    conf = ("socket-dir=%s\nworkers=2\n\n"
            "[policy ro]\nmatch=vm-ro\noutput-dir=%s/dumps\npost-action=reset\n\n"
            "[policy noshare]\nmatch=vm-noshare\nformat=kdump-zstd\ndump-level=31\noutput-dir=%s\n"
            "post-action=keep-paused\n\n"
            "[policy all]\nmatch=*\noutput-dir=%s\npost-action=keep-paused\n" % (sockdir, ro, out, out))
    d = Daemon(conf).start()
    gs = []
    try:
        g_ro = hvtest.Guest(action="sysrq", name="vm-ro", qmp_path=os.path.join(sockdir, "vm-ro.sock"))
        gs.append(g_ro)
        t.ok(d.wait_log("capture failed", 240), "unwritable output dir: the capture fails, logged",
             d.log())
        t.ok(d.wait_log("kept paused so the crash is not lost", 30) and
             g_ro.status() == "guest-panicked" and d.proc.poll() is None,
             "... the VM stays paused (no reset) and the daemon runs on", d.log())

        # QEMU dies mid-capture: logged, .part removed, the others still served
        g_die = hvtest.Guest(action="sysrq", mem="1G", extra_append="hvdump.fill_mb=400",
                             name="vm-die", qmp_path=os.path.join(sockdir, "vm-die.sock"))
        gs.append(g_die)
        seen = wait_until(lambda: [p for p in parts(out) if p.startswith("vm-die")], 240,
                          step=0.002)
        if seen:
            os.kill(g_die.qemu_pid(), signal.SIGKILL)
        t.ok(seen and d.wait_log("capture abandoned", 30) and d.wait_log("capture cancelled", 30),
             "QEMU killed mid-capture: logged", d.log())
        time.sleep(1)
        t.ok(not [p for p in parts(out) if p.startswith("vm-die")] and
             not [f for f in dumps(out) if f.startswith("vm-die")],
             "... its .part is removed", os.listdir(out) if os.path.isdir(out) else None)
        # (a TCG boot on this loaded 2-core machine stalls now and then, before
        # the panic: that guest is replaced, a stall is not hvdumpd's)
        for attempt in range(3):
            g_ok = hvtest.Guest(action="sysrq", name="vm-after",
                                qmp_path=os.path.join(sockdir, "vm-after.sock"))
            gs.append(g_ok)
            if g_ok.wait_status("guest-panicked", 90):
                break
            g_ok.close()
        t.ok(wait_until(lambda: [f for f in dumps(out) if f.startswith("vm-after")], 120),
             "... and the daemon goes on serving other VMs", d.log())

        # no shared RAM: QEMU's dump-guest-memory, and the log says why
        g_ns = hvtest.Guest(action="sysrq", mem="256M", memfd=False, name="vm-noshare",
                            qmp_path=os.path.join(sockdir, "vm-noshare.sock"))
        gs.append(g_ns)
        got = wait_until(lambda: [f for f in dumps(out) if f.startswith("vm-noshare")], 300)
        t.ok(got and "falling back to QEMU's dump-guest-memory" in d.log() and
             "not shared" in d.log() and "its ELF converted afterwards" in d.log(),
             "RAM not shared: the fallback dump, logged with the reason", d.log())
        if got:
            good, text = crash_sys_ok(os.path.join(out, got[0]))
            with open(os.path.join(out, got[0]), "rb") as f:
                kdump = f.read(8) == b"KDUMP   "
            t.ok(good and kdump and not [f for f in os.listdir(out) if "qemu-elf" in f],
                 "the fallback dump is converted to the policy's kdump-zstd -d 31; crash opens it",
                 text)
            rep = json.load(open(os.path.join(out, got[0]) + ".json"))
            t.ok(rep.get("result") == "dumped-fallback", "its report says fallback", rep)

        # the control socket answers root only
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            hvtest.HVDUMP, "status", "--control", d.control],
                           capture_output=True, text=True, timeout=30)
        t.ok(r.returncode == 1 and "Permission denied" in r.stderr,
             "non-root client: the socket refuses it (mode 0600)", r.stderr)
        os.chmod(d.dir, 0o711)
        os.chmod(d.control, 0o666)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            hvtest.HVDUMP, "status", "--control", d.control],
                           capture_output=True, text=True, timeout=30)
        t.ok(r.returncode == 1 and "root only" in r.stderr and d.wait_log("refused a client", 10),
             "non-root client on an open socket: refused by its credentials, logged", r.stderr)
        t.ok(d.status() is not None, "root still gets answers")
    finally:
        for g in gs:
            g.close()
        d.close()
        subprocess.run(["umount", ro])
        subprocess.run(["rm", "-rf", work])


for fn in (three_guests, restart_mid_capture, failures):
    try:
        fn()
    except Exception as e:  # a broken step fails, the others still run
        import traceback
        t.ok(False, fn.__name__ + " raised", traceback.format_exc())
sys.exit(t.done())
