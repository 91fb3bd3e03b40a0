#!/usr/bin/env python3
"""mkseeds.py — writes the fuzz-kernel seeds from the synthetic guest that
tests/peer/qmp_peer.py builds (the layout of tests/unit/synth-guest.h), in
the input format fuzz-kernel.c reads: CR3 and CR4 (8 bytes each, LE), the
page-table window (guest RAM 0x1000..0x6000), the VMCOREINFO note window
(0x10000..0x12000). Run it again when that layout changes."""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "peer"))
import qmp_peer  # noqa: E402


def seed(guest, cr3=0x1000, cr4=0x6f0):
    return (struct.pack("<QQ", cr3, cr4) + guest.read(0x1000, 0x5000) + guest.read(0x10000, 0x2000))


def main():
    out = os.path.join(HERE, "seeds", "kernel")
    os.makedirs(out, exist_ok=True)
    g = qmp_peer.Guest()
    seeds = {
        "synthetic-guest.bin": seed(g),
        "tables-only.bin": seed(g)[:16 + 0x5000],
        "synthetic-guest-la57.bin": seed(g, cr4=0x6f0 | 1 << 12),
    }
    forged = qmp_peer.Guest()
    forged.write(0x10000, qmp_peer.note(qmp_peer.VMCOREINFO_TEXT.replace(
        b"ffffffff81000000", b"ffffffff82000000")))
    seeds["forged-stext.bin"] = seed(forged)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    try:
        os.unlink(os.path.join(out, "empty.bin"))
    except FileNotFoundError:
        pass


if __name__ == "__main__":
    main()
