UNIT_TESTS += log
UNIT_log_SRCS := arch/x86_64/console.c tests/hostsim/cpu_sim.c arch/x86_64/fmt.c tests/unit/test_log.c
