UNIT_TESTS += cmdline
UNIT_cmdline_SRCS := boot/cmdline.c arch/x86_64/console.c tests/hostsim/cpu_sim.c arch/x86_64/fmt.c tests/unit/log_capture.c tests/unit/test_cmdline.c
