UNIT_TESTS += fbcon
UNIT_fbcon_SRCS := arch/x86_64/fbcon.c arch/x86_64/font8x16.c tests/unit/test_fbcon.c
