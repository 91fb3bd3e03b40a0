#!/usr/bin/env python3
"""qmp_peer.py — a scripted stand-in for QEMU: a QMP server whose guest RAM
is a memfd this process holds open, exactly where hvdump looks for QEMU's
(/proc/PID/fd, found through SO_PEERCRED on the QMP socket).

The guest is synthetic (the layout of tests/unit/synth-guest.h: 4-level
page tables mapping a kernel image and the direct map, a VMCOREINFO note
that the page tables vouch for, init_uts_ns) plus, when asked, the
hvdump_guest descriptor and hostile extras. Scenarios play what a hostile
guest or a broken QEMU could do; every QMP command received is appended to
a log file (one JSON object per line) so tests can see what hvdump did to
the VM (stop / cont / quit).

Two ways to start it:
  as QEMU under `hvdump run -- python3 qmp_peer.py --scenario S ...`: the
    `-qmp unix:PATH,server=on,wait=off` hvdump adds is served; other QEMU
    options are ignored;
  standalone for `hvdump dump`: `qmp_peer.py --listen PATH --scenario S`.
"""
import argparse
import json
import os
import random
import select
import socket
import struct
import sys
import time
import zlib

PG = 4096
RAM = 32 << 20
PML4, PDPT_K, PD_K, PDPT_D, PD_D = 0x1000, 0x2000, 0x3000, 0x4000, 0x5000
STEXT, UTS = 0xffffffff81000000, 0xffffffff81800000
RELEASE = b"6.1.0-synthetic"
DESC_MAGIC = 0x4353454450564448
REG_MAGIC = 0x5f4c414e47495348
DESC_SIZE = 1176
EVENT_PANIC, EVENT_OOPS = 1, 2
F_VMCOREINFO, F_PRSTATUS, F_DUMP_REQUEST = 0x01, 0x02, 0x08

VMCOREINFO_TEXT = (b"OSRELEASE=" + RELEASE + b"\n"
                   b"BUILD-ID=0123456789abcdef\n"
                   b"PAGESIZE=4096\n"
                   b"SYMBOL(init_uts_ns)=ffffffff81800000\n"
                   b"SYMBOL(_stext)=ffffffff81000000\n"
                   b"SYMBOL(swapper_pg_dir)=ffffffff81a00000\n"
                   b"NUMBER(phys_base)=0\n"
                   b"NUMBER(pgtable_l5_enabled)=0\n"
                   b"KERNELOFFSET=0\n")


def note(text):
    return struct.pack("<III", 11, len(text), 0) + b"VMCOREINFO\0\0" + text


def descriptor(paddr, event, flags, cpu=0, message=b"synthetic event", vmcoreinfo=0):
    if vmcoreinfo:
        flags |= F_VMCOREINFO
    d = bytearray(DESC_SIZE)
    struct.pack_into("<QIIIIQQII", d, 0, DESC_MAGIC, 1, DESC_SIZE, 0, flags, paddr,
                     vmcoreinfo, len(note(VMCOREINFO_TEXT)) if vmcoreinfo else 0, 2)
    off = 48 + 8 * 64
    struct.pack_into("<IIQII", d, off, event, cpu, int(time.time()), 1, len(message))
    d[off + 24:off + 24 + len(message)] = message
    struct.pack_into("<I", d, 16, zlib.crc32(bytes(d)) & 0xffffffff)
    return bytes(d)


class Guest:
    """The synthetic guest's RAM, in a memfd (or a file) this process keeps open."""

    def __init__(self, note_at=0x10000, fill_random=0):
        self.fd = os.memfd_create("memory-backend-memfd", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, RAM)
        self.put64(PML4 + 8 * 511, PDPT_K | 0x63)
        self.put64(PDPT_K + 8 * 510, PD_K | 0x63)
        self.put64(PML4 + 8 * 273, PDPT_D | 0x63)
        self.put64(PDPT_D, PD_D | 0x63)
        for i in range(16):
            self.put64(PD_K + 8 * i, (i << 21) | 0xe3)
            self.put64(PD_D + 8 * i, (i << 21) | 0xe3)
        self.note_at = note_at
        self.write(note_at, note(VMCOREINFO_TEXT))
        self.write(UTS - 0xffffffff80000000 + 130, RELEASE + b"\0")
        if fill_random:
            rnd = random.Random(1)
            self.write(8 << 20, bytes(rnd.getrandbits(8) for _ in range(fill_random)))

    def write(self, pa, data):
        os.pwrite(self.fd, data, pa)

    def read(self, pa, n):
        return os.pread(self.fd, n, pa)

    def put64(self, pa, v):
        self.write(pa, struct.pack("<Q", v))


MTREE = """FlatView #0
 AS "memory", root: system
 AS "cpu-memory-0", root: system
 Root memory region: system
  0000000000000000-0000000001ffffff (prio 0, ram): mem0

FlatView #1
 AS "I/O", root: io
  0000000000000000-000000000000ffff (prio 0, i/o): io
"""


def registers(rdi=0, rsi=0):
    return ("CPU#0\r\n"
            "RAX=0000000000000001 RBX=0000000000000000 RCX=0000000000000000 RDX=0000000000000505\r\n"
            "RSI=%016x RDI=%016x RBP=0000000000000000 RSP=ffff888000008f00\r\n"
            "R8 =0000000000000000 R9 =0000000000000000 R10=0000000000000000 R11=0000000000000000\r\n"
            "R12=0000000000000000 R13=0000000000000000 R14=0000000000000000 R15=0000000000000000\r\n"
            "RIP=ffffffff81001000 RFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=0\r\n"
            "CS =0010 0000000000000000 ffffffff 00af9b00 DPL=0 CS64 [-RA]\r\n"
            "CR0=80050033 CR2=0000000000000000 CR3=0000000000001000 CR4=000006f0\r\n"
            "EFER=0000000000000d01\r\n" % (rsi, rdi))


class Peer:
    def __init__(self, args):
        self.a = args
        self.log = open(args.log, "a") if args.log else None
        self.events_left = args.events
        sc = args.scenario
        fill = args.fill << 20
        self.guest = Guest(note_at=0x1000000 if sc == "forged-notes" else 0x10000, fill_random=fill)
        self.desc_at = 0x30000
        self.regs = registers()
        self.status = "running"
        self.mem_path = None
        self.hold = []
        self.pending_panic_at = None
        self.has_event = sc in ("panic", "oops", "scan-oops", "slow")
        if self.has_event:
            event = EVENT_PANIC if sc in ("panic", "slow") else EVENT_OOPS
            flags = F_DUMP_REQUEST if event == EVENT_OOPS else 0
            self.guest.write(self.desc_at, descriptor(self.desc_at, event, flags,
                                                      vmcoreinfo=self.guest.note_at))
            if sc != "scan-oops":
                self.regs = registers(REG_MAGIC, self.desc_at)
            if args.panic_after >= 0:
                self.pending_panic_at = time.time() + args.panic_after
        elif sc == "forged-notes":
            # a user process sprays page-aligned notes that parse but lie
            forged = VMCOREINFO_TEXT.replace(b"ffffffff81000000", b"ffffffff82000000")
            for i in range(40):
                self.guest.write(0x100000 + i * PG, note(forged))
        elif sc == "forged-descs":
            # pages with the descriptor magic but no valid descriptor, before the real one
            for i in range(8):
                self.guest.write(0x100000 + i * PG, struct.pack("<Q", DESC_MAGIC) + b"junk")
            self.desc_at = 0x200000
            self.guest.write(self.desc_at, descriptor(self.desc_at, 0, 0,
                                                      vmcoreinfo=self.guest.note_at))
        elif sc == "fifo":
            # the "backend" named by the memdev is a FIFO; hold it as O_PATH
            # so opening it again would block for a writer forever
            self.mem_path = os.path.join(os.path.dirname(args.log or "/tmp/x"), "ram.fifo")
            if not os.path.exists(self.mem_path):
                os.mkfifo(self.mem_path)
            self.hold.append(os.open(self.mem_path, os.O_PATH))

    def record(self, what):
        if self.log:
            self.log.write(json.dumps(what) + "\n")
            self.log.flush()

    def emit(self, conn, name, data=None):
        ev = {"event": name, "timestamp": {"seconds": int(time.time()), "microseconds": 0}}
        if data is not None:
            ev["data"] = data
        conn.sendall(json.dumps(ev).encode() + b"\r\n")

    def panic(self, conn):
        self.status = "guest-panicked"
        self.record({"peer": "panic"})
        self.emit(conn, "GUEST_PANICKED", {"action": "pause"})

    def hmp(self, line):
        sc = self.a.scenario
        if line.startswith("info mtree"):
            return MTREE
        if line.startswith("info registers"):
            return self.regs
        if line.startswith("xp "):
            addr = int(line.split()[-1], 16)
            q = struct.unpack("<QQ", self.guest.read(addr, 16))
            return "%016x: 0x%016x 0x%016x\r\n" % (addr, q[0], q[1])
        return "unknown command: '%s'\r\n" % line.split()[0]

    def answer(self, conn, req):
        cmd = req.get("execute")
        args = req.get("arguments", {})
        rid = req.get("id")
        self.record({"cmd": cmd, "args": args})
        sc = self.a.scenario

        def ok(ret):
            msg = {"return": ret}
            if rid is not None:
                msg["id"] = rid
            conn.sendall(json.dumps(msg).encode() + b"\r\n")

        def err(desc, cls="GenericError"):
            msg = {"error": {"class": cls, "desc": desc}}
            if rid is not None:
                msg["id"] = rid
            conn.sendall(json.dumps(msg).encode() + b"\r\n")

        if cmd == "qmp_capabilities":
            return ok({})
        if cmd == "query-status":
            if self.a.panic_behind_status and self.events_left > 0 and self.status == "running":
                # the panic event arrives in the same write as the answer that
                # still says "running": it waits in the client's buffer, and
                # the socket never becomes readable for it
                self.pending_panic_at = None
                self.events_left -= 1
                self.status = "guest-panicked"
                self.record({"peer": "panic behind the status answer"})
                ev = {"event": "GUEST_PANICKED", "data": {"action": "pause"},
                      "timestamp": {"seconds": int(time.time()), "microseconds": 0}}
                msg = {"return": {"status": "running", "running": True, "singlestep": False},
                       "id": rid}
                conn.sendall(json.dumps(msg).encode() + b"\r\n" + json.dumps(ev).encode() + b"\r\n")
                return None
            return ok({"status": self.status, "running": self.status == "running",
                       "singlestep": False})
        if cmd == "stop":
            if self.status == "running":
                self.status = "paused"
                self.emit(conn, "STOP")
            return ok({})
        if cmd == "cont":
            ok({})
            self.status = "running"
            self.emit(conn, "RESUME")
            if self.events_left > 0:
                self.pending_panic_at = time.time() + self.a.interval
            elif sc in ("oops", "scan-oops"):
                self.record({"peer": "guest powers off"})
                self.emit(conn, "SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})
                raise SystemExit(0)
            return None
        if cmd == "quit":
            ok({})
            raise SystemExit(0)
        if cmd == "query-memdev":
            if sc == "escape":
                return err("no memdev\x1b]0;owned\x07\x1b[2J\x1b[31m here")
            return ok([{"id": "mem0", "size": RAM, "merge": False, "dump": True, "prealloc": False,
                        "share": True, "policy": "default", "host-nodes": []}])
        if cmd == "qom-get":
            if self.mem_path:
                return ok(self.mem_path)
            return err("Property 'memory-backend-memfd.mem-path' not found")
        if cmd == "human-monitor-command":
            line = args.get("command-line", "")
            if sc == "slow" and line.startswith("info registers"):
                return None  # a monitor command that never answers (hung QEMU)
            return ok(self.hmp(line))
        return err("The command %s has not been found" % cmd, "CommandNotFound")

    def serve(self, listener):
        """Serves one client after another (as QEMU does) until the lifetime ends."""
        end = time.time() + self.a.lifetime
        while time.time() < end:
            listener.settimeout(max(0.1, end - time.time()))
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                break
            self.record({"peer": "client connected"})
            try:
                self.serve_one(conn, end)
            except (BrokenPipeError, ConnectionResetError):
                self.record({"peer": "client vanished"})
        self.record({"peer": "lifetime over"})

    def serve_one(self, conn, deadline):
        conn.sendall(json.dumps({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0},
                                                     "package": "qmp_peer"},
                                         "capabilities": ["oob"]}}).encode() + b"\r\n")
        buf = b""
        while time.time() < deadline:
            timeout = 0.2
            if self.pending_panic_at is not None:
                timeout = max(0.0, min(timeout, self.pending_panic_at - time.time()))
            r, _, _ = select.select([conn], [], [], timeout)
            if self.pending_panic_at is not None and time.time() >= self.pending_panic_at:
                self.pending_panic_at = None
                if self.events_left > 0:
                    self.events_left -= 1
                    self.panic(conn)
            if not r:
                continue
            data = conn.recv(65536)
            if not data:
                self.record({"peer": "client closed"})
                conn.close()
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    self.answer(conn, json.loads(line))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="panic",
                    choices=["panic", "oops", "scan-oops", "slow", "forged-notes", "forged-descs",
                             "fifo", "escape", "idle"])
    ap.add_argument("--listen", help="QMP socket path (standalone)")
    ap.add_argument("--log", help="append every command received here (JSON lines)")
    ap.add_argument("--events", type=int, default=1, help="panic/oops events to signal")
    ap.add_argument("--panic-after", type=float, default=0.3,
                    help="seconds after start of the first event (-1: already panicked)")
    ap.add_argument("--interval", type=float, default=0.01, help="seconds between events")
    ap.add_argument("--panic-behind-status", action="store_true",
                    help="send the first event right behind the first query-status answer")
    ap.add_argument("--fill", type=int, default=0, help="MiB of random data in guest RAM")
    ap.add_argument("--lifetime", type=float, default=120, help="exit after this many seconds")
    args, qemu_args = ap.parse_known_args()
    path = args.listen
    for i, a in enumerate(qemu_args):
        if a == "-qmp" and i + 1 < len(qemu_args):
            path = qemu_args[i + 1].split(",")[0].split(":", 1)[1]
    if path is None:
        ap.error("no QMP socket: give --listen or -qmp unix:PATH,...")
    peer = Peer(args)
    if args.panic_after < 0 and peer.has_event:
        peer.pending_panic_at = None
        peer.events_left -= 1
        peer.status = "guest-panicked"
    elif not peer.has_event:
        peer.events_left = 0
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)
    peer.record({"peer": "listening", "pid": os.getpid()})
    try:
        peer.serve(listener)
    finally:
        listener.close()
        try:
            os.unlink(path)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
