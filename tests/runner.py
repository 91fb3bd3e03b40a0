"""tests/runner.py — runs every test program, reads their TAP, prints one
line per result and the closing "N passed, N failed, N skipped".

Programs: the GTest unit binaries (TAP), a bounded libFuzzer pass per
target (one result each), and the e2e scripts (TAP). A program that dies,
times out or exits non-zero without reporting a failure counts as failed.
Usage: runner.py [--only SUBSTRING]
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
FUZZ_BUILD = os.path.join(ROOT, "build-fuzz")
FUZZ_SECONDS = int(os.environ.get("HVDUMP_FUZZ_SECONDS", "8"))
# libFuzzer's corpus is kept between runs on this machine (CI binds a host
# directory here), so coverage grows from run to run; seeds are always added.
FUZZ_CORPUS = os.environ.get("HVDUMP_FUZZ_CORPUS") or os.path.join(
    os.environ.get("HVDUMP_CACHE") or os.path.expanduser("~/.cache/hvdump"), "fuzz-corpus")

TAP_RE = re.compile(r"^(not ok|ok)\b\s*\d*\s*-?\s*(.*?)(?:\s+#\s*(SKIP|TODO)\b(.*))?$")


def programs():
    for t in ["qmp", "machine", "kernel", "elfcore", "qemu-args", "descriptor", "ramsrc", "capture",
              "config", "dumpdir", "concurrency", "compress", "pagesel", "kdump-writer", "reader",
              "pageclass", "fleet"]:
        yield ("unit/" + t, [os.path.join(BUILD, "tests", "test-" + t), "--tap"], 300, True)
    # the engine's captures on many threads at once, under ThreadSanitizer: a
    # data race exits 66. GSlice is off: its futex locks are invisible to TSan.
    yield ("tsan/concurrency", ["env", "G_SLICE=always-malloc",
                                "TSAN_OPTIONS=halt_on_error=1:exitcode=66",
                                os.path.join(ROOT, "build-tsan", "tests", "test-concurrency"),
                                "--tap"], 600, True)
    for t in ["registers", "mtree", "vmcoreinfo", "qmp", "kernel", "descriptor", "pgtable",
              "pageclass", "reader-elf", "reader-kdump", "reader-flat", "printk", "kallsyms",
              "title", "s3xml", "manifest", "journal"]:
        yield ("fuzz/" + t, ["FUZZ", t], FUZZ_SECONDS + 120, False)
    for t in ["test_module_build", "test_panic", "test_triage", "test_live_dump", "test_errors", "test_q35_big",
              "test_module", "test_hostile", "test_hugetlb", "test_libvirt", "test_policies",
              "test_daemon", "test_daemon_libvirt", "test_dump_levels", "test_kernel612", "test_compare",
              "test_fleet"]:
        yield ("e2e/" + t, ["/usr/bin/python3", os.path.join(ROOT, "tests", "e2e", t + ".py")],
               900, True)


def run_fuzz(target, timeout):
    seeds = os.path.join(ROOT, "tests", "fuzz", "seeds", target)
    corpus = os.path.join(FUZZ_CORPUS, target)
    os.makedirs(corpus, exist_ok=True)
    artifacts = tempfile.mkdtemp(prefix="hvdump-fuzz-")
    try:
        argv = [os.path.join(FUZZ_BUILD, "tests", "fuzz", "fuzz-" + target),
                "-max_total_time=%d" % FUZZ_SECONDS, "-max_len=65536", "-rss_limit_mb=2048",
                "-timeout=10", "-artifact_prefix=" + artifacts + "/", corpus, seeds]
        r = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout)
        done = re.search(r"Done (\d+) runs", r.stderr)
        cov = re.findall(r"cov: (\d+)", r.stderr)
        units = len(os.listdir(corpus))
        return r.returncode, r.stderr, "%s runs, cov %s, corpus %d" % (
            done.group(1) if done else "?", cov[-1] if cov else "?", units)
    finally:
        shutil.rmtree(artifacts, ignore_errors=True)


def main():
    only = None
    if len(sys.argv) > 2 and sys.argv[1] == "--only":
        only = sys.argv[2]
    passed = failed = skipped = 0
    t0 = time.time()
    for name, argv, timeout, tap in programs():
        if only and only not in name:
            continue
        start = time.time()
        if argv[0] == "FUZZ":
            try:
                rc, err, runs = run_fuzz(argv[1], timeout)
            except subprocess.TimeoutExpired:
                rc, err, runs = -1, "timed out", "?"
            if rc == 0:
                passed += 1
                print("PASS %s: %s, no finding (%.0fs)" % (name, runs, time.time() - start))
            else:
                failed += 1
                print("FAIL %s: exit %d" % (name, rc))
                for line in err.splitlines()[-30:]:
                    print("     " + line)
            sys.stdout.flush()
            continue
        try:
            r = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                               timeout=timeout, stdin=subprocess.DEVNULL)
            out, err, rc = r.stdout, r.stderr, r.returncode
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            err, rc = "timed out after %ds" % timeout, -1
        mine_failed = 0
        for line in out.splitlines():
            m = TAP_RE.match(line)
            if line.startswith("Bail out!"):
                failed += 1
                mine_failed += 1
                print("FAIL %s: %s" % (name, line))
                continue
            if line.startswith("#   ") and mine_failed:
                print("     " + line[4:])
                continue
            if not m:
                continue
            status, desc, directive = m.group(1), m.group(2), m.group(3)
            if directive == "SKIP":
                skipped += 1
                print("SKIP %s: %s (%s)" % (name, desc, (m.group(4) or "").strip()))
            elif status == "ok":
                passed += 1
                print("PASS %s: %s" % (name, desc))
            else:
                failed += 1
                mine_failed += 1
                print("FAIL %s: %s" % (name, desc))
        if rc != 0 and mine_failed == 0:
            failed += 1
            print("FAIL %s: exited %d without reporting a failure" % (name, rc))
            for line in (err or "").splitlines()[-20:]:
                print("     " + line)
        elif mine_failed and err:
            for line in err.splitlines()[-10:]:
                print("     stderr: " + line)
        print("# %s: %.0fs" % (name, time.time() - start))
        sys.stdout.flush()
    print("# total %.0fs" % (time.time() - t0))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
