#!/usr/bin/env python3
"""mkseeds_mm.py — writes the seeds of fuzz-pageclass and fuzz-pgtable in
the input formats those targets read (see their header comments), from the
layout of tests/unit/synth-guest.h and synth-mm.h: a valid memory map with
buddy blocks, cache, anonymous and compound pages (6.1 and 6.12), and the
synthetic guest's own page tables with addresses to translate. Run it again
when those layouts change."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DIRECT = 0xffff888000000000
VMEMMAP = DIRECT + 0x800000
ROOTS, SECTIONS = DIRECT + 0x700000, DIRECT + 0x701000
FIRST_PFN = 4000


def page(flags=0, head=0, mapping=0, private=0, mapcount=0xffffffff, b16=0, b17=0):
    p = bytearray(64)
    struct.pack_into("<QQ", p, 0, flags, head)
    p[16], p[17] = b16, b17
    struct.pack_into("<QQI", p, 24, mapping, 0, 0)
    struct.pack_into("<QI", p, 40, private, mapcount)
    return bytes(p)


def memmap(v612):
    buddy = 0xf0000000 if v612 else (-129) & 0xffffffff
    pages = [page() for _ in range(600)]
    pages[96] = page(mapcount=buddy, private=3)                   # pfn 4096: free, order 3
    pages[100] = page(flags=1 << 4, mapping=DIRECT + 0x1000)       # cache
    pages[101] = page(flags=(1 << 4) | (1 << 13))                 # cache, private
    pages[102] = page(mapping=DIRECT + 0x2001)                     # anonymous
    head = 4096 + 32                                               # pfn 4128, order 4
    pages[128] = page(flags=1 << 16, mapcount=0xf4000000 if v612 else 0xffffffff)
    for k in range(1, 16):
        tail = page(head=(VMEMMAP + head * 64) | 1, flags=4 if (v612 and k == 1) else 0,
                    b16=2 if (not v612 and k == 1) else 0, b17=4 if (not v612 and k == 1) else 0)
        pages[128 + k] = tail
    hdr = bytes([1 if v612 else 0]) + struct.pack("<QQQ", ROOTS, SECTIONS, VMEMMAP | 3)
    return hdr + b"".join(pages)


def tables():
    ram = bytearray(0x5000)
    def put(pa, v):
        struct.pack_into("<Q", ram, pa - 0x1000, v)
    put(0x1000 + 8 * 511, 0x2000 | 0x63)
    put(0x2000 + 8 * 510, 0x3000 | 0x63)
    put(0x1000 + 8 * 273, 0x4000 | 0x63)
    put(0x4000, 0x5000 | 0x63)
    for i in range(16):
        put(0x3000 + 8 * i, (i << 21) | 0xe3)
        put(0x5000 + 8 * i, (i << 21) | 0xe3)
    return bytes(ram)


def main():
    out = os.path.join(HERE, "seeds", "pageclass")
    os.makedirs(out, exist_ok=True)
    for name, data in {"linux-6.1.bin": memmap(False), "linux-6.12.bin": memmap(True)}.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    out = os.path.join(HERE, "seeds", "pgtable")
    os.makedirs(out, exist_ok=True)
    addrs = struct.pack("<QQQQ", 0xffffffff81000000, DIRECT + 0x123456, 0x400000, 0xffffffffc0000000)
    for name, data in {"4-level.bin": b"\0" + tables() + addrs, "5-level.bin": b"\1" + tables() + addrs}.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
