"""tests/bench/bench.py — hvdump vs QEMU's dump-guest-memory on one guest.

Boots the Debian test guest with RAM in a shared memfd, has it write
FILL MiB of non-zero data, pauses it, then dumps the same paused guest with
`hvdump dump` and with QEMU's own `dump-guest-memory` (ELF, and kdump-zlib
for reference), measuring wall time (including fsync of the output for
both), disk space allocated by the output, and growth of the host's Shmem
(the memfd pages faulted in). Prints a Markdown table.

With --baseline BIN, another hvdump build (say, the previous commit's)
dumps the same paused guest in the same run, alternating with this one
--repeat times each; the table gives each one's median — how a change to
the capture path is shown not to slow it down.

Usage: bench.py [--ram 4G] [--fill 300] [--dir DIR] [--record RESULTS.md]
                [--baseline BIN [--baseline-label TEXT]] [--repeat N]
"""
import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from hvtest import HVDUMP, Guest  # noqa: E402


def shmem_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Shmem:"):
                return int(line.split()[1]) * 1024
    return 0


def allocated(path):
    st = os.stat(path)
    return st.st_blocks * 512, st.st_size


def fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def measure(label, fn, path):
    s0 = shmem_bytes()
    t0 = time.monotonic()
    fn()
    elapsed = time.monotonic() - t0
    s1 = shmem_bytes()
    alloc, apparent = allocated(path)
    return {"label": label, "seconds": elapsed, "alloc": alloc, "apparent": apparent,
            "shmem": s1 - s0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ram", default="4G")
    ap.add_argument("--fill", type=int, default=300)
    ap.add_argument("--dir", default="/var/tmp/hvdump-bench")
    ap.add_argument("--record")
    ap.add_argument("--baseline", help="another hvdump binary to compare in the same run")
    ap.add_argument("--baseline-label", default="baseline")
    ap.add_argument("--repeat", type=int, default=1, help="hvdump runs each (median)")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    paths = {k: os.path.join(a.dir, k) for k in ("hvdump.vmcore", "qemu-elf.vmcore", "qemu-kdump.vmcore")}
    for p in paths.values():
        if os.path.exists(p):
            os.unlink(p)

    g = Guest(action="tick", mem=a.ram, smp=2, extra_append="hvdump.fill_mb=%d" % a.fill)
    rows = []
    try:
        if not g.wait_for("HVDUMP-FILLED", timeout=600):
            print("guest did not fill its memory:\n" + g.console()[-2000:], file=sys.stderr)
            return 1
        g.qmp.cmd("stop")
        ram_bytes = g.qmp.cmd("query-memdev")[0]["size"]

        def hv_with(binary):
            def run():
                if os.path.exists(paths["hvdump.vmcore"]):
                    os.unlink(paths["hvdump.vmcore"])
                r = subprocess.run([binary, "dump", "--qmp", g.sock, paths["hvdump.vmcore"]],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise RuntimeError(r.stderr)
            return run

        def median_of(runs):
            out = dict(runs[-1])
            out["seconds"] = statistics.median(r["seconds"] for r in runs)
            out["shmem"] = max(r["shmem"] for r in runs)
            return out

        def qemu(fmt, path):
            def run():
                # detached: the QMP answer comes at once, completion is polled
                args = {"paging": False, "protocol": "file:" + path, "detach": True}
                if fmt != "elf":
                    args["format"] = fmt
                g.qmp.cmd("dump-guest-memory", **args)
                while g.qmp.cmd("query-dump")["status"] == "active":
                    time.sleep(0.05)
                fsync_file(path)
            return run

        mine, base = [], []
        for _ in range(max(1, a.repeat)):
            mine.append(measure("hvdump dump (ELF, sparse)", hv_with(HVDUMP), paths["hvdump.vmcore"]))
            if a.baseline:
                base.append(measure("hvdump dump (ELF, sparse), %s" % a.baseline_label,
                                    hv_with(a.baseline), paths["hvdump.vmcore"]))
        rows.append(median_of(mine))
        if a.repeat > 1:
            rows[0]["label"] += ", median of %d" % a.repeat
        if base:
            rows.append(median_of(base))
            if a.repeat > 1:
                rows[-1]["label"] += ", median of %d" % a.repeat
        rows.append(measure("QEMU dump-guest-memory (ELF)", qemu("elf", paths["qemu-elf.vmcore"]),
                            paths["qemu-elf.vmcore"]))
        rows.append(measure("QEMU dump-guest-memory (kdump-zlib, after the ELF run)",
                            qemu("kdump-zlib", paths["qemu-kdump.vmcore"]),
                            paths["qemu-kdump.vmcore"]))
    finally:
        g.close()

    mib = 1 << 20
    lines = ["| tool | wall s | allocated on disk MiB | apparent MiB | host Shmem growth MiB | Shmem growth / guest RAM |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append("| %s | %.2f | %.0f | %.0f | %.0f | %.1f%% |" % (
            r["label"], r["seconds"], r["alloc"] / mib, r["apparent"] / mib, r["shmem"] / mib,
            100.0 * r["shmem"] / ram_bytes))
    hv, qe = rows[0], [r for r in rows if r["label"].startswith("QEMU")][0]
    lines.append("")
    lines.append("hvdump vs QEMU ELF: %.1fx faster, %.1fx less disk, Shmem growth %.2f%% vs %.1f%% of guest RAM" % (
        qe["seconds"] / hv["seconds"], qe["alloc"] / max(hv["alloc"], 1),
        100.0 * hv["shmem"] / ram_bytes, 100.0 * qe["shmem"] / ram_bytes))
    if a.baseline:
        lines.append("this build vs %s: %.2fx the time" % (a.baseline_label,
                                                         hv["seconds"] / rows[1]["seconds"]))
    table = "\n".join(lines)
    print(table)
    if a.record:
        head = ("\n## %s — guest %s RAM, %d MiB filled, %s, %d cores\n\n"
                "Command: `tests/bench/bench.sh --ram %s --fill %d`\n\n" % (
                    datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), a.ram, a.fill,
                    platform.platform(), os.cpu_count(), a.ram, a.fill))
        with open(a.record, "a") as f:
            f.write(head + table + "\n")
    for p in paths.values():
        if os.path.exists(p):
            os.unlink(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
