#!/usr/bin/env python3
"""mkseeds_triage.py OUTDIR — seed inputs for fuzz-printk, fuzz-kallsyms and
fuzz-title (layouts as those targets read them; FUZZ_BASE is offset 0).
Writes OUTDIR/printk/*, OUTDIR/kallsyms/*, OUTDIR/title/*."""
import os
import struct
import sys

BASE = 0xffffffff81000000


def printk_seed(wrap):
    m = bytearray(0xa00)
    struct.pack_into("<Q", m, 0, BASE + 8)             # prb → the ring
    struct.pack_into("<IxxxxQQ", m, 8, 4, BASE + 0x100, BASE + 0x300)  # 16 descriptors
    struct.pack_into("<IxxxxQ", m, 56, 8, BASE + 0x900)                # 256 bytes of text
    lpos = 32
    recs = []
    for i in range(6):
        text = b"hvdump seed line %d" % i
        size = (8 + len(text) + 7) & ~7
        recs.append((i, lpos, lpos + size, text))
        lpos += size
    if wrap:  # a block the kernel wrote at the ring's start
        text = b"wrapped"
        recs.append((6, 248, 256 + 24, text))
    for seq, begin, nxt, text in recs:
        idx = seq % 16
        struct.pack_into("<QQQ", m, 0x100 + idx * 24, (2 << 62) | seq, begin, nxt)
        struct.pack_into("<QQHxxI", m, 0x300 + idx * 88, seq, seq * 1000000, len(text), 1)
        off = 0 if nxt > 256 else begin
        struct.pack_into("<Q", m, 0x900 + off, seq)
        m[0x900 + off + 8:0x900 + off + 8 + len(text)] = text
    return bytes(m)


def kallsyms_seed():
    m = bytearray(0x1000)
    syms = [("T", "_stext", 0), ("t", "foo_bar", 0x100), ("t", "baz", 0x180),
            ("T", "_etext", 0x800), ("d", "modules", 0xf00), ("B", "_end", 0xff0)]
    struct.pack_into("<I", m, 0, len(syms))
    struct.pack_into("<Q", m, 8, BASE)
    for t in range(256):  # token t: the single character t (2 bytes each)
        struct.pack_into("<H", m, 0x10 + 2 * t, 2 * t)
        m[0x210 + 2 * t] = t if 0x21 <= t < 0x7f else 0x3f
    names = bytearray()
    for i, (typ, name, off) in enumerate(syms):
        struct.pack_into("<i", m, 0x610 + 4 * i, -(off + 1))  # relative to base - 1
        s = (typ + name).encode()
        names += bytes([len(s)]) + s
    m[0x810:0x810 + len(names)] = names
    struct.pack_into("<Q", m, 0xf00, BASE + 0xf00)  # an empty module list
    return bytes(m)


TITLES = [
    "BUG: kernel NULL pointer dereference, address: 0000000000000000\n#PF: supervisor write access in kernel mode\nOops: 0002 [#1] PREEMPT SMP NOPTI\nCPU: 0 PID: 63 Comm: sh Tainted: G           OE      6.1.0-57-amd64 #1\nRIP: 0010:crashtest_write+0x5b/0xa0 [hvdump_crashtest]\nCall Trace:\n <TASK>\n proc_reg_write+0x56/0xa0\n ? fput+0x10/0x20\n vfs_write+0xc7/0x3f0\n ksys_write+0x6b/0xf0\n </TASK>\nKernel panic - not syncing: Fatal exception\n",
    "sysrq: Trigger a crash\nKernel panic - not syncing: sysrq triggered crash\nCPU: 1 PID: 1 Comm: sh\nCall Trace:\n <TASK>\n dump_stack_lvl+0x44/0x5c\n panic+0x118/0x2f4\n sysrq_handle_crash+0x16/0x20\n __handle_sysrq.cold+0x44/0x11c\n",
    "------------[ cut here ]------------\nhvdump crashtest warning\nWARNING: CPU: 0 PID: 70 at /build/crashtest.c:33 crashtest_write+0x8e/0xa0 [hvdump_crashtest]\nKernel panic - not syncing: panic_on_warn set ...\n",
    "kernel BUG at drivers/foo/bar.c:1234!\ninvalid opcode: 0000 [#1] SMP\nRIP: 0010:foo_bar.isra.0+0x10/0x20\n",
    "watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [kworker/3:1:123]\nRIP: 0010:spin_loop+0x4/0x10\n",
    "BUG: KASAN: slab-use-after-free in foo+0x1/0x2\nRead of size 8 at addr ffff888012345678 by task a/1\n",
    "INFO: task sh:42 blocked for more than 120 seconds.\nCall Trace:\n __schedule+0x1/0x2\n schedule+0x1/0x2\n mutex_lock+0x1/0x2\n foo_ioctl+0x1/0x2\n",
    "general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1]\nRIP: 0010:strlen+0x0/0x20\nCall Trace:\n bar_open+0x12/0x40\n",
    "Kernel panic - not syncing: hvdump crashtest: custom panic from pid 67 at 0xffffffffc0123456 cpu 1\n",
]


def main():
    out = sys.argv[1]
    for d in ("printk", "kallsyms", "title"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    for name, data in (("ring.bin", printk_seed(False)), ("ring-wrapped.bin", printk_seed(True))):
        open(os.path.join(out, "printk", name), "wb").write(data)
    table = kallsyms_seed()
    open(os.path.join(out, "kallsyms", "table.bin"), "wb").write(table)
    # the same, then 6 KiB of ORC entries (CALL frames, CFA = sp + 8..32)
    orc = b"".join(struct.pack("<hhBB", 8 + 8 * (i % 4), 0, 5, i % 3) for i in range(1024))
    open(os.path.join(out, "kallsyms", "table-orc.bin"), "wb").write(
        table + bytes(0x3000 - len(table)) + orc)
    for i, t in enumerate(TITLES):
        open(os.path.join(out, "title", "log%d.txt" % i), "w").write(t)


main()
