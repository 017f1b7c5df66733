UNIT_TESTS += pagealloc
UNIT_pagealloc_SRCS := arch/x86_64/pagealloc.c tests/unit/test_pagealloc.c
