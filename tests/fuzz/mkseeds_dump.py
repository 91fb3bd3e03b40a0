#!/usr/bin/env python3
"""mkseeds_dump.py — writes the seed corpora of the dump-reader fuzz targets:
tests/fuzz/seeds/reader-elf/, reader-kdump/ and reader-flat/. Each seed is a
small valid vmcore (a few 4 KiB pages, under 64 KiB: the fuzzer runs with
-max_len=65536) in the layout its peer writes:

  reader-elf/    elf-basic.bin     PT_NOTE (2 NT_PRSTATUS, VMCOREINFO), two RAM
                                   PT_LOADs out of order, the second with
                                   p_memsz > p_filesz, and a kernel-text PT_LOAD
                                   aliasing the bytes of the second (ours)
                 elf-qemu.bin      QEMU 7.2: section headers before the program
                                   headers, p_vaddr = p_paddr, a QEMU note
                 elf-incomplete.bin  makedumpfile's e_flags bit 0, file cut short
                 elf-pnxnum.bin    e_phnum = PN_XNUM, the count in section 0
  reader-kdump/  kdump-<codec>.bin  header version 6, notes and VMCOREINFO in
                                   the sub-header, bitmap 1 two RAM runs, bitmap
                                   2 one page less, a shared zero page, pages in
                                   <codec> (raw, zlib, zstd, lzo, snappy) or raw
                                   where they do not shrink
                 kdump-v1.bin, kdump-v3.bin  older header versions
                 kdump-incomplete.bin  INCOMPLETE status, the last two
                                   descriptors never written (offset 0)
  reader-flat/   flat-<x>.bin      makedumpfile's flattened stream of some of
                                   the above; flat-kdump-rewrite.bin writes the
                                   header block as garbage first and again
                                   last (records that overlap)

zlib comes from Python's zlib module, zstd, lzo and snappy from the libraries
hvdump links (libzstd, liblzo2, libsnappy) through ctypes: no Python modules
beyond the standard library (3.9 or later).
Run it again when the formats' layouts change; the output is deterministic.
"""
import ctypes
import ctypes.util
import os
import random
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
PG = 4096
VMCI = b"OSRELEASE=6.1.0-seed\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffffffff82a0a000\n" \
       b"NUMBER(phys_base)=0\nCRASHTIME=1700000000\n"


def lib(name, soname):
    return ctypes.CDLL(ctypes.util.find_library(name) or soname)


_zstd = lib("zstd", "libzstd.so.1")
_zstd.ZSTD_compress.restype = ctypes.c_size_t
_zstd.ZSTD_compress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                ctypes.c_size_t, ctypes.c_int]
_zstd.ZSTD_isError.argtypes = [ctypes.c_size_t]
_lzo = lib("lzo2", "liblzo2.so.2")
_lzo.lzo1x_1_compress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                  ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p]
_snappy = lib("snappy", "libsnappy.so.1")
_snappy.snappy_compress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                    ctypes.POINTER(ctypes.c_size_t)]


def compress(codec, page):
    """(flag, bytes) of a page in codec; (0, page) when it does not shrink."""
    out = ctypes.create_string_buffer(2 * PG)
    if codec == "zlib":
        c, flag = zlib.compress(page, 1), 0x1
    elif codec == "zstd":
        n = _zstd.ZSTD_compress(out, len(out), page, len(page), 1)
        assert not _zstd.ZSTD_isError(n)
        c, flag = out.raw[:n], 0x20
    elif codec == "lzo":
        n = ctypes.c_size_t(len(out))
        wrk = ctypes.create_string_buffer(1 << 17)
        assert _lzo.lzo1x_1_compress(page, len(page), out, ctypes.byref(n), wrk) == 0
        c, flag = out.raw[:n.value], 0x2
    elif codec == "snappy":
        n = ctypes.c_size_t(len(out))
        assert _snappy.snappy_compress(page, len(page), out, ctypes.byref(n)) == 0
        c, flag = out.raw[:n.value], 0x4
    else:
        return 0, page
    return (flag, c) if len(c) < PG else (0, page)


def page_of(pfn):
    """pfn % 4: 0 text, 1 zero, 2 random, 3 one byte (as test-reader.c)."""
    k = pfn % 4
    if k == 0:
        text = b"".join(b"pfn %#x line %d\n" % (pfn, i) for i in range(400))
        return text[:PG]
    if k == 1:
        return bytes(PG)
    if k == 2:
        return random.Random(pfn).randbytes(PG)
    return bytes([(pfn & 0xff) | 1]) * PG


def note(name, ntype, desc):
    name = name + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def notes(qemu=False):
    n = note(b"CORE", 1, bytes(336)) * 2
    if qemu:
        n += note(b"QEMU", 0, struct.pack("<II", 1, 432) + bytes(424))
    return n + note(b"VMCOREINFO", 0, VMCI)


# ---- ELF --------------------------------------------------------------------

def phdr(ptype, off, vaddr, paddr, filesz, memsz):
    return struct.pack("<IIQQQQQQ", ptype, 7, off, vaddr, paddr, filesz, memsz, 0)


def elf(qemu=False, incomplete=False, pnxnum=False):
    nt = notes(qemu)
    a_pfns, b_pfns, b_file = range(0, 3), range(0x100, 0x106), 4
    shdrs = 2 if (qemu or pnxnum) else 0
    nph = 4 if not qemu else 3
    shoff = 64 if qemu else 64 + nph * 56 if pnxnum else 0
    phoff = 64 + shdrs * 64 if qemu else 64
    notes_off = max(phoff + nph * 56, shoff + shdrs * 64)
    a_off = -(-(notes_off + len(nt)) // PG) * PG
    b_off = a_off + len(a_pfns) * PG
    dm = lambda p: p if qemu else 0xffff888000000000 + p  # noqa: E731
    ph = [phdr(4, notes_off, 0, 0, len(nt), len(nt))]
    if not qemu:  # the kernel image, aliasing B's second and third pages
        ph.append(phdr(1, b_off + PG, 0xffffffff81000000, 0x101000, 2 * PG, 2 * PG))
    ph.append(phdr(1, b_off, dm(0x100000), 0x100000, b_file * PG, len(b_pfns) * PG))
    ph.append(phdr(1, a_off, dm(0), 0, len(a_pfns) * PG, len(a_pfns) * PG))
    eh = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    eh += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, phoff, shoff, 1 if incomplete else 0, 64,
                      56, 0xffff if pnxnum else nph, 64, shdrs, 0)
    out = bytearray(b_off + b_file * PG)
    out[0:64] = eh
    out[phoff:phoff + nph * 56] = b"".join(ph)
    if shdrs:
        # section 0 holds the real e_phnum in sh_info (PN_XNUM); QEMU's
        # second section is its string table, left empty here
        sh0 = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, nph, 0, 0)
        out[shoff:shoff + 64] = sh0
    out[notes_off:notes_off + len(nt)] = nt
    for i, pfn in enumerate(a_pfns):
        out[a_off + i * PG:a_off + (i + 1) * PG] = page_of(pfn)
    for i, pfn in enumerate(b_pfns[:b_file]):
        out[b_off + i * PG:b_off + (i + 1) * PG] = page_of(pfn)
    if incomplete:
        out = out[:len(out) - PG - 100]
    return bytes(out)


# ---- kdump-compressed ---------------------------------------------------------

def kdump(codec="zlib", version=6, incomplete=False):
    ram = list(range(0, 3)) + list(range(0x100, 0x105))
    excluded, max_mapnr = 0x103, 0x108
    nt = notes()
    h = bytearray(PG)
    h[0:8] = b"KDUMP   "
    struct.pack_into("<i", h, 8, version)
    h[12 + 2 * 65:12 + 2 * 65 + 10] = b"6.1.0-seed"
    h[12 + 4 * 65:12 + 4 * 65 + 6] = b"x86_64"
    status = {"zlib": 1, "lzo": 2, "snappy": 4, "zstd": 0x20}.get(codec, 0) | (8 if incomplete else 0)
    struct.pack_into("<qqIiiIIIIIIi", h, 408, 1600000000, 0, status, PG, 1, 2, max_mapnr,
                     0, 0, 0, 0, 2)
    s = bytearray(PG)
    vmci_off = PG + 104 + len(nt)
    struct.pack_into("<QiiQQQQQQQQQQQ", s, 0, 0, 1, 0, 0, 0, vmci_off, len(VMCI), PG + 104,
                     len(nt), 0, 0, 0, 0, max_mapnr)
    s[104:104 + len(nt)] = nt
    s[104 + len(nt):104 + len(nt) + len(VMCI)] = VMCI
    bm1, bm2 = bytearray(PG), bytearray(PG)
    for pfn in ram:
        bm1[pfn // 8] |= 1 << (pfn % 8)
        if pfn != excluded:
            bm2[pfn // 8] |= 1 << (pfn % 8)
    dumped = [p for p in ram if p != excluded]
    desc_off = 4 * PG
    data_off = desc_off + 24 * len(dumped)
    descs, data = b"", bytearray(bytes(PG))  # the shared zero page first
    for pfn in dumped:
        page = page_of(pfn)
        if page == bytes(PG):
            descs += struct.pack("<qIIQ", data_off, PG, 0, 0)
            continue
        flag, c = compress(codec, page)
        descs += struct.pack("<qIIQ", data_off + len(data), len(c), flag, 0)
        data += c
    if incomplete:  # the last two pages were never written
        descs = descs[:24 * (len(dumped) - 2)] + bytes(48)
    return bytes(h) + bytes(s) + bytes(bm1) + bytes(bm2) + descs + bytes(data)


# ---- flattened stream -----------------------------------------------------------

def flat(plain, chunk=1500, rewrite=False):
    rec = lambda off, b: struct.pack(">QQ", off, len(b)) + b  # noqa: E731
    out = b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)
    out = out.ljust(PG, b"\0")
    if rewrite:
        out += rec(0, b"\xa5" * PG)
    for off in range(0, len(plain), chunk):
        part = plain[off:off + chunk]
        if part == bytes(len(part)) and off + chunk < len(plain):
            continue  # a gap: reads as zero
        out += rec(off, part)
    if rewrite:
        out += rec(0, plain[:PG])
    return out + struct.pack(">qq", -1, -1)


def main():
    seeds = {
        "reader-elf": {
            "elf-basic.bin": elf(),
            "elf-qemu.bin": elf(qemu=True),
            "elf-incomplete.bin": elf(incomplete=True),
            "elf-pnxnum.bin": elf(pnxnum=True),
        },
        "reader-kdump": {
            "kdump-v1.bin": kdump("zlib", version=1),
            "kdump-v3.bin": kdump("lzo", version=3),
            "kdump-incomplete.bin": kdump("zstd", incomplete=True),
        },
        "reader-flat": {
            "flat-elf.bin": flat(elf()),
            "flat-kdump-zlib.bin": flat(kdump("zlib")),
            "flat-kdump-rewrite.bin": flat(kdump("snappy"), chunk=999, rewrite=True),
        },
    }
    for codec in ("raw", "zlib", "zstd", "lzo", "snappy"):
        seeds["reader-kdump"]["kdump-%s.bin" % codec] = kdump(codec)
    for d, files in seeds.items():
        path = os.path.join(HERE, "seeds", d)
        os.makedirs(path, exist_ok=True)
        for name, data in files.items():
            assert len(data) < 65536, (name, len(data))
            with open(os.path.join(path, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
