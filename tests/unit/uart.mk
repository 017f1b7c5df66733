UNIT_TESTS += uart
UNIT_uart_SRCS := arch/x86_64/uart.c tests/hostsim/cpu_sim.c tests/unit/test_uart.c
