"""hvdump_guest.ko as source: checkpatch-clean, warning-free (W=1) against
the guest kernel's headers and Debian 12's 6.12 headers, module parameters
documented in modinfo, DKMS metadata in step with the project."""
import os
import re
import shutil
import subprocess
import tempfile

from hvtest import Tap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOD = os.path.join(ROOT, "guest-module")


def kbuild(kdir, work):
    out = os.path.join(work, "hvdump_guest.ko")
    r = subprocess.run(["sh", os.path.join(MOD, "kbuild.sh"), MOD, os.path.join(work, "src"), kdir, out],
                       capture_output=True, text=True, timeout=600)
    return r.returncode == 0 and os.path.exists(out), r.stdout + r.stderr, out


def main():
    t = Tap()
    cp = os.environ.get("HVDUMP_CHECKPATCH", "")
    files = [os.path.join(MOD, "hvdump_guest.c"), os.path.join(MOD, "hvdump_desc.h"),
             os.path.join(ROOT, "tests", "guest", "crashtest", "hvdump_crashtest.c")]
    if cp and os.path.exists(cp):
        for f in files:
            r = subprocess.run(["perl", cp, "--no-tree", "-f", "--terse", f], capture_output=True, text=True)
            t.ok(r.returncode == 0 and r.stdout.strip() == "",
                 "checkpatch clean: " + os.path.relpath(f, ROOT), r.stdout + r.stderr)
    else:
        t.skip("checkpatch", "checkpatch.pl not set up")

    work = tempfile.mkdtemp(prefix="hvdump-kbuild-")
    try:
        ok, log, ko = kbuild(os.environ["HVDUMP_KHEADERS"], os.path.join(work, "6.1"))
        t.ok(ok, "builds warning-free (W=1) against %s" % os.path.basename(os.environ["HVDUMP_KHEADERS"]), log)
        k612 = os.environ.get("HVDUMP_KHEADERS_612", "")
        if k612 and os.path.isdir(k612):
            ok612, log612, _ = kbuild(k612, os.path.join(work, "6.12"))
            t.ok(ok612, "builds warning-free (W=1) against %s" % os.path.basename(k612), log612)
        else:
            t.skip("builds against 6.12 headers", "no linux-headers-6.12 package here")
        if ok:
            r = subprocess.run(["modinfo", ko], capture_output=True, text=True)
            parms = dict(re.findall(r"^parm:\s+(\w+):(.*)$", r.stdout, re.M))
            t.ok(set(parms) == {"port", "publish_vmcoreinfo", "dump_on_oops"} and
                 all(len(v) > 20 for v in parms.values()) and re.search(r"^license:\s+GPL$", r.stdout, re.M),
                 "modinfo documents every parameter", r.stdout)
        with open(os.path.join(MOD, "dkms.conf")) as f:
            dkms = f.read()
        with open(os.path.join(ROOT, "meson.build")) as f:
            version = re.search(r"version : '([^']+)'", f.read()).group(1)
        t.ok('BUILT_MODULE_NAME[0]="hvdump_guest"' in dkms and 'PACKAGE_VERSION="%s"' % version in dkms,
             "dkms.conf names the module and the project's version", dkms)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
