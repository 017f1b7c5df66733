/* vmbus/capture_api.c as it is, and where its state lives (tests/fuzz/state.h). */
#include "vmbus/capture_api.c"

#include "tests/fuzz/state.h"
FUZZ_STATE(rt)
