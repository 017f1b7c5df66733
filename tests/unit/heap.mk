UNIT_TESTS += heap
UNIT_heap_SRCS := libc-glue/heap.c arch/x86_64/console.c tests/hostsim/cpu_sim.c arch/x86_64/fmt.c tests/unit/log_capture.c tests/unit/test_heap.c
