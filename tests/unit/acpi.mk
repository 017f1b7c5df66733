UNIT_TESTS += acpi
UNIT_acpi_SRCS := arch/x86_64/acpi.c tests/hostsim/cpu_sim.c tests/unit/test_acpi.c
