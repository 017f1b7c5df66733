UNIT_TESTS += bootinfo
UNIT_bootinfo_SRCS := boot/memmap.c boot/bootinfo_efi.c boot/bootinfo_multiboot.c boot/cmdline.c arch/x86_64/console.c tests/hostsim/cpu_sim.c arch/x86_64/fmt.c tests/unit/log_capture.c tests/unit/test_bootinfo.c
