"""QEMU boot tests: what each image must print and the status it must exit with.

QEMU's exit status is (app status << 1) | 1 with isa-debug-exit, so exit(0)
gives 1 and a panic (status 125) gives 251. Without that device the runtime
powers off through ACPI S5 and QEMU exits 0.
"""

BUILD = "build/examples"
OK = 1
PANIC = (125 << 1) | 1


def image(example, kind):
    base = "%s/%s/%s" % (BUILD, example, example)
    return {"gen2-img": base + "-gen2.img", "gen2-efi": base + ".efi",
            "gen1-elf": base + ".elf", "gen1-iso": base + "-gen1.iso"}[kind]


BOOT_PATH = {"gen2-img": "UEFI", "gen2-efi": "UEFI", "gen1-elf": "multiboot", "gen1-iso": "multiboot"}
# Gen1 calibrates against the PIT, Gen2 (no PIT on Hyper-V) against the ACPI PM timer.
TSC_SOURCE = {"gen2-img": "ACPI PM timer", "gen2-efi": "ACPI PM timer", "gen1-elf": "PIT", "gen1-iso": "PIT"}
# Usable RAM of the default VMs (q35 256 MiB, pc 128 MiB): UEFI's boot-services memory (some
# 40 MiB) must be in it, so the Gen2 floor is above what the map has without it.
RAM_MIB = {"gen2-img": r"(24[5-9]|25\d)", "gen2-efi": r"(24[5-9]|25\d)", "gen1-elf": r"12[5-7]", "gen1-iso": r"12[5-7]"}
KINDS = ["gen2-efi", "gen2-img", "gen1-elf", "gen1-iso"]


def case(name, kind, example, expect, status, args="", forbid=(), debug_exit=True, check=None, screen=(),
         machine=None, stop_on=None, memory=None):
    """screen: (text row, text) pairs the framebuffer console must show; the VM then gets a VGA
    display and powers off through ACPI S5 (QEMU exit 0), and its screen is compared with the font."""
    return {"name": name, "kind": kind, "image": image(example, kind), "args": args, "expect": list(expect),
            "forbid": list(forbid), "status": status, "debug_exit": debug_exit, "check": check,
            "screen": list(screen), "machine": machine, "stop_on": stop_on, "memory": memory}


def _clock_matches_host(result):
    """The time line is the CMOS clock read at boot plus uptime: within 10 s of the host's UTC."""
    import calendar
    import re as _re
    import time as _time
    m = _re.search(r"^time: (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) UTC", result.output, _re.M)
    if not m:
        return "no time line"
    guest = calendar.timegm(tuple(int(g) for g in m.groups()) + (0, 0, 0))
    seen = result.line_time("time: ")
    host = _time.time() - (result.elapsed - seen if seen is not None else 0)
    if abs(guest - host) > 10:
        return "guest clock %s is %.0f s off the host's" % (m.group(0), guest - host)
    return None


def _slept_long_enough(result):
    """nanosleep(50 ms) and usleep(20 ms) took at least that by the guest's clock, and sleep(1)
    took a second by the host's: a wrong TSC frequency fools the guest's clock but not the host's."""
    output = result.output
    want = {"slept": 50000, "usleep": 20000}
    seen = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] in want and words[2] == "us":
            seen[words[0]] = int(words[1])
    for what, us in want.items():
        if what not in seen:
            return "no '%s' line" % what
        if not us <= seen[what] < 20 * us:
            return "%s took %d us for a %d us request" % (what, seen[what], us)
    t0, t1 = result.line_time("sleep 1 s: start"), result.line_time("sleep 1 s: end")
    if t0 is None or t1 is None:
        return "no sleep(1) markers"
    if not 0.8 <= t1 - t0 <= 1.6:
        return "sleep(1) took %.3f s of host time" % (t1 - t0)
    return None


CASES = []
for kind in KINDS:
    CASES.append(case("hello/" + kind, kind, "hello",
                      [r"^hvrt \d+\.\d+\.\d+, booted by %s$" % BOOT_PATH[kind],
                       r"^RAM: %s MiB usable, heap \d+ MiB, \d+ free pages$" % RAM_MIB[kind], r"^CPU: \w+",
                       r"^TSC: \d+\.\d{3} MHz \(%s\)" % TSC_SOURCE[kind],
                       r'^hypervisor: present, CPUID vendor "TCGTCGTCGTCG"$',
                       r'^host: no Hyper-V \(hypervisor "TCGTCGTCGTCG"\)$', r"^hello, world$"],
                      OK, forbid=[r"error:", r"warning:"], check=_clock_matches_host))
    CASES.append(case("crash-pagefault/" + kind, kind, "crash",
                      [r"^crash: pagefault$",
                       r"hvrt: trap: error: CPU exception 14: #PF page fault, error code 0x2 \(write, page not present\)",
                       r"RIP [0-9a-f]{16}  CS 0008", r"CR2 0000000000000000",
                       r"hvrt: trap: error:   #1  0x[0-9a-f]{16} \(\+0x[0-9a-f]+\)",
                       r"hvrt: power: warning: exit status 125"],
                      PANIC, forbid=[r"still running after a NULL write"]))

CASES += [
    case("hello-arguments/gen1-elf", "gen1-elf", "hello",
         [r'^arguments: 4: \[\S*hello\.elf\] \[alpha\] \[b c\] \[d"e\]$'], OK,
         args=r'alpha "b c" d\"e hvrt.log=info'),
    case("hello-arguments/gen1-iso", "gen1-iso", "hello",
         [r"^arguments: 3: \[/boot/hello\.elf\] \[alpha\] \[beta\]$"], OK, args="alpha beta"),
    case("hello-arguments/gen2-efi", "gen2-efi", "hello",
         [r"^command line: fs0:\\hello\.efi alpha beta$",
          r"^arguments: 3: \[fs0:\\hello\.efi\] \[alpha\] \[beta\]$"], OK, args="alpha beta"),
    case("memmap-print/gen2-img", "gen2-img", "hello",
         [r"^hvrt: memmap: 0000000000100000-[0-9a-f]{16} RAM$", r"^hvrt: memmap: [0-9a-f-]{33} hvrt$",
          r"^hello, world$"], OK, args=""),
    case("crash-abort/gen1-elf", "gen1-elf", "crash",
         [r"hvrt: panic: error: abort\(\) called", r"backtrace", r"exit status 125"], PANIC, args="abort"),
    case("crash-assert/gen1-elf", "gen1-elf", "crash",
         [r'hvrt: panic: error: assertion "argc == 42" failed at examples/crash/main\.c:\d+ in main',
          r"backtrace", r"exit status 125"], PANIC, args="assert"),
    case("crash-abort/gen2-img", "gen2-img", "crash",
         [r"hvrt: panic: error: abort\(\) called"], PANIC),
    case("stack-overflow/gen1-elf", "gen1-elf", "crash",
         [r"CPU exception 8: #DF double fault",
          r"hvrt: trap: error: stack overflow: the 64 KiB stack ran into its guard page", r"exit status 125"],
         PANIC, args="stack"),
    case("stack-overflow/gen2-efi", "gen2-efi", "crash",
         [r"CPU exception 8: #DF double fault",
          r"hvrt: trap: error: stack overflow: the 64 KiB stack ran into its guard page"], PANIC, args="stack"),
    case("exit-status-over-127/gen1-elf", "gen1-elf", "crash", [r"hvrt: power: warning: exit status 127"],
         (127 << 1) | 1, args="exit 200"),
    case("exit-status-3/gen1-elf", "gen1-elf", "crash", [r"hvrt: power: warning: exit status 3"],
         (3 << 1) | 1, args="exit 3"),
    # 6 GiB: RAM above 4 GiB is mapped, page tables still come from below, and the heap (half the
    # free RAM, in the largest range) lands above 4 GiB, where oom writes into every MiB of it.
    case("ram-above-4g/gen1-elf", "gen1-elf", "crash",
         [r"^hvrt: memory: debug: heap of \d+ MiB at 0x1[0-9a-f]{8}$",
          r"^malloc failed after (2[6-9]\d\d|3\d\d\d) MiB, as expected$"], (3 << 1) | 1,
         args="oom hvrt.log=debug", memory="6G"),
    case("ram-above-4g/gen2-efi", "gen2-efi", "hello",
         [r"^RAM: (59\d\d|60\d\d|61\d\d) MiB usable, heap (29\d\d|30\d\d) MiB",
          r"^hvrt: memory: debug: heap of \d+ MiB at 0x1[0-9a-f]{8}$", r"^hello, world$"], OK,
         args="hvrt.log=debug", memory="6G"),
    case("page-free-foreign/gen1-elf", "gen1-elf", "crash",
         [r"hvrt: panic: error: hvrt_page_free\(0x100000, 1\): not pages hvrt_page_alloc hands out"], PANIC,
         args="badfree"),
    case("page-free-twice/gen2-efi", "gen2-efi", "crash",
         [r"hvrt: panic: error: hvrt_page_free\(0x[0-9a-f]+, 1\): pages not allocated \(double free\?\)"],
         PANIC, args="doublefree"),
    case("heap-exhaustion/gen1-elf", "gen1-elf", "crash",
         [r"hvrt: heap: error: out of memory: \d+ more bytes asked, \d+ of \d+ in use",
          r"^malloc failed after \d+ MiB, as expected$"], (3 << 1) | 1, args="oom"),
    case("sleep/gen1-elf", "gen1-elf", "crash", [r"^slept \d+ us$", r"^usleep \d+ us$"], OK, args="sleep",
         check=_slept_long_enough),
    case("sleep/gen2-efi", "gen2-efi", "crash", [r"^slept \d+ us$", r"^usleep \d+ us$"], OK, args="sleep",
         check=_slept_long_enough),
    case("cmdline-over-limit/gen1-elf", "gen1-elf", "hello",
         [r"hvrt: boot: error: the command line is longer than the limit of 1023 bytes",
          r"hvrt: boot: error: cannot start: "], PANIC, args="x" * 1100,
         forbid=[r"hello, world"]),
    case("cmdline-over-limit/gen2-efi", "gen2-efi", "hello",
         [r"hvrt: boot: error: the command line is longer than the limit of 1023 bytes"], PANIC,
         args="y" * 1100, forbid=[r"hello, world"]),
    # A Gen1 VM has only ACPI to power off with: a boot failure must find it even that early.
    case("cmdline-over-limit-acpi-poweroff/gen1-elf", "gen1-elf", "hello",
         [r"hvrt: boot: error: the command line is longer than the limit of 1023 bytes"], 0,
         args="z" * 1100, debug_exit=False, stop_on="CPU halted", forbid=[r"hello, world", r"no way to power off"]),
    case("cmdline-too-many-args/gen1-elf", "gen1-elf", "hello",
         [r"hvrt: boot: error: the command line has more than 64 arguments"], PANIC,
         args=" ".join(["a"] * 70), forbid=[r"hello, world"]),
    case("cmdline-unbalanced-quote/gen1-elf", "gen1-elf", "hello",
         [r"hvrt: boot: error: the command line has an unbalanced quote"], PANIC, args='"open',
         forbid=[r"hello, world"]),
    case("framebuffer-console/gen2-img", "gen2-img", "hello", [r"^hello, world$"], 0,
         forbid=[r"error:", r"warning:"],
         screen=[(0, "hvrt: hv: no Hyper-V"), (1, "hvrt "), (2, "command line: (none)"), (3, "arguments: 1: [hvrt]"),
                 (10, "hello, world")]),
    # Without isa-debug-exit QEMU exits 0 on any power-off, and also on a reset under -no-reboot:
    # the S5 line and the absence of complaints tell ACPI's power-off from the fallbacks.
    case("acpi-poweroff/gen1-elf", "gen1-elf", "hello",
         [r"^hello, world$", r"^hvrt: power: powering off through ACPI S5$"], 0, debug_exit=False,
         args="hvrt.log=info", forbid=[r"error:", r"warning:", r"S5 power-off failed"]),
    case("acpi-poweroff/gen2-efi", "gen2-efi", "hello",
         [r"^hello, world$", r"^hvrt: power: powering off through ACPI S5$"], 0, debug_exit=False,
         args="hvrt.log=info", forbid=[r"error:", r"warning:", r"S5 power-off failed"]),
    # q35 without ACPI: no PM timer (the PIT calibrates), no S5: UEFI ResetSystem powers off.
    case("no-acpi-firmware-poweroff/gen2-efi", "gen2-efi", "hello",
         [r"hvrt: acpi: warning: no ACPI tables found", r"^TSC: \d+\.\d{3} MHz \(PIT\)",
          r"^hello, world$", r"^hvrt: power: powering off through the firmware$"], 0,
         debug_exit=False, machine="q35,acpi=off", args="hvrt.log=info", forbid=[r"ACPI S5"]),
    # pc without ACPI and without isa-debug-exit: nothing can power off; the VM must say so and halt.
    case("no-way-to-power-off/gen1-elf", "gen1-elf", "crash",
         [r"hvrt: acpi: warning: no ACPI tables found",
          r"hvrt: power: error: no way to power off; CPU halted \(exit status 3\)$"], "stopped",
         debug_exit=False, machine="pc,acpi=off", args="exit 3", stop_on="CPU halted"),
    case("acpi-poweroff-status/gen1-elf", "gen1-elf", "crash",
         [r"hvrt: power: warning: exit status 125", r"powering off through ACPI S5"], 0, debug_exit=False,
         args="pagefault hvrt.log=info", forbid=[r"S5 power-off failed"]),
]
# The Hyper-V test image and hvinfo on plain QEMU: TCG answers CPUID with its own vendor and emulates
# nothing of Hyper-V, so both must say so and exit 0 without touching a Hyper-V MSR (under TCG
# those read as 0 and never fault, so only the output tells; the nested cases test the real thing).
NO_HV = r'^hvrt: hv: no Hyper-V \(hypervisor "TCGTCGTCGTCG"\); running without Hyper-V services \(no VMBus\)$'
for kind in ("gen1-elf", "gen2-efi"):
    c = case("hvtest-no-hyperv/" + kind, kind, "hello", [NO_HV, r'^hvtest: no Hyper-V \(hypervisor "TCGTCGTCGTCG"\); nothing to test$'],
             OK, forbid=[r"error:", r"warning:", r"PASS", r"FAIL"])
    c["image"] = "build/tests/images/hvtest/hvtest" + (".elf" if kind == "gen1-elf" else ".efi")
    CASES.append(c)
    CASES.append(case("hvinfo-no-hyperv/" + kind, kind, "hvinfo",
                      [NO_HV, r"^hypervisor present       yes$", r'^vendor                   "TCGTCGTCGTCG"$',
                       r"^not Hyper-V: no hypercalls, SynIC, reference time or VMBus$"],
                      OK, forbid=[r"error:", r"warning:"]))
    # lsvmbus asks for VMBus: -ENODEV (19), said once by the runtime and once by the app, exit 1.
    CASES.append(case("lsvmbus-no-hyperv/" + kind, kind, "lsvmbus",
                      [NO_HV, r"^hvrt: vmbus: warning: not connected: error -19$", r"^lsvmbus: no VMBus \(error -19\)$"],
                      (1 << 1) | 1, forbid=[r"error:", r"VMBus version"]))

# The memory-map case needs its argument in the image's boot path: gen2-img has no command line.
for c in CASES:
    if c["name"] == "memmap-print/gen2-img":
        c.update(kind="gen2-efi", image=image("hello", "gen2-efi"), args="hvrt.memmap", name="memmap-print/gen2-efi")
    if c["name"] == "crash-abort/gen2-img":
        c.update(kind="gen2-efi", image=image("crash", "gen2-efi"), args="abort", name="crash-abort/gen2-efi")
