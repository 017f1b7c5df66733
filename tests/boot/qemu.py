"""Boot an hvrt image in QEMU (TCG) the way each VM generation would.

Four ways in, matching what a Hyper-V VM does:
  gen2-img    q35 + OVMF boots the GPT disk image's EFI/BOOT/BOOTX64.EFI itself
  gen2-efi    q35 + OVMF, the .efi run from the UEFI shell by startup.nsh
              (the way to pass it a command line)
  gen1-elf    pc, QEMU's multiboot loader (-kernel, -append)
  gen1-iso    pc + SeaBIOS boots the GRUB ISO from the CD drive

The guest's serial port is captured; isa-debug-exit turns the app's exit
status into QEMU's: (status << 1) | 1.
"""

import os
import shutil
import subprocess
import tempfile
import time

OVMF = "/usr/share/ovmf/OVMF.fd"
QEMU = "qemu-system-x86_64"


class BootResult:
    def __init__(self, exit_code, output, first_line_s, timed_out, line_times, elapsed=0.0):
        self.exit_code = exit_code
        self.output = output
        self.first_line_s = first_line_s  # seconds from QEMU start to `marker`, or None
        self.timed_out = timed_out
        self.line_times = line_times      # (seconds from QEMU start, line) as each line arrived
        self.elapsed = elapsed            # seconds from QEMU start to its end

    def line_time(self, text):
        """Host time at which the first line containing text arrived, or None."""
        for t, line in self.line_times:
            if text in line:
                return t
        return None


def _machine_args(kind, image, args, workdir, debug_exit, memory, machine=None):
    common = ["-nodefaults", "-accel", "tcg", "-display", "none", "-serial", "stdio", "-no-reboot"]
    if debug_exit:
        common += ["-device", "isa-debug-exit,iobase=0xf4,iosize=1"]
    if kind == "gen1-elf":
        cmd = ["-machine", machine or "pc", "-m", str(memory or 128), "-kernel", image]
        if args:
            cmd += ["-append", args]
        return common + cmd
    if kind == "gen1-iso":
        if args:
            # The command line lives in the ISO's grub.cfg: build one with these arguments.
            iso = os.path.join(workdir, "boot.iso")
            elf = image[: -len("-gen1.iso")] + ".elf"
            subprocess.run(["sh", "tools/mkiso.sh", elf, iso] + args.split(), check=True)
            image = iso
        return common + ["-machine", machine or "pc", "-m", str(memory or 128), "-cdrom", image]
    if kind == "gen2-img":
        return common + ["-machine", machine or "q35", "-m", str(memory or 256), "-bios", OVMF,
                         "-drive", "file=%s,format=raw,if=ide,snapshot=on" % image]
    if kind == "gen2-efi":
        esp = os.path.join(workdir, "esp")
        os.makedirs(esp)
        name = os.path.basename(image)
        shutil.copy(image, os.path.join(esp, name))
        with open(os.path.join(esp, "startup.nsh"), "w") as f:
            f.write("fs0:\\%s%s\r\n" % (name, " " + args if args else ""))
        return common + ["-machine", machine or "q35", "-m", str(memory or 256), "-bios", OVMF,
                         "-drive", "file=fat:rw:%s,format=raw,if=ide" % esp]
    raise ValueError("unknown boot kind %r" % kind)


def _monitor(path, command, timeout=10):
    """Sends one command to QEMU's human monitor on a unix socket; returns its answer."""
    import socket
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        data = b""
        while b"(qemu)" not in data and time.monotonic() < deadline:
            data += s.recv(4096)
        s.sendall(command.encode() + b"\n")
        data = b""
        while data.count(b"(qemu)") < 1 and time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
        return data.decode("utf-8", "replace")


def boot(kind, image, args="", timeout=90, debug_exit=True, marker=None, memory=None, screendump=None,
         machine=None, stop_on=None):
    """Boots image; returns a BootResult. marker: text whose first appearance is timed.

    screendump: a .ppm path; the VM gets a VGA display (so UEFI offers a GOP
    framebuffer), runs until it powers off (ACPI S5, QEMU kept alive with
    -no-shutdown), and the screen is saved there.
    stop_on: text after which the guest is expected to sit halted: QEMU is
    stopped then, and exit_code is the string "stopped".
    """
    workdir = tempfile.mkdtemp(prefix="hvrt-boot-")
    try:
        cmd = [QEMU] + _machine_args(kind, image, args, workdir, debug_exit and not screendump, memory, machine)
        monitor = os.path.join(workdir, "monitor.sock")
        if screendump:
            cmd += ["-device", "VGA", "-no-shutdown", "-monitor", "unix:%s,server,nowait" % monitor]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        out = bytearray()
        first = None
        timed_out = False
        line_times = []
        pending = b""
        stopped = False
        os.set_blocking(proc.stdout.fileno(), False)
        while True:
            chunk = proc.stdout.read(65536)
            if chunk:
                out += chunk
                if stop_on and stop_on.encode() in out and proc.poll() is None:
                    time.sleep(0.5)  # anything it still prints comes now
                    proc.kill()
                    proc.wait()
                    out += proc.stdout.read() or b""
                    stopped = True
                now = time.monotonic() - start
                pending += chunk
                *lines, pending = pending.split(b"\n")
                line_times += [(now, l.decode("utf-8", "replace").rstrip("\r")) for l in lines]
                if marker and first is None and marker.encode() in out:
                    first = time.monotonic() - start
                continue
            if proc.poll() is not None:
                rest = proc.stdout.read()
                if rest:
                    out += rest
                break
            if screendump and os.path.exists(monitor) and "shutdown" in _monitor(monitor, "info status"):
                _monitor(monitor, "screendump %s" % screendump)
                _monitor(monitor, "quit")
                proc.wait(timeout=30)
                continue
            if time.monotonic() - start > timeout:
                proc.kill()
                proc.wait()
                timed_out = True
                break
            time.sleep(0.002)
        if marker and first is None and marker.encode() in out:
            first = time.monotonic() - start
        text = out.decode("utf-8", "replace").replace("\r\n", "\n")
        return BootResult("stopped" if stopped else proc.returncode, text, first, timed_out, line_times,
                          time.monotonic() - start)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind")
    p.add_argument("image")
    p.add_argument("args", nargs="?", default="")
    p.add_argument("--no-debug-exit", action="store_true")
    a = p.parse_args()
    r = boot(a.kind, a.image, a.args, debug_exit=not a.no_debug_exit)
    print(r.output)
    print("QEMU exit %s%s" % (r.exit_code, " (timed out)" if r.timed_out else ""))
