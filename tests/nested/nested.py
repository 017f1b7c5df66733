#!/usr/bin/env python3
"""The nested real host: hvrt images under KVM's Hyper-V emulation and QEMU's VMBus server.

An outer QEMU (TCG, -cpu max, which emulates AMD SVM) boots Debian's kernel with an initramfs
(tests/nested/build-rig.sh builds it once into build/nested); its /init (tests/nested/init.sh)
loads kvm-amd and runs every test image in an inner QEMU with -enable-kvm, hv-* CPU flags and
-device vmbus-bridge, then powers off. The images and the list of inner command lines travel in
a second initramfs archive appended to the cached one. One outer boot runs all the tests given.

The inner QEMU is the machine's own (Debian's qemu-system-x86_64, qemu="system") or the project's
rebuild (tests/qemu/build-qemu.sh, cached in build/qemu: QEMU 7.2 with the hvrt-test VMBus device,
machine pc only, qemu="hvrt"). run_tests builds the latter first (at once when cached) and the rig
always holds both.

    from nested import NestedTest, run_tests
    results = run_tests([NestedTest("hello", "build/examples/hello/hello.elf")])
    results["hello"].output, results["hello"].status

By hand, one Gen1 image (add --gen2 for a GPT disk image, --console for the whole outer console),
or the rig's own Linux guest (Debian's kernel with hv_vmbus, a reference VMBus client); --hvrt-qemu
runs it in the rebuilt QEMU (add --extra=-device --extra=hvrt-test for the test device):

    python3 tests/nested/nested.py build/examples/hello/hello.elf "some args"
    python3 tests/nested/nested.py --linux --extra=-trace --extra='vmbus_*'
    python3 tests/nested/nested.py --hvrt-qemu --extra=-device --extra=hvrt-test build/examples/lsvmbus/lsvmbus.elf
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cpio  # noqa: E402

QEMU = "qemu-system-x86_64"
# Where build-rig.sh puts tests/qemu/build-qemu.sh's binary in the nested host (qemu="hvrt").
HVRT_QEMU = "/opt/hvrt-qemu/qemu-system-x86_64"
# The inner QEMUs a test can ask for, and the kinds each can run: the rebuilt one has the pc
# (i440fx) machine only, so no q35 and no OVMF (Gen2).
QEMUS = {"system": ("gen1-elf", "gen2-img", "linux"), "hvrt": ("gen1-elf", "linux")}
BUILD_QEMU = os.path.join(os.path.dirname(HERE), "qemu", "build-qemu.sh")
OVMF = "/usr/share/ovmf/OVMF.fd"
# What KVM offers of Hyper-V; kvm=off hides KVM's own signature so that a guest picks Hyper-V.
HV_CPU = "qemu64,kvm=off,hv-relaxed,hv-vapic,hv-time,hv-vpindex,hv-synic,hv-stimer,hv-runtime,hv-frequencies"
KINDS = ("gen1-elf", "gen2-img", "linux")
# The innermost Linux guest's command line (kind "linux"); a test's args are appended. quiet keeps
# the kernel's boot log off the serial port (each byte is a VM exit there); linux-init.sh prints
# what matters from dmesg. panic=-1 with -no-reboot ends the inner QEMU if the kernel panics.
LINUX_CMDLINE = "console=ttyS0 quiet panic=-1"
# What build-rig.sh makes for it, in the rig's directory: Debian's kernel (the outer host's own)
# and the initramfs with busybox, hv_vmbus.ko and tests/nested/linux-init.sh as /init.
RIG_KERNEL = "vmlinuz"
RIG_LINUX_INITRD = "linux-initrd.gz"
# Outer boots a test marked retry is given when the outer QEMU dies while it runs. OVMF with an
# in-kernel irqchip trips the outer abort in about 1 run in 2 here (docs/testing.md): 3 boots would
# still fail about 1 time in 6, 6 boots about 1 in 40.
ATTEMPTS = int(os.environ.get("HVRT_NESTED_ATTEMPTS", "12"))
# Seconds the outer boot itself may take (kernel, modules), on top of the inner runs' timeouts.
HOST_BOOT_TIMEOUT = 180
OUTER_CMDLINE = "console=ttyS0 quiet panic=-1"
# Seconds past a test's own limit after which the nested host counts as hung: init.sh kills the
# inner QEMU at the limit, so only a host that stopped itself (seen once under TCG, cause unknown)
# gets here. The outer QEMU is killed then, not at the end of the whole run's timeout.
HANG_GRACE = 30

MARK = "@@hvrt-nested "
_END = re.compile(r"@@hvrt-nested end (\S+) status (\S+) time (\S+)")
_BEGIN = re.compile(r"@@hvrt-nested begin (\S+)")


class NestedTest:
    """One inner QEMU run.

    kind     "gen1-elf": a multiboot image, inner -kernel IMAGE -append ARGS (machine pc);
             "gen2-img": a GPT disk with an ESP booted by OVMF (machine q35, no command line);
             "linux": a Linux guest, inner -kernel KERNEL -initrd IMAGE -append "LINUX_CMDLINE ARGS"
             (machine pc, 256 MiB); IMAGE None is the rig's initramfs (tests/nested/linux-init.sh:
             hv_vmbus connects, reports and unloads, then the guest powers off: exit status 0)
    args     the image's command line (gen1-elf), or words added to the kernel's (linux)
    kernel   the Linux kernel (linux only); None: the rig's, Debian's kernel the outer host runs
    cpu      the inner -cpu; HV_CPU by default, e.g. HV_CPU + ",hv-crash", or "qemu64" for none
    vmbus    add -device vmbus-bridge (QEMU's VMBus server)
    extra    more inner QEMU arguments, e.g. ["-d", "guest_errors"] or ["-trace", "vmbus_*"]
    memory   inner RAM in MiB (64 for gen1-elf, 256 for gen2-img by default)
    timeout  seconds before the inner QEMU is killed (its status is then "timeout")
    retry    run it again in a new outer boot (up to ATTEMPTS in all) when the outer QEMU dies during
             it: OVMF in the nested host trips a known TCG abort about 1 run in 2 (docs/testing.md)
    machine  the inner -machine, when not the kind's default; "q35,kernel-irqchip=off" keeps OVMF
             clear of that abort, at the price of SynIC (and so VMBus and synthetic timers)
    qemu     the inner QEMU: "system", this machine's Debian QEMU 7.2; or "hvrt", the same QEMU
             rebuilt with the project's devices (tests/qemu/build-qemu.sh: -device hvrt-test, in
             extra), KVM and the pc machine only, so gen1-elf and linux tests only
    """

    def __init__(self, name, image, kind="gen1-elf", args="", cpu=HV_CPU, vmbus=True, extra=(), memory=None,
                 timeout=60, retry=False, machine=None, kernel=None, qemu="system"):
        if kind not in KINDS:
            raise ValueError("%s: unknown kind %r (one of %s)" % (name, kind, ", ".join(KINDS)))
        if qemu not in QEMUS:
            raise ValueError("%s: unknown qemu %r (one of %s)" % (name, qemu, ", ".join(QEMUS)))
        if kind not in QEMUS[qemu]:
            raise ValueError("%s: the %s QEMU cannot run a %s test (it has the pc machine only, no q35 or OVMF)"
                             % (name, qemu, kind))
        if qemu == "hvrt" and machine and not re.match(r"pc($|[-,])", machine):
            raise ValueError("%s: the hvrt QEMU has the pc machine only, not %r" % (name, machine))
        if not name or re.search(r"\s", name):
            raise ValueError("test name %r: must be non-empty, without spaces" % name)
        if args and kind == "gen2-img":
            raise ValueError("%s: a %s image takes no command line" % (name, kind))
        if kind != "linux" and (image is None or kernel is not None):
            raise ValueError("%s: a %s test needs an image and takes no kernel" % (name, kind))
        self.name = name
        self.image = image
        self.kernel = kernel
        self.kind = kind
        self.args = args
        self.cpu = cpu
        self.vmbus = vmbus
        self.extra = list(extra)
        self.memory = memory or (64 if kind == "gen1-elf" else 256)
        self.timeout = int(timeout)
        self.retry = retry
        self.machine = machine or ("q35" if kind == "gen2-img" else "pc")
        self.qemu = qemu
        # The files the rig makes (image or kernel left None) are filled in by use_rig().
        self.from_rig = []

    def use_rig(self, rig_dir):
        """Fills in what the test takes from the rig: a linux test's kernel and initramfs, unless given."""
        if self.kind != "linux":
            return
        if self.kernel is None:
            self.kernel = os.path.join(rig_dir, RIG_KERNEL)
            self.from_rig.append(self.kernel)
        if self.image is None:
            self.image = os.path.join(rig_dir, RIG_LINUX_INITRD)
            self.from_rig.append(self.image)

    def files(self):
        """The files on this machine the test needs in the nested host, in inner_command's order."""
        return [self.kernel, self.image] if self.kind == "linux" else [self.image]

    def inner_command(self, guest_image, guest_kernel=None):
        """The inner QEMU command line, with the image (a linux test's initramfs) at guest_image and a
        linux test's kernel at guest_kernel inside the nested host."""
        cmd = [HVRT_QEMU if self.qemu == "hvrt" else QEMU, "-nodefaults", "-machine", self.machine,
               "-m", str(self.memory), "-enable-kvm", "-cpu", self.cpu, "-display", "none", "-serial", "stdio",
               "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=1"]
        if self.vmbus:
            cmd += ["-device", "vmbus-bridge"]
        if self.kind == "gen1-elf":
            cmd += ["-kernel", guest_image]
            if self.args:
                cmd += ["-append", self.args]
        elif self.kind == "linux":
            cmd += ["-kernel", guest_kernel, "-initrd", guest_image,
                    "-append", (LINUX_CMDLINE + " " + self.args).strip()]
        else:
            # snapshot=on: OVMF may write to the ESP, and an image can serve several tests.
            cmd += ["-bios", OVMF, "-drive", "file=%s,format=raw,if=ide,snapshot=on" % guest_image]
        return cmd + self.extra


class NestedResult:
    """What one test gave.

    output     what the inner QEMU printed (serial, then its own messages), "\\r" removed
    status     the inner QEMU's exit status, or None when it did not end by itself
    timed_out  the inner QEMU ran past its timeout and was killed
    attempts   outer boots in which the test started
    seconds    the inner run's time, as the nested host measured it
    reason     why the test could not run or finish, for failures the rig caused (else None)
    """

    def __init__(self, output="", status=None, timed_out=False, attempts=0, seconds=None, reason=None):
        self.output = output
        self.status = status
        self.timed_out = timed_out
        self.attempts = attempts
        self.seconds = seconds
        self.reason = reason

    def __repr__(self):
        return "NestedResult(status=%r, timed_out=%r, attempts=%r, seconds=%r, reason=%r)" % (
            self.status, self.timed_out, self.attempts, self.seconds, self.reason)


class HostBoot:
    """One outer boot: the whole console, when the host came up, and how it ended."""

    def __init__(self, console, exit_code, timed_out, stderr, elapsed, host_up, hung=None):
        self.console = console
        self.exit_code = exit_code
        self.timed_out = timed_out
        self.stderr = stderr
        self.elapsed = elapsed
        self.host_up = host_up    # seconds from the outer QEMU's start to the host's "host up" line
        self.hung = hung          # the test the host stopped in (killed by the watchdog), or None

    def finished(self):
        return MARK + "done" in self.console


# Every outer boot run_tests made, for timing reports and post-mortems.
boots = []


# Seconds the last build_qemu took (None: not run), for timing reports.
qemu_build_seconds = None


def build_qemu(qemu_dir="build/qemu"):
    """Builds the project's QEMU (tests/qemu/build-qemu.sh) into qemu_dir unless it is cached there;
    returns its binary's path. Raises CalledProcessError when the build fails. A cold build (some
    3 minutes, more when apt must fetch the build dependencies) says so on stderr when it starts."""
    global qemu_build_seconds
    start = time.monotonic()
    proc = subprocess.Popen(["sh", BUILD_QEMU, qemu_dir], stdin=subprocess.DEVNULL)
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        sys.stderr.write("nested: the hvrt QEMU is not cached in %s: building it (tests/qemu/build-qemu.sh; "
                         "about 3 min cold, more with apt, or waiting for another build)\n" % qemu_dir)
        sys.stderr.flush()
        proc.wait()
    qemu_build_seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, ["sh", BUILD_QEMU, qemu_dir])
    return os.path.join(qemu_dir, "qemu-system-x86_64")


def build_rig(rig_dir, test_qemu=None):
    """Builds the outer guest into rig_dir unless it is already there (build-rig.sh keeps a stamp);
    test_qemu: the rebuilt QEMU to pack at HVRT_QEMU as well."""
    env = dict(os.environ)
    env.pop("HVRT_RIG_TEST_QEMU", None)
    if test_qemu:
        env["HVRT_RIG_TEST_QEMU"] = test_qemu
    subprocess.run(["sh", os.path.join(HERE, "build-rig.sh"), rig_dir], check=True, env=env)


def _write_test_archive(tests, path):
    """The archive appended to base.cpio.gz: /tests/images/* and /tests/manifest."""
    guest_paths = {}
    manifest = []
    with cpio.open_output(path, True) as out:
        w = cpio.Writer(out)
        w.directory("tests/images")
        for t in tests:
            guest_files = []
            for host in t.files():
                key = os.path.realpath(host)
                if key not in guest_paths:
                    guest = "/tests/images/%d-%s" % (len(guest_paths), os.path.basename(host))
                    with open(host, "rb") as f:
                        w.file(guest[1:], f.read())
                    guest_paths[key] = guest
                guest_files.append(guest_paths[key])
            if t.kind == "linux":
                cmd = t.inner_command(guest_files[1], guest_files[0])
            else:
                cmd = t.inner_command(guest_files[0])
            for arg in cmd:
                if "\n" in arg:
                    raise ValueError("%s: an inner QEMU argument holds a newline: %r" % (t.name, arg))
            manifest.append("test %s %d" % (t.name, t.timeout))
            manifest += ["arg " + arg for arg in cmd]
            manifest.append("run")
        w.file("tests/manifest", ("\n".join(manifest) + "\n").encode())
        w.close()


def boot_host(tests, rig_dir, console_out=None):
    """Boots the nested host once with tests; returns a HostBoot. console_out: a text stream that
    gets the outer console as it comes."""
    work = tempfile.mkdtemp(prefix="hvrt-nested-")
    try:
        tests_gz = os.path.join(work, "tests.cpio.gz")
        _write_test_archive(tests, tests_gz)
        initrd = os.path.join(work, "initrd.gz")
        with open(initrd, "wb") as out:
            for part in (os.path.join(rig_dir, "base.cpio.gz"), tests_gz):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out)
        cmd = [QEMU, "-nodefaults", "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "2048",
               "-kernel", os.path.join(rig_dir, "vmlinuz"), "-initrd", initrd, "-append", OUTER_CMDLINE,
               "-serial", "stdio", "-display", "none", "-no-reboot"]
        timeout = HOST_BOOT_TIMEOUT + sum(t.timeout + 10 for t in tests)
        limits = {t.name: t.timeout for t in tests}
        watched, watched_since, last_scan, hung = None, None, 0.0, None
        with open(os.path.join(work, "stderr"), "w+b") as err:
            start = time.monotonic()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
            os.set_blocking(proc.stdout.fileno(), False)
            out = bytearray()
            host_up = None
            timed_out = False
            while True:
                chunk = proc.stdout.read(65536)
                if chunk:
                    out += chunk
                    if host_up is None and (MARK + "host up").encode() in out:
                        host_up = time.monotonic() - start
                    if console_out:
                        console_out.write(chunk.decode("utf-8", "replace").replace("\r", ""))
                        console_out.flush()
                    continue
                if proc.poll() is not None:
                    out += proc.stdout.read() or b""
                    break
                if time.monotonic() - start > timeout:
                    proc.kill()
                    proc.wait()
                    timed_out = True
                    break
                # The watchdog: the test that began last must end within its limit and the grace.
                now = time.monotonic()
                if now - last_scan >= 1:
                    last_scan = now
                    text = out.decode("utf-8", "replace")
                    begins = list(_BEGIN.finditer(text))
                    running = begins[-1].group(1) if begins and not _END.search(text, begins[-1].end()) else None
                    if running != watched:
                        watched, watched_since = running, now
                    elif running and now - watched_since > limits.get(running, 60) + HANG_GRACE:
                        proc.kill()
                        proc.wait()
                        hung = running
                        break
                time.sleep(0.01)
            elapsed = time.monotonic() - start
            err.seek(0)
            stderr = err.read().decode("utf-8", "replace")
        console = out.decode("utf-8", "replace").replace("\r", "")
        return HostBoot(console, proc.returncode, timed_out, stderr, elapsed, host_up, hung)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def parse_console(console):
    """{name: (output, status text or None if no end marker, seconds)} for every test that began."""
    found = {}
    current = None
    lines = []
    for line in console.split("\n"):
        end = _END.search(line)
        if current is not None and end and end.group(1) == current:
            before = line[:end.start()]
            if before:
                lines.append(before)  # the guest's last line had no newline
            found[current] = ("\n".join(lines) + "\n" if lines else "", end.group(2), float(end.group(3)))
            current = None
            continue
        begin = _BEGIN.search(line)
        if begin and line.startswith(MARK):
            if current is not None:
                found[current] = ("\n".join(lines) + "\n", None, None)
            current, lines = begin.group(1), []
            continue
        if current is not None:
            lines.append(line)
    if current is not None:
        found[current] = ("\n".join(lines), None, None)
    return found


def _host_failure(boot):
    """Why an outer boot did not get through its tests."""
    if boot.hung:
        why = ("the nested host stopped in %s: no end %d s past its limit (the inner QEMU's kill never came), "
               "so the outer QEMU was killed" % (boot.hung, HANG_GRACE))
    elif boot.timed_out:
        why = "the nested host ran past its overall timeout"
    else:
        why = "the outer QEMU ended (exit status %s) before the nested host was done" % boot.exit_code
    errors = [l for l in boot.console.split("\n") if l.startswith(MARK + "error")]
    detail = "; ".join(errors + [l for l in boot.stderr.strip().split("\n") if l][-3:])
    return why + (": " + detail if detail else "")


def run_tests(tests, build_dir="build/nested", console_out=None, qemu_dir="build/qemu"):
    """Runs tests in as few outer boots as it can; returns {name: NestedResult}.

    build_dir is the rig's directory (build-rig.sh's OUTDIR); qemu_dir build-qemu.sh's, built first
    whatever the tests (so the rig stays the same); if that build fails, the qemu="hvrt" tests fail
    and the others run in a rig without it. Tests that may trip the known outer
    abort (retry=True) run last, so that an abort does not cost the others a boot. A test that
    began in a boot that died is run again in a new boot only when it is marked retry, until it
    has begun in ATTEMPTS boots, or once when the host stopped in it (HANG_GRACE); a test that never began moves to the next boot, unless a boot
    began no test at all (then the host itself is broken and the rest fail)."""
    names = [t.name for t in tests]
    if len(set(names)) != len(names):
        raise ValueError("test names must be unique")
    results = {t.name: NestedResult() for t in tests}
    pending = []
    for t in tests:
        t.use_rig(build_dir)
        missing = [f for f in t.files() if f not in t.from_rig and not os.path.isfile(f)]
        if missing:
            results[t.name].reason = "no image %s (run make first)" % missing[0]
        else:
            pending.append(t)
    if not pending:
        return results
    try:
        test_qemu = build_qemu(qemu_dir)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.stderr.write("nested: the hvrt QEMU could not be built (%s): its tests fail\n" % e)
        test_qemu = None
        for t in [t for t in pending if t.qemu == "hvrt"]:
            results[t.name].reason = "the hvrt QEMU could not be built (tests/qemu/build-qemu.sh %s): %s" % (
                qemu_dir, e)
            pending.remove(t)
        if not pending:
            return results
    build_rig(build_dir, test_qemu)
    for t in list(pending):
        missing = [f for f in t.from_rig if not os.path.isfile(f)]
        if missing:
            results[t.name].reason = "the rig has no %s (tests/nested/build-rig.sh)" % missing[0]
            pending.remove(t)
    pending.sort(key=lambda t: t.retry)
    while pending:
        boot = boot_host(pending, build_dir, console_out)
        boots.append(boot)
        found = parse_console(boot.console)
        carried = []
        for t in pending:
            r = results[t.name]
            if t.name not in found:
                if boot.finished():
                    r.reason = "the nested host finished without running it"
                else:
                    r.reason = "did not start: " + _host_failure(boot)
                    if found:
                        carried.append(t)
                continue
            r.attempts += 1
            output, status, seconds = found[t.name]
            r.output, r.seconds = output, seconds
            if status is None:
                r.status = None
                r.reason = "did not end (%d attempt%s): %s" % (
                    r.attempts, "" if r.attempts == 1 else "s", _host_failure(boot))
                # A host that stopped in a test gets it one more boot: init.sh's kill never came, so the
                # stop was the outer host's, not the test's (the run's output keeps the attempts).
                if (t.retry and r.attempts < ATTEMPTS) or (boot.hung == t.name and r.attempts < 2):
                    carried.append(t)
            elif status == "timeout":
                r.status, r.timed_out, r.reason = None, True, None
            elif status.isdigit():
                r.status, r.reason = int(status), None
            else:
                r.status, r.reason = None, "not run by the nested host (%s): %s" % (
                    status, "; ".join(l for l in boot.console.split("\n") if l.startswith(MARK + "error")))
        pending = carried
    return results


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image", nargs="?", help="the image; with --linux an initramfs (default: the rig's)")
    ap.add_argument("args", nargs="?", default="")
    ap.add_argument("--gen2", action="store_true", help="the image is a GPT disk for OVMF (gen2-img)")
    ap.add_argument("--linux", action="store_true",
                    help="boot Linux: the rig's kernel with IMAGE or the rig's initramfs (hv_vmbus)")
    ap.add_argument("--cpu", default=HV_CPU, help="inner -cpu (default: %(default)s)")
    ap.add_argument("--no-vmbus", action="store_true", help="leave out -device vmbus-bridge")
    ap.add_argument("--extra", action="append", default=[], metavar="ARG", help="one more inner QEMU argument")
    ap.add_argument("--memory", type=int, help="inner RAM in MiB")
    ap.add_argument("--machine", help="inner -machine (default: pc for Gen1, q35 for Gen2)")
    ap.add_argument("--timeout", type=int, default=60)
    ap.add_argument("--retry", action="store_true")
    ap.add_argument("--hvrt-qemu", action="store_true",
                    help="run it in the rebuilt QEMU (tests/qemu/build-qemu.sh; Gen1 and --linux only)")
    ap.add_argument("--build", default="build/nested", help="the rig's directory (default: %(default)s)")
    ap.add_argument("--qemu-dir", default="build/qemu",
                    help="where tests/qemu/build-qemu.sh builds and caches its QEMU (default: %(default)s)")
    ap.add_argument("--console", action="store_true", help="show the whole outer console as it comes")
    a = ap.parse_args(argv)
    if a.image is None and not a.linux:
        ap.error("an image is needed (or --linux)")
    kind = "linux" if a.linux else "gen2-img" if a.gen2 else "gen1-elf"
    try:
        t = NestedTest("image", a.image, kind, a.args, cpu=a.cpu, vmbus=not a.no_vmbus, extra=a.extra,
                       memory=a.memory, timeout=a.timeout, retry=a.retry, machine=a.machine,
                       qemu="hvrt" if a.hvrt_qemu else "system")
    except ValueError as e:
        ap.error(str(e))
    t.use_rig(a.build)
    guest = ["/tests/images/%d-%s" % (i, os.path.basename(f)) for i, f in enumerate(t.files())]
    print("inner: " + " ".join(t.inner_command(guest[-1], guest[0] if a.linux else None)))
    r = run_tests([t], a.build, sys.stdout if a.console else None, a.qemu_dir)["image"]
    if not a.console:
        sys.stdout.write(r.output)
    for b in boots:
        print("outer boot: %.1f s, host up after %s s, outer exit %s" % (
            b.elapsed, "%.1f" % b.host_up if b.host_up is not None else "-", b.exit_code))
    print("inner QEMU exit %s%s%s, %s s, %d attempt(s)%s" % (
        r.status, " (timed out)" if r.timed_out else "",
        " (app exit status %d)" % (r.status >> 1) if isinstance(r.status, int) and r.status & 1 else "",
        r.seconds, r.attempts, "; " + r.reason if r.reason else ""))
    return 0 if r.status is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
