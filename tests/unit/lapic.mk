UNIT_TESTS += lapic
UNIT_lapic_SRCS := arch/x86_64/lapic.c arch/x86_64/tsc.c arch/x86_64/console.c arch/x86_64/fmt.c \
                   tests/hostsim/cpu_sim.c tests/unit/log_capture.c tests/unit/test_lapic.c
