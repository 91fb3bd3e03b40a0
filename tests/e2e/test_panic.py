"""sysrq panic of the Debian guest → `hvdump run` → crash and drgn."""
import os
import re
import shutil
import stat
import subprocess
import tempfile

from hvtest import KVER, Tap, crash, drgn, run_panic

PANIC = "Kernel panic - not syncing: sysrq triggered crash"


def main():
    t = Tap()
    out = tempfile.mkdtemp(prefix="hvdump-e2e-panic-")
    try:
        r, path = run_panic(out, "sysrq")
        t.ok(r.returncode == 3, "run exits 3 when the guest panics", r.stderr + r.stdout[-3000:])
        t.ok(("vmcore: " + path) in r.stdout, "run prints the vmcore path", r.stdout[-2000:])
        st = os.stat(path) if os.path.exists(path) else None
        t.ok(st is not None and stat.S_IMODE(st.st_mode) == 0o600 and
             not os.path.exists(path + ".part"), "vmcore is mode 0600 and no .part is left",
             os.listdir(out))
        t.ok(st is not None and st.st_blocks * 512 < st.st_size // 2,
             "vmcore is sparse (untouched guest RAM is not written)",
             st and "%d allocated of %d" % (st.st_blocks * 512, st.st_size))
        if st is None:
            return t.done()
        c = crash(path, ["sys", "bt", "log"])
        t.ok('PANIC: "%s"' % PANIC in c, "crash sys shows the panic string", c[:3000])
        bt = c[c.find("PID:"):]
        t.ok(re.search(r"#\d+ \[[0-9a-f]+\] sysrq_handle_crash at", bt) is not None and
             re.search(r"#\d+ \[[0-9a-f]+\] panic at", bt) is not None,
             "crash bt of the panicking task runs through panic and sysrq_handle_crash", bt[:3000])
        t.ok(re.search(r"\] " + re.escape(PANIC), c) is not None, "crash log holds the panic line",
             c[-3000:])
        t.ok("RELEASE: " + KVER in c, "crash sys shows the guest's release", c[:2000])
        d, err = drgn(path)
        t.ok(d is not None and d["release"] == KVER,
             "drgn (no DRGN_* variable) reads init_uts_ns release", err)
        t.ok(d is not None and PANIC in d["dmesg"], "drgn reads the dmesg with the panic line",
             err if d is None else d["dmesg"][-2000:])
        # makedumpfile filters it with nothing but the dump's own VMCOREINFO
        kd = os.path.join(out, "sysrq.kdump")
        m = subprocess.run(["makedumpfile", "-c", "-d", "31", path, kd], capture_output=True,
                           text=True, errors="replace", timeout=300)
        ok = m.returncode == 0 and os.path.exists(kd)
        t.ok(ok and os.path.getsize(kd) < st.st_blocks * 512,
             "makedumpfile -c -d 31 (VMCOREINFO from the dump) filters it",
             m.stdout[-1500:] + m.stderr[-1500:])
        c = crash(kd, ["sys", "bt"]) if ok else ""
        t.ok('PANIC: "%s"' % PANIC in c and "sysrq_handle_crash" in c,
             "crash reads makedumpfile's kdump-compressed output", c[:2000])
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
