"""A q35 guest with 5 GiB RAM (3 GiB of it above 4 GiB) and 4 vCPUs."""
import os
import re
import shutil
import tempfile

from hvtest import Tap, crash, drgn, elf_loads, run_panic

PANIC = "Kernel panic - not syncing: sysrq triggered crash"


def main():
    t = Tap()
    out = tempfile.mkdtemp(prefix="hvdump-e2e-q35-")
    try:
        r, path = run_panic(out, "q35", timeout=280, mem="5G", smp=4, machine="q35")
        if not t.ok(r.returncode == 3 and os.path.exists(path), "q35 5 GiB 4 vCPU panic captured",
                    r.stderr + r.stdout[-3000:]):
            return t.done()
        loads = elf_loads(path)
        phys = sorted((p, size) for off, v, p, size in loads if not (v >= 0xffffffff80000000))
        high = [(p, s) for p, s in phys if p == 0x100000000]
        t.ok(high and high[0][1] == 3 << 30, "RAM above 4 GiB is a 3 GiB segment at 4 GiB",
             [(hex(p), hex(s)) for p, s in phys])
        t.ok(sum(s for p, s in phys) >= (5 << 30) - (1 << 20), "all 5 GiB of RAM are described",
             [(hex(p), hex(s)) for p, s in phys])
        c = crash(path, ["sys", "bt -a", "log"])
        cpus = set(int(m) for m in re.findall(r"PID: +\d+ +TASK: [0-9a-f]+ +CPU: (\d+)", c))
        t.ok(cpus == {0, 1, 2, 3}, "crash bt -a shows every vCPU", c[:4000])
        t.ok('PANIC: "%s"' % PANIC in c and re.search(r"MEMORY: 5 GB", c) is not None,
             "crash sys: panic string and 5 GB of memory", c[:1500])
        t.ok(re.search(r"\] " + re.escape(PANIC), c) is not None,
             "crash log reads the ring buffer (allocated high)", c[-2000:])
        d, err = drgn(path)
        t.ok(d is not None and PANIC in d["dmesg"], "drgn reads the q35 dump", err)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
