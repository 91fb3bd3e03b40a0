#!/usr/bin/env python3
"""The fleet (issue 12) end to end, against real servers started here: a
one-node Ceph (mon, memstore osd, radosgw) as the S3 store and an OpenSSH
sshd on the loopback as the sftp target.

- a panicked guest's dump goes from hvdumpd to the bucket with its
  manifest; hvdumpd is killed mid-upload and resumes; radosgw is stopped
  mid-upload and restarted, the upload completes, no duplicate objects or
  leftover multipart uploads; keep_local=until-uploaded removes the local
  copy only then; metrics and `hvdump status` show it;
- `hvdump fleet fetch` gets the dump back, verified, and crash opens it;
  a replaced or truncated object is refused;
- three more daemons (their own state dirs and host names) write to the
  same bucket at once; `fleet list` and `fleet stats` see each dump once;
- `hvdump fleet push` to sftp; an unknown host key and loose credentials
  are refused."""
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import hvtest
from hvdaemon import HVDUMPD, Daemon, wait_until

t = hvtest.Tap()
HERE = os.path.dirname(os.path.abspath(__file__))
FLEET = os.path.join(HERE, "..", "fleet")
APPEND = "sysrq_always_enabled"
BUCKET = "dumps"
PREFIX = "fleet"
work = tempfile.mkdtemp(prefix="hvdump-fleet-")
s3dir = os.path.join(work, "s3")
sshdir = os.path.join(work, "ssh")
daemons, guests = [], []


def sh(*args, timeout=120):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


def read_env(path):
    env = {}
    for line in open(path):
        if "=" in line:
            k, v = line.strip().split("=", 1)
            env[k] = v.strip("'\"")
    return env


def s3curl(method, path, data=None, query=""):
    """A raw signed request (curl's own SigV4), to look at the bucket as
    another client would and to play a store that lost or changed data."""
    args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method,
            "--aws-sigv4", "aws:amz:%s:s3" % S3["S3_REGION"],
            "--user", "%s:%s" % (S3["S3_ACCESS_KEY"], S3["S3_SECRET_KEY"]),
            "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
    if data is not None:
        args += ["--data-binary", "@" + data]
    args.append(S3["S3_ENDPOINT"] + path + query)
    r = sh(*args)
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


def bucket_keys(prefix):
    code, body = s3curl("GET", "/" + BUCKET, query="?list-type=2&prefix=" + prefix.replace("/", "%2F"))
    import re
    return re.findall(r"<Key>([^<]*)</Key>", body) if code == 200 else None


def fleet(*args):
    return sh(hvtest.HVDUMP, "fleet", *args, timeout=300)


def s3opts():
    return ["--target", "s3://%s/%s" % (BUCKET, PREFIX), "--endpoint", S3["S3_ENDPOINT"],
            "--credentials", CRED]


def journals(d):
    out = []
    for p in glob.glob(os.path.join(d.state, "uploads", "*.upload.json")):
        try:
            out.append(json.load(open(p)))
        except (OSError, ValueError):
            pass
    return out


def acked_parts(d):
    js = journals(d)
    return sum(1 for p in js[0].get("parts", []) if p) if js else 0


def policy(out, target, extra="", cred=None):
    return ("[policy ship]\nmatch=*\nformat=kdump-zstd\ndump-level=31\noutput-dir=%s\n"
            "post-action=poweroff\ntarget=%s\nendpoint=%s\ncredentials=%s\n%s"
            % (out, target, S3["S3_ENDPOINT"], cred or CRED, extra))


def start_guest(sockdir, name, mem="512M"):
    g = hvtest.Guest(action="tick", extra_append=APPEND, name=name, mem=mem,
                     qmp_path=os.path.join(sockdir, name + ".sock"))
    guests.append(g)
    return g


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def crash_bt_ok(path):
    out = hvtest.crash(path, ["bt"])
    return "sysrq_handle_crash" in out and "panic" in out, out


try:
    # ---- the store -------------------------------------------------------
    t0 = time.time()
    r = sh("bash", os.path.join(FLEET, "s3server.sh"), "start", s3dir, timeout=180)
    t.ok(r.returncode == 0, "a one-node Ceph with radosgw starts (%.1f s)" % (time.time() - t0),
         r.stdout + r.stderr)
    if r.returncode != 0:
        raise SystemExit
    S3 = read_env(os.path.join(s3dir, "env"))
    CRED = os.path.join(work, "s3.cred")
    with open(CRED, "w") as f:
        f.write("[s3]\naccess_key=%s\nsecret_key=%s\nregion=%s\n"
                % (S3["S3_ACCESS_KEY"], S3["S3_SECRET_KEY"], S3["S3_REGION"]))
    os.chmod(CRED, 0o600)
    code, body = s3curl("PUT", "/" + BUCKET)
    t.ok(code == 200, "bucket created", body)

    # ---- one host: panic -> dump -> kill -9 mid-upload -> store down -> done
    sockdir = os.path.join(work, "qmp-a")
    out_a = os.path.join(work, "dumps-a")
    metrics = os.path.join(work, "a.prom")
    os.makedirs(sockdir)
    a = Daemon("socket-dir=%s\nhost-name=host-a\nmetrics-file=%s\n\n%s" % (
        sockdir, metrics, policy(out_a, "s3://%s/%s" % (BUCKET, PREFIX),
                                 "keep_local=until-uploaded\nupload_rate=512K\n")))
    daemons.append(a)
    a.start()
    g = start_guest(sockdir, "fleet-a")
    t.ok(g.wait_for("HVDUMP-TICK 1", 180) and wait_until(lambda: a.vm("fleet-a"), 30),
         "guest fleet-a boots, hvdumpd-a watches it", a.log())
    g.qmp.hmp("sendkey alt-sysrq-c")
    t.ok(a.wait_log("upload ", 240) and wait_until(lambda: acked_parts(a) >= 1, 120),
         "panic dumped, upload queued, a first 8 MiB part acknowledged", a.log())
    js = journals(a)
    nparts = len(js[0].get("parts", [])) if js else 0
    t.ok(nparts >= 2, "the dump goes in %d parts" % nparts, js)
    a.kill9()
    t.ok(journals(a)[0]["state"] == "uploading", "hvdumpd-a killed -9 mid-upload",
         journals(a)[0].get("state"))
    a.start()
    resumed = wait_until(lambda: journals(a)[0].get("attempts", 0) >= 2 and acked_parts(a) >= 1, 60)
    t.ok(resumed, "the restarted daemon resumes the journal (attempt 2, acknowledged parts kept)",
         journals(a))
    time.sleep(2)  # the next part is on its way (16 s at 512K/s)
    t0 = time.time()
    rc = a.stop()
    took = time.time() - t0
    t.ok(rc == 0 and took < 15 and journals(a)[0]["state"] == "uploading" and
         "stopping the upload under way" in a.log(),
         "SIGTERM mid-upload: hvdumpd stops in %.1f s (the part under way cancelled), the journal kept" % took,
         (rc, a.log()[-2000:], journals(a)))
    a.start()
    t.ok(wait_until(lambda: journals(a)[0].get("attempts", 0) >= 3, 60), "started again: the upload goes on",
         journals(a))
    time.sleep(2)
    r = sh("bash", os.path.join(FLEET, "s3server.sh"), "stop-rgw", s3dir)
    t.ok(r.returncode == 0 and journals(a)[0]["state"] != "done", "radosgw stopped mid-upload",
         r.stdout + r.stderr)
    t.ok(a.wait_log("next try in", 60), "the failed part is retried later (logged)", a.log())
    st = a.status() or {}
    up = st.get("uploads", {})
    t.ok(up.get("pending") == 1 and up["uploads"][0].get("last_error"),
         "hvdump status shows the upload waiting, with its last error", st)
    text = sh(hvtest.HVDUMP, "status", "--control", a.control).stdout
    t.ok("uploads: 1 pending" in text, "hvdump status (text) lists the pending upload", text)
    time.sleep(3)
    r = sh("bash", os.path.join(FLEET, "s3server.sh"), "start-rgw", s3dir, timeout=120)
    t.ok(r.returncode == 0, "radosgw started again", r.stdout + r.stderr)
    done = a.wait_log("verified", 240)
    t.ok(done, "the upload completes after the store is back", a.log())
    j = journals(a)[0] if journals(a) else {}
    t.ok(j.get("state") == "done" and j.get("attempts", 0) >= 3,
         "journal done after %s attempts" % j.get("attempts"), j)
    keys = bucket_keys(PREFIX + "/") or []
    dk = [k for k in keys if "/dumps/" in k]
    mk = [k for k in keys if "/manifests/" in k]
    t.ok(len(dk) == 1 and len(mk) == 1 and dk[0] == PREFIX + "/" + j.get("dump_key", ""),
         "exactly one dump object and one manifest in the bucket", keys)
    code, body = s3curl("GET", "/" + BUCKET, query="?uploads=")
    t.ok(code == 200 and "<UploadId>" not in body, "no multipart upload left behind", body)
    left = [f for f in os.listdir(out_a)] if os.path.isdir(out_a) else []
    t.ok(left == [], "keep_local=until-uploaded: the local dump and report are gone now", left)
    prom = open(metrics).read() if os.path.exists(metrics) else ""
    t.ok("hvdump_dumps_total 1" in prom and "hvdump_uploads_total 1" in prom and
         "hvdump_uploads_pending 0" in prom and "hvdump_capture_seconds_total" in prom,
         "metrics textfile: 1 dump, 1 upload, none pending", prom)

    # ---- the catalogue -----------------------------------------------------
    r = fleet("list", "--json", *s3opts())
    lst = json.loads(r.stdout) if r.returncode == 0 else []
    m = lst[0] if lst else {}
    t.ok(len(lst) == 1 and m.get("host") == "host-a" and m.get("vm_name") == "fleet-a" and
         m.get("kernel") == hvtest.KVER and m.get("format") == "kdump-zstd" and
         len(m.get("dump_sha256", "")) == 64 and
         "sysrq" in (m.get("title") or "") and m.get("signature") and m.get("build_id"),
         "fleet list: the manifest (host, VM, kernel, build id, format, level, title, signature, checksum)",
         r.stdout + r.stderr)
    fetched = os.path.join(work, "fetched")
    os.makedirs(fetched)
    r = fleet("fetch", m.get("id", "none"), fetched, *s3opts())
    files = os.listdir(fetched)
    t.ok(r.returncode == 0 and len(files) == 1 and os.path.getsize(os.path.join(fetched, files[0])) ==
         m.get("dump_size"), "fleet fetch gets the dump back, size and SHA-256 checked", r.stdout + r.stderr)
    if files:
        good, text = crash_bt_ok(os.path.join(fetched, files[0]))
        t.ok(good, "crash opens the fetched dump: bt through sysrq_handle_crash", text)

    conv = os.path.join(work, "converted")
    os.makedirs(conv)
    r = fleet("fetch", m.get("id", "none"), conv, "--format", "elf", "--dump-level", "31", *s3opts())
    names = sorted(os.listdir(conv), key=lambda n: n.endswith(".vmcore"))
    info = sh(hvtest.HVDUMP, "info", "--json", os.path.join(conv, names[-1])) if len(names) == 2 else None
    t.ok(r.returncode == 0 and len(names) == 2 and names[-1].endswith("-elf-d31.vmcore") and
         info is not None and info.returncode == 0 and '"elf"' in info.stdout,
         "fleet fetch --format elf --dump-level 31: the verified dump and its ELF conversion",
         (r.stdout + r.stderr, names, info.stdout[:500] if info else None))

    # ---- many hosts, one bucket ---------------------------------------------
    # host-d's credentials file is readable by others: its upload fails for
    # good until the file is fixed and hvdumpd reloaded (SIGHUP)
    loose_d = os.path.join(work, "host-d.cred")
    shutil.copy(CRED, loose_d)
    os.chmod(loose_d, 0o644)
    more = []
    for h in ("b", "c", "d"):
        sd = os.path.join(work, "qmp-" + h)
        os.makedirs(sd)
        d = Daemon("socket-dir=%s\nhost-name=host-%s\n\n%s" % (
            sd, h, policy(os.path.join(work, "dumps-" + h), "s3://%s/%s" % (BUCKET, PREFIX),
                          cred=loose_d if h == "d" else None)))
        daemons.append(d)
        d.start()
        more.append((h, d, start_guest(sd, "fleet-" + h, mem="384M")))
    up = all(g.wait_for("HVDUMP-TICK 1", 240) and wait_until(lambda: d.vm("fleet-" + h), 30)
             for h, d, g in more)
    t.ok(up, "three more hosts, each a daemon with its own state dir and a guest")
    for h, d, g in more:
        g.qmp.hmp("sendkey alt-sysrq-c")
    done = all(d.wait_log("verified", 300) for h, d, g in more[:2])
    t.ok(done, "two more panics are uploaded at the same time", "\n".join(d.log() for h, d, g in more))
    dd = more[2][1]
    failed = dd.wait_log("failed for good", 240)
    st = (dd.status() or {}).get("uploads", {}) if failed else {}
    t.ok(failed and "0600" in dd.log() and S3["S3_SECRET_KEY"] not in dd.log() and st.get("failed") == 1 and
         not any("host-d" in k for k in bucket_keys(PREFIX + "/manifests/") or []),
         "host-d: credentials readable by others: the upload fails for good, the dump waits", dd.log())
    os.chmod(loose_d, 0o600)
    dd.proc.send_signal(signal.SIGHUP)
    t.ok(dd.wait_log("queued again", 60) and dd.wait_log("verified", 240),
         "host-d: credentials fixed, hvdumpd reloaded: the failed upload is queued again and completes",
         dd.log())
    r = fleet("list", "--json", *s3opts())
    lst = json.loads(r.stdout) if r.returncode == 0 else []
    hosts = sorted(x.get("host") for x in lst)
    ids = [x.get("id") for x in lst]
    t.ok(hosts == ["host-a", "host-b", "host-c", "host-d"] and len(set(ids)) == 4,
         "fleet list sees the four dumps exactly once", r.stdout + r.stderr)
    r = fleet("list", "--vm", "fleet-[bc]", "--json", *s3opts())
    sel = json.loads(r.stdout) if r.returncode == 0 else []
    t.ok(sorted(x.get("vm_name") for x in sel) == ["fleet-b", "fleet-c"], "fleet list --vm GLOB", r.stdout)
    r = fleet("stats", "--json", *s3opts())
    stats = json.loads(r.stdout) if r.returncode == 0 else {}
    t.ok(r.returncode == 0 and sorted(stats.get("host", {}).items()) ==
         [("host-a", 1), ("host-b", 1), ("host-c", 1), ("host-d", 1)] and
         sum(stats.get("signature", {}).values()) == 4, "fleet stats counts by host and signature", r.stdout)
    local_b = os.path.join(work, "dumps-b")
    kept = [f for f in os.listdir(local_b) if f.endswith(".vmcore")]
    rep = json.load(open(os.path.join(local_b, kept[0] + ".json"))) if kept else {}
    t.ok(len(kept) == 1 and rep.get("upload", {}).get("state") == "done",
         "keep_local=yes: the local dump stays, its report says where it went", rep.get("upload"))

    # ---- fetch refuses what the store changed ---------------------------------
    victim = next((x for x in lst if x.get("host") == "host-b"), {})
    bogus = os.path.join(work, "bogus")
    with open(bogus, "wb") as f:
        f.write(os.urandom(victim.get("dump_size", 1024)))
    code, _ = s3curl("PUT", "/%s/%s/%s" % (BUCKET, PREFIX, victim.get("dump_key", "x")), data=bogus)
    got = os.path.join(work, "got")
    os.makedirs(got)
    r = fleet("fetch", victim.get("id", "x"), got, *s3opts())
    t.ok(code == 200 and r.returncode == 1 and "SHA-256" in r.stderr and not os.listdir(got),
         "fetch refuses a replaced object (same size, other bytes), leaves no file", r.stderr)
    with open(bogus, "wb") as f:
        f.write(b"KDUMP   " * 100)
    s3curl("PUT", "/%s/%s/%s" % (BUCKET, PREFIX, victim.get("dump_key", "x")), data=bogus)
    r = fleet("fetch", victim.get("id", "x"), got, *s3opts())
    t.ok(r.returncode == 1 and "bytes" in r.stderr and not os.listdir(got),
         "fetch refuses a truncated object", r.stderr)

    # ---- sftp --------------------------------------------------------------------
    r = sh("bash", os.path.join(FLEET, "sshd.sh"), "start", sshdir, str(free_port()))
    t.ok(r.returncode == 0, "a real OpenSSH sshd on the loopback", r.stdout + r.stderr)
    SSH = read_env(os.path.join(sshdir, "env"))
    src = os.path.join(local_b, kept[0]) if kept else bogus
    jdir = os.path.join(work, "push")
    r = sh(hvtest.HVDUMP, "fleet", "push", src, "--target", SSH.get("SFTP_URL", "sftp://x/y"),
           "--credentials", SSH.get("SFTP_IDENTITY", ""), "--known-hosts", SSH.get("SFTP_KNOWN_HOSTS", ""),
           "--journal-dir", jdir, "--host", "host-b", "--wait", "0", timeout=300)
    store = os.path.join(sshdir, "store")
    sdumps = glob.glob(os.path.join(store, "dumps", "*", "*", "*", "*"))
    smans = glob.glob(os.path.join(store, "manifests", "*", "*", "*", "*.json"))
    sm = json.load(open(smans[0])) if smans else {}
    same = bool(sdumps) and open(sdumps[0], "rb").read() == open(src, "rb").read()
    t.ok(r.returncode == 0 and len(sdumps) == 1 and len(smans) == 1 and same and
         sm.get("vm_name") == "fleet-b" and sm.get("signature"),
         "fleet push to sftp: the dump (byte for byte) and its manifest", r.stdout + r.stderr)
    empty_kh = os.path.join(work, "known_hosts.empty")
    open(empty_kh, "w").close()
    os.chmod(empty_kh, 0o600)
    r = sh(hvtest.HVDUMP, "fleet", "push", src, "--target", SSH.get("SFTP_URL", "sftp://x/y"),
           "--credentials", SSH.get("SFTP_IDENTITY", ""), "--known-hosts", empty_kh,
           "--journal-dir", os.path.join(work, "push2"), "--wait", "0")
    t.ok(r.returncode == 1 and "host key" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
         "an unknown host key is refused (one line, exit 1)", r.stderr)
    loose = os.path.join(work, "loose.cred")
    shutil.copy(CRED, loose)
    os.chmod(loose, 0o644)
    r = sh(hvtest.HVDUMP, "fleet", "push", src, "--target", "s3://%s/x" % BUCKET, "--endpoint",
           S3["S3_ENDPOINT"], "--credentials", loose, "--journal-dir", os.path.join(work, "push3"))
    t.ok(r.returncode == 1 and "0600" in r.stderr and S3["S3_SECRET_KEY"] not in r.stderr,
         "credentials readable by others are refused, the secret never printed", r.stderr)
    bad = os.path.join(work, "bad.conf")
    with open(bad, "w") as f:
        f.write("[policy x]\nmatch=*\ntarget=ftp://host/x\n")
    r = sh(HVDUMPD, "--config", bad, "--check")
    t.ok(r.returncode == 2 and "bad.conf:3:" in r.stderr, "hvdumpd --check: a bad target= names its line",
         r.stderr)
finally:
    for g in guests:
        g.close()
    for d in daemons:
        d.close()
    if os.path.exists(os.path.join(sshdir, "pid")):
        sh("bash", os.path.join(FLEET, "sshd.sh"), "stop", sshdir)
    if os.path.isdir(s3dir):
        sh("bash", os.path.join(FLEET, "s3server.sh"), "stop", s3dir, timeout=120)
    shutil.rmtree(work, ignore_errors=True)
    t.done()
