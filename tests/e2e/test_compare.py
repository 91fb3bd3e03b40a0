#!/usr/bin/env python3
"""Smoke test of the comparison harness (tests/bench/compare.py), so it does
not rot: one small guest (512 MiB), one run per way, the real thing — the
in-guest kdump path (crashkernel=, Debian's kexec -p, the capture kernel
running makedumpfile and cp onto a virtio ext4 disk), QEMU's
dump-guest-memory ELF and kdump-zlib, hvdump ELF and kdump-zstd, crash bt on
every dump.

The reservation search gets a two-step ladder, 32M and 160M: 32M cannot hold
the capture kernel and its initramfs (kexec -p refuses to load), so the
search must show that step failing, with its reason, as a row, and settle on
160M.  What is checked is what the harness promises, not how fast anything
is (speed lives in the recorded runs, not in a timed test): every way has a
measurement with time, downtime, size and crash bt; the reservation is
counted for kdump and 0 for the host ways; the failure is in the table; the
PNG and SVG plots exist and parse; no QEMU of the harness is left running.
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hvtest import Tap  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPARE = os.path.join(ROOT, "tests", "bench", "compare.py")
WAYS = ["kdump-mdf", "kdump-copy", "qemu-elf", "qemu-zlib", "hvdump-elf", "hvdump-zstd"]
# the table's labels (compare.py's WAYS)
LABELS = ["in-guest kdump: makedumpfile -c -d 31", "in-guest kdump: cp /proc/vmcore",
          "QEMU dump-guest-memory: ELF", "QEMU dump-guest-memory: kdump-zlib",
          "hvdump: ELF -d 1 (sparse)", "hvdump: kdump-zstd -d 31"]
MIB = 1 << 20
t = Tap()


def qemu_pids_under(path):
    """QEMU processes whose command line names a path under `path`."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "qemu-system" in cmd and path in cmd:
            pids.append(int(p))
    return pids


def main():
    tmp = tempfile.mkdtemp(prefix="hvdump-compare-test-", dir="/var/tmp")
    out, work = os.path.join(tmp, "out"), os.path.join(tmp, "work")
    os.makedirs(work)
    argv = ["/usr/bin/python3", COMPARE, "--sizes", "512M", "--runs", "1", "--mix-mb", "64",
            "--reservation", "auto", "--ladder", "32M,160M", "--out", out, "--work", work]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=840,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        t.ok(False, "compare.py finished within 840 s", (e.stdout or b"")[-3000:])
        left = qemu_pids_under(work)
        for p in left:
            os.kill(p, 9)
        return t.done()
    t.ok(r.returncode == 0, "compare.py --sizes 512M --runs 1 --ladder 32M,160M exits 0",
         r.stdout[-3000:] + r.stderr[-2000:])
    try:
        with open(os.path.join(out, "compare.json")) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        t.ok(False, "compare.json written and valid", e)
        return t.done()
    res = data["results"]
    meas = {x["way"]: x for x in res if not x.get("search")}
    t.ok(sorted(meas) == sorted(WAYS), "one measurement per way: %s" % ", ".join(sorted(meas)), res)
    for w in WAYS:
        x = meas.get(w)
        if not x:
            continue
        good = (x["ok"] and x["time_to_dump"] and x["time_to_dump"] > 0 and x["downtime"]
                and x["downtime"] > x["time_to_dump"] and x["disk_bytes"] and x["disk_bytes"] > 0
                and x["host_mem_bytes"] is not None)
        t.ok(good, "%s: dumped in %s s from the panic, downtime %s s, %s MiB on disk" % (
            w, "%.2f" % x["time_to_dump"] if x["time_to_dump"] else "?",
            "%.1f" % x["downtime"] if x["downtime"] else "?",
            "%.1f" % (x["disk_bytes"] / MIB) if x["disk_bytes"] else "?"), x)
        t.ok(x["crash_bt"] is True, "%s: crash opens the dump and bt runs through panic and "
             "sysrq_handle_crash" % w, x)
        want = 160 * MIB if w.startswith("kdump") else 0
        t.ok(x["reserved_bytes"] == want, "%s: guest RAM reserved %d MiB (the kernel's own count)" % (
            w, x["reserved_bytes"] // MIB), x)
    # the ELF ways dump all of RAM, the -d 31 ways far less: sizes must say so
    if all(w in meas and meas[w]["ok"] for w in WAYS):
        t.ok(meas["kdump-copy"]["apparent_bytes"] > 400 * MIB and meas["qemu-elf"]["apparent_bytes"] > 400 * MIB
             and meas["hvdump-zstd"]["disk_bytes"] < meas["hvdump-elf"]["disk_bytes"]
             and meas["kdump-mdf"]["disk_bytes"] < meas["kdump-copy"]["disk_bytes"],
             "full-RAM dumps (cp, QEMU ELF) hold the 512 MiB, -d 31 dumps are smaller than ELF",
             {w: (meas[w]["apparent_bytes"], meas[w]["disk_bytes"]) for w in WAYS})
    srch = sorted((x for x in res if x.get("searched")), key=lambda x: x["reserved_bytes"])
    t.ok([x["reserved_bytes"] // MIB for x in srch] == [32, 160] and not srch[0]["ok"] and srch[0]["error"]
         and srch[1]["ok"], "reservation search: 32M fails (%s), 160M dumps" % (
             srch[0]["error"] if srch else "?"), srch)
    t.ok(data["reservations"].get("512M") == 160 * MIB, "the chosen reservation is 160M", data["reservations"])
    try:
        with open(os.path.join(out, "compare.md")) as f:
            md = f.read()
    except OSError as e:
        md = ""
        t.ok(False, "compare.md written", e)
    rows = [ln for ln in md.splitlines() if ln.startswith("| 512M |")]
    t.ok(len(rows) == 8 and all(sum("| %s |" % lab in ln for ln in rows) == 1 for lab in LABELS),
         "compare.md: a row per way, and one per search step", md[-3000:])
    t.ok("| 512M | 32M | **failed**" in md, "compare.md: the 32M step is a row with its failure", md[-2000:])
    try:
        with open(os.path.join(out, "compare.png"), "rb") as f:
            png = f.read()
        t.ok(png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000, "compare.png is a PNG (%d bytes)" % len(png))
    except OSError as e:
        t.ok(False, "compare.png written", e)
    try:
        svg = ET.parse(os.path.join(out, "compare.svg")).getroot()
        texts = " ".join("".join(e.itertext()) for e in svg.iter() if e.tag.endswith("text"))
        t.ok(svg.tag.endswith("svg") and "seconds" in texts and "MiB" in texts and "512M" in texts,
             "compare.svg parses, axes labelled (seconds, MiB) and a bar group per guest size", texts[:600])
    except (OSError, ET.ParseError) as e:
        t.ok(False, "compare.svg written and parses", e)
    left = qemu_pids_under(work)
    t.ok(not left, "no QEMU of the harness left running", left)
    for p in left:
        os.kill(p, 9)
    t.ok(not os.listdir(work), "its work directory is cleaned up", os.listdir(work))
    subprocess.run(["rm", "-rf", tmp])
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
