"""Nested-host cases: hvrt images under KVM's Hyper-V emulation and QEMU's VMBus server.

All of them run in one boot of the nested host (tests/nested/nested.py; about 10 s to boot it,
then about 2 s for each Gen1 case, 15 to 20 s for each Gen2 case and 14 s for a Linux guest).
`python3 tests/run.py --nested [--filter TEXT]` runs them; `make test` includes them.

A case is a dict made by case():

    case(NAME, IMAGE, expect=[REGEX, ...], status=OK,
         kind="gen1-elf",     # or "gen2-img": the GPT disk booted by OVMF (no command line);
                              # or "linux": a Linux guest (below)
         args="",             # the command line (gen1-elf); words added to the kernel's (linux)
         forbid=[REGEX, ...], # must not appear in the output
         cpu=HV_CPU,          # inner -cpu: HV_CPU + ",hv-crash", or "qemu64" for no Hyper-V at all
         vmbus=True,          # -device vmbus-bridge
         extra=[...],         # more inner QEMU arguments: ["-d", "guest_errors"], ["-trace", "vmbus_*"]
         memory=None,         # inner RAM in MiB (64 Gen1, 256 Gen2 and linux)
         timeout=60,          # seconds; the inner QEMU is killed after it (the case fails)
         retry=False,         # Gen2: a new outer boot when the known OVMF abort hits (docs/testing.md)
         machine=None,        # inner -machine (pc for Gen1 and linux, q35 for Gen2); Gen2 without SynIC can use
                              # NO_SYNIC_MACHINE, which never hits that abort
         qemu="system",       # the inner QEMU: "system", this machine's (Debian's QEMU 7.2); or "hvrt", the
                              # same QEMU rebuilt with the project's VMBus test devices (tests/qemu/build-qemu.sh,
                              # built and packed by the runner): add them with extra=["-device", "hvrt-test"].
                              # It has KVM and the pc machine only: gen1-elf and linux cases (anything else
                              # is an error when the case list is made)
         check=None)          # f(NestedResult) -> None, or why the case failed

kind="linux" boots Debian's kernel (the nested host's own, build/nested/vmlinuz) in the inner
QEMU: -machine pc -m 256 -kernel VMLINUZ -initrd IMAGE -append "console=ttyS0 quiet panic=-1 ARGS",
with the same -cpu (HV_CPU has the kvm=off Linux needs to pick Hyper-V over KVM). IMAGE None is the
rig's initramfs (build/nested/linux-initrd.gz, made by build-rig.sh): busybox, hv_vmbus.ko and
tests/nested/linux-init.sh as /init, which loads hv_vmbus, prints "linux-vmbus: ..." lines
(version, the kernel's Hyper-V and VMBus lines, devices), unloads it and powers off, so status=0.
Linux's kernel boot takes some 14 s there. vmbus_cases.py has such a case and the helpers that read
QEMU's VMBus trace (vmbus_trace, control_summary, control_diff).

A file tests/nested/GROUP_cases.py is picked up by itself: it defines make_cases(case), which
returns its list of cases made with the case() it is given (hv_cases.py and vmbus_cases.py are
examples); the files are read in name order, after CASES below.

NAME has no spaces and is unique across all the files. IMAGE is a path on this machine (image()
gives an example's). The output is what the inner QEMU printed, the guest's serial port and QEMU's
own messages (the -d and -trace logs), with "\\r" removed; patterns are searched with re.M.
status is the inner QEMU's exit status: (app status << 1) | 1 through isa-debug-exit, so exit(0)
gives OK (1) and a panic PANIC.
"""

import glob
import importlib
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nested import HV_CPU, QEMUS  # noqa: E402,F401  (for cases that add flags: HV_CPU + ",hv-crash")

BUILD = "build/examples"
OK = 1
PANIC = (125 << 1) | 1


def image(example, kind="gen1-elf"):
    base = "%s/%s/%s" % (BUILD, example, example)
    return {"gen1-elf": base + ".elf", "gen2-img": base + "-gen2.img"}[kind]


# KVM's local APIC in QEMU instead of the kernel: the guest's CR8 writes then always leave the
# nested guest, so OVMF cannot trip the outer abort; SynIC needs the kernel's local APIC, though.
NO_SYNIC_MACHINE = "q35,kernel-irqchip=off"
NO_SYNIC_CPU = "qemu64,kvm=off,hv-relaxed,hv-vapic,hv-time,hv-vpindex,hv-runtime,hv-frequencies"


def case(name, image, expect, status=OK, kind="gen1-elf", args="", forbid=(), cpu=HV_CPU, vmbus=True, extra=(),
         memory=None, timeout=60, retry=False, machine=None, check=None, qemu="system"):
    if qemu not in QEMUS:
        raise ValueError("case %s: unknown qemu %r (one of %s)" % (name, qemu, ", ".join(QEMUS)))
    if kind not in QEMUS[qemu]:
        raise ValueError("case %s: the %s QEMU runs only %s cases, not %s" % (name, qemu, " and ".join(QEMUS[qemu]),
                                                                           kind))
    return {"name": name, "image": image, "expect": list(expect), "status": status, "kind": kind, "args": args,
            "forbid": list(forbid), "cpu": cpu, "vmbus": vmbus, "extra": list(extra), "memory": memory,
            "timeout": timeout, "retry": retry, "machine": machine, "check": check, "qemu": qemu}


HV_VENDOR = r'^hypervisor: present, CPUID vendor "Microsoft Hv"$'
KVM_VENDOR = r'^hypervisor: present, CPUID vendor "KVMKVMKVM"$'

CASES = [
    # The nested host works at all: hvrt boots with KVM's Hyper-V enlightenments and the VMBus
    # server present, and with neither (plain KVM, as on any non-Hyper-V hypervisor).
    case("hello/hv/gen1-elf", image("hello"), [HV_VENDOR, r"^hello, world$"], forbid=[r"error:"]),
    case("hello/no-hv/gen1-elf", image("hello"), [KVM_VENDOR, r"^hello, world$"], forbid=[r"error:"],
         cpu="qemu64", vmbus=False),
    # Gen2: OVMF boots the GPT disk, slowly (some 17 s under nested KVM, most of it OVMF probing
    # for a TPM). With every Hyper-V flag it trips the outer QEMU's abort about 1 run in 2, so the
    # one such case is hvtest/gen2-img (hv_cases.py, retried); without SynIC (userspace local APIC)
    # the abort never came, and hvrt must still boot and find a Hyper-V without SynIC.
    case("hello/hv-no-synic/gen2-img", image("hello", "gen2-img"),
         [HV_VENDOR, r"^hvrt: hv: Hyper-V 10\.0 build 14393 \(Microsoft Hv\): hypercalls on, SynIC off, ",
          r"^hello, world$"],
         forbid=[r"error:"], kind="gen2-img", cpu=NO_SYNIC_CPU, vmbus=False, machine=NO_SYNIC_MACHINE,
         timeout=120),
]

# Every tests/nested/*_cases.py, in name order: hv_cases.py (the Hyper-V core, hv/), vmbus_cases.py
# (VMBus, with Linux's own hv_vmbus as the reference client) and any other: a new file needs no line here.
for _path in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "*_cases.py"))):
    _module = importlib.import_module(os.path.basename(_path)[:-3])
    CASES += _module.make_cases(case)

_seen = set()
for _c in CASES:
    if _c["name"] in _seen:
        raise ValueError("two nested cases are named %s" % _c["name"])
    _seen.add(_c["name"])
