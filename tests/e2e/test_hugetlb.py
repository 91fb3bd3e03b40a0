"""A guest whose RAM is on hugetlbfs: SEEK_DATA calls every huge page data,
and touching an unallocated one through a mapping allocates it from the
host's pool (or SIGBUSes hvdump when the pool is empty, with the VM
paused). hvdump must read it without allocating a single huge page, and
the dump must still be right."""
import os
import shutil
import subprocess
import tempfile

from hvtest import KVER, Guest, Tap, crash, run_hvdump

POOL_PAGES = 200          # 2 MiB pages: 400 MiB for a 256 MiB guest
GUEST_MEM = "256M"


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def main():
    t = Tap()
    nr_path = "/proc/sys/vm/nr_hugepages"
    work = tempfile.mkdtemp(prefix="hvdump-e2e-huge-")
    mnt = os.path.join(work, "huge")
    os.mkdir(mnt)
    old_nr = None
    mounted = False
    try:
        try:
            with open(nr_path) as f:
                old_nr = int(f.read())
            with open(nr_path, "w") as f:
                f.write(str(old_nr + POOL_PAGES))
        except OSError as e:
            t.skip("hugetlbfs-backed guest", "cannot size the hugetlb pool: %s" % e)
            return t.done()
        if meminfo("HugePages_Free") is None or meminfo("HugePages_Free") < POOL_PAGES:
            t.skip("hugetlbfs-backed guest", "the host gave only %s free huge pages" %
                   meminfo("HugePages_Free"))
            return t.done()
        m = subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "none", mnt],
                           capture_output=True, text=True)
        if m.returncode != 0:
            t.skip("hugetlbfs-backed guest", "cannot mount hugetlbfs: " + m.stderr.strip())
            return t.done()
        mounted = True
        g = Guest(action="tick", mem=GUEST_MEM, backend_file=os.path.join(mnt, "ram"))
        try:
            booted = g.wait_for("HVDUMP-TICK 2")
            t.ok(booted, "a guest with its RAM on hugetlbfs boots", g.console()[-1500:])
            g.qmp.cmd("stop")
            free_before = meminfo("HugePages_Free")
            path = os.path.join(work, "huge.vmcore")
            r = run_hvdump(["dump", "--qmp", g.sock, path])
            free_after = meminfo("HugePages_Free")
            t.ok(r.returncode == 0 and os.path.exists(path),
                 "the hugetlbfs-backed guest is dumped (no SIGBUS)", r.stderr)
            t.ok(free_before == free_after,
                 "the dump allocates no huge page (HugePages_Free %d before, %d after)" %
                 (free_before, free_after))
            c = crash(path, ["sys", "bt"]) if r.returncode == 0 else ""
            t.ok("RELEASE: " + KVER in c and "PID:" in c,
                 "crash opens the hugetlbfs guest's dump (sys, bt)", c[:2000])
            t.ok(g.status() == "paused", "a VM that was paused stays paused", g.status())
        finally:
            g.close()
    finally:
        if mounted:
            subprocess.run(["umount", mnt])
        if old_nr is not None:
            with open(nr_path, "w") as f:
                f.write(str(old_nr))
        shutil.rmtree(work, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
