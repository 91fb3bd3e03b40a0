"""tests/bench/bench_formats.py — small, fast dumps: hvdump's kdump-compressed
writers against QEMU's kdump-zlib and the kdump path (makedumpfile on an ELF)
on one paused guest with realistic memory.

The guest (Debian 6.1, --ram, 2 vCPUs) runs the initramfs's memory mix
(hvdump.mix: incompressible data, text, page cache of files read and
written, anonymous memory of running processes, memory freed after use;
--mix-mb scales it) and is paused; every tool then dumps the same paused
guest, one after the other. Wall time includes fsync of the output; size is
what the file allocates on disk; peak RSS is the dumper's (QEMU's is not
separable: its row says n/a).

Rows: hvdump kdump-zstd -d 31 (both cores, and one), hvdump kdump-zlib -d 31,
QEMU's dump-guest-memory kdump-zlib (its only filtering is zero pages), and
makedumpfile 1.7.2 -d 31 --num-threads 2 on an ELF of the same guest —
asked for zstd (-z; Debian's build lacks zstd and ignores the option: the
row says what it wrote) and zlib (-c) — timed alone and with the ELF it
needs first (hvdump's ELF, the fastest way to get one here).

Usage: bench_formats.py [--ram 4G] [--mix-mb N] [--dir DIR] [--record RESULTS.md]
"""
import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from hvtest import HVDUMP, Guest  # noqa: E402
from bench import fsync_file  # noqa: E402  (tests/bench/bench.py)


def run_timed(argv, out_path):
    """Runs argv, fsyncs out_path; (seconds, peak RSS bytes, stdout+stderr)."""
    if os.path.exists(out_path):
        os.unlink(out_path)
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s" % (argv[0], p.returncode, out))
    fsync_file(out_path)
    return time.monotonic() - t0, ru.ru_maxrss * 1024, out


def on_disk(path):
    return os.stat(path).st_blocks * 512


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ram", default="4G")
    ap.add_argument("--mix-mb", type=int, default=300)
    ap.add_argument("--dir", default="/var/tmp/hvdump-bench")
    ap.add_argument("--record")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    p = lambda name: os.path.join(a.dir, name)  # noqa: E731

    g = Guest(action="tick", mem=a.ram, smp=2,
              extra_append="hvdump.mix=1 hvdump.mix_mb=%d" % a.mix_mb)
    rows = []
    try:
        if not g.wait_for("HVDUMP-MIX-READY", timeout=1200):
            print("the guest did not finish its memory mix:\n" + g.console()[-3000:], file=sys.stderr)
            return 1
        mix = re.search(r"HVDUMP-MIX-READY.*", g.console()).group(0)
        g.qmp.cmd("stop")

        def hv(label, fmt, level, threads, name):
            s, rss, out = run_timed([HVDUMP, "dump", "--qmp", g.sock, p(name), "--format", fmt,
                                     "--dump-level", str(level), "--threads", str(threads), "-v"],
                                    p(name))
            rows.append({"label": label, "seconds": s, "disk": on_disk(p(name)), "rss": rss})
            return out

        out = hv("hvdump kdump-zstd -d 31, 2 threads", "kdump-zstd", 31, 2, "hv-zstd")
        pages = re.search(r"pages: .*", out)
        hv("hvdump kdump-zstd -d 31, 1 thread", "kdump-zstd", 31, 1, "hv-zstd1")
        hv("hvdump kdump-zlib -d 31, 2 threads", "kdump-zlib", 31, 2, "hv-zlib")

        # QEMU's own kdump-zlib (flattened, zero pages dropped, one thread)
        qk = p("qemu-kdump")
        if os.path.exists(qk):
            os.unlink(qk)
        t0 = time.monotonic()
        g.qmp.cmd("dump-guest-memory", paging=False, protocol="file:" + qk, detach=True,
                  format="kdump-zlib")
        while g.qmp.cmd("query-dump")["status"] == "active":
            time.sleep(0.05)
        fsync_file(qk)
        rows.append({"label": "QEMU dump-guest-memory kdump-zlib", "seconds": time.monotonic() - t0,
                     "disk": on_disk(qk), "rss": None})

        # the kdump path: an ELF first, then makedumpfile
        elf_s, elf_rss, _ = run_timed([HVDUMP, "dump", "--qmp", g.sock, p("elf"), "--dump-level", "0"],
                                      p("elf"))
        rows.append({"label": "(the ELF makedumpfile needs: hvdump elf -d 0)", "seconds": elf_s,
                     "disk": on_disk(p("elf")), "rss": elf_rss})
        for opt, what in (("-z", "zstd asked"), ("-c", "zlib")):
            s, rss, out = run_timed(["makedumpfile", opt, "-d", "31", "--num-threads", "2",
                                     p("elf"), p("mdf" + opt)], p("mdf" + opt))
            note = ""
            if opt == "-z":
                with open(p("mdf-z"), "rb") as f:
                    h = f.read(432)
                status = int.from_bytes(h[424:428], "little")
                note = " (Debian's build lacks zstd: wrote %s)" % (
                    "zstd" if status & 0x20 else "zlib" if status & 1 else "uncompressed pages")
            rows.append({"label": "makedumpfile %s -d 31 --num-threads 2 on the ELF%s" % (opt, note),
                         "seconds": s, "disk": on_disk(p("mdf" + opt)), "rss": rss,
                         "with_elf": s + elf_s})
    finally:
        g.close()

    mib = 1 << 20
    lines = ["| dumper | wall s (with fsync) | size on disk MiB | peak RSS MiB | path total s |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append("| %s | %.2f | %.1f | %s | %s |" % (
            r["label"], r["seconds"], r["disk"] / mib,
            "n/a (inside QEMU)" if r["rss"] is None else "%.0f" % (r["rss"] / mib),
            "%.2f (ELF + makedumpfile)" % r["with_elf"] if "with_elf" in r else ""))
    hz = rows[0]
    qz = [r for r in rows if r["label"].startswith("QEMU")][0]
    mdz = [r for r in rows if r["label"].startswith("makedumpfile -c")][0]
    lines += ["",
              "hvdump kdump-zstd -d 31 vs QEMU kdump-zlib: %.1fx faster, %.0f%% of its size "
              "(targets: >= 3x, <= 50%%)" % (qz["seconds"] / hz["seconds"], 100.0 * hz["disk"] / qz["disk"]),
              "hvdump kdump-zstd -d 31 vs makedumpfile -c -d 31 alone: %.1fx faster, %.0f%% of its size "
              "(target: faster at equal or smaller size)" % (mdz["seconds"] / hz["seconds"],
                                                             100.0 * hz["disk"] / mdz["disk"])]
    lines.append("peak RSS of hvdump counts the guest RAM it maps read-only from QEMU's memfd "
                 "(shared pages, not copies)")
    if pages:
        lines.append("hvdump's page selection: " + pages.group(0))
    lines.append("guest: " + mix)
    table = "\n".join(lines)
    print(table)
    if a.record:
        head = ("\n## %s — formats: guest %s RAM, mix %d MiB, %s, %d cores\n\n"
                "Command: `tests/bench/bench.sh --formats --ram %s --mix-mb %d`\n\n" % (
                    datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), a.ram, a.mix_mb,
                    platform.platform(), os.cpu_count(), a.ram, a.mix_mb))
        with open(a.record, "a") as f:
            f.write(head + table + "\n")
    for name in os.listdir(a.dir):
        os.unlink(os.path.join(a.dir, name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
