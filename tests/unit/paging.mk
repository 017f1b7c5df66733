UNIT_TESTS += paging
UNIT_paging_SRCS := arch/x86_64/paging.c arch/x86_64/pagealloc.c tests/hostsim/cpu_sim.c tests/unit/test_paging.c
