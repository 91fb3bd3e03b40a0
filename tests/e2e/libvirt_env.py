"""libvirt_env — a real libvirtd for hvdump's end-to-end tests, and transient
test domains on it.

Libvirtd() starts virtlogd and libvirtd only when qemu:///system does not
answer already (there is no systemd here: they run in the foreground as
children of the test, their output in a log file), remembers the pids it
started and stop() ends those and nothing else. Domain() creates a
transient domain (`virsh create`) booting the test kernel and initramfs
under TCG, named hvdump-test-<what>-<pid>; destroy() removes it. Use both
in try/finally: nothing is left behind when a test fails.

Facts this relies on (libvirt 9.0, Debian 12, measured): the
libvirt-daemon-system package must be installed (it creates the
libvirt-qemu user), /var/log/libvirt must exist, QEMU runs as libvirt-qemu
(so the kernel and initramfs are copied where that user can read them),
and QEMU's pid is in /run/libvirt/qemu/NAME.pid.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import hvtest

URI = "qemu:///system"
SOCKET = "/run/libvirt/libvirt-sock"
VIRTLOGD_SOCKET = "/run/libvirt/virtlogd-sock"
DAEMONS = {"virtlogd": "/usr/sbin/virtlogd", "libvirtd": "/usr/sbin/libvirtd"}


def virsh(*args, timeout=120, check=False):
    r = subprocess.run(["virsh", "-c", URI] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, errors="replace", timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("virsh %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def _alive(pid):
    """Not gone and not a zombie (PID 1 here may not reap)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _running(comm):
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                if f.read().strip() == comm and _alive(int(d)):
                    return True
        except OSError:
            pass
    return False


class Libvirtd:
    """libvirtd (and virtlogd) for the test; start() raises with the
    reason when they cannot run here: a test must then fail, not skip."""

    def __init__(self):
        self.procs = []   # the daemons we started (Popen), nothing else
        self.dir = tempfile.mkdtemp(prefix="hvdump-libvirtd-")
        self.log = os.path.join(self.dir, "daemons.log")
        self.started_any = False

    def answers(self):
        try:
            return virsh("version", timeout=20).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def start(self, timeout=60):
        if os.path.exists(SOCKET) and self.answers():
            return self
        for path in DAEMONS.values():
            if not os.access(path, os.X_OK):
                raise RuntimeError("%s is missing: apt-get install libvirt-daemon-system "
                                   "libvirt-clients" % path)
        os.makedirs("/var/log/libvirt", exist_ok=True)
        log = open(self.log, "a")
        for name in ("virtlogd", "libvirtd"):
            if name == "virtlogd" and _running("virtlogd"):
                continue
            p = subprocess.Popen([DAEMONS[name]], stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            self.procs.append(p)
            self.started_any = True
            want = VIRTLOGD_SOCKET if name == "virtlogd" else SOCKET
            deadline = time.time() + timeout
            while not os.path.exists(want):
                if p.poll() is not None or time.time() > deadline:
                    raise RuntimeError("%s did not start (exit %s): %s" % (
                        name, p.poll(), self.daemon_log()[-2000:]))
                time.sleep(0.05)
        deadline = time.time() + timeout
        while not self.answers():
            if time.time() > deadline or any(p.poll() is not None for p in self.procs):
                raise RuntimeError("libvirtd does not answer on %s: %s" % (URI, self.daemon_log()[-2000:]))
            time.sleep(0.2)
        return self

    def daemon_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """Ends only the daemons start() started (libvirtd first)."""
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)


class GuestFiles:
    """The test kernel and initramfs where QEMU's user (libvirt-qemu) can
    read them (~/.cache of root is not)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hvdump-libvirt-guest-")
        os.chmod(self.dir, 0o755)
        self.kernel = os.path.join(self.dir, "vmlinuz")
        self.initrd = os.path.join(self.dir, "initrd.img")
        shutil.copyfile(hvtest.KERNEL, self.kernel)
        shutil.copyfile(hvtest.INITRD, self.initrd)
        os.chmod(self.kernel, 0o644)
        os.chmod(self.initrd, 0o644)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def domain_xml(name, files, console, shared=True, action="tick", mem_mib=512, vcpus=2,
               extra_append="", panic=True, vmcoreinfo=True, on_crash="preserve"):
    """A TCG domain booting the test kernel straight into the test
    initramfs, its serial console in the file console."""
    backing = ("  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>\n"
               if shared else "")
    features = "<acpi/>" + ("<vmcoreinfo state='on'/>" if vmcoreinfo else "")
    panic_dev = ("    <panic model='isa'><address type='isa' iobase='0x505'/></panic>\n"
                 if panic else "")
    return """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{mem}</memory>
  <vcpu>{vcpus}</vcpu>
{backing}  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features>{features}</features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>{on_crash}</on_crash>
  <devices>
    <serial type='file'><source path='{console}'/><target port='0'/></serial>
{panic}  </devices>
</domain>
""".format(name=name, mem=mem_mib, vcpus=vcpus, backing=backing, kernel=files.kernel,
           initrd=files.initrd, cmdline=hvtest.append_line(action, extra_append).strip(),
           features=features, on_crash=on_crash, console=console, panic=panic_dev)


class Domain:
    """A transient test domain, started at once."""

    def __init__(self, files, what, **xml_kw):
        self.name = "hvdump-test-%s-%d" % (what, os.getpid())
        self.dir = tempfile.mkdtemp(prefix="hvdump-libvirt-dom-")
        os.chmod(self.dir, 0o755)
        self.log = os.path.join(self.dir, "console.log")
        self.xml = os.path.join(self.dir, "domain.xml")
        with open(self.xml, "w") as f:
            f.write(domain_xml(self.name, files, self.log, **xml_kw))
        virsh("destroy", self.name)  # a leftover of an interrupted run
        virsh("create", self.xml, check=True)
        self.uuid = virsh("domuuid", self.name, check=True).stdout.strip()

    def id(self):
        return virsh("domid", self.name).stdout.strip()

    def state(self):
        """`virsh domstate --reason`, or None when the domain is gone."""
        r = virsh("domstate", "--reason", self.name)
        return r.stdout.strip() if r.returncode == 0 else None

    def qemu_pid(self):
        with open("/run/libvirt/qemu/%s.pid" % self.name) as f:
            return int(f.read().strip())

    def console(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_for(self, text, timeout=120, count=1):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.console().count(text) >= count:
                return True
            time.sleep(0.2)
        return False

    def ticks(self):
        return sum(1 for line in self.console().splitlines() if line.startswith("HVDUMP-TICK"))

    def boots(self):
        return self.console().count("Linux version")

    def wait_state(self, prefix, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.state()
            if s is not None and s.startswith(prefix):
                return True
            time.sleep(0.2)
        return False

    def qemu_log(self):
        """libvirt's log of this domain's QEMU (command line, QEMU's stderr)."""
        try:
            with open("/var/log/libvirt/qemu/%s.log" % self.name, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def destroy(self):
        virsh("destroy", self.name)
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            os.unlink("/var/log/libvirt/qemu/%s.log" % self.name)
        except OSError:
            pass
