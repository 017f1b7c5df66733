UNIT_TESTS += fmt
UNIT_fmt_SRCS := arch/x86_64/fmt.c tests/unit/test_fmt.c
