UNIT_TESTS += rtc
UNIT_rtc_SRCS := arch/x86_64/rtc.c tests/hostsim/cpu_sim.c tests/unit/test_rtc.c
