#!/usr/bin/env python3
"""hvdumpd with a real libvirtd (started by the test when none runs): a
domain that panicked before the daemon started is captured at start; a
panic seen through libvirt's events is dumped and the policy's post-action
goes through libvirt (reset: the guest boots again; poweroff: the domain is
destroyed); a domain without shared memory gets QEMU's own dump through
libvirt, and the log says why."""
import json
import os
import subprocess
import sys
import tempfile

import hvtest
from hvdaemon import Daemon, dumps, wait_until
from libvirt_env import URI, Domain, GuestFiles, Libvirtd, virsh

t = hvtest.Tap()
APPEND = "sysrq_always_enabled"


def crash_sys_ok(path):
    out = hvtest.crash(path, ["sys"])
    return ("RELEASE: " + hvtest.KVER) in out and "PANIC:" in out, out


def mine(out, dom):
    return [f for f in dumps(out) if f.startswith(dom.name)]


def main():
    env = Libvirtd()
    work = tempfile.mkdtemp(prefix="hvdumpd-lv-")
    out = os.path.join(work, "dumps")
    files = d = None
    doms = []
    try:
        env.start()
        files = GuestFiles()
        pid = os.getpid()
        pre = Domain(files, "lvpre", action="sysrq")
        doms.append(pre)
        t.ok(pre.wait_state("crashed", 240), "a domain panics before hvdumpd starts", pre.state())
        conf = ("libvirt-uri=%s\n\n"
                "[policy reset]\nmatch=hvdump-test-lvreset-%d\noutput-dir=%s\npost-action=reset\n\n"
                "[policy off]\nmatch=hvdump-test-lvnoshare-%d\noutput-dir=%s\npost-action=poweroff\n\n"
                "[policy keep]\nmatch=*\noutput-dir=%s\npost-action=keep-paused\n"
                % (URI, pid, out, pid, out, out))
        d = Daemon(conf).start()
        got = wait_until(lambda: mine(out, pre), 180)
        t.ok(got, "hvdumpd captures the domain that was already crashed", d.log())
        if got:
            good, text = crash_sys_ok(os.path.join(out, got[0]))
            t.ok(good, "... its dump opens in crash", text)
        t.ok(pre.state() is not None and pre.state().startswith("crashed"),
             "... and keep-paused leaves it crashed", pre.state())

        rst = Domain(files, "lvreset", action="tick", extra_append=APPEND)
        doms.append(rst)
        t.ok(rst.wait_for("HVDUMP-TICK 1", 240), "a second domain boots", rst.console()[-400:])
        t.ok(d.wait_log("watching libvirt domain", 30, count=2),
             "hvdumpd picks it up from libvirt's started event", d.log())
        virsh("send-key", rst.name, "KEY_LEFTALT", "KEY_SYSRQ", "KEY_C", check=True)
        got = wait_until(lambda: mine(out, rst), 180)
        t.ok(got, "its panic (libvirt's crashed event) becomes a dump", d.log())
        if got:
            good, text = crash_sys_ok(os.path.join(out, got[0]))
            t.ok(good, "... that opens in crash", text)
            rep = json.load(open(os.path.join(out, got[0]) + ".json"))
            t.ok(rep.get("result") == "dumped", "... its report says dumped", rep)
        t.ok(wait_until(lambda: rst.boots() >= 2 and rst.console().count("HVDUMP-TICK 1") >= 2, 240),
             "reset through libvirt: the guest boots again", rst.console()[-600:])
        t.ok(wait_until(lambda: (rst.state() or "").startswith("running"), 30),
             "... and libvirt says running", rst.state())

        ns = Domain(files, "lvnoshare", action="sysrq", shared=False, mem_mib=256)
        doms.append(ns)
        got = wait_until(lambda: mine(out, ns), 300)
        t.ok(got and "falling back to QEMU's dump-guest-memory" in d.log() and
             "not shared" in d.log(), "no shared memory: QEMU's dump through libvirt, logged why",
             d.log())
        if got:
            good, text = crash_sys_ok(os.path.join(out, got[0]))
            t.ok(good, "... the fallback dump opens in crash", text)
        t.ok(wait_until(lambda: ns.state() is None or ns.state().startswith("shut off"), 60),
             "poweroff through libvirt: the domain is destroyed", ns.state())
        st = d.status() or {}
        srcs = {v["name"]: v["source"] for v in st.get("vms", [])}
        t.ok(srcs.get(rst.name) == "libvirt" and srcs.get(pre.name) == "libvirt",
             "hvdump status lists the libvirt domains", st)
        t.ok(not [f for f in os.listdir(out) if f.endswith(".part")], "no .part left",
             os.listdir(out))
    finally:
        for dom in doms:
            dom.destroy()
        if d:
            d.close()
        if files:
            files.close()
        env.stop()
        subprocess.run(["rm", "-rf", work])
    return t.done()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        import traceback
        t.ok(False, "test_daemon_libvirt raised", traceback.format_exc())
        sys.exit(t.done())
