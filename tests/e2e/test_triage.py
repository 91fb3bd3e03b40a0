#!/usr/bin/env python3
"""CI triage on real guests: `hvdump run` of several crash kinds (sysrq, NULL
dereference with panic_on_oops, BUG(), WARN() with panic_on_warn, panic()
with a message, a busy loop caught by --timeout) on Debian's 6.1 and 6.12
kernels; titles, signatures (stable for one crash, different between
crashes), NAME.report.json, --junit (parsed as XML), the rebuilt dmesg
against the serial console, the call trace against crash's bt, other dump
formats (kdump-compressed of ours and of makedumpfile), --keep, and
VMCOREINFO that points the parsers anywhere."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import hvtest
from hvtest import Tap

t = Tap()
work = tempfile.mkdtemp(prefix="hvdump-triage-")

CASES = {
    # name: (hvdump.action, extra kernel args, expected title, expected exit)
    "sysrq": ("sysrq", "", "sysrq triggered crash", 3),
    "null": ("null", "oops=panic", "BUG: kernel NULL pointer dereference in crashtest_write", 3),
    "bug": ("bug", "oops=panic", "kernel BUG in crashtest_write", 3),
    "warn": ("warn", "panic_on_warn=1", "WARNING in crashtest_write", 3),
    "panic": ("panic", "", "panic: hvdump crashtest: custom panic from pid", 3),
    "spin": ("spin", "", "hung guest: stuck in crashtest_spin", 7),
}


def run_guest(name, action, extra, out, k612=False, timeout=200, more=()):
    kernel = hvtest.KERNEL_612 if k612 else hvtest.KERNEL
    initrd = hvtest.INITRD_612 if k612 else hvtest.INITRD
    junit = os.path.join(out, name + ".xml")
    argv = ["run", "--out", out, "--name", name, "--timeout", str(timeout), "--junit", junit] + \
        list(more) + ["--", hvtest.QEMU, "-accel", hvtest.ACCEL, "-m", "512M", "-smp", "2",
                      "-nographic", "-no-reboot", "-kernel", kernel, "-initrd", initrd,
                      "-append", "console=ttyS0 panic=0 hvdump.action=%s "
                      "hvdump.modules=hvdump_guest %s" % (action, extra)]
    r = hvtest.run_hvdump(argv, timeout=timeout + 120)
    return r, os.path.join(out, name + ".vmcore"), os.path.join(out, name + ".report.json"), junit


def triage(path, *args):
    return subprocess.run([hvtest.HVDUMP, "triage"] + list(args) + [path], capture_output=True,
                          text=True, errors="replace", timeout=300)


def triage_json(path):
    r = triage(path, "--json")
    if r.returncode != 0:
        return None, r.stderr
    return json.loads(r.stdout), r.stderr


def strip_ts(line):
    m = re.match(r"^\[\s*\d+\.\d+\] ?(.*)$", line)
    return m.group(1).rstrip() if m else None


def console_kernel_lines(console):
    """Kernel lines on the serial console up to the panic line."""
    out = []
    for line in console.replace("\r", "").splitlines():
        m = re.search(r"\[\s*\d+\.\d+\] ?(.*)$", line)
        if not m:
            continue
        out.append(m.group(1).rstrip())
        if "Kernel panic - not syncing" in line:
            break
    return out


def crash_bt_funcs(vmcore):
    out = hvtest.crash(vmcore, ["bt"])
    return [m.group(1) for m in re.finditer(r"^\s*#\d+ \[[0-9a-f]+\] (\S+) at", out, re.M)], out


MACHINERY = re.compile(r"panic|oops|fault|^asm_exc|^exc_|die|notifier|^__crash|^crash_|"
                       r"^do_trap|^do_error_trap|handle_bug|handle_invalid_op|report_bug|__warn|"
                       r"^hvdump|record_event|signal_host")


results = {}
for name, (action, extra, title, code) in CASES.items():
    out = os.path.join(work, "k61")
    os.makedirs(out, exist_ok=True)
    r, vmcore, report, junit = run_guest(name, action, extra, out,
                                         timeout=25 if name == "spin" else 200)
    ok = t.ok(r.returncode == code and os.path.exists(vmcore),
              "6.1 %s: hvdump run exits %d with a dump" % (name, code),
              "exit %d\n%s" % (r.returncode, r.stderr[-3000:]))
    rep = None
    if os.path.exists(report):
        with open(report) as f:
            rep = json.load(f)
    t.ok(rep is not None and rep.get("schema") == "hvdump-triage" and rep.get("schema_version") == 1,
         "6.1 %s: NAME.report.json beside the dump (schema hvdump-triage v1)" % name)
    got = rep.get("title") if rep else None
    t.ok(got == title, "6.1 %s: title '%s'" % (name, title), "got %r" % got)
    t.ok("title: %s" % title in r.stderr and "signature: " in r.stderr and vmcore in r.stderr,
         "6.1 %s: summary on stderr (title, signature, dump)" % name, r.stderr[-1500:])
    try:
        root = ET.parse(junit).getroot()
        cases = root.findall(".//testcase")
        fail = cases[0].find("failure") if cases else None
        t.ok(root.tag == "testsuites" and len(cases) == 1 and fail is not None and
             fail.get("message") == title and "Kernel panic" in (fail.text or "") or
             (name == "spin" and fail is not None and fail.get("type") == "hang"),
             "6.1 %s: --junit parses as JUnit XML, failure carries the title and dmesg tail" % name)
    except (ET.ParseError, OSError) as e:
        t.ok(False, "6.1 %s: --junit parses as JUnit XML" % name, str(e))
    results[name] = (rep, vmcore, r)

# the rebuilt log holds every kernel line the console printed before the panic
rep, vmcore, r = results["null"]
if rep:
    dmesg = set(filter(None, (strip_ts(l) for l in rep["dmesg"]["lines"])))
    console = console_kernel_lines(r.stdout)
    missing = [l for l in console if l not in dmesg]
    t.ok(len(console) > 100 and not missing,
         "6.1 null: dmesg from the printk ring holds all %d console lines (no vmlinux)" % len(console),
         "missing: %r" % missing[:10])
    plain = triage(vmcore, "--dmesg")
    t.ok(plain.returncode == 0 and "Kernel panic - not syncing: Fatal exception" in plain.stdout,
         "triage --dmesg prints the log")

# the symbolised frames match crash's bt for the panicking task
for name in ("sysrq", "null"):
    rep, vmcore, r = results[name]
    if not rep:
        t.ok(False, "6.1 %s: frames vs crash bt (no report)" % name)
        continue
    crash_funcs, text = crash_bt_funcs(vmcore)
    below = [f for f in crash_funcs if not MACHINERY.search(f)]
    ours = [b["symbol"].split("+")[0] for b in rep["cpus"][rep["panic_cpu"]]["backtrace"]
            if b.get("reliable")]
    top = below[:4]
    it = iter(ours)
    t.ok(len(top) >= 3 and all(f in it for f in top),
         "6.1 %s: top frames %s also in hvdump's trace in order" % (name, top),
         "crash: %r\nours: %r\n%s" % (crash_funcs, ours, text[-1500:]))

# signatures: one crash twice → same; different crashes → different
out2 = os.path.join(work, "again")
os.makedirs(out2)
r2, v2, rep2_path, _ = run_guest("sysrq", "sysrq", "", out2)
rep2 = json.load(open(rep2_path)) if os.path.exists(rep2_path) else None
sig1 = results["sysrq"][0]["signature"] if results["sysrq"][0] else None
t.ok(rep2 is not None and sig1 is not None and rep2["signature"] == sig1,
     "the same crash run twice gets the same signature",
     "%r vs %r" % (sig1, rep2 and rep2.get("signature")))
sigs = [v[0]["signature"] for v in results.values() if v[0]]
t.ok(len(sigs) == len(CASES) and len(set(sigs)) == len(sigs),
     "different crashes get different signatures", repr(sigs))

# --keep: a third run in the same directory leaves the newest two
r3, v3, _, _ = run_guest("sysrq2", "sysrq", "", out2, more=["--keep", "1"])
left = sorted(f for f in os.listdir(out2) if f.endswith(".vmcore"))
t.ok(r3.returncode == 3 and left == ["sysrq2.vmcore"] and
     not os.path.exists(os.path.join(out2, "sysrq.report.json")),
     "--keep 1 removes the older dump and its report", "%r\n%s" % (left, r3.stderr[-800:]))

# other formats: our kdump-zstd -d 31 and makedumpfile's kdump-compressed
rep, vmcore, _ = results["null"]
kd = os.path.join(work, "null.kdump")
mk = os.path.join(work, "null.mkdf")
subprocess.run([hvtest.HVDUMP, "convert", "-F", "kdump-zstd", "-d", "31", "--quiet", vmcore, kd],
               capture_output=True, timeout=300)
subprocess.run(["makedumpfile", "-c", "-d", "31", vmcore, mk], capture_output=True, timeout=600)
for label, path in (("hvdump kdump-zstd -d 31", kd), ("makedumpfile -c -d 31", mk)):
    j, err = triage_json(path) if os.path.exists(path) else (None, "no file")
    t.ok(j is not None and rep is not None and j["title"] == rep["title"] and
         j["signature"] == rep["signature"] and len(j["dmesg"]["lines"]) == len(rep["dmesg"]["lines"]),
         "%s: same title, signature and dmesg as the ELF" % label, err)

# hostile VMCOREINFO: values that point the parsers anywhere
rep, vmcore, _ = results["sysrq"]
with open(vmcore, "rb") as f:
    head = f.read(1 << 20)
for key, what in ((b"SYMBOL(prb)=", "log"), (b"SYMBOL(kallsyms_names)=", "symbols")):
    pos = head.find(key)
    bad = os.path.join(work, "bad.vmcore")
    shutil.copyfile(vmcore, bad)
    with open(bad, "r+b") as f:
        f.seek(pos + len(key))
        f.write(b"ffffffff00001000"[:16])
    r = triage(bad, "--json")
    j = json.loads(r.stdout) if r.returncode == 0 else None
    t.ok(pos > 0 and j is not None and any(u.startswith(what) for u in j["unreadable"]),
         "VMCOREINFO %s pointing elsewhere: triage exits 0 and names what it could not read" %
         key.decode(), r.stderr[-500:] + (repr(j["unreadable"]) if j else ""))
    os.unlink(bad)
trunc = os.path.join(work, "trunc.vmcore")
with open(trunc, "wb") as f:
    f.write(head[:3000])
r = triage(trunc)
t.ok(r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "triage:" in r.stderr,
     "a truncated dump: one-line error, exit 1", r.stderr)

# Debian 12's 6.12: the same titles and a log
if not hvtest.KERNEL_612:
    t.skip("6.12 titles", "no 6.12 kernel in this archive")
else:
    out = os.path.join(work, "k612")
    os.makedirs(out)
    for name in ("sysrq", "null", "panic"):
        action, extra, title, code = CASES[name]
        r, vmcore, report, _ = run_guest(name, action, extra, out, k612=True)
        rep = json.load(open(report)) if os.path.exists(report) else None
        t.ok(r.returncode == code and rep is not None and rep["title"] == title and
             rep["kernel"]["release"] == hvtest.KVER_612 and
             any("Kernel panic - not syncing" in l for l in rep["dmesg"]["lines"]),
             "6.12 %s: title '%s', dmesg rebuilt" % (name, title),
             "exit %d title %r\n%s" % (r.returncode, rep and rep.get("title"), r.stderr[-1500:]))

shutil.rmtree(work, ignore_errors=True)
raise SystemExit(t.done())
