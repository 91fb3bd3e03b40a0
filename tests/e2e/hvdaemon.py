"""hvdaemon — start and drive a real hvdumpd for the end-to-end tests.

Every daemon gets its own directory (config, state, control socket, log),
is started by the test and killed by pid when the test ends.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import hvtest

HVDUMPD = os.environ.get("HVDUMPD_BIN") or os.path.join(os.path.dirname(hvtest.HVDUMP), "hvdumpd")


class Daemon:
    def __init__(self, config_body, workdir=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="hvdumpd-e2e-")
        self.control = os.path.join(self.dir, "control.sock")
        self.state = os.path.join(self.dir, "state")
        self.conf = os.path.join(self.dir, "hvdumpd.conf")
        self.logpath = os.path.join(self.dir, "hvdumpd.log")
        self.proc = None
        self.procs = []  # every daemon this object started: close() kills them all
        self.write_config(config_body)

    def write_config(self, body):
        with open(self.conf, "w") as f:
            f.write("[daemon]\ncontrol-socket=%s\nstate-dir=%s\nprogress-interval=1\n%s" % (
                self.control, self.state, body))

    def start(self, wait=True):
        self.logf = open(self.logpath, "a")
        self.proc = subprocess.Popen([HVDUMPD, "--config", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf, start_new_session=True)
        self.procs.append(self.proc)
        if wait:
            deadline = time.time() + 30
            while not os.path.exists(self.control):
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("hvdumpd did not start:\n" + self.log())
                time.sleep(0.05)
        return self

    def log(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, text, timeout=120, count=1):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.log().count(text) >= count:
                return True
            if self.proc is not None and self.proc.poll() is not None:
                return self.log().count(text) >= count
            time.sleep(0.1)
        return False

    def status(self):
        r = subprocess.run([hvtest.HVDUMP, "status", "--control", self.control, "--json"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)

    def vm(self, name):
        st = self.status() or {}
        for v in st.get("vms", []):
            if v["name"] == name:
                return v
        return None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill9()
                return None
        return self.proc.returncode if self.proc else None

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def dumps(d):
    """The complete dumps in a directory (not reports, not .part files)."""
    if not os.path.isdir(d):
        return []
    return sorted(f for f in os.listdir(d) if f.endswith(".vmcore"))


def parts(d):
    if not os.path.isdir(d):
        return []
    return sorted(f for f in os.listdir(d) if f.endswith(".part"))


def wait_until(fn, timeout=120, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()
