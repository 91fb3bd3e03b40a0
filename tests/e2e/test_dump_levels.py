#!/usr/bin/env python3
"""Every dump format at dump levels 0, 1 and 31 on the real Debian guest,
read by the real tools; page selection checked against the guest's own
/proc/meminfo and against makedumpfile; convert and info on real files,
ours and QEMU's; hostile dump files given to info and convert.

One guest (1 GiB, TCG) with page cache, anonymous memory and freed memory
(the initramfs's hvdump.mix) panics through hvdump_guest + pvpanic and
stays paused; every dump is taken of that same paused guest.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hvtest import Guest, Tap, crash, drgn, one_line_error, qemu_args, run_hvdump  # noqa: E402

FORMATS = ["elf", "kdump-zlib", "kdump-zstd", "kdump-lzo", "kdump-snappy"]
LEVELS = [0, 1, 31]
# Debian 12's makedumpfile 1.7.2 is built with zlib and lzo only (measured:
# its -z and -p are ignored); crash and drgn (libkdumpfile) read all four.
MDF_READS = {"elf", "kdump-zlib", "kdump-lzo"}
PANIC = "sysrq triggered crash"
CLASSES = ["zero", "cache", "cache-private", "user", "free"]

t = Tap()


def pages_line(r):
    """{'dumped', 'total', 'zero', 'cache', ...} from `hvdump dump -v`."""
    m = re.search(r"pages: (\d+) of (\d+) dumped; left out: (.*)", r.stderr)
    if not m:
        return None
    out = {"dumped": int(m.group(1)), "total": int(m.group(2))}
    for n, name in re.findall(r"(\d+) ([a-z-]+)", m.group(3)):
        out[name] = int(n)
    return out


def kdump_header(path):
    with open(path, "rb") as f:
        h = f.read(4096)
        sig = h[:8]
        block_size, sub_hdr_size, bitmap_blocks, max_mapnr = struct.unpack_from("<iiII", h, 428)
        status, = struct.unpack_from("<i", h, 424)
        f.seek(block_size)
        sub = f.read(64)
        phys_base, dump_level = struct.unpack_from("<qi", sub, 0)
    return {"sig": sig, "block_size": block_size, "sub_hdr_size": sub_hdr_size,
            "bitmap_blocks": bitmap_blocks, "status": status, "dump_level": dump_level}


def kdump_bitmap2(path):
    h = kdump_header(path)
    half = h["bitmap_blocks"] // 2 * h["block_size"]
    with open(path, "rb") as f:
        f.seek((1 + h["sub_hdr_size"]) * h["block_size"] + half)
        return f.read(half)


def mdf_counts(text):
    """makedumpfile's 'Excluded pages' table."""
    names = {"Pages filled with zero": "zero", "Non-private cache pages": "cache",
             "Private cache pages": "cache-private", "User process data pages": "user",
             "Free pages": "free"}
    out = {}
    for label, key in names.items():
        m = re.search(re.escape(label) + r"\s*:\s*(0x[0-9a-fA-F]+|\d+)", text)
        if m:
            out[key] = int(m.group(1), 0)
    return out


def dump(g, path, fmt, level, extra=()):
    return run_hvdump(["dump", "--qmp", g.sock, path, "--format", fmt, "--dump-level", str(level),
                       "-v"] + list(extra), timeout=600)


def main():
    work = tempfile.mkdtemp(prefix="hvdump-levels-")
    g = Guest(action="sysrq", mem="1G",
              extra_append="sysrq_always_enabled hvdump.modules=hvdump_guest,pvpanic,pvpanic-mmio "
                           "hvdump.meminfo=1 hvdump.mix=1 hvdump.mix_mb=48")
    try:
        if not g.wait_status("guest-panicked", timeout=240):
            t.ok(False, "the guest panics", g.console()[-3000:])
            return
        t.ok(True, "the guest panics after its memory mix (%s)" %
             (re.search(r"HVDUMP-MIX-READY.*", g.console()) or ["no mix line"])[0])
        meminfo = {}
        for k, v in re.findall(r"HVDUMP-MEMINFO (\w+): *(\d+) kB", g.console()):
            meminfo[k] = int(v)
        t.ok("MemFree" in meminfo, "the guest printed /proc/meminfo before its panic",
             g.console()[-2000:])

        files, stats = {}, {}
        for fmt in FORMATS:
            for lvl in LEVELS:
                path = os.path.join(work, "%s-d%d" % (fmt, lvl))
                r = dump(g, path, fmt, lvl)
                st = pages_line(r)
                ok = r.returncode == 0 and os.path.exists(path) and st is not None
                t.ok(ok, "%s -d %d written (%s)" % (fmt, lvl, st and "%d of %d pages" %
                                                     (st["dumped"], st["total"])), r.stderr)
                if ok:
                    files[(fmt, lvl)] = path
                    stats[(fmt, lvl)] = st
                    mode = os.stat(path).st_mode & 0o777
                    if mode != 0o600:
                        t.ok(False, "%s mode 0600" % path, oct(mode))

        # the same pages whatever the format, fewer with each level
        for lvl in LEVELS:
            seen = {fmt: stats[(fmt, lvl)]["dumped"] for fmt in FORMATS if (fmt, lvl) in stats}
            t.ok(len(set(seen.values())) == 1, "-d %d: every format holds the same pages" % lvl, seen)
        if ("kdump-zstd", 0) in stats and ("kdump-zstd", 31) in stats:
            d0, d31 = stats[("kdump-zstd", 0)], stats[("kdump-zstd", 31)]
            t.ok(d31["dumped"] < d0["dumped"] and d31["free"] > 0 and d31["cache"] + d31["user"] > 0,
                 "-d 31 leaves out free, cache and user pages (%s)" % d31, (d0, d31))

        for (fmt, lvl), path in sorted(files.items()):
            out = crash(path, ["sys", "bt", "log"])
            t.ok("PANIC:" in out and PANIC in out and "sysrq_handle_crash" in out and
                 "Linux version" in out,
                 "crash: sys, bt and log on %s -d %d" % (fmt, lvl), out[-3000:])
            if fmt.startswith("kdump"):
                h = kdump_header(path)
                t.ok(h["sig"] == b"KDUMP   " and h["dump_level"] == lvl and not h["status"] & 8,
                     "%s -d %d: KDUMP header, dump_level %d, complete" % (fmt, lvl, lvl), h)
                res, err = drgn(path)
                t.ok(res is not None and PANIC in res["dmesg"],
                     "drgn opens %s -d %d and reads the panic from its printk ring" % (fmt, lvl),
                     err[-2000:])
            if fmt in MDF_READS:
                txt = os.path.join(work, "dmesg.txt")
                if os.path.exists(txt):
                    os.unlink(txt)
                r = subprocess.run(["makedumpfile", "--dump-dmesg", path, txt], capture_output=True,
                                   text=True, timeout=300)
                dm = open(txt, errors="replace").read() if os.path.exists(txt) else ""
                t.ok(r.returncode == 0 and PANIC in dm,
                     "makedumpfile --dump-dmesg on %s -d %d holds the panic lines" % (fmt, lvl),
                     r.stdout[-1000:] + r.stderr[-1000:])
            else:
                t.skip("makedumpfile --dump-dmesg on %s -d %d" % (fmt, lvl),
                       "Debian's makedumpfile 1.7.2 is built without %s" % fmt.split("-")[1])

        # the free-page oracle: the guest's own MemFree
        p16 = os.path.join(work, "free-d16")
        r = dump(g, p16, "kdump-zstd", 16)
        st = pages_line(r)
        if st and "MemFree" in meminfo:
            ours = st["free"] * 4
            diff = abs(ours - meminfo["MemFree"]) / meminfo["MemFree"]
            t.ok(diff <= 0.02, "-d 16 leaves out %d kB as free; the guest's MemFree was %d kB "
                 "(%.2f%% apart, limit 2%%)" % (ours, meminfo["MemFree"], diff * 100), r.stderr)
        else:
            t.ok(False, "-d 16 dump and MemFree", (r.stderr, meminfo))

        # page selection agrees with makedumpfile's on the same guest
        elf0 = files.get(("elf", 0))
        ours31 = files.get(("kdump-lzo", 31))
        if elf0 and ours31:
            mdf = os.path.join(work, "mdf-d31")
            r = subprocess.run(["makedumpfile", "-l", "-d", "31", "--message-level", "31", elf0, mdf],
                               capture_output=True, text=True, timeout=600)
            theirs = mdf_counts(r.stdout + r.stderr)
            mine = {k: stats[("kdump-lzo", 31)].get(k) for k in CLASSES}
            t.ok(r.returncode == 0 and theirs == mine,
                 "makedumpfile -d 31 on our -d 0 ELF excludes the same pages per class: %s" % mine,
                 (theirs, mine, (r.stdout + r.stderr)[-2000:]))
            if r.returncode == 0:
                b1, b2 = kdump_bitmap2(ours31), kdump_bitmap2(mdf)
                n = min(len(b1), len(b2))
                differ = sum(bin(x ^ y).count("1") for x, y in zip(b1[:n], b2[:n]))
                differ += sum(bin(x).count("1") for x in b1[n:]) + sum(bin(x).count("1") for x in b2[n:])
                t.ok(differ == 0, "... and the very same frames (dump bitmaps differ in %d bits)" % differ)

        # the output does not depend on the thread count
        a, b = os.path.join(work, "j1"), os.path.join(work, "j2")
        ra = dump(g, a, "kdump-zstd", 31, ["--threads", "1"])
        rb = dump(g, b, "kdump-zstd", 31, ["--threads", "2"])
        same = ra.returncode == 0 and rb.returncode == 0 and \
            subprocess.run(["cmp", "-s", a, b]).returncode == 0
        t.ok(same, "kdump-zstd -d 31 is byte-identical with 1 and 2 threads", ra.stderr + rb.stderr)

        # convert: QEMU's kdump-zlib (flattened) and our ELF, to kdump-zstd -d 31
        qk = os.path.join(work, "qemu.kdump")
        g.qmp.cmd("dump-guest-memory", paging=False, protocol="file:" + qk, format="kdump-zlib")
        for label, src in [("QEMU's flattened kdump-zlib", qk), ("our ELF -d 0", elf0)]:
            if src is None or not os.path.exists(src):
                t.ok(False, "convert %s: input missing" % label)
                continue
            dst = src + ".zstd"
            r = run_hvdump(["convert", src, dst, "--format", "kdump-zstd", "--dump-level", "31", "-v"],
                           timeout=600)
            out = crash(dst, ["sys", "bt"]) if r.returncode == 0 else ""
            t.ok(r.returncode == 0 and "PANIC:" in out and PANIC in out,
                 "convert %s to kdump-zstd -d 31: crash opens it" % label, r.stderr + out[-2000:])
            st = pages_line(r)
            if label.startswith("our") and st and ("kdump-zstd", 31) in stats:
                t.ok(st["dumped"] == stats[("kdump-zstd", 31)]["dumped"],
                     "... and holds the pages a direct -d 31 dump holds", (st, stats[("kdump-zstd", 31)]))

        # info on ours and on QEMU's
        r = run_hvdump(["info", "--json", files.get(("kdump-zstd", 31), "")])
        import json
        try:
            info = json.loads(r.stdout)
        except ValueError:
            info = {}
        t.ok(info.get("format") == "kdump" and info.get("compression") == "zstd" and
             info.get("dump_level") == 31 and info.get("complete") is True and
             info.get("cpus") == 2 and info.get("kernel_release", "").startswith("6.") and
             "OSRELEASE" in info.get("vmcoreinfo_keys", []) and
             info.get("pages", {}).get("free", {}).get("in_dump") == 0 and
             info.get("pages", {}).get("free", {}).get("frames", 0) > 0,
             "info --json on kdump-zstd -d 31: format, codec, level, complete, CPUs, kernel, keys, "
             "classes", r.stdout[-3000:] + r.stderr)
        r = run_hvdump(["info", qk])
        t.ok(r.returncode == 0 and "kdump-flattened" in r.stdout and "zlib" in r.stdout,
             "info reads QEMU's flattened kdump-zlib", r.stdout + r.stderr)

        progress_bar(work, files)
        incomplete(g, work)
        hostile(work, files)
        run_formats(work)
        fallback_converted(work)
    finally:
        g.close()
        shutil.rmtree(work, ignore_errors=True)


def progress_bar(work, files):
    """On a terminal convert draws a progress bar; --quiet and a pipe do not."""
    src = files.get(("elf", 0))
    if not src:
        t.ok(False, "progress bar: no input")
        return
    outs = []
    for extra in ([], ["--quiet"]):
        dst = os.path.join(work, "tty%d" % len(outs))
        cmd = " ".join([os.environ["HVDUMP_BIN"], "convert", "--format", "kdump-zstd", "-d", "31"] +
                       extra + [src, dst])
        # script(1) gives the command a terminal; its output is what it drew
        r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                           errors="replace", timeout=300)
        outs.append(r.stdout)
    r = run_hvdump(["convert", "--format", "kdump-zstd", "-d", "31", src, os.path.join(work, "pipe")])
    t.ok(re.search(r"converting \[[# ]{20}\] +\d+% .* scanned, .* written, \d+ MiB/s", outs[0]) is not None
         and "converting [" not in outs[1] and "converting [" not in r.stderr,
         "convert on a terminal draws a progress bar (scanned, written, rate); --quiet and a pipe do not",
         (outs[0][-600:], outs[1][-300:], r.stderr[-300:]))


def run_formats(work):
    """hvdump run takes the same options: the panic's NAME.vmcore is kdump-zstd -d 31."""
    r = run_hvdump(["run", "--out", work, "--name", "run-kdump", "--timeout", "240",
                    "--format", "kdump-zstd", "--dump-level", "31", "--"] +
                   qemu_args("sysrq", extra_append="hvdump.modules=hvdump_guest"),
                   timeout=300)
    path = os.path.join(work, "run-kdump.vmcore")
    ok = r.returncode == 3 and os.path.exists(path)
    out = crash(path, ["sys"]) if ok else ""
    t.ok(ok and kdump_header(path)["dump_level"] == 31 and "PANIC:" in out,
         "hvdump run --format kdump-zstd --dump-level 31: exit 3, NAME.vmcore is kdump -d 31, "
         "crash opens it", r.stderr[-2000:] + out[-1000:])


def fallback_converted(work):
    """RAM not shared: QEMU's own ELF dump, converted to the format asked for."""
    g = Guest(action="sysrq", memfd=False,
              extra_append="sysrq_always_enabled hvdump.modules=hvdump_guest,pvpanic,pvpanic-mmio")
    try:
        if not g.wait_status("guest-panicked", timeout=240):
            t.ok(False, "fallback guest panics", g.console()[-2000:])
            return
        path = os.path.join(work, "fallback.kdump")
        r = dump(g, path, "kdump-zstd", 31)
        out = crash(path, ["sys"]) if r.returncode == 0 else ""
        t.ok(r.returncode == 0 and "converted afterwards" in r.stderr and
             kdump_header(path)["dump_level"] == 31 and "PANIC:" in out and
             not [f for f in os.listdir(work) if "qemu-elf" in f],
             "RAM not shared: QEMU's ELF dump is converted to kdump-zstd -d 31 (crash opens it, "
             "QEMU's file is gone)", r.stderr[-2000:] + out[-800:])
    finally:
        g.close()


def incomplete(g, work):
    """A disk that fills: the kdump file stays, flagged incomplete."""
    mnt = os.path.join(work, "small")
    os.mkdir(mnt)
    # 24 MiB: the header, bitmaps and 6 MiB of descriptors fit, the pages do not
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt], check=True)
    try:
        p = os.path.join(mnt, "cut")
        r = dump(g, p, "kdump-zstd", 0)
        ri = run_hvdump(["info", "--json", p])
        import json
        try:
            info = json.loads(ri.stdout)
        except ValueError:
            info = {}
        t.ok(r.returncode == 1 and "flagged incomplete" in r.stderr and os.path.exists(p) and
             not os.path.exists(p + ".part") and info.get("complete") is False and
             kdump_header(p)["status"] & 8,
             "disk full: the dump is kept flagged incomplete, and info says so",
             (r.stderr, ri.stdout[-1500:], ri.stderr, os.listdir(mnt)))
        out = crash(p, ["sys"])
        t.ok("This dumpfile is incomplete" in out, "crash sees the incomplete flag", out[-2000:])
    finally:
        subprocess.run(["umount", "-l", mnt])


def tiny_elf(paddr, memsz):
    """An ELF64 core header with one PT_LOAD of memsz bytes at paddr and no file bytes."""
    eh = bytearray(64)
    eh[:4] = b"\x7fELF"
    eh[4], eh[5], eh[6] = 2, 1, 1
    struct.pack_into("<HHIQQQIHHHHHH", eh, 16, 4, 62, 1, 0, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 7, 0x1000, 0, paddr, 0, memsz, 4096)
    return bytes(eh) + ph + b"\0" * (0x1000 - 64 - 56)


def hostile(work, files):
    """Damaged dumps: one line, exit 1, no crash, bounded time and memory."""
    src = files.get(("kdump-zstd", 31))
    elf = files.get(("elf", 1))
    if not src or not elf:
        t.ok(False, "hostile files: no inputs")
        return
    data = open(src, "rb").read()
    edata = open(elf, "rb").read(1 << 20)
    h = kdump_header(src)
    bs = h["block_size"]
    desc_off = (1 + h["sub_hdr_size"] + h["bitmap_blocks"]) * bs
    cases = {
        "truncated kdump header": data[:300],
        "truncated kdump in its bitmaps": data[:(1 + h["sub_hdr_size"]) * bs + 100],
        "kdump block_size 0": data[:428] + struct.pack("<i", 0) + data[432:],
        "kdump block_size 1 GiB": data[:428] + struct.pack("<i", 1 << 30) + data[432:],
        "kdump bitmaps past EOF": data[:436] + struct.pack("<I", 0x7fffffff) + data[440:],
        "kdump sub header past EOF": data[:432] + struct.pack("<i", 0x7fffffff) + data[436:],
        "kdump descriptors pointing anywhere": data[:desc_off] + (struct.pack("<qIIQ", 1 << 62, 4096, 0x20, 0) * 64) + data[desc_off + 64 * 24:],
        "kdump decompression bomb (size 1 GiB)": data[:desc_off] + (struct.pack("<qIIQ", desc_off, 1 << 30, 0x20, 0) * 64) + data[desc_off + 64 * 24:],
        "kdump garbage page data": data[:desc_off] + (struct.pack("<qIIQ", desc_off, 4000, 0x20, 0) * 64) + data[desc_off + 64 * 24:],
        "kdump descriptor at offset 0 in a complete dump": data[:desc_off] + (struct.pack("<qIIQ", 0, 4000, 0x20, 0) * 64) + data[desc_off + 64 * 24:],
        "ELF cut inside its program headers": edata[:100],
        "ELF with phnum 65535": edata[:56] + struct.pack("<H", 65535) + edata[58:],
        "flattened stream with a record past 2^63": b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1).ljust(4096 - 16, b"\0") + struct.pack(">qq", 1 << 62, 1 << 40) + b"x" * 64,
        "ELF claiming RAM at 2^63 (one PT_LOAD, no bytes)": tiny_elf(0x8000000000000000, 4096),
        "ELF claiming 1 TiB of RAM (p_memsz, no bytes)": tiny_elf(0, 1 << 40),
        "flattened stream with a 2^44-byte hole": b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1).ljust(4096 - 16, b"\0") + struct.pack(">qq", 0, len(data[:8192])) + data[:8192] + struct.pack(">qq", 1 << 44, 8) + b"x" * 8 + struct.pack(">qq", -1, -1),
        "not a dump": b"hello world\n" * 100,
        "empty file": b"",
    }
    for name, blob in cases.items():
        p = os.path.join(work, "bad")
        with open(p, "wb") as f:
            f.write(blob)
        for cmd in (["info", p], ["convert", p, p + ".out", "--format", "kdump-zstd", "-d", "31"]):
            if os.path.exists(p + ".out"):
                os.unlink(p + ".out")
            t0 = time.time()
            r = subprocess.run(["prlimit", "--as=%d" % (2 << 30), "--"] + [os.environ["HVDUMP_BIN"]] + cmd,
                               capture_output=True, text=True, errors="replace", timeout=120)
            ok = r.returncode in (0, 1) and (r.returncode == 0 or one_line_error(r))
            ok = ok and not os.path.exists(p + ".out.part")
            t.ok(ok, "%s: %s -> exit %d, %s (%.1f s)" % (cmd[0], name, r.returncode,
                 (r.stderr.strip().splitlines() or ["(no message)"])[-1][:150], time.time() - t0),
                 r.stderr[-2000:])


if __name__ == "__main__":
    try:
        main()
    finally:
        t.done()
