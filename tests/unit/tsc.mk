UNIT_TESTS += tsc
UNIT_tsc_SRCS := arch/x86_64/tsc.c arch/x86_64/console.c arch/x86_64/fmt.c tests/hostsim/cpu_sim.c \
                 tests/unit/log_capture.c tests/unit/test_tsc.c
