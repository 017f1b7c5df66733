/* vmbus/gpadl.c as it is, and where its state lives (tests/fuzz/state.h). */
#include "vmbus/gpadl.c"

#include "tests/fuzz/state.h"
FUZZ_STATE(gpadls)
